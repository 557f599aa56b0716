//! Revoking a consent, with its cascade, as one job of the single writer (one transaction).
//! See [`crate::store::Store::revoke_consent`] for what it does.
//!
//! Decisions worth knowing:
//! - A referral "rests on" a consent when its shared copy was made under it
//!   (`referrals.consent_id`). Referrals shared under a standing consent from configuration
//!   have no consent id and are not touched (configuration is changed by redeploying it).
//! - A pending referral row is cancelled whether or not a worker holds a lease on it: a
//!   worker's late acknowledgement is then refused (the row is no longer pending). An attempt
//!   already in flight may still reach the receiver; `delivery::render` checks consent just
//!   before sending, so the window is one request.
//! - Only the revocation is refused twice (409 by the API): the cascade runs once.

use chrono::{DateTime, Utc};
use rusqlite::params;
use wijkbrug_adapters::model::{
    Actor, Bsn, PartnerId, ReasonText, ReferralId, ReferralStatus, Transition,
};

use super::audit::Chain;
use super::codec::{self, corrupt, ts};
use super::direct;
use super::writer::{transition_in, TransitionJob};
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

fn revoked_transition(at: DateTime<Utc>, to: ReferralStatus) -> Transition {
    Transition {
        to,
        at,
        by: Actor::Gateway,
        reason: ReasonText::parse(CONSENT_REVOKED_REASON).ok(),
        reason_code: Some(CONSENT_REVOKED_CODE.to_owned()),
    }
}

/// Appends the consent_missing transition with `notify` if legal; whether it was.
fn consent_missing(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    referral: ReferralId,
    at: DateTime<Utc>,
    notify: Vec<OutboxItem>,
    now: &str,
) -> Result<bool, StoreError> {
    revoked_to(
        conn,
        chain,
        referral,
        at,
        ReferralStatus::ConsentMissing,
        notify,
        now,
    )
}

/// Appends the transition to `to` (reason code consent-revoked) with `notify` if legal;
/// whether it was.
fn revoked_to(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    referral: ReferralId,
    at: DateTime<Utc>,
    to: ReferralStatus,
    notify: Vec<OutboxItem>,
    now: &str,
) -> Result<bool, StoreError> {
    let job = TransitionJob {
        id: referral,
        transition: revoked_transition(at, to),
        notify,
    };
    match transition_in(conn, chain, &job, now)? {
        TransitionOutcome::Applied(_) => Ok(true),
        TransitionOutcome::Refused(_) => Ok(false),
        TransitionOutcome::NotFound => Err(corrupt(format_args!(
            "an outbox row names referral {referral}, which has no history"
        ))),
    }
}

