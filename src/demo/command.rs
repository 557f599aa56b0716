//! `wijkbrug demo`: the command line. Prints where the gateway, the dashboard and the partner
//! file are, a progress line every ten seconds, and a summary when it stops (Ctrl-C, SIGTERM,
//! or the end of `--duration`).
//!
//! Exit codes: 0 stopped cleanly; 1 could not start (configuration, demo tokens, store);
//! 2 the listen address is in use or cannot be used; 3 the data directory cannot be made or
//! written in.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{Demo, DemoError, DemoOptions};

/// How often the progress line is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address and port the gateway listens on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Where the demo keeps its SQLite file and writes demo-partners.toml.
    #[arg(long, default_value = "demo-data")]
    pub data_dir: PathBuf,
    /// The configuration folder (default.toml, partners/, routing.toml, consents/,
    /// demo-tokens.toml).
    #[arg(long, default_value = "config")]
    pub config: PathBuf,
    /// Referrals submitted a second.
    #[arg(long, default_value_t = 2.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Stop after this long (e.g. 30s, 5m, 1h); without it the demo runs until Ctrl-C.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// A rate: a positive number, at most 1000 a second.
fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1000.0 => Ok(r),
        _ => Err("must be a number of referrals a second, above 0 and at most 1000".into()),
    }
}

/// `90`, `90s`, `500ms`, `5m`, `1h`, or several such, e.g. `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration such as 30s, 5m or 1h");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let (number, tail) = rest.split_at(digits);
        let n: u64 = number.parse().map_err(|_| bad())?;
        let unit = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit);
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            _ => return Err(bad()),
        };
        total = total.saturating_add(part);
        rest = tail;
    }
    Ok(total)
}

/// Runs the demo; the process's exit code.
pub fn run(args: DemoArgs) -> ExitCode {
    let mut log = match crate::config::load_settings(&args.config) {
        Ok(s) => s.log,
        Err(problems) => {
            for p in &problems {
                eprintln!("error: {p}");
            }
            eprintln!(
                "{} problem(s) in the configuration; `wijkbrug check-config` lists them too",
                problems.len()
            );
            return ExitCode::from(1);
        }
    };
    // The terminal is for the demo's own lines; the gateway's log goes to stderr, warnings
    // only unless WIJKBRUG__LOG__FILTER says otherwise.
    if std::env::var_os("WIJKBRUG__LOG__FILTER").is_none() {
        log.filter = "warn".to_owned();
    }
    crate::telemetry::init(&log, std::io::stderr);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run_async(args))
}

async fn run_async(args: DemoArgs) -> ExitCode {
    let options = DemoOptions {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        config_dir: args.config.clone(),
        rate: args.rate,
    };
    let demo = match Demo::start(options).await {
        Ok(d) => d,
        Err(e) => return refuse(&e),
    };
    print_banner(&demo, &args);
    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let until = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = progress.tick() => {
                say(&format!("[{:>5} s] {}", demo.elapsed().as_secs(), demo.tally.snapshot()));
            }
            () = &mut until => {
                say("the demo's time is up: stopping");
                break;
            }
            () = &mut signal => {
                say("stopping: finishing the deliveries in flight");
                break;
            }
        }
    }
    let summary = demo.stop().await;
    say(&summary.to_string());
    ExitCode::SUCCESS
}

/// Prints a line on stdout at once (the demo's output is read by people and scripts alike).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn print_banner(demo: &Demo, args: &DemoArgs) {
    let base = &demo.base;
    say("wijkbrug demo: the whole neighbourhood on this machine");
    say(&format!("wijkbrug listening on {base}"));
    let token = demo
        .ops_token
        .as_deref()
        .map(|t| format!("  (operations token: {t})"))
        .unwrap_or_default();
    say(&format!("  dashboard  {base}/ops/{token}"));
    say(&format!(
        "  partners   {}: each simulated partner's id, format, token and intake URL, to send your own messages with curl",
        demo.manifest.display()
    ));
    say(&format!("  API        {base}/openapi.json"));
    say(&format!(
        "  referrals  {} a second, each in its sender's own format; district nursing is down 15 s of every minute",
        args.rate
    ));
    match args.duration {
        Some(d) => say(&format!(
            "The demo stops after {} s (or at Ctrl-C).",
            d.as_secs()
        )),
        None => say("Stop it with Ctrl-C."),
    }
}

/// Prints why the demo could not start; the exit code.
fn refuse(e: &DemoError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        DemoError::Config { problems, .. } => {
            for p in problems {
                eprintln!("error: {p}");
            }
            ExitCode::from(1)
        }
        DemoError::AddressInUse { .. } | DemoError::Listen { .. } => ExitCode::from(2),
        DemoError::DataDir { .. } => ExitCode::from(3),
        DemoError::Tokens(_) | DemoError::Start(_) => ExitCode::from(1),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let s = Duration::from_secs;
        assert_eq!(parse_duration("30s"), Ok(s(30)));
        assert_eq!(parse_duration("90"), Ok(s(90)));
        assert_eq!(parse_duration("5m"), Ok(s(300)));
        assert_eq!(parse_duration("1h"), Ok(s(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(s(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "s", "30x", "-5s", "1.5s", "m5"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rates_are_positive() {
        assert_eq!(parse_rate("2"), Ok(2.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "x", "5000"] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }
}
