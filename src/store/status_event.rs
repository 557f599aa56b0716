//! The audit events of a status change and of a referral stored at intake, as both stores'
//! writers append them.

use chrono::{DateTime, Utc};
use wijkbrug_adapters::model::{Actor, Bsn, ReferralId, ReferralStatus, StatusHistory};

use crate::audit::{AuditAction, AuditDraft, Pseudonym};
use crate::store::sqlite::codec;
use crate::store::NewReferral;

/// The `status_changed` event of the change that ends `history` (just applied to referral
/// `id`): from the status before it to its own, by whom, and its reason code if it has one.
/// `None` only for an empty history, which a history that a change was applied to never is.
pub(crate) fn status_changed(id: ReferralId, history: &StatusHistory) -> Option<AuditDraft> {
    let (last, before) = history.transitions().split_last()?;
    let from = before.last().map(|t| t.to.code()).unwrap_or_default();
    let mut changed = AuditDraft::new(last.at, AuditAction::StatusChanged)
        .referral(id)
        .detail("from", from)
        .detail("to", last.to.code())
        .detail("by", codec::actor(&last.by));
    if let Actor::Partner(p) = &last.by {
        changed = changed.partner(p);
    }
    if let Some(code) = &last.reason_code {
        changed = changed.detail("reason_code", code);
    }
    Some(changed)
}

/// The audit events of a referral stored at intake, as both stores' writers append them: the
/// message received (at `at`), then, after the consents that came with it are stored, the
/// consent decision with what was kept and removed, or the refusal (at its last status's
/// time). The resident, when the request names one, as `pseudonym` makes it of the BSN.
pub(crate) fn intake_events(
    new: &NewReferral,
    pseudonym: impl Fn(&Bsn) -> Pseudonym,
    at: DateTime<Utc>,
) -> (AuditDraft, Vec<AuditDraft>) {
    let referral = &new.referral;
    let resident = referral
        .request
        .resident
        .identity
        .as_ref()
        .map(|i| pseudonym(&i.bsn));
    let transitions = referral.history.transitions();
    let event = |action, at| {
        AuditDraft::new(at, action)
            .partner(&referral.request.source.partner)
            .referral(referral.id)
            .resident(resident.clone())
    };
    let received =
        event(AuditAction::MessageReceived, at).detail("status", referral.history.current().code());
    let decided_at = transitions.last().map_or(at, |t| t.at);
    let mut decisions = Vec::new();
    if let Some(shared) = &new.shared {
        let mut decision = event(AuditAction::ConsentDecision, decided_at)
            .detail("decision", "permit")
            .detail("receiver", shared.receiver.as_str());
        if let Some(consent) = shared.consent {
            decision = decision.detail("consent_id", consent);
        }
        decisions.push(decision);
        decisions.push(
            event(AuditAction::Minimised, decided_at)
                .detail("receiver", shared.receiver.as_str())
                .detail("kept", codec::categories(shared.categories))
                .detail("removed", codec::categories(shared.removed)),
        );
    } else if let Some(refused) = transitions
        .last()
        .filter(|t| t.to == ReferralStatus::ConsentMissing)
    {
        let mut decision =
            event(AuditAction::ConsentDecision, decided_at).detail("decision", "refuse");
        if let Some(code) = &refused.reason_code {
            decision = decision.detail("refusal_code", code);
        }
        decisions.push(decision);
    }
    (received, decisions)
}
