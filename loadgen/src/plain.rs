//! The plain mode, for the peers the gateway is compared with: post one body to one URL as
//! paced, and optionally run the partner endpoint they forward to (a sink answering 200 to
//! every POST, counting them), measuring the round trip and the peer process's memory and CPU.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::drive::{self, Pace};
use crate::measure::{bump, LatencySummary, Tracker};
use crate::procstat::{self, Meter, Usage};

#[derive(Clone, Debug)]
pub struct PostOptions {
    pub label: String,
    pub url: String,
    pub body: Vec<u8>,
    pub content_type: String,
    pub pace: Pace,
    /// The peer's processes, for their memory and CPU.
    pub pids: Vec<u32>,
    /// Run the sink the peer forwards to on this address.
    pub sink: Option<SocketAddr>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PostSummary {
    pub label: String,
    pub url: String,
    pub load: drive::Load,
    pub body_bytes: usize,
    pub seconds_sending: f64,
    pub sent: u64,
    /// 2xx answers.
    pub ok: u64,
    pub errors: u64,
    pub ok_per_s: f64,
    /// POSTs the sink received (the forwarded requests).
    pub forwarded: Option<u64>,
    /// From the intended send time to the answer (the peer's whole work, forward included).
    pub latency: LatencySummary,
    pub peer: Option<Usage>,
    pub load_average_before: Option<f64>,
    pub load_average_after: Option<f64>,
}

impl PostSummary {
    pub fn line(&self) -> String {
        let usage = self.peer.as_ref().map_or_else(String::new, |u| {
            format!(
                ", peak RSS {} MiB CPU {} cores",
                u.peak_rss_mib.map_or("-".into(), |m| format!("{m:.0}")),
                u.cpu_cores.map_or("-".into(), |c| format!("{c:.2}"))
            )
        });
        format!(
            "{}: {:.0} ok/s ({} sent, {} errors, {} forwarded); p50 {:.2} p99 {:.2} max {:.1} ms{usage}; load {}",
            self.label,
            self.ok_per_s,
            self.sent,
            self.errors,
            self.forwarded.map_or("-".into(), |f| f.to_string()),
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
            self.load_average_before
                .map_or("-".into(), |l| format!("{l:.2}")),
        )
    }
}

/// A partner endpoint that takes every POST.
pub struct Sink {
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    pub async fn start(addr: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&received);
        let app = Router::new().fallback(post(move || {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                StatusCode::OK
            }
        }));
        let (shutdown, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            received,
            shutdown,
            task,
        })
    }

    pub async fn stop(self) -> u64 {
        let _ = self.shutdown.send(());
        let _ = self.task.await;
        self.received.load(Ordering::Relaxed)
    }
}

/// Runs the plain mode.
pub async fn run(options: &PostOptions) -> anyhow::Result<PostSummary> {
    let sink = match options.sink {
        Some(addr) => Some(Sink::start(addr).await?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(60))
        .build()?;
    let tracker = Arc::new(Tracker::default());
    let ok = Arc::new(AtomicU64::new(0));
    let meter = (!options.pids.is_empty()).then(|| Meter::start(options.pids.clone()));
    let load_before = procstat::load_average();
    let send = {
        let (http, tracker, ok) = (http.clone(), Arc::clone(&tracker), Arc::clone(&ok));
        let (url, body, content_type) = (
            options.url.clone(),
            axum::body::Bytes::from(options.body.clone()),
            options.content_type.clone(),
        );
        move |intended: Instant| {
            let (http, tracker, ok) = (http.clone(), Arc::clone(&tracker), Arc::clone(&ok));
            let request = http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
            async move {
                bump(&tracker.sent);
                match request.send().await {
                    Ok(r) => {
                        let success = r.status().is_success();
                        let _ = r.bytes().await;
                        tracker.intake.record(intended.elapsed());
                        bump(if success { &ok } else { &tracker.errors });
                    }
                    Err(_) => bump(&tracker.errors),
                }
            }
        }
    };
    let sending = drive::run(options.pace, send).await;
    let usage = meter.map(|m| m.stop());
    let load_after = procstat::load_average();
    let forwarded = match sink {
        Some(s) => Some(s.stop().await),
        None => None,
    };
    let ok = ok.load(Ordering::Relaxed);
    Ok(PostSummary {
        label: options.label.clone(),
        url: options.url.clone(),
        load: options.pace.load,
        body_bytes: options.body.len(),
        seconds_sending: sending.as_secs_f64(),
        sent: Tracker::count(&tracker.sent),
        ok,
        errors: Tracker::count(&tracker.errors),
        ok_per_s: ok as f64 / sending.as_secs_f64().max(1e-9),
        forwarded,
        latency: tracker.intake.summary(),
        peer: usage,
        load_average_before: load_before,
        load_average_after: load_after,
    })
}
