//! The path extractor whose refusals are problem+json like every other error (axum's own
//! answer is text/plain). The rule names the parameter, never its value: a path may carry a
//! BSN. Query strings: [`super::query::ValidQuery`].

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;

use super::problem::{FieldError, Problem};

/// `axum::extract::Path`, refused as problem+json.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct PathParams<T>(pub T);

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
