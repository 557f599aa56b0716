//! Signing in to the dashboard: server-side sessions behind an HttpOnly, SameSite=Strict
//! cookie, and a per-session token against cross-site form posts.
//!
//! A staff member signs in with their staff token (the one the API takes as a bearer token):
//! it is checked once, in constant time, by the same [`crate::access::Staff::authenticate`],
//! and never stored; the browser gets a random session id instead. The store keeps only the
//! SHA-256 of each id, so a lookup's timing says nothing about live ids. Sessions live in
//! memory: a restart signs everyone out, and several gateway instances behind one address
//! would each need their own sign-in (a shared session table is for the PostgreSQL step).
//!
//! Every page authorizes through the role's [`Permission`]s, as the API does
//! ([`crate::access::Role::may`]): no session means the sign-in page, a role without the
//! permission a 403 page.
//!
//! The cookie is marked `Secure` when the browser reached the gateway over https
//! ([`super::client::Client::https`]: `server.public_url` is an https address, or a trusted
//! proxy in front says so with `X-Forwarded-Proto`, or the gateway serves TLS itself).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Permission, Role, StaffAccount, StaffName};

/// The session cookie's name.
pub const COOKIE: &str = "wijkbrug_ops";

/// A session ends after this long without a request ...
pub const IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// ... and after this long in any case.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// A signed-in staff member.
#[derive(Clone, Debug)]
pub struct Session {
    pub name: StaffName,
    pub role: Role,
    /// The value every state-changing form must carry (`csrf`).
    pub csrf: String,
    started: Instant,
    seen: Instant,
}

impl Session {
    /// The account name the audit log and referral histories record (as the API does).
    pub fn operator(&self) -> String {
        self.name.to_string()
    }

    /// Whether the role may do `p`.
    pub fn may(&self, p: Permission) -> bool {
        self.role.may(p)
    }

    /// Whether `presented` is this session's form token (compared in constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        !presented.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// The live sessions, by the SHA-256 of their id.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Starts a session for `account`; returns the id for the cookie.
    pub fn start(&self, account: &StaffAccount) -> String {
        let id = random_token();
        let now = Instant::now();
        let session = Session {
            name: account.name.clone(),
            role: account.role,
            csrf: random_token(),
            started: now,
            seen: now,
        };
        if let Ok(mut live) = self.live.lock() {
            live.retain(|_, s| fresh(s, now));
            live.insert(digest(&id), session);
        }
        id
    }

    /// The live session of the request's cookie, if there is one; marks it seen.
    pub fn get(&self, headers: &HeaderMap) -> Option<Session> {
        let id = cookie(headers, COOKIE)?;
        let now = Instant::now();
        let mut live = self.live.lock().ok()?;
        let key = digest(id);
        let session = live.get_mut(&key)?;
        if !fresh(session, now) {
            live.remove(&key);
            return None;
        }
        session.seen = now;
        Some(session.clone())
    }

    /// Ends the request's session, if any.
    pub fn end(&self, headers: &HeaderMap) {
        if let (Some(id), Ok(mut live)) = (cookie(headers, COOKIE), self.live.lock()) {
            live.remove(&digest(id));
        }
    }
}

fn fresh(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.started) < LIFETIME
}

fn secure_attr(https: bool) -> &'static str {
    if https {
        "; Secure"
    } else {
        ""
    }
}

/// The `Set-Cookie` value that holds a session id; `Secure` when the browser came over
/// https.
pub fn set_cookie(id: &str, https: bool) -> String {
    format!(
        "{COOKIE}={id}; Path=/ops; HttpOnly; SameSite=Strict{}",
        secure_attr(https)
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(https: bool) -> String {
    format!(
        "{COOKIE}=; Path=/ops; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure_attr(https)
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Whether a form post came from this gateway's own pages: an `Origin` (or, without one, a
/// `Referer`) must name the host the request was sent to (`Host`, or `X-Forwarded-Host` as a
/// reverse proxy in front sets it; a cross-site form cannot set that header). A request with
/// neither header passes this check; the form token decides.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    let Some(url) = from else {
        return true;
    };
    let Some(host) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|r| r.split('/').next().unwrap_or_default())
    else {
        return false;
    };
    ["host", "x-forwarded-host"].iter().any(|name| {
        headers
            .get(*name)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| h.split(',').next().unwrap_or_default().trim() == host)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenHash;
    use axum::http::HeaderValue;

    fn account(role: Role) -> StaffAccount {
        StaffAccount {
            name: StaffName::parse("desk").unwrap(),
            role,
            token_hashes: vec![TokenHash::of("t")],
        }
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends() {
        let sessions = Sessions::default();
        let id = sessions.start(&account(Role::Operations));
        let headers = with_cookie(&format!("other=1; {COOKIE}={id}"));
        let s = sessions.get(&headers).unwrap();
        assert_eq!(s.role, Role::Operations);
        assert_eq!(s.operator(), "desk");
        assert!(s.csrf_matches(&s.csrf.clone()));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches("x"));
        assert!(sessions
            .get(&with_cookie(&format!("{COOKIE}=x{id}")))
            .is_none());
        sessions.end(&headers);
        assert!(sessions.get(&headers).is_none());
    }

    #[test]
    fn sessions_get_their_own_ids_and_form_tokens() {
        let sessions = Sessions::default();
        let a = sessions.start(&account(Role::Admin));
        let b = sessions.start(&account(Role::Admin));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        let sa = sessions
            .get(&with_cookie(&format!("{COOKIE}={a}")))
            .unwrap();
        let sb = sessions
            .get(&with_cookie(&format!("{COOKIE}={b}")))
            .unwrap();
        assert_ne!(sa.csrf, sb.csrf);
        assert!(!sa.csrf_matches(&sb.csrf));
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("abc", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/ops"));
        assert!(!c.contains("Secure"));
        assert!(set_cookie("abc", true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert!(clear_cookie(true).contains("Max-Age=0; Secure"));
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080.evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        // Behind a proxy that rewrites Host.
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://ops.wijk.example"),
        );
        assert!(!same_origin(&h));
        h.insert(
            "x-forwarded-host",
            HeaderValue::from_static("ops.wijk.example"),
        );
        assert!(same_origin(&h));
    }
}
