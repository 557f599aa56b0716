//! The operations API: dead letters, listed (operations and admin roles) and retried or
//! discarded (admin role). Metadata only, never resident data.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::PathParams;
use super::problem::Problem;
use super::query::{QueryRules, ValidQuery};
use crate::access::Permission;
use crate::app::{now, SharedState};
use crate::store::{DeadLetter, OutboxKind};

#[derive(Debug, Deserialize, IntoParams)]
pub struct DeadLetterQuery {
    /// Only dead letters older than this id (the `cursor` of the previous page).
    pub before: Option<i64>,
    /// 1–200, default 50.
    pub limit: Option<usize>,
}

impl QueryRules for DeadLetterQuery {
    const RULES: &'static [(&'static str, &'static str)] = &[
        ("before", "a dead letter's id (a whole number)"),
        ("limit", "a whole number from 1 to 200"),
    ];
}

/// A delivery that failed for good. Metadata only.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    pub id: i64,
    pub referral_id: String,
    pub recipient: String,
    /// `referral` or `status`.
    pub kind: &'static str,
    pub attempts: u32,
    /// Status code and a short reason.
    pub last_error: String,
    pub queued_at: String,
    pub failed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetterView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<i64>,
}

fn view(d: DeadLetter) -> DeadLetterView {
    DeadLetterView {
        id: d.row,
        referral_id: d.item.referral.to_string(),
        recipient: d.item.recipient.to_string(),
        kind: match d.item.kind {
            OutboxKind::Referral => "referral",
            OutboxKind::Status { .. } => "status",
        },
        attempts: d.attempts,
        last_error: d.last_error,
        queued_at: d
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        failed_at: d
            .failed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }
}

/// List dead letters, newest first.
#[utoipa::path(
    get,
    path = "/v1/ops/dead-letters",
    params(DeadLetterQuery),
    responses(
        (status = 200, body = DeadLetterPage),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `before` or `limit`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff_token" = [])),
    tag = "operations"
)]
pub async fn list_dead_letters(
    State(state): State<SharedState>,
    headers: HeaderMap,
    query: Result<ValidQuery<DeadLetterQuery>, Problem>,
) -> Response {
    if let Err(p) = state.authorize_staff(&headers, Permission::ViewOperations) {
        return p.into_response();
    }
    let q = match query {
        Ok(ValidQuery(q)) => q,
        Err(p) => return p.into_response(),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 200 {
        return Problem::invalid_request(
            "limit must be from 1 to 200",
            vec![super::problem::FieldError {
                location: "limit".into(),
                rule: "must be from 1 to 200".into(),
            }],
        )
        .into_response();
    }
    match state.store.dead_letters(q.before, limit).await {
        Ok(list) => {
            let cursor = list.last().map(|d| d.row);
            Json(DeadLetterPage {
                items: list.into_iter().map(view).collect(),
                cursor,
            })
            .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "store failed listing dead letters");
            Problem::unavailable("the store is unavailable").into_response()
        }
    }
}

async fn act(state: SharedState, id: String, headers: HeaderMap, retry: bool) -> Response {
    let op = match state.authorize_staff(&headers, Permission::ActOnDeadLetters) {
        Ok(account) => account.name.to_string(),
        Err(p) => return p.into_response(),
    };
    let Ok(row) = id.parse::<i64>() else {
        return Problem::not_found("dead letter").into_response();
    };
    let result = if retry {
        state.store.retry_dead_letter(row, &op, now()).await
    } else {
        state.store.discard_dead_letter(row, &op, now()).await
    };
    match result {
        Ok(true) => {
            tracing::info!(operator = %op, dead_letter = row, action = if retry { "retry" } else { "discard" }, "operations action");
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => Problem::not_found("dead letter").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed an operations action");
            Problem::unavailable("the store is unavailable").into_response()
        }
    }
}

/// Put a dead letter back in the queue (after the partner is fixed).
#[utoipa::path(
    post,
    path = "/v1/ops/dead-letters/{id}/retry",
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Queued again, due now"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dead letter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff_token" = [])),
    tag = "operations"
)]
pub async fn retry(
    State(state): State<SharedState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    act(state, id, headers, true).await
}

/// Discard a dead letter for good; its referral is cancelled.
#[utoipa::path(
    post,
    path = "/v1/ops/dead-letters/{id}/discard",
    params(("id" = i64, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Discarded"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The role may not do this", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such dead letter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff_token" = [])),
    tag = "operations"
)]
pub async fn discard(
    State(state): State<SharedState>,
    PathParams(id): PathParams<String>,
    headers: HeaderMap,
) -> Response {
    act(state, id, headers, false).await
}
