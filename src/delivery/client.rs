//! The one HTTP client the gateway talks to partners with: pooled connections, rustls, a
//! per-request timeout (the partner's), and the delivery headers. Bodies are never logged.

use std::time::Duration;

use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use secrecy::ExposeSecret;
use thiserror::Error;
use wijkbrug_adapters::model::ReferralId;

use super::render::Rendered;
use super::retry::AttemptResult;
use crate::config::OutboundAuth;

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
    pub url: &'a str,
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

/// The shared client. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct DeliveryClient {
    http: reqwest::Client,
}

impl DeliveryClient {
    pub fn new() -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("wijkbrug/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(16)
            .connect_timeout(Duration::from_secs(10))
            // A partner redirect is answered as a permanent failure, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self { http })
    }

    /// Sends one push and reports what came of it.
    pub async fn send(&self, push: Push<'_>) -> AttemptResult {
        let mut request = self
            .http
            .post(push.url)
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
