//! `wijkbrug serve`: open the store (SQLite or PostgreSQL, by `[store] url`), apply migrations,
//! register the instance, and serve the API and run the delivery worker, the retention job and
//! the audit-chain watcher until SIGINT or SIGTERM; then stop claiming deliveries, finish
//! in-flight requests and delivery attempts (up to the configured grace), deregister and stop.
//!
//! Plain HTTP by default; with `[server.tls]` HTTPS through rustls ([`crate::tls::TlsListener`]),
//! each request carrying its connection's verified client certificate (if any) for
//! [`crate::api::client_cert`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::audit_watch::AuditChainWatcher;
use crate::config::Config;
use crate::delivery::{DeliveryClient, DeliveryStats, DeliveryWorker};
use crate::instances::Heartbeat;
use crate::retention::RetentionWorker;
use crate::store::Store;
use crate::tls::TlsListener;

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    /// Whether it serves HTTPS (`[server.tls]`).
    pub tls: bool,
    pub state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    delivery: DeliveryWorker,
    retention: RetentionWorker,
    heartbeat: Heartbeat,
    audit_watch: AuditChainWatcher,
    grace: std::time::Duration,
}

impl Running {
    /// `http://<addr>` or `https://<addr>`.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops taking new connections and claiming deliveries, finishes in-flight requests and
    /// delivery attempts (within the shutdown grace), and waits for both.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let ((), (), (), served) = tokio::join!(
            self.delivery.stop(self.grace),
            self.retention.stop(),
            self.audit_watch.stop(),
            self.task
        );
        self.heartbeat.stop().await;
        served.context("server task")?
    }

    /// The delivery worker's counters.
    pub fn delivery_stats(&self) -> Arc<DeliveryStats> {
        self.delivery.stats()
    }

    /// Asks the delivery worker to look for due rows now.
    pub fn wake_delivery(&self) {
        self.delivery.wake();
    }
}

/// Opens the configured store and applies its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let audit = &config.settings.audit;
    if audit.development_key {
        tracing::warn!(
            variable = %audit.pseudonym_key_env,
            "the audit log's resident pseudonyms use the fixed development key: set the variable \
             to a secret (required when WIJKBRUG_ENVIRONMENT=production)"
        );
    }
    let store = crate::store::open(&config.settings.store, audit.pseudonym_key.clone())
        .await
        .context("opening the store")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// Starts the gateway on the configured address (port 0 picks one) and returns at once.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let store = open_store(&config).await?;
    start_with_store(config, store).await
}

pub async fn start_with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(config.settings.server.listen)
        .await
        .with_context(|| format!("binding {}", config.settings.server.listen))?;
    let addr = listener.local_addr()?;
    let grace = config.settings.server.shutdown_grace;
    let tls = config.settings.server.tls.clone();
    let listener = match &tls {
        None => Listening::Plain(listener),
        Some(tls) => Listening::Tls(TlsListener::new(listener, tls).context("serving TLS")?),
    };
    let limits = crate::connections::ConnectionLimits {
        header_read_timeout: config.settings.server.header_read_timeout,
    };
    let client = DeliveryClient::new(
        &config.partners,
        config.settings.delivery.per_partner_concurrency,
    )?;
    let heartbeat =
        Heartbeat::start(store.clone(), config.settings.delivery.worker_id.clone()).await;
    let retention = RetentionWorker::spawn(store.clone(), config.settings.retention.clone());
    let state = Arc::new(AppState::new(config, store));
    let audit_watch = AuditChainWatcher::spawn(
        state.store.clone(),
        state.audit_chain.clone(),
        state.config.settings.audit.verify_interval,
        state.config.settings.audit.whole_verify_interval,
    );
    let app = crate::api::router(state.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let (drained_tx, drained_rx) = oneshot::channel::<()>();
        let signal = async move {
            let _ = rx.await;
            let _ = drained_tx.send(());
        };
        // Every request carries its connection's peer as `ConnectInfo`: the socket address
        // over plain HTTP, the address and verified client certificate over TLS.
        let server = match listener {
            Listening::Plain(l) => {
                let l = l.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                tokio::spawn(crate::connections::serve(l, app, limits, signal))
            }
            Listening::Tls(l) => tokio::spawn(crate::connections::serve(l, app, limits, signal)),
        };
        // Once shutdown starts, in-flight requests get `grace` to finish.
        let _ = drained_rx.await;
        match tokio::time::timeout(grace, server).await {
            Ok(joined) => joined.context("server task")?.context("serving"),
            Err(_) => {
                tracing::warn!("shutdown grace elapsed with requests still in flight");
                Ok(())
            }
        }
    });
    let delivery = DeliveryWorker::spawn(state.clone(), client);
    tracing::info!(%addr, tls = tls.is_some(), "listening");
    Ok(Running {
        addr,
        tls: tls.is_some(),
        state,
        shutdown: Some(tx),
        task,
        delivery,
        retention,
        heartbeat,
        audit_watch,
        grace,
    })
}

/// The listener: plain TCP, or TCP with a TLS handshake before each connection is served.
enum Listening {
    Plain(TcpListener),
    Tls(TlsListener),
}

/// Serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let running = start(config).await?;
    println!("wijkbrug listening on {}", running.base_url());
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests and delivery attempts");
    running.stop().await
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
