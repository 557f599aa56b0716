//! The audit-chain watcher: once at start it walks the whole chain with
//! [`crate::audit_chain::check_from`], and then every `[audit] verify_interval_secs` it walks
//! the events appended since the last walk, after checking that the event that walk ended at
//! is still there with the same hash; every `[audit] whole_verify_interval_secs` the walk is
//! of the whole chain again. It keeps the latest result in a [`ChainWatch`]
//! (`state.audit_chain`), so `/metrics` and the dashboard show the chain's length, whether it
//! is intact and when it was last walked whole, without walking it on every request. Started
//! beside the server, stopped on shutdown (a walk in flight is abandoned: it changes nothing).
//!
//! Why not the whole chain every time: a walk costs 4 to 9 microseconds of a core an event
//! (BENCHMARKS.md), so a million referrals' seven million events would take about a minute of
//! a core at every interval, growing with the chain. A walk of the new events alone finds a
//! new event that does not link, and newest events removed or a chain rewritten with its
//! hashes recomputed up to the last walk's end; an older event edited in place (its hash left
//! as it was) breaks a link only a walk over it finds, the next whole walk.
//!
//! Staff who ask to verify the chain (`GET /v1/audit/chain`) walk the whole chain through
//! [`ChainWatch::walk`]: one walk at a time, shared by everyone who asked while it ran.
//!
//! Logs numbers only: the length, and for a broken chain the first broken event's number.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit_chain::{ChainCheck, Resume};
use crate::store::{Store, StoreError};

/// One walk of the chain and when it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    pub check: ChainCheck,
    /// When the walk finished.
    pub checked_at: DateTime<Utc>,
    /// Whether this walk went over the whole chain (otherwise over the events appended since
    /// the walk before).
    pub whole: bool,
    /// Events this walk verified.
    pub walked: u64,
    /// When the latest walk over the whole chain that found it intact up to where this walk
    /// went on from finished (this walk's own time when it was whole).
    pub whole_checked_at: DateTime<Utc>,
}

/// Where the last intact walk ended, and when the whole chain was last walked.
#[derive(Clone, Debug)]
struct Walked {
    resume: Resume,
    whole_at: DateTime<Utc>,
    whole_done: Instant,
}

/// The latest walk of the chain, shared with whoever reads it, and the one walk under way.
#[derive(Debug, Default)]
pub struct ChainWatch {
    /// The latest walk and when it finished (on the monotonic clock).
    latest: RwLock<Option<(ChainStatus, Instant)>>,
    /// Held by the walk under way; where the last intact walk ended.
    walking: tokio::sync::Mutex<Option<Walked>>,
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
    /// finds a whole walk under way waits for it and is answered with its result, which
    /// finished after the caller asked and verified the chain as it was when the walk started
    /// (its length and head hash say how far). However many ask at once, the chain is walked
    /// once: a walk costs 4 to 9 microseconds of a core an event (BENCHMARKS.md), tens of
    /// seconds at seven million.
    /// When the store cannot be read the latest result is kept and the error returned.
    pub async fn walk(&self, store: &dyn Store) -> Result<ChainStatus, StoreError> {
        self.walk_within(store, Duration::ZERO).await
    }

