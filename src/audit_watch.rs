//! The audit-chain watcher: every `[audit] verify_interval_secs` (and once at start) it walks
//! the whole chain with [`crate::audit_chain::check`] and keeps the latest result in a
//! [`ChainWatch`] (`state.audit_chain`), so `/metrics` and the dashboard show the chain's
//! length and whether it is intact without walking it on every request. Started beside the
//! server, stopped on shutdown (a walk in flight is abandoned: it changes nothing).
//!
//! Staff who ask to verify the chain (`GET /v1/audit/chain`) walk it through the same
//! [`ChainWatch::walk`]: one walk at a time, shared by everyone who asked while it ran.
//!
//! Logs numbers only: the length, and for a broken chain the first broken event's number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

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

/// The latest walk of the chain, shared with whoever reads it, and the one walk under way.
#[derive(Debug, Default)]
pub struct ChainWatch {
    /// The latest walk and when it finished (on the monotonic clock).
    latest: RwLock<Option<(ChainStatus, Instant)>>,
    /// Held by the walk under way.
    walking: tokio::sync::Mutex<()>,
    /// Walks made (not those shared).
    walks: AtomicU64,
}

impl ChainWatch {
    /// The latest walk, `None` until the first one finished.
    pub fn latest(&self) -> Option<ChainStatus> {
        self.latest_with_end().map(|(status, _)| status)
    }

    fn latest_with_end(&self) -> Option<(ChainStatus, Instant)> {
        self.latest
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many walks this watch has made; a caller answered with a walk under way when it
    /// asked does not count.
    pub fn walks(&self) -> u64 {
        self.walks.load(Ordering::Relaxed)
    }

    /// Walks the whole chain now and keeps the result, one walk at a time. A caller that
    /// finds a walk under way waits for it and is answered with its result, which finished
    /// after the caller asked and verified the chain as it was when the walk started (its
    /// length and head hash say how far). However many ask at once, the chain is walked once:
    /// a walk costs 4 to 9 microseconds of a core an event (BENCHMARKS.md), tens of seconds at
    /// seven million.
    /// When the store cannot be read the latest result is kept and the error returned.
    pub async fn walk(&self, store: &dyn Store) -> Result<ChainStatus, StoreError> {
        let asked = Instant::now();
        let _turn = self.walking.lock().await;
        if let Some((status, finished)) = self.latest_with_end() {
            if finished >= asked {
                return Ok(status);
            }
        }
        self.walks.fetch_add(1, Ordering::Relaxed);
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
        *self.latest.write().unwrap_or_else(PoisonError::into_inner) =
            Some((status.clone(), Instant::now()));
        Ok(status)
    }
}

/// Walks the chain once ([`ChainWatch::walk`]) and keeps the result in `watch` (kept as it was
/// when the store cannot be read).
pub async fn run_once(store: &dyn Store, watch: &ChainWatch) -> Result<ChainStatus, StoreError> {
    watch.walk(store).await
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

#[cfg(test)]
mod tests {
    use wijkbrug_adapters::model::{PartnerId, ReferralId};

    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn walks_asked_for_at_once_share_one_and_a_later_ask_walks_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::migrated_in(dir.path()).await;
        let partner = PartnerId::parse("werkplein").unwrap();
        for i in 0..200u64 {
            let id = ReferralId::from_parts(1_767_225_600_000 + i, [1; 10]);
            store.record_read(&partner, id).await.unwrap();
        }
        let watch = ChainWatch::default();

        // Five staff ask at once: the first walks, the others wait for it and share it.
        let (a, b, c, d, e) = tokio::join!(
            watch.walk(&store),
            watch.walk(&store),
            watch.walk(&store),
            watch.walk(&store),
            watch.walk(&store),
        );
        let answers = [a, b, c, d, e];
        assert_eq!(watch.walks(), 1, "one walk for the five");
        let first = answers[0].as_ref().unwrap().clone();
        assert!(first.check.intact);
        assert_eq!(first.check.events, 200);
        for answer in &answers {
            assert_eq!(answer.as_ref().unwrap(), &first);
        }
        assert_eq!(watch.latest(), Some(first.clone()));

        // Asked after that walk finished: walked again, and it sees the event added since.
        store
            .record_read(&partner, ReferralId::from_parts(1_767_225_700_000, [2; 10]))
            .await
            .unwrap();
        let later = watch.walk(&store).await.unwrap();
        assert_eq!(watch.walks(), 2);
        assert_eq!(later.check.events, 201);
        store.close().await;
    }
}
