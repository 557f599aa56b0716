//! The analytics' aggregates on PostgreSQL: the SQLite store's queries
//! (`store/sqlite/analytics.rs`, whose row-to-figure code both stores share) in PostgreSQL's
//! dialect.
//!
//! - The partner → sector map is passed as two arrays and unnested into the `sectors` table
//!   expression (one statement shape whatever the map's size).
//! - A resident is counted by the keyed pseudonym of the referral's `message_received` audit
//!   event; the pseudonym never leaves the query.
//! - Times are `EXTRACT(EPOCH FROM t.at - c.received_at)` (exact, in `numeric`), rounded in
//!   `numeric` so that halves round away from zero as SQLite's `ROUND` does.
//!
//! The indexes these queries use are in `migrations/postgres/0008_analytics.sql`.

use sqlx::{PgConnection, PgPool};

use super::codec::unavailable;
use super::SNAPSHOT;
use crate::analytics::{
    ConsentRefusals, PartnerDeliveries, PartnerSectors, PeriodAggregates, PeriodTotals, SectorFlow,
    Stage, StageDurations, TimeWindow,
};
use crate::store::sqlite::analytics::{
    build_deliveries, build_durations, build_flows, build_refusals, build_totals, reached,
    DeliveryRow, TotalsRow,
};
use crate::store::StoreError;

/// The `sectors(partner, sector)` table expression: `$1` the partners, `$2` their sectors.
const SECTORS: &str = "sectors (partner, sector) AS (\
     SELECT * FROM unnest($1::text[], $2::text[]))";

/// The map as the two arrays [`SECTORS`] takes.
fn sector_arrays(map: &PartnerSectors) -> (Vec<String>, Vec<String>) {
    map.pairs()
        .iter()
        .map(|(partner, sector)| (partner.as_str().to_owned(), sector.code().to_owned()))
        .unzip()
}

/// The referrals received in the window (`$3`, `$4` after the sectors; `$1`, `$2` without),
/// with their resident (the pseudonym of the intake event), read once.
pub(crate) fn cohort(from: u8) -> String {
    format!(
        "cohort AS MATERIALIZED (\
         SELECT r.id AS id, r.sender AS sender, r.receiver AS receiver, \
                r.received_at AS received_at, a.resident AS resident \
         FROM referrals r LEFT JOIN audit_events a \
              ON a.referral_id = r.id AND a.action = 'message_received' \
         WHERE r.received_at >= ${from} AND r.received_at < ${to})",
        to = from + 1
    )
}

/// [`cohort`] without the resident, from the window's index alone.
fn cohort_plain(from: u8) -> String {
    format!(
        "cohort AS MATERIALIZED (\
         SELECT r.id AS id, r.receiver AS receiver, r.received_at AS received_at \
         FROM referrals r WHERE r.received_at >= ${from} AND r.received_at < ${to})",
        to = from + 1
    )
}

