//! One measured run against wijkbrug: the run's configuration folder is written
//! ([`netconfig`]), the store optionally topped up with seeded referrals ([`growth`]), the
//! gateway started (as its own process, so its memory and CPU are its own, or in this
//! process for the smoke test), the residents' consents imported through the administrator's
//! API, the partner endpoints served ([`partners`]), the referrals submitted as paced
//! ([`drive`]), and the deliveries and notices still under way waited for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde::Serialize;
use wijkbrug::config::Config;
use wijkbrug::demo::client::GatewayClient;
use wijkbrug::demo::network::{self, DemoTokens};
use wijkbrug::demo::residents::Residents;
use wijkbrug_adapters::model::ReferralId;
use wijkbrug_adapters::Format;

use crate::drive::{self, Pace};
use crate::growth::{self, DashboardTimes};
use crate::intake_metrics::{IntakeReading, IntakeSummary};
use crate::measure::{bump, LatencySummary, Tracker};
use crate::netconfig::{self, NetworkPlan};
use crate::partners::{self, Shared};
use crate::procstat::{self, Meter, Usage};
use crate::traffic::{Mix, Traffic};
use crate::writer_metrics::{WriterReading, WriterSummary};

/// Before a run, the endpoints wait until nothing has arrived for this long ...
const SETTLE_QUIET: Duration = Duration::from_secs(2);
/// ... but no longer than this.
const SETTLE_MAX: Duration = Duration::from_secs(180);

/// How the gateway is run.
#[derive(Clone, Debug)]
pub enum Launch {
    /// `<bin> serve --config <run's folder>` as a child process.
    Process { bin: PathBuf },
    /// `wijkbrug::server::start` in this process (no memory or CPU figures).
    InProcess,
}

/// One run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub label: String,
    /// The configuration folder to start from (`config/`).
    pub source_config: PathBuf,
    /// The run's folder: `config/` is written afresh, `data/` (the SQLite file) is kept
    /// between runs on the same folder.
    pub work_dir: PathBuf,
    /// A PostgreSQL URL; `None`: SQLite in `<work_dir>/data`.
    pub store_url: Option<String>,
    pub mix: Mix,
    pub pace: Pace,
    /// Every partner a mailbox partner: the gateway only takes referrals in (202 after the
    /// durable commit) and pushes nothing.
    pub intake_only: bool,
    /// Receivers answer each referral with a status update.
    pub status_loop: bool,
    /// The most time to wait after the last submission for deliveries and notices.
    pub drain: Duration,
    pub per_partner_concurrency: u32,
    /// Before the run, seed the store up to this many referrals.
    pub seed_to: Option<u64>,
    /// After the run, time the dashboard's queries this many times each (0: not at all).
    pub dashboard_samples: usize,
}

/// What a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub label: String,
    pub store: &'static str,
    pub mix: Mix,
    pub load: drive::Load,
    pub intake_only: bool,
    pub status_loop: bool,
    pub referrals_in_store_before: u64,
    pub seconds_sending: f64,
    pub sent: u64,
    pub accepted: u64,
    pub errors: u64,
    pub accepted_per_s: f64,
    /// This run's referrals delivered (matched to their 202).
    pub delivered: u64,
    /// Deliveries of referrals not of this run (left over from an earlier run on the store).
    pub other_deliveries: u64,
    pub redelivered: u64,
    pub delivered_per_s: Option<f64>,
    pub statuses_applied: u64,
    pub status_errors: u64,
    pub status_retries: u64,
    /// Status updates shed by the gateway (503) and sent again after its Retry-After.
    pub status_shed: u64,
    /// Notices about this run's referrals.
    pub notices: u64,
    /// Referrals a second through the whole loop: submitted, delivered, answered, and the
    /// answer's notice back at the sender.
    pub full_path_per_s: Option<f64>,
    pub unreadable_deliveries: u64,
    pub intake: LatencySummary,
    pub submission_to_delivery: LatencySummary,
    pub submission_to_notice: LatencySummary,
    pub status_post: LatencySummary,
    pub gateway: Option<Usage>,
    /// The store's writer over the run (from `/metrics`).
    pub store_writer: Option<WriterSummary>,
    /// Why the writer's counters could not be read.
    pub store_writer_unavailable: Option<String>,
    /// The gateway's own histogram of its 202 answers over the run (from `/metrics`): how
    /// much of the intake round trip was spent inside the gateway.
    pub gateway_intake: Option<IntakeSummary>,
    /// Why that histogram could not be read.
    pub gateway_intake_unavailable: Option<String>,
    pub load_average_before: Option<f64>,
    pub load_average_after: Option<f64>,
    pub dashboard: Option<DashboardTimes>,
    /// Why the dashboard's queries could not be timed.
    pub dashboard_unavailable: Option<String>,
}

