//! The operations dashboard's reads (see [`crate::store::dashboard`]). Metadata only: no
//! statement here selects `request`, `shared`, `reason` or `resident`.
//!
//! The referral list pages by key, never by offset: a page is the rows just before (or
//! after) a `(received_at, id)` key, newest first, read straight from an index in that order
//! (`migrations/sqlite/0007_dashboard.sql`). A filter on a partner or a sector is answered
//! as a union of "lanes", one per (partner, side): each lane walks its own index
//! (`sender`/`receiver`, then `status` when filtered, then `received_at, id`) and stops after a
//! page's worth of rows, and the union keeps the newest of them. So a page costs about
//! `limit` index entries per lane however many referrals there are. The other conditions are
//! checked on every lane's rows, so each lane yields exactly the matching rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};
use wijkbrug_adapters::model::{ReferralId, ReferralStatus};

use super::codec::{self, corrupt, ts, unavailable};
use crate::audit::AuditAction;
use crate::store::dashboard::{
    hour_after, OpsOverview, OutboxRecord, OutboxState, PageStart, PartnerDeliveries,
    ReferralFilter, ReferralKey, ReferralPage, ReferralTimeline, Side, TimelineEvent, TimelineStep,
    TIMELINE_DETAIL_KEYS,
};
use crate::store::{ReferralMeta, StoreError};

/// More lanes than this (a sector with very many partners) are read as one lane over the
/// whole list instead.
const MAX_LANES: usize = 64;

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// The earliest due time of a pending row that is due at `?` (through the partial index
/// `outbox_due`).
pub(super) const OLDEST_DUE: &str =
    "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?";

/// The overview, read in one transaction (one snapshot).
pub(crate) async fn overview(
    pool: &SqlitePool,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<OpsOverview, StoreError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let conn: &mut SqliteConnection = &mut tx;

    // Kept per status and receiver (migrations/sqlite/0011_write_path.sql) by triggers, and by
    // the writer for its own changes (counts.rs).
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, SUM(referrals) FROM referral_status_counts GROUP BY status")
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;

    // The figures since `since`: the rows from `since` up to the first whole hour after it,
    // counted from the rows (an index range of under an hour), plus the whole hours from
    // there on, kept per hour by triggers (migrations/sqlite/0010_dashboard_hourly.sql).
    // Stored times sort as text, and an hour's key is a time's first 13 characters.
    let since_ts = ts(since);
    let (until, from_hour) = match hour_after(since) {
        Some(hour) => (ts(hour), hour.format("%Y-%m-%dT%H").to_string()),
        // Past the last representable hour: every row from `since` is counted, no hour is
        // (no stored time sorts after '~').
        None => ("~".to_owned(), "~".to_owned()),
    };
    let (received_since, consent_refusals_since): (i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM referrals INDEXED BY referrals_by_received \
            WHERE received_at >= ?1 AND received_at < ?2) \
           + (SELECT IFNULL(SUM(received), 0) FROM referral_hourly_counts WHERE hour >= ?3), \
           (SELECT COUNT(*) FROM referrals INDEXED BY referrals_by_status \
            WHERE status = 'consent_missing' AND received_at >= ?1 AND received_at < ?2) \
           + (SELECT IFNULL(SUM(consent_missing), 0) FROM referral_hourly_counts \
              WHERE hour >= ?3)",
    )
    .bind(&since_ts)
    .bind(&until)
    .bind(&from_hour)
    .fetch_one(&mut *conn)
    .await
    .map_err(unavailable)?;

    // Kept by triggers, per recipient, state and whether the last attempt failed.
    let open: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT recipient, state, SUM(rows), SUM(CASE WHEN failing = 1 THEN rows ELSE 0 END) \
         FROM outbox_counts WHERE state IN ('pending', 'dead') AND rows > 0 \
         GROUP BY recipient, state",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    // Deliveries since, the same way: the rows up to the first whole hour, then the hours.
    let delivered: Vec<(String, i64)> = sqlx::query_as(
        "SELECT recipient, SUM(n) FROM ( \
           SELECT recipient, 1 AS n FROM outbox INDEXED BY outbox_delivered \
           WHERE state = 'delivered' AND delivered_at >= ?1 AND delivered_at < ?2 \
           UNION ALL \
           SELECT recipient, deliveries FROM delivered_hourly_counts WHERE hour >= ?3) \
         GROUP BY recipient HAVING SUM(n) > 0",
    )
    .bind(&since_ts)
    .bind(&until)
    .bind(&from_hour)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let (oldest_due,): (Option<String>,) = sqlx::query_as(OLDEST_DUE)
        .bind(ts(now))
        .fetch_one(&mut *conn)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)?;

    assemble_overview(OverviewRows {
        by_status: rows,
        received_since,
        consent_refusals_since,
        open,
        delivered,
        oldest_due: codec::parse_opt_ts(oldest_due.as_deref(), "outbox.next_attempt_at")?,
    })
}