pub(crate) async fn sector_flows(
    conn: &mut PgConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<SectorFlow>, StoreError> {
    let (partners, sectors) = sector_arrays(map);
    let sql = format!(
        "WITH {SECTORS}, {cohort} \
         SELECT COALESCE(fs.sector, 'unknown'), COALESCE(ts.sector, 'unknown'), \
                COUNT(*), COUNT(DISTINCT c.resident) \
         FROM cohort c \
         LEFT JOIN sectors fs ON fs.partner = c.sender \
         LEFT JOIN sectors ts ON ts.partner = c.receiver \
         WHERE c.receiver IS NOT NULL \
         GROUP BY COALESCE(fs.sector, 'unknown'), COALESCE(ts.sector, 'unknown')",
        cohort = cohort(3)
    );
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(&sql)
        .bind(&partners)
        .bind(&sectors)
        .bind(window.from)
        .bind(window.to)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_flows(rows)
}

pub(crate) async fn stage_durations(
    conn: &mut PgConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<StageDurations>, StoreError> {
    // As on SQLite: one time per referral and stage, rounded (the second under an hour, the
    // minute under a day, ten minutes under a week, the hour beyond) and counted per rounded
    // value.
    let (partners, sectors) = sector_arrays(map);
    let sql = format!(
        "WITH {SECTORS}, {cohort}, times AS (\
             SELECT COALESCE(ts.sector, 'unknown') AS sector, t.status AS status, \
                    EXTRACT(EPOCH FROM t.at - c.received_at) AS seconds \
             FROM cohort c \
             JOIN status_transitions t ON t.referral_id = c.id \
             LEFT JOIN sectors ts ON ts.partner = c.receiver \
             WHERE c.receiver IS NOT NULL AND t.status IN ('accepted', 'completed')), \
         rounded AS (\
             SELECT sector, status, \
                    CASE WHEN seconds < 3600 THEN ROUND(seconds) \
                         WHEN seconds < 86400 THEN ROUND(seconds / 60) * 60 \
                         WHEN seconds < 604800 THEN ROUND(seconds / 600) * 600 \
                         ELSE ROUND(seconds / 3600) * 3600 END AS seconds \
             FROM times) \
         SELECT sector, status, seconds::float8, COUNT(*) FROM rounded \
         GROUP BY sector, status, seconds",
        cohort = cohort_plain(3)
    );
    let times: Vec<(String, String, f64, i64)> = sqlx::query_as(&sql)
        .bind(&partners)
        .bind(&sectors)
        .bind(window.from)
        .bind(window.to)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;

    let sql = format!(
        "WITH {SECTORS}, {cohort} \
         SELECT COALESCE(ts.sector, 'unknown'), t.status, COUNT(DISTINCT c.resident) \
         FROM cohort c \
         JOIN status_transitions t ON t.referral_id = c.id \
         LEFT JOIN sectors ts ON ts.partner = c.receiver \
         WHERE c.receiver IS NOT NULL AND t.status IN ('accepted', 'completed') \
         GROUP BY COALESCE(ts.sector, 'unknown'), t.status",
        cohort = cohort(3)
    );
    let residents: Vec<(String, String, i64)> = sqlx::query_as(&sql)
        .bind(&partners)
        .bind(&sectors)
        .bind(window.from)
        .bind(window.to)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_durations(times, residents)
}

pub(crate) async fn consent_refusals(
    conn: &mut PgConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<ConsentRefusals>, StoreError> {
    let sql = format!(
        "WITH {cohort} \
         SELECT c.sender, COUNT(*), COUNT(DISTINCT c.resident) \
         FROM cohort c WHERE {refused} GROUP BY c.sender",
        cohort = cohort(1),
        refused = reached("consent_missing"),
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
        .bind(window.from)
        .bind(window.to)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_refusals(rows, map)
}

pub(crate) async fn delivery_outcomes(
    conn: &mut PgConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<PartnerDeliveries>, StoreError> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "SELECT recipient, COUNT(*), \
                COUNT(*) FILTER (WHERE state = 'delivered'), \
                COUNT(*) FILTER (WHERE last_error IS NOT NULL), \
                COUNT(*) FILTER (WHERE failed_at IS NOT NULL), \
                COUNT(*) FILTER (WHERE state = 'dead'), \
                COUNT(*) FILTER (WHERE state = 'pending') \
         FROM outbox WHERE created_at >= $1 AND created_at < $2 GROUP BY recipient",
    )
    .bind(window.from)
    .bind(window.to)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    build_deliveries(rows, map)
}

pub(crate) async fn period_totals(
    conn: &mut PgConnection,
    window: &TimeWindow,
) -> Result<PeriodTotals, StoreError> {
    let flag = |condition: String| format!("CASE WHEN {condition} THEN 1 ELSE 0 END");
    // Per resident, whether any of their referrals was routed, refused, ... (one grouping
    // for every distinct count).
    let sql = format!(
        "WITH {cohort}, flags AS MATERIALIZED (\
             SELECT c.resident AS resident, {routed} AS routed, {refused} AS refused, \
                    {accepted} AS accepted, {completed} AS completed \
             FROM cohort c) \
         SELECT r.n, p.n, r.routed, p.routed, r.refused, p.refused, r.accepted, p.accepted, \
                r.completed, p.completed \
         FROM (SELECT COUNT(*) AS n, COALESCE(SUM(routed), 0) AS routed, \
                      COALESCE(SUM(refused), 0) AS refused, \
                      COALESCE(SUM(accepted), 0) AS accepted, \
                      COALESCE(SUM(completed), 0) AS completed FROM flags) r, \
              (SELECT COUNT(*) AS n, COALESCE(SUM(routed), 0) AS routed, \
                      COALESCE(SUM(refused), 0) AS refused, \
                      COALESCE(SUM(accepted), 0) AS accepted, \
                      COALESCE(SUM(completed), 0) AS completed \
               FROM (SELECT MAX(routed) AS routed, MAX(refused) AS refused, \
                            MAX(accepted) AS accepted, MAX(completed) AS completed \
                     FROM flags WHERE resident IS NOT NULL GROUP BY resident) per_resident) p",
        cohort = cohort(1),
        routed = flag("c.receiver IS NOT NULL".to_owned()),
        refused = flag(reached("consent_missing")),
        accepted = flag(format!(
            "c.receiver IS NOT NULL AND {}",
            reached(Stage::Acceptance.status_code())
        )),
        completed = flag(format!(
            "c.receiver IS NOT NULL AND {}",
            reached(Stage::Completion.status_code())
        )),
    );
    let row: TotalsRow = sqlx::query_as(&sql)
        .bind(window.from)
        .bind(window.to)
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_totals(row)
}

/// Every aggregate of `window` in one repeatable-read snapshot: a table's total agrees with
/// its rows while the instances keep writing.
pub(crate) async fn period_aggregates(
    pool: &PgPool,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<PeriodAggregates, StoreError> {
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(unavailable)?;
    let aggregates = PeriodAggregates {
        window: *window,
        totals: period_totals(&mut tx, window).await?,
        flows: sector_flows(&mut tx, window, map).await?,
        durations: stage_durations(&mut tx, window, map).await?,
        refusals: consent_refusals(&mut tx, window, map).await?,
        deliveries: delivery_outcomes(&mut tx, window, map).await?,
    };
    tx.commit().await.map_err(unavailable)?;
    Ok(aggregates)
}

/// A connection of `pool` for one aggregate.
pub(crate) async fn connection(
    pool: &PgPool,
) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>, StoreError> {
    pool.acquire().await.map_err(unavailable)
}
