//! The operations dashboard's reads on PostgreSQL (see [`crate::store::dashboard`]), with the
//! SQLite store's semantics. Metadata only: no statement here selects `request`, `shared`,
//! `reason` or `resident`.
//!
//! - The overview reads the counts the triggers of `migrations/postgres/0007_dashboard.sql`
//!   keep (referrals per status; outbox rows per recipient, state and failing) and, for the
//!   figures since a time, the per-hour counts of `0010_dashboard_hourly.sql` for the whole
//!   hours plus index range reads of the part of an hour before them, in one repeatable-read
//!   snapshot.
//! - The referral list runs the SQLite store's statements ([`page_sql`]: keyset paging, one
//!   index "lane" per partner and side), with numbered parameters bound in PostgreSQL's types,
//!   and the same paging logic ([`page_from`]).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use wijkbrug_adapters::model::ReferralId;

use super::codec::{self, corrupt, unavailable};
use super::SNAPSHOT;
use crate::store::dashboard::{
    hour_after, OpsOverview, OutboxRecord, PageStart, ReferralFilter, ReferralKey, ReferralPage,
    ReferralTimeline, TimelineStep,
};
use crate::store::sqlite::dashboard::{
    assemble_overview, outbox_state, page_from, page_sql, timeline_event, Bind, ListReader,
    OverviewRows, Toward, META_COLUMNS,
};
use crate::store::{ReferralMeta, StoreError};

/// When the longest-waiting due delivery was due, as of `$1` (through the partial index
/// `outbox_due`, migration `1004_write_path.sql`).
pub(crate) const OLDEST_DUE: &str =
    "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1";

/// The overview, read in one snapshot.
pub(crate) async fn overview(
    pool: &PgPool,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<OpsOverview, StoreError> {
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(unavailable)?;
    let conn: &mut PgConnection = &mut tx;
    let by_status: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, SUM(referrals)::bigint FROM referral_status_counts GROUP BY status",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    // The figures since `since`: the rows from `since` up to the first whole hour after it,
    // counted from the rows (an index range of under an hour), plus the whole hours from
    // there on, kept per hour by triggers (migrations/postgres/0010_dashboard_hourly.sql).
    // No such hour (`since` in the last representable one): every row from `since` counts.
    // The hours' range has an upper bound too (`< 'infinity'`, which no stored time reaches)
    // so that the planner reads it from the primary key even before the small per-hour
    // tables have statistics (an open range would be estimated at a third of the table and
    // scanned whole).
    let until = hour_after(since);
    let (received_since, consent_refusals_since): (i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM referrals \
            WHERE received_at >= $1 AND received_at < COALESCE($2::timestamptz, 'infinity')) \
           + (SELECT COALESCE(SUM(received), 0)::bigint FROM referral_hourly_counts \
              WHERE hour >= COALESCE($2::timestamptz, 'infinity') AND hour < 'infinity'), \
           (SELECT COUNT(*) FROM referrals WHERE status = 'consent_missing' \
              AND received_at >= $1 AND received_at < COALESCE($2::timestamptz, 'infinity')) \
           + (SELECT COALESCE(SUM(consent_missing), 0)::bigint FROM referral_hourly_counts \
              WHERE hour >= COALESCE($2::timestamptz, 'infinity') AND hour < 'infinity')",
    )
    .bind(since)
    .bind(until)
    .fetch_one(&mut *conn)
    .await
    .map_err(unavailable)?;
    let open: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT recipient, state, SUM(rows)::bigint, \
                SUM(CASE WHEN failing THEN rows ELSE 0 END)::bigint \
         FROM outbox_counts WHERE state IN ('pending', 'dead') AND rows > 0 \
         GROUP BY recipient, state",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    // Deliveries since, the same way: the rows up to the first whole hour, then the hours.
    let delivered: Vec<(String, i64)> = sqlx::query_as(
        "SELECT recipient, SUM(n)::bigint FROM ( \
           SELECT recipient, 1::bigint AS n FROM outbox \
           WHERE state = 'delivered' AND delivered_at >= $1 \
             AND delivered_at < COALESCE($2::timestamptz, 'infinity') \
           UNION ALL \
           SELECT recipient, deliveries FROM delivered_hourly_counts \
           WHERE hour >= COALESCE($2::timestamptz, 'infinity') AND hour < 'infinity') d \
         GROUP BY recipient HAVING SUM(n) > 0",
    )
    .bind(since)
    .bind(until)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let (oldest_due,): (Option<DateTime<Utc>>,) = sqlx::query_as(OLDEST_DUE)
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;
    assemble_overview(OverviewRows {
        by_status,
        received_since,
        consent_refusals_since,
        open,
        delivered,
        oldest_due,
    })
}

/// A `referrals` row's metadata with its id ([`META_COLUMNS`]).
type MetaRow = (
    Uuid,
    String,
    Option<String>,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn meta_from_row(row: MetaRow) -> Result<ReferralMeta, StoreError> {
    let (id, sender, receiver, status, received_at, updated_at, erased_at) = row;
    Ok(ReferralMeta {
        id: codec::referral_id(id, "referrals.id")?,
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
    })
}

/// `text` with its `?` placeholders numbered `$1`, `$2`, ... (the list statements have no
/// other `?`: every value is a parameter).
pub(crate) fn numbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut n = 0;
    for c in text.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The list's reads on a PostgreSQL connection (inside the page's snapshot).
