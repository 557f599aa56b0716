//! The analytics' aggregates in SQLite: plain SQL over the referrals received in a window.
//!
//! - Sectors are not stored: the partner → sector map is passed in as a common table
//!   expression (`sectors`), so a partner's sector is the configuration's at the time of the
//!   query, and distinct residents can be counted per sector inside the query.
//! - A resident is counted by the keyed pseudonym of the referral's `message_received` audit
//!   event (kept after retention erased the payload); the pseudonym never leaves the query.
//! - Times are computed with `julianday` (the one SQLite-only function here; PostgreSQL would
//!   use `EXTRACT(EPOCH FROM t.at - r.received_at)`).
//!
//! The indexes these queries use are in `migrations/sqlite/0008_analytics.sql`; a referral's
//! status changes are found by their table's own key, (referral, step)
//! (`migrations/sqlite/0014_transitions_by_referral.sql`).

use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, SqliteConnection, SqlitePool};

use super::codec::{self, corrupt, ts, unavailable};
use crate::analytics::{
    ConsentRefusals, PartnerDeliveries, PartnerSectors, PeriodAggregates, PeriodTotals, SectorFlow,
    SectorKey, Stage, StageDurations, TimeWindow,
};
use crate::store::StoreError;

/// The `sectors(partner, sector)` table expression for `map`, with its arguments bound.
fn sectors_cte(map: &PartnerSectors, args: &mut SqliteArguments<'_>) -> Result<String, StoreError> {
    let bind_error = |_| corrupt("cannot bind the partner sectors");
    if map.pairs().is_empty() {
        return Ok(
            "sectors (partner, sector) AS (SELECT '' AS partner, '' AS sector WHERE 1 = 0)"
                .to_owned(),
        );
    }
    let mut selects = Vec::with_capacity(map.pairs().len());
    for (partner, sector) in map.pairs() {
        args.add(partner.as_str().to_owned()).map_err(bind_error)?;
        args.add(sector.code()).map_err(bind_error)?;
        selects.push("SELECT ? AS partner, ? AS sector");
    }
    Ok(format!(
        "sectors (partner, sector) AS ({})",
        selects.join(" UNION ALL ")
    ))
}

fn bind_window(window: &TimeWindow, args: &mut SqliteArguments<'_>) -> Result<(), StoreError> {
    let bind_error = |_| corrupt("cannot bind the window");
    args.add(ts(window.from)).map_err(bind_error)?;
    args.add(ts(window.to)).map_err(bind_error)?;
    Ok(())
}

fn count(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(format_args!("{what} is negative")))
}

/// The referrals received in the window (two arguments), with their resident (the
/// pseudonym of the intake event), read once: `cohort(id, sender, receiver, received_at,
/// resident)`. Materialised, so the window's index drives every query (without statistics
/// the planner would otherwise scan a grouping index from end to end).
pub(super) const COHORT: &str = "cohort AS MATERIALIZED (\
     SELECT r.id AS id, r.sender AS sender, r.receiver AS receiver, \
            r.received_at AS received_at, a.resident AS resident \
     FROM referrals r LEFT JOIN audit_events a \
          ON a.referral_id = r.id AND a.action = 'message_received' \
     WHERE r.received_at >= ? AND r.received_at < ?)";

/// [`COHORT`] without the resident, from the window's index alone (two arguments).
pub(super) const COHORT_PLAIN: &str = "cohort AS MATERIALIZED (\
     SELECT r.id AS id, r.receiver AS receiver, r.received_at AS received_at \
     FROM referrals r WHERE r.received_at >= ? AND r.received_at < ?)";

/// Whether the cohort's referral `c` ever reached `status` (a literal).
pub(crate) fn reached(status: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM status_transitions t \
         WHERE t.referral_id = c.id AND t.status = '{status}')"
    )
}

