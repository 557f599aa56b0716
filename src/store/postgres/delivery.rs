//! The outbox's life after intake in PostgreSQL: leases for the push workers of every
//! instance, the mailbox of pulling partners, and the dead letters operations look after. The
//! semantics are the SQLite store's ([`crate::store::sqlite`]'s `delivery` module); what
//! differs is who runs what:
//!
//! - Claims and mailbox offers ([`lease_rows`]) run on their own, outside the writer, as one
//!   statement: the candidates are picked with `FOR UPDATE SKIP LOCKED` (a row another
//!   instance is leasing at that moment is passed over, not waited for) and leased in the
//!   same statement. PostgreSQL re-checks a picked row's conditions against its newest
//!   version before locking it, so two instances can never both lease one row. A claim
//!   appends no audit event, so it need not wait for the chain's head.
//! - Every finishing change (complete, retry, dead letter, cancel, ack, an operator's retry or
//!   discard) is a job of the writer ([`super::writer`]), in a transaction that holds the
//!   chain's head, conditional on `locked_by = worker AND state = 'pending'` (the lease holder
//!   only), and answers whether it changed the row. A worker whose lease expired and was
//!   claimed by another instance is refused.
//!
//! Lease times are the callers' clocks (`now` is passed in, as the trait says): instances'
//! clocks must agree to well within the lease (NTP does), or a fast clock takes leases early.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use wijkbrug_adapters::model::{
    Actor, PartnerId, ReasonText, ReferralId, ReferralStatus, Transition,
};

use super::audit::Chain;
use super::codec::{self, corrupt, unavailable};
use super::histories::Histories;
use super::status_changes::StatusChanges;
use super::writer::TransitionJob;
use crate::audit::{AuditAction, AuditDraft};
use crate::store::{Lease, OutboxItem, StoreError, TransitionOutcome};

/// `locked_by` of a row offered to a pulling partner.
pub(crate) const MAILBOX: &str = "mailbox";

/// The reason code of the `undeliverable` transition a dead letter makes.
pub(crate) const UNDELIVERABLE_CODE: &str = "undeliverable";

/// One finishing change to the outbox, run by the writer.
pub(crate) enum DeliveryJob {
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

impl DeliveryJob {
    /// A push delivery's success or a mailbox acknowledgement: the row becomes delivered.
    pub(crate) fn delivers(&self) -> bool {
        matches!(self, Self::Complete { .. } | Self::Ack { .. })
    }

