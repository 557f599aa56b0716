//! The instance's writer: every write of this store handle that changes the domain tables goes
//! through one task, which gathers concurrent writes into shared transactions (group commit),
//! as the SQLite store's writer does ([`crate::store::sqlite`]).
//!
//! The task takes the first job, then whatever else arrives (up to `max_batch` jobs, waiting
//! at most `max_wait` for company; work on referrals already stored before new intakes,
//! [`crate::store::writer_queue`]), runs them all in one transaction on its own connection
//! (not the pool's: claims and reads queueing for pooled connections must not hold up the
//! writes), commits once, and answers each caller. A connection that broke (the database
//! restarted, a fail-over) is replaced before the next batch. The task runs on a thread of its
//! own ([`Writer::spawn`]). Each transaction first locks the audit chain's head
//! ([`Chain::lock`]), so write transactions from all instances on the database run one after
//! the other, each seeing everything committed before it.
//!
//! When the batch's transaction fails, nothing of it was written. If it held more than one
//! job, each job is then run again alone, in its own transaction, so one caller's bad data
//! cannot fail the others.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;
use uuid::Uuid;
use wijkbrug_adapters::model::{Consent, PartnerId, ReferralId, StatusHistory, Transition};

use super::audit::Chain;
use super::codec::{self, corrupt, unavailable};
use super::delivery::{self, DeliveryAnswer, DeliveryJob};
use super::histories::Histories;
use super::intake::intakes_in;
use super::retention::{erase_in, EraseJob};
use super::revoke::{revoke_in, RevokeJob};
use super::status_changes::StatusChanges;
use crate::audit::{AuditAction, AuditDraft, PseudonymKey};
use crate::store::writer_queue::{JobQueue, Lane, Laned};
use crate::store::{
    ConsentId, Intake, IntakeOutcome, OutboxItem, OutboxKind, RevokeOutcome, StoreError,
    TransitionOutcome, WriterCounters,
};

/// The writer's counters (for `/metrics`) and the intakes its commits carried (to show that
/// commits are shared).
#[derive(Default, Debug)]
pub(crate) struct Stats {
    pub writer: WriterCounters,
    pub intakes: AtomicU64,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write, with where to send its result.
pub(crate) enum Job {
    Intake(Intake, Reply<Vec<IntakeOutcome>>),
    Transition(Box<TransitionJob>, Reply<TransitionOutcome>),
    /// Consents recorded together (all or none), and the staff account that imported them.
    Consents(Box<ConsentBatch>, Reply<()>),
    /// A partner read a referral through the API (audited only).
    Read(PartnerId, ReferralId, Reply<()>),
    /// An audit event that records no other change (e.g. a read of a processing log).
    Event(Box<AuditDraft>, Reply<()>),
    /// A delivery worker's, the mailbox's or an operator's change to an outbox row.
    Delivery(Box<DeliveryJob>, Reply<DeliveryAnswer>),
    /// A consent revoked by the partner that recorded it, with its cascade.
    Revoke(Box<RevokeJob>, Reply<Option<RevokeOutcome>>),
    /// Retention: erase the payloads of referrals that are done.
    Erase(Box<EraseJob>, Reply<u64>),
    /// Finish and stop.
    Close(oneshot::Sender<()>),
}

impl Laned for Job {
    /// New intakes wait while other work is queued ([`crate::store::writer_queue`]); the
    /// close is queued behind them.
    fn lane(&self) -> Lane {
        match self {
            Job::Intake(..) | Job::Close(_) => Lane::Intake,
            _ => Lane::First,
        }
    }
}

pub(crate) struct TransitionJob {
    pub id: ReferralId,
    pub transition: Transition,
    pub notify: Vec<OutboxItem>,
}

/// Consents to record in one transaction.
pub(crate) struct ConsentBatch {
    pub consents: Vec<(ConsentId, Consent)>,
    /// The staff account that imported them (`None`: the recording partner sent it).
    pub imported_by: Option<String>,
}

/// A job's result, before it is sent.
enum Answer {
    Intake(Vec<IntakeOutcome>),
    Transition(TransitionOutcome),
    Done,
    Delivery(DeliveryAnswer),
    Revoke(Option<RevokeOutcome>),
    Erase(u64),
}

/// A writer connection idle longer than this is checked (a ping) before the next batch.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    pub options: PgConnectOptions,
    /// The writer's connection and when it was last used (made at the first batch).
    pub conn: Option<(PgConnection, Instant)>,
    pub rx: JobQueue<Job>,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub stats: Arc<Stats>,
    pub key: PseudonymKey,
}

