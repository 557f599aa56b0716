//! The single writer: every write of the store goes through one thread with its own direct
//! connection ([`super::direct`]), so writes are serialised without lock contention, and
//! concurrent writes share commits. Callers send jobs over a channel and await the answer; the
//! whole batch then runs on the writer's thread, statement after statement, without a hand-over
//! per statement.
//!
//! The thread takes the first job, then gathers whatever else arrives (up to `max_batch` jobs,
//! waiting at most `max_wait` for company), runs them all in one `BEGIN IMMEDIATE`
//! transaction, commits once (one fsync for the lot), and answers each caller. Jobs queue in
//! two lanes ([`crate::store::writer_queue`]): work on referrals already stored is taken
//! before new intakes.
//!
//! When the batch's transaction fails, nothing of it was written. If it held more than one
//! job, each job is then run again alone, in its own transaction, so one caller's bad data
//! cannot fail the others: every caller gets its own job's result, and a job that fails alone
//! is answered with its error and leaves nothing behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::path::{Path, PathBuf};

use rusqlite::params;
use tokio::sync::oneshot;
use wijkbrug_adapters::model::{Consent, PartnerId, ReferralId, StatusHistory, Transition};

use super::audit::Chain;
use super::checkpointer::{Checkpointer, WRITER_FALLBACK_PAGES};
use super::codec::{self, corrupt, failed, ts};
use super::counts::Counts;
use super::delivery::{self, DeliveryAnswer, DeliveryJob};
use super::direct;
use super::retention::{erase_in, EraseJob};
use super::revoke::{revoke_in, RevokeJob};
use super::BUSY_TIMEOUT;
use crate::audit::{AuditAction, AuditDraft};
use crate::store::status_event::{intake_events, status_changed};
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
    /// WAL checkpoints run by [`super::checkpointer`].
    pub checkpoints: AtomicU64,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write, with where to send its result.
pub(crate) enum Job {
    Intake(Box<EncodedIntake>, Reply<Vec<IntakeOutcome>>),
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
    /// Finish, close the connection, and stop.
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

/// An intake with its referrals' requests already encoded as stored (by the caller, on its
/// own thread: the writer's thread is the one every write waits for).
pub(crate) struct EncodedIntake {
    pub intake: Intake,
    /// Per referral, in order: the request as received, and the shared copy if there is one.
    pub requests: Vec<(String, Option<String>)>,
}

impl EncodedIntake {
    pub fn new(intake: Intake) -> Result<Self, StoreError> {
        let requests = intake
            .referrals
            .iter()
            .map(|new| {
                let id = new.referral.id;
                Ok((
                    codec::request_to_json(id, &new.referral.request)?,
                    new.shared
                        .as_ref()
                        .map(|s| codec::request_to_json(id, &s.request))
                        .transpose()?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Self { intake, requests })
    }
}

pub(crate) struct TransitionJob {
    pub id: ReferralId,
    pub transition: Transition,
    pub notify: Vec<OutboxItem>,
}

/// A job's result, before it is sent.
enum Answer {
    Intake(Vec<IntakeOutcome>),
    Transition(TransitionOutcome),
    Consent,
    Read,
    Delivery(DeliveryAnswer),
    Revoke(Option<RevokeOutcome>),
    Erase(u64),
}

pub(crate) struct Writer {
    pub conn: rusqlite::Connection,
    /// The database file: to open it again when a failed commit left `conn` unusable.
    pub path: PathBuf,
    pub rx: JobQueue<Job>,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub stats: Arc<Stats>,
    /// The audit chain's end: every write appends its events in its own transaction.
    pub chain: Chain,
    /// Told of every commit; copies the WAL into the database beside the writer.
    pub checkpointer: Checkpointer,
    /// The dashboard's counts, kept for this connection's changes (its triggers are off).
    pub counts: Counts,
}

/// The writer's page cache, in KiB: the pages its inserts touch stay in memory rather than be
/// read again.
const WRITER_CACHE_KIB: u32 = 16 * 1024;

/// Opens the writer's own connection to `path`, through [`super::wal_gather`]'s VFS (a commit's
/// WAL writes in one system call): WAL, `synchronous = FULL` (a commit is on disk when it
/// returns, which the VFS relies on), foreign keys on, the same busy timeout as the pool's. Checkpoints are
/// [`super::checkpointer`]'s; the writer runs one itself only when the WAL has grown to
/// [`WRITER_FALLBACK_PAGES`]. Temporary storage
/// is in memory: a statement inside the batch's transaction that fires triggers keeps the
/// pages it changes in a statement journal (to undo that statement alone), and on a file that
/// journal (past its first 64 KiB) costs a write system call per page.
pub(crate) fn connect(
    path: &Path,
    busy_timeout: Duration,
) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open_with_flags_and_vfs(
        path,
        rusqlite::OpenFlags::default(),
        super::wal_gather::name()?,
    )
    .map_err(failed)?;
    conn.busy_timeout(busy_timeout).map_err(failed)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -{WRITER_CACHE_KIB}; PRAGMA temp_store = MEMORY; \
         PRAGMA wal_autocheckpoint = {WRITER_FALLBACK_PAGES};"
    ))
    .map_err(failed)?;
    conn.set_prepared_statement_cache_capacity(direct::STATEMENT_CACHE);
    Ok(conn)
}

impl Writer {
    /// Starts the writer on a thread of its own, scheduled for prompt wake-ups
    /// ([`crate::store::writer_scheduling`]); it runs until [`Job::Close`] or until every
    /// sender is dropped.
    pub fn spawn(self) -> Result<(), StoreError> {
        std::thread::Builder::new()
            .name("store-writer".to_owned())
            .spawn(move || {
                crate::store::writer_scheduling::prefer_prompt_wakeups();
                self.run();
            })
            .map(drop)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the store's writer: {e}")))
    }

