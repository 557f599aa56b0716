//! Signing in to the dashboard: server-side sessions behind an HttpOnly, SameSite=Strict
//! cookie, and a per-session token against cross-site form posts.
//!
//! A staff member signs in with their staff token (the one the API takes as a bearer token):
//! it is checked once, in constant time, by the same [`crate::access::Staff::authenticate`],
//! and never stored; the browser gets a random session id instead. Sessions live in the store
//! (the `dashboard_sessions` table, [`Store::start_session`]), so every gateway instance on
//! it knows every session: behind a load balancer, a session made through one instance is
//! accepted by the others, and a restart signs no one out. The store keeps only the SHA-256
//! of each id (a copy of the database signs no one in), the account's name and role, the
//! session's form token and its times.
//!
//! A session ends [`IDLE`] after it was last seen, and [`LIFETIME`] after sign-in in any
//! case. "Seen" is written to the store at most every [`TOUCH_EVERY`] (not on every request:
//! the overview refreshes every few seconds), so a session may end up to that much before its
//! idle limit. A session whose account is no longer configured with the same role ends.
//!
//! Every page authorizes through the role's [`Permission`]s, as the API does
//! ([`crate::access::Role::may`]): no session means the sign-in page, a role without the
//! permission a 403 page.
//!
//! The cookie is marked `Secure` when the browser reached the gateway over https
//! ([`super::client::Client::https`]: `server.public_url` is an https address, or a trusted
//! proxy in front says so with `X-Forwarded-Proto`, or the gateway serves TLS itself).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::access::{Permission, Role, Staff, StaffAccount, StaffName};
use crate::store::dashboard::{SessionKey, StaffSession};
use crate::store::{Store, StoreError};

/// The session cookie's name.
pub const COOKIE: &str = "wijkbrug_ops";

/// A session ends after this long without a request ...
pub const IDLE: Duration = Duration::from_secs(2 * 60 * 60);
/// ... and after this long in any case.
pub const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// A session's "last seen" is written to the store at most this often.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A signed-in staff member.
#[derive(Clone, Debug)]
pub struct Session {
    pub name: StaffName,
    pub role: Role,
    /// The value every state-changing form must carry (`csrf`).
    pub csrf: String,
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

/// The sessions, kept in the store under the SHA-256 of their id.
pub struct Sessions {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// The key a session id is stored under.
pub fn digest(id: &str) -> SessionKey {
    Sha256::digest(id.as_bytes()).into()
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(t)
}

/// When a session started at `started` and seen at `seen` ends.
fn ends(started: DateTime<Utc>, seen: DateTime<Utc>) -> DateTime<Utc> {
    after(started, LIFETIME).min(after(seen, IDLE))
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Starts a session for `account`; returns the id for the cookie.
    pub async fn start(&self, account: &StaffAccount) -> Result<String, StoreError> {
        let id = random_token();
        let now = crate::store::now();
        let session = StaffSession {
            staff: account.name.to_string(),
            role: account.role.code().to_owned(),
            csrf: random_token(),
            started_at: now,
            seen_at: now,
            expires_at: ends(now, now),
        };
        self.store.start_session(&digest(&id), &session).await?;
        Ok(id)
    }

    /// The live session of the request's cookie, if there is one and its account is still
    /// configured (`staff`) with the same role; marks it seen.
    pub async fn get(
        &self,
        headers: &HeaderMap,
        staff: &Staff,
    ) -> Result<Option<Session>, StoreError> {
        let Some(id) = cookie(headers, COOKIE) else {
            return Ok(None);
        };
        let key = digest(id);
        let now = crate::store::now();
        let Some(stored) = self.store.session(&key, now).await? else {
            return Ok(None);
        };
        let configured = staff
            .accounts
            .iter()
            .find(|a| a.name.as_str() == stored.staff && a.role.code() == stored.role);
        let Some(account) = configured else {
            self.store.end_session(&key).await?;
            return Ok(None);
        };
        let seen_long_ago = (now - stored.seen_at)
            .to_std()
            .is_ok_and(|d| d >= TOUCH_EVERY);
        if seen_long_ago {
            self.store
                .touch_session(&key, now, ends(stored.started_at, now))
                .await?;
        }
        Ok(Some(Session {
            name: account.name.clone(),
            role: account.role,
            csrf: stored.csrf,
        }))
    }

    /// Ends the request's session, if any.
    pub async fn end(&self, headers: &HeaderMap) -> Result<(), StoreError> {
        match cookie(headers, COOKIE) {
            Some(id) => self.store.end_session(&digest(id)).await,
            None => Ok(()),
        }
    }
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
    use axum::http::HeaderValue;

    #[test]
    fn a_session_ends_idle_or_at_its_lifetime_whichever_is_first() {
        let t0 = crate::store::now();
        assert_eq!(ends(t0, t0), after(t0, IDLE));
        let late = after(t0, LIFETIME - Duration::from_secs(60));
        assert_eq!(ends(t0, late), after(t0, LIFETIME));
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
