//! The outbox's life after intake: leases for the push worker, the mailbox of pulling partners,
//! and the dead letters operations look after. Every change runs as one job of the single
//! writer ([`super::writer`]), so it is one transaction, serialised with every other write.
//!
//! The statements are written to port to PostgreSQL as they are: a claim selects candidates,
//! then leases each with an `UPDATE` that checks again that the row is still free, so two
//! writers racing on one row (possible there, not here) cannot both win it. Every finishing
//! change (complete, retry, dead letter, cancel) is conditional on `locked_by = worker AND
//! state = 'pending'`, and answers whether it changed the row.
//!
//! Decisions worth knowing:
//! - A transition that goes with a row (delivered, undeliverable, consent_missing, routed,
//!   cancelled) is appended only if it is legal from the referral's current status; when it is
//!   not (the referral moved on, e.g. it was cancelled), the row still changes and the
//!   transition is left out. The `notify` rows belong to the transition: they are queued only
//!   when it was appended (a notice about a transition that did not happen would be false), and
//!   a [`crate::store::OutboxKind::Status`] notice gets the appended transition's index.
//! - `Undeliverable`, `Delivered` and the operators' `Routed`/`Cancelled` follow a referral row
//!   only; a status row (a notice) that fails does not change its referral.
//! - Retrying a dead letter keeps `last_error` and `failed_at` as history (the state says it is
//!   pending again); its attempts restart at 0.
//! - A mailbox ack is accepted only for a row that was offered (`locked_by = 'mailbox'`), also
//!   after its visibility expired, as long as it is still pending.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::params;
use wijkbrug_adapters::model::{
    Actor, PartnerId, ReasonText, ReferralId, ReferralStatus, Transition,
};

use super::audit::Chain;
use super::codec::{self, corrupt, ts};
use super::direct;
use super::writer::{transition_in, TransitionJob};
use crate::audit::{AuditAction, AuditDraft};
use crate::store::{Lease, OutboxItem, StoreError, TransitionOutcome};

/// `locked_by` of a row offered to a pulling partner.
pub(crate) const MAILBOX: &str = "mailbox";

/// The reason code of the `undeliverable` transition a dead letter makes.
pub(crate) const UNDELIVERABLE_CODE: &str = "undeliverable";

/// One change to the outbox, run by the writer.
pub(crate) enum DeliveryJob {
    Claim {
        worker: String,
        recipients: Vec<PartnerId>,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    },
    Offer {
        recipient: PartnerId,
        after: Option<i64>,
        now: DateTime<Utc>,
        visibility: Duration,
        limit: usize,
    },
    Complete {
        row: i64,
        worker: String,
        now: DateTime<Utc>,
    },
    RetryLater {
        row: i64,
        worker: String,
        next_attempt_at: DateTime<Utc>,
        error: String,
    },
    DeadLetter {
        row: i64,
        worker: String,
        error: String,
        now: DateTime<Utc>,
        notify: Vec<OutboxItem>,
    },
    Cancel {
        row: i64,
        worker: String,
        transition: Transition,
        notify: Vec<OutboxItem>,
    },
    RetryDead {
        row: i64,
        operator: String,
        now: DateTime<Utc>,
    },
    Discard {
        row: i64,
        operator: String,
        now: DateTime<Utc>,
    },
    Ack {
        recipient: PartnerId,
        row: i64,
        now: DateTime<Utc>,
    },
}

/// What a delivery job answers.
pub(crate) enum DeliveryAnswer {
    Leases(Vec<Lease>),
    Changed(bool),
}

impl DeliveryAnswer {
    pub(crate) fn leases(self) -> Result<Vec<Lease>, StoreError> {
        match self {
            Self::Leases(l) => Ok(l),
            Self::Changed(_) => Err(corrupt("a claim was answered with a change")),
        }
    }

    pub(crate) fn changed(self) -> Result<bool, StoreError> {
        match self {
            Self::Changed(c) => Ok(c),
            Self::Leases(_) => Err(corrupt("a change was answered with leases")),
        }
    }
}