impl Writer {
    /// Starts the writer on a thread of its own with its own single-threaded runtime; it runs
    /// until [`Job::Close`] or until every sender is dropped.
    ///
    /// A batch is a conversation with the database, one statement after another, and every
    /// answer has to be picked up before the next statement goes out. On the gateway's shared
    /// runtime the writer waited in line behind request handling for each of them, and the
    /// database sat idle in its transaction meanwhile; on its own thread, scheduled for prompt
    /// wake-ups ([`crate::store::writer_scheduling`]), it is woken at once.
    pub fn spawn(self) -> Result<(), StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the store's writer: {e}"))
            })?;
        std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || {
                crate::store::writer_scheduling::prefer_prompt_wakeups();
                runtime.block_on(self.run());
            })
            .map(drop)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store's writer: {e}")))
    }

    async fn run(mut self) {
        let max_batch = self.max_batch.max(1);
        while let Some(first) = self.rx.take().await {
            let mut batch = Vec::with_capacity(max_batch);
            let mut close = None;
            match first {
                Job::Close(reply) => close = Some(reply),
                job => batch.push(job),
            }
            let deadline = tokio::time::Instant::now() + self.max_wait;
            while close.is_none() && batch.len() < max_batch {
                // Jobs already queued are taken without a wait, even when `max_wait` is zero.
                let next = match self.rx.try_take_for(&batch, max_batch) {
                    Some(job) => Some(job),
                    None => tokio::time::timeout_at(deadline, self.rx.take())
                        .await
                        .ok()
                        .flatten(),
                };
                match next {
                    Some(Job::Close(reply)) => close = Some(reply),
                    Some(job) => batch.push(job),
                    None => break,
                }
            }
            if !batch.is_empty() {
                self.process(batch).await;
            }
            if let Some(reply) = close {
                // Close the queue (every later send is refused), finish the work on stored
                // referrals still queued, refuse the intakes queued behind the close.
                let (finish, refuse) = self.rx.close(max_batch);
                for batch in finish {
                    self.process(batch).await;
                }
                for job in refuse {
                    answer_job(job, Err(closed()));
                }
                if let Some((conn, _)) = self.conn.take() {
                    let _ = conn.close().await;
                }
                let _ = reply.send(());
                return;
            }
        }
        if let Some((conn, _)) = self.conn.take() {
            let _ = conn.close().await;
        }
    }

    /// The writer's connection: made if there is none, replaced if it broke while idle.
    async fn connection(&mut self) -> Result<&mut PgConnection, StoreError> {
        if let Some((conn, used)) = self.conn.as_mut() {
            if used.elapsed() > CHECK_AFTER_IDLE && conn.ping().await.is_err() {
                self.conn = None;
            }
        }
        if self.conn.is_none() {
            let conn = PgConnection::connect_with(&self.options)
                .await
                .map_err(unavailable)?;
            self.conn = Some((conn, Instant::now()));
        }
        match self.conn.as_mut() {
            Some((conn, used)) => {
                *used = Instant::now();
                Ok(conn)
            }
            None => Err(closed()),
        }
    }

    async fn process(&mut self, batch: Vec<Job>) {
        let started = std::time::Instant::now();
        let results: Vec<Result<Answer, StoreError>> = match self.execute(&batch).await {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(error) if batch.len() == 1 => vec![Err(error)],
            Err(_) => {
                tracing::warn!(
                    jobs = batch.len(),
                    "a group commit failed; running its jobs one by one"
                );
                let mut results = Vec::with_capacity(batch.len());
                for job in &batch {
                    results.push(self.execute(std::slice::from_ref(job)).await.and_then(
                        |mut answers| answers.pop().ok_or_else(|| corrupt("a job had no answer")),
                    ));
                }
                results
            }
        };
        // Counted before the callers hear back, so a caller that reads the counters after its
        // answer finds its batch's time in them.
        self.stats.writer.worked(started.elapsed());
        for (job, result) in batch.into_iter().zip(results) {
            answer_job(job, result);
        }
    }

    /// Runs `jobs` in one transaction and commits, or writes nothing. When the connection
    /// turns out broken at `BEGIN` (nothing was sent), it is replaced and the batch runs on the
    /// new one; a failure later in the transaction is answered (the commit may or may not
    /// have happened when a connection breaks at that point: the caller cannot be told
    /// "stored").
    async fn execute(&mut self, jobs: &[Job]) -> Result<Vec<Answer>, StoreError> {
        let key = self.key.clone();
        let stats = Arc::clone(&self.stats);
        let conn = self.connection().await?;
        let result = match execute_in(conn, &key, &stats, jobs).await {
            Err(Failure::Begin(_)) => {
                self.conn = None;
                let conn = self.connection().await?;
                execute_in(conn, &key, &stats, jobs).await
            }
            other => other,
        };
        if result.is_err() {
            // A failed statement leaves the connection usable; a broken one is replaced.
            if let Some((conn, _)) = self.conn.as_mut() {
                if conn.ping().await.is_err() {
                    self.conn = None;
                }
            }
        }
        result.map_err(Failure::into_error)
    }
}

