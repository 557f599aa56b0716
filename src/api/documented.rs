//! The answers every route can give besides its own, added to the OpenAPI description in one
//! place so no route forgets one: a partner route 401 (no or an unknown token), 403 (another
//! partner's or a staff token), 429 (the partner's request rate, with Retry-After) and 503
//! (also for `server.max_requests_in_flight`: the partner routes are the capped ones, see
//! [`super::in_flight`]); a staff route 401 and 403 (a partner's token, or a role without the
//! permission); every `/v1/` route 503 (the store failed, or the request took longer than
//! `server.request_timeout_secs`, with Retry-After).

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Header, OpenApi, Ref, ResponseBuilder};
use utoipa::Modify;

pub(crate) struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let v1 = path.starts_with("/v1/");
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                let schemes = security_schemes(op);
                if schemes.iter().any(|s| s == "partner_token") {
                    add(op, 401, "Not authenticated", false);
                    add(op, 403, "Another partner's token, or a staff token", false);
                    add(op, 429, "The partner's request rate is exceeded", true);
                    // Every partner route is behind the in-flight cap (api::partner_routes).
                    add(
                        op,
                        503,
                        "The store is unavailable (e.g. its disk is full), the request took too long, or server.max_requests_in_flight partner requests were being processed already (type urn:wijkbrug:problem:overloaded; beyond the cap only status updates, revocations and mailbox fetches and acknowledgements are let in, so a message holding a new referral is refused once read): nothing was changed, send it again after Retry-After",
                        true,
                    );
                }
                if schemes.iter().any(|s| s == "staff_token") {
                    add(op, 401, "No staff token", false);
                    add(
                        op,
                        403,
                        "A partner's token, or a role without this permission",
                        false,
                    );
                }
                if v1 {
                    add(
                        op,
                        503,
                        "The store is unavailable (e.g. its disk is full) or the request took too long: nothing was changed, send it again after Retry-After",
                        true,
                    );
                }
            }
        }
    }
}

/// The names of the security schemes an operation asks for.
fn security_schemes(op: &Operation) -> Vec<String> {
    let Some(requirements) = &op.security else {
        return Vec::new();
    };
    requirements
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect()
}

/// Adds a problem+json answer with `status`, unless the route documents that status itself.
fn add(op: &mut Operation, status: u16, description: &str, retry_after: bool) {
    let key = status.to_string();
    if op.responses.responses.contains_key(&key) {
        return;
    }
    let mut response = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build(),
    );
    if retry_after {
        let mut header = Header::new(ObjectBuilder::new().schema_type(Type::Integer));
        header.description = Some("Seconds to wait before sending again".to_owned());
        response = response.header("Retry-After", header);
    }
    op.responses.responses.insert(key, response.build().into());
}
