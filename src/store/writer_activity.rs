//! What the store's single writer has done since the gateway started: its write transactions,
//! the writes they carried, and where its time went. Both stores' writers keep these counters
//! as they work; `/metrics` shows them, so operations can tell a store that is near its limit
//! (the writer busy most of the time, or its commits slow: a disk or database server under
//! strain) from one that is idle. Counters only, no labels: nothing about a referral or a
//! resident is in them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The writer's running totals (relaxed atomics: read for `/metrics` and the load generator,
/// never used to decide anything).
#[derive(Default, Debug)]
pub(crate) struct WriterCounters {
    commits: AtomicU64,
    writes: AtomicU64,
    busy_nanos: AtomicU64,
    commit_nanos: AtomicU64,
}

impl WriterCounters {
    /// A transaction of `writes` writes was committed; the commit itself took `committing`.
    pub fn committed(&self, writes: usize, committing: Duration) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes
            .fetch_add(u64::try_from(writes).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.commit_nanos
            .fetch_add(nanos(committing), Ordering::Relaxed);
    }

    /// The writer worked on a batch for `busy` (from taking it to answering every caller,
    /// commit, failures and retries included).
    pub fn worked(&self, busy: Duration) {
        self.busy_nanos.fetch_add(nanos(busy), Ordering::Relaxed);
    }

    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub fn snapshot(&self) -> WriterActivity {
        WriterActivity {
            commits: self.commits(),
            writes: self.writes.load(Ordering::Relaxed),
            busy: Duration::from_nanos(self.busy_nanos.load(Ordering::Relaxed)),
            committing: Duration::from_nanos(self.commit_nanos.load(Ordering::Relaxed)),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The writer's totals at one moment ([`crate::store::Store::writer_activity`]).
///
/// Between two readings: `busy` over the time between them is how much of the time the writer
/// worked (near 1: the store is the limit, and callers queue for it); `writes / commits` is how
/// many writes shared a commit; `committing / commits` is what one commit took (SQLite: the
/// WAL written and synced; PostgreSQL: the round trip and the server's WAL flush).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WriterActivity {
    /// Write transactions committed.
    pub commits: u64,
    /// Writes those transactions carried (an intake, a status change, a delivery's claim or
    /// outcome, an audit event, ...).
    pub writes: u64,
    /// Time spent working on batches.
    pub busy: Duration,
    /// Of that, time spent in `COMMIT`.
    pub committing: Duration,
}

impl WriterActivity {
    /// What happened between `earlier` and this reading.
    pub fn since(&self, earlier: &WriterActivity) -> WriterActivity {
        WriterActivity {
            commits: self.commits.saturating_sub(earlier.commits),
            writes: self.writes.saturating_sub(earlier.writes),
            busy: self.busy.saturating_sub(earlier.busy),
            committing: self.committing.saturating_sub(earlier.committing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_totals_add_up_and_a_difference_shows_the_interval() {
        let counters = WriterCounters::default();
        counters.committed(3, Duration::from_micros(400));
        counters.worked(Duration::from_millis(2));
        let first = counters.snapshot();
        assert_eq!(
            first,
            WriterActivity {
                commits: 1,
                writes: 3,
                busy: Duration::from_millis(2),
                committing: Duration::from_micros(400),
            }
        );
        counters.committed(5, Duration::from_micros(600));
        counters.committed(1, Duration::from_micros(100));
        counters.worked(Duration::from_millis(3));
        let later = counters.snapshot();
        assert_eq!(
            later.since(&first),
            WriterActivity {
                commits: 2,
                writes: 6,
                busy: Duration::from_millis(3),
                committing: Duration::from_micros(700),
            }
        );
        assert_eq!(first.since(&later), WriterActivity::default());
    }
}