    /// The `outbox` row a worker's or the mailbox's job finishes (delivered, dead, cancelled),
    /// which moves the referral on when it is the referral's delivery; `None` for a retry
    /// later (no status change) and for an operator's action on a dead letter.
    pub(crate) fn finishing_row(&self) -> Option<i64> {
        match self {
            Self::Complete { row, .. }
            | Self::Ack { row, .. }
            | Self::DeadLetter { row, .. }
            | Self::Cancel { row, .. } => Some(*row),
            Self::RetryLater { .. } | Self::RetryDead { .. } | Self::Discard { .. } => None,
        }
    }
}

/// What a delivery job answers: whether it changed the row.
pub(crate) struct DeliveryAnswer(pub bool);

/// Runs one delivery job inside the writer's transaction.
pub(crate) async fn run(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    job: &DeliveryJob,
) -> Result<DeliveryAnswer, StoreError> {
    Ok(DeliveryAnswer(match job {
        DeliveryJob::Complete { .. } | DeliveryJob::Ack { .. } => {
            let mut changes = StatusChanges::default();
            let mut answers = deliver_run(conn, chain, histories, &mut changes, &[job]).await?;
            changes.write(conn).await?;
            return answers
                .pop()
                .ok_or_else(|| corrupt("a delivery was not answered"));
        }
        DeliveryJob::RetryLater {
            row,
            worker,
            next_attempt_at,
            error,
        } => retry_later(conn, chain, *row, worker, *next_attempt_at, error).await?,
        DeliveryJob::DeadLetter {
            row,
            worker,
            error,
            now,
            notify,
        } => dead_letter(conn, chain, histories, *row, worker, error, *now, notify).await?,
        DeliveryJob::Cancel {
            row,
            worker,
            transition,
            notify,
        } => cancel(conn, chain, histories, *row, worker, transition, notify).await?,
        DeliveryJob::RetryDead { row, operator, now } => {
            act_on_dead_letter(
                conn,
                chain,
                histories,
                *row,
                operator,
                *now,
                DeadLetterAction::Retry,
            )
            .await?
        }
        DeliveryJob::Discard { row, operator, now } => {
            act_on_dead_letter(
                conn,
                chain,
                histories,
                *row,
                operator,
                *now,
                DeadLetterAction::Discard,
            )
            .await?
        }
    }))
}

/// A row is free when nobody holds a live lease on it (`$3` now), and it goes out only after
/// every older pending row for the same referral and recipient (updates arrive in order).
/// How PostgreSQL looks for those older rows depends on its statistics of `outbox`, which
/// the claims keep near the backlog ([`super::claim_statistics`]).
const FREE: &str = "o.state = 'pending' \
     AND (o.locked_until IS NULL OR o.locked_until <= $3) \
     AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.referral_id = o.referral_id \
         AND p.recipient = o.recipient AND p.state = 'pending' AND p.id < o.id)";

/// What a claim does with the rows it picked: leased to `$1` until `$2`.
const LEASE_PICKED: &str = "UPDATE outbox u SET locked_by = $1, locked_until = $2, \
     attempts = u.attempts + 1 FROM picked WHERE u.id = picked.id \
     RETURNING u.id, u.referral_id, u.recipient, u.kind, u.transition, u.attempts, \
     u.created_at";

/// A claim of at most `$5` due rows for the recipients `$4`, oldest first ([`lease_rows`]).
pub(super) fn lease_due_sql() -> String {
    format!(
        "WITH picked AS MATERIALIZED (SELECT o.id FROM outbox o WHERE {FREE} \
         AND o.next_attempt_at <= $3 AND o.recipient = ANY($4) \
         ORDER BY o.id LIMIT $5 FOR UPDATE OF o SKIP LOCKED) {LEASE_PICKED}"
    )
}

/// Which rows a lease takes.
pub(crate) enum Pick<'a> {
    /// Push delivery: due rows for these recipients.
    Due(&'a [PartnerId]),
    /// A pulling partner's rows after a cursor.
    Mailbox(&'a PartnerId, Option<i64>),
}

/// An `outbox` row as a lease: id, referral id, recipient, kind, transition, attempts,
/// created at.
type LeaseRow = (i64, Uuid, String, String, Option<i64>, i64, DateTime<Utc>);

/// Leases up to `limit` free rows to `holder` until `now + lease`, oldest first: one statement
/// that picks with `FOR UPDATE SKIP LOCKED` and leases what it picked.
pub(crate) async fn lease_rows(
    pool: &PgPool,
    pick: Pick<'_>,
    holder: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: usize,
) -> Result<Vec<Lease>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let until = codec::later(now, lease)?;
    let rows: Vec<LeaseRow> = match pick {
        Pick::Due(recipients) => {
            if recipients.is_empty() {
                return Ok(Vec::new());
            }
            let recipients: Vec<&str> = recipients.iter().map(PartnerId::as_str).collect();
            sqlx::query_as(&lease_due_sql())
                .bind(holder)
                .bind(until)
                .bind(now)
                .bind(recipients)
                .bind(codec::limit(limit))
                .fetch_all(pool)
                .await
                .map_err(unavailable)?
        }
        Pick::Mailbox(recipient, after) => sqlx::query_as(&format!(
            "WITH picked AS MATERIALIZED (SELECT o.id FROM outbox o WHERE {FREE} \
             AND o.recipient = $4 AND o.id > $6 \
             ORDER BY o.id LIMIT $5 FOR UPDATE OF o SKIP LOCKED) {LEASE_PICKED}"
        ))
        .bind(holder)
        .bind(until)
        .bind(now)
        .bind(recipient.as_str())
        .bind(codec::limit(limit))
        .bind(after.unwrap_or(0))
        .fetch_all(pool)
        .await
        .map_err(unavailable)?,
    };
    let mut leases = rows
        .into_iter()
        .map(lease_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    leases.sort_by_key(|l| l.row);
    Ok(leases)
}

fn lease_from_row(row: LeaseRow) -> Result<Lease, StoreError> {
    let (id, referral, recipient, kind, transition, attempts, created_at) = row;
    Ok(Lease {
        row: id,
        item: codec::outbox_from_row((referral, recipient, kind, transition))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| corrupt("outbox.attempts is out of range"))?,
        created_at,
    })
}

/// Who may finish a row.
enum Holder<'a> {
    /// The push worker holding the lease.
    Worker(&'a str),
    /// The recipient of a row offered by the mailbox.
    Mailbox(&'a PartnerId),
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

/// Marks the row `id = $1` as `set` (an assignment list using binds from `$3`) if
/// `condition` (on the row, with `$2`) holds, locking it; what it was, if it changed.
async fn change_row(
    conn: &mut PgConnection,
    row: i64,
    condition: &str,
    bind: &str,
    set: &str,
    binds: &[Bind<'_>],
) -> Result<Option<RowInfo>, StoreError> {
    let sql = format!(
        "UPDATE outbox SET {set} WHERE id = $1 AND {condition} \
         RETURNING referral_id, recipient, kind"
    );
    let mut query = sqlx::query_as(&sql).bind(row).bind(bind);
    for b in binds {
        query = match b {
            Bind::Time(t) => query.bind(*t),
            Bind::Text(s) => query.bind(*s),
        };
    }
    let changed: Option<(Uuid, String, String)> = query
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
    changed
        .map(|(referral, recipient, kind)| {
            Ok(RowInfo {
                referral: codec::referral_id(referral, "outbox.referral_id")?,
                recipient: codec::parse_partner(&recipient, "outbox.recipient")?,
                is_referral: kind == "referral",
            })
        })
        .transpose()
}

/// A value bound into [`change_row`]'s assignments.
enum Bind<'a> {
    Time(DateTime<Utc>),
    Text(&'a str),
}

/// Held by `$2`, the worker, and still pending.
const HELD: &str = "locked_by = $2 AND state = 'pending'";

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

async fn retry_later(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    row: i64,
    worker: &str,
    next_attempt_at: DateTime<Utc>,
    error: &str,
) -> Result<bool, StoreError> {
    let Some(info) = change_row(
        conn,
        row,
        HELD,
        worker,
        "next_attempt_at = $3, last_error = $4, locked_by = NULL, locked_until = NULL",
        &[Bind::Time(next_attempt_at), Bind::Text(error)],
    )
    .await?
    else {
        return Ok(false);
    };
    chain.append(attempt(&info, row, crate::store::now(), "retry", error));
    Ok(true)
}

/// Appends `transition` to the referral if it is legal now, with its `notify` rows; whether
/// it was appended.
async fn follow(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    referral: ReferralId,
    transition: Transition,
    notify: Vec<OutboxItem>,
) -> Result<bool, StoreError> {
    let mut changes = StatusChanges::default();
    let followed = stage_follow(
        conn,
        chain,
        histories,
        &mut changes,
        referral,
        transition,
        notify,
    );
    let followed = followed.await?;
    changes.write(conn).await?;
    Ok(followed)
}

/// [`follow`], staged in `changes` to be written with others.
async fn stage_follow(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    changes: &mut StatusChanges,
    referral: ReferralId,
    transition: Transition,
    notify: Vec<OutboxItem>,
) -> Result<bool, StoreError> {
    let queued_at = transition.at;
    let job = TransitionJob {
        id: referral,
        transition,
        notify,
    };
    match changes
        .stage(conn, chain, histories, &job, queued_at)
        .await?
    {
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

/// A delivery or acknowledgement to mark: the row, who may finish it, when it was delivered.
struct Mark<'a> {
    row: i64,
    holder: Holder<'a>,
    at: DateTime<Utc>,
}

impl DeliveryJob {
    fn mark(&self) -> Option<Mark<'_>> {
        match self {
            Self::Complete { row, worker, now } => Some(Mark {
                row: *row,
                holder: Holder::Worker(worker),
                at: *now,
            }),
            Self::Ack {
                recipient,
                row,
                now,
            } => Some(Mark {
                row: *row,
                holder: Holder::Mailbox(recipient),
                at: *now,
            }),
            _ => None,
        }
    }
}

/// Deliveries and mailbox acknowledgements (one, or several that follow one another in a
/// writer's batch): the rows of all of them marked delivered in one statement, then, in the
/// jobs' order, each one's audit event and, for a referral's delivery, the `delivered` status
/// change, staged in `changes` for the caller to write with others ([`StatusChanges`]). The
/// same outcome as one job at a time:
/// marking a row changes no other row and no referral, so the rows may be marked before the
/// status changes of the jobs before them. On
/// the full path about half of a batch's jobs are such, about six in a row (a probe: 31 of 63
/// jobs in 5.5 runs), each otherwise a statement and a round trip of its own. A run that
/// names a row twice is marked one job at a time.
pub(crate) async fn deliver_run(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    changes: &mut StatusChanges,
    jobs: &[&DeliveryJob],
) -> Result<Vec<DeliveryAnswer>, StoreError> {
    let marks = jobs
        .iter()
        .map(|job| {
            job.mark()
                .ok_or_else(|| corrupt("a delivery run holds a job that delivers nothing"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut named = std::collections::HashSet::with_capacity(marks.len());
    if marks.iter().all(|m| named.insert(m.row)) {
        return deliver(conn, chain, histories, changes, &marks).await;
    }
    let mut answers = Vec::with_capacity(marks.len());
    for mark in &marks {
        let one = std::slice::from_ref(mark);
        answers.extend(deliver(conn, chain, histories, changes, one).await?);
    }
    Ok(answers)
}

/// [`deliver_run`] for rows each named once.
async fn deliver(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    changes: &mut StatusChanges,
    marks: &[Mark<'_>],
) -> Result<Vec<DeliveryAnswer>, StoreError> {
    let rows: Vec<i64> = marks.iter().map(|m| m.row).collect();
    let holders: Vec<&str> = marks
        .iter()
        .map(|m| match m.holder {
            Holder::Worker(w) => w,
            Holder::Mailbox(r) => r.as_str(),
        })
        .collect();
    let mailbox: Vec<bool> = marks
        .iter()
        .map(|m| matches!(m.holder, Holder::Mailbox(_)))
        .collect();
    let ats: Vec<DateTime<Utc>> = marks.iter().map(|m| m.at).collect();
    let marked: Vec<(i64, Uuid, String, String)> = sqlx::query_as(DELIVER_RUN)
        .bind(&rows)
        .bind(&holders)
        .bind(&mailbox)
        .bind(&ats)
        .fetch_all(&mut *conn)
        .await
        .map_err(unavailable)?;
    let mut infos = std::collections::HashMap::with_capacity(marked.len());
    for (row, referral, recipient, kind) in marked {
        infos.insert(
            row,
            RowInfo {
                referral: codec::referral_id(referral, "outbox.referral_id")?,
                recipient: codec::parse_partner(&recipient, "outbox.recipient")?,
                is_referral: kind == "referral",
            },
        );
    }
    let mut answers = Vec::with_capacity(marks.len());
    for mark in marks {
        let Some(info) = infos.remove(&mark.row) else {
            answers.push(DeliveryAnswer(false));
            continue;
        };
        let mut event = attempt(&info, mark.row, mark.at, "delivered", "");
        if matches!(mark.holder, Holder::Mailbox(_)) {
            event = event.detail("via", "mailbox");
        }
        chain.append(event);
        if info.is_referral {
            let delivered = transition(ReferralStatus::Delivered, mark.at, Actor::Gateway);
            let staged = stage_follow(
                conn,
                chain,
                histories,
                changes,
                info.referral,
                delivered,
                Vec::new(),
            );
            staged.await?;
        }
        answers.push(DeliveryAnswer(true));
    }
    Ok(answers)
}

/// [`deliver_run`]'s rows marked delivered: each held by its worker (`$3` false) or offered
/// to its recipient by the mailbox (`$3` true), and still pending; what each was.
const DELIVER_RUN: &str = "UPDATE outbox AS o SET state = 'delivered', delivered_at = m.at, \
     locked_by = NULL, locked_until = NULL \
     FROM UNNEST($1::bigint[], $2::text[], $3::bool[], $4::timestamptz[]) AS m (id, holder, mailbox, at) \
     WHERE o.id = m.id AND o.state = 'pending' AND CASE WHEN m.mailbox \
       THEN o.recipient = m.holder AND o.locked_by = 'mailbox' ELSE o.locked_by = m.holder END \
     RETURNING o.id, o.referral_id, o.recipient, o.kind";

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

#[expect(
    clippy::too_many_arguments,
    reason = "the transaction's three parts, the lease (row, worker), the failure (error, at) and who is told"
)]
async fn dead_letter(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    row: i64,
    worker: &str,
    error: &str,
    now: DateTime<Utc>,
    notify: &[OutboxItem],
) -> Result<bool, StoreError> {
    let Some(info) = change_row(
        conn,
        row,
        HELD,
        worker,
        "state = 'dead', last_error = $3, failed_at = $4, locked_by = NULL, \
         locked_until = NULL",
        &[Bind::Text(error), Bind::Time(now)],
    )
    .await?
    else {
        return Ok(false);
    };
    chain.append(attempt(&info, row, now, "dead", error));
    if info.is_referral {
        let mut undeliverable = transition(ReferralStatus::Undeliverable, now, Actor::Gateway);
        undeliverable.reason = reason(error);
        undeliverable.reason_code = Some(UNDELIVERABLE_CODE.to_owned());
        follow(
            conn,
            chain,
            histories,
            info.referral,
            undeliverable,
            notify.to_vec(),
        )
        .await?;
    }
    Ok(true)
}

async fn cancel(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    row: i64,
    worker: &str,
    transition: &Transition,
    notify: &[OutboxItem],
) -> Result<bool, StoreError> {
    let Some(info) = change_row(
        conn,
        row,
        HELD,
        worker,
        "state = 'cancelled', locked_by = NULL, locked_until = NULL",
        &[],
    )
    .await?
    else {
        return Ok(false);
    };
    let mut event = attempt(&info, row, transition.at, "cancelled", "");
    if let Some(code) = &transition.reason_code {
        event = event.detail("reason_code", code);
    }
    chain.append(event);
    follow(
        conn,
        chain,
        histories,
        info.referral,
        transition.clone(),
        notify.to_vec(),
    )
    .await?;
    Ok(true)
}

/// Whether the referral's current status is `status`.
async fn status_is(
    conn: &mut PgConnection,
    referral: ReferralId,
    status: ReferralStatus,
) -> Result<bool, StoreError> {
    let current: Option<(String,)> = sqlx::query_as("SELECT status FROM referrals WHERE id = $1")
        .bind(referral.as_uuid())
        .fetch_optional(&mut *conn)
        .await
        .map_err(unavailable)?;
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
async fn act_on_dead_letter(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    row: i64,
    operator: &str,
    now: DateTime<Utc>,
    action: DeadLetterAction,
) -> Result<bool, StoreError> {
    let changed = match action {
        DeadLetterAction::Retry => {
            change_row(
                conn,
                row,
                "state = $2",
                "dead",
                "state = 'pending', attempts = 0, next_attempt_at = $3, locked_by = NULL, \
                 locked_until = NULL",
                &[Bind::Time(now)],
            )
            .await?
        }
        DeadLetterAction::Discard => {
            change_row(
                conn,
                row,
                "state = $2",
                "dead",
                "state = 'discarded', locked_by = NULL, locked_until = NULL",
                &[],
            )
            .await?
        }
    };
    let Some(info) = changed else {
        return Ok(false);
    };
    let event = info
        .event(row, now, AuditAction::OpsAction)
        .detail("op", action.code())
        .detail("operator", operator);
    chain.append(event);
    if info.is_referral && status_is(conn, info.referral, ReferralStatus::Undeliverable).await? {
        let next = transition(
            action.referral_status(),
            now,
            Actor::Operator(operator.to_owned()),
        );
        follow(conn, chain, histories, info.referral, next, Vec::new()).await?;
    }
    Ok(true)
}

/// Reads for the operations view.
pub(crate) mod read {
    use chrono::{DateTime, Utc};
    use sqlx::PgPool;
    use uuid::Uuid;

    use super::super::codec::{self, corrupt, unavailable};
    use crate::store::{DeadLetter, StoreError};

    /// A dead `outbox` row: id, referral id, recipient, kind, transition, attempts,
    /// last error, created at, failed at.
    type DeadRow = (
        i64,
        Uuid,
        String,
        String,
        Option<i64>,
        i64,
        Option<String>,
        DateTime<Utc>,
        Option<DateTime<Utc>>,
    );

    const COLUMNS: &str = "id, referral_id, recipient, kind, transition, attempts, last_error, \
                           created_at, failed_at";

    /// Newest first by `(failed_at, id)`. The cursor is a row id: the page continues after
    /// that row's `(failed_at, id)`, so pages neither skip nor repeat rows even though ids
    /// and failure times are in different orders. (A cursor row that never failed continues
    /// by id alone.)
    pub(crate) async fn dead_letters(
        pool: &PgPool,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let limit = codec::limit(limit);
        let mut tx = pool
            .begin_with(super::super::SNAPSHOT)
            .await
            .map_err(unavailable)?;
        let rows: Vec<DeadRow> = match before {
            None => sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' \
                 ORDER BY failed_at DESC, id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?,
            Some(cursor) => {
                let failed: Option<(Option<DateTime<Utc>>,)> =
                    sqlx::query_as("SELECT failed_at FROM outbox WHERE id = $1")
                        .bind(cursor)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                match failed.and_then(|(f,)| f) {
                    Some(failed_at) => sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' \
                         AND (failed_at < $1 OR (failed_at = $1 AND id < $2)) \
                         ORDER BY failed_at DESC, id DESC LIMIT $3"
                    ))
                    .bind(failed_at)
                    .bind(cursor)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(unavailable)?,
                    None => sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' AND id < $1 \
                         ORDER BY failed_at DESC, id DESC LIMIT $2"
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
        rows.into_iter()
            .map(|row| {
                let (id, referral, recipient, kind, transition, attempts, error, created, failed) =
                    row;
                Ok(DeadLetter {
                    row: id,
                    item: codec::outbox_from_row((referral, recipient, kind, transition))?,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| corrupt("outbox.attempts is out of range"))?,
                    last_error: error.unwrap_or_default(),
                    created_at: created,
                    failed_at: failed
                        .ok_or_else(|| corrupt("a dead outbox row has no failed_at"))?,
                })
            })
            .collect()
    }

    /// The dead letter with this outbox row id (`None` if that row is not a dead letter).
    pub(crate) async fn dead_letter_by_id(
        pool: &PgPool,
        row: i64,
    ) -> Result<Option<DeadLetter>, StoreError> {
        let found: Option<DeadRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE state = 'dead' AND id = $1"
        ))
        .bind(row)
        .fetch_optional(pool)
        .await
        .map_err(unavailable)?;
        found
            .map(|row| {
                let (id, referral, recipient, kind, transition, attempts, error, created, failed) =
                    row;
                Ok(DeadLetter {
                    row: id,
                    item: codec::outbox_from_row((referral, recipient, kind, transition))?,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| corrupt("outbox.attempts is out of range"))?,
                    last_error: error.unwrap_or_default(),
                    created_at: created,
                    failed_at: failed
                        .ok_or_else(|| corrupt("a dead outbox row has no failed_at"))?,
                })
            })
            .transpose()
    }
}
