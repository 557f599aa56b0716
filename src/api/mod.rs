//! The HTTP API: axum routes, one module per resource; every error as problem+json.

pub mod admin;
pub mod audit_chain;
pub mod client_cert;
pub mod consents;
mod documented;
pub mod in_flight;

pub mod health;
pub mod intake;
pub mod mailbox;
pub mod metrics;
pub mod ops;
pub mod params;
pub mod privacy;
pub mod problem;
pub mod query;
pub mod referrals;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::app::SharedState;
use documented::CommonAnswers;
use problem::Problem;

/// The OpenAPI description, generated from the handlers and types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wijkbrug",
        description = "Interoperability gateway for the organisations of one neighbourhood. Partners send referrals and status updates in their own format; errors are RFC 9457 problem details naming the field and the rule."
    ),
    paths(
        intake::post_message,
        referrals::get_referral,
        consents::post_consent,
        consents::list_consents,
        consents::revoke,
        mailbox::get_mailbox,
        mailbox::ack,
        ops::list_dead_letters,
        ops::retry,
        ops::discard,
        privacy::processing_log,
        audit_chain::chain_status,
        admin::import_consents,
        health::healthz,
        health::readyz,
        metrics::metrics,
    ),
    components(schemas(
        problem::Problem,
        problem::FieldError,
        intake::MessageResponse,
        intake::AcceptedReferral,
        intake::AppliedStatus,
        intake::RefusedRecord,
        referrals::ReferralView,
        referrals::HistoryEntry,
        consents::ConsentRequest,
        consents::ConsentCreated,
        consents::ConsentView,
        consents::ConsentList,
        consents::RevokeResult,
        mailbox::MailboxPage,
        mailbox::MailboxItem,
        ops::DeadLetterPage,
        ops::DeadLetterView,
        privacy::ProcessingLog,
        privacy::ProcessingEntryView,
        crate::audit_chain::ChainCheck,
        admin::ConsentImport,
        admin::ConsentImportItem,
        admin::ConsentImported,
        health::Health,
        health::Readiness,
        health::InstanceView,
    )),
    modifiers(&PartnerToken, &CommonAnswers),
    tags(
        (name = "intake", description = "Messages from partners' systems"),
        (name = "referrals", description = "Reading referrals back"),
        (name = "consents", description = "Residents' consents"),
        (name = "mailbox", description = "Pull delivery for partners that cannot receive pushes"),
        (name = "operations", description = "Health, readiness, dead letters and Prometheus metrics"),
        (name = "privacy", description = "Residents' processing logs (privacy officer) and the audit chain"),
        (name = "admin", description = "Administrators' actions: importing consents"),
    )
)]
pub struct ApiDoc;

struct PartnerToken;

impl Modify for PartnerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "partner_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The partner's API token (`wijkbrug partner token`)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "staff_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A staff account's token (config/staff.toml); its role decides which routes open",
                    ))
                    .build(),
            ),
        );
    }
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn not_found() -> Response {
    Problem::not_found("resource").into_response()
}

async fn timed_out(_: tower::BoxError) -> Problem {
    Problem::unavailable(
        "the request took longer than the gateway allows; send it again with the same reference or Idempotency-Key: a repeat is recognised, never stored twice",
    )
}

/// The partner API, behind the cap on requests in flight (`server.max_requests_in_flight`,
/// [`in_flight`]): beyond it a request is answered 503 at once. The staff routes, health,
/// readiness, metrics and the dashboard are outside the cap, so operations can still look and
/// act while partners overload the gateway.
fn partner_routes(state: SharedState) -> Router<SharedState> {
    Router::new()
        .route(
            "/v1/partners/{partner}/messages",
            post(intake::post_message),
        )
        .route("/v1/referrals/{id}", get(referrals::get_referral))
        .route(
            "/v1/consents",
            post(consents::post_consent).get(consents::list_consents),
        )
        .route("/v1/consents/{id}/revoke", post(consents::revoke))
        .route("/v1/partners/{partner}/mailbox", get(mailbox::get_mailbox))
        .route(
            "/v1/partners/{partner}/mailbox/{item}/ack",
            post(mailbox::ack),
        )
        .route_layer(axum::middleware::from_fn_with_state(state, in_flight::cap))
}

/// The gateway's routes with request ids, a time limit, and one tracing span per request.
pub fn router(state: SharedState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.config.settings.server.request_timeout;
    Router::new()
        .merge(partner_routes(state.clone()))
        .route("/v1/ops/dead-letters", get(ops::list_dead_letters))
        .route("/v1/ops/dead-letters/{id}/retry", post(ops::retry))
        .route("/v1/ops/dead-letters/{id}/discard", post(ops::discard))
        .route(
            "/v1/privacy/residents/{bsn}/processing-log",
            get(privacy::processing_log),
        )
        .route("/v1/audit/chain", get(audit_chain::chain_status))
        .route("/v1/admin/consents", post(admin::import_consents))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi_json))
        // The operations dashboard (HTML, signed in with a staff token): src/dashboard/.
        .merge(crate::dashboard::router(state.clone()))
        .fallback(not_found)
        // Handlers read bodies themselves with the configured limit (and answer 413 as
        // problem+json), so axum's own default limit is off.
        .layer(DefaultBodyLimit::disable())
        // A partner bound to a client certificate is refused without it (src/api/client_cert.rs).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_cert::gate,
        ))
        .layer(
            tower::ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(timed_out))
                .timeout(timeout),
        )
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // The path carries partner and referral ids only; never a body or a query. The
                // privacy officer's path carries a BSN: it is shown redacted.
                let path = req.uri().path();
                let path = if path.starts_with("/v1/privacy/") {
                    privacy::REDACTED_PATH
                } else {
                    path
                };
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %path, partner = tracing::field::Empty, staff = tracing::field::Empty)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}
