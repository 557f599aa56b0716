//! Rendering an outbox item for its recipient: the message in the recipient's own format,
//! with the consent checked again just before it leaves.

use wijkbrug_adapters::adapter::{OutgoingReferral, OutgoingStatus};
use wijkbrug_adapters::model::{ReferralStatus, StatusUpdate, Transition};
use wijkbrug_adapters::{adapter_for, Format};

use crate::app::AppState;
use crate::consent::{self, Receiver, Refusal};
use crate::intake::view_for;
use crate::store::{Lease, OutboxKind, StoreError};

/// A message ready to send.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub media_type: &'static str,
}

/// Why an item cannot be sent.
#[derive(Debug)]
pub enum RenderError {
    /// The consent no longer permits sharing (revoked, expired, narrowed): cancel the
    /// delivery and tell the sender.
    ConsentRevoked(Refusal),
    /// It can never be sent (unknown partner, the format cannot express it, the referral is
    /// gone): a dead letter with this reason.
    Permanent(String),
    /// The store failed: try again later.
    Store(StoreError),
}

impl From<StoreError> for RenderError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Renders `lease` for its recipient as of now.
pub async fn render(state: &AppState, lease: &Lease) -> Result<Rendered, RenderError> {
    let item = &lease.item;
    let recipient = state
        .config
        .partners
        .get(item.recipient.as_str())
        .ok_or_else(|| {
            RenderError::Permanent("the recipient is no longer a configured partner".into())
        })?;
    let stored = state
        .store
        .referral(item.referral)
        .await?
        .ok_or_else(|| RenderError::Permanent("the referral no longer exists".into()))?;
    let adapter = adapter_for(recipient.adapter);
    let bytes = match item.kind {
        OutboxKind::Referral => {
            let shared = stored
                .shared
                .as_ref()
                .filter(|s| s.receiver == recipient.id)
                .ok_or_else(|| {
                    RenderError::Permanent("nothing was shared with this recipient".into())
                })?;
            // Consent is checked again just before each attempt: a revocation in between
            // stops the delivery, a narrowed consent narrows what leaves.
            let identity = stored
                .referral
                .request
                .resident
                .identity
                .as_ref()
                .ok_or_else(|| {
                    RenderError::Permanent("the referral has no resident identity".into())
                })?;
            let recorded = state.store.consents_for(&identity.bsn).await?;
            let mut consents: Vec<_> = recorded.iter().map(|s| (Some(s.id), &s.consent)).collect();
            consents.extend(
                state
                    .config
                    .consents
                    .iter()
                    .filter(|c| c.resident == identity.bsn)
                    .map(|c| (None, c)),
            );
            let permit = consent::decide(
                &shared.request,
                Receiver {
                    partner: &recipient.id,
                    sector: recipient.sector,
                },
                &consents,
                crate::app::now(),
            )
            .map_err(RenderError::ConsentRevoked)?;
            adapter
                .encode_referral(
                    OutgoingReferral {
                        id: item.referral,
                        request: &permit.shared,
                    },
                    &state.directory,
                )
                .map_err(|e| {
                    RenderError::Permanent(format!(
                        "cannot be written as {}: {e}",
                        recipient.adapter
                    ))
                })?
        }
        OutboxKind::Status { transition } => {
            let t: &Transition = usize::try_from(transition)
                .ok()
                .and_then(|i| stored.referral.history.transitions().get(i))
                .ok_or_else(|| {
                    RenderError::Permanent(
                        "the status change is not in the referral's history".into(),
                    )
                })?;
            let request = view_for(&stored, &recipient.id).ok_or_else(|| {
                RenderError::Permanent("the recipient may not see this referral".into())
            })?;
            let update = status_update(item.referral, t)?;
            adapter
                .encode_status(
                    OutgoingStatus {
                        id: item.referral,
                        request,
                        update: &update,
                    },
                    &state.directory,
                )
                .map_err(|e| {
                    RenderError::Permanent(format!(
                        "cannot be written as {}: {e}",
                        recipient.adapter
                    ))
                })?
        }
    };
    Ok(Rendered {
        bytes,
        format: recipient.adapter,
        media_type: recipient.adapter.media_type(),
    })
}

/// A transition as the status update a partner's format carries. The gateway's own states
/// map onto the nearest a partner understands: consent_missing and undeliverable are told as
/// a cancellation with the reason (code `consent-revoked` after a revocation, else
/// `consent-missing`; `undeliverable`).
fn status_update(
    id: wijkbrug_adapters::model::ReferralId,
    t: &Transition,
) -> Result<StatusUpdate, RenderError> {
    let (status, code) = match t.to {
        // A revocation keeps its own code, so a receiver can tell it from consent never given.
        ReferralStatus::ConsentMissing => (
            ReferralStatus::Cancelled,
            Some(
                t.reason_code
                    .clone()
                    .filter(|c| c == crate::store::CONSENT_REVOKED_CODE)
                    .unwrap_or_else(|| "consent-missing".to_owned()),
            ),
        ),
        ReferralStatus::Undeliverable => {
            (ReferralStatus::Cancelled, Some("undeliverable".to_owned()))
        }
        s if s.is_reportable() => (s, t.reason_code.clone()),
        other => {
            return Err(RenderError::Permanent(format!(
                "{other} is not told to partners"
            )));
        }
    };
    let mut update = StatusUpdate::new(wijkbrug_adapters::model::ReferralRef::Id(id), status, t.at)
        .map_err(|e| RenderError::Permanent(e.to_string()))?;
    update.reason = t.reason.clone();
    update.reason_code = code;
    Ok(update)
}
