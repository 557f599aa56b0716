//! The privacy officer's API: one resident's processing log ("who saw what about me", GDPR
//! article 15). Only the privacy officer's role may read it; partners, operations and admins
//! get 403. Every read is itself audited.
//!
//! The BSN is in the path; it is validated, turned into the keyed pseudonym the audit log
//! uses, and never echoed, logged or stored (the request span shows a redacted path).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use wijkbrug_adapters::model::Bsn;

use super::params::PathParams;
use super::problem::{FieldError, Problem};
use crate::access::Permission;
use crate::app::SharedState;
use crate::processing_log::ProcessingEntry;

/// The redacted path the request span shows for this route.
pub const REDACTED_PATH: &str = "/v1/privacy/residents/{bsn}/processing-log";

/// One processing event about the resident (after the VNG Verwerkingenlogging fields).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessingEntryView {
    /// The audit event's sequence number.
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// The action code: `message_received`, `consent_decision`, `minimised`,
    /// `delivery_attempt`, `status_changed`, `referral_read`, `ops_action`,
    /// `consent_recorded`, `consent_revoked`, `processing_log_read`.
    pub action: &'static str,
    /// Who did it: a partner id, `gateway`, an operator or a privacy officer.
    pub actor: String,
    /// The partner the data went to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    /// The data categories shared (or a consent covers).
    pub categories: Vec<String>,
    /// `consent <id>`, `no consent: not shared`, or `-`.
    pub legal_basis: String,
    pub result: String,
    pub retention: String,
}

/// A resident's processing log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProcessingLog {
    pub entries: Vec<ProcessingEntryView>,
}

pub fn view(e: ProcessingEntry) -> ProcessingEntryView {
    ProcessingEntryView {
        seq: e.seq,
        time: e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        action: e.action.code(),
        actor: e.actor,
        recipient: e.recipient.map(|r| r.to_string()),
        referral_id: e.referral.map(|r| r.to_string()),
        categories: e
            .categories
            .map(|c| c.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default(),
        legal_basis: e.legal_basis,
        result: e.result,
        retention: e.retention,
    }
}

/// Every processing event about one resident: who received which data categories, when,
/// under which consent. The read is audited.
#[utoipa::path(
    get,
    path = "/v1/privacy/residents/{bsn}/processing-log",
    params(("bsn" = String, Path, description = "The resident's BSN (9 digits, 11-proef)")),
    responses(
        (status = 200, body = ProcessingLog),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a privacy officer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid BSN", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff_token" = [])),
    tag = "privacy"
)]
pub async fn processing_log(
    State(state): State<SharedState>,
    PathParams(bsn): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    let officer = match state.authorize_staff(&headers, Permission::ReadProcessingLog) {
        Ok(account) => account.name.to_string(),
        Err(p) => return p.into_response(),
    };
    let bsn = match Bsn::parse(&bsn) {
        Ok(b) => b,
        Err(rule) => {
            return Problem::invalid_request(
                "the path does not name a valid BSN",
                vec![FieldError {
                    location: "bsn".into(),
                    rule: rule.to_string(),
                }],
            )
            .into_response()
        }
    };
    let pseudonym = state.config.settings.audit.pseudonym_key.pseudonym(&bsn);
    let retention = crate::processing_log::retention_text(&state.config.settings.retention);
    let entries = match state
        .store
        .processing_log(pseudonym.as_str(), &retention)
        .await
    {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "store failed reading a processing log");
            return Problem::unavailable("the store is unavailable").into_response();
        }
    };
    // No answer without its audit event.
    if let Err(e) = state
        .store
        .record_processing_log_read(&officer, &pseudonym, entries.len())
        .await
    {
        tracing::error!(error = %e, "store failed auditing a processing log read");
        return Problem::unavailable("the store is unavailable").into_response();
    }
    Json(ProcessingLog {
        entries: entries.into_iter().map(view).collect(),
    })
    .into_response()
}
