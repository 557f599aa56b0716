//! The style sheet and the script, compiled into the binary: the dashboard needs nothing
//! from outside, and there is no build step (`static/` holds them as written).

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub const CSS: &str = include_str!("static/dashboard.css");
pub const JS: &str = include_str!("static/dashboard.js");

/// `GET /ops/assets/{file}`: nothing secret, so no sign-in is needed.
pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, media_type) = match file.as_str() {
        "dashboard.css" => (CSS, "text/css; charset=utf-8"),
        "dashboard.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}
