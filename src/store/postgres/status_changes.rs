//! Status changes in the writer's transaction: each judged against its referral's history in
//! memory ([`StatusChanges::stage`]), then written with others in one statement
//! ([`StatusChanges::write`]).
//!
//! A change writes the referral's new history row, its status and the outbox rows it queues.
//! Written one at a time that was a statement and a round trip to the server each, on the
//! writer's critical path: on the full path about half of a batch's statements (the
//! receivers' answers, and a `delivered` change for each referral delivery). The writer
//! stages a batch's changes and writes them together, in their order, before a job that may
//! read or write what they change and at the end of the batch (`writer::execute_in`): the
//! history rows and outbox rows in one `INSERT` each, the referrals in one `UPDATE` (each
//! referral once, with the status of its last change), the same rows as one at a time. A
//! change is judged against the history as this transaction has it: after a change is
//! applied, its history stays in memory as the server will store it (the new entry's time to
//! the microsecond), so a later change of the same referral in the batch, staged or written,
//! is judged against it without reading it again ([`Histories`]).

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use wijkbrug_adapters::model::StatusHistory;

use super::audit::Chain;
use super::codec::{corrupt, unavailable};
use super::histories::Histories;
use super::writer::{OutboxRows, TransitionJob, TransitionRows};
use crate::store::status_event::status_changed;
use crate::store::{OutboxKind, StoreError, TransitionOutcome};

/// Status changes staged and not yet written, in their order (a referral may have several).
#[derive(Default)]
pub(super) struct StatusChanges {
    /// The referral of each history row (one row per change).
    referrals: Vec<Uuid>,
    history: TransitionRows,
    outbox: OutboxRows,
    /// When each outbox row was queued.
    queued_at: Vec<DateTime<Utc>>,
    /// Each referral changed, once, with the status and time of its last change.
    updated: Vec<Uuid>,
    update_statuses: Vec<&'static str>,
    update_ats: Vec<DateTime<Utc>>,
}

/// [`StatusChanges::write`]: the history rows (`$1`–`$7`), the outbox rows in their order
/// (`$8`–`$12`), and each referral's new status and time (`$13`–`$15`, a referral once).
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
     FROM UNNEST($13::uuid[], $14::text[], $15::timestamptz[]) AS c (id, status, at) \
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
        histories.keep(job.id, as_stored(&history)?);
        self.update(id, job.transition.to.code(), job.transition.at);
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
        Ok(TransitionOutcome::Applied(history))
    }

    /// Sets referral `id`'s status and time to write: an `UPDATE ... FROM` that joins a row
    /// twice changes it once, with either, so each referral is named once, with its last.
    fn update(&mut self, id: Uuid, status: &'static str, at: DateTime<Utc>) {
        match self.updated.iter().position(|u| *u == id) {
            Some(i) => {
                self.update_statuses[i] = status;
                self.update_ats[i] = at;
            }
            None => {
                self.updated.push(id);
                self.update_statuses.push(status);
                self.update_ats.push(at);
            }
        }
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
            .bind(staged.updated)
            .bind(staged.update_statuses)
            .bind(staged.update_ats)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// `history`, just changed, as the server stores it and answers it when read: the new
/// entry's time to the microsecond (`timestamptz`; the earlier entries were read from the
/// server, or are its own earlier changes made so).
fn as_stored(history: &StatusHistory) -> Result<StatusHistory, StoreError> {
    let mut transitions = history.transitions().to_vec();
    if let Some(last) = transitions.last_mut() {
        last.at = last.at.trunc_subsecs(6);
    }
    // The same statuses in the same order as the history just judged legal.
    StatusHistory::from_transitions(transitions)
        .map_err(|_| corrupt("a history that was just changed is not legal"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_referral_changed_twice_is_updated_once_with_its_last_change() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_790_000_000 + s, 0).unwrap();
        let mut changes = StatusChanges::default();
        changes.update(a, "delivered", t(1));
        changes.update(b, "delivered", t(2));
        changes.update(a, "accepted", t(3));
        assert_eq!(changes.updated, [a, b]);
        assert_eq!(changes.update_statuses, ["accepted", "delivered"]);
        assert_eq!(changes.update_ats, [t(3), t(2)]);
    }
}
