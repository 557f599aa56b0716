//! The single writer: every write of the store goes through one task with its own connection,
//! so writes are serialised without lock contention, and concurrent writes share commits.
//!
//! The task takes the first job, then gathers whatever else arrives (up to `max_batch` jobs,
//! waiting at most `max_wait` for company), runs them all in one `BEGIN IMMEDIATE`
//! transaction, commits once (one fsync for the lot), and answers each caller.
//!
//! When the batch's transaction fails, nothing of it was written. If it held more than one
//! job, each job is then run again alone, in its own transaction, so one caller's bad data
//! cannot fail the others: every caller gets its own job's result, and a job that fails alone
//! is answered with its error and leaves nothing behind.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};
use wijkbrug_adapters::model::{Consent, PartnerId, ReferralId, StatusHistory, Transition};

use super::audit::Chain;
use super::codec::{self, corrupt, ts, unavailable};
use super::delivery::{self, DeliveryAnswer, DeliveryJob};
use super::retention::{erase_in, EraseJob};
use super::revoke::{revoke_in, RevokeJob};
use crate::audit::{AuditAction, AuditDraft};
use crate::store::{
    ConsentId, Intake, IntakeOutcome, OutboxItem, OutboxKind, RevokeOutcome, StoreError,
    TransitionOutcome,
};

/// Commits and intakes so far (to show that commits are shared).
#[derive(Default, Debug)]
pub(crate) struct Stats {
    pub commits: AtomicU64,
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
    /// Finish, close the connection, and stop.
    Close(oneshot::Sender<()>),
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
    pub conn: SqliteConnection,
    /// How `conn` was opened: to open it again when a failed commit left it unusable.
    pub options: SqliteConnectOptions,
    pub rx: mpsc::Receiver<Job>,
    pub max_batch: usize,
    pub max_wait: Duration,
    pub stats: Arc<Stats>,
    /// The audit chain's end: every write appends its events in its own transaction.
    pub chain: Chain,
}

impl Writer {
    pub async fn run(mut self) {
        let max_batch = self.max_batch.max(1);
        while let Some(first) = self.rx.recv().await {
            let mut batch = Vec::with_capacity(max_batch);
            let mut close = None;
            match first {
                Job::Close(reply) => close = Some(reply),
                job => batch.push(job),
            }
            let deadline = tokio::time::Instant::now() + self.max_wait;
            while close.is_none() && batch.len() < max_batch {
                // `timeout_at` polls the channel before looking at the clock, so jobs already
                // queued are taken even when `max_wait` is zero.
                match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                    Ok(Some(Job::Close(reply))) => close = Some(reply),
                    Ok(Some(job)) => batch.push(job),
                    Ok(None) | Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.process(batch).await;
            }
            if let Some(reply) = close {
                self.rx.close();
                // Answer what was queued behind the close, then stop.
                while let Some(job) = self.rx.recv().await {
                    fail(job, &closed());
                }
                let _ = self.conn.close().await;
                let _ = reply.send(());
                return;
            }
        }
        let _ = self.conn.close().await;
    }

    async fn process(&mut self, batch: Vec<Job>) {
        match self.execute(&batch).await {
            Ok(answers) => {
                for (job, answer) in batch.into_iter().zip(answers) {
                    answer_job(job, Ok(answer));
                }
            }
            Err(error) if batch.len() == 1 => {
                for job in batch {
                    fail(job, &error);
                }
            }
            Err(_) => {
                tracing::warn!(
                    jobs = batch.len(),
                    "a group commit failed; running its jobs one by one"
                );
                for job in batch {
                    let result =
                        self.execute(std::slice::from_ref(&job))
                            .await
                            .and_then(|mut answers| {
                                answers.pop().ok_or_else(|| corrupt("a job had no answer"))
                            });
                    answer_job(job, result);
                }
            }
        }
    }

    /// Runs `jobs` in one transaction and commits, or writes nothing.
    async fn execute(&mut self, jobs: &[Job]) -> Result<Vec<Answer>, StoreError> {
        let result = self.execute_in(jobs).await;
        if result.is_err() {
            // Nothing of the transaction was written, its audit events included.
            self.chain.forget();
            self.recover().await;
        }
        result
    }