struct PgList<'c>(&'c mut PgConnection);

#[async_trait::async_trait]
impl ListReader for PgList<'_> {
    async fn read(
        &mut self,
        filter: &ReferralFilter,
        key: Option<ReferralKey>,
        toward: Toward,
        limit: usize,
    ) -> Result<Vec<ReferralMeta>, StoreError> {
        let sql = page_sql(filter, key, toward, limit);
        let text = numbered(&sql.text);
        let mut query = sqlx::query_as::<_, MetaRow>(&text);
        for b in sql.binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Time(t) => query.bind(t),
                Bind::Id(id) => query.bind(id.as_uuid()),
            };
        }
        let rows = query.fetch_all(&mut *self.0).await.map_err(unavailable)?;
        rows.into_iter().map(meta_from_row).collect()
    }
}

/// One page of the referral list, its reads in one snapshot.
pub(crate) async fn page(
    pool: &PgPool,
    filter: &ReferralFilter,
    start: PageStart,
    limit: usize,
) -> Result<ReferralPage, StoreError> {
    if filter.partners_any.as_ref().is_some_and(Vec::is_empty) {
        return Ok(ReferralPage::default());
    }
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(unavailable)?;
    let page = page_from(&mut PgList(&mut tx), filter, start, limit).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(page)
}

/// An `outbox` row for the timeline.
type OutboxRow = (
    i64,
    Uuid,
    String,
    String,
    Option<i64>,
    String,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// A `status_transitions` row for the timeline: seq, status, at, actor, reason code.
type StepRow = (i64, String, DateTime<Utc>, String, Option<String>);

/// An `audit_events` row for the timeline: seq, at, action, partner, detail.
type EventRow = (i64, DateTime<Utc>, String, Option<String>, String);

/// A referral's timeline (`None`: no such referral), read in one snapshot.
pub(crate) async fn timeline(
    pool: &PgPool,
    id: ReferralId,
    max_events: usize,
) -> Result<Option<ReferralTimeline>, StoreError> {
    let mut tx = pool.begin_with(SNAPSHOT).await.map_err(unavailable)?;
    let conn: &mut PgConnection = &mut tx;
    let key = id.as_uuid();
    let meta: Option<MetaRow> = sqlx::query_as(&format!(
        "SELECT {META_COLUMNS} FROM referrals WHERE id = $1"
    ))
    .bind(key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(unavailable)?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let steps: Vec<StepRow> = sqlx::query_as(
        "SELECT seq, status, at, actor, reason_code FROM status_transitions \
         WHERE referral_id = $1 ORDER BY seq",
    )
    .bind(key)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let outbox: Vec<OutboxRow> = sqlx::query_as(
        "SELECT id, referral_id, recipient, kind, transition, state, attempts, created_at, \
         next_attempt_at, last_error, failed_at, delivered_at \
         FROM outbox WHERE referral_id = $1 ORDER BY id",
    )
    .bind(key)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT seq, at, action, partner, detail FROM audit_events \
         WHERE referral_id = $1 ORDER BY seq LIMIT $2",
    )
    .bind(key)
    .bind(codec::limit(max_events.saturating_add(1)))
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;

    let steps = steps
        .into_iter()
        .map(|(seq, status, at, actor, reason_code)| {
            Ok(TimelineStep {
                seq: u32::try_from(seq)
                    .map_err(|_| corrupt("status_transitions.seq is out of range"))?,
                status: status
                    .parse()
                    .map_err(|_| corrupt("status_transitions.status is not a status"))?,
                at,
                by: crate::store::sqlite::codec::parse_actor(&actor)?,
                reason_code,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let outbox = outbox
        .into_iter()
        .map(outbox_record)
        .collect::<Result<Vec<_>, StoreError>>()?;
    let events_truncated = events.len() > max_events;
    let events = events
        .into_iter()
        .take(max_events)
        .map(|(seq, at, action, partner, detail)| {
            timeline_event(seq, at, &action, partner, &detail)
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ReferralTimeline {
        meta: meta_from_row(meta)?,
        steps,
        outbox,
        events,
        events_truncated,
    }))
}

fn outbox_record(row: OutboxRow) -> Result<OutboxRecord, StoreError> {
    let (
        row_id,
        referral,
        recipient,
        kind,
        transition,
        state,
        attempts,
        created_at,
        next_attempt_at,
        last_error,
        failed_at,
        delivered_at,
    ) = row;
    let item = codec::outbox_from_row((referral, recipient, kind, transition))?;
    Ok(OutboxRecord {
        id: row_id,
        recipient: item.recipient,
        kind: item.kind,
        state: outbox_state(&state)?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt("outbox.attempts is out of range"))?,
        created_at,
        next_attempt_at,
        last_error,
        failed_at,
        delivered_at,
    })
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            numbered("SELECT 1 WHERE a = ? AND (b, c) < (?, ?)"),
            "SELECT 1 WHERE a = $1 AND (b, c) < ($2, $3)"
        );
        assert_eq!(numbered("SELECT 1"), "SELECT 1");
    }
}
