//! The cap on partner-API requests in flight (`server.max_requests_in_flight`), so memory stays
//! bounded under overload: a request takes a permit before anything else is done with it and
//! holds it until its answer is made (the body is read inside, so a slow body holds one too).
//! With none left the request is answered at once with 503, `Retry-After` and a problem+json
//! body naming the rule ([`Problem::overloaded`]); it is not queued, read or stored, and it is
//! counted (`wijkbrug_requests_shed_total`). Only the partner routes are capped
//! ([`crate::api::router`]): health, readiness, metrics, the staff routes and the dashboard keep
//! answering while partners overload the gateway.
//!
//! **Answers go first.** Beyond the cap, an eighth of it more ([`InFlight::answers_limit`]) is
//! kept for requests that carry work on referrals the gateway has already taken: a receiver's
//! status update, a revocation, a mailbox partner fetching or acknowledging its deliveries.
//! Under overload new referrals are shed, but the referrals already taken are still carried
//! to their end (the store's writer takes such work first too: `store/writer_queue.rs`). A
//! revocation, a mailbox fetch and an acknowledgement are known by their route; a message may
//! hold new referrals or status updates, which is known only once it is read: it is let in as
//! [`Admission::AnswersOnly`], and the intake sheds it (the same 503, counted the same, nothing
//! stored) if it holds a new referral.

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use crate::api::problem::Problem;
use crate::app::SharedState;

/// The permits of the cap, and of the answers let in beyond it.
#[derive(Debug)]
pub struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
    answers: Arc<Semaphore>,
    answers_limit: usize,
}

/// What a request let in may carry: anything within the cap, only work on referrals already
/// taken beyond it. [`cap`] puts `AnswersOnly` in the extensions of a request it lets in
/// beyond the cap; a request without it is `Any`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Within the cap.
    Any,
    /// Beyond the cap: a message holding a new referral is shed.
    AnswersOnly,
}

impl InFlight {
    /// A cap of `limit` requests at once (config validation keeps it within
    /// [`crate::config::MAX_REQUESTS_IN_FLIGHT`]), and an eighth of it more (at least one) for
    /// answers.
    pub fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, crate::config::MAX_REQUESTS_IN_FLIGHT);
        let answers_limit = limit.div_ceil(8);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            answers: Arc::new(Semaphore::new(answers_limit)),
            answers_limit,
        }
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The requests beyond the cap let in because they may be answers.
    pub fn answers_limit(&self) -> usize {
        self.answers_limit
    }

    /// The capped requests being processed now (within the cap).
    pub fn current(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }

    /// The requests being processed now that were let in beyond the cap as answers.
    pub fn current_answers(&self) -> usize {
        self.answers_limit
            .saturating_sub(self.answers.available_permits())
    }
}

/// Whether the route a request matched may carry work on referrals already taken (and so may
/// use the answers' permits): a message (a status update, perhaps), a revocation, a mailbox
/// fetch or acknowledgement. Not: a referral's status read, consents recorded or listed.
fn may_answer(method: &Method, route: &str) -> bool {
    matches!(
        (method.as_str(), route),
        ("POST", "/v1/partners/{partner}/messages")
            | ("POST", "/v1/consents/{id}/revoke")
            | ("GET", "/v1/partners/{partner}/mailbox")
            | ("POST", "/v1/partners/{partner}/mailbox/{item}/ack")
    )
}

/// The middleware in front of the capped routes.
pub async fn cap(State(state): State<SharedState>, mut request: Request, next: Next) -> Response {
    let in_flight = &state.in_flight;
    if let Ok(permit) = in_flight.permits.clone().try_acquire_owned() {
        let response = next.run(request).await;
        drop(permit);
        return response;
    }
    let answers = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| may_answer(request.method(), route.as_str()));
    if answers {
        if let Ok(permit) = in_flight.answers.clone().try_acquire_owned() {
            request.extensions_mut().insert(Admission::AnswersOnly);
            let response = next.run(request).await;
            drop(permit);
            return response;
        }
    }
    shed(&state)
}

/// Answers a request the cap does not let in (or a new referral let in as a possible answer):
/// 503 with `Retry-After`, counted.
pub fn shed(state: &SharedState) -> Response {
    let limit = state.in_flight.limit;
    state.metrics.request_shed();
    // Debug only: under overload a line per shed request would add to the load; the counter
    // tells operations.
    tracing::debug!(limit, "request shed: server.max_requests_in_flight reached");
    Problem::overloaded(limit).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_eighth_of_the_cap_more_is_kept_for_answers() {
        assert_eq!(InFlight::new(512).answers_limit(), 64);
        assert_eq!(InFlight::new(9).answers_limit(), 2);
        assert_eq!(InFlight::new(2).answers_limit(), 1);
        assert_eq!(InFlight::new(0).answers_limit(), 1, "a cap of at least one");
    }

    #[test]
    fn only_routes_that_carry_work_on_taken_referrals_may_answer() {
        let post = Method::POST;
        let get = Method::GET;
        assert!(may_answer(&post, "/v1/partners/{partner}/messages"));
        assert!(may_answer(&post, "/v1/consents/{id}/revoke"));
        assert!(may_answer(&get, "/v1/partners/{partner}/mailbox"));
        assert!(may_answer(
            &post,
            "/v1/partners/{partner}/mailbox/{item}/ack"
        ));
        assert!(!may_answer(&get, "/v1/referrals/{id}"));
        assert!(!may_answer(&post, "/v1/consents"));
        assert!(!may_answer(&get, "/v1/consents"));
        assert!(!may_answer(&get, "/v1/partners/{partner}/messages"));
    }
}
