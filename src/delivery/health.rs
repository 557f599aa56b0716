//! Per-partner delivery health, kept in memory by the gateway: what the delivery worker's
//! attempts to each push partner came to, how long they took, how often a rate limit made a
//! delivery wait, and each partner's **circuit breaker**.
//!
//! [`DeliveryHealth`] is created with the [`crate::app::AppState`] (one entry per push partner
//! of the configuration) and fed by `delivery::worker`; it is reachable as
//! `state.delivery_health`. Two readers:
//! - `GET /metrics` exports its Prometheus counters and histogram (registered in the state's
//!   metrics registry at construction) and the circuit states;
//! - [`DeliveryHealth::snapshot`] gives one [`PartnerHealth`] per partner for the operations
//!   dashboard.
//!
//! Everything here is metadata: partner ids, outcomes, durations and error kinds. Nothing of a
//! referral or a resident is ever passed in.
//!
//! The circuit breaker ([`CircuitBreaker`]) is a pure state machine: the caller passes the
//! time, so it is tested without waiting.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;
use tracing::{info, warn};

use super::retry::AttemptResult;
use crate::config::DeliverySettings;

/// How many of a partner's latest attempts the success rate and the latency percentiles of a
/// [`PartnerHealth`] are computed over.
pub const WINDOW: usize = 200;

/// The upper bounds (seconds) of the delivery latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

// ---- the circuit breaker --------------------------------------------------------------------

/// When a circuit opens and for how long (`[delivery] circuit_failure_threshold`,
/// `circuit_cooldown_secs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failed attempts in a row that open the circuit (at least 1).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe may go.
    pub cooldown: Duration,
}

impl From<&DeliverySettings> for BreakerSettings {
    fn from(s: &DeliverySettings) -> Self {
        Self {
            failure_threshold: s.circuit_failure_threshold.max(1),
            cooldown: s.circuit_cooldown,
        }
    }
}

/// A circuit's state, as shown on the dashboard and in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Deliveries go as usual.
    Closed,
    /// Deliveries wait in the queue until the cool-down has passed (the cool-down may already
    /// have passed: the next probe makes it half-open).
    Open,
    /// One probe delivery is on its way; its result closes or reopens the circuit.
    HalfOpen,
}

impl CircuitState {
    /// Every state, in the order `/metrics` lists them.
    pub const ALL: [CircuitState; 3] = [Self::Closed, Self::Open, Self::HalfOpen];

    /// `closed`, `open` or `half_open` (the label value in `/metrics`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for CircuitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the dispatcher may claim rows for a partner now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// As many as its lane has room for (closed).
    Any,
    /// One row, the probe (open, cool-down passed).
    One,
    /// None (open, or a probe on its way).
    None,
}

/// What the lane may do with a claimed row now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Attempt it (closed).
    Attempt,
    /// Attempt it as the one probe (the circuit is half-open now).
    Probe,
    /// Do not attempt it: give it back to the queue, due as it was.
    Hold,
}

/// How an admitted attempt bears on the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The partner took the delivery.
    Success,
    /// The partner failed it (connection, timeout, 5xx) or refused it (3xx, 4xx but 429).
    Failure,
    /// Says nothing about the partner: a 429, or nothing was sent (the row could not be
    /// rendered, the consent was revoked, the store failed).
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { failures: u32 },
}

/// One partner's circuit breaker, a pure state machine (the caller passes the time):
///
/// - **closed**: every row is attempted; `failure_threshold` failed attempts in a row open it
///   (a success resets the count; a neutral attempt leaves it);
/// - **open**: nothing is claimed or attempted until `cooldown` has passed; rows stay queued
///   (a row claimed before the circuit opened is given back unattempted);
/// - then the next row is admitted as the one **probe** (half-open): delivered closes the
///   circuit, failed opens it for another cool-down, neutral lets another probe go at once.
///
/// A success closes the circuit from any state (an attempt admitted before it opened may
/// still come back delivered). A failure while open (from such an attempt) changes nothing.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: Breaker,
}

