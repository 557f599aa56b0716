//! `GET /v1/referrals/{id}`: a referral as the asking partner may see it.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use wijkbrug_adapters::model::{Actor, ReferralId};

use super::params::PathParams;
use super::problem::Problem;
use crate::app::SharedState;
use crate::intake::view_for;

/// One step of a referral's status history.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub status: String,
    pub at: String,
    /// `gateway`, `partner:<id>` or `operator:<name>`.
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

/// A referral as you may see it: the sender sees what it sent, the receiver what was shared
/// with it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    pub id: String,
    pub status: String,
    pub sender: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    pub history: Vec<HistoryEntry>,
    /// The referral in case-json (`wijkbrug.case/1`).
    #[schema(value_type = Object)]
    pub referral: serde_json::Value,
}

/// Read a referral you sent or received.
#[utoipa::path(
    get,
    path = "/v1/referrals/{id}",
    params(("id" = String, Path, description = "The gateway's referral id")),
    responses(
        (status = 200, description = "The referral as you may see it", body = ReferralView),
        (status = 401, description = "Not authenticated", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such referral visible to you (also for other partners' referrals, and for a referral whose payload retention erased)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit exceeded", body = Problem, content_type = "application/problem+json"),
    ),
    security(("partner_token" = [])),
    tag = "referrals"
)]
#[tracing::instrument(skip_all, fields(partner, referral = %id))]
pub async fn get_referral(
    State(state): State<SharedState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    let partner = match state.authenticate(&headers).await {
        Ok(p) => p,
        Err(p) => return p.into_response(),
    };
    let Ok(id) = ReferralId::parse(&id) else {
        return Problem::not_found("referral").into_response();
    };
    let stored = match state.store.referral(id).await {
        Ok(Some(s)) => s,
        Ok(None) => return Problem::not_found("referral").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed reading a referral");
            return Problem::unavailable("the store is unavailable").into_response();
        }
    };
    let Some(request) = view_for(&stored, &partner.id) else {
        return Problem::not_found("referral").into_response();
    };
    // The read is audited before anything is shown: no record, no answer.
    if let Err(e) = state.store.record_read(&partner.id, id).await {
        tracing::error!(error = %e, "store failed auditing a referral read");
        return Problem::unavailable("the store is unavailable").into_response();
    }
    tracing::info!("referral read");
    let referral: serde_json::Value =
        serde_json::from_slice(&wijkbrug_adapters::case_json::encode_request(id, request))
            .unwrap_or_default();
    let history = stored
        .referral
        .history
        .transitions()
        .iter()
        .map(|t| HistoryEntry {
            status: t.to.code().to_owned(),
            at: t.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            by: match &t.by {
                Actor::Gateway => "gateway".to_owned(),
                Actor::Partner(p) => format!("partner:{p}"),
                Actor::Operator(o) => format!("operator:{o}"),
            },
            reason: t.reason.as_ref().map(|r| r.as_str().to_owned()),
            reason_code: t.reason_code.clone(),
        })
        .collect();
    Json(ReferralView {
        id: id.to_string(),
        status: stored.referral.status().code().to_owned(),
        sender: stored.referral.request.source.partner.to_string(),
        receiver: stored.shared.as_ref().map(|s| s.receiver.to_string()),
        history,
        referral,
    })
    .into_response()
}
