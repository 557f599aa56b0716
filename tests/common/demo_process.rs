//! `wijkbrug demo` as a person runs it: the real binary as a child process on port 0 with the
//! data directory a test gives, its stdout collected line by line. Stopped (by its own process
//! id) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::root;

/// How long the demo waits to print its address before the test gives up.
const START_WAIT: Duration = Duration::from_secs(60);
/// How long a stopping demo may take before the test gives up.
const STOP_WAIT: Duration = Duration::from_secs(60);

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wijkbrug"))
}

/// A demo process with its stdout collected line by line.
pub struct DemoProcess {
    child: Child,
    /// The gateway's base URL, as the demo printed it.
    pub base: String,
    pub data_dir: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl DemoProcess {
    /// Starts `wijkbrug <args> --listen 127.0.0.1:0 --data-dir <data_dir>` and waits for the
    /// address it prints.
    pub fn start(args: &[&str], data_dir: &Path) -> Self {
        Self::start_logging(args, data_dir, None)
    }

    /// [`DemoProcess::start`], with every log line at info and above written to `log`.
    pub fn start_logging(args: &[&str], data_dir: &Path, log: Option<&Path>) -> Self {
        let mut command = Command::new(binary());
        command
            .args(args)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .arg("--config")
            .arg(root().join("config"))
            .current_dir(root())
            .stdout(Stdio::piped());
        match log {
            Some(path) => {
                command
                    .env("WIJKBRUG__LOG__FILTER", "info")
                    .stderr(std::fs::File::create(path).unwrap());
            }
            None => {
                command.stderr(Stdio::null());
            }
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + START_WAIT;
        let base = loop {
            let found = lines
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.strip_prefix("wijkbrug listening on ").map(str::to_owned));
            if let Some(base) = found {
                break base;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the demo ended at start ({status}): {:?}",
                    lines.lock().unwrap()
                );
            }
            assert!(Instant::now() < deadline, "the demo printed no address");
            std::thread::sleep(Duration::from_millis(50));
        };
        Self {
            child,
            base,
            data_dir: data_dir.to_owned(),
            lines,
        }
    }

    pub fn stdout(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits (bounded) for the process to end; its status.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + STOP_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last lines.
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(Instant::now() < deadline, "the demo did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ctrl-C.
    pub fn interrupt(&self) {
        let ok = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
