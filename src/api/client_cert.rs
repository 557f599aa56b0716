//! Client-certificate binding (mTLS) per partner: a partner whose file lists
//! `client_cert_sha256` has its token accepted only on a TLS connection whose verified client
//! certificate (checked against `server.tls.client_ca` in the handshake) has one of those
//! fingerprints, as in Dutch healthcare exchange, where a stolen token alone opens nothing.
//!
//! A layer in front of every route: requests without a bearer token, with a staff token, or
//! with the token of a partner without the rule pass on unchanged (the routes authenticate them
//! as before). A refusal is 403 problem+json naming the rule, and an `access_refused` audit
//! event with the partner and the presented certificate's fingerprint (never the token); it
//! counts against the partner's inbound rate (429 beyond it, not audited).

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use crate::app::SharedState;
use crate::tls::TlsPeer;

/// The audit event's `rule`.
pub const RULE: &str = "client_certificate";

pub async fn gate(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let partners = &state.config.partners;
    if !partners.any_client_certs() {
        return next.run(request).await;
    }
    let Some(partner) = crate::app::bearer(request.headers()).and_then(|t| partners.owner_of(t))
    else {
        return next.run(request).await;
    };
    if partner.client_certs.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .extensions()
        .get::<ConnectInfo<TlsPeer>>()
        .and_then(|c| c.0.client_cert);
    let matches = presented.is_some_and(|p| {
        // Every configured fingerprint is compared, whatever the outcome of the others.
        partner
            .client_certs
            .iter()
            .fold(false, |any, c| any | c.ct_eq(&p))
    });
    if matches {
        return next.run(request).await;
    }
    // Refusals count against the partner's inbound rate, so a system retrying without its
    // certificate cannot grow the audit log faster than it may send.
    if let Err(over) = state.check_rate(partner).await {
        return over.into_response();
    }
    let shown = presented.map_or_else(|| "none".to_owned(), |p| p.to_string());
    tracing::warn!(
        partner = %partner.id,
        rule = RULE,
        presented = %shown,
        "a partner token was refused: not on a connection with the partner's client certificate"
    );
    if let Err(e) = state
        .store
        .record_access_refused(&partner.id, RULE, &shown)
        .await
    {
        tracing::warn!(error = %e, "could not audit a refused request");
    }
    let detail = match presented {
        None => format!(
            "partner {} may only use its token on a TLS connection with its client certificate \
             (client_cert_sha256 in its configuration); this connection presented none",
            partner.id
        ),
        Some(_) => format!(
            "partner {} may only use its token on a TLS connection with its client certificate \
             (client_cert_sha256 in its configuration); this connection presented another one",
            partner.id
        ),
    };
    Problem::new(
        StatusCode::FORBIDDEN,
        "client-certificate-required",
        "Client certificate required",
        detail,
    )
    .into_response()
}
