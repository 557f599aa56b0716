//! The delivery worker: claims due outbox rows with a lease and pushes them to partners.
//!
//! One dispatcher claims rows (every poll interval, or sooner when woken) and hands each to
//! its recipient's own queue. Every push partner has its own task with its own rate limiter
//! and at most `per_partner_concurrency` attempts in flight, so a slow or rate-limited
//! partner never delays another (no head-of-line blocking across partners). The dispatcher
//! only claims for partners whose queue has room, so claimed rows do not wait in a queue
//! until their lease runs out.
//!
//! For each lease: render (which checks the consent again), send, classify, and acknowledge
//! as the lease holder. Logs name the referral, partner, attempt, outcome, status code and
//! latency; never a body.
//!
//! Every outcome goes to the state's [`DeliveryHealth`](super::health::DeliveryHealth), whose
//! circuit breaker decides per partner whether rows are claimed and attempted: while a
//! partner's circuit is open its rows stay queued (not claimed; a row claimed before it opened
//! is given back unattempted), and after the cool-down one row is claimed as the probe.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, watch, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{info, warn};
use wijkbrug_adapters::model::{
    Actor, PartnerId, ReasonText, ReferralId, ReferralStatus, Transition,
};

use super::client::{DeliveryClient, Push};
use super::health::{Admission, Attempt, Claim, ErrorKind, NotSent};
use super::render::{render, RenderError};
use super::retry::{AttemptResult, RandomJitter, RetryPolicy, Verdict};
use crate::app::AppState;
use crate::config::{Delivery, OutboundAuth, Partner, RateLimit};
use crate::store::{Lease, OutboxItem, OutboxKind, RateBucket, RateDecision, StoreError};

/// Counters of one partner's deliveries.
#[derive(Debug, Default)]
pub struct PartnerStats {
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead: AtomicU64,
    pub cancelled: AtomicU64,
}

/// A snapshot of [`PartnerStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub delivered: u64,
    pub retried: u64,
    pub dead: u64,
    pub cancelled: u64,
}

impl PartnerStats {
    fn snapshot(&self) -> Counts {
        Counts {
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            dead: self.dead.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
        }
    }
}

/// The worker's counters, per push partner (for metrics).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    partners: HashMap<String, PartnerStats>,
}

