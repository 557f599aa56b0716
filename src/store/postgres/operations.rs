//! What operations read that is not a dashboard page: referral counts (kept per status and
//! receiver by triggers in `referral_status_counts`, migration `1004_write_path.sql`: a scrape
//! reads a few dozen rows whatever the store holds) and the outbox backlog for `/metrics`, and a receiver's open referrals (for iWmo start and stop messages, which
//! name their referral by a number derived from its id).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;
use wijkbrug_adapters::model::{PartnerId, ReferralId, ReferralStatus};

use super::codec::{corrupt, parse_partner, referral_id, unavailable};
use crate::store::{OutboxBacklog, ReferralCount, StoreError};

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Referrals per status and receiver (none: `NULL`), from the counts the triggers keep.
pub(crate) const REFERRAL_COUNTS: &str =
    "SELECT status, NULLIF(receiver, ''), referrals FROM referral_status_counts \
     WHERE referrals > 0 ORDER BY status, receiver";

pub(crate) async fn referral_counts(pool: &PgPool) -> Result<Vec<ReferralCount>, StoreError> {
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(REFERRAL_COUNTS)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    rows.into_iter()
        .map(|(status, receiver, n)| {
            Ok(ReferralCount {
                status: status
                    .parse::<ReferralStatus>()
                    .map_err(|_| corrupt("referrals.status is not a status"))?,
                receiver: receiver
                    .map(|r| parse_partner(&r, "referrals.receiver"))
                    .transpose()?,
                count: count(n),
            })
        })
        .collect()
}

/// Recipient, pending, due, the oldest due row's queueing time, dead.
type BacklogRow = (String, i64, i64, Option<DateTime<Utc>>, i64);

/// The outbox backlog per recipient as of `$1`: the pending rows (how many, how many due, when
/// the oldest due one was queued) through the partial index `outbox_by_recipient`, the dead
/// letters through the partial index `outbox_dead` (migration `1004_write_path.sql`), each
/// part naming its index's condition.
pub(crate) const BACKLOG: &str = "\
    WITH pending AS (\
      SELECT recipient, COUNT(*) AS pending, \
             COUNT(*) FILTER (WHERE next_attempt_at <= $1) AS due, \
             MIN(created_at) FILTER (WHERE next_attempt_at <= $1) AS oldest \
      FROM outbox WHERE state = 'pending' GROUP BY recipient), \
    dead AS (SELECT recipient, COUNT(*) AS dead FROM outbox WHERE state = 'dead' \
             GROUP BY recipient) \
    SELECT COALESCE(p.recipient, d.recipient) AS recipient, COALESCE(p.pending, 0), \
           COALESCE(p.due, 0), p.oldest, COALESCE(d.dead, 0) \
    FROM pending p FULL JOIN dead d ON d.recipient = p.recipient ORDER BY recipient";

pub(crate) async fn outbox_backlog(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxBacklog>, StoreError> {
    let rows: Vec<BacklogRow> = sqlx::query_as(BACKLOG)
        .bind(now)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    rows.into_iter()
        .map(|(recipient, pending, due, oldest, dead)| {
            Ok(OutboxBacklog {
                recipient: parse_partner(&recipient, "outbox.recipient")?,
                pending: count(pending),
                due: count(due),
                oldest_due_queued_at: oldest,
                dead: count(dead),
            })
        })
        .collect()
}

pub(crate) async fn open_received(
    pool: &PgPool,
    receiver: &PartnerId,
    limit: u32,
) -> Result<Vec<ReferralId>, StoreError> {
    let rows: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM referrals WHERE receiver = $1 \
         AND status IN ('delivered', 'accepted', 'in_progress') \
         ORDER BY received_at DESC LIMIT $2",
    )
    .bind(receiver.as_str())
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.into_iter()
        .map(|(id,)| referral_id(id, "referrals.id"))
        .collect()
}