    /// The watcher's walk: over the events appended since the last intact walk, or over the
    /// whole chain when there was none or the last whole walk finished `whole_every` ago or
    /// longer. A caller that finds a walk under way waits for it and is answered with its
    /// result.
    pub async fn walk_within(
        &self,
        store: &dyn Store,
        whole_every: Duration,
    ) -> Result<ChainStatus, StoreError> {
        let asked = Instant::now();
        let mut walked = self.walking.lock().await;
        if let Some((status, finished)) = self.latest_with_end() {
            let whole_enough = status.whole || !whole_every.is_zero();
            if finished >= asked && whole_enough {
                return Ok(status);
            }
        }
        let from = walked
            .as_ref()
            .filter(|w| w.whole_done.elapsed() < whole_every)
            .cloned();
        self.walks.fetch_add(1, Ordering::Relaxed);
        let walk = crate::audit_chain::check_from(store, from.as_ref().map(|w| &w.resume)).await?;
        let checked_at = crate::store::now();
        let (whole_at, whole_done) = match &from {
            Some(w) => (w.whole_at, w.whole_done),
            None => (checked_at, Instant::now()),
        };
        *walked = walk.resume.map(|resume| Walked {
            resume,
            whole_at,
            whole_done,
        });
        let status = ChainStatus {
            check: walk.check,
            checked_at,
            whole: from.is_none(),
            walked: walk.walked,
            whole_checked_at: whole_at,
        };
        if status.check.intact {
            tracing::debug!(
                events = status.check.events,
                walked = status.walked,
                whole = status.whole,
                "audit chain intact"
            );
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

/// The watcher's walk ([`ChainWatch::walk_within`]): the events appended since the last
/// walk, or the whole chain when the last whole walk finished `whole_every` ago or longer.
/// The result is kept in `watch` (kept as it was when the store cannot be read).
pub async fn run_once(
    store: &dyn Store,
    watch: &ChainWatch,
    whole_every: Duration,
) -> Result<ChainStatus, StoreError> {
    watch.walk_within(store, whole_every).await
}

/// The running watcher.
pub struct AuditChainWatcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AuditChainWatcher {
    /// Starts the watcher: a first walk (of the whole chain) at once, then one every
    /// `interval`, of the whole chain again once `whole_every` has passed since the last.
    pub fn spawn(
        store: Arc<dyn Store>,
        watch: Arc<ChainWatch>,
        interval: Duration,
        whole_every: Duration,
    ) -> Self {
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
                    result = run_once(store.as_ref(), &watch, whole_every) => {
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
pub(crate) mod tests {
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

    /// Events about `n` reads, numbered from `from` (the dashboard's tests use it too).
    pub(crate) async fn reads(store: &SqliteStore, from: u64, n: u64) {
        let partner = PartnerId::parse("werkplein").unwrap();
        for i in from..from + n {
            let id = ReferralId::from_parts(1_767_225_600_000 + i, [3; 10]);
            store.record_read(&partner, id).await.unwrap();
        }
    }

    /// A store in `dir` holding the events of `n` reads, and a watch that has not walked yet.
    async fn watched(dir: &tempfile::TempDir, n: u64) -> (SqliteStore, ChainWatch) {
        let store = SqliteStore::migrated_in(dir.path()).await;
        reads(&store, 0, n).await;
        (store, ChainWatch::default())
    }

    /// Runs `sql` on the store's file behind the gateway's back (one row changed).
    fn tamper(dir: &std::path::Path, sql: &str) {
        let conn = rusqlite::Connection::open(dir.join("test.db")).unwrap();
        assert_eq!(conn.execute(sql, []).unwrap(), 1, "{sql}");
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test]
    async fn the_watcher_walks_the_new_events_and_the_whole_chain_when_it_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let (store, watch) = watched(&dir, 300).await;

        // The first walk is of the whole chain.
        let first = watch.walk_within(&store, DAY).await.unwrap();
        assert!(first.check.intact && first.whole);
        assert_eq!((first.check.events, first.walked), (300, 300));
        assert_eq!(first.whole_checked_at, first.checked_at);

        // Then only what was appended since, linked to the head the last walk ended at.
        reads(&store, 300, 7).await;
        let next = watch.walk_within(&store, DAY).await.unwrap();
        assert!(next.check.intact && !next.whole, "{next:?}");
        assert_eq!((next.check.events, next.walked), (307, 7));
        assert_eq!(next.whole_checked_at, first.checked_at);
        assert_eq!(
            next.check.head_hash,
            crate::audit_chain::check(&store).await.unwrap().head_hash
        );
        let quiet = watch.walk_within(&store, DAY).await.unwrap();
        assert_eq!((quiet.check.events, quiet.walked), (307, 0));
        assert!(quiet.check.intact);

        // Once the whole walk is due (here at once), the whole chain again.
        let whole = watch.walk_within(&store, Duration::ZERO).await.unwrap();
        assert!(whole.whole && whole.check.intact);
        assert_eq!(whole.walked, 307);
        assert_eq!(watch.walks(), 4);
        store.close().await;
    }

    #[tokio::test]
    async fn a_walk_of_the_new_events_finds_a_bad_link_and_a_changed_or_removed_head() {
        for (what, sql, broken_at) in [
            // A new event that does not link to the one before.
            (
                "altered new event",
                "UPDATE audit_events SET partner = 'wijkteam-centrum' WHERE seq = 52",
                52,
            ),
            // The event the last walk ended at, rewritten with its hash recomputed.
            (
                "rehashed head",
                "UPDATE audit_events SET hash = 'ab' || substr(hash, 3) WHERE seq = 50",
                50,
            ),
            // The newest events removed (the new ones then appended after a gap).
            (
                "removed head",
                "DELETE FROM audit_events WHERE seq = 50",
                50,
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (store, watch) = watched(&dir, 50).await;
            assert!(watch.walk_within(&store, DAY).await.unwrap().check.intact);
            reads(&store, 50, 5).await;
            tamper(dir.path(), sql);
            let walk = watch.walk_within(&store, DAY).await.unwrap();
            assert!(!walk.whole, "{what}");
            assert!(!walk.check.intact, "{what}: {walk:?}");
            assert_eq!(walk.check.broken_at, Some(broken_at), "{what}: {walk:?}");
            // Broken: the next walk is of the whole chain, and finds it again.
            let again = watch.walk_within(&store, DAY).await.unwrap();
            assert!(again.whole && !again.check.intact, "{what}: {again:?}");
            assert_eq!(again.check.broken_at, Some(broken_at), "{what}");
            store.close().await;
        }
    }

    #[tokio::test]
    async fn an_older_event_edited_in_place_shows_at_the_next_whole_walk() {
        let dir = tempfile::tempdir().unwrap();
        let (store, watch) = watched(&dir, 40).await;
        assert!(watch.walk_within(&store, DAY).await.unwrap().check.intact);
        tamper(
            dir.path(),
            "UPDATE audit_events SET partner = 'wijkteam-centrum' WHERE seq = 10",
        );
        reads(&store, 40, 3).await;
        // The walk of the new events does not go over event 10 (the trade made for walking
        // a long chain every few minutes) ...
        let partial = watch.walk_within(&store, DAY).await.unwrap();
        assert!(partial.check.intact && !partial.whole);
        // ... the whole walk does, and so does a staff member's.
        let whole = watch.walk_within(&store, Duration::ZERO).await.unwrap();
        assert!(!whole.check.intact);
        assert_eq!(whole.check.broken_at, Some(10));
        let asked = watch.walk(&store).await.unwrap();
        assert!(asked.whole && !asked.check.intact);
        store.close().await;
    }

    #[tokio::test]
    async fn a_staff_walk_is_whole_even_after_the_watchers_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, watch) = watched(&dir, 20).await;
        watch.walk_within(&store, DAY).await.unwrap();
        reads(&store, 20, 2).await;
        assert!(!watch.walk_within(&store, DAY).await.unwrap().whole);
        let asked = watch.walk(&store).await.unwrap();
        assert!(asked.whole && asked.check.intact);
        assert_eq!(asked.walked, 22);
        store.close().await;
    }
}