/// Why a batch was not committed.
enum Failure {
    /// `BEGIN` failed: nothing of the batch reached the database.
    Begin(StoreError),
    /// Later: the transaction was rolled back (or the connection broke).
    Other(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Self::Begin(e) | Self::Other(e) => e,
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Other(e)
    }
}

/// Runs `jobs` in one transaction on `conn` and commits, or writes nothing.
async fn execute_in(
    conn: &mut PgConnection,
    key: &PseudonymKey,
    stats: &Stats,
    jobs: &[Job],
) -> Result<Vec<Answer>, Failure> {
    let mut tx = conn
        .begin()
        .await
        .map_err(|e| Failure::Begin(unavailable(e)))?;
    let mut chain = Chain::lock(&mut tx, key).await?;
    let (referrals, rows) = named_histories(jobs);
    let mut histories = Histories::preload(&mut tx, &referrals, &rows).await?;
    let now = crate::store::now();
    let mut answers = Vec::with_capacity(jobs.len());
    let mut intakes = 0;
    let mut next = 0;
    // The batch's status changes, staged as they are judged and written together
    // ([`StatusChanges`]) before a job that may read or write what they change, and at the
    // end. Deliveries and acknowledgements mark only rows committed before (leased), and
    // audit-only jobs write nothing but the chain's events, so neither needs them written.
    let mut staged = StatusChanges::default();
    while let Some(job) = jobs.get(next) {
        // Deliveries and acknowledgements that follow one another: their rows in one
        // statement ([`delivery::deliver_run`]), their `delivered` changes staged.
        let run: Vec<&delivery::DeliveryJob> = jobs[next..]
            .iter()
            .map_while(|j| match j {
                Job::Delivery(d, _) if d.delivers() => Some(&**d),
                _ => None,
            })
            .collect();
        if !run.is_empty() {
            next += run.len();
            let delivered =
                delivery::deliver_run(&mut tx, &mut chain, &mut histories, &mut staged, &run);
            answers.extend(delivered.await?.into_iter().map(Answer::Delivery));
            continue;
        }
        if let Job::Transition(t, _) = job {
            next += 1;
            let outcome = staged.stage(&mut tx, &mut chain, &mut histories, t, now);
            answers.push(Answer::Transition(outcome.await?));
            continue;
        }
        if !matches!(job, Job::Read(..) | Job::Event(..)) {
            staged.write(&mut tx).await?;
        }
        // Intakes without an idempotency key that follow one another: their referrals in
        // one statement ([`intakes_in`]).
        let run: Vec<&Intake> = jobs[next..]
            .iter()
            .map_while(|j| match j {
                Job::Intake(intake, _) if intake.idempotency_key.is_none() => Some(intake),
                _ => None,
            })
            .collect();
        if run.len() > 1 {
            next += run.len();
            intakes += run.len() as u64;
            let answered = intakes_in(&mut tx, &mut chain, &run, now).await?;
            answers.extend(answered.into_iter().map(Answer::Intake));
            continue;
        }
        next += 1;
        let answer = match job {
            Job::Intake(intake, _) => {
                intakes += 1;
                let mut answered = intakes_in(&mut tx, &mut chain, &[intake], now).await?;
                let answer = answered.pop();
                Answer::Intake(answer.ok_or_else(|| corrupt("an intake was not answered"))?)
            }
            // Staged above.
            Job::Transition(..) => return Err(corrupt("a status change was not staged").into()),
            Job::Consents(batch, _) => {
                for (id, consent) in &batch.consents {
                    consent_in(
                        &mut tx,
                        &mut chain,
                        *id,
                        consent,
                        batch.imported_by.as_deref(),
                        now,
                    )
                    .await?;
                }
                Answer::Done
            }
            Job::Read(partner, referral, _) => {
                chain.append(
                    AuditDraft::new(crate::store::now(), AuditAction::ReferralRead)
                        .partner(partner)
                        .referral(*referral),
                );
                Answer::Done
            }
            Job::Event(draft, _) => {
                chain.append((**draft).clone());
                Answer::Done
            }
            Job::Delivery(d, _) => {
                Answer::Delivery(delivery::run(&mut tx, &mut chain, &mut histories, d).await?)
            }
            Job::Revoke(r, _) => {
                Answer::Revoke(revoke_in(&mut tx, &mut chain, &mut histories, r, now).await?)
            }
            Job::Erase(e, _) => {
                // Erasure rewrites the histories' reasons behind `histories`' back.
                histories.forget();
                Answer::Erase(erase_in(&mut tx, &mut chain, e).await?)
            }
            Job::Close(_) => return Err(corrupt("a close job inside a batch").into()),
        };
        answers.push(answer);
    }
    staged.write(&mut tx).await?;
    chain.finish(&mut tx).await?;
    // Dropping `tx` on an early return above rolls it back.
    let committing = std::time::Instant::now();
    tx.commit().await.map_err(unavailable)?;
    stats.writer.committed(jobs.len(), committing.elapsed());
    stats.intakes.fetch_add(intakes, Ordering::Relaxed);
    Ok(answers)
}