/// A change of state worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Opened { failures: u32 },
    Closed,
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            state: Breaker::Closed { failures: 0 },
        }
    }

    /// The state now.
    pub fn state(&self) -> CircuitState {
        match self.state {
            Breaker::Closed { .. } => CircuitState::Closed,
            Breaker::Open { .. } => CircuitState::Open,
            Breaker::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Failed attempts in a row (kept while open, for the dashboard).
    pub fn consecutive_failures(&self) -> u32 {
        match self.state {
            Breaker::Closed { failures }
            | Breaker::Open { failures, .. }
            | Breaker::HalfOpen { failures } => failures,
        }
    }

    /// Until when it is open (`None` unless open).
    pub fn open_until(&self) -> Option<Instant> {
        match self.state {
            Breaker::Open { until, .. } => Some(until),
            _ => None,
        }
    }

    /// Whether rows may be claimed for this partner at `now`.
    pub fn claim(&self, now: Instant) -> Claim {
        match self.state {
            Breaker::Closed { .. } => Claim::Any,
            Breaker::Open { until, .. } if now >= until => Claim::One,
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => Claim::None,
        }
    }

    /// Asks to attempt a claimed row at `now`; an open circuit whose cool-down has passed
    /// becomes half-open and admits this row as its probe. Every admitted attempt must be
    /// followed by [`CircuitBreaker::record`].
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state {
            Breaker::Closed { .. } => Admission::Attempt,
            Breaker::Open { until, failures } if now >= until => {
                self.state = Breaker::HalfOpen { failures };
                Admission::Probe
            }
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => Admission::Hold,
        }
    }

    /// Records how an admitted attempt ended, at `now`.
    pub fn record(&mut self, verdict: Verdict, now: Instant) -> Option<Change> {
        let was = self.state();
        let open = |failures| Breaker::Open {
            until: now + self.settings.cooldown,
            failures,
        };
        self.state = match (self.state, verdict) {
            (_, Verdict::Success) => Breaker::Closed { failures: 0 },
            (Breaker::Closed { failures }, Verdict::Failure) => {
                let failures = failures.saturating_add(1);
                if failures >= self.settings.failure_threshold {
                    open(failures)
                } else {
                    Breaker::Closed { failures }
                }
            }
            (Breaker::HalfOpen { failures }, Verdict::Failure) => open(failures.saturating_add(1)),
            // The probe said nothing: the next row may probe at once.
            (Breaker::HalfOpen { failures }, Verdict::Neutral) => Breaker::Open {
                until: now,
                failures,
            },
            (state, _) => state,
        };
        match (was, self.state()) {
            (CircuitState::Open, CircuitState::Open) => None,
            (_, CircuitState::Open) => Some(Change::Opened {
                failures: self.consecutive_failures(),
            }),
            (CircuitState::Closed, CircuitState::Closed) => None,
            (_, CircuitState::Closed) => Some(Change::Closed),
            _ => None,
        }
    }
}

// ---- outcomes ---------------------------------------------------------------------------------

/// Why an attempt failed, coarsely: the `last_error` of a [`PartnerHealth`]. Never carries a
/// body or a message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No answer within the partner's timeout.
    Timeout,
    /// No connection (refused, reset, DNS, TLS).
    Connect,
    /// The partner answered 5xx.
    Http5xx,
    /// The partner answered 429 Too Many Requests.
    Http429,
    /// The partner answered 3xx or a 4xx other than 429.
    Http4xx,
    /// The answer was not readable HTTP.
    Unreadable,
    /// The delivery could not be written in the partner's format (nothing was sent).
    Render,
}

impl ErrorKind {
    /// The kind of a failed attempt's result; `None` for a 2xx.
    pub fn of(result: &AttemptResult) -> Option<Self> {
        Some(match result {
            AttemptResult::Status { code, .. } if (200..300).contains(code) => return None,
            AttemptResult::Status { code: 429, .. } => Self::Http429,
            AttemptResult::Status { code, .. } if *code >= 500 => Self::Http5xx,
            AttemptResult::Status { .. } => Self::Http4xx,
            AttemptResult::Connect(_) => Self::Connect,
            AttemptResult::Timeout(_) => Self::Timeout,
            AttemptResult::Unreadable => Self::Unreadable,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Http5xx => "http_5xx",
            Self::Http429 => "http_429",
            Self::Http4xx => "http_4xx",
            Self::Unreadable => "unreadable",
            Self::Render => "render",
        }
    }
}

/// What one attempt that was sent to the partner came to. The `outcome` label of
/// `wijkbrug_delivery_attempts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: delivered.
    Delivered,
    /// A transient failure (connection, timeout, 5xx): retried later.
    Retry(ErrorKind),
    /// The partner answered 429: retried when it says (a rate-limited wait, not a failure).
    RateLimited,
    /// The partner refused it for good (3xx, 4xx, unreadable): a dead letter.
    Permanent(ErrorKind),
    /// A transient failure after the row's maximum age: a dead letter.
    Expired(ErrorKind),
}