/// Runs one delivery job inside the writer's transaction.
pub(crate) fn run(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    job: &DeliveryJob,
) -> Result<DeliveryAnswer, StoreError> {
    Ok(match job {
        DeliveryJob::Claim {
            worker,
            recipients,
            now,
            lease,
            limit,
        } => DeliveryAnswer::Leases(lease_rows(
            conn,
            Pick::Due(recipients),
            worker,
            *now,
            *lease,
            *limit,
        )?),
        DeliveryJob::Offer {
            recipient,
            after,
            now,
            visibility,
            limit,
        } => DeliveryAnswer::Leases(lease_rows(
            conn,
            Pick::Mailbox(recipient, *after),
            MAILBOX,
            *now,
            *visibility,
            *limit,
        )?),
        DeliveryJob::Complete { row, worker, now } => {
            DeliveryAnswer::Changed(deliver(conn, chain, *row, Holder::Worker(worker), *now)?)
        }
        DeliveryJob::Ack {
            recipient,
            row,
            now,
        } => DeliveryAnswer::Changed(deliver(
            conn,
            chain,
            *row,
            Holder::Mailbox(recipient),
            *now,
        )?),
        DeliveryJob::RetryLater {
            row,
            worker,
            next_attempt_at,
            error,
        } => DeliveryAnswer::Changed(retry_later(
            conn,
            chain,
            *row,
            worker,
            *next_attempt_at,
            error,
        )?),
        DeliveryJob::DeadLetter {
            row,
            worker,
            error,
            now,
            notify,
        } => DeliveryAnswer::Changed(dead_letter(conn, chain, *row, worker, error, *now, notify)?),
        DeliveryJob::Cancel {
            row,
            worker,
            transition,
            notify,
        } => DeliveryAnswer::Changed(cancel(conn, chain, *row, worker, transition, notify)?),
        DeliveryJob::RetryDead { row, operator, now } => DeliveryAnswer::Changed(
            act_on_dead_letter(conn, chain, *row, operator, *now, DeadLetterAction::Retry)?,
        ),
        DeliveryJob::Discard { row, operator, now } => DeliveryAnswer::Changed(act_on_dead_letter(
            conn,
            chain,
            *row,
            operator,
            *now,
            DeadLetterAction::Discard,
        )?),
    })
}

