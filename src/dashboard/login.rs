//! `/ops/login` and `/ops/logout`: a staff token in, a session cookie out.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::client::{Client, Peer};
use super::layout::page;
use super::session::{clear_cookie, same_origin, set_cookie};
use super::sign_in_throttle::Throttled;
use super::{forbidden, DashState};
use crate::access::Permission;

#[derive(Debug, Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignInForm {
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct SignOutForm {
    #[serde(default)]
    pub csrf: String,
}

/// Where to go after signing in: a dashboard path, or the overview.
fn safe_next(next: Option<&str>) -> String {
    let ok = |n: &str| {
        (n == "/ops" || n.starts_with("/ops/"))
            && !n.starts_with("/ops/login")
            && !n.starts_with("/ops/live")
            && !n.contains("//")
            && !n.contains('\\')
            && !n.chars().any(char::is_control)
    };
    match next {
        Some(n) if ok(n) => n.to_owned(),
        _ => "/ops/".to_owned(),
    }
}

fn form_markup(next: &str, problem: Option<&str>) -> Markup {
    html! {
        section.panel.signin {
            h1 { "Sign in" }
            p.lead {
                "The operations dashboard shows how referrals flow between the neighbourhood's "
                "partners: metadata only, never a resident's data."
            }
            @if let Some(problem) = problem {
                div.alert.alert-bad role="alert" { (problem) }
            }
            form method="post" action="/ops/login" {
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="token" { "Staff token" }
                    input #token type="password" name="token" required autocomplete="off"
                        spellcheck="false" autofocus aria-describedby="token-help";
                    p.help #token-help {
                        "The token of your staff account (config/staff.toml), the same one the "
                        "API takes. Operations staff and administrators can use the dashboard."
                    }
                }
                button.button.primary type="submit" { "Sign in" }
            }
        }
    }
}

/// `GET /ops/login`.
pub async fn form(
    State(dash): State<DashState>,
    Query(q): Query<NextQuery>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if let Ok(Some(s)) = dash.session(&headers).await {
        if s.may(Permission::ViewOperations) {
            return Redirect::to(&next).into_response();
        }
    }
    page("Sign in", None, None, form_markup(&next, None)).into_response()
}

/// The sign-in form again with 429 and `Retry-After`: too many failed sign-ins. Logged with
/// the client address and whose allowance ran out, never the token presented.
fn throttled(client: &Client, next: &str, t: Throttled) -> Response {
    let secs = t.retry_after_secs();
    tracing::warn!(
        client = %client.addr,
        scope = t.scope.code(),
        retry_after_secs = secs,
        "dashboard sign-in throttled after too many failed sign-ins"
    );
    let problem = format!(
        "Too many failed sign-ins{}. Try again in {secs} second{}.",
        match t.scope {
            super::sign_in_throttle::Scope::Client(_) => " from your address",
            super::sign_in_throttle::Scope::Everyone => " to this gateway",
        },
        if secs == 1 { "" } else { "s" }
    );
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        page("Sign in", None, None, form_markup(next, Some(&problem))),
    )
        .into_response()
}

/// `POST /ops/login`: checks the token in constant time against the staff accounts (as the
/// API does) and starts a session. Failed sign-ins are throttled per client address and in
/// all ([`super::sign_in_throttle`]).
pub async fn sign_in(
    State(dash): State<DashState>,
    peer: Peer,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Response {
    if !same_origin(&headers) {
        return forbidden(
            None,
            "This sign-in did not come from the dashboard's own page.",
        );
    }
    let next = safe_next(f.next.as_deref());
    let client = Client::of(peer, &headers, &dash.app.config.settings.server);
    if let Err(t) = dash.sign_ins.check(client.addr) {
        return throttled(&client, &next, t);
    }
    let token = f.token.trim();
    let staff = &dash.app.config.staff;
    let Some(account) = (!token.is_empty())
        .then(|| staff.authenticate(token))
        .flatten()
    else {
        let partner = dash.app.config.partners.list.iter().any(|p| {
            dash.app
                .config
                .partners
                .authenticate(p.id.as_str(), token)
                .is_some()
        });
        if let Err(t) = dash.sign_ins.failed(client.addr) {
            return throttled(&client, &next, t);
        }
        if partner {
            tracing::warn!(client = %client.addr, "dashboard sign-in with a partner's token refused");
            return forbidden(
                None,
                "This is a partner system's token. The dashboard is for the gateway's \
                 operations staff and administrators.",
            );
        }
        tracing::warn!(client = %client.addr, "dashboard sign-in with an unknown token refused");
        return (
            StatusCode::UNAUTHORIZED,
            page(
                "Sign in",
                None,
                None,
                form_markup(&next, Some("That is not a staff token of this gateway.")),
            ),
        )
            .into_response();
    };
    let id = match dash.sessions.start(account).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "store failed starting a dashboard session");
            return super::unavailable(None);
        }
    };
    tracing::info!(staff = %account.audit_name(), "dashboard sign-in");
    (
        [(header::SET_COOKIE, set_cookie(&id, client.https))],
        Redirect::to(&next),
    )
        .into_response()
}

/// `POST /ops/logout`: ends the session (with the form token, so no other site can sign
/// anyone out).
pub async fn sign_out(
    State(dash): State<DashState>,
    peer: Peer,
    headers: HeaderMap,
    form: Result<Form<SignOutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let f = form.map(|Form(f)| f).unwrap_or_default();
    let session = match dash.session(&headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Redirect::to("/ops/login").into_response(),
        Err(_) => return super::unavailable(None),
    };
    if !same_origin(&headers) || !session.csrf_matches(&f.csrf) {
        return forbidden(
            Some(&session),
            "This form did not come from the dashboard's own page. Open the page again and \
             sign out from there.",
        );
    }
    if let Err(e) = dash.sessions.end(&headers).await {
        tracing::error!(error = %e, "store failed ending a dashboard session");
        return super::unavailable(Some(&session));
    }
    let client = Client::of(peer, &headers, &dash.app.config.settings.server);
    (
        [(header::SET_COOKIE, clear_cookie(client.https))],
        Redirect::to("/ops/login"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_dashboard_paths_are_followed_after_sign_in() {
        assert_eq!(
            safe_next(Some("/ops/referrals?status=routed")),
            "/ops/referrals?status=routed"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/ops/",
            "/ops//evil",
            "/v1/ops/dead-letters",
            "/ops/login",
            "/ops/live",
            "/ops/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/ops/", "{bad}");
        }
        assert_eq!(safe_next(None), "/ops/");
    }
}