/// The overview's figures as both stores read them.
pub(crate) struct OverviewRows {
    /// Status and referrals (`referral_status_counts`).
    pub(crate) by_status: Vec<(String, i64)>,
    pub(crate) received_since: i64,
    pub(crate) consent_refusals_since: i64,
    /// Recipient, state (`pending` or `dead`), rows, rows whose last attempt failed.
    pub(crate) open: Vec<(String, String, i64, i64)>,
    /// Recipient and rows delivered since.
    pub(crate) delivered: Vec<(String, i64)>,
    pub(crate) oldest_due: Option<DateTime<Utc>>,
}

/// The overview from its rows.
pub(crate) fn assemble_overview(rows: OverviewRows) -> Result<OpsOverview, StoreError> {
    let mut by_status: Vec<(ReferralStatus, u64)> =
        ReferralStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for (status, n) in rows.by_status {
        let status: ReferralStatus = status
            .parse()
            .map_err(|_| corrupt("referrals.status is not a status"))?;
        if let Some(slot) = by_status.iter_mut().find(|(s, _)| *s == status) {
            slot.1 = count(n);
        }
    }
    let mut partners: BTreeMap<String, PartnerDeliveries> = BTreeMap::new();
    let mut overview = OpsOverview {
        by_status,
        received_since: count(rows.received_since),
        consent_refusals_since: count(rows.consent_refusals_since),
        oldest_due: rows.oldest_due,
        ..OpsOverview::default()
    };
    for (recipient, state, n, failed) in rows.open {
        let p = entry(&mut partners, recipient)?;
        match state.as_str() {
            "pending" => {
                p.pending = count(n);
                p.retrying = count(failed);
                overview.deliveries_pending += count(n);
                overview.deliveries_retrying += count(failed);
            }
            _ => {
                p.dead = count(n);
                overview.dead_letters += count(n);
            }
        }
    }
    for (recipient, n) in rows.delivered {
        entry(&mut partners, recipient)?.delivered_since = count(n);
    }
    overview.partners = partners.into_values().collect();
    Ok(overview)
}

/// The figures of one recipient, added at zero when first seen.
fn entry(
    partners: &mut BTreeMap<String, PartnerDeliveries>,
    recipient: String,
) -> Result<&mut PartnerDeliveries, StoreError> {
    use std::collections::btree_map::Entry;
    match partners.entry(recipient) {
        Entry::Occupied(e) => Ok(e.into_mut()),
        Entry::Vacant(e) => {
            let id = codec::parse_partner(e.key(), "outbox.recipient")?;
            Ok(e.insert(PartnerDeliveries {
                recipient: id,
                delivered_since: 0,
                pending: 0,
                retrying: 0,
                dead: 0,
            }))
        }
    }
}

pub(crate) const META_COLUMNS: &str =
    "id, sender, receiver, status, received_at, updated_at, erased_at";

/// A `referrals` row's metadata with its id.
type MetaRow = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
);

fn meta_from_row(row: MetaRow) -> Result<ReferralMeta, StoreError> {
    let (id, sender, receiver, status, received_at, updated_at, erased_at) = row;
    Ok(ReferralMeta {
        id: codec::parse_referral_id(&id, "referrals.id")?,
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
    })
}

/// Which way from a key a read goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Toward {
    /// Rows before the key (older), newest first.
    Older,
    /// Rows after the key (newer), oldest first.
    Newer,
    /// The key's own row or newer, oldest first.
    NewerOrSame,
}

