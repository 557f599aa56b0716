//! The administrator's API: importing consents recorded outside the gateway (say, signed
//! forms collected before a partner was connected), on their recording partners' behalf.
//! Admin role only; the import is all or nothing, and every consent is audited with the
//! importing account's name.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use wijkbrug_adapters::model::{Grantee, PartnerId};

use super::consents::{parse_request, ConsentRequest};
use super::intake::read_body;
use super::problem::{FieldError, Problem};
use crate::access::Permission;
use crate::app::{new_consent_id, SharedState};

/// The most consents one import carries (split larger files).
pub const MAX_IMPORT: usize = 10_000;

/// One consent to import: the fields of `POST /v1/consents` and the partner that recorded it.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // the schema of the document; it is read field by field
pub struct ConsentImportItem {
    /// The partner that recorded the consent on the resident's behalf (a configured partner).
    pub recorded_by: String,
    #[serde(flatten)]
    pub consent: ConsentRequest,
}

/// A consent import: `{"consents": [{"recorded_by": "...", "resident_bsn": "...", ...}]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ConsentImport {
    pub consents: Vec<ConsentImportItem>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentImported {
    /// The new consents' ids, in the order of the import.
    pub consent_ids: Vec<String>,
}

/// Import consents recorded elsewhere. Every entry is checked first; one invalid entry
/// refuses the whole import (422, each problem at `/consents/<i>/<field>`) and nothing is
/// recorded. A repeated import records the consents again (harmless to the decisions: the
/// same permit twice).
#[utoipa::path(
    post,
    path = "/v1/admin/consents",
    request_body(content = ConsentImport, content_type = "application/json"),
    responses(
        (status = 201, description = "All recorded", body = ConsentImported),
        (status = 400, description = "Not JSON, or not the expected shape", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid entries, each named; nothing recorded", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable; nothing recorded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff_token" = [])),
    tag = "admin"
)]
pub async fn import_consents(
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
    let admin = state.authorize_staff(headers, Permission::ImportConsents)?;
    let admin = admin.name.to_string();
    if super::consents::media_type(headers) != "application/json" {
        return Err(Problem::unsupported_media_type(&["application/json"]));
    }
    let bytes = read_body(&state.config.settings.server, headers, body).await?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::bad_request(format!(
            "the body is not well-formed JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let shape = |detail: &str, location: &str, rule: &str| {
        Problem::invalid_request(
            detail.to_owned(),
            vec![FieldError {
                location: location.into(),
                rule: rule.into(),
            }],
        )
    };
    let Some(object) = doc.as_object() else {
        return Err(shape(
            "the import is not an object",
            "",
            "must be {\"consents\": [...]}",
        ));
    };
    if let Some(other) = object.keys().find(|k| *k != "consents") {
        return Err(shape(
            "the import has an unknown member",
            &format!("/{other}"),
            "unknown member: the import has only `consents`",
        ));
    }
    let Some(items) = object.get("consents").and_then(|c| c.as_array()) else {
        return Err(shape(
            "the import has no consents",
            "/consents",
            "must be a list of consents",
        ));
    };
    if items.is_empty() || items.len() > MAX_IMPORT {
        return Err(shape(
            "the import's size is out of range",
            "/consents",
            &format!("must hold 1 to {MAX_IMPORT} consents"),
        ));
    }

    let mut errors = Vec::new();
    let mut consents = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("/consents/{i}{field}");
        let mut item = item.clone();
        let recorded_by = item
            .as_object_mut()
            .and_then(|o| o.remove("recorded_by"))
            .and_then(|v| v.as_str().map(str::to_owned));
        let Some(recorded_by) = recorded_by else {
            errors.push(FieldError {
                location: at("/recorded_by"),
                rule: "required: the configured partner that recorded the consent".into(),
            });
            continue;
        };
        let recorded_by = match known_partner(state, &recorded_by) {
            Ok(p) => p,
            Err(rule) => {
                errors.push(FieldError {
                    location: at("/recorded_by"),
                    rule,
                });
                continue;
            }
        };
        let req: ConsentRequest = match serde_json::from_value(item) {
            Ok(r) => r,
            Err(e) => {
                // serde's messages for a wrong type quote the value (a BSN sent as a number
                // would come back): only the unknown- and missing-field ones, which name a
                // field, are passed on.
                let message = e.to_string();
                let rule = if message.starts_with("unknown field")
                    || message.starts_with("missing field")
                {
                    message
                } else {
                    "a field has the wrong type: every value is a string, categories a list of strings".to_owned()
                };
                errors.push(FieldError {
                    location: at(""),
                    rule,
                });
                continue;
            }
        };
        match parse_request(&req, &recorded_by) {
            Ok(consent) => {
                if let Grantee::Partner(p) = &consent.grantee {
                    if let Err(rule) = known_partner(state, p.as_str()) {
                        errors.push(FieldError {
                            location: at("/grantee_partner"),
                            rule,
                        });
                        continue;
                    }
                }
                consents.push((new_consent_id(), consent));
            }
            Err(errs) => errors.extend(errs.into_iter().map(|e| FieldError {
                location: at(&e.location),
                rule: e.rule,
            })),
        }
    }
    if !errors.is_empty() {
        return Err(Problem::invalid_request(
            "the import has invalid entries; nothing was recorded",
            errors,
        ));
    }
    let ids: Vec<String> = consents.iter().map(|(id, _)| id.to_string()).collect();
    state
        .store
        .import_consents(consents, &admin)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "store failed importing consents");
            Problem::unavailable("the consents could not be stored; nothing was recorded")
        })?;
    tracing::info!(consents = ids.len(), "consents imported");
    Ok((
        StatusCode::CREATED,
        Json(ConsentImported { consent_ids: ids }),
    )
        .into_response())
}

fn known_partner(state: &SharedState, id: &str) -> Result<PartnerId, String> {
    let id = PartnerId::parse(id).map_err(|e| e.to_string())?;
    if state.config.partners.get(id.as_str()).is_some() {
        Ok(id)
    } else {
        Err(format!(
            "unknown partner `{id}`: not in the gateway's configuration"
        ))
    }
}
