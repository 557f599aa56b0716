//! The gateway's own view of intake: its histogram of how long a partner's message took to be
//! answered 202 (`wijkbrug_intake_duration_seconds{code="202"}` in `/metrics`), read at the
//! start and the end of a run. Beside the load generator's round trip it tells how much of an
//! intake's time was spent inside the gateway (from its handler's start to its answer) and how
//! much on the way there and back: the connection, the kernel, and waiting for a core.

use serde::Serialize;

use crate::histogram_metrics::{HistogramReading, HistogramRun};

/// The series read: messages answered 202 (referrals accepted).
const SERIES: &str = "wijkbrug_intake_duration_seconds";
const CODE: &str = "code=\"202\"";

/// The 202 histogram at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IntakeReading(pub HistogramReading);

impl IntakeReading {
    /// Reads the 202 histogram from the OpenMetrics text; an error when it is not there.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        HistogramReading::parse(text, SERIES, Some(CODE)).map(Self)
    }
}

/// The gateway's 202 answers over a run, from two readings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct IntakeSummary {
    /// Messages answered 202 in the run.
    pub answered: f64,
    /// Of those, the share the gateway answered within 10 ms.
    pub within_10ms: Option<f64>,
    /// The upper bound of the bucket that holds the 99th percentile (ms); `None` when it lies
    /// above the last finite bound.
    pub p99_at_most_ms: Option<f64>,
}

impl IntakeSummary {
    pub fn between(before: &IntakeReading, after: &IntakeReading) -> Self {
        let run = HistogramRun::between(&before.0, &after.0);
        Self {
            answered: run.count(),
            within_10ms: run.share_within(0.01),
            p99_at_most_ms: run.p99_at_most_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(counts: [u64; 4], total: u64) -> String {
        format!(
            "# TYPE wijkbrug_intake_duration_seconds histogram\n\
             wijkbrug_intake_duration_seconds_sum{{code=\"200\"}} 0.5\n\
             wijkbrug_intake_duration_seconds_count{{code=\"200\"}} 99\n\
             wijkbrug_intake_duration_seconds_bucket{{le=\"0.001\",code=\"200\"}} 99\n\
             wijkbrug_intake_duration_seconds_sum{{code=\"202\"}} 1.5\n\
             wijkbrug_intake_duration_seconds_count{{code=\"202\"}} {total}\n\
             wijkbrug_intake_duration_seconds_bucket{{le=\"0.005\",code=\"202\"}} {}\n\
             wijkbrug_intake_duration_seconds_bucket{{le=\"0.01\",code=\"202\"}} {}\n\
             wijkbrug_intake_duration_seconds_bucket{{le=\"0.025\",code=\"202\"}} {}\n\
             wijkbrug_intake_duration_seconds_bucket{{le=\"+Inf\",code=\"202\"}} {}\n",
            counts[0], counts[1], counts[2], counts[3]
        )
    }

    #[test]
    fn the_202_series_is_read_and_the_others_left() {
        let r = IntakeReading::parse(&text([5, 8, 9, 10], 10)).unwrap();
        assert_eq!(r.0.count, 10.0);
        assert_eq!(r.0.buckets.len(), 4);
        assert_eq!(r.0.buckets[1], (0.01, 8.0));
        assert!(r.0.buckets[3].0.is_infinite());
        let missing = IntakeReading::parse("wijkbrug_store_commits_total 1\n").unwrap_err();
        assert!(missing
            .to_string()
            .contains("wijkbrug_intake_duration_seconds_count"));
    }

    #[test]
    fn two_readings_give_the_runs_share_within_10_ms_and_its_p99_bucket() {
        let before = IntakeReading::parse(&text([100, 100, 100, 100], 100)).unwrap();
        // In the run: 1,000 answered, 700 within 5 ms, 950 within 10, 995 within 25.
        let after = IntakeReading::parse(&text([800, 1050, 1095, 1100], 1100)).unwrap();
        let s = IntakeSummary::between(&before, &after);
        assert_eq!(s.answered, 1000.0);
        assert!((s.within_10ms.unwrap() - 0.95).abs() < 1e-9);
        assert_eq!(s.p99_at_most_ms, Some(25.0));
        // The 99th percentile above every finite bound.
        let slow = IntakeReading::parse(&text([800, 1050, 1080, 1100], 1100)).unwrap();
        assert_eq!(IntakeSummary::between(&before, &slow).p99_at_most_ms, None);
        let idle = IntakeSummary::between(&before, &before);
        assert_eq!((idle.answered, idle.within_10ms), (0.0, None));
    }
}
