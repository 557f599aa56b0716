//! What the store's single writer has done since the gateway started: its write transactions,
//! the writes they carried, and where its time went. Both stores' writers keep these counters
//! as they work; `/metrics` shows them, so operations can tell a store that is near its limit
//! (the writer busy most of the time, or its commits slow: a disk or database server under
//! strain) from one that is idle. Counters only, no labels: nothing about a referral or a
//! resident is in them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds, in seconds, of the histogram of the writer's batches by how long each
/// took ([`WriterActivity::batches`]); a last bucket holds the longer ones.
pub const BATCH_BOUNDS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
];

/// Batches per bucket of [`BATCH_BOUNDS`], the last beyond its largest bound.
pub type BatchBuckets = [u64; BATCH_BOUNDS.len() + 1];

/// The writer's running totals (relaxed atomics: read for `/metrics` and the load generator,
/// never used to decide anything).
#[derive(Default, Debug)]
pub(crate) struct WriterCounters {
    commits: AtomicU64,
    writes: AtomicU64,
    busy_nanos: AtomicU64,
    commit_nanos: AtomicU64,
    batches: [AtomicU64; BATCH_BOUNDS.len() + 1],
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
        let secs = busy.as_secs_f64();
        let bucket = BATCH_BOUNDS
            .iter()
            .position(|bound| secs <= *bound)
            .unwrap_or(BATCH_BOUNDS.len());
        if let Some(n) = self.batches.get(bucket) {
            n.fetch_add(1, Ordering::Relaxed);
        }
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
            batches: self.batches.each_ref().map(|n| n.load(Ordering::Relaxed)),
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
    /// Batches by how long each took, from taking it to answering every caller (what a write
    /// waits for once its batch starts): per bucket of [`BATCH_BOUNDS`], not cumulative. Their
    /// sum is the batches worked on, the same durations as `busy`.
    pub batches: BatchBuckets,
}

impl WriterActivity {
    /// What happened between `earlier` and this reading.
    pub fn since(&self, earlier: &WriterActivity) -> WriterActivity {
        WriterActivity {
            commits: self.commits.saturating_sub(earlier.commits),
            writes: self.writes.saturating_sub(earlier.writes),
            busy: self.busy.saturating_sub(earlier.busy),
            committing: self.committing.saturating_sub(earlier.committing),
            batches: std::array::from_fn(|i| self.batches[i].saturating_sub(earlier.batches[i])),
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
        let mut batches = BatchBuckets::default();
        batches[2] = 1; // 2 ms: over 1 ms, at most 2.5
        assert_eq!(
            first,
            WriterActivity {
                commits: 1,
                writes: 3,
                busy: Duration::from_millis(2),
                committing: Duration::from_micros(400),
                batches,
            }
        );
        counters.committed(5, Duration::from_micros(600));
        counters.committed(1, Duration::from_micros(100));
        counters.worked(Duration::from_micros(1_500));
        counters.worked(Duration::from_micros(1_500));
        let later = counters.snapshot();
        assert_eq!(
            later.since(&first),
            WriterActivity {
                commits: 2,
                writes: 6,
                busy: Duration::from_millis(3),
                committing: Duration::from_micros(700),
                // Two more of 1.5 ms, in the same bucket.
                batches: batches.map(|n| n * 2),
            }
        );
        assert_eq!(later.batches[2], 3);
        assert_eq!(first.since(&later), WriterActivity::default());
    }

    #[test]
    fn a_batch_lands_in_the_first_bucket_that_holds_it_and_the_longest_beyond_the_last() {
        let counters = WriterCounters::default();
        for micros in [
            0, 500, 501, 10_000, 10_001, 5_000_000, 5_000_001, 60_000_000,
        ] {
            counters.worked(Duration::from_micros(micros));
        }
        let batches = counters.snapshot().batches;
        // Bounds 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000, 5000 ms, then beyond.
        assert_eq!(batches, [2, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 2]);
        assert_eq!(batches.iter().sum::<u64>(), 8);
    }
}
