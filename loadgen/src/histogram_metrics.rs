//! A histogram of the gateway's `/metrics`, read at the start and the end of a run: what was
//! observed in between, the share within a bound, and the bucket that holds the 99th
//! percentile. Used for the gateway's intake times ([`crate::intake_metrics`]) and its
//! writer's batches ([`crate::writer_metrics`]).

use anyhow::anyhow;

/// A histogram at one moment: cumulative counts by upper bound, and the total.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramReading {
    /// (upper bound in seconds, observations at or under it), in the order of the bounds.
    pub buckets: Vec<(f64, f64)>,
    pub count: f64,
}

impl HistogramReading {
    /// Reads the histogram `series` (the name before `_count` and `_bucket`) from the
    /// OpenMetrics text, the series with `label` (`name="value"`) among its labels when one is
    /// given; an error when its count is not there.
    pub fn parse(text: &str, series: &str, label: Option<&str>) -> anyhow::Result<Self> {
        let (count_name, bucket_name) = (format!("{series}_count"), format!("{series}_bucket"));
        let mut reading = Self::default();
        let mut count = None;
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name_labels, value)) = line.split_once(' ') else {
                continue;
            };
            let (name, labels) = name_labels.split_once('{').unwrap_or((name_labels, "}"));
            let labels: Vec<&str> = labels.trim_end_matches('}').split(',').collect();
            if label.is_some_and(|wanted| !labels.contains(&wanted)) {
                continue;
            }
            let value: f64 = match value.split_whitespace().next().map(str::parse) {
                Some(Ok(v)) => v,
                _ => continue,
            };
            if name == count_name {
                count = Some(value);
            } else if name == bucket_name {
                let le = labels
                    .iter()
                    .find_map(|l| l.strip_prefix("le=\""))
                    .and_then(|v| v.trim_end_matches('"').parse::<f64>().ok());
                if let Some(le) = le {
                    reading.buckets.push((le, value));
                }
            }
        }
        reading.count = count.ok_or_else(|| match label {
            Some(label) => anyhow!("{count_name}{{{label}}} is not in /metrics"),
            None => anyhow!("{count_name} is not in /metrics"),
        })?;
        Ok(reading)
    }

    /// Observations at or under `le` seconds (a bound of the histogram; 0 for another).
    fn at(&self, le: f64) -> f64 {
        self.buckets
            .iter()
            .find(|(bound, _)| (*bound - le).abs() < 1e-12)
            .map_or(0.0, |(_, n)| *n)
    }
}

/// What a histogram observed between two readings.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramRun {
    before: HistogramReading,
    after: HistogramReading,
}

impl HistogramRun {
    pub fn between(before: &HistogramReading, after: &HistogramReading) -> Self {
        Self {
            before: before.clone(),
            after: after.clone(),
        }
    }

    /// Observations in the run.
    pub fn count(&self) -> f64 {
        (self.after.count - self.before.count).max(0.0)
    }

    /// Observations in the run at or under `le` seconds.
    fn in_run(&self, le: f64) -> f64 {
        (self.after.at(le) - self.before.at(le)).max(0.0)
    }

    /// Of the run's observations, the share at or under `le` seconds; `None` for none.
    pub fn share_within(&self, le: f64) -> Option<f64> {
        let n = self.count();
        (n > 0.0).then(|| self.in_run(le) / n)
    }

    /// The upper bound (ms) of the bucket that holds the run's 99th percentile; `None` when
    /// nothing was observed or it lies above the last finite bound.
    pub fn p99_at_most_ms(&self) -> Option<f64> {
        let n = self.count();
        self.after
            .buckets
            .iter()
            .filter(|(le, _)| le.is_finite())
            .find(|(le, _)| n > 0.0 && self.in_run(*le) >= 0.99 * n)
            .map(|(le, _)| le * 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE wijkbrug_store_batch_duration_seconds histogram
wijkbrug_store_batch_duration_seconds_sum 2.5
wijkbrug_store_batch_duration_seconds_count 1000
wijkbrug_store_batch_duration_seconds_bucket{le=\"0.001\"} 600
wijkbrug_store_batch_duration_seconds_bucket{le=\"0.005\"} 990
wijkbrug_store_batch_duration_seconds_bucket{le=\"+Inf\"} 1000
wijkbrug_store_commits_total 1000
";

    #[test]
    fn a_histogram_without_labels_is_read_by_its_name() {
        let r =
            HistogramReading::parse(TEXT, "wijkbrug_store_batch_duration_seconds", None).unwrap();
        assert_eq!(r.count, 1000.0);
        assert_eq!(r.buckets[..2], [(0.001, 600.0), (0.005, 990.0)]);
        assert!(r.buckets[2].0.is_infinite());
        let missing =
            HistogramReading::parse(TEXT, "wijkbrug_intake_duration_seconds", None).unwrap_err();
        assert!(missing
            .to_string()
            .contains("wijkbrug_intake_duration_seconds_count"));
    }

    #[test]
    fn a_run_counts_what_was_observed_between_the_readings() {
        let series = "wijkbrug_store_batch_duration_seconds";
        let before = HistogramReading::parse(
            &TEXT
                .replace("_count 1000", "_count 100")
                .replace("} 600", "} 100")
                .replace("} 990", "} 100")
                .replace("\"+Inf\"} 1000", "\"+Inf\"} 100"),
            series,
            None,
        )
        .unwrap();
        let after = HistogramReading::parse(TEXT, series, None).unwrap();
        let run = HistogramRun::between(&before, &after);
        assert_eq!(run.count(), 900.0);
        assert!((run.share_within(0.001).unwrap() - 500.0 / 900.0).abs() < 1e-9);
        // 890 of 900 within 5 ms is under 99%: the p99 lies beyond the last finite bound.
        assert_eq!(run.p99_at_most_ms(), None);
        let idle = HistogramRun::between(&after, &after);
        assert_eq!((idle.count(), idle.share_within(0.001)), (0.0, None));
    }
}