pub(crate) async fn sector_flows(
    conn: &mut SqliteConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<SectorFlow>, StoreError> {
    let mut args = SqliteArguments::default();
    let cte = sectors_cte(map, &mut args)?;
    bind_window(window, &mut args)?;
    let sql = format!(
        "WITH {cte}, {COHORT} \
         SELECT COALESCE(fs.sector, 'unknown'), COALESCE(ts.sector, 'unknown'), \
                COUNT(*), COUNT(DISTINCT c.resident) \
         FROM cohort c \
         LEFT JOIN sectors fs ON fs.partner = c.sender \
         LEFT JOIN sectors ts ON ts.partner = c.receiver \
         WHERE c.receiver IS NOT NULL \
         GROUP BY COALESCE(fs.sector, 'unknown'), COALESCE(ts.sector, 'unknown')"
    );
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as_with(&sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_flows(rows)
}

/// The flows from their rows: from, to, referrals, residents.
pub(crate) fn build_flows(
    rows: Vec<(String, String, i64, i64)>,
) -> Result<Vec<SectorFlow>, StoreError> {
    let mut flows = rows
        .into_iter()
        .map(|(from, to, referrals, residents)| {
            Ok(SectorFlow {
                from: SectorKey::from_code(&from),
                to: SectorKey::from_code(&to),
                referrals: count(referrals, "a flow's referrals")?,
                residents: count(residents, "a flow's residents")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    flows.sort_by_key(|f| (f.from, f.to));
    Ok(flows)
}

pub(crate) async fn stage_durations(
    conn: &mut SqliteConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<StageDurations>, StoreError> {
    // One time per referral and stage. The state machine lets a referral be accepted once and
    // completed once (nothing leads back to before `accepted`), so there is one transition
    // to each. Times are rounded to what a chart or a median needs (the second under an hour,
    // the minute under a day, ten minutes under a week, the hour beyond: under 1% of the time
    // from an hour on) and counted per rounded value, so a long window answers thousands of
    // rows, not a million.
    let mut args = SqliteArguments::default();
    let cte = sectors_cte(map, &mut args)?;
    bind_window(window, &mut args)?;
    let sql = format!(
        "WITH {cte}, {COHORT_PLAIN}, times AS (\
             SELECT COALESCE(ts.sector, 'unknown') AS sector, t.status AS status, \
                    (julianday(t.at) - julianday(c.received_at)) * 86400.0 AS seconds \
             FROM cohort c \
             JOIN status_transitions t ON t.referral_id = c.id \
             LEFT JOIN sectors ts ON ts.partner = c.receiver \
             WHERE c.receiver IS NOT NULL AND t.status IN ('accepted', 'completed')), \
         rounded AS (\
             SELECT sector, status, \
                    CASE WHEN seconds < 3600 THEN ROUND(seconds) \
                         WHEN seconds < 86400 THEN ROUND(seconds / 60.0) * 60 \
                         WHEN seconds < 604800 THEN ROUND(seconds / 600.0) * 600 \
                         ELSE ROUND(seconds / 3600.0) * 3600 END AS seconds \
             FROM times) \
         SELECT sector, status, seconds, COUNT(*) FROM rounded \
         GROUP BY sector, status, seconds"
    );
    let times: Vec<(String, String, f64, i64)> = sqlx::query_as_with(&sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;

    let mut args = SqliteArguments::default();
    let cte = sectors_cte(map, &mut args)?;
    bind_window(window, &mut args)?;
    let sql = format!(
        "WITH {cte}, {COHORT} \
         SELECT COALESCE(ts.sector, 'unknown'), t.status, COUNT(DISTINCT c.resident) \
         FROM cohort c \
         JOIN status_transitions t ON t.referral_id = c.id \
         LEFT JOIN sectors ts ON ts.partner = c.receiver \
         WHERE c.receiver IS NOT NULL AND t.status IN ('accepted', 'completed') \
         GROUP BY COALESCE(ts.sector, 'unknown'), t.status"
    );
    let residents: Vec<(String, String, i64)> = sqlx::query_as_with(&sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_durations(times, residents)
}

/// The durations from their rows: (sector, status, seconds, count) and (sector, status,
/// residents).
pub(crate) fn build_durations(
    times: Vec<(String, String, f64, i64)>,
    residents: Vec<(String, String, i64)>,
) -> Result<Vec<StageDurations>, StoreError> {
    let stage_of = |status: &str| {
        Stage::ALL
            .into_iter()
            .find(|s| s.status_code() == status)
            .ok_or_else(|| corrupt("a stage's status is not accepted or completed"))
    };
    let mut out: Vec<StageDurations> = Vec::new();
    for (sector, status, n) in residents {
        out.push(StageDurations {
            sector: SectorKey::from_code(&sector),
            stage: stage_of(&status)?,
            residents: count(n, "a stage's residents")?,
            seconds: Vec::new(),
        });
    }
    for (sector, status, seconds, n) in times {
        let (sector, stage) = (SectorKey::from_code(&sector), stage_of(&status)?);
        let n = usize::try_from(n).map_err(|_| corrupt("a time's count is negative"))?;
        let seconds = seconds.max(0.0);
        match out
            .iter_mut()
            .find(|d| d.sector == sector && d.stage == stage)
        {
            Some(d) => d.seconds.extend(std::iter::repeat_n(seconds, n)),
            None => out.push(StageDurations {
                sector,
                stage,
                residents: 0,
                seconds: vec![seconds; n],
            }),
        }
    }
    for d in &mut out {
        d.seconds.sort_by(f64::total_cmp);
    }
    out.sort_by_key(|d| (d.sector, d.stage));
    Ok(out)
}

pub(crate) async fn consent_refusals(
    conn: &mut SqliteConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<ConsentRefusals>, StoreError> {
    let mut args = SqliteArguments::default();
    bind_window(window, &mut args)?;
    let sql = format!(
        "WITH {COHORT} \
         SELECT c.sender, COUNT(*), COUNT(DISTINCT c.resident) \
         FROM cohort c WHERE {refused} GROUP BY c.sender",
        refused = reached("consent_missing"),
    );
    let rows: Vec<(String, i64, i64)> = sqlx::query_as_with(&sql, args)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_refusals(rows, map)
}

/// The refusals from their rows: sender, referrals, residents.
pub(crate) fn build_refusals(
    rows: Vec<(String, i64, i64)>,
    map: &PartnerSectors,
) -> Result<Vec<ConsentRefusals>, StoreError> {
    let mut out = rows
        .into_iter()
        .map(|(sender, referrals, residents)| {
            Ok(ConsentRefusals {
                sector: map.sector_of(&sender),
                sender: codec::parse_partner(&sender, "referrals.sender")?,
                referrals: count(referrals, "refusals")?,
                residents: count(residents, "refusals' residents")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| (a.sector, a.sender.as_str()).cmp(&(b.sector, b.sender.as_str())));
    Ok(out)
}

/// A row of [`delivery_outcomes`]: recipient and its counts.
pub(crate) type DeliveryRow = (String, i64, i64, i64, i64, i64, i64);

pub(crate) async fn delivery_outcomes(
    conn: &mut SqliteConnection,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<Vec<PartnerDeliveries>, StoreError> {
    let rows: Vec<DeliveryRow> = sqlx::query_as(
        "WITH queued AS MATERIALIZED (\
             SELECT recipient, state, failed_at, last_error FROM outbox \
             WHERE created_at >= ? AND created_at < ?) \
         SELECT recipient, COUNT(*), \
                SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), \
                SUM(CASE WHEN last_error IS NOT NULL THEN 1 ELSE 0 END), \
                SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END), \
                SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), \
                SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) \
         FROM queued GROUP BY recipient",
    )
    .bind(ts(window.from))
    .bind(ts(window.to))
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    build_deliveries(rows, map)
}

/// The deliveries from their rows.
pub(crate) fn build_deliveries(
    rows: Vec<DeliveryRow>,
    map: &PartnerSectors,
) -> Result<Vec<PartnerDeliveries>, StoreError> {
    let mut out = rows
        .into_iter()
        .map(
            |(partner, deliveries, delivered, failed, dead, dead_now, pending)| {
                Ok(PartnerDeliveries {
                    sector: map.sector_of(&partner),
                    partner: codec::parse_partner(&partner, "outbox.recipient")?,
                    deliveries: count(deliveries, "deliveries")?,
                    delivered: count(delivered, "delivered")?,
                    with_failures: count(failed, "failed deliveries")?,
                    dead_letters: count(dead, "dead letters")?,
                    dead_now: count(dead_now, "dead letters")?,
                    pending: count(pending, "pending deliveries")?,
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| (a.sector, a.partner.as_str()).cmp(&(b.sector, b.partner.as_str())));
    Ok(out)
}

/// A row of [`period_totals`]: ten counts.
pub(crate) type TotalsRow = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

pub(crate) async fn period_totals(
    conn: &mut SqliteConnection,
    window: &TimeWindow,
) -> Result<PeriodTotals, StoreError> {
    let flag = |condition: String| format!("CASE WHEN {condition} THEN 1 ELSE 0 END");
    // One sort by resident for every distinct count (instead of one per count): per
    // resident, whether any of their referrals was routed, refused, ...
    let sql = format!(
        "WITH {COHORT}, flags AS MATERIALIZED (\
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
        .bind(ts(window.from))
        .bind(ts(window.to))
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    build_totals(row)
}

/// The totals from their row.
pub(crate) fn build_totals(row: TotalsRow) -> Result<PeriodTotals, StoreError> {
    let (referrals, residents, routed, routed_r, refused, refused_r, acc, acc_r, comp, comp_r) =
        row;
    Ok(PeriodTotals {
        referrals: count(referrals, "referrals")?,
        residents: count(residents, "residents")?,
        routed: count(routed, "routed")?,
        routed_residents: count(routed_r, "routed residents")?,
        consent_refused: count(refused, "refused")?,
        refused_residents: count(refused_r, "refused residents")?,
        accepted: count(acc, "accepted")?,
        accepted_residents: count(acc_r, "accepted residents")?,
        completed: count(comp, "completed")?,
        completed_residents: count(comp_r, "completed residents")?,
    })
}

/// Every aggregate of `window` in one read transaction: one snapshot, so the tables' totals
/// agree with their rows even while the gateway keeps writing.
pub(crate) async fn period_aggregates(
    pool: &SqlitePool,
    window: &TimeWindow,
    map: &PartnerSectors,
) -> Result<PeriodAggregates, StoreError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
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
    pool: &SqlitePool,
) -> Result<sqlx::pool::PoolConnection<sqlx::Sqlite>, StoreError> {
    pool.acquire().await.map_err(unavailable)
}
