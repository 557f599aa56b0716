//! Counts for `/metrics` and the dashboard, read at scrape time: referrals by status and
//! receiver (kept by triggers in `referral_status_counts`, migration 0011: a scrape reads a
//! few dozen rows whatever the store holds) and the outbox backlog per recipient (the pending
//! rows, through the partial index `outbox_by_recipient`, dead letters through the partial
//! index `outbox_dead`). Numbers and partner ids only.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use wijkbrug_adapters::model::ReferralStatus;

use super::codec::{corrupt, parse_opt_ts, parse_partner, ts, unavailable};
use crate::store::{OutboxBacklog, ReferralCount, StoreError};

pub(crate) async fn referral_counts(pool: &SqlitePool) -> Result<Vec<ReferralCount>, StoreError> {
    let rows: Vec<(String, Option<String>, i64)> = sqlx::query_as(
        "SELECT status, NULLIF(receiver, ''), referrals FROM referral_status_counts \
         WHERE referrals > 0 ORDER BY status, receiver",
    )
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.into_iter()
        .map(|(status, receiver, count)| {
            Ok(ReferralCount {
                status: status
                    .parse::<ReferralStatus>()
                    .map_err(|_| corrupt("referrals.status is not a status"))?,
                receiver: receiver
                    .map(|r| parse_partner(&r, "referrals.receiver"))
                    .transpose()?,
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect()
}

/// Pending rows per recipient as of `?1`: how many, how many are due, and when the oldest due
/// one was queued (through the partial index `outbox_by_recipient`).
pub(super) const PENDING_BACKLOG: &str = "SELECT recipient, COUNT(*), \
     COALESCE(SUM(next_attempt_at <= ?1), 0), \
     MIN(CASE WHEN next_attempt_at <= ?1 THEN created_at END) \
     FROM outbox WHERE state = 'pending' GROUP BY recipient";

/// Dead letters per recipient (through the partial index `outbox_dead`).
pub(super) const DEAD_BACKLOG: &str =
    "SELECT recipient, COUNT(*) FROM outbox WHERE state = 'dead' GROUP BY recipient";

pub(crate) async fn outbox_backlog(
    pool: &SqlitePool,
    now: DateTime<Utc>,
) -> Result<Vec<OutboxBacklog>, StoreError> {
    let now = ts(now);
    let pending: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(PENDING_BACKLOG)
        .bind(&now)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    let dead: Vec<(String, i64)> = sqlx::query_as(DEAD_BACKLOG)
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mut out: Vec<OutboxBacklog> = Vec::with_capacity(pending.len() + dead.len());
    for (recipient, n, due, oldest) in pending {
        out.push(OutboxBacklog {
            recipient: parse_partner(&recipient, "outbox.recipient")?,
            pending: count(n),
            due: count(due),
            oldest_due_queued_at: parse_opt_ts(oldest.as_deref(), "outbox.created_at")?,
            dead: 0,
        });
    }
    for (recipient, n) in dead {
        let recipient = parse_partner(&recipient, "outbox.recipient")?;
        match out.iter_mut().find(|b| b.recipient == recipient) {
            Some(b) => b.dead = count(n),
            None => out.push(OutboxBacklog {
                recipient,
                pending: 0,
                due: 0,
                oldest_due_queued_at: None,
                dead: count(n),
            }),
        }
    }
    out.sort_by(|a, b| a.recipient.as_str().cmp(b.recipient.as_str()));
    Ok(out)
}
