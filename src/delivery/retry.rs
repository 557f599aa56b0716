//! The retry policy: what one delivery attempt's result means for the outbox row. Pure: the
//! clock and the randomness are parameters.
//!
//! - 2xx: delivered.
//! - 429 (and 503) with `Retry-After` (seconds or an HTTP date): retry then, at most the
//!   ceiling later.
//! - 5xx, 429 without a usable `Retry-After`, a connection error, a timeout: retry after an
//!   exponential backoff with full jitter, a random delay in
//!   `[0, min(ceiling, base * 2^(attempts-1))]`.
//! - 3xx, other 4xx, an unreadable response: permanent (a dead letter).
//! - A retry that would fall after `created_at + max_age`: permanent ("too old").
//!
//! Reasons are short and never carry payload: "HTTP 503 Service Unavailable",
//! "connection refused", "timed out after 10s".

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::DeliverySettings;

/// The backoff and age limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first retry's ceiling; doubled with each attempt.
    pub base: Duration,
    /// No delay is longer than this (a partner's `Retry-After` included).
    pub ceiling: Duration,
    /// A row still failing this long after it was queued is given up.
    pub max_age: Duration,
}

impl From<&DeliverySettings> for RetryPolicy {
    fn from(s: &DeliverySettings) -> Self {
        Self {
            base: s.backoff_base,
            ceiling: s.backoff_max,
            max_age: s.max_age,
        }
    }
}

/// What one attempt came to, as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The partner answered with this status code (and this `Retry-After` header, if any).
    Status {
        code: u16,
        retry_after: Option<String>,
    },
    /// No connection could be made (or it broke before an answer); a short reason such as
    /// "connection refused".
    Connect(String),
    /// No answer within the partner's timeout.
    Timeout(Duration),
    /// An answer that is not HTTP (or could not be read).
    Unreadable,
}

/// What to do with the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again at `at`; `reason` is the last error.
    Retry {
        at: DateTime<Utc>,
        reason: String,
    },
    /// Give up: a dead letter with `reason`.
    Permanent {
        reason: String,
    },
}

/// A source of randomness for the jitter: a duration uniformly in `[0, max]`.
pub trait Jitter {
    fn up_to(&mut self, max: Duration) -> Duration;
}

/// Jitter from the thread's random generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn up_to(&mut self, max: Duration) -> Duration {
        let micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::random_range(0..=micros))
    }
}

/// Any `FnMut(max) -> delay` is a jitter (tests pass fixed ones).
impl<F: FnMut(Duration) -> Duration> Jitter for F {
    fn up_to(&mut self, max: Duration) -> Duration {
        self(max)
    }
}

impl RetryPolicy {
    /// The most the backoff after attempt number `attempts` (1 for the first) may be:
    /// `min(ceiling, base * 2^(attempts-1))`.
    pub fn backoff_cap(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1);
        let factor = 1u32.checked_shl(exp).filter(|_| exp < 32);
        factor
            .and_then(|f| self.base.checked_mul(f))
            .map_or(self.ceiling, |d| d.min(self.ceiling))
    }

    /// A backoff with full jitter: random in `[0, backoff_cap(attempts)]`.
    pub fn backoff(&self, attempts: u32, jitter: &mut dyn Jitter) -> Duration {
        let cap = self.backoff_cap(attempts);
        jitter.up_to(cap).min(cap)
    }

    /// Classifies attempt number `attempts` (1 for the first) of a row queued at `created_at`.
    pub fn classify(
        &self,
        result: &AttemptResult,
        attempts: u32,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: &mut dyn Jitter,
    ) -> Verdict {
        let (delay, reason) = match result {
            AttemptResult::Status { code, .. } if (200..300).contains(code) => {
                return Verdict::Delivered;
            }
            AttemptResult::Status { code, retry_after } if *code == 429 || *code >= 500 => {
                let told = retry_after
                    .as_deref()
                    .filter(|_| *code == 429 || *code == 503)
                    .and_then(|v| parse_retry_after(v, now));
                let delay = match told {
                    Some(d) => d.min(self.ceiling),
                    None => self.backoff(attempts, jitter),
                };
                (delay, status_reason(*code))
            }
            AttemptResult::Status { code, .. } => {
                return Verdict::Permanent {
                    reason: status_reason(*code),
                }
            }
            AttemptResult::Connect(why) => (self.backoff(attempts, jitter), why.clone()),
            AttemptResult::Timeout(after) => (
                self.backoff(attempts, jitter),
                format!("timed out after {}", short_duration(*after)),
            ),
            AttemptResult::Unreadable => {
                return Verdict::Permanent {
                    reason: "unreadable response".into(),
                }
            }
        };
        let at = add(now, delay);
        if at > add(created_at, self.max_age) {
            return Verdict::Permanent {
                reason: format!(
                    "too old: still failing {} after it was queued ({reason})",
                    short_duration(self.max_age)
                ),
            };
        }
        Verdict::Retry { at, reason }
    }
}