impl RunSummary {
    /// One line for people.
    pub fn line(&self) -> String {
        let opt = |v: Option<f64>, unit: &str| {
            v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}{unit}"))
        };
        let usage = self.gateway.as_ref().map_or_else(String::new, |u| {
            format!(
                ", gateway peak RSS {} CPU {} cores",
                opt(u.peak_rss_mib, " MiB"),
                u.cpu_cores.map_or("-".to_owned(), |c| format!("{c:.2}"))
            )
        });
        let writer = self.store_writer.as_ref().map_or_else(String::new, |w| {
            let per = |v: Option<f64>, digits: usize| {
                v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
            };
            format!(
                "; store writer busy {:.0}%, {} writes a commit, commit {} ms, batches p99 at most {} ms",
                w.busy * 100.0,
                per(w.writes_per_commit, 1),
                per(w.commit_ms, 2),
                per(w.batch_p99_at_most_ms, 1)
            )
        });
        let inside = self
            .gateway_intake
            .as_ref()
            .filter(|g| g.answered > 0.0)
            .map_or_else(String::new, |g| {
                format!(
                    "; inside the gateway {} of 202s within 10 ms, p99 at most {} ms",
                    g.within_10ms
                        .map_or("-".to_owned(), |w| format!("{:.1}%", w * 100.0)),
                    g.p99_at_most_ms.map_or("-".to_owned(), |p| format!("{p}"))
                )
            });
        format!(
            "{}: {:.0} accepted/s ({} sent, {} errors), delivered {}/s, full path {}/s; intake p50 {:.1} p99 {:.1} max {:.1} ms{inside}; delivery p50 {:.1} p99 {:.1} ms{usage}{writer}; load {}",
            self.label,
            self.accepted_per_s,
            self.sent,
            self.errors,
            opt(self.delivered_per_s, ""),
            opt(self.full_path_per_s, ""),
            self.intake.p50_ms,
            self.intake.p99_ms,
            self.intake.max_ms,
            self.submission_to_delivery.p50_ms,
            self.submission_to_delivery.p99_ms,
            opt(self.load_average_before, ""),
        )
    }
}

/// A gateway the run started.
enum Started {
    Process(tokio::process::Child),
    InProcess(wijkbrug::server::Running),
}

/// Runs one measurement.
pub async fn run(options: &RunOptions, launch: &Launch) -> anyhow::Result<RunSummary> {
    let tokens = DemoTokens::read(&options.source_config).map_err(|e| anyhow!(e))?;
    let source = wijkbrug::config::load(&options.source_config).map_err(|p| {
        anyhow!(
            "{} problem(s) in {}",
            p.len(),
            options.source_config.display()
        )
    })?;
    let mut partner_ids: Vec<String> = source
        .partners
        .list
        .iter()
        .map(|p| p.id.to_string())
        .collect();
    partner_ids.push(network::PROVIDER_ID.to_owned());
    let bound = partners::bind(if options.intake_only {
        &[]
    } else {
        &partner_ids
    })
    .await?;
    let listen = free_port()?;
    let data_dir = options.work_dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let config_dir = options.work_dir.join("config");
    if config_dir.exists() {
        std::fs::remove_dir_all(&config_dir)?;
    }
    netconfig::write(
        &options.source_config,
        &config_dir,
        &NetworkPlan {
            listen,
            store_url: options
                .store_url
                .clone()
                .unwrap_or_else(|| network::STORE_URL.to_owned()),
            data_dir: data_dir.clone(),
            endpoints: bound.urls()?,
            per_partner_concurrency: options.per_partner_concurrency,
        },
    )?;
    let config = wijkbrug::config::load(&config_dir).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow!("the run's configuration: {}", list.join("; "))
    })?;
    let before = growth::prepare(&config, options.seed_to).await?;

    let base = format!("http://{listen}");
    let started = match launch {
        Launch::Process { bin } => Started::Process(spawn(bin, &config_dir, &options.work_dir)?),
        Launch::InProcess => Started::InProcess(wijkbrug::server::start(config.clone()).await?),
    };
    let result = measure(options, &config, &tokens, &base, bound, &started, before).await;
    stop(started).await?;
    let mut summary = result?;
    if options.dashboard_samples > 0 {
        match growth::time_dashboard(&config, options.dashboard_samples).await {
            Ok(times) => summary.dashboard = Some(times),
            // A store that cannot answer them is reported, not a failed run.
            Err(e) => summary.dashboard_unavailable = Some(e.to_string()),
        }
    }
    Ok(summary)
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

