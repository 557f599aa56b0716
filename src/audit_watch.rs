//! The audit-chain watcher: every `[audit] verify_interval_secs` (and once at start) it walks
//! the whole chain with [`crate::audit_chain::check`] and keeps the latest result in a
//! [`ChainWatch`] (`state.audit_chain`), so `/metrics` and the dashboard show the chain's
//! length and whether it is intact without walking it on every request. Started beside the
//! server, stopped on shutdown (a walk in flight is abandoned: it changes nothing).
//!
//! Logs numbers only: the length, and for a broken chain the first broken event's number.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit_chain::ChainCheck;
use crate::store::{Store, StoreError};

/// One walk of the chain and when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    pub check: ChainCheck,
    /// When the walk finished.
    pub checked_at: DateTime<Utc>,
}

/// The latest result of the watcher, shared with whoever reads it.
#[derive(Debug, Default)]
pub struct ChainWatch {
    latest: RwLock<Option<ChainStatus>>,
}

impl ChainWatch {
    /// The latest walk, `None` until the first one finished.
    pub fn latest(&self) -> Option<ChainStatus> {
        self.latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, status: ChainStatus) {
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) = Some(status);
    }
}

/// Walks the chain once and stores the result in `watch` (kept as it was when the store
/// cannot be read).
pub async fn run_once(store: &dyn Store, watch: &ChainWatch) -> Result<ChainStatus, StoreError> {
    let check = crate::audit_chain::check(store).await?;
    let status = ChainStatus {
        check,
        checked_at: crate::store::now(),
    };
    if status.check.intact {
        tracing::debug!(events = status.check.events, "audit chain intact");
    } else {
        tracing::error!(
            events = status.check.events,
            broken_at = status.check.broken_at,
            "audit chain broken: see the runbook (wijkbrug audit verify)"
        );
    }
    watch.set(status.clone());
    Ok(status)
}

/// The running watcher.
pub struct AuditChainWatcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AuditChainWatcher {
    /// Starts the watcher: a first walk at once, then one every `interval`.
    pub fn spawn(store: Arc<dyn Store>, watch: Arc<ChainWatch>, interval: Duration) -> Self {
        let (stop, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval.max(Duration::from_secs(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop_rx.changed() => return,
                }
                tokio::select! {
                    result = run_once(store.as_ref(), &watch) => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "audit chain walk failed; retried at the next interval");
                        }
                    }
                    _ = stop_rx.changed() => return,
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the watcher and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
