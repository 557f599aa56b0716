//! `wijkbrug-loadgen`: the command line of the load generator (see the library's docs).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use wijkbrug_loadgen::disk::{self, DiskOptions};
use wijkbrug_loadgen::drive::{Load, Pace};
use wijkbrug_loadgen::gateway_run::{self, Launch, RunOptions};
use wijkbrug_loadgen::plain::{self, PostOptions};
use wijkbrug_loadgen::traffic::{Mix, Traffic};

#[derive(Parser)]
#[command(name = "wijkbrug-loadgen", about = "Load generator for wijkbrug")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (its binary, as a child process) against the demo network's partners
    /// played by this program, and measure it.
    Gateway(GatewayArgs),
    /// Post one body to one URL as paced (for the peers the gateway is compared with).
    Post(PostArgs),
    /// Print one referral of the mix in its sender's native format (e.g. the iWmo WMO315 the
    /// peers are given).
    Sample(SampleArgs),
    /// Time appends made durable (`fdatasync`) on the disk the store is on: the least a
    /// durable commit waits.
    Disk(DiskArgs),
}

#[derive(Args, Clone)]
struct PaceArgs {
    /// Open loop: referrals offered a second (latency from each one's intended send time).
    #[arg(long, conflicts_with = "connections")]
    rate: Option<f64>,
    /// Closed loop: this many connections, each sending as soon as answered.
    #[arg(long)]
    connections: Option<usize>,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Stop after this many submissions.
    #[arg(long)]
    count: Option<u64>,
    /// Open loop: the most submissions in flight.
    #[arg(long, default_value_t = 2048)]
    max_in_flight: usize,
}

impl PaceArgs {
    fn pace(&self) -> anyhow::Result<Pace> {
        let load = match (self.rate, self.connections) {
            (Some(rate), None) if rate > 0.0 => Load::Open { rate },
            (None, Some(connections)) if connections > 0 => Load::Closed { connections },
            _ => bail!("give either --rate (> 0) or --connections (> 0)"),
        };
        Ok(Pace {
            load,
            duration: Duration::from_secs_f64(self.duration.max(0.1)),
            count: self.count,
            max_in_flight: self.max_in_flight,
        })
    }
}

#[derive(Args)]
struct GatewayArgs {
    /// The gateway's binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/wijkbrug")]
    bin: PathBuf,
    /// The configuration folder the run's configuration is made from.
    #[arg(long, default_value = "config")]
    config: PathBuf,
    /// The run's folder (config/ written afresh, data/ kept between runs on it).
    #[arg(long)]
    work: PathBuf,
    /// A PostgreSQL URL (an existing database); default SQLite in <work>/data.
    #[arg(long)]
    store: Option<String>,
    #[arg(long, value_enum, default_value = "demo")]
    mix: Mix,
    #[command(flatten)]
    pace: PaceArgs,
    /// Every partner a mailbox partner: measure the intake alone (202 after the commit).
    #[arg(long)]
    intake_only: bool,
    /// Receivers do not answer with status updates.
    #[arg(long)]
    no_status_loop: bool,
    /// The most seconds to wait after sending for deliveries and notices.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// `[delivery] per_partner_concurrency` for the run. With fewer, deliveries to the one
    /// receiver of the iWmo runs fall behind intake: each slot waits for its push and then for
    /// the commit of its acknowledgement.
    #[arg(long, default_value_t = 64)]
    per_partner_concurrency: u32,
    /// Seed the store up to this many referrals before the run.
    #[arg(long)]
    seed_to: Option<u64>,
    /// Time the dashboard's queries this many times each after the run.
    #[arg(long, default_value_t = 0)]
    dashboard_samples: usize,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
struct PostArgs {
    #[arg(long)]
    url: String,
    /// The file whose content is posted.
    #[arg(long)]
    body: PathBuf,
    #[arg(long, default_value = "application/xml")]
    content_type: String,
    #[command(flatten)]
    pace: PaceArgs,
    /// The peer's process ids (for their memory and CPU; repeatable, e.g. nginx's master
    /// and workers).
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// Run the sink the peer forwards to on this address.
    #[arg(long)]
    sink: Option<SocketAddr>,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
struct SampleArgs {
    #[arg(long, default_value = "config")]
    config: PathBuf,
    #[arg(long, value_enum, default_value = "iwmo")]
    mix: Mix,
}

#[derive(Args)]
struct DiskArgs {
    /// A folder on the disk to measure.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 1000)]
    count: u32,
    /// Bytes per append.
    #[arg(long, default_value_t = 8192)]
    size: usize,
    #[command(flatten)]
    out: OutArgs,
}

#[derive(Args)]
struct OutArgs {
    /// The run's name in the summary.
    #[arg(long, default_value = "run")]
    label: String,
    /// Write the summary as JSON here (and print one line).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn emit(out: &OutArgs, summary: &impl Serialize, line: String) -> anyhow::Result<()> {
    if let Some(path) = &out.json {
        let text = serde_json::to_string_pretty(summary)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{line}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    match Cli::parse().command {
        Command::Gateway(a) => {
            let options = RunOptions {
                label: a.out.label.clone(),
                source_config: a.config,
                work_dir: a.work,
                store_url: a.store,
                mix: a.mix,
                pace: a.pace.pace()?,
                intake_only: a.intake_only,
                status_loop: !a.no_status_loop,
                drain: Duration::from_secs_f64(a.drain.max(0.0)),
                per_partner_concurrency: a.per_partner_concurrency,
                seed_to: a.seed_to,
                dashboard_samples: a.dashboard_samples,
            };
            let summary = gateway_run::run(&options, &Launch::Process { bin: a.bin }).await?;
            emit(&a.out, &summary, summary.line())
        }
        Command::Post(a) => {
            let body =
                std::fs::read(&a.body).with_context(|| format!("reading {}", a.body.display()))?;
            let options = PostOptions {
                label: a.out.label.clone(),
                url: a.url,
                body,
                content_type: a.content_type,
                pace: a.pace.pace()?,
                pids: a.pids,
                sink: a.sink,
            };
            let summary = plain::run(&options).await?;
            emit(&a.out, &summary, summary.line())
        }
        Command::Disk(a) => {
            let options = DiskOptions {
                label: a.out.label.clone(),
                dir: a.dir,
                count: a.count,
                size: a.size,
            };
            let summary = tokio::task::spawn_blocking(move || disk::run(&options)).await??;
            emit(&a.out, &summary, summary.line())
        }
        Command::Sample(a) => {
            let config = wijkbrug::config::load(&a.config)
                .map_err(|p| anyhow::anyhow!("{} problem(s) in the configuration", p.len()))?;
            let tokens = wijkbrug::demo::network::DemoTokens::read(&a.config)
                .map_err(|e| anyhow::anyhow!(e))?;
            let mut config = config;
            // The provider exists only in the demo's (and a run's) configuration.
            wijkbrug::demo::network::apply(
                &mut config,
                &wijkbrug::demo::network::DemoSettings {
                    listen: "127.0.0.1:0".parse()?,
                    data_dir: PathBuf::from("data"),
                },
                reqwest::Url::parse("http://127.0.0.1:9/inbox")?,
            );
            let message = Traffic::new(&config, &tokens, a.mix)?.next()?;
            use std::io::Write;
            std::io::stdout().write_all(&message.body)?;
            Ok(())
        }
    }
}

/// Warnings of the load generator itself to stderr.
fn tracing_subscriber_init() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}
