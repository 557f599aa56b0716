//! What a run counts and times. Latencies go into HDR histograms in microseconds. The
//! submission-to-delivery and submission-to-notice times are matched by the gateway's
//! referral id: whichever of the 202 and the delivery arrives second records the time (a
//! delivery can reach a partner before the 202 reaches the submitter).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use wijkbrug_adapters::model::ReferralId;

/// One latency distribution.
pub struct Latency(Mutex<Histogram<u64>>);

impl Default for Latency {
    fn default() -> Self {
        // 1 µs to 10 minutes, 3 significant digits: fixed bounds that are valid (low >= 1,
        // high >= 2 * low, sigfig <= 5), so this cannot fail.
        #[allow(clippy::expect_used)]
        let h = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid fixed bounds");
        Self(Mutex::new(h))
    }
}

impl Latency {
    pub fn record(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut h) = self.0.lock() {
            h.saturating_record(micros);
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let Ok(h) = self.0.lock() else {
            return LatencySummary::default();
        };
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            p50_ms: ms(0.50),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
            mean_ms: h.mean() / 1000.0,
        }
    }
}

/// Percentiles of one distribution, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[derive(Default)]
struct Marks {
    submitted: Option<Instant>,
    delivered: Option<Instant>,
    noticed: Option<Instant>,
}

/// Everything a run counts.
#[derive(Default)]
pub struct Tracker {
    marks: Mutex<HashMap<ReferralId, Marks>>,
    /// Messages sent to the gateway.
    pub sent: AtomicU64,
    /// Referrals the gateway accepted (202, one per referral).
    pub accepted: AtomicU64,
    /// Answers other than 202, and requests that failed.
    pub errors: AtomicU64,
    /// Referrals delivered to a partner endpoint (first delivery of each).
    pub delivered: AtomicU64,
    /// Repeated deliveries of a referral already delivered.
    pub redelivered: AtomicU64,
    /// Status updates the receiving partners sent and the gateway applied (200).
    pub statuses: AtomicU64,
    pub status_errors: AtomicU64,
    /// Status updates sent again because the gateway had not yet recorded the delivery.
    pub status_retries: AtomicU64,
    /// Status updates the gateway shed (503) and that were sent again after its Retry-After.
    pub status_shed: AtomicU64,
    /// Status notices that reached the sending partner's endpoint.
    pub notices: AtomicU64,
    /// Deliveries an endpoint could not read.
    pub unreadable: AtomicU64,
    /// Intake: from the intended send time to the 202.
    pub intake: Latency,
    /// From the intended send time to the delivery at the receiving partner.
    pub delivery: Latency,
    /// From the intended send time to the status notice at the sending partner.
    pub notice: Latency,
    /// A status update's POST to the gateway.
    pub status_post: Latency,
    /// When the last delivery of a referral of this run (matched to its 202) and the last
    /// notice arrived.
    last_delivery: Mutex<Option<Instant>>,
    last_notice: Mutex<Option<Instant>>,
    /// When anything last arrived at an endpoint (this run's or left over from an earlier
    /// run on the same store).
    last_arrival: Mutex<Option<Instant>>,
}

fn later(slot: &Mutex<Option<Instant>>, at: Instant) {
    if let Ok(mut last) = slot.lock() {
        if last.is_none_or(|l| l < at) {
            *last = Some(at);
        }
    }
}

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Tracker {
    /// The gateway accepted `id`, sent at (intended) `at`.
    pub fn submitted(&self, id: ReferralId, at: Instant) {
        bump(&self.accepted);
        let Ok(mut marks) = self.marks.lock() else {
            return;
        };
        let m = marks.entry(id).or_default();
        m.submitted = Some(at);
        let (delivered, noticed) = (m.delivered, m.noticed);
        if noticed.is_some() {
            marks.remove(&id);
        }
        drop(marks);
        if let Some(d) = delivered {
            self.delivery.record(d.saturating_duration_since(at));
            later(&self.last_delivery, d);
        }
        if let Some(n) = noticed {
            self.notice.record(n.saturating_duration_since(at));
            later(&self.last_notice, n);
        }
    }

    /// `id` reached its receiver now; whether it was the first time.
    pub fn delivered(&self, id: ReferralId) -> bool {
        let now = Instant::now();
        let Ok(mut marks) = self.marks.lock() else {
            return false;
        };
        let m = marks.entry(id).or_default();
        if m.delivered.is_some() {
            bump(&self.redelivered);
            return false;
        }
        m.delivered = Some(now);
        bump(&self.delivered);
        let submitted = m.submitted;
        drop(marks);
        later(&self.last_arrival, now);
        if let Some(s) = submitted {
            self.delivery.record(now.saturating_duration_since(s));
            later(&self.last_delivery, now);
        }
        true
    }

    /// A status notice about `id` reached its sender now.
    pub fn noticed(&self, id: ReferralId) {
        let now = Instant::now();
        bump(&self.notices);
        later(&self.last_arrival, now);
        let Ok(mut marks) = self.marks.lock() else {
            return;
        };
        let m = marks.entry(id).or_default();
        if m.noticed.is_some() {
            return;
        }
        m.noticed = Some(now);
        if let Some(s) = m.submitted {
            marks.remove(&id);
            drop(marks);
            self.notice.record(now.saturating_duration_since(s));
            later(&self.last_notice, now);
        }
    }

    /// Deliveries of this run's referrals (matched to their 202).
    pub fn matched_deliveries(&self) -> u64 {
        self.delivery.summary().count
    }

    /// Notices about this run's referrals.
    pub fn matched_notices(&self) -> u64 {
        self.notice.summary().count
    }

    /// When anything last arrived at an endpoint.
    pub fn last_arrival(&self) -> Option<Instant> {
        self.last_arrival.lock().ok().and_then(|l| *l)
    }

    pub fn count(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    pub fn last_delivery(&self) -> Option<Instant> {
        self.last_delivery.lock().ok().and_then(|l| *l)
    }

    pub fn last_notice(&self) -> Option<Instant> {
        self.last_notice.lock().ok().and_then(|l| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_before_its_202_is_still_timed() {
        let t = Tracker::default();
        let id = ReferralId::from_parts(1_762_000_000_000, [1; 10]);
        let sent = Instant::now();
        assert!(t.delivered(id));
        assert!(!t.delivered(id), "a repeat is not a second delivery");
        t.submitted(id, sent);
        t.noticed(id);
        assert_eq!(t.delivery.summary().count, 1);
        assert_eq!(t.notice.summary().count, 1);
        assert_eq!(Tracker::count(&t.redelivered), 1);
    }
}
