//! Retention in PostgreSQL: erasing the payloads of referrals that are done, and making the
//! space reusable.
//!
//! The erasure is the SQLite store's (`store/sqlite/retention.rs`), as a job of the writer:
//! `request` becomes `''`, `shared` `''` when there was a copy, the reason texts of the history
//! go, pending deliveries are cancelled and dead letters discarded, one `payload_erased` audit
//! event each, in one transaction.
//!
//! Space: PostgreSQL never gives space back on commit; a row's old version (here, the large
//! TOASTed request and shared copy) stays until VACUUM marks it free for new rows.
//! Autovacuum gets there on its own, once a table's dead rows pass its threshold (20% of the
//! table by default: late, for a large `referrals` table). So [`reclaim`] runs a plain
//! `VACUUM` of the three tables an erasure changes right after erasures happened (and only
//! then: a run that erased nothing costs nothing). A plain VACUUM takes no lock that blocks
//! reads or writes; the space it frees is reused by new referrals, and only empty pages at a
//! table's end go back to the file system. The figure answered is how many 8 KiB pages the
//! three tables (with their TOAST and indexes) shrank by, which is usually 0: the space is
//! reused, not returned. (`VACUUM FULL` would return it, but locks the tables: a job for a
//! maintenance window, not for the gateway.)

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::audit::Chain;
use super::codec::{self, corrupt, unavailable};
use crate::audit::{AuditAction, AuditDraft};
use crate::store::{ReferralMeta, StoreError, RETAINED_STATUSES};

/// An erasure, as the writer runs it.
pub(crate) struct EraseJob {
    pub older_than: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub limit: usize,
}

/// A referral to erase: id, sender, status, request.
type Candidate = (Uuid, String, String, String);

/// The referrals to erase: done (one of [`RETAINED_STATUSES`]), not erased yet, last changed
/// before `$1`, oldest change first, at most `$2`. Its conditions are those of the partial
/// index `referrals_retention` (migrations/postgres/1004_write_path.sql), so the planner can
/// prove the index holds every row it wants (a list bound as a parameter could not be).
pub(crate) fn candidates_sql() -> String {
    let statuses = RETAINED_STATUSES
        .iter()
        .map(|s| format!("'{}'", s.code()))
        .collect::<Vec<_>>()
        .join(", ");
    // The codes are the model's constants, not input: building the list into the SQL is safe.
    format!(
        "SELECT id, sender, status, request FROM referrals \
         WHERE erased_at IS NULL AND status IN ({statuses}) AND updated_at < $1 \
         ORDER BY updated_at, id LIMIT $2"
    )
}

/// Erases up to `job.limit` payloads in the writer's transaction; how many.
pub(crate) async fn erase_in(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    job: &EraseJob,
) -> Result<u64, StoreError> {
    if job.limit == 0 {
        return Ok(0);
    }
    let candidates: Vec<Candidate> = sqlx::query_as(&candidates_sql())
        .bind(job.older_than)
        .bind(codec::limit(job.limit))
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    let mut erased = 0u64;
    for (id, sender, status, request) in candidates {
        let referral = codec::referral_id(id, "referrals.id")?;
        let sender = codec::parse_partner(&sender, "referrals.sender")?;
        // The resident's pseudonym, so the erasure shows in their processing log. A request
        // that does not decode is erased all the same (its pseudonym is then unknown).
        let resident = codec::request_from_json(&request, referral, "referrals.request")
            .ok()
            .and_then(|r| r.resident.identity.map(|i| chain.pseudonym(&i.bsn)));

        sqlx::query(
            "UPDATE referrals SET request = '', \
             shared = CASE WHEN shared IS NULL THEN NULL ELSE '' END, erased_at = $1 \
             WHERE id = $2 AND erased_at IS NULL",
        )
        .bind(job.now)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;
        let reasons = sqlx::query(
            "UPDATE status_transitions SET reason = NULL \
             WHERE referral_id = $1 AND reason IS NOT NULL",
        )
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?
        .rows_affected();
        let (cancelled, discarded): (i64, i64) = sqlx::query_as(
            "WITH changed AS (UPDATE outbox SET \
             state = CASE state WHEN 'pending' THEN 'cancelled' ELSE 'discarded' END, \
             locked_by = NULL, locked_until = NULL \
             WHERE referral_id = $1 AND state IN ('pending', 'dead') RETURNING state) \
             SELECT count(*) FILTER (WHERE state = 'cancelled'), \
             count(*) FILTER (WHERE state = 'discarded') FROM changed",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;

        chain.append(
            AuditDraft::new(job.now, AuditAction::PayloadErased)
                .partner(&sender)
                .referral(referral)
                .resident(resident)
                .detail("status", &status)
                .detail("older_than", crate::audit::timestamp(job.older_than))
                .detail("reasons_erased", reasons)
                .detail("cancelled_deliveries", cancelled)
                .detail("discarded_dead_letters", discarded),
        );
        erased += 1;
    }
    Ok(erased)
}

/// A `referrals` row's metadata.
type MetaRow = (
    String,
    Option<String>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub(crate) async fn meta(
    pool: &PgPool,
    id: wijkbrug_adapters::model::ReferralId,
) -> Result<Option<ReferralMeta>, StoreError> {
    let row: Option<MetaRow> = sqlx::query_as(
        "SELECT sender, receiver, status, received_at, updated_at, erased_at \
         FROM referrals WHERE id = $1",
    )
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
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
        received_at,
        updated_at,
        erased_at,
    }))
}

/// The tables an erasure changes.
const ERASED_TABLES: &str = "referrals, status_transitions, outbox";

/// Erasures since the last [`reclaim`] of this store handle.
#[derive(Debug, Default)]
pub(crate) struct Erased(AtomicU64);

impl Erased {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

/// A plain `VACUUM` of the tables erasures changed, when this handle erased anything since
/// the last one; how many 8 KiB pages the tables' files shrank by.
pub(crate) async fn reclaim(pool: &PgPool, erased: &Erased) -> Result<u64, StoreError> {
    let since = erased.0.swap(0, Ordering::Relaxed);
    if since == 0 {
        return Ok(0);
    }
    let size = format!(
        "SELECT COALESCE(sum(pg_total_relation_size(t::regclass)), 0)::bigint \
         FROM unnest(string_to_array('{ERASED_TABLES}', ', ')) AS t"
    );
    let mut conn = pool.acquire().await.map_err(unavailable)?;
    let (before,): (i64,) = sqlx::query_as(&size)
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    // Not inside a transaction (VACUUM cannot be): one statement on its own.
    let vacuumed = sqlx::query(&format!("VACUUM {ERASED_TABLES}"))
        .execute(&mut *conn)
        .await;
    if let Err(e) = vacuumed {
        // Let the next run try again.
        erased.add(since);
        return Err(unavailable(e));
    }
    let (after,): (i64,) = sqlx::query_as(&size)
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    Ok(u64::try_from((before - after).max(0) / 8192).unwrap_or(0))
}