impl Attempt {
    /// Every outcome label value.
    pub const OUTCOMES: [&'static str; 5] = [
        "delivered",
        "retry",
        "rate_limited",
        "permanent_failure",
        "expired",
    ];

    pub fn outcome(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry(_) => "retry",
            Self::RateLimited => "rate_limited",
            Self::Permanent(_) => "permanent_failure",
            Self::Expired(_) => "expired",
        }
    }

    fn error(self) -> Option<ErrorKind> {
        match self {
            Self::Delivered => None,
            Self::RateLimited => Some(ErrorKind::Http429),
            Self::Retry(k) | Self::Permanent(k) | Self::Expired(k) => Some(k),
        }
    }

    fn verdict(self) -> Verdict {
        match self {
            Self::Delivered => Verdict::Success,
            Self::RateLimited => Verdict::Neutral,
            Self::Retry(_) | Self::Permanent(_) | Self::Expired(_) => Verdict::Failure,
        }
    }

    /// Whether the row became a dead letter.
    fn dead(self) -> bool {
        matches!(self, Self::Permanent(_) | Self::Expired(_))
    }
}

/// An admitted row that was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// It could not be rendered for the partner: a dead letter.
    RenderFailed,
    /// The consent no longer permits it: cancelled.
    Cancelled,
    /// The store failed while rendering: the lease expires and it is attempted again.
    StoreFailed,
    /// Its lease was too short to attempt it: left to expire and be claimed again.
    LeaseTooShort,
}

// ---- the registry -----------------------------------------------------------------------------

/// Label set of per-partner series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabel {
    pub partner: String,
}

/// Label set of per-partner, per-outcome series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub partner: String,
    pub outcome: &'static str,
}

/// Label set of the outbound rate-limit waits: `by` is `quota` (the gateway's own outbound
/// quota for the partner made an attempt wait) or `partner` (the partner answered 429).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimitLabels {
    pub partner: String,
    pub by: &'static str,
}

type LatencyFamily = Family<PartnerLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Lifetime counts of one partner's deliveries (since the gateway started).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryCounts {
    /// Attempts sent to the partner.
    pub attempts: u64,
    pub delivered: u64,
    /// Transient failures, retried.
    pub retried: u64,
    /// 429 answers, retried.
    pub rate_limited: u64,
    /// Refused for good (3xx, 4xx, unreadable).
    pub permanent_failures: u64,
    /// Transient failures past the maximum age.
    pub expired: u64,
    /// Rows made dead letters (refused, expired, or not renderable).
    pub dead_lettered: u64,
    /// Rows cancelled before sending (consent revoked).
    pub cancelled: u64,
}

/// One partner's delivery health at a moment: what the dashboard shows per partner.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerHealth {
    /// The partner's id.
    pub partner: String,
    /// Delivered attempts / attempts that were delivered or failed, over the latest
    /// [`WINDOW`] attempts (429 answers count neither way); `None` before any.
    pub success_rate: Option<f64>,
    /// How many attempts the window holds (up to [`WINDOW`]).
    pub window: usize,
    /// Latency percentiles of the attempts in the window, in milliseconds (nearest rank);
    /// `None` before any attempt.
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// Times a delivery waited for a rate limit: `quota_waits` + `partner_429s`.
    pub rate_limited: u64,
    /// Attempts that waited for the gateway's own outbound quota for this partner.
    pub quota_waits: u64,
    /// 429 answers from the partner.
    pub partner_429s: u64,
    /// The circuit breaker's state.
    pub circuit: CircuitState,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// While open: how long until a probe may go (zero when it may go now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_in_secs: Option<u64>,
    /// The kind of the latest failure, if any since the gateway started.
    pub last_error: Option<ErrorKind>,
    /// When that failure was.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Lifetime counts.
    pub counts: DeliveryCounts,
}