pub(crate) fn revoke_in(
    conn: &rusqlite::Connection,
    chain: &mut Chain,
    job: &RevokeJob,
    now: &str,
) -> Result<Option<RevokeOutcome>, StoreError> {
    let id = job.id.to_string();
    let row: Option<(String, String, Option<String>)> = direct::optional(
        conn,
        "SELECT resident, recorded_by, revoked_at FROM consents WHERE id = ?",
        [&id],
    )?;
    let Some((resident, recorded_by, revoked_at)) = row else {
        return Ok(None);
    };
    if recorded_by != job.by.as_str() {
        return Ok(None);
    }
    if let Some(at) = revoked_at {
        return Ok(Some(RevokeOutcome::AlreadyRevoked {
            revoked_at: codec::parse_ts(&at, "consents.revoked_at")?,
        }));
    }
    let resident = Bsn::parse(&resident).map_err(|_| corrupt("consents.resident is not a BSN"))?;
    let pseudonym = chain.pseudonym(&resident);
    direct::execute(
        conn,
        "UPDATE consents SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        params![ts(job.at), id],
    )?;

    let mut cancelled_deliveries = 0u32;
    let mut notified = 0u32;

    // (a) Queued deliveries of copies shared under it: cancelled; the sender is told.
    let queued: Vec<(i64, String, String, String)> = direct::all(
        conn,
        "SELECT o.id, o.referral_id, o.recipient, r.sender FROM outbox o \
         JOIN referrals r ON r.id = o.referral_id \
         WHERE r.consent_id = ? AND o.kind = 'referral' AND o.state = 'pending' ORDER BY o.id",
        [&id],
    )?;
    for (row, referral, recipient, sender) in queued {
        let referral = codec::parse_referral_id(&referral, "outbox.referral_id")?;
        let recipient = codec::parse_partner(&recipient, "outbox.recipient")?;
        let sender = codec::parse_partner(&sender, "referrals.sender")?;
        let changed = direct::execute(
            conn,
            "UPDATE outbox SET state = 'cancelled', locked_by = NULL, locked_until = NULL \
             WHERE id = ? AND state = 'pending'",
            [row],
        )? == 1;
        if !changed {
            continue;
        }
        cancelled_deliveries += 1;
        let cancelled = AuditDraft::new(job.at, AuditAction::DeliveryAttempt)
            .partner(&recipient)
            .referral(referral)
            .detail("outbox_id", row)
            .detail("kind", "referral")
            .detail("result", "cancelled")
            .detail("reason_code", CONSENT_REVOKED_CODE)
            .detail("consent_id", job.id);
        chain.append(conn, cancelled)?;
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
        if consent_missing(conn, chain, referral, job.at, notify, now)? && told {
            notified += 1;
        }
    }

    // (b) Copies already delivered: the receiver is told. A delivered referral becomes
    // consent_missing; one the receiver accepted or started is cancelled (the resident's
    // withdrawal ends the work done under it), and its sender is told too.
    let shared: Vec<(String, String, String, String)> = direct::all(
        conn,
        "SELECT id, receiver, sender, status FROM referrals WHERE consent_id = ? \
         AND status IN ('delivered', 'accepted', 'in_progress') ORDER BY received_at, id",
        [&id],
    )?;
    let mut not_notified = Vec::new();
    for (referral, receiver, sender, status) in shared {
        let referral = codec::parse_referral_id(&referral, "referrals.id")?;
        let receiver = codec::parse_partner(&receiver, "referrals.receiver")?;
        let sender = codec::parse_partner(&sender, "referrals.sender")?;
        let notice = |to: PartnerId| OutboxItem {
            referral,
            recipient: to,
            kind: OutboxKind::Status { transition: 0 },
        };
        let applied = if status == ReferralStatus::Delivered.code() {
            consent_missing(
                conn,
                chain,
                referral,
                job.at,
                vec![notice(receiver.clone())],
                now,
            )?
        } else {
            let mut notify = vec![notice(receiver.clone())];
            if sender != receiver {
                notify.push(notice(sender));
            }
            revoked_to(
                conn,
                chain,
                referral,
                job.at,
                ReferralStatus::Cancelled,
                notify,
                now,
            )?
        };
        if applied {
            notified += 1;
            continue;
        }
        // A status changed in between with no legal way on: audited, not notified.
        let unresolved = AuditDraft::new(job.at, AuditAction::ConsentRevoked)
            .partner(&receiver)
            .referral(referral)
            .resident(Some(pseudonym.clone()))
            .detail("consent_id", job.id)
            .detail("status", &status)
            .detail("notice", "none: no legal transition");
        chain.append(conn, unresolved)?;
        not_notified.push(referral);
    }

    let revoked = AuditDraft::new(job.at, AuditAction::ConsentRevoked)
        .partner(&job.by)
        .resident(Some(pseudonym))
        .detail("consent_id", job.id)
        .detail("by", job.by.as_str())
        .detail("cancelled_deliveries", cancelled_deliveries)
        .detail("notified", notified)
        .detail("not_notified", not_notified.len());
    chain.append(conn, revoked)?;
    Ok(Some(RevokeOutcome::Revoked(Revocation {
        consent: job.id,
        revoked_at: job.at,
        cancelled_deliveries,
        notified,
        not_notified,
    })))
}
