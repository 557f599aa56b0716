//! Liveness and readiness.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::Problem;
use crate::app::SharedState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The store answers and is migrated; the gateway instances sharing it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    /// The instances whose heartbeat the store saw recently (one with SQLite), most recently
    /// started first.
    pub instances: Vec<InstanceView>,
}

/// A gateway instance: its `[delivery] worker_id`, version and heartbeat.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceView {
    pub id: String,
    pub version: String,
    /// The machine's host name (empty when it has none).
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = Health)), tag = "operations")]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The store is reachable and its migrations are applied; lists the instances seen recently.
#[utoipa::path(
    get,
    path = "/readyz",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "Store unreachable or not migrated", body = Problem, content_type = "application/problem+json")
    ),
    tag = "operations"
)]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let ready = match state.store.ready().await {
        Ok(()) => state.store.instances(crate::instances::LIVE_WITHIN).await,
        Err(e) => Err(e),
    };
    match ready {
        Ok(instances) => Json(Readiness {
            status: "ready",
            instances: instances
                .into_iter()
                .map(|s| InstanceView {
                    id: s.instance.id,
                    version: s.instance.version,
                    host: s.instance.host,
                    started_at: s.instance.started_at,
                    last_seen: s.last_seen,
                })
                .collect(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            Problem::unavailable("the store is not ready").into_response()
        }
    }
}
