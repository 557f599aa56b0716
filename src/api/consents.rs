//! `POST /v1/consents`: a partner records a resident's consent on their behalf.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wijkbrug_adapters::model::{
    Bsn, Consent, ConsentEffect, DataCategory, ExternalRef, Grantee, PartnerId, Purpose, Sector,
};

use super::intake::read_body;
use super::problem::{FieldError, Problem};
use crate::app::{new_consent_id, SharedState};

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

fn parse(req: &ConsentRequest, recorded_by: &PartnerId) -> Result<Consent, Vec<FieldError>> {
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
    request_body(content = ConsentRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Recorded", body = ConsentCreated),
        (status = 400, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
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

async fn handle(state: &SharedState, headers: &HeaderMap, body: Body) -> Result<Response, Problem> {
    let partner = state.authenticate(headers)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        });
    if !json {
        return Err(Problem::unsupported_media_type(&["application/json"]));
    }
    let bytes = read_body(headers, body, state.config.settings.server.body_limit_bytes).await?;
    let req: ConsentRequest = serde_json::from_slice(&bytes).map_err(|e| {
        let kind = if e.is_data() {
            "the JSON does not have the expected fields"
        } else {
            "the body is not well-formed JSON"
        };
        Problem::bad_request(format!("{kind} (line {}, column {})", e.line(), e.column()))
    })?;
    let consent = parse(&req, &partner.id)
        .map_err(|errors| Problem::invalid_request("the consent is not valid", errors))?;
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