/// Which rows a lease takes.
enum Pick<'a> {
    /// Push delivery: due rows for these recipients.
    Due(&'a [PartnerId]),
    /// A pulling partner's rows after a cursor.
    Mailbox(&'a PartnerId, Option<i64>),
}

/// Who may finish a row.
enum Holder<'a> {
    /// The push worker holding the lease.
    Worker(&'a str),
    /// The recipient of a row offered by the mailbox.
    Mailbox(&'a PartnerId),
}

/// `now + d` in the store's text form.
fn later(now: DateTime<Utc>, d: Duration) -> Result<String, StoreError> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .map(ts)
        .ok_or_else(|| corrupt("a lease or visibility timeout out of range"))
}

/// Selects candidates, then leases each one that is still free.
fn lease_rows(
    conn: &rusqlite::Connection,
    pick: Pick<'_>,
    holder: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Lease>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let now_text = ts(now);
    let until = later(now, lease)?;
    // A row is free when nobody holds a live lease on it, and it goes out only after every
    // older pending row for the same referral and recipient (updates arrive in order). The
    // check looks a referral's rows up by `outbox_by_referral`: SQLite (without statistics)
    // would otherwise pick `outbox_by_recipient` and read every pending row of the recipient
    // for each candidate, which makes a claim quadratic in the queue's length.
    let free = "o.state = 'pending' \
         AND (o.locked_until IS NULL OR o.locked_until <= ?) \
         AND NOT EXISTS (SELECT 1 FROM outbox p INDEXED BY outbox_by_referral \
             WHERE p.referral_id = o.referral_id \
             AND p.recipient = o.recipient AND p.state = 'pending' AND p.id < o.id)";
    let ids: Vec<(i64,)> = match pick {
        Pick::Due(recipients) => {
            // One walk per recipient along `outbox_by_recipient` in id order, stopping at
            // `limit` (without the index SQLite would gather every due row of the queue and
            // sort it, for each claim: a claim would cost the length of the backlog); then
            // the lowest ids of them all, as one walk over every recipient would give.
            let sql = format!(
                "SELECT o.id FROM outbox o INDEXED BY outbox_by_recipient \
                 WHERE o.recipient = ? AND {free} AND o.next_attempt_at <= ? \
                 ORDER BY o.id LIMIT ?"
            );
            let mut ids: Vec<(i64,)> = Vec::new();
            for recipient in recipients {
                ids.extend(direct::all::<(i64,)>(
                    conn,
                    &sql,
                    params![recipient.as_str(), now_text, now_text, limit],
                )?);
            }
            ids.sort_unstable();
            ids.dedup();
            ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            ids
        }
        Pick::Mailbox(recipient, after) => {
            let sql = format!(
                "SELECT o.id FROM outbox o WHERE {free} AND o.recipient = ? AND o.id > ? \
                 ORDER BY o.id LIMIT ?"
            );
            direct::all(
                conn,
                &sql,
                params![now_text, recipient.as_str(), after.unwrap_or(0), limit],
            )?
        }
    };

    let mut leases = Vec::with_capacity(ids.len());
    for (id,) in ids {
        let row: Option<LeaseRow> = direct::optional(
            conn,
            "UPDATE outbox SET locked_by = ?, locked_until = ?, attempts = attempts + 1 \
             WHERE id = ? AND state = 'pending' AND (locked_until IS NULL OR locked_until <= ?) \
             RETURNING id, referral_id, recipient, kind, transition, attempts, created_at",
            params![holder, until, id, now_text],
        )?;
        if let Some(row) = row {
            leases.push(lease_from_row(row)?);
        }
    }
    Ok(leases)
}

/// An `outbox` row as a lease: id, referral id, recipient, kind, transition, attempts,
/// created at.
pub(crate) type LeaseRow = (i64, String, String, String, Option<i64>, i64, String);

pub(crate) fn lease_from_row(row: LeaseRow) -> Result<Lease, StoreError> {
    let (id, referral, recipient, kind, transition, attempts, created_at) = row;
    Ok(Lease {
        row: id,
        item: codec::outbox_from_row((referral, recipient, kind, transition))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt("outbox.attempts is out of range"))?,
        created_at: codec::parse_ts(&created_at, "outbox.created_at")?,
    })
}

/// What the audit needs to know of an outbox row.
struct RowInfo {
    referral: ReferralId,
    recipient: PartnerId,
    is_referral: bool,
}

impl RowInfo {
    /// An audit event about this row.
    fn event(&self, row: i64, at: DateTime<Utc>, action: AuditAction) -> AuditDraft {
        AuditDraft::new(at, action)
            .partner(&self.recipient)
            .referral(self.referral)
            .detail("outbox_id", row)
            .detail(
                "kind",
                if self.is_referral {
                    "referral"
                } else {
                    "status"
                },
            )
    }
}

/// The referral and kind of a row, if `condition` (on the row `id = ?` plus the extra binds)
/// holds.
fn row_of(
    conn: &rusqlite::Connection,
    row: i64,
    condition: &str,
    bind: &str,
) -> Result<Option<RowInfo>, StoreError> {
    let sql =
        format!("SELECT referral_id, recipient, kind FROM outbox WHERE id = ? AND {condition}");
    let found: Option<(String, String, String)> = direct::optional(conn, &sql, params![row, bind])?;
    found
        .map(|(referral, recipient, kind)| {
            Ok(RowInfo {
                referral: codec::parse_referral_id(&referral, "outbox.referral_id")?,
                recipient: codec::parse_partner(&recipient, "outbox.recipient")?,
                is_referral: kind == "referral",
            })
        })
        .transpose()
}

