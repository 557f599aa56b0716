//! "Who saw what about me": one resident's processing log, read from the audit chain.
//!
//! The entries follow the spirit of the VNG Verwerkingenlogging fields: what was done
//! (action), when, by whom (actor), to whom the data went (recipient), which data categories,
//! on which legal basis (the consent), with what result, and how long the data is kept.
//! This is what an access request under GDPR article 15 needs.
//!
//! The log of a resident holds the events that carry their pseudonym (intake, consents
//! recorded and revoked, reads of this log) and every event of the referrals first received
//! about them (consent decision, minimisation, deliveries, status changes, reads), linked
//! through the referral id. It never holds the BSN: the caller computes the pseudonym.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use wijkbrug_adapters::model::{CategorySet, PartnerId, ReferralId};

use crate::audit::{AuditAction, AuditEvent};

/// The retention of what a processing-log entry is about, as the configured period says it:
/// the referral's payload is erased `payload_days` after the referral is done; the audit
/// event itself (metadata and pseudonym only) is kept.
pub fn retention_text(r: &crate::config::RetentionSettings) -> String {
    format!(
        "payload erased {} days after the referral is done; this record kept in the audit log",
        r.payload_days
    )
}

/// The legal basis of a referral that was refused for want of consent.
pub const NO_CONSENT: &str = "no consent: not shared";

/// The legal basis of a referral shared under a standing consent from configuration
/// (`config/consents/`), which has no recorded id.
pub const CONFIGURED_CONSENT: &str = "consent from configuration (config/consents)";

/// One processing event about a resident.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ProcessingEntry {
    /// The audit event's seq (the log is in seq order).
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    /// Who did it: a partner id, `gateway`, an operator or the privacy officer.
    pub actor: String,
    /// The partner the data went to (consent decision, minimisation, delivery, read).
    pub recipient: Option<PartnerId>,
    pub referral: Option<ReferralId>,
    /// The data categories shared (or covered, for a consent), when the event shares data.
    pub categories: Option<CategorySet>,
    /// `consent <id>`, [`CONFIGURED_CONSENT`], [`NO_CONSENT`], or `-` when the event shares
    /// nothing.
    pub legal_basis: String,
    /// What came of it: `received (routed)`, `permit`, `refused (...)`, `delivered`, ...
    pub result: String,
    /// How long the data is kept ([`retention_text`]).
    pub retention: String,
}

/// What the log knows of one referral from its consent decision and minimisation.
#[derive(Default)]
struct ReferralFacts {
    consent: Option<String>,
    permitted: bool,
    refused: bool,
    receiver: Option<String>,
    kept: Option<CategorySet>,
}

impl ReferralFacts {
    fn legal_basis(&self) -> String {
        match (&self.consent, self.refused) {
            (Some(id), _) => format!("consent {id}"),
            (None, true) => NO_CONSENT.to_owned(),
            (None, false) if self.permitted => CONFIGURED_CONSENT.to_owned(),
            (None, false) => "-".to_owned(),
        }
    }
}

fn categories(s: Option<&String>) -> Option<CategorySet> {
    let s = s?;
    s.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| c.parse().ok())
        .collect()
}