/// One attempt in a partner's window.
#[derive(Debug, Clone, Copy)]
struct Recent {
    latency: Duration,
    /// Delivered (`Some(true)`), failed (`Some(false)`), 429 (`None`).
    ok: Option<bool>,
}

#[derive(Debug)]
struct Partner {
    breaker: CircuitBreaker,
    recent: VecDeque<Recent>,
    counts: DeliveryCounts,
    quota_waits: u64,
    last_error: Option<(ErrorKind, DateTime<Utc>)>,
}

/// The delivery health of every push partner. See the module documentation.
#[derive(Debug)]
pub struct DeliveryHealth {
    partners: BTreeMap<String, Mutex<Partner>>,
    attempts: Family<OutcomeLabels, Counter>,
    latency: LatencyFamily,
    dead_lettered: Family<PartnerLabel, Counter>,
    cancelled: Family<PartnerLabel, Counter>,
    rate_limited: Family<RateLimitLabels, Counter>,
}

impl DeliveryHealth {
    /// One entry per partner id (the push partners), with every series at zero, registered
    /// in `registry`:
    /// - `delivery_attempts_total{partner, outcome}` (outcome: [`Attempt::OUTCOMES`]),
    /// - `delivery_attempt_duration_seconds{partner}` (histogram, [`LATENCY_BUCKETS`]),
    /// - `delivery_dead_lettered_total{partner}`, `delivery_cancelled_total{partner}`,
    /// - `outbound_rate_limited_total{partner, by}` (by: `quota`, `partner`).
    pub fn new<'a>(
        partners: impl IntoIterator<Item = &'a str>,
        settings: BreakerSettings,
        registry: &mut Registry,
    ) -> Self {
        let health = Self {
            partners: partners
                .into_iter()
                .map(|p| {
                    (
                        p.to_owned(),
                        Mutex::new(Partner {
                            breaker: CircuitBreaker::new(settings),
                            recent: VecDeque::with_capacity(WINDOW),
                            counts: DeliveryCounts::default(),
                            quota_waits: 0,
                            last_error: None,
                        }),
                    )
                })
                .collect(),
            attempts: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            dead_lettered: Family::default(),
            cancelled: Family::default(),
            rate_limited: Family::default(),
        };
        for p in health.partners.keys() {
            let partner = || PartnerLabel { partner: p.clone() };
            for outcome in Attempt::OUTCOMES {
                health.attempts.get_or_create_owned(&OutcomeLabels {
                    partner: p.clone(),
                    outcome,
                });
            }
            health.latency.get_or_create_owned(&partner());
            health.dead_lettered.get_or_create_owned(&partner());
            health.cancelled.get_or_create_owned(&partner());
            for by in ["quota", "partner"] {
                health.rate_limited.get_or_create_owned(&RateLimitLabels {
                    partner: p.clone(),
                    by,
                });
            }
        }
        registry.register(
            "delivery_attempts",
            "Delivery attempts sent to a push partner, by outcome (delivered, retry, rate_limited, permanent_failure, expired)",
            health.attempts.clone(),
        );
        registry.register_with_unit(
            "delivery_attempt_duration",
            "How long a delivery attempt to a push partner took, until its answer or failure",
            Unit::Seconds,
            health.latency.clone(),
        );
        registry.register(
            "delivery_dead_lettered",
            "Deliveries the worker made dead letters (refused, expired, or not renderable)",
            health.dead_lettered.clone(),
        );
        registry.register(
            "delivery_cancelled",
            "Deliveries cancelled before sending because the consent no longer permits them",
            health.cancelled.clone(),
        );
        registry.register(
            "outbound_rate_limited",
            "Deliveries that waited for a rate limit: by=quota the gateway's own outbound quota, by=partner a 429 answer",
            health.rate_limited.clone(),
        );
        health
    }

    fn with<T>(&self, partner: &str, f: impl FnOnce(&mut Partner) -> T) -> Option<T> {
        let p = self.partners.get(partner)?;
        let mut guard = p.lock().unwrap_or_else(PoisonError::into_inner);
        Some(f(&mut guard))
    }

    /// The partner ids, sorted.
    pub fn partners(&self) -> impl Iterator<Item = &str> {
        self.partners.keys().map(String::as_str)
    }

    /// Whether the dispatcher may claim rows for `partner` at `now` ([`Claim::Any`] for a
    /// partner not known here).
    pub fn claim(&self, partner: &str, now: Instant) -> Claim {
        self.with(partner, |p| p.breaker.claim(now))
            .unwrap_or(Claim::Any)
    }

    /// Asks to attempt a claimed row of `partner` at `now` (see [`CircuitBreaker::admit`]).
    /// An admitted row must be followed by [`DeliveryHealth::attempted`] or
    /// [`DeliveryHealth::not_sent`].
    pub fn admit(&self, partner: &str, now: Instant) -> Admission {
        self.with(partner, |p| p.breaker.admit(now))
            .unwrap_or(Admission::Attempt)
    }

    /// An attempt was sent and came to `attempt` after `latency`; `now` for the breaker,
    /// `at` for the dashboard.
    pub fn attempted(
        &self,
        partner: &str,
        attempt: Attempt,
        latency: Duration,
        now: Instant,
        at: DateTime<Utc>,
    ) {
        if !self.partners.contains_key(partner) {
            return;
        }
        // The Prometheus series first, then the state behind the snapshot and the breaker:
        // whoever sees the new state (a test, the dashboard) sees the counted series too.
        let label = || PartnerLabel {
            partner: partner.to_owned(),
        };
        self.attempts
            .get_or_create(&OutcomeLabels {
                partner: partner.to_owned(),
                outcome: attempt.outcome(),
            })
            .inc();
        self.latency
            .get_or_create(&label())
            .observe(latency.as_secs_f64());
        if attempt.dead() {
            self.dead_lettered.get_or_create(&label()).inc();
        }
        if attempt == Attempt::RateLimited {
            self.rate_limited
                .get_or_create(&RateLimitLabels {
                    partner: partner.to_owned(),
                    by: "partner",
                })
                .inc();
        }
        let change = self.with(partner, |p| {
            p.counts.attempts += 1;
            match attempt {
                Attempt::Delivered => p.counts.delivered += 1,
                Attempt::Retry(_) => p.counts.retried += 1,
                Attempt::RateLimited => p.counts.rate_limited += 1,
                Attempt::Permanent(_) => p.counts.permanent_failures += 1,
                Attempt::Expired(_) => p.counts.expired += 1,
            }
            if attempt.dead() {
                p.counts.dead_lettered += 1;
            }
            if let Some(kind) = attempt.error() {
                p.last_error = Some((kind, at));
            }
            if p.recent.len() == WINDOW {
                p.recent.pop_front();
            }
            p.recent.push_back(Recent {
                latency,
                ok: match attempt.verdict() {
                    Verdict::Success => Some(true),
                    Verdict::Failure => Some(false),
                    Verdict::Neutral => None,
                },
            });
            p.breaker.record(attempt.verdict(), now)
        });
        log_change(partner, change.flatten());
    }

    /// An admitted row was not sent; `now` for the breaker, `at` for the dashboard.
    pub fn not_sent(&self, partner: &str, why: NotSent, now: Instant, at: DateTime<Utc>) {
        if !self.partners.contains_key(partner) {
            return;
        }
        let label = PartnerLabel {
            partner: partner.to_owned(),
        };
        match why {
            NotSent::RenderFailed => {
                self.dead_lettered.get_or_create(&label).inc();
            }
            NotSent::Cancelled => {
                self.cancelled.get_or_create(&label).inc();
            }
            NotSent::StoreFailed | NotSent::LeaseTooShort => {}
        }
        let change = self.with(partner, |p| {
            match why {
                NotSent::RenderFailed => {
                    p.counts.dead_lettered += 1;
                    p.last_error = Some((ErrorKind::Render, at));
                }
                NotSent::Cancelled => p.counts.cancelled += 1,
                NotSent::StoreFailed | NotSent::LeaseTooShort => {}
            }
            p.breaker.record(Verdict::Neutral, now)
        });
        log_change(partner, change.flatten());
    }

    /// An attempt to `partner` had to wait for the gateway's own outbound quota.
    pub fn quota_wait(&self, partner: &str) {
        if self.with(partner, |p| p.quota_waits += 1).is_some() {
            self.rate_limited
                .get_or_create(&RateLimitLabels {
                    partner: partner.to_owned(),
                    by: "quota",
                })
                .inc();
        }
    }

    /// One partner's circuit state (`None` for a partner not known here).
    pub fn circuit(&self, partner: &str) -> Option<CircuitState> {
        self.with(partner, |p| p.breaker.state())
    }

    /// Every push partner's delivery health at `now`, sorted by partner id: success rate and
    /// latency percentiles over its latest [`WINDOW`] attempts, rate-limited waits, circuit
    /// state, last error kind and lifetime counts. For the operations dashboard; metadata only.
    pub fn snapshot(&self, now: Instant) -> Vec<PartnerHealth> {
        self.partners
            .iter()
            .map(|(id, p)| {
                let p = p.lock().unwrap_or_else(PoisonError::into_inner);
                partner_health(id, &p, now)
            })
            .collect()
    }
}

