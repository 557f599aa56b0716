//! Errors as problem details (RFC 9457): `application/problem+json` with a stable `type` per
//! kind of error, the field and the rule. Every HTTP error of the gateway goes through here.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use wijkbrug_adapters::DecodeError;

/// One problem with a field: where (JSON pointer, XML path or CSV line:column) and the rule.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    pub location: String,
    pub rule: String,
}

impl From<&DecodeError> for FieldError {
    fn from(e: &DecodeError) -> Self {
        Self {
            location: e.location.to_string(),
            rule: e.rule.clone(),
        }
    }
}

/// The `Retry-After` of a request shed at the in-flight cap ([`Problem::overloaded`]): short,
/// since a place is free as soon as one request in flight ends.
pub const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// A problem details document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A stable URI per kind of error, e.g. `urn:wijkbrug:problem:invalid-message`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields at fault, when there are any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip)]
    retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:wijkbrug:problem:{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Not authenticated",
            "send your partner API token as `Authorization: Bearer <token>`",
        )
    }

    /// 401 on a staff route.
    pub fn unauthorized_staff() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Not authenticated",
            "send a staff token (config/staff.toml) as `Authorization: Bearer <token>`",
        )
    }

    /// 403: authenticated, but this caller may not use this route.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            format!("no {what} with this id is visible to you"),
        )
    }

    pub fn unsupported_media_type(expected: &[&str]) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!(
                "this partner's messages must be sent with Content-Type {}",
                expected.join(" or ")
            ),
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            format!("the body must be at most {limit} bytes"),
        )
    }

    /// 408: the body did not arrive in time (the connection is closed after the answer).
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            "Request body too slow",
            format!(
                "the body must arrive within {} s of the headers; nothing was accepted",
                timeout.as_secs()
            ),
        )
    }

    pub fn invalid_message(status: StatusCode, errors: Vec<FieldError>) -> Self {
        let n = errors.len();
        Self::new(
            status,
            "invalid-message",
            "The message could not be accepted",
            format!("{n} problem(s) in the message; each names its field and rule"),
        )
        .with_errors(errors)
    }

    pub fn invalid_request(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            "The request is not valid",
            detail,
        )
        .with_errors(errors)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!("this partner's request rate is exceeded; retry after {retry_after_secs} s"),
        );
        p.retry_after = Some(retry_after_secs);
        p
    }

    /// 503 at once: `server.max_requests_in_flight` partner requests are being processed
    /// already (and this one is not an answer let in beyond it, `api::in_flight`). Nothing of
    /// this request was stored.
    pub fn overloaded(limit: usize) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "Too many requests in flight",
            format!(
                "the gateway is processing its limit of {limit} requests at once \
                 (server.max_requests_in_flight) and beyond it takes only work on referrals it \
                 has taken already (status updates, revocations, mailbox fetches and \
                 acknowledgements), not new referrals; nothing of this request was accepted, \
                 send it again after Retry-After"
            ),
        );
        p.retry_after = Some(OVERLOADED_RETRY_AFTER_SECS);
        p
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        p.retry_after = Some(5);
        p
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