    fn run(mut self) {
        let max_batch = self.max_batch.max(1);
        loop {
            // Under load, jobs queue up while a batch runs and commits, and the next batch is
            // simply what has queued (no waiting adds to it). When the writer was idle, the
            // first job waits up to `max_wait` for company, so writes arriving close together
            // still share a commit.
            let idle = self.rx.is_empty();
            let Some(first) = self.rx.take_blocking() else {
                break;
            };
            let mut batch = Vec::with_capacity(max_batch);
            let mut close = None;
            match first {
                Job::Close(reply) => close = Some(reply),
                job => batch.push(job),
            }
            let deadline = (idle && !self.max_wait.is_zero())
                .then(|| std::time::Instant::now() + self.max_wait);
            while close.is_none() && batch.len() < max_batch {
                let next = match deadline {
                    Some(deadline) => self.rx.take_blocking_until(Some(deadline)),
                    None => self.rx.try_take_for(&batch, max_batch),
                };
                match next {
                    Some(Job::Close(reply)) => close = Some(reply),
                    Some(job) => batch.push(job),
                    None => break,
                }
            }
            if !batch.is_empty() {
                self.process(batch);
            }
            if let Some(reply) = close {
                // Close the queue (every later send is refused), finish the work on stored
                // referrals still queued, refuse the intakes queued behind the close, stop.
                let (finish, refuse) = self.rx.close(max_batch);
                for batch in finish {
                    self.process(batch);
                }
                for job in refuse {
                    fail(job, &closed());
                }
                drop(self.rx);
                self.checkpointer.stop();
                let _ = self.conn.close();
                let _ = reply.send(());
                return;
            }
        }
    }

    fn process(&mut self, batch: Vec<Job>) {
        let started = std::time::Instant::now();
        let results: Vec<Result<Answer, StoreError>> = match self.execute(&batch) {
            Ok(answers) => answers.into_iter().map(Ok).collect(),
            Err(error) if batch.len() == 1 => vec![Err(error)],
            Err(_) => {
                tracing::warn!(
                    jobs = batch.len(),
                    "a group commit failed; running its jobs one by one"
                );
                batch
                    .iter()
                    .map(|job| {
                        self.execute(std::slice::from_ref(job))
                            .and_then(|mut answers| {
                                answers.pop().ok_or_else(|| corrupt("a job had no answer"))
                            })
                    })
                    .collect()
            }
        };
        // Counted before the callers hear back, so a caller that reads the counters after its
        // answer finds its batch's time in them.
        self.stats.writer.worked(started.elapsed());
        for (job, result) in batch.into_iter().zip(results) {
            answer_job(job, result);
        }
    }

    /// Runs `jobs` in one transaction and commits, or writes nothing.
    fn execute(&mut self, jobs: &[Job]) -> Result<Vec<Answer>, StoreError> {
        let result = self.execute_in(jobs);
        if result.is_err() {
            // Nothing of the transaction was written, its audit events included.
            self.chain.forget();
            self.recover();
        }
        result
    }

