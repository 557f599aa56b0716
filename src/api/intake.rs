//! `POST /v1/partners/{partner}/messages`: a partner's message in its own format.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;
use wijkbrug_adapters::Format;

use super::in_flight::{self, Admission};
use super::params::PathParams;
use super::problem::{FieldError, Problem};
use crate::app::SharedState;
use crate::config::ServerSettings;
use crate::intake::{self, Outcome, ProcessError};

/// A referral the gateway accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedReferral {
    /// The gateway's id.
    pub referral_id: String,
    /// Your own reference for it.
    pub reference: String,
    /// `routed` (queued for delivery) or `consent_missing` (nothing will be delivered); absent
    /// for a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The partner it was routed to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// True when you had sent it before: nothing new was stored.
    pub duplicate: bool,
    /// Why nothing will be delivered (consent missing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where to read it back.
    pub location: String,
}

/// A status update the gateway applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedStatus {
    pub referral_id: String,
    pub status: String,
}

/// A record the gateway refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedRecord {
    /// The kind of problem, as the `type` of a problem document would name it.
    #[serde(rename = "type")]
    pub kind: String,
    pub status: u16,
    pub location: String,
    pub rule: String,
}

/// The answer to a message: per record, accepted, applied or refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    pub accepted: Vec<AcceptedReferral>,
    pub applied: Vec<AppliedStatus>,
    pub refused: Vec<RefusedRecord>,
}

/// The media types a format's messages may come as.
pub fn media_types(format: Format) -> &'static [&'static str] {
    match format {
        Format::FhirR4 => &["application/fhir+json", "application/json"],
        Format::Iwmo32 => &["application/xml", "text/xml"],
        Format::HousingSignal | Format::CaseJson => &["application/json"],
        Format::EmploymentCsv => &["text/csv"],
    }
}

fn content_type_ok(headers: &HeaderMap, format: Format) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset_ok = parts.all(|p| {
        let p = p.trim().to_ascii_lowercase();
        !p.starts_with("charset=") || p == "charset=utf-8" || p == "charset=\"utf-8\""
    });
    charset_ok && media_types(format).contains(&essence.as_str())
}

/// Reads the body up to the configured limit within the configured time: a larger one is a
/// 413 before it is read in full (by its Content-Length, or as soon as more arrives), a slower
/// one a 408 (a lying Content-Length that promises more than is sent ends there too).
pub async fn read_body(
    server: &ServerSettings,
    headers: &HeaderMap,
    body: Body,
) -> Result<axum::body::Bytes, Problem> {
    let limit = server.body_limit_bytes;
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(Problem::payload_too_large(limit));
        }
    }
    let read = tokio::time::timeout(server.body_read_timeout, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(Problem::body_timeout(server.body_read_timeout));
    };
    read.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            Problem::payload_too_large(limit)
        } else {
            Problem::bad_request("the request body could not be read")
        }
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let ok = v
        .to_str()
        .ok()
        .filter(|s| (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()));
    match ok {
        Some(s) => Ok(Some(s.to_owned())),
        None => Err(Problem::bad_request(
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// Submit a message in your own format: referrals and/or status updates.
#[utoipa::path(
    post,
    path = "/v1/partners/{partner}/messages",
    params(
        ("partner" = String, Path, description = "Your partner id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a repeat of this request answer the first result"),
    ),
    request_body(
        description = "A message in your configured format (see `wijkbrug translate --list`)",
        content(
            (String = "application/fhir+json"),
            (String = "application/xml"),
            (String = "text/csv"),
            (String = "application/json"),
        )
    ),
    responses(
        (status = 202, description = "Referrals accepted (stored durably); per-record results", body = MessageResponse),
        (status = 200, description = "Status updates applied; per-record results", body = MessageResponse),
        (status = 400, description = "The message is not well-formed", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The referral of a status update is not visible to you", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The status update is not a legal transition", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Wrong Content-Type for your format", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every record was refused; each problem names its field and rule", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit exceeded; see Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "intake"
)]
#[tracing::instrument(skip_all, fields(partner = %partner))]
pub async fn post_message(
    State(state): State<SharedState>,
    PathParams(partner): PathParams<String>,
    admission: Option<Extension<Admission>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let admission = admission.map_or(Admission::Any, |Extension(a)| a);
    let response = match handle(&state, &partner, admission, &headers, body).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    };
    state
        .metrics
        .intake_answered(response.status().as_u16(), started.elapsed());
    response
}

async fn handle(
    state: &SharedState,
    partner: &str,
    admission: Admission,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let sender = state.authenticate_as(partner, headers).await?;
    if !content_type_ok(headers, sender.adapter) {
        return Err(Problem::unsupported_media_type(media_types(sender.adapter)));
    }
    let key = idempotency_key(headers)?;
    let bytes = read_body(&state.config.settings.server, headers, body).await?;
    let outcome = match intake::process(state, sender, &bytes, key, admission).await {
        Ok(outcome) => outcome,
        Err(ProcessError::Shed) => return Ok(in_flight::shed(state)),
        Err(ProcessError::Store(e)) => {
            tracing::error!(error = %e, "store failed during intake; nothing was accepted");
            return Err(Problem::unavailable(
                "the gateway could not store the message; nothing was accepted, send it again later",
            ));
        }
    };
    Ok(respond(outcome))
}

fn respond(outcome: Outcome) -> Response {
    if outcome.accepted.is_empty() && outcome.applied.is_empty() {
        let status = outcome
            .refused
            .first()
            .map_or(StatusCode::BAD_REQUEST, |r| r.status);
        let kind = outcome
            .refused
            .first()
            .map_or("invalid-message", |r| r.kind);
        let errors: Vec<FieldError> = outcome.refused.into_iter().map(|r| r.error).collect();
        let problem = match status {
            StatusCode::NOT_FOUND => Problem::not_found("referral").with_errors(errors),
            StatusCode::CONFLICT => Problem::conflict(
                "the status update is not a legal transition from the referral's current status",
            )
            .with_errors(errors),
            _ if kind == "invalid-message" => Problem::invalid_message(status, errors),
            _ => Problem::new(
                status,
                kind,
                "The message could not be accepted",
                "every record was refused; each problem names its field and rule",
            )
            .with_errors(errors),
        };
        return problem.into_response();
    }
    let status = if outcome.accepted.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let single_location = match outcome.accepted.as_slice() {
        [one] => Some(format!("/v1/referrals/{}", one.id)),
        _ => None,
    };
    let body = MessageResponse {
        accepted: outcome
            .accepted
            .into_iter()
            .map(|a| AcceptedReferral {
                location: format!("/v1/referrals/{}", a.id),
                referral_id: a.id.to_string(),
                reference: a.reference,
                status: a.status.map(|s| s.code().to_owned()),
                receiver: a.receiver.map(|r| r.to_string()),
                duplicate: a.duplicate,
                reason: a.reason,
            })
            .collect(),
        applied: outcome
            .applied
            .into_iter()
            .map(|a| AppliedStatus {
                referral_id: a.id.to_string(),
                status: a.status.code().to_owned(),
            })
            .collect(),
        refused: outcome
            .refused
            .into_iter()
            .map(|r| RefusedRecord {
                kind: format!("urn:wijkbrug:problem:{}", r.kind),
                status: r.status.as_u16(),
                location: r.error.location,
                rule: r.error.rule,
            })
            .collect(),
    };
    let mut res = (status, axum::Json(body)).into_response();
    if let Some(loc) = single_location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}
