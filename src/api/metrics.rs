//! `GET /metrics`: the gateway's Prometheus metrics (see [`crate::metrics`]). Open, like
//! `/healthz`: it carries counts, durations, partner ids, sectors and statuses, never anything
//! about a resident, so a Prometheus server can scrape it without a token. Keep the listener
//! on the operations network (or filter the path at the proxy) if partner ids and volumes are
//! not to be seen from outside.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::app::SharedState;

/// The gateway's metrics in the OpenMetrics text format (which Prometheus scrapes): referrals
/// by status and sector, deliveries by partner and outcome, delivery latency histograms, the
/// outbox backlog and the age of its oldest due item, dead letters, rate-limit waits, consent
/// decisions, the audit chain's length and integrity, and each partner's circuit state.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "Prometheus metrics (OpenMetrics text); metadata only", body = String, content_type = "application/openmetrics-text"),
        (status = 503, description = "The store is unavailable", body = Problem, content_type = "application/problem+json"),
    ),
    tag = "operations"
)]
pub async fn metrics(State(state): State<SharedState>) -> Response {
    match crate::metrics::render(&state, crate::app::now()).await {
        Ok(text) => ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be read");
            Problem::unavailable("the store is unavailable").into_response()
        }
    }
}
