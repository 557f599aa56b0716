//! The operations dashboard under `/ops/`: server-rendered HTML for the operations and admin
//! roles, served by the gateway itself. No build step and nothing from outside: the style
//! sheet and the one small script are compiled into the binary ([`assets`]), and every page
//! works without JavaScript (the script only refreshes the overview's figures).
//!
//! - [`session`]: signing in with a staff token, the session cookie, the form token.
//! - [`sign_in_throttle`]: failed sign-ins limited per client address and in all
//!   ([`client`]: the address and scheme, through trusted proxies).
//! - [`overview`]: referrals by status, deliveries in flight, dead letters, consent refusals,
//!   deliveries per partner and the audit chain, refreshed live.
//! - [`referrals`]: the referral list (filters, keyset paging) and one referral's timeline.
//! - [`dead_letters`]: the dead-letter list; retry and discard with a confirmation step
//!   (admin role).
//! - [`partners`]: the per-partner table, rendered from plain rows.
//!
//! Metadata only, everywhere: ids, partners, sectors, statuses, times and error kinds. No
//! page reads a request, a shared copy, a reason text or a note (the store's dashboard reads
//! do not select them), so no resident data can reach a page.

pub mod assets;
pub mod client;
pub mod dead_letters;
pub mod flows;
pub mod layout;
pub mod login;
pub mod overview;
pub mod partners;
pub mod referrals;
pub mod session;
pub mod sign_in_throttle;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::access::Permission;
use crate::app::SharedState;
use crate::audit_chain::ChainCheck;
use session::{Session, Sessions};
use sign_in_throttle::SignInThrottle;

/// The dashboard's state: the gateway's, and the sessions.
pub struct Dashboard {
    pub app: SharedState,
    pub sessions: Sessions,
    /// The allowances of failed sign-ins.
    pub sign_ins: SignInThrottle,
}

pub type DashState = Arc<Dashboard>;

impl Dashboard {
    pub fn new(app: SharedState) -> Self {
        Self {
            sessions: Sessions::new(app.store.clone()),
            app,
            sign_ins: SignInThrottle::default(),
        }
    }

    /// The signed-in staff member, if their role grants `permission`. Without a session the
    /// answer is the sign-in page (a redirect back to `uri` after it); with a role that may
    /// not, a 403 page. Records the account on the request span, as the API does.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        permission: Permission,
    ) -> Result<Session, Refusal> {
        let session = self
            .session(headers)
            .await
            .map_err(|_| Refusal(Box::new(unavailable(None))))?;
        let Some(session) = session else {
            let next = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/ops/");
            let to = format!("/ops/login?next={}", layout::encode_query(next));
            return Err(Refusal(Box::new(Redirect::to(&to).into_response())));
        };
        tracing::Span::current().record(
            "staff",
            format!("{}:{}", session.role.code(), session.name).as_str(),
        );
        if !session.may(permission) {
            return Err(Refusal(Box::new(forbidden(
                Some(&session),
                &format!(
                    "Your role ({}) does not open this page. The dashboard is for operations \
                     staff and administrators.",
                    layout::role_label(session.role)
                ),
            ))));
        }
        Ok(session)
    }

    /// The request's session, if it has a live one (see [`session`]).
    pub async fn session(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Session>, crate::store::StoreError> {
        self.sessions
            .get(headers, &self.app.config.staff)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "store failed reading a session"))
    }

    /// The audit chain as the background watcher last walked it (`state.audit_chain`, every
    /// `[audit] verify_interval_secs`, the whole chain every `whole_verify_interval_secs`).
    /// The dashboard never walks the chain itself: the overview is fetched every few seconds
    /// while it is open, and a walk of its own would be a walk of the whole chain, tens of
    /// seconds of a core on a long one (BENCHMARKS.md).
    pub fn chain_shown(&self) -> ChainShown {
        let Some(walk) = self.app.audit_chain.latest() else {
            return ChainShown::Pending;
        };
        let now = crate::store::now();
        let secs =
            |t: chrono::DateTime<chrono::Utc>| u64::try_from((now - t).num_seconds()).unwrap_or(0);
        ChainShown::Walked {
            checked_secs: secs(walk.checked_at),
            whole_secs: secs(walk.whole_checked_at),
            whole: walk.whole,
            walked: walk.walked,
            check: walk.check,
        }
    }
}

