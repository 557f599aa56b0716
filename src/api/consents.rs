//! Residents' consents: a partner records one on the resident's behalf (`POST /v1/consents`,
//! the gateway's JSON, or a FHIR R4 Consent from a care partner), lists what it may see of a
//! resident's (`GET /v1/consents?resident=`), and revokes one it recorded
//! (`POST /v1/consents/{id}/revoke`, with its cascade: see [`crate::store::Store::revoke_consent`]).

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use wijkbrug_adapters::model::{
    Bsn, Consent, ConsentEffect, DataCategory, ExternalRef, Grantee, PartnerId, Purpose, Sector,
};

use wijkbrug_adapters::{DecodeContext, Format};

use super::intake::read_body;
use super::params::PathParams;
use super::problem::{FieldError, Problem};
use crate::app::{new_consent_id, SharedState};
use crate::store::{ConsentId, RevokeOutcome, StoredConsent};

/// A consent to record. The recording partner is the authenticated caller.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The resident's BSN (9 digits, 11-proef).
    pub resident_bsn: String,
    /// Exactly one of `grantee_partner` and `grantee_sector`.
    pub grantee_partner: Option<String>,
    pub grantee_sector: Option<String>,
    /// `referral` or `coordination`.
    pub purpose: String,
    /// `permit` (default) or `deny` (an objection).
    pub effect: Option<String>,
    /// Data categories: identity, contact, needs, notes, health, finance.
    pub categories: Vec<String>,
    /// RFC 3339.
    pub valid_from: String,
    pub valid_until: Option<String>,
    /// The evidence, e.g. the id of a signed form.
    pub evidence: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentCreated {
    pub consent_id: String,
}

/// A consent request checked field by field, recorded by `recorded_by`; each problem at its
/// JSON pointer.
pub(crate) fn parse_request(
    req: &ConsentRequest,
    recorded_by: &PartnerId,
) -> Result<Consent, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut err = |location: &str, rule: String| {
        errors.push(FieldError {
            location: location.to_owned(),
            rule,
        })
    };
    let resident = Bsn::parse(&req.resident_bsn)
        .map_err(|e| err("/resident_bsn", e.to_string()))
        .ok();
    let grantee = match (&req.grantee_partner, &req.grantee_sector) {
        (Some(p), None) => PartnerId::parse(p)
            .map(Grantee::Partner)
            .map_err(|e| err("/grantee_partner", e.to_string()))
            .ok(),
        (None, Some(s)) => s
            .parse::<Sector>()
            .map(Grantee::Sector)
            .map_err(|e| err("/grantee_sector", e.to_string()))
            .ok(),
        _ => {
            err(
                "/grantee_partner",
                "give exactly one of grantee_partner and grantee_sector".into(),
            );
            None
        }
    };
    let purpose = req
        .purpose
        .parse::<Purpose>()
        .map_err(|e| err("/purpose", e.to_string()))
        .ok();
    let effect = match req.effect.as_deref() {
        None | Some("permit") => Some(ConsentEffect::Permit),
        Some("deny") => Some(ConsentEffect::Deny),
        Some(_) => {
            err("/effect", "must be permit or deny".into());
            None
        }
    };
    let mut categories = wijkbrug_adapters::model::CategorySet::empty();
    for (i, c) in req.categories.iter().enumerate() {
        match c.parse::<DataCategory>() {
            Ok(c) => categories.insert(c),
            Err(e) => err(&format!("/categories/{i}"), e.to_string()),
        }
    }
    let time = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc));
    let rfc = "must be an RFC 3339 date-time, e.g. 2026-11-01T00:00:00Z".to_owned();
    let valid_from = time(&req.valid_from)
        .map_err(|_| err("/valid_from", rfc.clone()))
        .ok();
    let valid_until = match &req.valid_until {
        None => Some(None),
        Some(s) => time(s)
            .map(Some)
            .map_err(|_| err("/valid_until", rfc.clone()))
            .ok(),
    };
    let evidence = match &req.evidence {
        None => Some(None),
        Some(s) => ExternalRef::parse(s)
            .map(Some)
            .map_err(|e| err("/evidence", e.to_string()))
            .ok(),
    };
    let (
        Some(resident),
        Some(grantee),
        Some(purpose),
        Some(effect),
        Some(valid_from),
        Some(valid_until),
        Some(evidence),
    ) = (
        resident,
        grantee,
        purpose,
        effect,
        valid_from,
        valid_until,
        evidence,
    )
    else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let consent = Consent {
        resident,
        grantee,
        purpose,
        effect,
        categories,
        valid_from,
        valid_until,
        recorded_by: recorded_by.clone(),
        evidence,
        revoked_at: None,
    };
    match consent.check() {
        Ok(()) => Ok(consent),
        Err(e) => {
            let at = if categories.is_empty() {
                "/categories"
            } else {
                "/valid_until"
            };
            Err(vec![FieldError {
                location: at.into(),
                rule: e.to_string(),
            }])
        }
    }
}