/// The HTTP status code an error text starts with (`HTTP 503 ...`), if any: the audit keeps
/// the code, never the text.
fn http_status(error: &str) -> Option<&str> {
    let code = error.strip_prefix("HTTP ")?.get(..3)?;
    code.bytes().all(|b| b.is_ascii_digit()).then_some(code)
}

/// A delivery attempt's event with its result and status code.
fn attempt(info: &RowInfo, row: i64, at: DateTime<Utc>, result: &str, error: &str) -> AuditDraft {
    let mut event = info
        .event(row, at, AuditAction::DeliveryAttempt)
        .detail("result", result);
    if let Some(code) = http_status(error) {
        event = event.detail("http_status", code);
    }
    event
}

fn retry_later(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    row: i64,
    worker: &str,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<bool, StoreError> {
    let held = "locked_by = ? AND state = 'pending'";
    let Some(info) = row_of(conn, row, held, worker)? else {
        return Ok(false);
    };
    let changed = direct::execute(
        conn,
        "UPDATE outbox SET next_attempt_at = ?, last_error = ?, locked_by = NULL, \
         locked_until = NULL WHERE id = ? AND locked_by = ? AND state = 'pending'",
        params![ts(next_attempt_at), error, row, worker],
    )? == 1;
    if changed {
        let event = attempt(&info, row, crate::store::now(), "retry", error);
        chain.append(conn, event)?;
    }
    Ok(changed)
}

/// Appends `transition` to the referral if it is legal now, with its `notify` rows; whether
/// it was appended.
fn follow(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    referral: ReferralId,
    transition: Transition,
    notify: Vec<OutboxItem>,
) -> Result<bool, StoreError> {
    let queued_at = ts(transition.at);
    let job = TransitionJob {
        id: referral,
        transition,
        notify,
    };
    match transition_in(conn, chain, &job, &queued_at)? {
        TransitionOutcome::Applied(_) => Ok(true),
        TransitionOutcome::Refused(_) => Ok(false),
        TransitionOutcome::NotFound => Err(corrupt(format_args!(
            "an outbox row names referral {referral}, which has no history"
        ))),
    }
}

fn transition(to: ReferralStatus, at: DateTime<Utc>, by: Actor) -> Transition {
    Transition {
        to,
        at,
        by,
        reason: None,
        reason_code: None,
    }
}

/// The row was delivered (by the push worker, or acknowledged from the mailbox).
fn deliver(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    row: i64,
    holder: Holder<'_>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (condition, bind) = match holder {
        Holder::Worker(worker) => ("locked_by = ? AND state = 'pending'", worker),
        Holder::Mailbox(recipient) => (
            "recipient = ? AND locked_by = 'mailbox' AND state = 'pending'",
            recipient.as_str(),
        ),
    };
    let Some(info) = row_of(conn, row, condition, bind)? else {
        return Ok(false);
    };
    let sql = format!(
        "UPDATE outbox SET state = 'delivered', delivered_at = ?, locked_by = NULL, \
         locked_until = NULL WHERE id = ? AND {condition}"
    );
    let changed = direct::execute(conn, &sql, params![ts(now), row, bind])? == 1;
    if changed {
        let mut event = attempt(&info, row, now, "delivered", "");
        if matches!(holder, Holder::Mailbox(_)) {
            event = event.detail("via", "mailbox");
        }
        chain.append(conn, event)?;
    }
    if changed && info.is_referral {
        let delivered = transition(ReferralStatus::Delivered, now, Actor::Gateway);
        follow(conn, chain, info.referral, delivered, Vec::new())?;
    }
    Ok(changed)
}

/// `error` as a transition's reason: control characters made spaces, cut to the maximum
/// length; none when nothing is left.
fn reason(error: &str) -> Option<ReasonText> {
    let text: String = error
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ReasonText::MAX)
        .collect();
    ReasonText::parse(&text).ok()
}

