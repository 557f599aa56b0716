//! Retention in SQLite: erasing the payloads of referrals that are done, and giving the space
//! back.
//!
//! An erasure runs in the single writer, in one transaction with its audit events
//! ([`erase_in`]). What goes: `referrals.request` (set to `''`: the column is `NOT NULL`),
//! `referrals.shared` (`''` when there was a copy, so the shared-copy check still holds) and
//! the reason texts of the status history (free text that may name the resident; the reason
//! codes stay). What stays: the row's ids, partners, status and times (`erased_at` is set),
//! the history's statuses, times and actors, the outbox rows (pending ones are cancelled, dead
//! letters discarded: nothing is left to deliver), consents (proof) and the audit log.
//!
//! The freed pages are returned to the file system by `PRAGMA incremental_vacuum`
//! ([`reclaim`]), which needs `auto_vacuum = INCREMENTAL`: new databases get it from the
//! connection options; an older database (`auto_vacuum = NONE`) is converted once at open by
//! a full `VACUUM` ([`ensure_incremental_vacuum`]), outside any transaction (a `VACUUM` cannot
//! run inside one, so it cannot be a migration).

use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use super::audit::Chain;
use rusqlite::params;

use super::codec::{self, corrupt, ts, unavailable};
use super::direct;
use crate::audit::{AuditAction, AuditDraft};
use crate::store::{ReferralMeta, StoreError, RETAINED_STATUSES};

/// An erasure, as the writer runs it.
pub(crate) struct EraseJob {
    pub older_than: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub limit: usize,
}

/// A referral to erase: id, sender, status, request.
type Candidate = (String, String, String, String);

/// The referrals to erase: done (one of [`RETAINED_STATUSES`]), not erased yet, last changed
/// before `?1`, oldest change first, at most `?2`. Its conditions are those of the partial
/// index `referrals_retention` (migrations/sqlite/0012_no_in_lists.sql) word for word, so the
/// index serves it.
pub(super) fn candidates_sql() -> String {
    let statuses = RETAINED_STATUSES
        .iter()
        .map(|s| format!("status = '{}'", s.code()))
        .collect::<Vec<_>>()
        .join(" OR ");
    // The codes are the model's constants, not input: building the list into the SQL is safe.
    format!(
        "SELECT id, sender, status, request FROM referrals \
         WHERE erased_at IS NULL AND ({statuses}) AND updated_at < ? \
         ORDER BY updated_at, id LIMIT ?"
    )
}

/// Erases up to `job.limit` payloads in the writer's transaction; how many.
pub(crate) fn erase_in(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    job: &EraseJob,
) -> Result<u64, StoreError> {
    let limit = i64::try_from(job.limit).unwrap_or(i64::MAX);
    if limit == 0 {
        return Ok(0);
    }
    let candidates: Vec<Candidate> =
        direct::all(conn, &candidates_sql(), params![ts(job.older_than), limit])?;
    let erased_at = ts(job.now);
    let mut erased = 0u64;
    let run = |sql: &str, id: &str| direct::execute(conn, sql, [id]);
    for (id, sender, status, request) in candidates {
        let referral = codec::parse_referral_id(&id, "referrals.id")?;
        let sender = codec::parse_partner(&sender, "referrals.sender")?;
        // The resident's pseudonym, so the erasure shows in their processing log. A request
        // that does not decode is erased all the same (its pseudonym is then unknown).
        let resident = codec::request_from_json(&request, referral, "referrals.request")
            .ok()
            .and_then(|r| r.resident.identity.map(|i| chain.pseudonym(&i.bsn)));

        direct::execute(
            conn,
            "UPDATE referrals SET request = '', \
             shared = CASE WHEN shared IS NULL THEN NULL ELSE '' END, erased_at = ? \
             WHERE id = ? AND erased_at IS NULL",
            params![erased_at, id],
        )?;
        let reasons = run(
            "UPDATE status_transitions SET reason = NULL \
             WHERE referral_id = ? AND reason IS NOT NULL",
            &id,
        )?;
        let cancelled = run(
            "UPDATE outbox SET state = 'cancelled', locked_by = NULL, locked_until = NULL \
             WHERE referral_id = ? AND state = 'pending'",
            &id,
        )?;
        let discarded = run(
            "UPDATE outbox SET state = 'discarded', locked_by = NULL, locked_until = NULL \
             WHERE referral_id = ? AND state = 'dead'",
            &id,
        )?;

        let event = AuditDraft::new(job.now, AuditAction::PayloadErased)
            .partner(&sender)
            .referral(referral)
            .resident(resident)
            .detail("status", &status)
            .detail("older_than", ts(job.older_than))
            .detail("reasons_erased", reasons)
            .detail("cancelled_deliveries", cancelled)
            .detail("discarded_dead_letters", discarded);
        chain.append(conn, event)?;
        erased += 1;
    }
    Ok(erased)
}

/// A `referrals` row's metadata.
type MetaRow = (
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
);

/// A referral's metadata, read on `conn` (a reader's: one row by key, no payload decoded).
pub(crate) fn meta(
    conn: &rusqlite::Connection,
    id: wijkbrug_adapters::model::ReferralId,
) -> Result<Option<ReferralMeta>, StoreError> {
    let row: Option<MetaRow> = direct::optional(
        conn,
        "SELECT sender, receiver, status, received_at, updated_at, erased_at \
         FROM referrals WHERE id = ?",
        [id.to_string()],
    )?;
    let Some((sender, receiver, status, received_at, updated_at, erased_at)) = row else {
        return Ok(None);
    };
    Ok(Some(ReferralMeta {
        id,
        sender: codec::parse_partner(&sender, "referrals.sender")?,
        receiver: receiver
            .map(|r| codec::parse_partner(&r, "referrals.receiver"))
            .transpose()?,
        status: status
            .parse()
            .map_err(|_| corrupt("referrals.status is not a status"))?,
        received_at: codec::parse_ts(&received_at, "referrals.received_at")?,
        updated_at: codec::parse_ts(&updated_at, "referrals.updated_at")?,
        erased_at: codec::parse_opt_ts(erased_at.as_deref(), "referrals.erased_at")?,
    }))
}

/// `PRAGMA incremental_vacuum`: gives every free page back; how many there were.
pub(crate) async fn reclaim(pool: &SqlitePool) -> Result<u64, StoreError> {
    let mut conn = pool.acquire().await.map_err(unavailable)?;
    let (free,): (i64,) = sqlx::query_as("PRAGMA freelist_count")
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    if free > 0 {
        // Stepped to the end by `execute`: every free page is released, not just one.
        sqlx::query("PRAGMA incremental_vacuum")
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
    }
    Ok(u64::try_from(free).unwrap_or(0))
}

/// Makes sure the database's `auto_vacuum` is INCREMENTAL. The connection options ask for it,
/// which takes effect on a new (empty) database; an existing database made with `NONE` needs
/// one full `VACUUM` to change, run here once, outside a transaction, before the writer starts.
pub(crate) async fn ensure_incremental_vacuum(
    conn: &mut SqliteConnection,
) -> Result<(), StoreError> {
    let (mode,): (i64,) = sqlx::query_as("PRAGMA auto_vacuum")
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    // 0 NONE, 1 FULL, 2 INCREMENTAL.
    if mode == 2 {
        return Ok(());
    }
    tracing::info!("converting the database to incremental auto-vacuum (a one-off full VACUUM)");
    sqlx::query("PRAGMA auto_vacuum = INCREMENTAL")
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    sqlx::query("VACUUM")
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(())
}