/// Record a resident's consent (or objection) on their behalf.
#[utoipa::path(
    post,
    path = "/v1/consents",
    request_body(
        description = "The gateway's JSON; a care partner (adapter fhir-r4) may instead send a FHIR R4 Consent resource as `application/fhir+json`: `patient.identifier` with a BSN system, one `provision.actor`, status active (permit) or rejected (objection). A Consent whose patient is only a reference (as the standard's example) is refused at `/patient/identifier`: the gateway cannot tie it to a resident.",
        content(
            (ConsentRequest = "application/json"),
            (serde_json::Value = "application/fhir+json"),
        )
    ),
    responses(
        (status = 201, description = "Recorded", body = ConsentCreated),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json (or application/fhir+json from a FHIR partner)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "consents"
)]
#[tracing::instrument(skip_all, fields(partner))]
pub async fn post_consent(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&state, &headers, body).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

/// The media type of a request (without parameters), lower case.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

async fn handle(state: &SharedState, headers: &HeaderMap, body: Body) -> Result<Response, Problem> {
    let partner = state.authenticate(headers).await?;
    let fhir_partner = partner.adapter == Format::FhirR4;
    let media = media_type(headers);
    let fhir = match media.as_str() {
        "application/json" => false,
        "application/fhir+json" if fhir_partner => true,
        _ if fhir_partner => {
            return Err(Problem::unsupported_media_type(&[
                "application/json",
                "application/fhir+json",
            ]))
        }
        _ => return Err(Problem::unsupported_media_type(&["application/json"])),
    };
    let bytes = read_body(&state.config.settings.server, headers, body).await?;
    let consent = if fhir {
        let ctx = DecodeContext {
            sender: partner.id.clone(),
            directory: state.directory.clone(),
        };
        wijkbrug_adapters::care::decode_consent(&bytes, &ctx).map_err(|errors| {
            Problem::invalid_request(
                "the FHIR Consent is not valid",
                errors.iter().map(FieldError::from).collect(),
            )
        })?
    } else {
        let req: ConsentRequest = serde_json::from_slice(&bytes).map_err(|e| {
            let kind = if e.is_data() {
                "the JSON does not have the expected fields"
            } else {
                "the body is not well-formed JSON"
            };
            Problem::bad_request(format!("{kind} (line {}, column {})", e.line(), e.column()))
        })?;
        parse_request(&req, &partner.id)
            .map_err(|errors| Problem::invalid_request("the consent is not valid", errors))?
    };
    let id = new_consent_id();
    state
        .store
        .insert_consent(id, &consent)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store failed recording a consent");
            Problem::unavailable("the consent could not be stored; nothing was recorded")
        })?;
    tracing::info!(consent = %id, "consent recorded");
    let mut res = (
        StatusCode::CREATED,
        Json(ConsentCreated {
            consent_id: id.to_string(),
        }),
    )
        .into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/consents/{id}")) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// `GET /v1/consents` parameters.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ConsentQuery {
    /// The resident's BSN (9 digits, 11-proef). Never echoed, in an answer or an error.
    pub resident: Option<String>,
}

