//! Summaries of a distribution of times: quartiles, median and 90th percentile, as the box
//! plots and the report's tables show them.

/// The five-number summary of a set of times (seconds) plus its 90th percentile.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Summary {
    /// How many times.
    pub n: u64,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p90: f64,
    pub max: f64,
}

impl Summary {
    /// The summary of `seconds` (any order); `None` when empty. Quantiles interpolate
    /// linearly between the two nearest ranks (R's and NumPy's default), so the median of an
    /// even number of times is the mean of the middle two. Values that are not finite are
    /// left out.
    pub fn of(seconds: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = seconds.iter().copied().filter(|s| s.is_finite()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let last = sorted.len() - 1;
        Some(Self {
            n: sorted.len() as u64,
            min: sorted[0],
            p25: quantile(&sorted, 0.25),
            median: quantile(&sorted, 0.5),
            p75: quantile(&sorted, 0.75),
            p90: quantile(&sorted, 0.9),
            max: sorted[last],
        })
    }
}

/// The `q` quantile (0..=1) of ascending, non-empty `sorted`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let last = sorted.len() - 1;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lower = pos.floor() as usize;
    let upper = pos.ceil() as usize;
    let (a, b) = (sorted[lower.min(last)], sorted[upper.min(last)]);
    a + (b - a) * (pos - lower as f64)
}

/// Hours, for tables (`seconds / 3600`).
pub fn hours(seconds: f64) -> f64 {
    seconds / 3600.0
}

/// A duration for people: `45 s`, `12 min`, `5.5 h`, `3.2 d`, `2.1 wk`.
pub fn human(seconds: f64) -> String {
    const MIN: f64 = 60.0;
    const HOUR: f64 = 3600.0;
    const DAY: f64 = 86_400.0;
    const WEEK: f64 = 7.0 * DAY;
    let s = seconds.max(0.0);
    if s < MIN {
        format!("{s:.0} s")
    } else if s < HOUR {
        format!("{:.0} min", s / MIN)
    } else if s < 2.0 * DAY {
        format!("{:.1} h", s / HOUR)
    } else if s < 3.0 * WEEK {
        format!("{:.1} d", s / DAY)
    } else {
        format!("{:.1} wk", s / WEEK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_one() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.n, s.min, s.median, s.max), (3, 1.0, 3.0, 5.0));
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        // 1..=10: the median is 5.5, p90 is 9.1, the quartiles 3.25 and 7.75.
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Summary::of(&v).unwrap();
        assert_eq!(s.median, 5.5);
        assert!((s.p90 - 9.1).abs() < 1e-9, "{}", s.p90);
        assert_eq!((s.p25, s.p75), (3.25, 7.75));
        assert!(s.min <= s.p25 && s.p25 <= s.median && s.median <= s.p75);
        assert!(s.p75 <= s.p90 && s.p90 <= s.max);
    }

    #[test]
    fn one_time_is_every_quantile_and_none_is_no_summary() {
        let s = Summary::of(&[7200.0]).unwrap();
        assert_eq!(
            (s.min, s.median, s.p90, s.max),
            (7200.0, 7200.0, 7200.0, 7200.0)
        );
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(human(12.0), "12 s");
        assert_eq!(human(600.0), "10 min");
        assert_eq!(human(5.5 * 3600.0), "5.5 h");
        assert_eq!(human(3.0 * 86_400.0), "3.0 d");
        assert_eq!(human(28.0 * 86_400.0), "4.0 wk");
        assert_eq!(hours(5400.0), 1.5);
    }
}
