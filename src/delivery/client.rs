//! The HTTP client the gateway talks to partners with: pooled connections, rustls, a
//! per-request timeout (the partner's), and the delivery headers. A partner with its own
//! `[delivery.tls]` (CA bundle, client certificate) gets a client of its own built with it;
//! the others share one that trusts the public web roots. Bodies are never logged.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use rustls::ClientConfig;
use secrecy::ExposeSecret;
use thiserror::Error;
use wijkbrug_adapters::model::{PartnerId, ReferralId};

use super::render::Rendered;
use super::retry::AttemptResult;
use crate::config::{Delivery, OutboundAuth, Partners};

/// The header carrying the referral id on every delivery.
pub const REFERRAL_HEADER: &str = "X-Wijkbrug-Referral";

/// The most of a response body read (and thrown away, so the connection can be reused).
const DRAIN_LIMIT: usize = 64 * 1024;

/// The client could not be built (no TLS backend).
#[derive(Debug, Error)]
#[error("cannot build the delivery HTTP client: {0}")]
pub struct ClientError(String);

/// One push.
pub struct Push<'a> {
    /// The partner pushed to (picks its TLS settings).
    pub partner: &'a PartnerId,
    pub url: &'a reqwest::Url,
    pub auth: &'a OutboundAuth,
    pub timeout: Duration,
    pub referral: ReferralId,
    /// The outbox row: with the referral id, the attempt-independent idempotency key.
    pub row: i64,
    pub message: Rendered,
}

/// The `Idempotency-Key` of a delivery: `<referral id>:<outbox row>`, the same on every attempt.
pub fn idempotency_key(referral: ReferralId, row: i64) -> String {
    format!("{referral}:{row}")
}

/// The clients. Cheap to clone (the pools are shared).
#[derive(Clone, Debug)]
pub struct DeliveryClient {
    http: reqwest::Client,
    /// The clients of partners with their own `[delivery.tls]`, by partner id.
    own: HashMap<PartnerId, reqwest::Client>,
}

/// `idle_per_host`: how many connections to one partner are kept open between pushes. With
/// fewer than the pushes a partner can have in flight, every push beyond them would open a
/// connection of its own and close it after.
fn builder(idle_per_host: usize) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("wijkbrug/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(idle_per_host)
        .connect_timeout(Duration::from_secs(10))
        // A partner redirect is answered as a permanent failure, not followed.
        .redirect(reqwest::redirect::Policy::none())
}

impl DeliveryClient {
    /// The shared client, and one for each partner with `[delivery.tls]`; each keeps up to
    /// `per_partner_concurrency` (the most pushes in flight to one partner) idle connections
    /// to a partner.
    pub fn new(partners: &Partners, per_partner_concurrency: usize) -> Result<Self, ClientError> {
        let idle = per_partner_concurrency.max(1);
        let http = builder(idle)
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        let mut own = HashMap::new();
        for p in &partners.list {
            if let Delivery::Push { tls: Some(tls), .. } = &p.delivery {
                let client = builder(idle)
                    .use_preconfigured_tls(ClientConfig::clone(&tls.config))
                    .build()
                    .map_err(|e| ClientError(format!("partner {}: {e}", p.id)))?;
                own.insert(p.id.clone(), client);
            }
        }
        Ok(Self { http, own })
    }

    /// Sends one push and reports what came of it.
    pub async fn send(&self, push: Push<'_>) -> AttemptResult {
        let http = self.own.get(push.partner).unwrap_or(&self.http);
        let mut request = http
            .post(push.url.clone())
            .timeout(push.timeout)
            .header(CONTENT_TYPE, push.message.media_type)
            .header("Idempotency-Key", idempotency_key(push.referral, push.row))
            .header(REFERRAL_HEADER, push.referral.to_string());
        request = match push.auth {
            OutboundAuth::None => request,
            OutboundAuth::Bearer(token) => request.bearer_auth(token.expose_secret()),
            OutboundAuth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose_secret()))
            }
        };
        let mut response = match request.body(push.message.bytes).send().await {
            Ok(r) => r,
            Err(e) => return failure(&e, push.timeout),
        };
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Read (a little of) the body so the connection goes back to the pool; its content is
        // not looked at. A body that breaks off does not change the status the partner gave.
        let mut read = 0usize;
        while read < DRAIN_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        AttemptResult::Status { code, retry_after }
    }
}

/// A send error as an attempt result with a short reason.
fn failure(e: &reqwest::Error, timeout: Duration) -> AttemptResult {
    if e.is_timeout() {
        return AttemptResult::Timeout(timeout);
    }
    if let Some(h) = cause::<hyper::Error>(e) {
        if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
            return AttemptResult::Unreadable;
        }
        if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
            return AttemptResult::Connect("connection closed before an answer".into());
        }
    }
    if let Some(why) = cause::<rustls::Error>(e).or_else(|| tls_in_io(e)) {
        return AttemptResult::Connect(tls_reason(why));
    }
    if let Some(io) = cause::<std::io::Error>(e) {
        use std::io::ErrorKind as K;
        let why = match io.kind() {
            K::ConnectionRefused => "connection refused",
            K::ConnectionReset => "connection reset",
            K::ConnectionAborted => "connection aborted",
            K::TimedOut => return AttemptResult::Timeout(timeout),
            K::NotFound => "host not found",
            K::UnexpectedEof => "connection closed before an answer",
            _ => "connection failed",
        };
        return AttemptResult::Connect(why.into());
    }
    if e.is_connect() {
        return AttemptResult::Connect("connection failed".into());
    }
    if e.is_request() {
        // hyper's "connection closed before message completed" and the like.
        return AttemptResult::Connect("connection closed before an answer".into());
    }
    AttemptResult::Unreadable
}

/// A rustls error wrapped in (possibly nested) I/O errors of `e`'s chain: how the TLS
/// connector reports a failed handshake. `io::Error::source` skips the error it wraps, so the
/// wrapped errors are looked into one by one.
fn tls_in_io(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = next {
        let mut wrapped = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref());
        while let Some(inner) = wrapped {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            wrapped = inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref());
        }
        next = c.source();
    }
    None
}

/// A failed TLS handshake in words for operations (rustls's reason; nothing from a message).
fn tls_reason(e: &rustls::Error) -> String {
    use rustls::{CertificateError as C, Error as E};
    let why = match e {
        E::InvalidCertificate(C::UnknownIssuer) => {
            "the partner's certificate is not signed by a trusted CA (check delivery.tls.ca)"
                .to_owned()
        }
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            "the partner's certificate is not valid for the host in delivery.url".to_owned()
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the partner's certificate has expired".to_owned()
        }
        E::InvalidCertificate(other) => format!("the partner's certificate is not valid: {other:?}"),
        E::AlertReceived(alert) => format!(
            "the partner refused the handshake ({alert:?}; does it need a client certificate, delivery.tls.client_cert?)"
        ),
        other => format!("handshake failed: {other}"),
    };
    format!("TLS: {why}")
}

/// The first error of type `T` in `e`'s chain of causes.
fn cause<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = next {
        if let Some(t) = c.downcast_ref::<T>() {
            return Some(t);
        }
        next = c.source();
    }
    None
}
