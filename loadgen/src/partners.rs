//! The receiving partners' systems: one real HTTP server on loopback for each partner, taking
//! the gateway's deliveries at `POST /inbox`. Each reads a delivery with its own adapter; a
//! new referral is timed and answered at once with a status update (`accepted`) in the
//! partner's own format through the gateway's API (the status loop); a status notice about a
//! referral the partner sent is timed as the end of that loop.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wijkbrug::delivery::client::REFERRAL_HEADER;
use wijkbrug::demo::network::GATEWAY_ID;
use wijkbrug_adapters::adapter::OutgoingStatus;
use wijkbrug_adapters::model::{
    PartnerId, ReferralId, ReferralRef, ReferralRequest, ReferralStatus, StatusUpdate,
};
use wijkbrug_adapters::{adapter_for, DecodeContext, Directory, Format, Record};

use crate::measure::{bump, Tracker};

/// A status update that came before the gateway recorded its delivery is sent again after
/// this wait, this many times at most.
const CONFLICT_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
const CONFLICT_RETRIES: u32 = 50;

/// Loopback ports bound before the gateway's configuration is written (it needs the URLs).
pub struct Bound {
    listeners: Vec<(String, TcpListener)>,
}

/// Binds one port for each of `ids`.
pub async fn bind(ids: &[String]) -> std::io::Result<Bound> {
    let mut listeners = Vec::new();
    for id in ids {
        listeners.push((id.clone(), TcpListener::bind("127.0.0.1:0").await?));
    }
    Ok(Bound { listeners })
}

impl Bound {
    /// The push URL of each partner.
    pub fn urls(&self) -> std::io::Result<HashMap<String, String>> {
        self.listeners
            .iter()
            .map(|(id, l)| Ok((id.clone(), inbox_url(l.local_addr()?))))
            .collect()
    }
}

fn inbox_url(addr: SocketAddr) -> String {
    format!("http://{addr}/inbox")
}

/// What every endpoint shares.
#[derive(Clone)]
pub struct Shared {
    /// The gateway's base URL, e.g. `http://127.0.0.1:8080`.
    pub gateway: String,
    pub http: reqwest::Client,
    /// The directory as the partners' systems know it (the gateway included).
    pub directory: Directory,
    pub tracker: Arc<Tracker>,
    /// Answer each new referral with a status update.
    pub status_loop: bool,
}

struct Endpoint {
    id: PartnerId,
    format: Format,
    token: String,
    shared: Shared,
}

/// The running endpoints.
pub struct Endpoints {
    servers: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// Serves every bound partner; `partners` gives each one's format and token.
pub fn serve(
    bound: Bound,
    partners: &HashMap<String, (Format, String)>,
    shared: &Shared,
) -> anyhow::Result<Endpoints> {
    let mut servers = Vec::new();
    for (id, listener) in bound.listeners {
        let (format, token) = partners
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("no format or token for {id}"))?;
        let endpoint = Arc::new(Endpoint {
            id: PartnerId::parse(&id).map_err(|e| anyhow::anyhow!("{id}: {e}"))?,
            format: *format,
            token: token.clone(),
            shared: shared.clone(),
        });
        let app = Router::new()
            .route("/inbox", post(inbox))
            .with_state(endpoint);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "a partner endpoint stopped");
            }
        });
        servers.push((tx, task));
    }
    Ok(Endpoints { servers })
}

impl Endpoints {
    pub async fn stop(self) {
        for (tx, task) in self.servers {
            let _ = tx.send(());
            let _ = task.await;
        }
    }
}

async fn inbox(
    State(endpoint): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let tracker = &endpoint.shared.tracker;
    let Some(id) = headers
        .get(REFERRAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| ReferralId::parse(v).ok())
    else {
        bump(&tracker.unreadable);
        return StatusCode::BAD_REQUEST;
    };
    let Some(sender) = sender_of(endpoint.format, &body) else {
        bump(&tracker.unreadable);
        return StatusCode::BAD_REQUEST;
    };
    let ctx = DecodeContext {
        sender,
        directory: endpoint.shared.directory.clone(),
    };
    let first = adapter_for(endpoint.format).decode(&body, &ctx).next();
    match first {
        Some(Ok(Record::Referral(incoming))) => {
            if tracker.delivered(id) && endpoint.shared.status_loop {
                let e = Arc::clone(&endpoint);
                tokio::spawn(async move { e.answer(id, incoming.request).await });
            }
            StatusCode::OK
        }
        Some(Ok(Record::Status(_))) => {
            tracker.noticed(id);
            StatusCode::OK
        }
        _ => {
            bump(&tracker.unreadable);
            StatusCode::BAD_REQUEST
        }
    }
}

/// Who a partner's system takes a delivery to be from: the gateway, except that a FHIR
/// ServiceRequest names the partner that referred (as `wijkbrug::demo::sim` reads it).
fn sender_of(format: Format, body: &[u8]) -> Option<PartnerId> {
    let requester = (format == Format::FhirR4)
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|bundle| {
            bundle["entry"].as_array()?.iter().find_map(|e| {
                let r = &e["resource"];
                let id = &r["requester"]["identifier"];
                (r["resourceType"] == "ServiceRequest" && id["system"] == "urn:wijkbrug:partner")
                    .then(|| id["value"].as_str())
                    .flatten()
                    .and_then(|v| PartnerId::parse(v).ok())
            })
        });
    requester.or_else(|| PartnerId::parse(GATEWAY_ID).ok())
}

impl Endpoint {
    /// Sends `accepted` for referral `id` in the partner's own format.
    async fn answer(&self, id: ReferralId, request: ReferralRequest) {
        let tracker = &self.shared.tracker;
        let Ok(update) = StatusUpdate::new(
            ReferralRef::Id(id),
            ReferralStatus::Accepted,
            chrono::Utc::now(),
        ) else {
            bump(&tracker.status_errors);
            return;
        };
        let body = match adapter_for(self.format).encode_status(
            OutgoingStatus {
                id,
                request: &request,
                update: &update,
            },
            &self.shared.directory,
        ) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(partner = %self.id, error = %e, "cannot write a status update");
                bump(&tracker.status_errors);
                return;
            }
        };
        let started = Instant::now();
        let url = format!("{}/v1/partners/{}/messages", self.shared.gateway, self.id);
        let mut tries = 0;
        let answer = loop {
            let answer = self
                .shared
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .header(reqwest::header::CONTENT_TYPE, self.format.media_type())
                .body(body.clone())
                .send()
                .await;
            // The gateway records the delivery once this endpoint's 200 has reached it; an
            // answer sent faster than that finds the referral not yet delivered (409).
            match answer {
                Ok(a) if a.status().as_u16() == 409 && tries < CONFLICT_RETRIES => {
                    tries += 1;
                    bump(&tracker.status_retries);
                    tokio::time::sleep(CONFLICT_WAIT).await;
                }
                other => break other,
            }
        };
        match answer {
            Ok(a) if a.status().as_u16() == 200 => {
                let _ = a.bytes().await;
                tracker.status_post.record(started.elapsed());
                bump(&tracker.statuses);
            }
            Ok(a) => {
                tracing::warn!(partner = %self.id, status = a.status().as_u16(), "a status update was not applied");
                bump(&tracker.status_errors);
            }
            Err(e) => {
                tracing::warn!(partner = %self.id, error = %e, "cannot post a status update");
                bump(&tracker.status_errors);
            }
        }
    }
}
