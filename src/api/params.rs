//! Path and query extractors whose refusals are problem+json like every other error (axum's
//! own answer in text/plain). The rule names the parameter, never its value: a path may carry
//! a BSN.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::FromRequestParts;
use axum::http::StatusCode;

use super::problem::{FieldError, Problem};

/// `axum::extract::Path`, refused as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct PathParams<T>(pub T);

/// `axum::extract::Query`, refused as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct QueryParams<T>(pub T);

impl From<PathRejection> for Problem {
    fn from(rejection: PathRejection) -> Self {
        let (location, rule) = match &rejection {
            PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => (
                    format!("path parameter {key}"),
                    "must be UTF-8 once percent-decoded",
                ),
                _ => ("path".to_owned(), "does not have the expected segments"),
            },
            _ => ("path".to_owned(), "does not have the expected segments"),
        };
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            format!("the request path is not valid: {location} {rule}"),
        )
        .with_errors(vec![FieldError {
            location,
            rule: rule.to_owned(),
        }])
    }
}

impl From<QueryRejection> for Problem {
    fn from(rejection: QueryRejection) -> Self {
        // serde_urlencoded's messages name the parameter and what it must be.
        let rule = match &rejection {
            QueryRejection::FailedToDeserializeQueryString(e) => {
                std::error::Error::source(e).map_or_else(|| e.body_text(), ToString::to_string)
            }
            other => other.body_text(),
        };
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            "the query string is not valid",
        )
        .with_errors(vec![FieldError {
            location: "query".to_owned(),
            rule,
        }])
    }
}
