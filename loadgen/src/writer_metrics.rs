//! The store writer's counters, read from the gateway's `/metrics` at the start and the end of
//! a run: how busy the writer was, how many writes shared a commit, what a commit took and how
//! long its batches took. They tell whether the store's single writer is what limits a run,
//! and whether its batches are where an answer's tail comes from.

use std::time::Duration;

use anyhow::anyhow;
use serde::Serialize;

use crate::histogram_metrics::{HistogramReading, HistogramRun};

/// The histogram of the writer's batches by how long each took.
const BATCHES: &str = "wijkbrug_store_batch_duration_seconds";

/// The counters at one moment (`wijkbrug_store_*` in `/metrics`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriterReading {
    pub commits: f64,
    pub writes: f64,
    pub busy_seconds: f64,
    pub commit_seconds: f64,
    pub batches: HistogramReading,
}

impl WriterReading {
    /// Reads the four counters and the batches' histogram from the OpenMetrics text; an error
    /// names a missing one.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let find = |name: &str| -> anyhow::Result<f64> {
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .find_map(|l| {
                    let (series, value) = l.split_once(' ')?;
                    (series == name).then(|| value.trim().parse::<f64>().ok())?
                })
                .ok_or_else(|| anyhow!("{name} is not in /metrics"))
        };
        Ok(Self {
            commits: find("wijkbrug_store_commits_total")?,
            writes: find("wijkbrug_store_writes_total")?,
            busy_seconds: find("wijkbrug_store_writer_busy_seconds_total")?,
            commit_seconds: find("wijkbrug_store_commit_seconds_total")?,
            batches: HistogramReading::parse(text, BATCHES, None)?,
        })
    }
}

/// The writer over a run, from two readings `elapsed` apart.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WriterSummary {
    /// Of the run's time, the share the writer spent on batches (1.0: all of it).
    pub busy: f64,
    pub commits_per_s: f64,
    /// Writes (intakes, status changes, deliveries' claims and outcomes, ...) a commit.
    pub writes_per_commit: Option<f64>,
    /// The mean time of one commit.
    pub commit_ms: Option<f64>,
    /// The mean time the writer spent on one batch, its commit included.
    pub batch_ms: Option<f64>,
    /// Of the run's batches, the share done within 5 ms.
    pub batches_within_5ms: Option<f64>,
    /// The upper bound of the bucket that holds the batches' 99th percentile (ms); `None` when
    /// it lies above the last finite bound.
    pub batch_p99_at_most_ms: Option<f64>,
}

impl WriterSummary {
    pub fn between(before: &WriterReading, after: &WriterReading, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let commits = (after.commits - before.commits).max(0.0);
        let per_commit = |v: f64| (commits > 0.0).then(|| v / commits);
        let busy = (after.busy_seconds - before.busy_seconds).max(0.0);
        let batches = HistogramRun::between(&before.batches, &after.batches);
        Self {
            busy: busy / secs,
            commits_per_s: commits / secs,
            writes_per_commit: per_commit((after.writes - before.writes).max(0.0)),
            commit_ms: per_commit((after.commit_seconds - before.commit_seconds).max(0.0) * 1e3),
            batch_ms: per_commit(busy * 1e3),
            batches_within_5ms: batches.share_within(0.005),
            batch_p99_at_most_ms: batches.p99_at_most_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP wijkbrug_store_commits Write transactions ...
# TYPE wijkbrug_store_commits counter
wijkbrug_store_commits_total 700
wijkbrug_store_writes_total 8750
wijkbrug_store_writer_busy_seconds_total 1.7
wijkbrug_store_commit_seconds_total 1.05
wijkbrug_store_commits_created 1.0
wijkbrug_store_batch_duration_seconds_sum 1.7
wijkbrug_store_batch_duration_seconds_count 700
wijkbrug_store_batch_duration_seconds_bucket{le=\"0.005\"} 650
wijkbrug_store_batch_duration_seconds_bucket{le=\"0.01\"} 697
wijkbrug_store_batch_duration_seconds_bucket{le=\"+Inf\"} 700
";

    #[test]
    fn the_counters_are_read_by_their_full_name() {
        let r = WriterReading::parse(TEXT).unwrap();
        assert_eq!(
            (r.commits, r.writes, r.busy_seconds, r.commit_seconds),
            (700.0, 8750.0, 1.7, 1.05)
        );
        assert_eq!((r.batches.count, r.batches.buckets.len()), (700.0, 3));
        let missing = WriterReading::parse("wijkbrug_store_commits_total 1\n").unwrap_err();
        assert!(missing.to_string().contains("wijkbrug_store_writes_total"));
        let no_batches = TEXT.replace("wijkbrug_store_batch_duration_seconds_count 700\n", "");
        let missing = WriterReading::parse(&no_batches).unwrap_err();
        assert!(missing
            .to_string()
            .contains("wijkbrug_store_batch_duration_seconds_count"));
    }

    #[test]
    fn two_readings_give_the_share_busy_and_the_means_per_commit() {
        let before = WriterReading {
            commits: 100.0,
            writes: 1000.0,
            busy_seconds: 0.3,
            commit_seconds: 0.05,
            batches: HistogramReading {
                buckets: vec![(0.005, 100.0), (0.01, 100.0), (f64::INFINITY, 100.0)],
                count: 100.0,
            },
        };
        let after = WriterReading::parse(TEXT).unwrap();
        let s = WriterSummary::between(&before, &after, Duration::from_secs(2));
        assert!((s.busy - 0.7).abs() < 1e-9);
        assert!((s.commits_per_s - 300.0).abs() < 1e-9);
        assert!((s.writes_per_commit.unwrap() - 12.916_666).abs() < 1e-3);
        assert!((s.commit_ms.unwrap() - 1000.0 / 600.0).abs() < 1e-9);
        assert!((s.batch_ms.unwrap() - 1400.0 / 600.0).abs() < 1e-9);
        // 600 batches in the run: 550 within 5 ms, 597 within 10 (99.5%).
        assert!((s.batches_within_5ms.unwrap() - 550.0 / 600.0).abs() < 1e-9);
        assert_eq!(s.batch_p99_at_most_ms, Some(10.0));
        let idle = WriterSummary::between(&before, &before, Duration::from_secs(2));
        assert_eq!((idle.busy, idle.commit_ms), (0.0, None));
    }
}