    /// After a failed transaction: makes sure the connection can begin the next one. When a
    /// COMMIT fails because the disk is full (SQLITE_FULL, or an I/O error), the transaction
    /// may be left open on the connection, refusing every later BEGIN. Such a connection is
    /// replaced by a new one (when that fails too, the next failure tries again).
    fn recover(&mut self) {
        if self.conn.is_autocommit() {
            return;
        }
        if self.conn.execute_batch("ROLLBACK").is_ok() && self.conn.is_autocommit() {
            return;
        }
        match connect(&self.path, BUSY_TIMEOUT) {
            Ok(fresh) => {
                if let Err(e) = self.counts.attach(&fresh) {
                    tracing::error!(error = %e, "store: the write connection could not be opened again; the next write tries again");
                    return;
                }
                let stuck = std::mem::replace(&mut self.conn, fresh);
                drop(stuck);
                tracing::warn!("store: a failed commit left the write connection unusable; it was opened again");
            }
            Err(e) => {
                tracing::error!(error = %e, "store: the write connection could not be opened again; the next write tries again");
            }
        }
    }

    fn execute_in(&mut self, jobs: &[Job]) -> Result<Vec<Answer>, StoreError> {
        let chain = &mut self.chain;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed)?;
        let conn: &rusqlite::Connection = &tx;
        // Inside the transaction, which holds the write lock: the schema the counts read is
        // the one the batch writes to.
        self.counts.begin(conn)?;
        let now = ts(crate::store::now());
        let mut answers = Vec::with_capacity(jobs.len());
        let mut intakes = 0;
        for job in jobs {
            let answer = match job {
                Job::Intake(intake, _) => {
                    intakes += 1;
                    Answer::Intake(intake_in(conn, chain, intake, &now)?)
                }
                Job::Transition(t, _) => Answer::Transition(transition_in(conn, chain, t, &now)?),
                Job::Consents(batch, _) => {
                    for (id, consent) in &batch.consents {
                        consent_in(
                            conn,
                            chain,
                            *id,
                            consent,
                            batch.imported_by.as_deref(),
                            &now,
                        )?;
                    }
                    Answer::Consent
                }
                Job::Read(partner, referral, _) => {
                    let read = AuditDraft::new(crate::store::now(), AuditAction::ReferralRead)
                        .partner(partner)
                        .referral(*referral);
                    chain.append(conn, read)?;
                    Answer::Read
                }
                Job::Event(draft, _) => {
                    chain.append(conn, (**draft).clone())?;
                    Answer::Read
                }
                Job::Delivery(d, _) => Answer::Delivery(delivery::run(conn, chain, d)?),
                Job::Revoke(r, _) => Answer::Revoke(revoke_in(conn, chain, r, &now)?),
                Job::Erase(e, _) => Answer::Erase(erase_in(conn, chain, e)?),
                Job::Close(_) => return Err(corrupt("a close job inside a batch")),
            };
            answers.push(answer);
        }
        self.counts.flush(conn)?;
        // Dropping `tx` on an early return above rolls it back.
        let committing = std::time::Instant::now();
        tx.commit().map_err(failed)?;
        self.stats
            .writer
            .committed(jobs.len(), committing.elapsed());
        self.checkpointer.committed();
        self.stats.intakes.fetch_add(intakes, Ordering::Relaxed);
        Ok(answers)
    }
}

pub(crate) fn closed() -> StoreError {
    StoreError::Unavailable("the store is closed".to_owned())
}