/// The audit chain as the overview shows it ([`Dashboard::chain_shown`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainShown {
    /// No walk has finished since the gateway started (the first is under way).
    Pending,
    /// The watcher's latest walk.
    Walked {
        check: ChainCheck,
        /// How long ago the walk finished, in seconds.
        checked_secs: u64,
        /// Whether it walked the whole chain (otherwise the events appended since the walk
        /// before, after checking that the event that walk ended at is unchanged).
        whole: bool,
        /// Events it verified.
        walked: u64,
        /// How long ago the latest walk of the whole chain finished, in seconds.
        whole_secs: u64,
    },
}

/// A page answered instead of the one asked for (the sign-in page, a 403 or 404 page).
pub struct Refusal(pub Box<Response>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A 403 page.
pub fn forbidden(session: Option<&Session>, text: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        layout::message_page("Not for your role", session, text, None),
    )
        .into_response()
}

/// A 404 page.
pub fn not_found(session: Option<&Session>, what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        layout::message_page(
            "Not found",
            session,
            &format!("There is no {what} here."),
            Some(("/ops/", "Back to the overview")),
        ),
    )
        .into_response()
}

/// A 503 page (the store could not answer).
pub fn unavailable(session: Option<&Session>) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        layout::message_page(
            "The store is unavailable",
            session,
            "The gateway could not read its store just now. Try again in a moment.",
            None,
        ),
    )
        .into_response()
}

/// Headers every dashboard answer carries: nothing from elsewhere may run or frame it, and
/// no page is cached.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn unknown_page(
    axum::extract::State(dash): axum::extract::State<DashState>,
    headers: HeaderMap,
) -> Response {
    let session = dash.session(&headers).await.ok().flatten();
    not_found(session.as_ref(), "such page")
}

/// The dashboard's routes, to merge into the gateway's router.
pub fn router(app: SharedState) -> Router<SharedState> {
    let dash: DashState = Arc::new(Dashboard::new(app));
    Router::new()
        .route("/ops", get(|| async { Redirect::permanent("/ops/") }))
        .route("/ops/", get(overview::page))
        .route("/ops/live", get(overview::live))
        .route("/ops/login", get(login::form).post(login::sign_in))
        .route("/ops/logout", post(login::sign_out))
        .route("/ops/referrals", get(referrals::list))
        .route("/ops/referrals/{id}", get(referrals::timeline))
        .route("/ops/dead-letters", get(dead_letters::list))
        .route("/ops/flows", get(flows::page))
        .route(
            "/ops/dead-letters/{id}/{action}",
            get(dead_letters::confirm).post(dead_letters::act),
        )
        .route("/ops/assets/{file}", get(assets::serve))
        .route("/ops/{*rest}", get(unknown_page))
        // Forms are small: a token, a checkbox, a form token.
        .layer(DefaultBodyLimit::max(16 * 1024))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(dash)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::AppState;
    use crate::audit_watch::tests::reads;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    /// The overview shows the watcher's latest walk and walks nothing itself: before the
    /// first walk it says so (it used to walk the whole chain itself then, and every 30 s
    /// while the page was open whenever the watcher's walk was older than that).
    #[tokio::test]
    async fn the_chain_shown_is_the_watchers_latest_walk_and_the_dashboard_walks_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::migrated_in(dir.path()).await);
        reads(&store, 0, 5).await;
        let config = crate::config::load_with_env(std::path::Path::new("config"), []).unwrap();
        let app = Arc::new(AppState::new(config, store.clone()));
        let dash = Dashboard::new(app.clone());
        let day = Duration::from_secs(86_400);

        assert_eq!(dash.chain_shown(), ChainShown::Pending);
        let watcher_walks = || async {
            crate::audit_watch::run_once(store.as_ref(), &app.audit_chain, day)
                .await
                .unwrap();
        };
        let shown = || match dash.chain_shown() {
            ChainShown::Walked {
                check,
                whole,
                walked,
                checked_secs,
                whole_secs,
            } => (check, whole, walked, whole_secs >= checked_secs),
            ChainShown::Pending => panic!("the watcher walked"),
        };

        watcher_walks().await;
        let (check, whole, walked, _) = shown();
        assert!(check.intact && whole);
        assert_eq!((check.events, walked), (5, 5));

        // Events appended and no walk since: the page shows the walk it had.
        reads(&store, 5, 3).await;
        for _ in 0..3 {
            assert_eq!(shown().0.events, 5);
        }

        // The watcher's next walk: the three new events, the whole walk's age beside it.
        watcher_walks().await;
        let (check, whole, walked, whole_older) = shown();
        assert!(check.intact && !whole && whole_older);
        assert_eq!((check.events, walked), (8, 3));
        assert_eq!(app.audit_chain.walks(), 2, "only the watcher's two walks");
        store.close().await;
    }
}
