//! Referrals made in the test for the store tests that call `Store` directly (no HTTP): ids,
//! times, the case fixture as a request, transitions and a routed referral with its copy.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, TimeZone, Utc};
use wijkbrug::store::{ConsentId, NewReferral, OutboxItem, OutboxKind, SharedCopy};
use wijkbrug_adapters::case_json;
use wijkbrug_adapters::model::{
    Actor, Bsn, CategorySet, DataCategory, ExternalRef, PartnerId, ReasonText, Referral,
    ReferralId, ReferralRequest, ReferralStatus, StatusHistory, Transition,
};

pub fn partner(id: &str) -> PartnerId {
    PartnerId::parse(id).unwrap()
}

/// A fresh id each call (v7, distinct within the test binary).
pub fn new_id() -> ReferralId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&n.to_be_bytes());
    ReferralId::from_parts(1_790_000_000_000 + n, random)
}

/// 2026-11-02 09:30:`second` UTC.
pub fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, second).unwrap()
}

/// Now, as the store takes it (rows are queued at the real time of the intake).
pub fn now() -> DateTime<Utc> {
    wijkbrug::store::now()
}

/// The request of tests/fixtures/referral.case.json with `reference`, its document id `id`.
pub fn request_for(id: ReferralId, reference: &str) -> ReferralRequest {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/referral.case.json")).unwrap();
    doc["id"] = serde_json::Value::String(id.to_string());
    let (_, mut request) = case_json::decode_request(doc.to_string().as_bytes()).unwrap();
    request.source.reference = ExternalRef::parse(reference).unwrap();
    request
}

/// [`request_for`] with a fresh document id.
pub fn request(reference: &str) -> ReferralRequest {
    request_for(new_id(), reference)
}

pub fn step(to: ReferralStatus, at: DateTime<Utc>, by: Actor) -> Transition {
    Transition {
        to,
        at,
        by,
        reason: None,
        reason_code: None,
    }
}

/// Referral `id` of `request`, received at `at(0)` and routed at `at(1)` under `consent`: its
/// copy minimised to identity and needs, queued for `receiver`.
pub fn routed_referral(
    id: ReferralId,
    request: ReferralRequest,
    receiver: &str,
    consent: Option<ConsentId>,
) -> NewReferral {
    let mut history = StatusHistory::received(at(0), Actor::Gateway);
    history
        .apply(step(ReferralStatus::Routed, at(1), Actor::Gateway))
        .unwrap();
    with_copy_for(receiver, id, request, history, consent)
}

/// A referral from `sender` (reference `<prefix>-<id>`, about `bsn` when given, else the
/// fixture's resident), received at `received` and a second later routed to `receiver` (its
/// copy minimised to identity and needs, queued for it), or refused for want of consent when
/// there is none.
pub fn received_referral(
    sender: &str,
    receiver: Option<&str>,
    bsn: Option<&str>,
    prefix: &str,
    received: DateTime<Utc>,
) -> NewReferral {
    let id = new_id();
    let mut request = request_for(id, &format!("{prefix}-{id}"));
    request.source.partner = partner(sender);
    if let (Some(bsn), Some(identity)) = (bsn, request.resident.identity.as_mut()) {
        identity.bsn = Bsn::parse(bsn).unwrap();
    }
    let mut history = StatusHistory::received(received, Actor::Partner(partner(sender)));
    let at = received + chrono::Duration::seconds(1);
    let Some(receiver) = receiver else {
        let mut missing = step(ReferralStatus::ConsentMissing, at, Actor::Gateway);
        missing.reason = Some(ReasonText::parse("no consent").unwrap());
        history.apply(missing).unwrap();
        return NewReferral {
            referral: Referral {
                id,
                request,
                history,
            },
            shared: None,
            outbox: vec![],
            consents: vec![],
        };
    };
    history
        .apply(step(ReferralStatus::Routed, at, Actor::Gateway))
        .unwrap();
    with_copy_for(receiver, id, request, history, None)
}

/// Referral `id` with its copy for `receiver` (minimised to identity and needs, under
/// `consent`) and the outbox row that delivers it.
fn with_copy_for(
    receiver: &str,
    id: ReferralId,
    request: ReferralRequest,
    history: StatusHistory,
    consent: Option<ConsentId>,
) -> NewReferral {
    let allowed: CategorySet = [DataCategory::Identity, DataCategory::Needs]
        .into_iter()
        .collect();
    let (minimised, removed) = request.minimise(allowed);
    NewReferral {
        referral: Referral {
            id,
            request,
            history,
        },
        shared: Some(SharedCopy {
            receiver: partner(receiver),
            request: minimised,
            categories: allowed,
            removed,
            consent,
        }),
        outbox: vec![OutboxItem {
            referral: id,
            recipient: partner(receiver),
            kind: OutboxKind::Referral,
        }],
        consents: vec![],
    }
}
