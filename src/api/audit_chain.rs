//! The audit chain's status for staff: walked from the first event to the last on each
//! request. Numbers and hashes only: no event contents.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::problem::Problem;
use crate::access::Permission;
use crate::app::SharedState;
use crate::audit_chain::ChainCheck;

/// Verify the audit chain: its length, its head hash (to anchor outside the store) and the
/// first broken link, if any.
#[utoipa::path(
    get,
    path = "/v1/audit/chain",
    responses(
        (status = 200, body = ChainCheck),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A partner's token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff_token" = [])),
    tag = "privacy"
)]
pub async fn chain_status(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Err(p) = state.authorize_staff(&headers, Permission::ViewAuditChain) {
        return p.into_response();
    }
    match crate::audit_chain::check(state.store.as_ref()).await {
        Ok(check) => Json(check).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed reading the audit chain");
            Problem::unavailable("the store is unavailable").into_response()
        }
    }
}
