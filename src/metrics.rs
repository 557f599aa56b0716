//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format (which
//! Prometheus scrapes natively), every name prefixed `wijkbrug_`.
//!
//! Two kinds of values:
//! - **counted as they happen**, kept in the state's long-lived [`Registry`]: delivery attempts
//!   by partner and outcome, their latency histogram, dead-lettered and cancelled deliveries
//!   and outbound rate-limit waits (all from [`crate::delivery::DeliveryHealth`]); consent
//!   decisions at intake, inbound 429s, partner requests shed at the in-flight cap and how long
//!   each partner message took to answer (from [`Metrics`]). They start at zero when the gateway starts, as Prometheus counters do.
//! - **read at scrape time** ([`render`]): referrals by status and receiving sector and the
//!   outbox backlog from the store, the audit chain from the watcher's latest walk, each
//!   push partner's circuit state, and the partner requests in flight with their cap.
//!
//! Label values are partner ids, sectors, statuses, outcomes, reasons' codes and circuit
//! states only: never anything about a resident. The route is open (no token) like
//! `/healthz`, for a Prometheus scraper on the operations network: see README, Operations.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use wijkbrug_adapters::model::{ReferralStatus, Sector};

use crate::app::AppState;
use crate::config::Config;
use crate::delivery::health::{CircuitState, PartnerLabel};
use crate::store::{StoreError, WriterActivity, BATCH_BOUNDS};

/// The prefix of every metric name.
pub const PREFIX: &str = "wijkbrug";

/// The `sector` label of referrals no partner was routed for (consent missing at intake).
pub const NO_SECTOR: &str = "none";

/// The content type of `/metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label set of consent decisions: `decision` is `shared` or `refused`, `reason` is `permit`
/// or the refusal's code (`no-consent`, `objection`, `consent-insufficient`,
/// `needs-not-covered`), `sector` the routed receiver's sector.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsentLabels {
    pub decision: &'static str,
    pub reason: &'static str,
    pub sector: &'static str,
}

/// The upper bounds (seconds) of the intake duration histogram's buckets (10 ms is the
/// intake target in BENCHMARKS.md).
pub const INTAKE_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Label set of the intake duration: the answer's HTTP status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: u16,
}

type IntakeFamily = Family<CodeLabel, Histogram, fn() -> Histogram>;

fn intake_histogram() -> Histogram {
    Histogram::new(INTAKE_BUCKETS)
}

/// A gauge set to `n` (a count or a flag; the largest gauge value when it does not fit).
fn gauge_of<N: TryInto<i64>>(n: N) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(n.try_into().unwrap_or(i64::MAX));
    gauge
}

/// The writer's batches by how long they took, as counted by the store
/// ([`crate::store::WriterActivity::batches`]): a histogram made at each scrape from those
/// counts.
#[derive(Debug)]
struct BatchDurations {
    sum: f64,
    count: u64,
    /// (upper bound, batches in that bucket alone); the last bound is infinite.
    buckets: Vec<(f64, u64)>,
}

impl From<&WriterActivity> for BatchDurations {
    fn from(writer: &WriterActivity) -> Self {
        let bounds = BATCH_BOUNDS.iter().copied().chain([f64::INFINITY]);
        Self {
            sum: writer.busy.as_secs_f64(),
            count: writer.batches.iter().sum(),
            buckets: bounds.zip(writer.batches.iter().copied()).collect(),
        }
    }
}

impl EncodeMetric for BatchDurations {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_histogram::<NoLabelSet>(self.sum, self.count, &self.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// The metrics counted outside delivery, and the registry every counted metric is in.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    consent_decisions: Family<ConsentLabels, Counter>,
    inbound_rate_limited: Family<PartnerLabel, Counter>,
    requests_shed: Counter,
    intake_duration: IntakeFamily,
}

impl Metrics {
    /// Registers the intake metrics in `registry` (which already holds the delivery health's)
    /// with a zero series per partner for the inbound 429s.
    pub fn new(mut registry: Registry, config: &Config) -> Self {
        let consent_decisions = Family::<ConsentLabels, Counter>::default();
        let inbound_rate_limited = Family::<PartnerLabel, Counter>::default();
        for p in &config.partners.list {
            inbound_rate_limited.get_or_create_owned(&PartnerLabel {
                partner: p.id.to_string(),
            });
        }
        registry.register(
            "consent_decisions",
            "Consent decisions on referrals stored at intake: shared (permit) or refused (with the refusal's code), by the receiver's sector",
            consent_decisions.clone(),
        );
        registry.register(
            "inbound_rate_limited",
            "Requests from a partner refused with 429 because of its inbound rate limit",
            inbound_rate_limited.clone(),
        );
        let requests_shed = Counter::default();
        registry.register(
            "requests_shed",
            "Partner requests answered 503 because server.max_requests_in_flight requests were being processed: at once, or, for a message let in beyond it as a possible answer, once read as holding a new referral",
            requests_shed.clone(),
        );
        let intake_duration: IntakeFamily = Family::new_with_constructor(intake_histogram);
        // The answers a sender usually gets, at zero from the start.
        for code in [200, 202] {
            intake_duration.get_or_create_owned(&CodeLabel { code });
        }
        registry.register_with_unit(
            "intake_duration",
            "How long a partner's message (POST /v1/partners/{partner}/messages) took in the gateway, from its handler's start (its body read included) to its answer, by the answer's HTTP status: 202 referrals accepted, 200 status updates applied, 4xx refused, 503 shed once read or the store unavailable (requests shed at once at the in-flight cap are not in it)",
            Unit::Seconds,
            intake_duration.clone(),
        );
        Self {
            registry,
            consent_decisions,
            inbound_rate_limited,
            requests_shed,
            intake_duration,
        }
    }