    /// After a failed transaction: makes sure the connection can begin the next one. When a
    /// COMMIT fails because the disk is full (SQLITE_FULL, or an I/O error), SQLite may have
    /// rolled the transaction back itself; the driver's ROLLBACK then fails and it goes on
    /// counting a transaction that is not there, refusing every later BEGIN. Such a connection
    /// is replaced by a new one (when that fails too, the next failure tries again).
    async fn recover(&mut self) {
        // The driver queues the ROLLBACK when the transaction is dropped: a round trip makes
        // sure it ran before the connection is looked at.
        let _ = self.conn.ping().await;
        if !self.conn.is_in_transaction() {
            return;
        }
        match SqliteConnection::connect_with(&self.options).await {
            Ok(fresh) => {
                let stuck = std::mem::replace(&mut self.conn, fresh);
                drop(stuck);
                tracing::warn!("store: a failed commit left the write connection unusable; it was opened again");
            }
            Err(e) => {
                tracing::error!(error = %e, "store: the write connection could not be opened again; the next write tries again");
            }
        }
    }

    async fn execute_in(&mut self, jobs: &[Job]) -> Result<Vec<Answer>, StoreError> {
        let chain = &mut self.chain;
        let mut tx = self
            .conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)?;
        let now = ts(crate::store::now());
        let mut answers = Vec::with_capacity(jobs.len());
        let mut intakes = 0;
        for job in jobs {
            let answer = match job {
                Job::Intake(intake, _) => {
                    intakes += 1;
                    Answer::Intake(intake_in(&mut tx, chain, intake, &now).await?)
                }
                Job::Transition(t, _) => {
                    Answer::Transition(transition_in(&mut tx, chain, t, &now).await?)
                }
                Job::Consents(batch, _) => {
                    for (id, consent) in &batch.consents {
                        consent_in(
                            &mut tx,
                            chain,
                            *id,
                            consent,
                            batch.imported_by.as_deref(),
                            &now,
                        )
                        .await?;
                    }
                    Answer::Consent
                }
                Job::Read(partner, referral, _) => {
                    let read = AuditDraft::new(crate::store::now(), AuditAction::ReferralRead)
                        .partner(partner)
                        .referral(*referral);
                    chain.append(&mut tx, read).await?;
                    Answer::Read
                }
                Job::Event(draft, _) => {
                    chain.append(&mut tx, (**draft).clone()).await?;
                    Answer::Read
                }
                Job::Delivery(d, _) => Answer::Delivery(delivery::run(&mut tx, chain, d).await?),
                Job::Revoke(r, _) => Answer::Revoke(revoke_in(&mut tx, chain, r, &now).await?),
                Job::Erase(e, _) => Answer::Erase(erase_in(&mut tx, chain, e).await?),
                Job::Close(_) => return Err(corrupt("a close job inside a batch")),
            };
            answers.push(answer);
        }
        // Dropping `tx` on an early return above rolls it back.
        tx.commit().await.map_err(unavailable)?;
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
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

async fn intake_in(
    conn: &mut SqliteConnection,
    chain: &mut Chain,
    intake: &Intake,
    now: &str,
) -> Result<Vec<IntakeOutcome>, StoreError> {
    let sender = intake.sender.as_str();
    if let Some(key) = &intake.idempotency_key {
        let stored: Option<(String,)> = sqlx::query_as(
            "SELECT referral_ids FROM idempotency_keys WHERE sender = ? AND key = ?",
        )
        .bind(sender)
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
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
    for new in &intake.referrals {
        let referral = &new.referral;
        let source = &referral.request.source;
        let existing: Option<(String,)> =
            sqlx::query_as("SELECT id FROM referrals WHERE sender = ? AND source_ref = ?")
                .bind(source.partner.as_str())
                .bind(source.reference.as_str())
                .fetch_optional(&mut *conn)
                .await
                .map_err(unavailable)?;
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
        let request = codec::request_to_json(referral.id, &referral.request)?;
        let shared = match &new.shared {
            Some(s) => Some((
                s.receiver.as_str(),
                codec::request_to_json(referral.id, &s.request)?,
                codec::categories(s.categories),
                codec::categories(s.removed),
                s.consent.map(|c| c.to_string()),
            )),
            None => None,
        };
        sqlx::query(
            "INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
             shared_categories, shared_removed, consent_id, received_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(source.partner.as_str())
        .bind(source.reference.as_str())
        .bind(shared.as_ref().map(|s| s.0))
        .bind(referral.history.current().code())
        .bind(&request)
        .bind(shared.as_ref().map(|s| s.1.as_str()))
        .bind(shared.as_ref().map(|s| s.2.as_str()))
        .bind(shared.as_ref().map(|s| s.3.as_str()))
        .bind(shared.as_ref().and_then(|s| s.4.as_deref()))
        .bind(&received_at)
        .bind(&updated_at)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;

        for (seq, t) in transitions.iter().enumerate() {
            insert_transition(conn, &id, seq, t).await?;
        }
        for item in &new.outbox {
            insert_outbox(conn, item, item.kind, now).await?;
        }
        let resident = referral
            .request
            .resident
            .identity
            .as_ref()
            .map(|i| chain.pseudonym(&i.bsn));
        let at = codec::parse_ts(&received_at, "referrals.received_at")?;
        let event = |action| {
            AuditDraft::new(at, action)
                .partner(&source.partner)
                .referral(referral.id)
                .resident(resident.clone())
        };
        chain
            .append(
                conn,
                event(AuditAction::MessageReceived)
                    .detail("status", referral.history.current().code()),
            )
            .await?;
        // Consents that came with the message are stored with the referral, or not at all.
        for (consent_id, consent) in &new.consents {
            consent_in(conn, chain, *consent_id, consent, None, now).await?;
        }
        let decided_at = transitions.last().map(|t| t.at).unwrap_or(at);
        if let Some(shared) = &new.shared {
            let mut decision = event(AuditAction::ConsentDecision)
                .detail("decision", "permit")
                .detail("receiver", shared.receiver.as_str());
            decision.at = decided_at;
            if let Some(consent) = shared.consent {
                decision = decision.detail("consent_id", consent);
            }
            chain.append(conn, decision).await?;
            let mut minimised = event(AuditAction::Minimised)
                .detail("receiver", shared.receiver.as_str())
                .detail("kept", codec::categories(shared.categories))
                .detail("removed", codec::categories(shared.removed));
            minimised.at = decided_at;
            chain.append(conn, minimised).await?;
        } else if let Some(refused) = transitions
            .last()
            .filter(|t| t.to == wijkbrug_adapters::model::ReferralStatus::ConsentMissing)
        {
            let mut decision = event(AuditAction::ConsentDecision).detail("decision", "refuse");
            decision.at = decided_at;
            if let Some(code) = &refused.reason_code {
                decision = decision.detail("refusal_code", code);
            }
            chain.append(conn, decision).await?;
        }
        outcomes.push(IntakeOutcome::Created(referral.id));
    }

    if let Some(key) = &intake.idempotency_key {
        let ids: Vec<String> = outcomes.iter().map(|o| o.id().to_string()).collect();
        let ids = serde_json::to_string(&ids).map_err(|_| corrupt("referral ids as JSON"))?;
        sqlx::query(
            "INSERT INTO idempotency_keys (sender, key, referral_ids, created_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(sender)
        .bind(key)
        .bind(ids)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    }
    Ok(outcomes)
}

pub(super) async fn insert_transition(
    conn: &mut SqliteConnection,
    id: &str,
    seq: usize,
    t: &Transition,
) -> Result<(), StoreError> {
    let seq = i64::try_from(seq).map_err(|_| corrupt("history too long"))?;
    sqlx::query(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor, reason, reason_code) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id)
    .bind(seq)
    .bind(t.to.code())
    .bind(ts(t.at))
    .bind(codec::actor(&t.by))
    .bind(t.reason.as_ref().map(|r| r.as_str()))
    .bind(t.reason_code.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

pub(super) async fn insert_outbox(
    conn: &mut SqliteConnection,
    item: &OutboxItem,
    kind: OutboxKind,
    now: &str,
) -> Result<(), StoreError> {
    let (kind, transition) = codec::outbox_kind(kind);
    sqlx::query(
        "INSERT INTO outbox (referral_id, recipient, kind, transition, created_at, state, \
         attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?)",
    )
    .bind(item.referral.to_string())
    .bind(item.recipient.as_str())
    .bind(kind)
    .bind(transition)
    .bind(now)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// The history of a referral as stored, or `None` when there is no such referral.
pub(crate) async fn load_history(
    conn: &mut SqliteConnection,
    id: ReferralId,
) -> Result<Option<StatusHistory>, StoreError> {
    let rows: Vec<codec::TransitionRow> = sqlx::query_as(
        "SELECT status, at, actor, reason, reason_code FROM status_transitions \
         WHERE referral_id = ? ORDER BY seq",
    )
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let transitions = rows
        .into_iter()
        .map(codec::transition_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    StatusHistory::from_transitions(transitions)
        .map(Some)
        .map_err(|_| {
            corrupt(format_args!(
                "the stored history of referral {id} is illegal"
            ))
        })
}

pub(super) async fn transition_in(
    conn: &mut SqliteConnection,
    chain: &mut Chain,
    job: &TransitionJob,
    now: &str,
) -> Result<TransitionOutcome, StoreError> {
    let Some(mut history) = load_history(conn, job.id).await? else {
        return Ok(TransitionOutcome::NotFound);
    };
    if let Err(refused) = history.apply(job.transition.clone()) {
        return Ok(TransitionOutcome::Refused(refused));
    }
    let seq = history.transitions().len() - 1;
    let from = history
        .transitions()
        .len()
        .checked_sub(2)
        .and_then(|i| history.transitions().get(i))
        .map(|t| t.to.code())
        .unwrap_or_default();
    let id = job.id.to_string();
    insert_transition(conn, &id, seq, &job.transition).await?;
    let mut changed = AuditDraft::new(job.transition.at, AuditAction::StatusChanged)
        .referral(job.id)
        .detail("from", from)
        .detail("to", job.transition.to.code())
        .detail("by", codec::actor(&job.transition.by));
    if let wijkbrug_adapters::model::Actor::Partner(p) = &job.transition.by {
        changed = changed.partner(p);
    }
    if let Some(code) = &job.transition.reason_code {
        changed = changed.detail("reason_code", code);
    }
    chain.append(conn, changed).await?;
    sqlx::query("UPDATE referrals SET status = ?, updated_at = ? WHERE id = ?")
        .bind(job.transition.to.code())
        .bind(ts(job.transition.at))
        .bind(&id)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    let index = u32::try_from(seq).map_err(|_| corrupt("history too long"))?;
    for item in &job.notify {
        let kind = match item.kind {
            OutboxKind::Status { .. } => OutboxKind::Status { transition: index },
            other => other,
        };
        insert_outbox(conn, item, kind, now).await?;
    }
    Ok(TransitionOutcome::Applied(history))
}

/// Consents to record in one transaction.
pub(crate) struct ConsentBatch {
    pub consents: Vec<(ConsentId, Consent)>,
    /// The staff account that imported them (`None`: the recording partner sent it).
    pub imported_by: Option<String>,
}

async fn consent_in(
    conn: &mut SqliteConnection,
    chain: &mut Chain,
    id: ConsentId,
    consent: &Consent,
    imported_by: Option<&str>,
    now: &str,
) -> Result<(), StoreError> {
    let (grantee_kind, grantee) = codec::grantee(&consent.grantee);
    sqlx::query(
        "INSERT INTO consents (id, resident, grantee_kind, grantee, purpose, effect, categories, \
         valid_from, valid_until, recorded_by, evidence, revoked_at, recorded_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(id.to_string())
    .bind(consent.resident.as_str())
    .bind(grantee_kind)
    .bind(&grantee)
    .bind(consent.purpose.code())
    .bind(codec::effect(consent.effect))
    .bind(codec::categories(consent.categories))
    .bind(ts(consent.valid_from))
    .bind(consent.valid_until.map(ts))
    .bind(consent.recorded_by.as_str())
    .bind(consent.evidence.as_ref().map(|e| e.as_str()))
    .bind(consent.revoked_at.map(ts))
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(unavailable)?;
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
    chain.append(conn, recorded).await?;
    Ok(())
}