fn dead_letter(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    row: i64,
    worker: &str,
    error: &str,
    now: DateTime<Utc>,
    notify: &[OutboxItem],
) -> Result<bool, StoreError> {
    let held = "locked_by = ? AND state = 'pending'";
    let Some(info) = row_of(conn, row, held, worker)? else {
        return Ok(false);
    };
    let changed = direct::execute(
        conn,
        "UPDATE outbox SET state = 'dead', last_error = ?, failed_at = ?, locked_by = NULL, \
         locked_until = NULL WHERE id = ? AND locked_by = ? AND state = 'pending'",
        params![error, ts(now), row, worker],
    )? == 1;
    if changed {
        chain.append(conn, attempt(&info, row, now, "dead", error))?;
    }
    if changed && info.is_referral {
        let mut undeliverable = transition(ReferralStatus::Undeliverable, now, Actor::Gateway);
        undeliverable.reason = reason(error);
        undeliverable.reason_code = Some(UNDELIVERABLE_CODE.to_owned());
        follow(conn, chain, info.referral, undeliverable, notify.to_vec())?;
    }
    Ok(changed)
}

fn cancel(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    row: i64,
    worker: &str,
    transition: &Transition,
    notify: &[OutboxItem],
) -> Result<bool, StoreError> {
    let held = "locked_by = ? AND state = 'pending'";
    let Some(info) = row_of(conn, row, held, worker)? else {
        return Ok(false);
    };
    let changed = direct::execute(
        conn,
        "UPDATE outbox SET state = 'cancelled', locked_by = NULL, locked_until = NULL \
         WHERE id = ? AND locked_by = ? AND state = 'pending'",
        params![row, worker],
    )? == 1;
    if changed {
        let mut event = attempt(&info, row, transition.at, "cancelled", "");
        if let Some(code) = &transition.reason_code {
            event = event.detail("reason_code", code);
        }
        chain.append(conn, event)?;
        follow(
            conn,
            chain,
            info.referral,
            transition.clone(),
            notify.to_vec(),
        )?;
    }
    Ok(changed)
}

/// Whether the referral's current status is `status`.
fn status_is(
    conn: &rusqlite::Connection,
    referral: ReferralId,
    status: ReferralStatus,
) -> Result<bool, StoreError> {
    let current: Option<(String,)> = direct::optional(
        conn,
        "SELECT status FROM referrals WHERE id = ?",
        [referral.to_string()],
    )?;
    Ok(current.is_some_and(|(s,)| s == status.code()))
}

/// What an operator does with a dead letter.
#[derive(Clone, Copy)]
enum DeadLetterAction {
    /// Back in the queue, due now; an undeliverable referral is routed again.
    Retry,
    /// Put away for good; an undeliverable referral is cancelled.
    Discard,
}

impl DeadLetterAction {
    fn code(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Discard => "discard",
        }
    }

    /// The referral's next status when it is undeliverable.
    fn referral_status(self) -> ReferralStatus {
        match self {
            Self::Retry => ReferralStatus::Routed,
            Self::Discard => ReferralStatus::Cancelled,
        }
    }
}

