//! The audit event of a status change, as both stores' writers append it.

use wijkbrug_adapters::model::{Actor, ReferralId, StatusHistory};

use crate::audit::{AuditAction, AuditDraft};
use crate::store::sqlite::codec;

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