impl Toward {
    fn comparison(self) -> &'static str {
        match self {
            Self::Older => "<",
            Self::Newer => ">",
            Self::NewerOrSame => ">=",
        }
    }

    fn order(self) -> &'static str {
        match self {
            Self::Older => "DESC",
            Self::Newer | Self::NewerOrSame => "ASC",
        }
    }
}

/// A parameter of a list statement. Each store binds it in its own column types (SQLite:
/// text throughout; PostgreSQL: `timestamptz` and `uuid`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Bind {
    Text(String),
    Time(DateTime<Utc>),
    Id(ReferralId),
}

impl Bind {
    /// The parameter as SQLite stores it.
    fn sqlite(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Time(t) => ts(*t),
            Self::Id(id) => id.to_string(),
        }
    }
}

/// A statement and its parameters, in order (`?` placeholders; the PostgreSQL store numbers
/// them).
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) binds: Vec<Bind>,
}

/// The side columns a partner condition looks at.
fn columns(side: Side) -> &'static [&'static str] {
    match side {
        Side::Either => &["sender", "receiver"],
        Side::Sender => &["sender"],
        Side::Receiver => &["receiver"],
    }
}

/// The conditions a lane checks, appended to `sql` (each starting with ` AND `). A lane on
/// one of the filter's partners leaves out the condition its own equality already implies
/// (`by_lane`: the lane is the partner's, or one of `partners_any`'s).
///
/// The status is a range of one value ([`page_sql`]); with a key (`keyed`, its direction),
/// the key's comparison on `(status, received_at, id)` is the range's one end.
fn filter_conditions(
    filter: &ReferralFilter,
    by_lane: LaneOf,
    keyed: Option<Toward>,
    sql: &mut Sql,
) {
    if let Some(status) = filter.status {
        let bounds: &[&str] = match keyed {
            None => &[">=", "<="],
            Some(Toward::Older) => &[">="],
            Some(Toward::Newer | Toward::NewerOrSame) => &["<="],
        };
        for bound in bounds {
            sql.text.push_str(&format!(" AND status {bound} ?"));
            sql.binds.push(Bind::Text(status.code().to_owned()));
        }
    }
    if let Some(from) = filter.received_from {
        sql.text.push_str(" AND received_at >= ?");
        sql.binds.push(Bind::Time(from));
    }
    if let Some(until) = filter.received_until {
        sql.text.push_str(" AND received_at < ?");
        sql.binds.push(Bind::Time(until));
    }
    if let (Some(partner), false) = (&filter.partner, by_lane == LaneOf::Partner) {
        let parts: Vec<String> = columns(filter.side)
            .iter()
            .map(|c| format!("{c} = ?"))
            .collect();
        sql.text.push_str(&format!(" AND ({})", parts.join(" OR ")));
        for _ in columns(filter.side) {
            sql.binds.push(Bind::Text(partner.as_str().to_owned()));
        }
    }
    if let (Some(any), false) = (&filter.partners_any, by_lane == LaneOf::PartnersAny) {
        let marks = vec!["?"; any.len()].join(", ");
        let parts: Vec<String> = columns(filter.side)
            .iter()
            .map(|c| format!("{c} IN ({marks})"))
            .collect();
        sql.text.push_str(&format!(" AND ({})", parts.join(" OR ")));
        for _ in columns(filter.side) {
            sql.binds
                .extend(any.iter().map(|p| Bind::Text(p.as_str().to_owned())));
        }
    }
}

/// What a lane's equality stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum LaneOf {
    /// The one lane over the whole list.
    All,
    /// The filter's partner.
    Partner,
    /// One of the filter's `partners_any`.
    PartnersAny,
}