/// An operator's action on a dead letter: the row changes state, the action is audited, and
/// an undeliverable referral follows (routed again, or cancelled), all in one transaction.
fn act_on_dead_letter(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    row: i64,
    operator: &str,
    now: DateTime<Utc>,
    action: DeadLetterAction,
) -> Result<bool, StoreError> {
    let Some(info) = row_of(conn, row, "state = ?", "dead")? else {
        return Ok(false);
    };
    let changed = match action {
        DeadLetterAction::Retry => direct::execute(
            conn,
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, \
             locked_by = NULL, locked_until = NULL WHERE id = ? AND state = 'dead'",
            params![ts(now), row],
        )?,
        DeadLetterAction::Discard => direct::execute(
            conn,
            "UPDATE outbox SET state = 'discarded', locked_by = NULL, locked_until = NULL \
             WHERE id = ? AND state = 'dead'",
            [row],
        )?,
    } == 1;
    if !changed {
        return Ok(false);
    }
    let event = info
        .event(row, now, AuditAction::OpsAction)
        .detail("op", action.code())
        .detail("operator", operator);
    chain.append(conn, event)?;
    if info.is_referral && status_is(conn, info.referral, ReferralStatus::Undeliverable)? {
        let next = transition(
            action.referral_status(),
            now,
            Actor::Operator(operator.to_owned()),
        );
        follow(conn, chain, info.referral, next, Vec::new())?;
    }
    Ok(true)
}

/// Reads for the operations view.
pub(crate) mod read {
    use sqlx::SqlitePool;

    use super::super::codec::{self, corrupt, unavailable};
    use crate::store::{DeadLetter, StoreError};

    /// A dead `outbox` row: id, referral id, recipient, kind, transition, attempts,
    /// last error, created at, failed at.
    type DeadRow = (
        i64,
        String,
        String,
        String,
        Option<i64>,
        i64,
        Option<String>,
        String,
        Option<String>,
    );

    const COLUMNS: &str = "id, referral_id, recipient, kind, transition, attempts, last_error, \
                           created_at, failed_at";

    /// Newest first by `(failed_at, id)`. The cursor is a row id: the page continues after
    /// that row's `(failed_at, id)`, so pages neither skip nor repeat rows even though ids
    /// and failure times are in different orders. (A cursor row that never failed continues
    /// by id alone.)
    pub(crate) async fn dead_letters(
        pool: &SqlitePool,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut tx = pool.begin().await.map_err(unavailable)?;
        let rows: Vec<DeadRow> = match before {
            None => sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' \
                 ORDER BY failed_at DESC, id DESC LIMIT ?"
            ))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?,
            Some(cursor) => {
                let failed: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT failed_at FROM outbox WHERE id = ?")
                        .bind(cursor)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                match failed.and_then(|(f,)| f) {
                    Some(failed_at) => sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' \
                         AND (failed_at < ? OR (failed_at = ? AND id < ?)) \
                         ORDER BY failed_at DESC, id DESC LIMIT ?"
                    ))
                    .bind(&failed_at)
                    .bind(&failed_at)
                    .bind(cursor)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?,
                    None => sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' AND id < ? \
                         ORDER BY failed_at DESC, id DESC LIMIT ?"
                    ))
                    .bind(cursor)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?,
                }
            }
        };
        tx.commit().await.map_err(unavailable)?;
        rows.into_iter().map(dead_from_row).collect()
    }

    /// The dead letter with this row id (`None` if the row is not a dead letter).
    pub(crate) async fn dead_letter_by_id(
        pool: &SqlitePool,
        row: i64,
    ) -> Result<Option<DeadLetter>, StoreError> {
        let found: Option<DeadRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE id = ? AND state = 'dead'"
        ))
        .bind(row)
        .fetch_optional(pool)
        .await
        .map_err(unavailable)?;
        found.map(dead_from_row).transpose()
    }

    fn dead_from_row(row: DeadRow) -> Result<DeadLetter, StoreError> {
        let (id, referral, recipient, kind, transition, attempts, error, created, failed) = row;
        Ok(DeadLetter {
            row: id,
            item: codec::outbox_from_row((referral, recipient, kind, transition))?,
            attempts: u32::try_from(attempts)
                .map_err(|_| corrupt("outbox.attempts is out of range"))?,
            last_error: error.unwrap_or_default(),
            created_at: codec::parse_ts(&created, "outbox.created_at")?,
            failed_at: codec::parse_ts(
                failed
                    .as_deref()
                    .ok_or_else(|| corrupt("a dead outbox row has no failed_at"))?,
                "outbox.failed_at",
            )?,
        })
    }
}
