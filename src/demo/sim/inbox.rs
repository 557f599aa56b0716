//! A push partner's system: a real HTTP server on 127.0.0.1 taking the gateway's deliveries at
//! `POST /inbox`. It answers after its own latency: 200 when it took the message in, 422 when
//! its intake refused it, 400 when it could not read it, and 503 (with Retry-After) while the
//! partner is down.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wijkbrug_adapters::model::ReferralId;

use super::profile::Profile;
use super::{Reception, SimPartner};
use crate::delivery::client::REFERRAL_HEADER;
use crate::demo::tally::bump;

/// Seconds a partner that is down asks the gateway to wait.
const RETRY_AFTER_SECS: u64 = 5;

/// A running partner server.
pub struct Inbox {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// Binds a loopback port for a partner's server (the gateway's configuration needs the URL
/// before the partner can be built).
pub async fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0").await
}

/// The URL the gateway pushes to.
pub fn url(addr: SocketAddr) -> Result<reqwest::Url, String> {
    reqwest::Url::parse(&format!("http://{addr}/inbox")).map_err(|e| e.to_string())
}

async fn deliver(
    State(partner): State<Arc<SimPartner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if partner.is_down() {
        bump(&partner.tally.turned_away);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", RETRY_AFTER_SECS.to_string())],
            "down for maintenance",
        )
            .into_response();
    }
    tokio::time::sleep(Profile::delay(&partner.profile.latency)).await;
    let referral = headers
        .get(REFERRAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ReferralId::parse(v).ok());
    match partner.receive(&body, referral) {
        Reception::Taken => StatusCode::OK.into_response(),
        Reception::Refused => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "the planning system cannot take this referral in",
        )
            .into_response(),
        Reception::Unreadable => StatusCode::BAD_REQUEST.into_response(),
    }
}

impl Inbox {
    /// Serves `partner` on `listener` until [`Inbox::stop`].
    pub fn serve(listener: TcpListener, partner: Arc<SimPartner>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/inbox", post(deliver))
            .with_state(partner);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "a simulated partner's server stopped");
            }
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
            task,
        })
    }

    /// Stops taking connections and waits for the answers in flight.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}