/// The referrals whose histories `jobs` will judge status changes against, as far as the jobs
/// name them: the referrals of status changes, and the `outbox` rows whose delivery, when it
/// finishes, moves its referral on (a finished status notice moves nothing; the preload reads
/// only referral deliveries). Read together by [`Histories::preload`].
///
/// Nothing is named when the read could not save a round trip: a batch whose only such job
/// finishes one delivery reads that referral's history when it moves it on, and reads nothing
/// when the row is a status notice (as most batches of one are at low load).
fn named_histories(jobs: &[Job]) -> (Vec<Uuid>, Vec<i64>) {
    let mut referrals = Vec::new();
    let mut rows = Vec::new();
    for job in jobs {
        match job {
            Job::Transition(t, _) => referrals.push(t.id.as_uuid()),
            Job::Delivery(d, _) => rows.extend(d.finishing_row()),
            _ => {}
        }
    }
    if referrals.is_empty() && rows.len() < 2 {
        rows.clear();
    }
    (referrals, rows)
}

pub(crate) fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

fn answer_job(job: Job, result: Result<Answer, StoreError>) {
    let mismatch = || StoreError::Corrupt("a write was answered with another kind".to_owned());
    // A caller that went away (timed out) no longer wants the answer: ignore send errors.
    match job {
        Job::Intake(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Intake(o) => Ok(o),
                _ => Err(mismatch()),
            }));
        }
        Job::Transition(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Transition(o) => Ok(o),
                _ => Err(mismatch()),
            }));
        }
        Job::Consents(_, reply) | Job::Read(_, _, reply) | Job::Event(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Done => Ok(()),
                _ => Err(mismatch()),
            }));
        }
        Job::Delivery(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Delivery(o) => Ok(o),
                _ => Err(mismatch()),
            }));
        }
        Job::Revoke(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Revoke(o) => Ok(o),
                _ => Err(mismatch()),
            }));
        }
        Job::Erase(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Erase(n) => Ok(n),
                _ => Err(mismatch()),
            }));
        }
        Job::Close(reply) => {
            let _ = reply.send(());
        }
    }
}

/// History rows to insert, as the columns of one `UNNEST`.
#[derive(Default)]
pub(super) struct TransitionRows {
    pub(super) seqs: Vec<i64>,
    pub(super) statuses: Vec<&'static str>,
    pub(super) ats: Vec<DateTime<Utc>>,
    pub(super) actors: Vec<String>,
    pub(super) reasons: Vec<Option<String>>,
    pub(super) codes: Vec<Option<String>>,
}

impl TransitionRows {
    /// Adds `transition` as the history's row `seq`.
    pub(super) fn push(&mut self, seq: usize, transition: &Transition) -> Result<(), StoreError> {
        self.seqs.push(codec::bigint(seq, "a history's length")?);
        self.statuses.push(transition.to.code());
        self.ats.push(transition.at);
        self.actors.push(codec::actor(&transition.by));
        self.reasons
            .push(transition.reason.as_ref().map(|r| r.as_str().to_owned()));
        self.codes.push(transition.reason_code.clone());
        Ok(())
    }
}

/// Outbox rows to queue (each with the kind to store), as the columns of one `UNNEST`.
#[derive(Default)]
pub(super) struct OutboxRows {
    pub(super) referrals: Vec<Uuid>,
    pub(super) recipients: Vec<String>,
    pub(super) kinds: Vec<&'static str>,
    pub(super) transitions: Vec<Option<i64>>,
}

