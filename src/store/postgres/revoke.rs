//! Revoking a consent, with its cascade, as one job of the writer (one transaction holding the
//! chain's head). See [`crate::store::Store::revoke_consent`] for what it does; the decisions
//! are the SQLite store's (`store/sqlite/revoke.rs`).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use wijkbrug_adapters::model::{
    Actor, Bsn, PartnerId, ReasonText, ReferralId, ReferralStatus, Transition,
};

use super::audit::Chain;
use super::codec::{self, corrupt, unavailable};
use super::histories::Histories;
use super::status_changes::transition_in;
use super::writer::TransitionJob;
use crate::audit::{AuditAction, AuditDraft};
use crate::store::{
    ConsentId, OutboxItem, OutboxKind, Revocation, RevokeOutcome, StoreError, TransitionOutcome,
    CONSENT_REVOKED_CODE, CONSENT_REVOKED_REASON,
};

pub(crate) struct RevokeJob {
    pub id: ConsentId,
    pub by: PartnerId,
    pub at: DateTime<Utc>,
}

/// The change to `to` that a revocation makes (reason code consent-revoked), with `notify`.
fn revocation(
    referral: ReferralId,
    at: DateTime<Utc>,
    to: ReferralStatus,
    notify: Vec<OutboxItem>,
) -> TransitionJob {
    TransitionJob {
        id: referral,
        transition: Transition {
            to,
            at,
            by: Actor::Gateway,
            reason: ReasonText::parse(CONSENT_REVOKED_REASON).ok(),
            reason_code: Some(CONSENT_REVOKED_CODE.to_owned()),
        },
        notify,
    }
}

/// Appends `job`'s transition if it is legal; whether it was.
async fn applied(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    job: &TransitionJob,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    match transition_in(conn, chain, histories, job, now).await? {
        TransitionOutcome::Applied(_) => Ok(true),
        TransitionOutcome::Refused(_) => Ok(false),
        TransitionOutcome::NotFound => Err(corrupt(format_args!(
            "an outbox row names referral {}, which has no history",
            job.id
        ))),
    }
}

pub(crate) async fn revoke_in(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    histories: &mut Histories,
    job: &RevokeJob,
    now: DateTime<Utc>,
) -> Result<Option<RevokeOutcome>, StoreError> {
    let id = job.id.0;
    let row: Option<(String, String, Option<DateTime<Utc>>)> =
        sqlx::query_as("SELECT resident, recorded_by, revoked_at FROM consents WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
            .map_err(unavailable)?;
    let Some((resident, recorded_by, revoked_at)) = row else {
        return Ok(None);
    };
    if recorded_by != job.by.as_str() {
        return Ok(None);
    }
    if let Some(revoked_at) = revoked_at {
        return Ok(Some(RevokeOutcome::AlreadyRevoked { revoked_at }));
    }
    let resident = Bsn::parse(&resident).map_err(|_| corrupt("consents.resident is not a BSN"))?;
    let pseudonym = chain.pseudonym(&resident);
    sqlx::query("UPDATE consents SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(job.at)
        .bind(id)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?;

    let mut cancelled_deliveries = 0u32;
    let mut notified = 0u32;

    // (a) Queued deliveries of copies shared under it: cancelled; the sender is told.
    let queued: Vec<(i64, Uuid, String, String)> = sqlx::query_as(
        "SELECT o.id, o.referral_id, o.recipient, r.sender FROM outbox o \
         JOIN referrals r ON r.id = o.referral_id \
         WHERE r.consent_id = $1 AND o.kind = 'referral' AND o.state = 'pending' ORDER BY o.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    for (row, referral, recipient, sender) in queued {
        let referral = codec::referral_id(referral, "outbox.referral_id")?;
        let recipient = codec::parse_partner(&recipient, "outbox.recipient")?;
        let sender = codec::parse_partner(&sender, "referrals.sender")?;
        let changed = sqlx::query(
            "UPDATE outbox SET state = 'cancelled', locked_by = NULL, locked_until = NULL \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(row)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?
        .rows_affected()
            == 1;
        if !changed {
            continue;
        }
        cancelled_deliveries += 1;
        chain.append(
            AuditDraft::new(job.at, AuditAction::DeliveryAttempt)
                .partner(&recipient)
                .referral(referral)
                .detail("outbox_id", row)
                .detail("kind", "referral")
                .detail("result", "cancelled")
                .detail("reason_code", CONSENT_REVOKED_CODE)
                .detail("consent_id", job.id),
        );
        let notify = if sender == recipient {
            Vec::new()
        } else {
            vec![OutboxItem {
                referral,
                recipient: sender,
                kind: OutboxKind::Status { transition: 0 },
            }]
        };
        let told = !notify.is_empty();
        let missing = ReferralStatus::ConsentMissing;
        let change = revocation(referral, job.at, missing, notify);
        if applied(conn, chain, histories, &change, now).await? && told {
            notified += 1;
        }
    }

    // (b) Copies already delivered: the receiver is told. A delivered referral becomes
    // consent_missing; one the receiver accepted or started is cancelled (the resident's
    // withdrawal ends the work done under it), and its sender is told too.
    let shared: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT id, receiver, sender, status FROM referrals WHERE consent_id = $1 \
         AND status IN ('delivered', 'accepted', 'in_progress') ORDER BY received_at, id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .map_err(unavailable)?;
    let mut not_notified = Vec::new();
    for (referral, receiver, sender, status) in shared {
        let referral = codec::referral_id(referral, "referrals.id")?;
        let receiver = codec::parse_partner(&receiver, "referrals.receiver")?;
        let sender = codec::parse_partner(&sender, "referrals.sender")?;
        let notice = |to: PartnerId| OutboxItem {
            referral,
            recipient: to,
            kind: OutboxKind::Status { transition: 0 },
        };
        let (to, notify) = if status == ReferralStatus::Delivered.code() {
            (
                ReferralStatus::ConsentMissing,
                vec![notice(receiver.clone())],
            )
        } else {
            let mut notify = vec![notice(receiver.clone())];
            if sender != receiver {
                notify.push(notice(sender));
            }
            (ReferralStatus::Cancelled, notify)
        };
        let change = revocation(referral, job.at, to, notify);
        if applied(conn, chain, histories, &change, now).await? {
            notified += 1;
            continue;
        }
        // A status changed in between with no legal way on: audited, not notified.
        chain.append(
            AuditDraft::new(job.at, AuditAction::ConsentRevoked)
                .partner(&receiver)
                .referral(referral)
                .resident(Some(pseudonym.clone()))
                .detail("consent_id", job.id)
                .detail("status", &status)
                .detail("notice", "none: no legal transition"),
        );
        not_notified.push(referral);
    }

    chain.append(
        AuditDraft::new(job.at, AuditAction::ConsentRevoked)
            .partner(&job.by)
            .resident(Some(pseudonym))
            .detail("consent_id", job.id)
            .detail("by", job.by.as_str())
            .detail("cancelled_deliveries", cancelled_deliveries)
            .detail("notified", notified)
            .detail("not_notified", not_notified.len()),
    );
    Ok(Some(RevokeOutcome::Revoked(Revocation {
        consent: job.id,
        revoked_at: job.at,
        cancelled_deliveries,
        notified,
        not_notified,
    })))
}