fn fail(job: Job, error: &StoreError) {
    answer_job(job, Err(error.clone()));
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
        Job::Consents(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Consent => Ok(()),
                _ => Err(mismatch()),
            }));
        }
        Job::Read(_, _, reply) | Job::Event(_, reply) => {
            let _ = reply.send(result.and_then(|a| match a {
                Answer::Read => Ok(()),
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

fn intake_in(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    encoded: &EncodedIntake,
    now: &str,
) -> Result<Vec<IntakeOutcome>, StoreError> {
    let intake = &encoded.intake;
    let sender = intake.sender.as_str();
    if let Some(key) = &intake.idempotency_key {
        let stored: Option<(String,)> = direct::optional(
            conn,
            "SELECT referral_ids FROM idempotency_keys WHERE sender = ? AND key = ?",
            params![sender, key],
        )?;
        if let Some((ids,)) = stored {
            let ids: Vec<String> = serde_json::from_str(&ids)
                .map_err(|_| corrupt("idempotency_keys.referral_ids is not a list"))?;
            return ids
                .iter()
                .map(|id| {
                    codec::parse_referral_id(id, "idempotency_keys.referral_ids")
                        .map(IntakeOutcome::Duplicate)
                })
                .collect();
        }
    }

    let mut outcomes = Vec::with_capacity(intake.referrals.len());
    for (new, (request, shared_request)) in intake.referrals.iter().zip(&encoded.requests) {
        let referral = &new.referral;
        let source = &referral.request.source;
        let existing: Option<(String,)> = direct::optional(
            conn,
            "SELECT id FROM referrals WHERE sender = ? AND source_ref = ?",
            params![source.partner.as_str(), source.reference.as_str()],
        )?;
        if let Some((id,)) = existing {
            outcomes.push(IntakeOutcome::Duplicate(codec::parse_referral_id(
                &id,
                "referrals.id",
            )?));
            continue;
        }

        let id = referral.id.to_string();
        let transitions = referral.history.transitions();
        let received_at = transitions
            .first()
            .map(|t| ts(t.at))
            .unwrap_or_else(|| now.to_owned());
        let updated_at = transitions
            .last()
            .map(|t| ts(t.at))
            .unwrap_or_else(|| now.to_owned());
        let shared = match (&new.shared, shared_request) {
            (Some(s), Some(json)) => Some((
                s.receiver.as_str(),
                json.as_str(),
                codec::categories(s.categories),
                codec::categories(s.removed),
                s.consent.map(|c| c.to_string()),
            )),
            (None, None) => None,
            _ => return Err(corrupt("a shared copy without its encoding")),
        };
        direct::execute(
            conn,
            "INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
             shared_categories, shared_removed, consent_id, received_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                &id,
                source.partner.as_str(),
                source.reference.as_str(),
                shared.as_ref().map(|s| s.0),
                referral.history.current().code(),
                request,
                shared.as_ref().map(|s| s.1),
                shared.as_ref().map(|s| s.2.as_str()),
                shared.as_ref().map(|s| s.3.as_str()),
                shared.as_ref().and_then(|s| s.4.as_deref()),
                &received_at,
                &updated_at
            ],
        )?;

        for (seq, t) in transitions.iter().enumerate() {
            insert_transition(conn, &id, seq, t)?;
        }
        for item in &new.outbox {
            insert_outbox(conn, item, item.kind, now)?;
        }
        let at = codec::parse_ts(&received_at, "referrals.received_at")?;
        let (received, decisions) = intake_events(new, |bsn| chain.pseudonym(bsn), at);
        chain.append(conn, received)?;
        // Consents that came with the message are stored with the referral, or not at all.
        for (consent_id, consent) in &new.consents {
            consent_in(conn, chain, *consent_id, consent, None, now)?;
        }
        for decision in decisions {
            chain.append(conn, decision)?;
        }
        outcomes.push(IntakeOutcome::Created(referral.id));
    }

    if let Some(key) = &intake.idempotency_key {
        let ids: Vec<String> = outcomes.iter().map(|o| o.id().to_string()).collect();
        let ids = serde_json::to_string(&ids).map_err(|_| corrupt("referral ids as JSON"))?;
        direct::execute(
            conn,
            "INSERT INTO idempotency_keys (sender, key, referral_ids, created_at) \
             VALUES (?, ?, ?, ?)",
            params![sender, key, ids, now],
        )?;
    }
    Ok(outcomes)
}

pub(super) fn insert_transition(
    conn: &rusqlite::Connection,
    id: &str,
    seq: usize,
    t: &Transition,
) -> Result<(), StoreError> {
    let seq = i64::try_from(seq).map_err(|_| corrupt("history too long"))?;
    direct::execute(conn, "INSERT INTO status_transitions (referral_id, seq, status, at, actor, reason, reason_code) \
         VALUES (?, ?, ?, ?, ?, ?, ?)", params![id, seq, t.to.code(), ts(t.at), codec::actor(&t.by), t.reason.as_ref().map(|r| r.as_str()), t.reason_code.as_deref()])?;
    Ok(())
}

pub(super) fn insert_outbox(
    conn: &rusqlite::Connection,
    item: &OutboxItem,
    kind: OutboxKind,
    now: &str,
) -> Result<(), StoreError> {
    let (kind, transition) = codec::outbox_kind(kind);
    direct::execute(
        conn,
        "INSERT INTO outbox (referral_id, recipient, kind, transition, created_at, state, \
         attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
        params![
            item.referral.to_string(),
            item.recipient.as_str(),
            kind,
            transition,
            now,
            now
        ],
    )?;
    Ok(())
}

/// The history of a referral as stored, or `None` when there is no such referral: inside the
/// writer's transaction, or a reader's ([`super::readers`]).
pub(super) fn history_in(
    conn: &rusqlite::Connection,
    id: ReferralId,
) -> Result<Option<StatusHistory>, StoreError> {
    let rows: Vec<codec::TransitionRow> = direct::all(conn, HISTORY, [id.to_string()])?;
    history_from_rows(rows, id)
}

pub(super) const HISTORY: &str =
    "SELECT status, at, actor, reason, reason_code FROM status_transitions \
     WHERE referral_id = ? ORDER BY seq";

fn history_from_rows(
    rows: Vec<codec::TransitionRow>,
    id: ReferralId,
) -> Result<Option<StatusHistory>, StoreError> {
    let transitions = rows
        .into_iter()
        .map(codec::transition_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    codec::stored_history(transitions, id)
}

pub(super) fn transition_in(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    job: &TransitionJob,
    now: &str,
) -> Result<TransitionOutcome, StoreError> {
    let Some(mut history) = history_in(conn, job.id)? else {
        return Ok(TransitionOutcome::NotFound);
    };
    if let Err(refused) = history.apply(job.transition.clone()) {
        return Ok(TransitionOutcome::Refused(refused));
    }
    let seq = history.transitions().len() - 1;
    let id = job.id.to_string();
    insert_transition(conn, &id, seq, &job.transition)?;
    if let Some(changed) = status_changed(job.id, &history) {
        chain.append(conn, changed)?;
    }
    direct::execute(
        conn,
        "UPDATE referrals SET status = ?, updated_at = ? WHERE id = ?",
        params![job.transition.to.code(), ts(job.transition.at), &id],
    )?;
    let index = u32::try_from(seq).map_err(|_| corrupt("history too long"))?;
    for item in &job.notify {
        let kind = match item.kind {
            OutboxKind::Status { .. } => OutboxKind::Status { transition: index },
            other => other,
        };
        insert_outbox(conn, item, kind, now)?;
    }
    Ok(TransitionOutcome::Applied(history))
}

/// Consents to record in one transaction.
pub(crate) struct ConsentBatch {
    pub consents: Vec<(ConsentId, Consent)>,
    /// The staff account that imported them (`None`: the recording partner sent it).
    pub imported_by: Option<String>,
}

fn consent_in(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    id: ConsentId,
    consent: &Consent,
    imported_by: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    let (grantee_kind, grantee) = codec::grantee(&consent.grantee);
    direct::execute(
        conn,
        "INSERT INTO consents (id, resident, grantee_kind, grantee, purpose, effect, categories, \
         valid_from, valid_until, recorded_by, evidence, revoked_at, recorded_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            id.to_string(),
            consent.resident.as_str(),
            grantee_kind,
            &grantee,
            consent.purpose.code(),
            codec::effect(consent.effect),
            codec::categories(consent.categories),
            ts(consent.valid_from),
            consent.valid_until.map(ts),
            consent.recorded_by.as_str(),
            consent.evidence.as_ref().map(|e| e.as_str()),
            consent.revoked_at.map(ts),
            now
        ],
    )?;
    let at = codec::parse_ts(now, "consents.recorded_at")?;
    let mut recorded = AuditDraft::new(at, AuditAction::ConsentRecorded)
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
    chain.append(conn, recorded)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writers_connection_is_durable_wal_with_foreign_keys_and_its_own_cache() {
        let dir = tempfile::TempDir::new().unwrap();
        let conn = connect(&dir.path().join("w.db"), Duration::from_secs(1)).unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(
                &format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}"),
                [],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        // The gathering VFS relies on it: each commit's WAL writes go out at its sync.
        assert_eq!(pragma("synchronous"), "2", "FULL");
        let before = super::super::wal_gather::wal_writes();
        conn.execute_batch("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1);")
            .unwrap();
        assert!(
            super::super::wal_gather::wal_writes() > before,
            "its WAL is written through the gathering VFS"
        );
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("cache_size"), format!("-{WRITER_CACHE_KIB}"));
        assert_eq!(pragma("temp_store"), "2", "MEMORY");
        let busy: i64 = conn
            .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
            .unwrap();
        assert_eq!(busy, 1000);
        let fallback: u32 = conn
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fallback, WRITER_FALLBACK_PAGES);
    }

    #[test]
    fn the_bundled_sqlite_is_built_with_the_projects_options() {
        // `.cargo/config.toml` sets them; a `LIBSQLITE3_FLAGS` in the environment replaces them.
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let options: Vec<String> = conn
            .prepare("PRAGMA compile_options")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for wanted in ["DEFAULT_MEMSTATUS=0", "ENABLE_PREUPDATE_HOOK"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "{wanted} in {options:?}"
            );
        }
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    #[test]
    fn a_full_disk_is_told_apart_from_other_failures() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(matches!(failed(full), StoreError::Full(_)));
        let io = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_WRITE),
            None,
        );
        assert!(matches!(failed(io), StoreError::Full(_)));
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(failed(busy), StoreError::Unavailable(_)));
    }
}