fn partner_health(id: &str, p: &Partner, now: Instant) -> PartnerHealth {
    let judged: Vec<bool> = p.recent.iter().filter_map(|r| r.ok).collect();
    let success_rate = (!judged.is_empty())
        .then(|| judged.iter().filter(|ok| **ok).count() as f64 / judged.len() as f64);
    let mut latencies: Vec<Duration> = p.recent.iter().map(|r| r.latency).collect();
    latencies.sort_unstable();
    let pct = |q: f64| percentile(&latencies, q).map(|d| d.as_secs_f64() * 1000.0);
    PartnerHealth {
        partner: id.to_owned(),
        success_rate,
        window: p.recent.len(),
        latency_p50_ms: pct(0.50),
        latency_p95_ms: pct(0.95),
        latency_p99_ms: pct(0.99),
        rate_limited: p.quota_waits + p.counts.rate_limited,
        quota_waits: p.quota_waits,
        partner_429s: p.counts.rate_limited,
        circuit: p.breaker.state(),
        consecutive_failures: p.breaker.consecutive_failures(),
        probe_in_secs: p
            .breaker
            .open_until()
            .map(|until| until.saturating_duration_since(now).as_secs()),
        last_error: p.last_error.map(|(k, _)| k),
        last_error_at: p.last_error.map(|(_, at)| at),
        counts: p.counts,
    }
}