/// A consent record as a partner may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    pub id: String,
    /// `partner:<id>` or `sector:<sector>`.
    pub grantee: String,
    /// `referral` or `coordination`.
    pub purpose: String,
    /// `permit` or `deny` (an objection).
    pub effect: String,
    pub categories: Vec<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub recorded_by: String,
    pub evidence: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired`, `not-yet-valid` or `revoked`, as of the request.
    pub status: String,
}

/// The consents of one resident that the caller may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    pub consents: Vec<ConsentView>,
}

/// The status of a consent record at `now`.
fn status_at(c: &Consent, now: DateTime<Utc>) -> &'static str {
    if c.revoked_at.is_some_and(|r| r <= now) {
        "revoked"
    } else if now < c.valid_from {
        "not-yet-valid"
    } else if c.valid_until.is_some_and(|u| u <= now) {
        "expired"
    } else {
        "active"
    }
}

fn view(stored: &StoredConsent, now: DateTime<Utc>) -> ConsentView {
    let c = &stored.consent;
    ConsentView {
        id: stored.id.to_string(),
        grantee: match &c.grantee {
            Grantee::Partner(p) => format!("partner:{p}"),
            Grantee::Sector(s) => format!("sector:{s}"),
        },
        purpose: c.purpose.code().to_owned(),
        effect: match c.effect {
            ConsentEffect::Permit => "permit",
            ConsentEffect::Deny => "deny",
        }
        .to_owned(),
        categories: c.categories.iter().map(|k| k.code().to_owned()).collect(),
        valid_from: c.valid_from,
        valid_until: c.valid_until,
        recorded_by: c.recorded_by.to_string(),
        evidence: c.evidence.as_ref().map(|e| e.as_str().to_owned()),
        revoked_at: c.revoked_at,
        status: status_at(c, now).to_owned(),
    }
}

/// The consents of a resident that the caller recorded or that were granted to it (to it by
/// id, or to its sector). Any other consent is left out: an empty list, never 403, so the
/// answer tells nothing about what others recorded. Standing consents from configuration
/// are not records and are not listed.
#[utoipa::path(
    get,
    path = "/v1/consents",
    params(ConsentQuery),
    responses(
        (status = 200, description = "The consents the caller may see (possibly none)", body = ConsentList),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`resident` missing or not a valid BSN", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "consents"
)]
#[tracing::instrument(skip_all, fields(partner))]
pub async fn list_consents(
    State(state): State<SharedState>,
    headers: HeaderMap,
    query: Result<Query<ConsentQuery>, QueryRejection>,
) -> Response {
    match list(&state, &headers, query).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn list(
    state: &SharedState,
    headers: &HeaderMap,
    query: Result<Query<ConsentQuery>, QueryRejection>,
) -> Result<Response, Problem> {
    let partner = state.authenticate(headers).await?;
    let resident_error = |rule: String| {
        Problem::invalid_request(
            "the query is not valid",
            vec![FieldError {
                location: "resident".into(),
                rule,
            }],
        )
    };
    // A rejected query is not echoed: its text could hold the BSN.
    let Ok(Query(query)) = query else {
        return Err(resident_error(
            "the query string is not valid; give resident=<BSN>".into(),
        ));
    };
    let bsn = match query.resident.as_deref() {
        None => return Err(resident_error("required: the resident's BSN".into())),
        Some(s) => Bsn::parse(s).map_err(|e| resident_error(e.to_string()))?,
    };
    let recorded = state.store.consents_for(&bsn).await.map_err(|e| {
        tracing::error!(error = %e, "store failed listing consents");
        Problem::unavailable("the consents could not be read")
    })?;
    let now = crate::app::now();
    let consents = recorded
        .iter()
        .filter(|s| {
            let c = &s.consent;
            c.recorded_by == partner.id
                || match &c.grantee {
                    Grantee::Partner(p) => *p == partner.id,
                    Grantee::Sector(sector) => *sector == partner.sector,
                }
        })
        .map(|s| view(s, now))
        .collect();
    Ok(Json(ConsentList { consents }).into_response())
}

/// What a revocation did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokeResult {
    pub consent_id: String,
    pub revoked_at: DateTime<Utc>,
    /// Queued deliveries of referrals shared under the consent, now cancelled.
    pub cancelled_deliveries: u32,
    /// Notices queued: to the senders of the cancelled deliveries, and to the receivers of
    /// referrals already delivered under it.
    pub notified: u32,
}

/// Revoke a consent the caller recorded. Queued deliveries under it are cancelled (their
/// senders are told); receivers of referrals already delivered under it are told in their
/// own format (the referral becomes consent_missing). A referral already accepted or in
/// progress cannot become consent_missing: it is audited, its receiver is not told by the
/// gateway. Anyone but the recorder gets 404.
#[utoipa::path(
    post,
    path = "/v1/consents/{id}/revoke",
    params(("id" = String, Path, description = "The consent's id")),
    responses(
        (status = 200, description = "Revoked, with its cascade", body = RevokeResult),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such consent recorded by the caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "consents"
)]
#[tracing::instrument(skip_all, fields(partner))]
pub async fn revoke(
    State(state): State<SharedState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    match revoke_handle(&state, &id, &headers).await {
        Ok(r) => r,
        Err(p) => p.into_response(),
    }
}

async fn revoke_handle(
    state: &SharedState,
    id: &str,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let partner = state.authenticate(headers).await?;
    let id = uuid::Uuid::parse_str(id)
        .map(ConsentId)
        .map_err(|_| Problem::not_found("consent"))?;
    let outcome = state
        .store
        .revoke_consent(id, &partner.id, crate::app::now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store failed revoking a consent");
            Problem::unavailable("the consent could not be revoked; nothing changed")
        })?;
    match outcome {
        None => Err(Problem::not_found("consent")),
        Some(RevokeOutcome::AlreadyRevoked { revoked_at }) => Err(Problem::conflict(format!(
            "the consent was already revoked at {}",
            revoked_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        ))),
        Some(RevokeOutcome::Revoked(r)) => {
            tracing::info!(
                consent = %r.consent,
                cancelled = r.cancelled_deliveries,
                notified = r.notified,
                not_notified = r.not_notified.len(),
                "consent revoked"
            );
            if r.cancelled_deliveries > 0 || r.notified > 0 {
                state.delivery_wake.notify_one();
            }
            Ok(Json(RevokeResult {
                consent_id: r.consent.to_string(),
                revoked_at: r.revoked_at,
                cancelled_deliveries: r.cancelled_deliveries,
                notified: r.notified,
            })
            .into_response())
        }
    }
}