impl DeliveryStats {
    fn new<'a>(partners: impl IntoIterator<Item = &'a PartnerId>) -> Self {
        Self {
            partners: partners
                .into_iter()
                .map(|p| (p.to_string(), PartnerStats::default()))
                .collect(),
        }
    }

    /// One partner's counts (zero for a partner the worker does not push to).
    pub fn partner(&self, id: &str) -> Counts {
        self.partners
            .get(id)
            .map(PartnerStats::snapshot)
            .unwrap_or_default()
    }

    /// Every push partner's counts, by partner id.
    pub fn per_partner(&self) -> Vec<(String, Counts)> {
        let mut v: Vec<_> = self
            .partners
            .iter()
            .map(|(k, s)| (k.clone(), s.snapshot()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The sum over all partners.
    pub fn total(&self) -> Counts {
        self.partners
            .values()
            .map(PartnerStats::snapshot)
            .fold(Counts::default(), |a, c| Counts {
                delivered: a.delivered + c.delivered,
                retried: a.retried + c.retried,
                dead: a.dead + c.dead,
                cancelled: a.cancelled + c.cancelled,
            })
    }

    fn count(&self, partner: &PartnerId, f: impl FnOnce(&PartnerStats) -> &AtomicU64) {
        if let Some(s) = self.partners.get(partner.as_str()) {
            f(s).fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The running worker.
pub struct DeliveryWorker {
    stop: watch::Sender<bool>,
    wake: Arc<Notify>,
    stats: Arc<DeliveryStats>,
    task: JoinHandle<()>,
}

impl DeliveryWorker {
    /// Starts the worker for the push partners of `state`'s configuration.
    pub fn spawn(state: Arc<AppState>, client: DeliveryClient) -> Self {
        let push: Vec<&Partner> = state
            .config
            .partners
            .list
            .iter()
            .filter(|p| matches!(p.delivery, Delivery::Push { .. }))
            .collect();
        let stats = Arc::new(DeliveryStats::new(push.iter().map(|p| &p.id)));
        let (stop, stop_rx) = watch::channel(false);
        // Intake wakes the worker through the state's notifier when it queues rows.
        let wake = state.delivery_wake.clone();
        let ctx = Arc::new(Context {
            worker: state.config.settings.delivery.worker_id.clone(),
            policy: RetryPolicy::from(&state.config.settings.delivery),
            state: state.clone(),
            client,
            stats: stats.clone(),
            wake: wake.clone(),
        });
        let task = tokio::spawn(dispatch(ctx, stop_rx));
        Self {
            stop,
            wake,
            stats,
            task,
        }
    }

    /// Asks the worker to look for due rows now (e.g. after an intake).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A handle that wakes the worker (for whoever queues deliveries).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }

    /// Stops claiming, releases rows claimed but not yet attempted, and lets attempts in
    /// flight finish within `grace`. Attempts still running then are abandoned: their leases
    /// expire and the rows are claimed again (at least once).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            warn!("delivery: shutdown grace elapsed with attempts in flight");
            task.abort();
        }
    }
}

/// What every attempt shares.
struct Context {
    worker: String,
    policy: RetryPolicy,
    state: Arc<AppState>,
    client: DeliveryClient,
    stats: Arc<DeliveryStats>,
    wake: Arc<Notify>,
}

/// A claimed row on its way to an attempt.
struct Claimed {
    lease: Lease,
    claimed_at: Instant,
}

/// One push partner's queue.
struct Lane {
    tx: mpsc::UnboundedSender<Claimed>,
    /// Claimed rows queued or in flight.
    pending: Arc<AtomicUsize>,
    /// The most rows claimed for it at a time.
    room: usize,
}

async fn dispatch(ctx: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let settings = ctx.state.config.settings.delivery.clone();
    let mut lanes: HashMap<String, Lane> = HashMap::new();
    let mut partner_tasks = JoinSet::new();
    for partner in &ctx.state.config.partners.list {
        let Delivery::Push { url, auth, .. } = &partner.delivery else {
            continue;
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let room = settings.per_partner_concurrency.saturating_mul(2);
        lanes.insert(
            partner.id.to_string(),
            Lane {
                tx,
                pending: pending.clone(),
                room,
            },
        );
        partner_tasks.spawn(partner_lane(
            ctx.clone(),
            Target {
                id: partner.id.clone(),
                url: url.clone(),
                auth: auth.clone(),
                timeout: partner.timeout,
                rate: Quota::per_second(partner.outbound_rate.per_second)
                    .allow_burst(partner.outbound_rate.burst),
                quota: partner.outbound_rate,
                concurrency: settings.per_partner_concurrency,
                room,
            },
            rx,
            pending,
            stop.clone(),
        ));
    }
    info!(worker = %ctx.worker, partners = lanes.len(), "delivery worker started");

    // Claims in a row that failed because the store did (a full disk, the database away):
    // the worker waits longer between tries; the rows stay in the queue.
    let mut store_failures: u32 = 0;
    while !*stop.borrow() {
        // Partners with a closed circuit and room in their lane take a share of the batch; a
        // partner whose open circuit's cool-down has passed gets one row (the probe), once its
        // lane is empty.
        let health = &ctx.state.delivery_health;
        let checked_at = Instant::now();
        let mut with_room: Vec<PartnerId> = Vec::new();
        let mut probing: Vec<PartnerId> = Vec::new();
        let mut free = 0usize;
        for p in &ctx.state.config.partners.list {
            let Some(lane) = lanes.get(p.id.as_str()) else {
                continue;
            };
            let pending = lane.pending.load(Ordering::Acquire);
            match health.claim(p.id.as_str(), checked_at) {
                Claim::Any if pending < lane.room => {
                    with_room.push(p.id.clone());
                    free += lane.room - pending;
                }
                Claim::One if pending == 0 => probing.push(p.id.clone()),
                _ => {}
            }
        }
        let limit = settings.claim_batch.min(free);
        let mut claimed_full_batch = false;
        let mut store_failed = false;
        if !with_room.is_empty() && limit > 0 {
            match claim_into(&ctx, &lanes, &with_room, limit).await {
                Some(n) => claimed_full_batch = n == limit,
                None => store_failed = true,
            }
        }
        for partner in probing {
            if claim_into(&ctx, &lanes, std::slice::from_ref(&partner), 1)
                .await
                .is_none()
            {
                store_failed = true;
            }
        }
        store_failures = if store_failed {
            store_failures.saturating_add(1)
        } else {
            0
        };
        if claimed_full_batch {
            // More may be due: look again at once (still yielding to shutdown).
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = stop.changed() => {}
            () = ctx.wake.notified() => {}
            () = tokio::time::sleep(idle_wait(settings.poll_interval, store_failures)) => {}
        }
    }
    // Stop: the lanes see the stop signal too; closing the queues ends them once their
    // attempts in flight are done.
    drop(lanes);
    while partner_tasks.join_next().await.is_some() {}
    info!(worker = %ctx.worker, "delivery worker stopped");
}

/// The longest wait between claims while the store keeps failing.
const STORE_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// How long the worker waits before looking for due rows again: the poll interval, doubled
/// for each claim in a row that failed because the store did, up to [`STORE_BACKOFF_MAX`]
/// (never shorter than the poll interval).
fn idle_wait(poll: Duration, store_failures: u32) -> Duration {
    let factor = 1u32 << store_failures.min(10);
    poll.saturating_mul(factor).min(STORE_BACKOFF_MAX).max(poll)
}

/// Claims up to `limit` due rows of `recipients` and hands them to their lanes; how many were
/// claimed (`None` when the store failed).
async fn claim_into(
    ctx: &Context,
    lanes: &HashMap<String, Lane>,
    recipients: &[PartnerId],
    limit: usize,
) -> Option<usize> {
    let settings = &ctx.state.config.settings.delivery;
    match ctx
        .state
        .store
        .claim_due(
            &ctx.worker,
            recipients,
            crate::app::now(),
            settings.lease,
            limit,
        )
        .await
    {
        Ok(leases) => {
            let n = leases.len();
            let claimed_at = Instant::now();
            for lease in leases {
                match lanes.get(lease.item.recipient.as_str()) {
                    Some(lane) => {
                        lane.pending.fetch_add(1, Ordering::AcqRel);
                        if let Err(back) = lane.tx.send(Claimed { lease, claimed_at }) {
                            lane.pending.fetch_sub(1, Ordering::AcqRel);
                            release(ctx, &back.0.lease, STOPPED).await;
                        }
                    }
                    // Not a lane (the store gave a row not asked for): let it go.
                    None => release(ctx, &lease, STOPPED).await,
                }
            }
            Some(n)
        }
        Err(e) => {
            warn!(error = %e, "delivery: claiming due rows failed");
            None
        }
    }
}

/// The reason a row given back on shutdown carries.
const STOPPED: &str = "not attempted: the worker stopped";
/// The reason a row given back because its partner's circuit opened carries.
const CIRCUIT_OPEN: &str = "not attempted: the partner's circuit is open";

/// A push partner as its lane needs it.
struct Target {
    id: PartnerId,
    url: reqwest::Url,
    auth: OutboundAuth,
    timeout: Duration,
    rate: Quota,
    /// The partner's outbound quota as configured (for the store's shared bucket).
    quota: RateLimit,
    concurrency: usize,
    room: usize,
}

async fn partner_lane(
    ctx: Arc<Context>,
    target: Target,
    mut rx: mpsc::UnboundedReceiver<Claimed>,
    pending: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    let target = Arc::new(target);
    let limiter = RateLimiter::direct(target.rate);
    let slots = Arc::new(Semaphore::new(target.concurrency.max(1)));
    let mut attempts = JoinSet::new();
    let lease_time = ctx.state.config.settings.delivery.lease;
    loop {
        let claimed = tokio::select! {
            biased;
            _ = stop.changed() => break,
            c = rx.recv() => match c {
                Some(c) => c,
                None => break,
            },
        };
        // Wait for a slot and the rate limit; give up the row if shutdown comes first.
        let ready = async {
            let permit = slots.clone().acquire_owned().await.ok()?;
            outbound_token(&ctx, &target, &limiter).await;
            Some(permit)
        };
        let permit = tokio::select! {
            biased;
            _ = stop.changed() => None,
            p = ready => p,
        };
        let Some(permit) = permit else {
            settle(&ctx, &pending, target.room);
            release(&ctx, &claimed.lease, STOPPED).await;
            break;
        };
        let health = &ctx.state.delivery_health;
        // The circuit may have opened since the row was claimed: give it back, due as it was.
        if health.admit(target.id.as_str(), Instant::now()) == Admission::Hold {
            settle(&ctx, &pending, target.room);
            release(&ctx, &claimed.lease, CIRCUIT_OPEN).await;
            continue;
        }
        // A row that waited so long that its lease would run out during the attempt is left
        // to expire and be claimed again, rather than sent twice at once.
        if claimed.claimed_at.elapsed() + target.timeout >= lease_time {
            warn!(referral = %claimed.lease.item.referral, partner = %target.id, "delivery: lease too short to attempt; left to expire");
            health.not_sent(
                target.id.as_str(),
                NotSent::LeaseTooShort,
                Instant::now(),
                crate::app::now(),
            );
            settle(&ctx, &pending, target.room);
            continue;
        }
        let (ctx2, target2, pending2) = (ctx.clone(), target.clone(), pending.clone());
        attempts.spawn(async move {
            let report = attempt(&ctx2, &target2, &claimed.lease).await;
            let health = &ctx2.state.delivery_health;
            let (now, at) = (Instant::now(), crate::app::now());
            match report {
                Report::Sent { attempt, latency } => {
                    health.attempted(target2.id.as_str(), attempt, latency, now, at)
                }
                Report::NotSent(why) => health.not_sent(target2.id.as_str(), why, now, at),
            }
            drop(permit);
            settle(&ctx2, &pending2, target2.room);
        });
        while attempts.try_join_next().is_some() {}
    }
    // Rows still queued were claimed but not attempted: release them for the next claim.
    rx.close();
    while let Some(c) = rx.recv().await {
        settle(&ctx, &pending, target.room);
        release(&ctx, &c.lease, STOPPED).await;
    }
    while attempts.join_next().await.is_some() {}
}

/// Waits until the partner's outbound quota allows one more delivery: the store's bucket,
/// shared by every instance, when the store keeps one (PostgreSQL); this lane's own limiter
/// otherwise, or when the store cannot be asked (then each instance keeps to the quota on its
/// own, as a single instance would).
async fn outbound_token(ctx: &Context, target: &Target, limiter: &DefaultDirectRateLimiter) {
    let store = &ctx.state.store;
    let mut waited = false;
    if store.shares_rate_limits() {
        let bucket = RateBucket::Outbound(target.id.clone());
        loop {
            match store.take_rate_token(&bucket, target.quota).await {
                Ok(RateDecision::Allowed) => {
                    if waited {
                        ctx.state.delivery_health.quota_wait(target.id.as_str());
                    }
                    return;
                }
                Ok(RateDecision::Limited { retry_after }) => {
                    waited = true;
                    tokio::time::sleep(retry_after).await;
                }
                Err(e) => {
                    warn!(partner = %target.id, error = %e, "delivery: the shared outbound quota could not be read; keeping to it in this instance");
                    break;
                }
            }
        }
    }
    if limiter.check().is_err() {
        waited = true;
        limiter.until_ready().await;
    }
    if waited {
        ctx.state.delivery_health.quota_wait(target.id.as_str());
    }
}

/// One row leaves the lane; wake the dispatcher if the lane was full.
fn settle(ctx: &Context, pending: &AtomicUsize, room: usize) {
    let before = pending.fetch_sub(1, Ordering::AcqRel);
    if before >= room {
        ctx.wake.notify_one();
    }
}

/// Gives a claimed but unattempted row back: due now, lease released, `reason` as its last
/// error.
async fn release(ctx: &Context, lease: &Lease, reason: &str) {
    if let Err(e) = ctx
        .state
        .store
        .retry_later(lease.row, &ctx.worker, crate::app::now(), reason)
        .await
    {
        warn!(referral = %lease.item.referral, error = %e, "delivery: releasing a claimed row failed; its lease will expire");
    }
}

/// What became of one admitted row, for the partner's delivery health.
enum Report {
    /// Sent to the partner: the outcome and how long the attempt took.
    Sent {
        attempt: Attempt,
        latency: Duration,
    },
    NotSent(NotSent),
}

/// One attempt at one leased row.
async fn attempt(ctx: &Context, target: &Target, lease: &Lease) -> Report {
    let item = &lease.item;
    let started = Instant::now();
    let message = match render(&ctx.state, lease).await {
        Ok(m) => m,
        Err(RenderError::ConsentRevoked(refusal)) => {
            let transition = Transition {
                to: ReferralStatus::ConsentMissing,
                at: crate::app::now(),
                by: Actor::Gateway,
                reason: ReasonText::parse(&refusal.reason()).ok(),
                reason_code: Some(refusal.code().to_owned()),
            };
            let notify = sender_notice(ctx, item).await;
            let done = ctx
                .state
                .store
                .cancel_delivery(lease.row, &ctx.worker, transition, notify)
                .await;
            ctx.stats.count(&target.id, |s| &s.cancelled);
            log_store(item, target, lease.attempts, "cancelled", &done);
            info!(referral = %item.referral, partner = %target.id, attempt = lease.attempts, outcome = "cancelled", code = refusal.code(), "delivery: consent no longer permits it");
            return Report::NotSent(NotSent::Cancelled);
        }
        Err(RenderError::Permanent(reason)) => {
            dead_letter(ctx, target, lease, &reason, None, started).await;
            return Report::NotSent(NotSent::RenderFailed);
        }
        Err(RenderError::Store(e)) => {
            // The lease expires and the row is claimed again.
            warn!(referral = %item.referral, partner = %target.id, attempt = lease.attempts, error = %e, "delivery: rendering failed on the store; will be retried");
            return Report::NotSent(NotSent::StoreFailed);
        }
    };
    let sent = Instant::now();
    let result = ctx
        .client
        .send(Push {
            partner: &target.id,
            url: &target.url,
            auth: &target.auth,
            timeout: target.timeout,
            referral: item.referral,
            row: lease.row,
            message,
        })
        .await;
    let status = match &result {
        AttemptResult::Status { code, .. } => Some(*code),
        _ => None,
    };
    let now = crate::app::now();
    let verdict = ctx.policy.classify(
        &result,
        lease.attempts,
        lease.created_at,
        now,
        &mut RandomJitter,
    );
    let latency = sent.elapsed();
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let kind = ErrorKind::of(&result);
    let transient = matches!(
        kind,
        Some(ErrorKind::Http5xx | ErrorKind::Http429 | ErrorKind::Timeout | ErrorKind::Connect)
    );
    let outcome = match (&verdict, kind) {
        (Verdict::Delivered, _) => Attempt::Delivered,
        (Verdict::Retry { .. }, Some(ErrorKind::Http429)) => Attempt::RateLimited,
        (Verdict::Retry { .. }, k) => Attempt::Retry(k.unwrap_or(ErrorKind::Unreadable)),
        (Verdict::Permanent { .. }, k) if transient => {
            Attempt::Expired(k.unwrap_or(ErrorKind::Unreadable))
        }
        (Verdict::Permanent { .. }, k) => Attempt::Permanent(k.unwrap_or(ErrorKind::Unreadable)),
    };
    match verdict {
        Verdict::Delivered => {
            let done = ctx.state.store.complete(lease.row, &ctx.worker, now).await;
            ctx.stats.count(&target.id, |s| &s.delivered);
            log_store(item, target, lease.attempts, "delivered", &done);
            info!(referral = %item.referral, partner = %target.id, attempt = lease.attempts, outcome = "delivered", status, latency_ms, "delivery attempt");
        }
        Verdict::Retry { at, reason } => {
            let done = ctx
                .state
                .store
                .retry_later(lease.row, &ctx.worker, at, &reason)
                .await;
            ctx.stats.count(&target.id, |s| &s.retried);
            log_store(item, target, lease.attempts, "retry", &done);
            info!(referral = %item.referral, partner = %target.id, attempt = lease.attempts, outcome = "retry", status, latency_ms, "delivery attempt");
        }
        Verdict::Permanent { reason } => {
            dead_letter(ctx, target, lease, &reason, status, started).await;
        }
    }
    Report::Sent {
        attempt: outcome,
        latency,
    }
}

async fn dead_letter(
    ctx: &Context,
    target: &Target,
    lease: &Lease,
    reason: &str,
    status: Option<u16>,
    started: Instant,
) {
    let item = &lease.item;
    let notify = match item.kind {
        OutboxKind::Referral => sender_notice(ctx, item).await,
        // A status notice that cannot be delivered is not announced to its own recipient.
        OutboxKind::Status { .. } => Vec::new(),
    };
    let done = ctx
        .state
        .store
        .dead_letter(lease.row, &ctx.worker, reason, crate::app::now(), notify)
        .await;
    ctx.stats.count(&target.id, |s| &s.dead);
    log_store(item, target, lease.attempts, "dead_letter", &done);
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    warn!(referral = %item.referral, partner = %target.id, attempt = lease.attempts, outcome = "dead_letter", status, latency_ms, "delivery attempt");
}

/// The status notice for the referral's sender (the store fills in the transition index), if
/// the sender is a configured partner other than this recipient.
async fn sender_notice(ctx: &Context, item: &OutboxItem) -> Vec<OutboxItem> {
    let sender = match sender_of(ctx, item.referral).await {
        Ok(Some(s)) => s,
        Ok(None) => return Vec::new(),
        Err(e) => {
            warn!(referral = %item.referral, error = %e, "delivery: the sender could not be looked up; it is not told");
            return Vec::new();
        }
    };
    if sender == item.recipient || ctx.state.config.partners.get(sender.as_str()).is_none() {
        return Vec::new();
    }
    vec![OutboxItem {
        referral: item.referral,
        recipient: sender,
        kind: OutboxKind::Status { transition: 0 },
    }]
}

async fn sender_of(ctx: &Context, id: ReferralId) -> Result<Option<PartnerId>, StoreError> {
    // The metadata names the sender; the payload is not read. An erased referral has none.
    Ok(ctx
        .state
        .store
        .live_referral_meta(id)
        .await?
        .map(|m| m.sender))
}

/// Logs an acknowledgement the store did not take (the lease was lost, or the store failed).
fn log_store(
    item: &OutboxItem,
    target: &Target,
    attempt: u32,
    outcome: &str,
    done: &Result<bool, StoreError>,
) {
    match done {
        Ok(true) => {}
        Ok(false) => {
            warn!(referral = %item.referral, partner = %target.id, attempt, outcome, "delivery: the lease was lost before the result was recorded; the row will be attempted again")
        }
        Err(e) => {
            warn!(referral = %item.referral, partner = %target.id, attempt, outcome, error = %e, "delivery: recording the result failed; the row will be attempted again")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_while_the_store_fails_up_to_the_ceiling() {
        let poll = Duration::from_millis(200);
        assert_eq!(idle_wait(poll, 0), poll);
        assert_eq!(idle_wait(poll, 1), Duration::from_millis(400));
        assert_eq!(idle_wait(poll, 3), Duration::from_millis(1600));
        assert_eq!(idle_wait(poll, 5), STORE_BACKOFF_MAX);
        assert_eq!(idle_wait(poll, u32::MAX), STORE_BACKOFF_MAX);
        // A poll interval above the ceiling is kept.
        let slow = Duration::from_secs(10);
        assert_eq!(idle_wait(slow, 4), slow);
    }
}
