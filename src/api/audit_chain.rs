//! The audit chain's status for staff: walked from the first event to the last when asked,
//! one walk at a time shared by those who asked while it ran ([`ChainWatch::walk`]), and
//! kept for the dashboard and `/metrics`. Numbers and hashes only: no event contents.
//!
//! [`ChainWatch::walk`]: crate::audit_watch::ChainWatch::walk

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
    match state.audit_chain.walk(state.store.as_ref()).await {
        Ok(status) => Json(status.check).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "store failed reading the audit chain");
            Problem::unavailable("the store is unavailable").into_response()
        }
    }
}
