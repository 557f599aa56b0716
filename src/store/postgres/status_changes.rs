//! Status changes in the writer's transaction: each judged against its referral's history in
//! memory ([`StatusChanges::stage`]), then written with others in one statement
//! ([`StatusChanges::write`]).
//!
//! A change writes the referral's new history row, its status and the outbox rows it queues.
//! Written one at a time that was a statement and a round trip to the server each, on the
//! writer's critical path: on the full path about half of a batch's statements (the
//! receivers' answers, and a `delivered` change for each referral delivery). Changes of
//! different referrals are independent of one another (each reads and writes only its own
//! referral's history and status, and queues outbox rows), so those that follow one another
//! are written together, in their order: the history rows and outbox rows in one `INSERT`
//! each, the referrals in one `UPDATE`, the same rows as one at a time. A change of a
//! referral already staged first writes what is staged: it is judged against the history as
//! stored, its staged change included ([`Histories`]' rule).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::Chain;
use super::codec::{corrupt, unavailable};
use super::histories::Histories;
use super::writer::{OutboxRows, TransitionJob, TransitionRows};
use crate::store::status_event::status_changed;
use crate::store::{OutboxKind, StoreError, TransitionOutcome};

/// Status changes staged and not yet written, each of another referral.
#[derive(Default)]
pub(super) struct StatusChanges {
    /// The referral of each history row (one row per change).
    referrals: Vec<Uuid>,
    history: TransitionRows,
    outbox: OutboxRows,
    /// When each outbox row was queued.
    queued_at: Vec<DateTime<Utc>>,
}

/// [`StatusChanges::write`]: the history rows (`$1`–`$7`), the outbox rows in their order
/// (`$8`–`$12`), and each referral's status and time from its history row.
const WRITE: &str = "WITH history AS (\
    INSERT INTO status_transitions (referral_id, seq, status, at, actor, reason, reason_code) \
     SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[], \
     $5::text[], $6::text[], $7::text[])), \
   queued AS (\
    INSERT INTO outbox (referral_id, recipient, kind, transition, created_at, state, attempts, \
     next_attempt_at) SELECT o.r, o.p, o.k, o.t, o.c, 'pending', 0, o.c \
     FROM UNNEST($8::uuid[], $9::text[], $10::text[], $11::bigint[], $12::timestamptz[]) \
     WITH ORDINALITY AS o (r, p, k, t, c, n) ORDER BY o.n) \
   UPDATE referrals AS r SET status = c.status, updated_at = c.at \
     FROM UNNEST($1::uuid[], $3::text[], $4::timestamptz[]) AS c (id, status, at) \
     WHERE r.id = c.id";

impl StatusChanges {
    /// Judges `job`'s transition against its referral's history as this transaction has it
    /// (from `histories`, or read) and, if it is legal now, stages it with the outbox rows it
    /// queues (at `now`) and appends its audit event.
    pub(super) async fn stage(
        &mut self,
        conn: &mut PgConnection,
        chain: &mut Chain<'_>,
        histories: &mut Histories,
        job: &TransitionJob,
        now: DateTime<Utc>,
    ) -> Result<TransitionOutcome, StoreError> {
        let id = job.id.as_uuid();
        if self.referrals.contains(&id) {
            self.write(conn).await?;
        }
        let Some(mut history) = histories.take(conn, job.id).await? else {
            return Ok(TransitionOutcome::NotFound);
        };
        if let Err(refused) = history.apply(job.transition.clone()) {
            // `apply` changes nothing when it refuses.
            histories.keep(job.id, history);
            return Ok(TransitionOutcome::Refused(refused));
        }
        let seq = history.transitions().len() - 1;
        if let Some(changed) = status_changed(job.id, &history) {
            chain.append(changed);
        }
        let index = u32::try_from(seq).map_err(|_| corrupt("history too long"))?;
        self.referrals.push(id);
        self.history.push(seq, &job.transition)?;
        for item in &job.notify {
            let kind = match item.kind {
                OutboxKind::Status { .. } => OutboxKind::Status { transition: index },
                other => other,
            };
            self.outbox.push(item, kind);
            self.queued_at.push(now);
        }
        // Not kept in `histories`: a later job of the batch about this referral reads the
        // history as stored (times as the server keeps them, to the microsecond).
        Ok(TransitionOutcome::Applied(history))
    }

    /// Writes the staged changes in one statement (none when nothing is staged) and empties
    /// the stage.
    pub(super) async fn write(&mut self, conn: &mut PgConnection) -> Result<(), StoreError> {
        if self.referrals.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(self);
        sqlx::query(WRITE)
            .bind(staged.referrals)
            .bind(staged.history.seqs)
            .bind(staged.history.statuses)
            .bind(staged.history.ats)
            .bind(staged.history.actors)
            .bind(staged.history.reasons)
            .bind(staged.history.codes)
            .bind(staged.outbox.referrals)
            .bind(staged.outbox.recipients)
            .bind(staged.outbox.kinds)
            .bind(staged.outbox.transitions)
            .bind(staged.queued_at)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Appends `job`'s transition to its referral's history if it is legal now, with the outbox
/// rows it queues and its audit event: [`StatusChanges`] of one.
pub(super) async fn transition_in(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    job: &TransitionJob,
    now: DateTime<Utc>,
) -> Result<TransitionOutcome, StoreError> {
    let mut changes = StatusChanges::default();
    let outcome = changes.stage(conn, chain, histories, job, now).await?;
    changes.write(conn).await?;
    Ok(outcome)
}