/// The nearest-rank percentile `q` (0 < q <= 1) of sorted values.
fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn log_change(partner: &str, change: Option<Change>) {
    match change {
        Some(Change::Opened { failures }) => {
            warn!(
                partner,
                failures, "delivery: circuit opened; deliveries wait in the queue"
            )
        }
        Some(Change::Closed) => info!(partner, "delivery: circuit closed"),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(threshold: u32, cooldown_secs: u64) -> BreakerSettings {
        BreakerSettings {
            failure_threshold: threshold,
            cooldown: Duration::from_secs(cooldown_secs),
        }
    }

    #[test]
    fn closed_opens_after_the_threshold_of_failures_in_a_row() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(3, 30));
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.admit(t0), Admission::Attempt);
        assert_eq!(b.record(Verdict::Failure, t0), None);
        assert_eq!(b.record(Verdict::Failure, t0), None);
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.consecutive_failures(), 2);
        assert_eq!(
            b.record(Verdict::Failure, t0),
            Some(Change::Opened { failures: 3 })
        );
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.open_until(), Some(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn a_success_or_a_429_in_between_keeps_it_closed() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(2, 30));
        b.record(Verdict::Failure, t0);
        b.record(Verdict::Success, t0);
        b.record(Verdict::Failure, t0);
        assert_eq!(b.state(), CircuitState::Closed);
        // Neutral neither resets nor counts.
        b.record(Verdict::Neutral, t0);
        assert_eq!(b.consecutive_failures(), 1);
        b.record(Verdict::Failure, t0);
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[test]
    fn open_holds_everything_until_the_cooldown_then_admits_one_probe() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(1, 30));
        b.record(Verdict::Failure, t0);
        let during = t0 + Duration::from_secs(29);
        assert_eq!(b.claim(during), Claim::None);
        assert_eq!(b.admit(during), Admission::Hold);
        assert_eq!(b.state(), CircuitState::Open);
        let after = t0 + Duration::from_secs(30);
        assert_eq!(b.claim(after), Claim::One);
        assert_eq!(b.admit(after), Admission::Probe);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        // Only one probe at a time.
        assert_eq!(b.claim(after), Claim::None);
        assert_eq!(b.admit(after), Admission::Hold);
    }

    #[test]
    fn a_delivered_probe_closes_the_circuit() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(1, 10));
        b.record(Verdict::Failure, t0);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admission::Probe);
        assert_eq!(b.record(Verdict::Success, t1), Some(Change::Closed));
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.consecutive_failures(), 0);
        assert_eq!(b.claim(t1), Claim::Any);
        assert_eq!(b.admit(t1), Admission::Attempt);
    }

    #[test]
    fn a_failed_probe_opens_it_for_another_cooldown() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(2, 10));
        b.record(Verdict::Failure, t0);
        b.record(Verdict::Failure, t0);
        let t1 = t0 + Duration::from_secs(15);
        assert_eq!(b.admit(t1), Admission::Probe);
        assert_eq!(
            b.record(Verdict::Failure, t1),
            Some(Change::Opened { failures: 3 })
        );
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.open_until(), Some(t1 + Duration::from_secs(10)));
        assert_eq!(
            b.admit(t1 + Duration::from_secs(9)),
            Admission::Hold,
            "the new cool-down counts from the failed probe"
        );
        assert_eq!(b.admit(t1 + Duration::from_secs(10)), Admission::Probe);
    }

    #[test]
    fn a_probe_that_says_nothing_lets_the_next_row_probe_at_once() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(1, 10));
        b.record(Verdict::Failure, t0);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(t1), Admission::Probe);
        assert_eq!(
            b.record(Verdict::Neutral, t1),
            Some(Change::Opened { failures: 1 })
        );
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.claim(t1), Claim::One);
        assert_eq!(b.admit(t1), Admission::Probe);
    }

    #[test]
    fn late_results_of_attempts_admitted_before_it_opened() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(settings(1, 10));
        b.record(Verdict::Failure, t0);
        // Another attempt in flight fails: still open, the cool-down unchanged.
        assert_eq!(
            b.record(Verdict::Failure, t0 + Duration::from_secs(5)),
            None
        );
        assert_eq!(b.open_until(), Some(t0 + Duration::from_secs(10)));
        // One comes back delivered: the partner works, the circuit closes.
        assert_eq!(
            b.record(Verdict::Success, t0 + Duration::from_secs(6)),
            Some(Change::Closed)
        );
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn error_kinds_of_attempt_results() {
        let status = |code| AttemptResult::Status {
            code,
            retry_after: None,
        };
        assert_eq!(ErrorKind::of(&status(204)), None);
        assert_eq!(ErrorKind::of(&status(429)), Some(ErrorKind::Http429));
        assert_eq!(ErrorKind::of(&status(503)), Some(ErrorKind::Http5xx));
        assert_eq!(ErrorKind::of(&status(400)), Some(ErrorKind::Http4xx));
        assert_eq!(ErrorKind::of(&status(301)), Some(ErrorKind::Http4xx));
        assert_eq!(
            ErrorKind::of(&AttemptResult::Timeout(Duration::from_secs(1))),
            Some(ErrorKind::Timeout)
        );
        assert_eq!(
            ErrorKind::of(&AttemptResult::Connect("refused".into())),
            Some(ErrorKind::Connect)
        );
    }

    fn health(threshold: u32) -> (DeliveryHealth, Registry) {
        let mut registry = Registry::default();
        let h = DeliveryHealth::new(["a", "b"], settings(threshold, 60), &mut registry);
        (h, registry)
    }

    #[test]
    fn the_snapshot_has_success_rate_percentiles_and_rate_limits_per_partner() {
        let (h, _) = health(10);
        let t0 = Instant::now();
        let at = Utc::now();
        for ms in 1..=100 {
            let attempt = if ms % 4 == 0 {
                Attempt::Retry(ErrorKind::Http5xx)
            } else {
                Attempt::Delivered
            };
            h.attempted("a", attempt, Duration::from_millis(ms), t0, at);
        }
        h.attempted("a", Attempt::RateLimited, Duration::from_millis(1), t0, at);
        h.quota_wait("a");
        h.quota_wait("a");
        let snap = h.snapshot(t0);
        assert_eq!(snap.len(), 2);
        let a = &snap[0];
        assert_eq!(a.partner, "a");
        assert_eq!(a.success_rate, Some(0.75));
        assert_eq!(a.window, 101);
        assert_eq!(a.latency_p50_ms, Some(50.0));
        assert_eq!(a.latency_p95_ms, Some(95.0));
        assert_eq!(a.latency_p99_ms, Some(99.0));
        assert_eq!((a.quota_waits, a.partner_429s, a.rate_limited), (2, 1, 3));
        assert_eq!(a.last_error, Some(ErrorKind::Http429));
        assert_eq!(a.circuit, CircuitState::Closed);
        assert_eq!(a.counts.delivered, 75);
        assert_eq!(a.counts.retried, 25);
        assert_eq!(a.counts.attempts, 101);
        let b = &snap[1];
        assert_eq!(
            (b.success_rate, b.latency_p50_ms, b.window),
            (None, None, 0)
        );
    }

    #[test]
    fn the_window_keeps_only_the_latest_attempts() {
        let (h, _) = health(1000);
        let (t0, at) = (Instant::now(), Utc::now());
        for _ in 0..WINDOW {
            h.attempted(
                "a",
                Attempt::Retry(ErrorKind::Timeout),
                Duration::from_secs(1),
                t0,
                at,
            );
        }
        for _ in 0..WINDOW / 2 {
            h.attempted("a", Attempt::Delivered, Duration::from_millis(10), t0, at);
        }
        let a = &h.snapshot(t0)[0];
        assert_eq!(a.window, WINDOW);
        assert_eq!(a.success_rate, Some(0.5));
        assert_eq!(a.counts.attempts, (WINDOW + WINDOW / 2) as u64);
    }

    #[test]
    fn dead_letters_open_the_circuit_and_are_counted_in_the_registry() {
        let (h, registry) = health(2);
        let (t0, at) = (Instant::now(), Utc::now());
        h.attempted(
            "b",
            Attempt::Retry(ErrorKind::Connect),
            Duration::ZERO,
            t0,
            at,
        );
        h.attempted(
            "b",
            Attempt::Permanent(ErrorKind::Http4xx),
            Duration::ZERO,
            t0,
            at,
        );
        assert_eq!(h.circuit("b"), Some(CircuitState::Open));
        assert_eq!(h.claim("b", t0), Claim::None);
        assert_eq!(h.claim("a", t0), Claim::Any);
        h.not_sent("a", NotSent::RenderFailed, t0, at);
        let b = &h.snapshot(t0)[1];
        assert_eq!(b.counts.dead_lettered, 1);
        assert_eq!(b.probe_in_secs, Some(60));
        assert_eq!(b.last_error, Some(ErrorKind::Http4xx));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"delivery_attempts_total{partner="b",outcome="permanent_failure"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"delivery_dead_lettered_total{partner="a"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"delivery_dead_lettered_total{partner="b"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"delivery_attempt_duration_seconds_count{partner="b"} 2"#),
            "{text}"
        );
        // Every series exists from the start, at zero.
        assert!(
            text.contains(r#"outbound_rate_limited_total{partner="a",by="quota"} 0"#),
            "{text}"
        );
    }

    #[test]
    fn unknown_partners_are_ignored() {
        let (h, _) = health(1);
        let (t0, at) = (Instant::now(), Utc::now());
        h.attempted("zz", Attempt::Delivered, Duration::ZERO, t0, at);
        h.quota_wait("zz");
        assert_eq!(h.circuit("zz"), None);
        assert_eq!(h.admit("zz", t0), Admission::Attempt);
        assert_eq!(h.snapshot(t0).len(), 2);
    }
}
