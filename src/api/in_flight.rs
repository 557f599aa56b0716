//! The cap on partner-API requests in flight (`server.max_requests_in_flight`), so memory stays
//! bounded under overload: a request takes a permit before anything else is done with it and
//! holds it until its answer is made (the body is read inside, so a slow body holds one too).
//! With none left the request is answered at once with 503, `Retry-After` and a problem+json
//! body naming the rule ([`Problem::overloaded`]); it is not queued, read or stored, and it is
//! counted (`wijkbrug_requests_shed_total`). Only the partner routes are capped
//! ([`crate::api::router`]): health, readiness, metrics, the staff routes and the dashboard keep
//! answering while partners overload the gateway.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::api::problem::Problem;
use crate::app::SharedState;

/// The permits of the cap.
#[derive(Debug)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    /// A cap of `limit` requests at once (config validation keeps it within
    /// [`crate::config::MAX_REQUESTS_IN_FLIGHT`]).
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, crate::config::MAX_REQUESTS_IN_FLIGHT);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The capped requests being processed now.
    pub fn current(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }
}

/// The middleware in front of the capped routes.
pub async fn cap(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let in_flight = &state.in_flight;
    match in_flight.permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => {
            state.metrics.request_shed();
            // Debug only: under overload a line per shed request would add to the load; the
            // counter tells operations.
            tracing::debug!(
                limit = in_flight.limit,
                "request shed: server.max_requests_in_flight reached"
            );
            Problem::overloaded(in_flight.limit).into_response()
        }
    }
}
