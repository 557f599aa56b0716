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

/// A status update the gateway shed (503, its cap on requests in flight) is sent again after
/// its `Retry-After` (1 to 10 seconds; 1 when it has none), as a partner's system would, this
/// many times at most.
const SHED_RETRIES: u32 = 30;

/// The wait a 503 asks for.
fn retry_after(answer: &reqwest::Response) -> std::time::Duration {
    let seconds = answer
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .clamp(1, 10);
    std::time::Duration::from_secs(seconds)
}

/// Posts a status update to the gateway as a partner's system would: again after a short
/// wait while the gateway has not recorded the delivery yet (409), and again after its
/// `Retry-After` when it shed the request (503); the last answer.
async fn post_status(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    media_type: &str,
    body: Vec<u8>,
    tracker: &Tracker,
) -> reqwest::Result<reqwest::Response> {
    let mut conflicts = 0;
    let mut shed = 0;
    loop {
        let answer = http
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, media_type)
            .body(body.clone())
            .send()
            .await;
        // The gateway records the delivery once this endpoint's 200 has reached it; an
        // answer sent faster than that finds the referral not yet delivered (409).
        match answer {
            Ok(a) if a.status().as_u16() == 409 && conflicts < CONFLICT_RETRIES => {
                conflicts += 1;
                bump(&tracker.status_retries);
                tokio::time::sleep(CONFLICT_WAIT).await;
            }
            Ok(a) if a.status().as_u16() == 503 && shed < SHED_RETRIES => {
                shed += 1;
                bump(&tracker.status_shed);
                tokio::time::sleep(retry_after(&a)).await;
            }
            other => return other,
        }
    }
}

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
        let answer = post_status(
            &self.shared.http,
            &url,
            &self.token,
            self.format.media_type(),
            body,
            tracker,
        )
        .await;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    use super::*;

    /// A gateway stand-in on loopback that answers its first `shed` posts 503 (with
    /// `Retry-After: 1`), its next `conflicts` 409, then 200; and counts the posts.
    async fn gateway(shed: u32, conflicts: u32) -> (String, Arc<AtomicU32>) {
        let posts = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&posts);
        let app = axum::Router::new().route(
            "/status",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let counted = Arc::clone(&counted);
                async move {
                    assert_eq!(body, "update");
                    assert_eq!(
                        headers
                            .get(reqwest::header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok()),
                        Some("Bearer token")
                    );
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    if n < shed {
                        (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response()
                    } else if n < shed + conflicts {
                        StatusCode::CONFLICT.into_response()
                    } else {
                        StatusCode::OK.into_response()
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/status", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, posts)
    }

    async fn send(url: &str, tracker: &Tracker) -> u16 {
        post_status(
            &reqwest::Client::new(),
            url,
            "token",
            "application/xml",
            b"update".to_vec(),
            tracker,
        )
        .await
        .unwrap()
        .status()
        .as_u16()
    }

    #[tokio::test]
    async fn a_shed_status_update_is_sent_again_after_retry_after() {
        let (url, posts) = gateway(2, 1).await;
        let tracker = Tracker::default();
        let started = Instant::now();
        assert_eq!(send(&url, &tracker).await, 200);
        assert_eq!(
            posts.load(Ordering::SeqCst),
            4,
            "two shed, one conflict, one applied"
        );
        assert_eq!(tracker.status_shed.load(Ordering::Relaxed), 2);
        assert_eq!(tracker.status_retries.load(Ordering::Relaxed), 1);
        assert!(
            started.elapsed() >= std::time::Duration::from_secs(2),
            "each 503 waited its Retry-After of a second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_gateway_that_keeps_shedding_is_given_up_on() {
        let (url, posts) = gateway(u32::MAX, 0).await;
        let tracker = Tracker::default();
        assert_eq!(send(&url, &tracker).await, 503, "the last answer");
        assert_eq!(posts.load(Ordering::SeqCst), SHED_RETRIES + 1);
        assert_eq!(
            tracker.status_shed.load(Ordering::Relaxed),
            u64::from(SHED_RETRIES)
        );
    }

    #[test]
    fn retry_after_is_read_and_kept_between_one_and_ten_seconds() {
        let answer = |value: Option<&str>| {
            let mut builder = axum::http::Response::builder().status(503);
            if let Some(v) = value {
                builder = builder.header(reqwest::header::RETRY_AFTER, v);
            }
            reqwest::Response::from(builder.body(Vec::<u8>::new()).unwrap())
        };
        let secs = |v| retry_after(&answer(v)).as_secs();
        assert_eq!(secs(Some("3")), 3);
        assert_eq!(secs(Some("0")), 1);
        assert_eq!(secs(Some("600")), 10);
        assert_eq!(secs(Some("Wed, 21 Oct 2026 07:28:00 GMT")), 1);
        assert_eq!(secs(None), 1);
    }
}
