//! [`Store::seed_benchmark_referrals`](crate::store::Store::seed_benchmark_referrals) on
//! SQLite: finished referrals written with plain SQL in one transaction, for the load
//! generator's growth runs only.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::codec::unavailable;
use crate::store::bench_seed::{SeedPlan, PARTNERS};
use crate::store::StoreError;

/// Writes `plan.count` referrals, each with its `received` transition and an outbox row
/// (delivered, or dead for the undeliverable ones): nothing is left for the delivery worker.
pub async fn seed(
    pool: &SqlitePool,
    plan: &SeedPlan,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let partners = PARTNERS
        .iter()
        .enumerate()
        .map(|(i, p)| format!("SELECT {i} AS k, '{p}' AS p"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let end = now.timestamp() - 3_600;
    let referrals = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}), \
         ps AS ({partners}), \
         r AS (SELECT i, {end} - ({count} - i) * {span} / {count} AS t, \
                 i % 5 AS s, (i % 5 + 1 + (i / 5) % 4) % 5 AS rc, \
                 {status_case} AS st FROM n) \
         INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
           shared_categories, shared_removed, received_at, updated_at) \
         SELECT printf('%08x-%04x-7%03x-8%03x-%012x', (t * 1000) >> 16, (t * 1000) & 65535, \
                       i & 4095, (i >> 12) & 4095, ({tag} << 32) + i), \
                (SELECT p FROM ps WHERE k = s), 'SEED-{tag}-' || i, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE (SELECT p FROM ps WHERE k = rc) END, \
                st, '', \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                strftime('%Y-%m-%dT%H:%M:%S', t, 'unixepoch') || '.000000Z', \
                strftime('%Y-%m-%dT%H:%M:%S', t + 600, 'unixepoch') || '.000000Z' \
         FROM r",
        last = plan.count.saturating_sub(1),
        count = plan.count.max(1),
        span = plan.span_secs,
        tag = plan.tag,
        status_case = SeedPlan::STATUS_CASE,
    );
    let like = format!("'SEED-{}-%'", plan.tag);
    let transitions = format!(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         SELECT id, 0, 'received', received_at, 'partner:' || sender FROM referrals \
         WHERE source_ref LIKE {like}"
    );
    let outbox = format!(
        "INSERT INTO outbox (referral_id, recipient, kind, created_at, state, attempts, \
           next_attempt_at, last_error, failed_at, delivered_at) \
         SELECT id, receiver, 'referral', received_at, \
           CASE status WHEN 'undeliverable' THEN 'dead' ELSE 'delivered' END, 1, received_at, \
           CASE status WHEN 'undeliverable' THEN 'HTTP 503 Service Unavailable' END, \
           CASE status WHEN 'undeliverable' THEN updated_at END, \
           CASE WHEN status <> 'undeliverable' THEN updated_at END \
         FROM referrals WHERE receiver IS NOT NULL AND source_ref LIKE {like}"
    );
    let mut tx = pool.begin().await.map_err(unavailable)?;
    for sql in [referrals, transitions, outbox] {
        sqlx::query(&sql)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)
}