    /// A new registry for the metrics counted as they happen, with the common prefix.
    pub fn registry() -> Registry {
        Registry::with_prefix(PREFIX)
    }

    /// A referral stored at intake whose receiver is in `sector`: shared, or refused with the
    /// refusal's `code`.
    pub fn consent_decision(&self, refused: Option<&'static str>, sector: Sector) {
        let (decision, reason) = match refused {
            None => ("shared", "permit"),
            Some(code) => ("refused", code),
        };
        self.consent_decisions
            .get_or_create(&ConsentLabels {
                decision,
                reason,
                sector: sector.code(),
            })
            .inc();
    }

    /// A request from `partner` was refused by its inbound rate limit.
    pub fn inbound_rate_limited(&self, partner: &str) {
        self.inbound_rate_limited
            .get_or_create(&PartnerLabel {
                partner: partner.to_owned(),
            })
            .inc();
    }

    /// A partner request was shed at the in-flight cap ([`crate::api::in_flight`]).
    pub fn request_shed(&self) {
        self.requests_shed.inc();
    }

    /// A partner's message was answered with `code` after `took`.
    pub fn intake_answered(&self, code: u16, took: Duration) {
        self.intake_duration
            .get_or_create(&CodeLabel { code })
            .observe(took.as_secs_f64());
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReferralLabels {
    status: &'static str,
    sector: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LaneLabel {
    lane: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    partner: String,
    state: &'static str,
}

/// Why `/metrics` could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The encoder failed (writing to a string cannot; this would be a bug).
    #[error("the metrics could not be encoded")]
    Encode,
}

/// The whole `/metrics` text at `now`: the counted metrics, then the ones read now from the
/// store, the audit-chain watcher and the circuit breakers.
pub async fn render(state: &AppState, now: DateTime<Utc>) -> Result<String, MetricsError> {
    let counts = state.store.referral_counts().await?;
    let backlog = state.store.outbox_backlog(now).await?;
    let mut scrape = Registry::with_prefix(PREFIX);

    // Referrals by status and the receiver's sector: every pair, zero included.
    let referrals = Family::<ReferralLabels, Gauge>::default();
    let sectors: Vec<&'static str> = Sector::ALL
        .iter()
        .map(|s| s.code())
        .chain([NO_SECTOR])
        .collect();
    for status in ReferralStatus::ALL {
        for sector in &sectors {
            referrals.get_or_create_owned(&ReferralLabels {
                status: status.code(),
                sector,
            });
        }
    }
    for c in &counts {
        let sector = match &c.receiver {
            None => NO_SECTOR,
            Some(r) => state
                .config
                .partners
                .get(r.as_str())
                .map_or("unknown", |p| p.sector.code()),
        };
        referrals
            .get_or_create(&ReferralLabels {
                status: c.status.code(),
                sector,
            })
            .inc_by(i64::try_from(c.count).unwrap_or(i64::MAX));
    }
    scrape.register(
        "referrals",
        "Referrals in the store by status and the routed receiver's sector (none: not routed to anyone)",
        referrals,
    );

    // The outbox per recipient: every configured partner, zero included.
    let pending = Family::<PartnerLabel, Gauge>::default();
    let due = Family::<PartnerLabel, Gauge>::default();
    let oldest = Family::<PartnerLabel, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let dead = Family::<PartnerLabel, Gauge>::default();
    let label = |p: &str| PartnerLabel {
        partner: p.to_owned(),
    };
    for p in &state.config.partners.list {
        let l = label(p.id.as_str());
        pending.get_or_create_owned(&l);
        due.get_or_create_owned(&l);
        oldest.get_or_create_owned(&l);
        dead.get_or_create_owned(&l);
    }
    for b in &backlog {
        let l = label(b.recipient.as_str());
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        pending.get_or_create(&l).set(n(b.pending));
        due.get_or_create(&l).set(n(b.due));
        dead.get_or_create(&l).set(n(b.dead));
        let age = b.oldest_due_queued_at.map_or(0.0, |t| {
            ((now - t).num_milliseconds().max(0) as f64) / 1000.0
        });
        oldest.get_or_create(&l).set(age);
    }
    scrape.register(
        "outbox_pending",
        "Deliveries queued for a partner (due, leased, offered or waiting for a retry): the queue depth",
        pending,
    );
    scrape.register(
        "outbox_due",
        "Deliveries for a partner whose time has come (waiting for the worker or the partner's pull)",
        due,
    );
    scrape.register_with_unit(
        "outbox_oldest_due_age",
        "How long ago the oldest due delivery for a partner was queued (0 when none is due)",
        Unit::Seconds,
        oldest,
    );
    scrape.register(
        "dead_letters",
        "Dead letters awaiting an operator (retry or discard), by partner",
        dead,
    );

    // The audit chain, from the watcher's latest walk (absent until the first one).
    if let Some(latest) = state.audit_chain.latest() {
        let events = gauge_of(latest.check.events);
        let intact = gauge_of(latest.check.intact);
        let checked = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        checked.set(latest.checked_at.timestamp_millis() as f64 / 1000.0);
        let whole = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        whole.set(latest.whole_checked_at.timestamp_millis() as f64 / 1000.0);
        scrape.register(
            "audit_chain_events",
            "Events in the audit chain that were found linked at the latest walk",
            events,
        );
        scrape.register(
            "audit_chain_intact",
            "1 when the latest walk found the audit chain intact, 0 when a link is broken",
            intact,
        );
        scrape.register(
            "audit_chain_checked_timestamp_seconds",
            "When the audit chain was last walked (Unix time)",
            checked,
        );
        scrape.register(
            "audit_chain_whole_checked_timestamp_seconds",
            "When the whole audit chain, from its first event, was last walked (Unix time); the walks in between go over the events appended since the walk before",
            whole,
        );
    }

    // Circuit states, one series per partner and state (1 for the current one).
    let circuit = Family::<CircuitLabels, Gauge>::default();
    for p in state.delivery_health.snapshot(Instant::now()) {
        for s in CircuitState::ALL {
            circuit
                .get_or_create(&CircuitLabels {
                    partner: p.partner.clone(),
                    state: s.as_str(),
                })
                .set(i64::from(p.circuit == s));
        }
    }
    scrape.register(
        "delivery_circuit_state",
        "A push partner's circuit breaker: 1 for its current state (closed, open, half_open), 0 for the others",
        circuit,
    );

    // The store's writer: how busy it is and what a commit takes (this instance's, since start).
    let writer = state.store.writer_activity();
    let commits = Counter::<u64>::default();
    commits.inc_by(writer.commits);
    let writes = Counter::<u64>::default();
    writes.inc_by(writer.writes);
    let busy = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    busy.inc_by(writer.busy.as_secs_f64());
    let committing = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    committing.inc_by(writer.committing.as_secs_f64());
    scrape.register(
        "store_commits",
        "Write transactions this instance's store writer committed (writes waiting together share one)",
        commits,
    );
    scrape.register(
        "store_writes",
        "Writes those transactions carried (intakes, status changes, deliveries' claims and outcomes, audit events)",
        writes,
    );
    scrape.register_with_unit(
        "store_writer_busy",
        "Time the store writer spent on batches: its rate near 1 means the store is the limit and writes queue",
        Unit::Seconds,
        busy,
    );
    scrape.register_with_unit(
        "store_commit",
        "Of the store writer's busy time, the time spent committing (SQLite: WAL written and synced; PostgreSQL: the server's WAL flush)",
        Unit::Seconds,
        committing,
    );
    scrape.register_with_unit(
        "store_batch_duration",
        "How long each of the store writer's batches took, from taking it to answering every caller (its statements and its commit): what a write waits for once its batch starts. A tail here is a slow disk or database server",
        Unit::Seconds,
        BatchDurations::from(&writer),
    );

    // The writes waiting for the writer now, by lane (see store::writer_queue).
    let queue = state.store.writer_queue();
    let queued = Family::<LaneLabel, Gauge>::default();
    for (lane, n) in [("first", queue.first), ("intake", queue.intakes)] {
        queued
            .get_or_create(&LaneLabel { lane })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    scrape.register(
        "store_writer_queued",
        "Writes waiting for the store writer now: lane first (deliveries, status changes, revocations, audit events, consents) is taken before lane intake (new referrals)",
        queued,
    );

    // The partner requests being processed now, and the cap on them.
    let in_flight = gauge_of(state.in_flight.current());
    let in_flight_limit = gauge_of(state.in_flight.limit());
    scrape.register(
        "requests_in_flight",
        "Partner requests being processed now within server.max_requests_in_flight (those let in beyond it as answers are wijkbrug_requests_in_flight_answers)",
        in_flight,
    );
    scrape.register(
        "requests_in_flight_limit",
        "server.max_requests_in_flight: partner requests beyond it are answered 503 at once, but for answers on referrals already taken",
        in_flight_limit,
    );
    let answers = gauge_of(state.in_flight.current_answers());
    scrape.register(
        "requests_in_flight_answers",
        "Partner requests let in beyond server.max_requests_in_flight because they may carry work on referrals already taken (status updates, revocations, mailbox); at most an eighth of the cap",
        answers,
    );

    let mut text = String::new();
    encode_registry(&mut text, &state.metrics.registry)
        .and_then(|()| encode_registry(&mut text, &scrape))
        .and_then(|()| encode_eof(&mut text))
        .map_err(|_| MetricsError::Encode)?;
    Ok(text)
}