/// The entries of a resident's events (given in seq order).
pub fn entries(events: &[AuditEvent], retention: &str) -> Vec<ProcessingEntry> {
    let mut facts: HashMap<ReferralId, ReferralFacts> = HashMap::new();
    for e in events {
        let Some(referral) = e.referral else { continue };
        let f = facts.entry(referral).or_default();
        match e.action {
            AuditAction::ConsentDecision => {
                f.refused = e.detail.get("decision").is_some_and(|d| d == "refuse");
                f.permitted = e.detail.get("decision").is_some_and(|d| d == "permit");
                f.consent = e.detail.get("consent_id").cloned();
                f.receiver = e.detail.get("receiver").cloned();
            }
            AuditAction::Minimised => {
                f.kept = categories(e.detail.get("kept"));
                f.receiver = e.detail.get("receiver").cloned();
            }
            _ => {}
        }
    }
    let none = ReferralFacts::default();
    events
        .iter()
        .map(|e| {
            let f = e.referral.and_then(|r| facts.get(&r)).unwrap_or(&none);
            let d = |k: &str| e.detail.get(k).cloned();
            let partner = e.partner.as_ref().map(|p| p.to_string());
            let receiver = || {
                d("receiver")
                    .and_then(|r| PartnerId::parse(&r).ok())
                    .or_else(|| e.partner.clone())
            };
            let is_receiver = partner.is_some() && partner == f.receiver;
            let consent_basis = d("consent_id").map(|c| format!("consent {c}"));
            let (actor, recipient, cats, basis, result) = match e.action {
                AuditAction::MessageReceived => (
                    partner.unwrap_or_else(|| "-".into()),
                    None,
                    None,
                    f.legal_basis(),
                    format!("received ({})", d("status").unwrap_or_default()),
                ),
                AuditAction::ConsentDecision => {
                    let result = if f.refused {
                        match d("refusal_code") {
                            Some(code) => format!("refused ({code}): not shared"),
                            None => "refused: not shared".into(),
                        }
                    } else {
                        "permit".into()
                    };
                    let recipient = d("receiver").and_then(|r| PartnerId::parse(&r).ok());
                    ("gateway".into(), recipient, f.kept, f.legal_basis(), result)
                }
                AuditAction::Minimised => {
                    let removed = d("removed").filter(|r| !r.is_empty());
                    let result = match removed {
                        Some(r) => format!("minimised: removed {r}"),
                        None => "minimised: nothing removed".into(),
                    };
                    (
                        "gateway".into(),
                        receiver(),
                        categories(e.detail.get("kept")),
                        f.legal_basis(),
                        result,
                    )
                }
                AuditAction::DeliveryAttempt => {
                    let referral_kind = d("kind").is_some_and(|k| k == "referral");
                    let cats = (referral_kind && is_receiver).then_some(f.kept).flatten();
                    let what = if referral_kind {
                        "referral"
                    } else {
                        "status notice"
                    };
                    let mut result = format!("{what} {}", d("result").unwrap_or_default());
                    if let Some(code) = d("http_status") {
                        result.push_str(&format!(" (HTTP {code})"));
                    }
                    if let Some(code) = d("reason_code") {
                        result.push_str(&format!(" ({code})"));
                    }
                    (
                        "gateway".into(),
                        e.partner.clone(),
                        cats,
                        consent_basis.unwrap_or_else(|| f.legal_basis()),
                        result,
                    )
                }
                AuditAction::StatusChanged => {
                    let mut result = format!(
                        "status {} -> {}",
                        d("from").unwrap_or_default(),
                        d("to").unwrap_or_default()
                    );
                    if let Some(code) = d("reason_code") {
                        result.push_str(&format!(" ({code})"));
                    }
                    (
                        d("by").unwrap_or_else(|| "-".into()),
                        None,
                        None,
                        f.legal_basis(),
                        result,
                    )
                }
                AuditAction::ReferralRead => (
                    partner.unwrap_or_else(|| "-".into()),
                    e.partner.clone(),
                    is_receiver.then_some(f.kept).flatten(),
                    f.legal_basis(),
                    "read through the API".into(),
                ),
                AuditAction::OpsAction => (
                    d("operator").unwrap_or_else(|| "-".into()),
                    e.partner.clone(),
                    None,
                    f.legal_basis(),
                    format!("dead letter {}", d("op").unwrap_or_default()),
                ),
                AuditAction::ConsentRecorded => {
                    let grantee = d("grantee").unwrap_or_default();
                    let grantee = grantee.split_once(':').map_or(grantee.as_str(), |g| g.1);
                    (
                        partner.unwrap_or_else(|| "-".into()),
                        PartnerId::parse(grantee).ok(),
                        categories(e.detail.get("categories")),
                        consent_basis.unwrap_or_else(|| "-".into()),
                        format!(
                            "consent recorded ({} to {})",
                            d("effect").unwrap_or_default(),
                            d("grantee").unwrap_or_default()
                        ),
                    )
                }
                AuditAction::ConsentRevoked => {
                    let result = match d("notice") {
                        Some(notice) => format!("consent revoked; notice {notice}"),
                        None => "consent revoked".into(),
                    };
                    (
                        d("by").or(partner).unwrap_or_else(|| "-".into()),
                        None,
                        None,
                        consent_basis.unwrap_or_else(|| f.legal_basis()),
                        result,
                    )
                }
                AuditAction::PayloadErased => (
                    "gateway".into(),
                    None,
                    None,
                    "-".into(),
                    "payload erased by the retention job".into(),
                ),
                AuditAction::ProcessingLogRead => (
                    d("reader").unwrap_or_else(|| "-".into()),
                    None,
                    None,
                    "-".into(),
                    "processing log read".into(),
                ),
                // About a connection, not a resident: never in a processing log.
                AuditAction::AccessRefused => (
                    partner.unwrap_or_else(|| "-".into()),
                    None,
                    None,
                    "-".into(),
                    "access refused".into(),
                ),
            };
            ProcessingEntry {
                seq: e.seq,
                at: e.at,
                action: e.action,
                actor,
                recipient,
                referral: e.referral,
                categories: cats,
                legal_basis: basis,
                result,
                retention: retention.to_owned(),
            }
        })
        .collect()
}