fn spawn(bin: &Path, config_dir: &Path, work_dir: &Path) -> anyhow::Result<tokio::process::Child> {
    let log = std::fs::File::create(work_dir.join("gateway.log"))?;
    tokio::process::Command::new(bin)
        .arg("serve")
        .arg("--config")
        .arg(config_dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

async fn stop(started: Started) -> anyhow::Result<()> {
    match started {
        Started::Process(mut child) => {
            if let Some(pid) = child.id() {
                let _ = tokio::process::Command::new("kill")
                    .arg("-TERM")
                    .arg(pid.to_string())
                    .status()
                    .await;
            }
            match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
                Ok(status) => {
                    status?;
                }
                Err(_) => child.kill().await?,
            }
            Ok(())
        }
        Started::InProcess(running) => running.stop().await,
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str, started: &Started) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Started::Process(child) = started {
            if child.id().is_none() {
                bail!("the gateway exited at start (see gateway.log in the run's folder)");
            }
        }
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the gateway was not ready within a minute (see gateway.log in the run's folder)")
}

async fn measure(
    options: &RunOptions,
    config: &Config,
    tokens: &DemoTokens,
    base: &str,
    bound: partners::Bound,
    started: &Started,
    before: u64,
) -> anyhow::Result<RunSummary> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(60))
        .build()?;
    wait_ready(&http, base, started).await?;
    let client = GatewayClient::new(base.to_owned())?;
    wijkbrug::demo::import_consents(&client, config, tokens, &Residents::generate())
        .await
        .map_err(|e| anyhow!(e))?;

    let tracker = Arc::new(Tracker::default());
    let formats: HashMap<String, (Format, String)> = config
        .partners
        .list
        .iter()
        .filter_map(|p| {
            let token = tokens.partner(p.id.as_str())?;
            Some((p.id.to_string(), (p.adapter, token.to_owned())))
        })
        .collect();
    let endpoints = partners::serve(
        bound,
        &formats,
        &Shared {
            gateway: base.to_owned(),
            http: http.clone(),
            directory: network::partner_directory(config),
            tracker: Arc::clone(&tracker),
            status_loop: options.status_loop && !options.intake_only,
        },
    )?;
    // Deliveries and notices left over from an earlier run on the same store come first:
    // wait until none has arrived for two seconds (three minutes at most).
    let settle_until = Instant::now() + SETTLE_MAX;
    tokio::time::sleep(SETTLE_QUIET).await;
    while Instant::now() < settle_until
        && tracker
            .last_arrival()
            .is_some_and(|l| l.elapsed() < SETTLE_QUIET)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let traffic = Arc::new(Traffic::new(config, tokens, options.mix)?);
    let pid = match started {
        Started::Process(child) => child.id(),
        Started::InProcess(_) => None,
    };
    let metrics_before = scrape_metrics(&http, base).await;
    let meter = pid.map(|p| Meter::start(vec![p]));
    let load_before = procstat::load_average();
    let start = Instant::now();
    let send = {
        let (http, tracker, base) = (http.clone(), Arc::clone(&tracker), base.to_owned());
        move |intended: Instant| {
            let (http, tracker, traffic, base) = (
                http.clone(),
                Arc::clone(&tracker),
                Arc::clone(&traffic),
                base.clone(),
            );
            async move { submit(&http, &tracker, &traffic, &base, intended).await }
        }
    };
    let sending = drive::run(options.pace, send).await;

    // Wait for what is under way: every accepted referral delivered and, with the status
    // loop, its notice back at the sender.
    let drain_until = Instant::now() + options.drain;
    if !options.intake_only {
        while Instant::now() < drain_until {
            let accepted = Tracker::count(&tracker.accepted);
            let done = tracker.matched_deliveries() >= accepted
                && (!options.status_loop || tracker.matched_notices() >= accepted);
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let usage = meter.map(|m| m.stop());
    let elapsed = start.elapsed();
    let metrics_after = scrape_metrics(&http, base).await;
    let writer = readings(&metrics_before, &metrics_after, WriterReading::parse)
        .map(|(before, after)| WriterSummary::between(&before, &after, elapsed));
    let gateway_intake = readings(&metrics_before, &metrics_after, IntakeReading::parse)
        .map(|(before, after)| IntakeSummary::between(&before, &after));
    let load_after = procstat::load_average();
    endpoints.stop().await;

    let per_s = |n: u64, last: Option<Instant>| {
        last.map(|l| n as f64 / l.saturating_duration_since(start).as_secs_f64().max(1e-9))
    };
    let accepted = Tracker::count(&tracker.accepted);
    let delivered = tracker.matched_deliveries();
    let notices = tracker.matched_notices();
    Ok(RunSummary {
        label: options.label.clone(),
        store: if options.store_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        mix: options.mix,
        load: options.pace.load,
        intake_only: options.intake_only,
        status_loop: options.status_loop && !options.intake_only,
        referrals_in_store_before: before,
        seconds_sending: sending.as_secs_f64(),
        sent: Tracker::count(&tracker.sent),
        accepted,
        errors: Tracker::count(&tracker.errors),
        accepted_per_s: accepted as f64 / sending.as_secs_f64().max(1e-9),
        delivered,
        other_deliveries: Tracker::count(&tracker.delivered).saturating_sub(delivered),
        redelivered: Tracker::count(&tracker.redelivered),
        delivered_per_s: per_s(delivered, tracker.last_delivery()),
        statuses_applied: Tracker::count(&tracker.statuses),
        status_errors: Tracker::count(&tracker.status_errors),
        status_retries: Tracker::count(&tracker.status_retries),
        status_shed: Tracker::count(&tracker.status_shed),
        notices,
        full_path_per_s: if options.status_loop && !options.intake_only {
            per_s(notices, tracker.last_notice())
        } else {
            None
        },
        unreadable_deliveries: Tracker::count(&tracker.unreadable),
        intake: tracker.intake.summary(),
        submission_to_delivery: tracker.delivery.summary(),
        submission_to_notice: tracker.notice.summary(),
        status_post: tracker.status_post.summary(),
        gateway: usage,
        store_writer: writer.as_ref().ok().copied(),
        store_writer_unavailable: writer.err(),
        gateway_intake: gateway_intake.as_ref().ok().copied(),
        gateway_intake_unavailable: gateway_intake.err(),
        load_average_before: load_before,
        load_average_after: load_after,
        dashboard: None,
        dashboard_unavailable: None,
    })
}

/// The gateway's `/metrics` text (read at the start and the end of a run, for the store
/// writer's counters and the intake histogram); the error in words.
async fn scrape_metrics(http: &reqwest::Client, base: &str) -> Result<String, String> {
    let text = async {
        http.get(format!("{base}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await
    };
    text.await.map_err(|e| format!("scraping /metrics: {e:#}"))
}

/// Two readings parsed from the `/metrics` texts of the start and the end of a run.
fn readings<R>(
    before: &Result<String, String>,
    after: &Result<String, String>,
    parse: fn(&str) -> anyhow::Result<R>,
) -> Result<(R, R), String> {
    let read = |text: &Result<String, String>| {
        parse(text.as_deref().map_err(Clone::clone)?).map_err(|e| format!("{e:#}"))
    };
    Ok((read(before)?, read(after)?))
}

/// Posts one referral and records the answer.
async fn submit(
    http: &reqwest::Client,
    tracker: &Tracker,
    traffic: &Traffic,
    base: &str,
    intended: Instant,
) {
    let message = match traffic.next() {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "cannot write a referral");
            bump(&tracker.errors);
            return;
        }
    };
    bump(&tracker.sent);
    let answer = http
        .post(format!("{base}/v1/partners/{}/messages", message.sender))
        .bearer_auth(&message.token)
        .header(reqwest::header::CONTENT_TYPE, message.media_type)
        .body(message.body)
        .send()
        .await;
    let response = match answer {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "a submission failed");
            bump(&tracker.errors);
            return;
        }
    };
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap_or_default();
    tracker.intake.record(intended.elapsed());
    if status != 202 {
        tracing::warn!(status, answer = %String::from_utf8_lossy(&body), "a submission was not accepted");
        bump(&tracker.errors);
        return;
    }
    let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let ids = parsed["accepted"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["referral_id"].as_str())
        .filter_map(|id| ReferralId::parse(id).ok());
    for id in ids {
        tracker.submitted(id, intended);
    }
}