/// The lanes of a filter: an equality on one side column each, or one lane over the whole
/// list.
fn lanes(filter: &ReferralFilter) -> (LaneOf, Vec<(&'static str, String)>) {
    let sides = columns(filter.side);
    let (of, lanes): (LaneOf, Vec<(&'static str, String)>) = if let Some(p) = &filter.partner {
        (
            LaneOf::Partner,
            sides.iter().map(|c| (*c, p.as_str().to_owned())).collect(),
        )
    } else if let Some(any) = &filter.partners_any {
        (
            LaneOf::PartnersAny,
            any.iter()
                .flat_map(|p| sides.iter().map(move |c| (*c, p.as_str().to_owned())))
                .collect(),
        )
    } else {
        (LaneOf::All, Vec::new())
    };
    if lanes.is_empty() || lanes.len() > MAX_LANES {
        (LaneOf::All, Vec::new())
    } else {
        (of, lanes)
    }
}

/// The filter without a time bound that the key already implies in the direction of
/// travel, so that the index range starts at the key (a page deep into a long period then
/// does not walk the rows before it).
fn tighten(filter: &ReferralFilter, key: Option<ReferralKey>, toward: Toward) -> ReferralFilter {
    let mut f = filter.clone();
    if let Some(key) = key {
        match toward {
            // (received_at, id) < key: received_at <= key's, so `< until` holds when the
            // key's time is before it.
            Toward::Older => {
                if f.received_until.is_some_and(|u| key.received_at < u) {
                    f.received_until = None;
                }
            }
            // (received_at, id) > key (or =): received_at >= key's.
            Toward::Newer | Toward::NewerOrSame => {
                if f.received_from.is_some_and(|from| key.received_at >= from) {
                    f.received_from = None;
                }
            }
        }
    }
    f
}

/// The statement reading up to `limit` rows matching `filter` from `key` toward `toward`
/// (from the newest when there is no key).
///
/// With a status, each lane orders by the status first and names it as a range of one value
/// (`status >= ? AND status <= ?`, the key as `(status, received_at, id)`), which selects
/// and orders exactly what the equality would. With an equality PostgreSQL takes the status
/// for a constant, so an index on `(received_at, id)` gives the list's order as well as the
/// status's own index, and it costs the two as if each status's rows were spread evenly over
/// time. They are not: the referrals of an end status are the older ones, the newest are all
/// still on their way, so it chose to walk the newest rows one by one and filter (35 ms for
/// a page of completed referrals among 30,000, where the status's index reads 51 entries in
/// under 0.1 ms). As the first key of the order, the status can be served only by an index
/// that starts with it (`referrals_by_status`, or a partner's `_status` index in a lane).
pub(crate) fn page_sql(
    filter: &ReferralFilter,
    key: Option<ReferralKey>,
    toward: Toward,
    limit: usize,
) -> Sql {
    let dir = toward.order();
    let order = format!("ORDER BY received_at {dir}, id {dir}");
    let lane_order = if filter.status.is_some() {
        format!("ORDER BY status {dir}, received_at {dir}, id {dir}")
    } else {
        order.clone()
    };
    let (of, lanes) = lanes(filter);
    let bounded = tighten(filter, key, toward);
    let mut sql = Sql::default();
    let many = lanes.len() > 1;
    let lanes: Vec<Option<(&'static str, String)>> = if lanes.is_empty() {
        vec![None]
    } else {
        lanes.into_iter().map(Some).collect()
    };
    let mut parts = Vec::new();
    for lane in &lanes {
        let mut part = Sql {
            text: format!("SELECT {META_COLUMNS} FROM referrals WHERE 1 = 1"),
            binds: Vec::new(),
        };
        if let Some((column, partner)) = lane {
            part.text.push_str(&format!(" AND {column} = ?"));
            part.binds.push(Bind::Text(partner.clone()));
        }
        filter_conditions(&bounded, of, key.map(|_| toward), &mut part);
        if let Some(key) = key {
            match bounded.status {
                Some(status) => {
                    part.text.push_str(&format!(
                        " AND (status, received_at, id) {} (?, ?, ?)",
                        toward.comparison()
                    ));
                    part.binds.push(Bind::Text(status.code().to_owned()));
                }
                None => part.text.push_str(&format!(
                    " AND (received_at, id) {} (?, ?)",
                    toward.comparison()
                )),
            }
            part.binds.push(Bind::Time(key.received_at));
            part.binds.push(Bind::Id(key.id));
        }
        part.text.push_str(&format!(" {lane_order} LIMIT {limit}"));
        parts.push(part);
    }
    if many {
        // Every subquery named: PostgreSQL before 16 requires it.
        let texts: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("SELECT * FROM ({}) AS lane{i}", p.text))
            .collect();
        sql.text = format!(
            "SELECT {META_COLUMNS} FROM ({}) AS lanes {order} LIMIT {limit}",
            texts.join(" UNION ")
        );
        for p in parts {
            sql.binds.extend(p.binds);
        }
    } else if let Some(p) = parts.pop() {
        sql = p;
    }
    sql
}

/// Reads rows of the list for [`page_from`]: up to `limit` rows matching `filter` from `key`
/// toward `toward` (the statement of [`page_sql`]), inside one snapshot.
#[async_trait::async_trait]
pub(crate) trait ListReader: Send {
    async fn read(
        &mut self,
        filter: &ReferralFilter,
        key: Option<ReferralKey>,
        toward: Toward,
        limit: usize,
    ) -> Result<Vec<ReferralMeta>, StoreError>;
}

#[async_trait::async_trait]
impl ListReader for SqliteConnection {
    async fn read(
        &mut self,
        filter: &ReferralFilter,
        key: Option<ReferralKey>,
        toward: Toward,
        limit: usize,
    ) -> Result<Vec<ReferralMeta>, StoreError> {
        let sql = page_sql(filter, key, toward, limit);
        let mut query = sqlx::query_as::<_, MetaRow>(&sql.text);
        for b in &sql.binds {
            query = query.bind(b.sqlite());
        }
        let rows = query.fetch_all(&mut *self).await.map_err(unavailable)?;
        rows.into_iter().map(meta_from_row).collect()
    }
}

/// One page of the referral list (see the module's docs).
pub(crate) async fn page(
    pool: &SqlitePool,
    filter: &ReferralFilter,
    start: PageStart,
    limit: usize,
) -> Result<ReferralPage, StoreError> {
    if filter.partners_any.as_ref().is_some_and(Vec::is_empty) {
        return Ok(ReferralPage::default());
    }
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let conn: &mut SqliteConnection = &mut tx;
    let page = page_from(conn, filter, start, limit).await?;
    tx.commit().await.map_err(unavailable)?;
    Ok(page)
}

/// One page of the list and whether more match on either side, read through `conn`.
pub(crate) async fn page_from<R: ListReader + ?Sized>(
    conn: &mut R,
    filter: &ReferralFilter,
    start: PageStart,
    limit: usize,
) -> Result<ReferralPage, StoreError> {
    let limit = limit.max(1);
    if filter.partners_any.as_ref().is_some_and(Vec::is_empty) {
        return Ok(ReferralPage::default());
    }
    let page = match start {
        PageStart::Newest | PageStart::OlderThan(_) => {
            let key = match start {
                PageStart::OlderThan(k) => Some(k),
                _ => None,
            };
            let mut items = conn.read(filter, key, Toward::Older, limit + 1).await?;
            let has_older = items.len() > limit;
            items.truncate(limit);
            let has_newer = match (items.first(), key) {
                (Some(first), _) => !conn
                    .read(filter, Some(first.key()), Toward::Newer, 1)
                    .await?
                    .is_empty(),
                (None, Some(k)) => !conn
                    .read(filter, Some(k), Toward::NewerOrSame, 1)
                    .await?
                    .is_empty(),
                (None, None) => false,
            };
            ReferralPage {
                items,
                has_older,
                has_newer,
            }
        }
        PageStart::NewerThan(k) => {
            let mut items = conn.read(filter, Some(k), Toward::Newer, limit + 1).await?;
            let has_newer = items.len() > limit;
            items.truncate(limit);
            items.reverse();
            let has_older = match items.last() {
                Some(last) => !conn
                    .read(filter, Some(last.key()), Toward::Older, 1)
                    .await?
                    .is_empty(),
                None => {
                    // Nothing newer: is the key's own row, or one older, still listed?
                    let older = conn.read(filter, Some(k), Toward::Older, 1).await?;
                    let same = conn.read(filter, Some(k), Toward::NewerOrSame, 1).await?;
                    !older.is_empty() || !same.is_empty()
                }
            };
            ReferralPage {
                items,
                has_older,
                has_newer,
            }
        }
    };
    Ok(page)
}

/// An `outbox` row for the timeline.
type OutboxRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

pub(crate) fn outbox_state(s: &str) -> Result<OutboxState, StoreError> {
    OutboxState::ALL
        .into_iter()
        .find(|x| x.code() == s)
        .ok_or_else(|| corrupt("outbox.state is not a state"))
}

/// A referral's timeline (`None`: no such referral).
pub(crate) async fn timeline(
    pool: &SqlitePool,
    id: ReferralId,
    max_events: usize,
) -> Result<Option<ReferralTimeline>, StoreError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
    let conn: &mut SqliteConnection = &mut tx;
    let key = id.to_string();
    let meta: Option<MetaRow> = sqlx::query_as(&format!(
        "SELECT {META_COLUMNS} FROM referrals WHERE id = ?"
    ))
    .bind(&key)
    .fetch_optional(&mut *conn)
    .await
    .map_err(unavailable)?;
    let Some(meta) = meta else {
        return Ok(None);
    };
    let steps: Vec<(i64, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT seq, status, at, actor, reason_code FROM status_transitions \
         WHERE referral_id = ? ORDER BY seq",
    )
    .bind(&key)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let outbox: Vec<OutboxRow> = sqlx::query_as(
        "SELECT id, referral_id, recipient, kind, transition, state, attempts, created_at, \
         next_attempt_at, last_error, failed_at, delivered_at \
         FROM outbox WHERE referral_id = ? ORDER BY id",
    )
    .bind(&key)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let events: Vec<(i64, String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT seq, at, action, partner, detail FROM audit_events \
         WHERE referral_id = ? ORDER BY seq LIMIT ?",
    )
    .bind(&key)
    .bind(i64::try_from(max_events.saturating_add(1)).unwrap_or(i64::MAX))
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
                at: codec::parse_ts(&at, "status_transitions.at")?,
                by: codec::parse_actor(&actor)?,
                reason_code,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let outbox = outbox
        .into_iter()
        .map(|row| {
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
                created_at: codec::parse_ts(&created_at, "outbox.created_at")?,
                next_attempt_at: codec::parse_ts(&next_attempt_at, "outbox.next_attempt_at")?,
                last_error,
                failed_at: codec::parse_opt_ts(failed_at.as_deref(), "outbox.failed_at")?,
                delivered_at: codec::parse_opt_ts(delivered_at.as_deref(), "outbox.delivered_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let events_truncated = events.len() > max_events;
    let events = events
        .into_iter()
        .take(max_events)
        .map(|(seq, at, action, partner, detail)| {
            timeline_event(
                seq,
                codec::parse_ts(&at, "audit_events.at")?,
                &action,
                partner,
                &detail,
            )
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

/// An audit event for the timeline, with only [`TIMELINE_DETAIL_KEYS`] of its detail.
pub(crate) fn timeline_event(
    seq: i64,
    at: DateTime<Utc>,
    action: &str,
    partner: Option<String>,
    detail: &str,
) -> Result<TimelineEvent, StoreError> {
    let detail: BTreeMap<String, String> = serde_json::from_str(detail)
        .map_err(|_| corrupt("audit_events.detail is not an object of strings"))?;
    Ok(TimelineEvent {
        seq: u64::try_from(seq).map_err(|_| corrupt("audit_events.seq is negative"))?,
        at,
        action: action
            .parse::<AuditAction>()
            .map_err(|_| corrupt("audit_events.action is not an action"))?,
        partner: partner
            .map(|p| codec::parse_partner(&p, "audit_events.partner"))
            .transpose()?,
        detail: detail
            .into_iter()
            .filter(|(k, _)| TIMELINE_DETAIL_KEYS.contains(&k.as_str()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    //! The list's statements read the referrals through their indexes, in list order, for
    //! every kind of filter (`EXPLAIN QUERY PLAN` on the migrated schema).

    use chrono::TimeZone;
    use wijkbrug_adapters::model::PartnerId;

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    fn pid(s: &str) -> PartnerId {
        PartnerId::parse(s).unwrap()
    }

    async fn plan(pool: &SqlitePool, sql: &Sql) -> Vec<String> {
        let text = format!("EXPLAIN QUERY PLAN {}", sql.text);
        let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(&text);
        for b in &sql.binds {
            q = q.bind(b.sqlite());
        }
        q.fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, _, _, d)| d)
            .collect()
    }

    #[tokio::test]
    async fn every_filter_reads_an_index_in_list_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::migrated_in(dir.path()).await;
        let key = ReferralKey {
            received_at: Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap(),
            id: ReferralId::from_parts(1_777_636_800_000, [3; 10]),
        };
        // Inside every period the filters below name.
        let inside = ReferralKey {
            received_at: Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap(),
            id: ReferralId::from_parts(1_775_044_800_000, [4; 10]),
        };
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 4, d, 0, 0, 0).unwrap();
        let filters: Vec<(&str, ReferralFilter, &str)> = vec![
            ("all", ReferralFilter::default(), "referrals_by_received"),
            (
                "status",
                ReferralFilter {
                    status: Some(ReferralStatus::Undeliverable),
                    ..Default::default()
                },
                "referrals_by_status",
            ),
            (
                "time",
                ReferralFilter {
                    received_from: Some(day(1)),
                    received_until: Some(day(2)),
                    ..Default::default()
                },
                "referrals_by_received",
            ),
            (
                "status and time",
                ReferralFilter {
                    status: Some(ReferralStatus::Routed),
                    received_from: Some(day(1)),
                    ..Default::default()
                },
                "referrals_by_status",
            ),
            (
                "sender",
                ReferralFilter {
                    partner: Some(pid("woonstad-noord")),
                    side: Side::Sender,
                    ..Default::default()
                },
                "referrals_by_sender",
            ),
            (
                "receiver with status",
                ReferralFilter {
                    partner: Some(pid("werkplein")),
                    side: Side::Receiver,
                    status: Some(ReferralStatus::Delivered),
                    ..Default::default()
                },
                "referrals_by_receiver_status",
            ),
            (
                "either side",
                ReferralFilter {
                    partner: Some(pid("werkplein")),
                    ..Default::default()
                },
                "referrals_by_sender",
            ),
            (
                "sector",
                ReferralFilter {
                    partners_any: Some(vec![pid("huisarts-de-linde"), pid("thuiszorg-oost")]),
                    ..Default::default()
                },
                "referrals_by_receiver",
            ),
            (
                "partner in a sector, with status and time",
                ReferralFilter {
                    partner: Some(pid("huisarts-de-linde")),
                    partners_any: Some(vec![pid("woonstad-noord")]),
                    status: Some(ReferralStatus::Accepted),
                    received_until: Some(day(20)),
                    ..Default::default()
                },
                "referrals_by_sender_status",
            ),
        ];
        for (name, filter, index) in filters {
            let mut cases = vec![(None, Toward::Older)];
            for k in [key, inside] {
                for toward in [Toward::Older, Toward::Newer, Toward::NewerOrSame] {
                    cases.push((Some(k), toward));
                }
            }
            for (key, toward) in cases {
                let sql = page_sql(&filter, key, toward, 51);
                let lines = plan(&store.pool, &sql).await;
                let text = lines.join(" | ");
                let reads: Vec<&String> =
                    lines.iter().filter(|l| l.contains(" referrals ")).collect();
                // A key inside the filter's period starts the index range.
                if let Some(k) = key {
                    let inside = filter.received_from.is_none_or(|f| k.received_at >= f)
                        && filter.received_until.is_none_or(|u| k.received_at < u);
                    if inside {
                        let range = if filter.status.is_some() {
                            "(status,received_at,id)"
                        } else {
                            "(received_at,id)"
                        };
                        assert!(
                            reads.iter().all(|r| r.contains(range)),
                            "{name} {toward:?}: the key does not start the range: {text}"
                        );
                    }
                }
                assert!(!reads.is_empty(), "{name}: {text}");
                for read in &reads {
                    assert!(
                        read.contains("USING INDEX referrals_by_")
                            || read.contains("USING COVERING INDEX referrals_by_"),
                        "{name}: a lane reads without an index: {text}"
                    );
                }
                assert!(
                    reads.iter().any(|r| r.contains(index)),
                    "{name}: expected {index}: {text}"
                );
                let lanes = reads.len();
                let sorts = lines
                    .iter()
                    .filter(|l| l.contains("TEMP B-TREE FOR ORDER BY"))
                    .count();
                // One lane: the index gives the order. Several: only the union (a page's
                // worth of rows from each lane) is sorted, once.
                let allowed = usize::from(lanes > 1);
                assert!(sorts <= allowed, "{name}: {sorts} sorts: {text}");
            }
        }
        store.close().await;
    }
}
