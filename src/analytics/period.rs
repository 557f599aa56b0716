//! The report's period on the command line: `--from YYYY-MM-DD --to YYYY-MM-DD`, days in UTC,
//! `--to` not included.

use chrono::NaiveDate;
use thiserror::Error;

use super::aggregates::TimeWindow;

/// A period of whole days, `[from, to)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReportPeriod {
    pub from: NaiveDate,
    /// The first day not included.
    pub to: NaiveDate,
}

/// Why a period was refused. Names the flag and the rule.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum PeriodError {
    #[error("--{flag} must be a date written YYYY-MM-DD (e.g. 2026-01-01)")]
    NotADate { flag: &'static str },
    #[error("--from must be before --to (--to is the first day not included): {from} is not before {to}")]
    Order { from: NaiveDate, to: NaiveDate },
}

impl ReportPeriod {
    /// Parses the two flags' values.
    pub fn parse(from: &str, to: &str) -> Result<Self, PeriodError> {
        let date = |flag: &'static str, v: &str| {
            let v = v.trim();
            // Exactly YYYY-MM-DD: chrono alone would also take a sign or fewer digits.
            let shaped = v.len() == 10
                && v.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            shaped
                .then(|| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
                .flatten()
                .ok_or(PeriodError::NotADate { flag })
        };
        let (from, to) = (date("from", from)?, date("to", to)?);
        if from >= to {
            return Err(PeriodError::Order { from, to });
        }
        Ok(Self { from, to })
    }

    /// The window from midnight UTC of `from` to midnight UTC of `to`.
    pub fn window(&self) -> TimeWindow {
        let midnight = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        TimeWindow {
            from: midnight(self.from),
            to: midnight(self.to),
        }
    }

    /// The last day included.
    pub fn last_day(&self) -> NaiveDate {
        self.to.pred_opt().unwrap_or(self.to)
    }

    /// `2026-01-01 to 2026-03-31` (both included), or the one day.
    pub fn label(&self) -> String {
        if self.last_day() == self.from {
            self.from.to_string()
        } else {
            format!("{} to {}", self.from, self.last_day())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_is_its_days_from_midnight_utc() {
        let p = ReportPeriod::parse("2026-01-01", " 2026-04-01").unwrap();
        let w = p.window();
        assert_eq!(w.from.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(w.to.to_rfc3339(), "2026-04-01T00:00:00+00:00");
        assert_eq!(p.label(), "2026-01-01 to 2026-03-31");
        assert_eq!(
            ReportPeriod::parse("2026-02-03", "2026-02-04")
                .unwrap()
                .label(),
            "2026-02-03"
        );
    }

    #[test]
    fn bad_dates_name_the_flag() {
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "01-01-2026",
            "2026-1-1",
            "+2026-01-01",
            "",
            "x",
        ] {
            assert_eq!(
                ReportPeriod::parse(bad, "2027-01-01"),
                Err(PeriodError::NotADate { flag: "from" }),
                "{bad}"
            );
            assert_eq!(
                ReportPeriod::parse("2020-01-01", bad),
                Err(PeriodError::NotADate { flag: "to" }),
                "{bad}"
            );
        }
    }

    #[test]
    fn from_must_come_before_to() {
        let e = ReportPeriod::parse("2026-04-01", "2026-01-01").unwrap_err();
        assert!(matches!(e, PeriodError::Order { .. }));
        assert!(e.to_string().starts_with("--from must be before --to"));
        assert!(ReportPeriod::parse("2026-04-01", "2026-04-01").is_err());
    }
}