impl OutboxRows {
    /// Adds `item`, stored as `kind`.
    pub(super) fn push(&mut self, item: &OutboxItem, kind: OutboxKind) {
        let (kind, transition) = codec::outbox_kind(kind);
        self.referrals.push(item.referral.as_uuid());
        self.recipients.push(item.recipient.as_str().to_owned());
        self.kinds.push(kind);
        self.transitions.push(transition);
    }
}

/// The history of a referral as stored, or `None` when there is no such referral.
pub(crate) async fn load_history(
    conn: &mut PgConnection,
    id: ReferralId,
) -> Result<Option<StatusHistory>, StoreError> {
    static LOAD_HISTORY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT {} FROM status_transitions WHERE referral_id = $1",
            codec::HISTORY_ARRAYS
        )
    });
    let arrays: codec::HistoryArrays = sqlx::query_as(LOAD_HISTORY.as_str())
        .bind(id.as_uuid())
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    codec::history_from_arrays(arrays, id)
}

pub(super) async fn consent_in(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    id: ConsentId,
    consent: &Consent,
    imported_by: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (grantee_kind, grantee) = codec::grantee(&consent.grantee);
    sqlx::query(
        "INSERT INTO consents (id, resident, grantee_kind, grantee, purpose, effect, categories, \
         valid_from, valid_until, recorded_by, evidence, revoked_at, recorded_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id.0)
    .bind(consent.resident.as_str())
    .bind(grantee_kind)
    .bind(&grantee)
    .bind(consent.purpose.code())
    .bind(codec::effect(consent.effect))
    .bind(codec::categories(consent.categories))
    .bind(consent.valid_from)
    .bind(consent.valid_until)
    .bind(consent.recorded_by.as_str())
    .bind(consent.evidence.as_ref().map(|e| e.as_str()))
    .bind(consent.revoked_at)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
    let mut recorded = AuditDraft::new(now, AuditAction::ConsentRecorded)
        .partner(&consent.recorded_by)
        .resident(Some(chain.pseudonym(&consent.resident)))
        .detail("consent_id", id)
        .detail("grantee", format!("{grantee_kind}:{grantee}"))
        .detail("purpose", consent.purpose.code())
        .detail("effect", codec::effect(consent.effect))
        .detail("categories", codec::categories(consent.categories));
    if consent.evidence.is_some() {
        recorded = recorded.detail("evidence", "present");
    }
    if let Some(by) = imported_by {
        recorded = recorded.detail("imported_by", by);
    }
    chain.append(recorded);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wijkbrug_adapters::model::{Actor, ReferralStatus};

    fn complete(row: i64) -> Job {
        let job = DeliveryJob::Complete {
            row,
            worker: "w".to_owned(),
            now: crate::store::now(),
        };
        Job::Delivery(Box::new(job), oneshot::channel().0)
    }

    fn accepted(id: ReferralId) -> Job {
        let job = TransitionJob {
            id,
            transition: Transition {
                to: ReferralStatus::Accepted,
                at: crate::store::now(),
                by: Actor::Gateway,
                reason: None,
                reason_code: None,
            },
            notify: Vec::new(),
        };
        Job::Transition(Box::new(job), oneshot::channel().0)
    }

    #[test]
    fn a_batch_names_its_histories_only_when_reading_them_together_can_save_a_round_trip() {
        let id = ReferralId::from_parts(1_790_000_000_000, [7; 10]);
        // One finished delivery: read (or not) when it is known what the row is.
        assert_eq!(named_histories(&[complete(7)]), (vec![], vec![]));
        // Two: one read for both.
        assert_eq!(
            named_histories(&[complete(7), complete(9)]),
            (vec![], vec![7, 9])
        );
        // A status change reads its history anyway: the delivery's comes with it.
        assert_eq!(
            named_histories(&[accepted(id), complete(7)]),
            (vec![id.as_uuid()], vec![7])
        );
        // A retry later moves no referral on.
        let retry = DeliveryJob::RetryLater {
            row: 3,
            worker: "w".to_owned(),
            next_attempt_at: crate::store::now(),
            error: "HTTP 503".to_owned(),
        };
        let retry = Job::Delivery(Box::new(retry), oneshot::channel().0);
        assert_eq!(
            named_histories(&[retry, complete(7), complete(9)]),
            (vec![], vec![7, 9])
        );
    }
}