/// "HTTP 503 Service Unavailable" (or "HTTP 599" for a code without a name).
pub fn status_reason(code: u16) -> String {
    match axum::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(name) => format!("HTTP {code} {name}"),
        None => format!("HTTP {code}"),
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (a date in the past is no delay).
/// `None` for anything else.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // A huge number of seconds is as good as "very long": the ceiling applies later.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// `now + d`, saturating at the end of time.
fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// "10s", "1500ms", "2h", "1d": whole units where they fit.
pub fn short_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    match s {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(500),
            ceiling: Duration::from_secs(300),
            max_age: Duration::from_secs(86_400),
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
    }

    fn status(code: u16) -> AttemptResult {
        AttemptResult::Status {
            code,
            retry_after: None,
        }
    }

    fn most(max: Duration) -> Duration {
        max
    }

    #[test]
    fn the_cap_doubles_from_the_base_up_to_the_ceiling() {
        let p = policy();
        assert_eq!(p.backoff_cap(1), Duration::from_millis(500));
        assert_eq!(p.backoff_cap(2), Duration::from_secs(1));
        assert_eq!(p.backoff_cap(3), Duration::from_secs(2));
        assert_eq!(p.backoff_cap(10), Duration::from_secs(256));
        assert_eq!(p.backoff_cap(11), Duration::from_secs(300));
        assert_eq!(p.backoff_cap(40), Duration::from_secs(300));
        assert_eq!(p.backoff_cap(u32::MAX), Duration::from_secs(300));
        assert_eq!(p.backoff_cap(0), Duration::from_millis(500));
    }

    #[test]
    fn success_is_delivered_whatever_the_age() {
        let old = t0() - chrono::Duration::days(30);
        for code in [200, 201, 202, 204, 299] {
            assert_eq!(
                policy().classify(&status(code), 9, old, t0(), &mut most),
                Verdict::Delivered
            );
        }
    }

    #[test]
    fn a_server_error_is_retried_within_the_backoff() {
        let v = policy().classify(&status(503), 3, t0(), t0(), &mut most);
        assert_eq!(
            v,
            Verdict::Retry {
                at: t0() + chrono::Duration::seconds(2),
                reason: "HTTP 503 Service Unavailable".into()
            }
        );
    }

    #[test]
    fn redirects_and_client_errors_are_permanent() {
        for (code, reason) in [
            (301, "HTTP 301 Moved Permanently"),
            (400, "HTTP 400 Bad Request"),
            (401, "HTTP 401 Unauthorized"),
            (404, "HTTP 404 Not Found"),
            (422, "HTTP 422 Unprocessable Entity"),
        ] {
            assert_eq!(
                policy().classify(&status(code), 1, t0(), t0(), &mut most),
                Verdict::Permanent {
                    reason: reason.into()
                }
            );
        }
    }

    #[test]
    fn retry_after_in_seconds_is_honoured_up_to_the_ceiling() {
        let r = |v: &str| AttemptResult::Status {
            code: 429,
            retry_after: Some(v.into()),
        };
        let at = |v| match policy().classify(&r(v), 1, t0(), t0(), &mut most) {
            Verdict::Retry { at, .. } => at - t0(),
            other => panic!("{other:?}"),
        };
        assert_eq!(at("7"), chrono::Duration::seconds(7));
        assert_eq!(at("0"), chrono::Duration::zero());
        assert_eq!(at("99999"), chrono::Duration::seconds(300));
        assert_eq!(
            at("99999999999999999999999"),
            chrono::Duration::seconds(300)
        );
        // Not a Retry-After: the backoff.
        assert_eq!(at("soon"), chrono::Duration::milliseconds(500));
        assert_eq!(at("-5"), chrono::Duration::milliseconds(500));
    }

    #[test]
    fn retry_after_as_an_http_date_is_honoured() {
        let now = Utc.with_ymd_and_hms(1994, 11, 6, 8, 49, 0).unwrap();
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(37))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("tomorrow", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn connection_errors_and_timeouts_are_retried_with_short_reasons() {
        let v = policy().classify(
            &AttemptResult::Connect("connection refused".into()),
            1,
            t0(),
            t0(),
            &mut |_| Duration::ZERO,
        );
        assert_eq!(
            v,
            Verdict::Retry {
                at: t0(),
                reason: "connection refused".into()
            }
        );
        let v = policy().classify(
            &AttemptResult::Timeout(Duration::from_secs(10)),
            1,
            t0(),
            t0(),
            &mut most,
        );
        assert!(matches!(v, Verdict::Retry { reason, .. } if reason == "timed out after 10s"));
    }

    #[test]
    fn an_unreadable_answer_is_permanent() {
        assert_eq!(
            policy().classify(&AttemptResult::Unreadable, 1, t0(), t0(), &mut most),
            Verdict::Permanent {
                reason: "unreadable response".into()
            }
        );
    }

    #[test]
    fn a_retry_past_the_maximum_age_is_permanent() {
        let created = t0() - chrono::Duration::seconds(86_400 - 1);
        let v = policy().classify(&status(500), 3, created, t0(), &mut most);
        assert_eq!(
            v,
            Verdict::Permanent {
                reason:
                    "too old: still failing 1d after it was queued (HTTP 500 Internal Server Error)"
                        .into()
            }
        );
        // Just within the age: retried.
        let v = policy().classify(&status(500), 1, created, t0(), &mut |_| Duration::ZERO);
        assert!(matches!(v, Verdict::Retry { .. }));
    }

    #[test]
    fn durations_read_short() {
        assert_eq!(short_duration(Duration::from_secs(10)), "10s");
        assert_eq!(short_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(short_duration(Duration::from_secs(120)), "2m");
        assert_eq!(short_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(short_duration(Duration::from_secs(86_400)), "1d");
    }

    proptest! {
        #[test]
        fn the_jittered_backoff_stays_within_its_bounds(
            attempts in 1u32..100,
            base_ms in 1u64..10_000,
            ceiling_s in 1u64..3_600,
        ) {
            let p = RetryPolicy {
                base: Duration::from_millis(base_ms),
                ceiling: Duration::from_secs(ceiling_s),
                max_age: Duration::from_secs(86_400),
            };
            let cap = p.backoff_cap(attempts);
            prop_assert!(cap <= p.ceiling);
            let exact = u128::from(base_ms) * (1u128 << (attempts - 1).min(100));
            prop_assert_eq!(cap.as_millis(), exact.min(u128::from(ceiling_s) * 1000));
            let d = p.backoff(attempts, &mut RandomJitter);
            prop_assert!(d <= cap);
            // A jitter that overshoots is clamped.
            prop_assert_eq!(p.backoff(attempts, &mut |m: Duration| m * 2), cap);
        }
    }
}
