//! [`Store::seed_benchmark_referrals`](crate::store::Store::seed_benchmark_referrals) on
//! PostgreSQL: finished referrals written with `generate_series` in one transaction, for the
//! load generator's growth runs only.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::codec::unavailable;
use crate::store::bench_seed::{SeedPlan, PARTNERS};
use crate::store::StoreError;

/// Writes `plan.count` referrals, each with its `received` transition and an outbox row
/// (delivered, or dead for the undeliverable ones): nothing is left for the delivery worker.
pub async fn seed(pool: &PgPool, plan: &SeedPlan, now: DateTime<Utc>) -> Result<(), StoreError> {
    let partners = PARTNERS
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let end = now.timestamp() - 3_600;
    // A UUID of version 7 (the time in milliseconds first), as the gateway makes them.
    let referrals = format!(
        "WITH r AS (SELECT i, {end}::bigint - ({count}::bigint - i) * {span} / {count} AS t, \
                 (ARRAY[{partners}])[i % 5 + 1] AS s, \
                 (ARRAY[{partners}])[(i % 5 + 1 + (i / 5) % 4) % 5 + 1] AS rc, \
                 {status_case} AS st \
               FROM generate_series(0::bigint, {last}::bigint) AS g(i)) \
         INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
           shared_categories, shared_removed, received_at, updated_at) \
         SELECT (lpad(to_hex(t * 1000), 12, '0') || '7' || lpad(to_hex(i & 4095), 3, '0') \
                 || '8' || lpad(to_hex({tag}), 4, '0') || lpad(to_hex(i), 11, '0'))::uuid, \
                s, 'SEED-{tag}-' || i, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE rc END, st, '', \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                to_timestamp(t), to_timestamp(t + 600) \
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
    // The overview's trigger-kept counts (migrations 0007, 0010 and 1004) are bypassed while loading (a
    // million updates of one count row in one transaction leave a chain of a million row
    // versions each next update walks) and then raised by the seeded rows' counts.
    let recount = [
        format!(
            "INSERT INTO referral_status_counts (status, receiver, referrals) \
             SELECT status, COALESCE(receiver, ''), COUNT(*) FROM referrals \
             WHERE source_ref LIKE {like} GROUP BY status, COALESCE(receiver, '') \
             ON CONFLICT (status, receiver) DO UPDATE \
             SET referrals = referral_status_counts.referrals + EXCLUDED.referrals"
        ),
        format!(
            "INSERT INTO outbox_counts (recipient, state, failing, rows) \
             SELECT o.recipient, o.state, o.last_error IS NOT NULL, COUNT(*) \
             FROM outbox o JOIN referrals r ON r.id = o.referral_id \
             WHERE r.source_ref LIKE {like} \
             GROUP BY o.recipient, o.state, o.last_error IS NOT NULL \
             ON CONFLICT (recipient, state, failing) DO UPDATE \
             SET rows = outbox_counts.rows + EXCLUDED.rows"
        ),
        // The per-hour counts of migration 0010, the same way.
        format!(
            "INSERT INTO referral_hourly_counts (hour, received, consent_missing) \
             SELECT date_trunc('hour', received_at, 'UTC'), COUNT(*), \
               COUNT(*) FILTER (WHERE status = 'consent_missing') \
             FROM referrals WHERE source_ref LIKE {like} \
             GROUP BY date_trunc('hour', received_at, 'UTC') \
             ON CONFLICT (hour) DO UPDATE \
             SET received = referral_hourly_counts.received + EXCLUDED.received, \
               consent_missing = referral_hourly_counts.consent_missing \
                 + EXCLUDED.consent_missing"
        ),
        format!(
            "INSERT INTO delivered_hourly_counts (hour, recipient, deliveries) \
             SELECT date_trunc('hour', o.delivered_at, 'UTC'), o.recipient, COUNT(*) \
             FROM outbox o JOIN referrals r ON r.id = o.referral_id \
             WHERE r.source_ref LIKE {like} AND o.state = 'delivered' \
               AND o.delivered_at IS NOT NULL \
             GROUP BY date_trunc('hour', o.delivered_at, 'UTC'), o.recipient \
             ON CONFLICT (hour, recipient) DO UPDATE \
             SET deliveries = delivered_hourly_counts.deliveries + EXCLUDED.deliveries"
        ),
    ];
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let load = [
        "SET LOCAL session_replication_role = replica".to_owned(),
        referrals,
        transitions,
        outbox,
        "SET LOCAL session_replication_role = DEFAULT".to_owned(),
    ];
    for sql in load.into_iter().chain(recount) {
        sqlx::query(&sql)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
    }
    tx.commit().await.map_err(unavailable)?;
    // Fresh statistics for the planner, as autovacuum would give them after such a load.
    sqlx::query("ANALYZE referrals, status_transitions, outbox")
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}
