//! A real HTTP server on 127.0.0.1 standing in for a partner's system: it records what it
//! receives, when each request arrived and when the partner was done with it, and answers as
//! scripted (status codes, Retry-After, delays).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// One request the partner received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// When the partner was done with it: answered, or the gateway hung up (set once the
    /// handler ends either way; `None` while it is still being handled).
    pub finished: Option<Instant>,
    pub content_type: String,
    pub idempotency_key: String,
    pub referral: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the partner answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    RetryAfter(u16, u64),
    /// Waits, then answers 200.
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Reply>,
}

/// A partner system on loopback.
#[derive(Clone)]
pub struct PartnerServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Whether it serves HTTPS.
    tls: bool,
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (reply, _finish) = {
        let mut i = inner.lock().unwrap();
        let index = i.received.len();
        i.received.push(Received {
            at: Instant::now(),
            finished: None,
            content_type: header("content-type").unwrap_or_default(),
            idempotency_key: header("idempotency-key").unwrap_or_default(),
            referral: header("x-wijkbrug-referral").unwrap_or_default(),
            authorization: header("authorization"),
            body: body.to_vec(),
        });
        let reply = i.script.pop_front().unwrap_or(Reply::Status(200));
        (
            reply,
            Finish {
                inner: inner.clone(),
                index,
            },
        )
    };
    match reply {
        Reply::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Reply::RetryAfter(s, secs) => (
            StatusCode::from_u16(s).unwrap(),
            [("retry-after", secs.to_string())],
        )
            .into_response(),
        Reply::Slow(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK.into_response()
        }
    }
}

/// Marks a request finished when its handler ends: after the answer, or when the gateway hung
/// up and the handler was dropped.
struct Finish {
    inner: Arc<Mutex<Inner>>,
    index: usize,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if let Ok(mut i) = self.inner.lock() {
            if let Some(r) = i.received.get_mut(self.index) {
                r.finished = Some(Instant::now());
            }
        }
    }
}

impl PartnerServer {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A partner that serves HTTPS (rustls) with `tls` (its certificate, and the CA it checks
    /// client certificates against, if any).
    pub async fn start_tls(tls: &wijkbrug::tls::ServerTls) -> Self {
        Self::start_with(Some(tls)).await
    }

    async fn start_with(tls: Option<&wijkbrug::tls::ServerTls>) -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/inbox", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        match tls {
            None => {
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
            }
            Some(tls) => {
                let listener = wijkbrug::tls::TlsListener::new(listener, tls).unwrap();
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
            }
        }
        Self {
            addr,
            inner,
            tls: tls.is_some(),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/inbox", self.addr)
    }

    /// The next requests are answered like this, in order; after that with 200.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.lock().unwrap().script.extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Waits (bounded) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Points a push partner of a config dir at `url`.
pub fn point_partner_at(config_dir: &std::path::Path, partner: &str, url: &str) {
    let file = config_dir.join(format!("partners/{partner}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("url") {
                format!("url = \"{url}\"")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(file, changed.join("\n") + "\n").unwrap();
}
