//! The real gateway binary (`wijkbrug serve`) as a child process, for tests that kill it
//! (SIGKILL) or stop it (SIGTERM) and start it again on the same data.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

pub struct GatewayProcess {
    pub child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its log (warnings and errors: stdout and stderr, the first 64 KiB of each).
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl GatewayProcess {
    /// Starts `wijkbrug serve --config <config>` on a free port with `env` on top (as
    /// `WIJKBRUG__...` variables); returns once it prints the address it listens on.
    pub fn serve(config: &Path, env: &[(&str, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_wijkbrug"));
        command
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env_remove("WIJKBRUG_ENVIRONMENT")
            .env("WIJKBRUG__SERVER__LISTEN", "127.0.0.1:0")
            .env("WIJKBRUG__LOG__FILTER", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the gateway binary starts");
        // Its warnings and errors (the log filter is `warn`), kept to explain a failed start.
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let kept = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                if log.len() < 64 * 1024 {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.wait();
                std::thread::sleep(std::time::Duration::from_millis(200));
                panic!(
                    "the gateway stopped before it printed its address; its log:\n{}",
                    log.lock().unwrap()
                );
            };
            if let Some(rest) = line.strip_prefix("wijkbrug listening on ") {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stdout (where it logs) so the child never blocks on a full pipe.
        let kept = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                if log.len() < 64 * 1024 {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        Self { child, base, log }
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM (a clean stop), and wait for it to be gone.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
