//! Delivery end to end: the real gateway, with real HTTP servers on loopback standing in for
//! the partners' systems.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::*;
use serde_json::Value;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::Format;

/// What a partner's server received.
#[derive(Clone, Debug)]
struct Received {
    at: Instant,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// How a partner's server answers its n-th request (0-based).
#[derive(Clone, Copy, Debug)]
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    delay: Duration,
}

const OK: Answer = Answer {
    status: 200,
    retry_after: None,
    delay: Duration::ZERO,
};

fn status(status: u16) -> Answer {
    Answer { status, ..OK }
}

/// A partner's system: answers per a script (the last answer repeats) and records everything.
struct Partner {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Partner {
    async fn start(script: Vec<Answer>) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let log = received.clone();
        let script = Arc::new(script);
        let handler = move |headers: HeaderMap, body: axum::body::Bytes| {
            let log = log.clone();
            let script = script.clone();
            async move {
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(Received {
                        at: Instant::now(),
                        headers,
                        body: body.to_vec(),
                    });
                    log.len() - 1
                };
                let answer = script[n.min(script.len() - 1)];
                tokio::time::sleep(answer.delay).await;
                let mut headers = HeaderMap::new();
                if let Some(s) = answer.retry_after {
                    headers.insert("retry-after", s.to_string().parse().unwrap());
                }
                (StatusCode::from_u16(answer.status).unwrap(), headers).into_response()
            }
        };
        let app = axum::Router::new().route("/inbox", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/inbox", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn successes(&self, script_ok_from: usize) -> usize {
        self.received().len().saturating_sub(script_ok_from)
    }
}

/// Points partner `id` of a config dir at `url`, with `timeout_ms`.
fn point(config_dir: &Path, id: &str, url: &str, timeout_ms: u64) {
    let path = config_dir.join(format!("partners/{id}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("url = ") {
                format!("url = \"{url}\"")
            } else if l.starts_with("timeout_ms = ") {
                format!("timeout_ms = {timeout_ms}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(path, text).unwrap();
}

/// Tiny backoff and a fast poll, so retries happen within a test.
const QUICK: &[(&str, &str)] = &[
    ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "10"),
    ("WIJKBRUG__DELIVERY__BACKOFF_MAX_SECS", "1"),
    ("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20"),
];

async fn post_signal(app: &TestApp) -> ReferralId {
    let res = app
        .post_message("woonstad-noord", "application/json", rent_arrears_signal())
        .await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"][0]["receiver"], "wijkteam-centrum");
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

/// Waits (up to 30 s) until `f` holds.
async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status_of(app: &TestApp, id: ReferralId) -> ReferralStatus {
    app.running
        .state
        .store
        .referral(id)
        .await
        .unwrap()
        .unwrap()
        .referral
        .status()
}

#[tokio::test]
async fn an_accepted_referral_is_delivered_to_the_receiver_in_its_format_with_an_idempotency_key() {
    let desk = Partner::start(vec![OK]).await;
    let url = desk.url.clone();
    let app = TestApp::spawn_with(|d| point(d, "wijkteam-centrum", &url, 5000), QUICK).await;
    let id = post_signal(&app).await;

    eventually("the desk receives the referral", || async {
        !desk.received().is_empty()
    })
    .await;
    let got = &desk.received()[0];
    assert_eq!(got.headers["content-type"], Format::Iwmo32.media_type());
    let key = got.headers["idempotency-key"].to_str().unwrap();
    assert!(key.starts_with(&format!("{id}:")), "{key}");
    assert_eq!(got.headers["x-wijkbrug-referral"], id.to_string().as_str());
    let body = String::from_utf8(got.body.clone()).unwrap();
    assert!(body.starts_with("<?xml"), "iWmo is XML");
    assert!(
        body.contains("999900006"),
        "the shared copy names the resident"
    );

    eventually("the referral is delivered", || async {
        status_of(&app, id).await == ReferralStatus::Delivered
    })
    .await;
    // The worker counts the delivery once the store has answered, a moment after the commit
    // that the status above is read from.
    eventually("the worker counted the delivery", || async {
        app.running
            .delivery_stats()
            .partner("wijkteam-centrum")
            .delivered
            == 1
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_partner_answering_503_three_times_gets_exactly_one_successful_delivery() {
    let desk = Partner::start(vec![status(503), status(503), status(503), OK]).await;
    let url = desk.url.clone();
    let app = TestApp::spawn_with(|d| point(d, "wijkteam-centrum", &url, 5000), QUICK).await;
    let id = post_signal(&app).await;

    eventually("the referral is delivered", || async {
        status_of(&app, id).await == ReferralStatus::Delivered
    })
    .await;
    // Give a wrongly repeated delivery the chance to show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = desk.received();
    assert_eq!(got.len(), 4, "three refusals and one success");
    assert_eq!(desk.successes(3), 1);
    let keys: Vec<_> = got
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert!(
        keys.iter().all(|k| *k == keys[0]),
        "one key on every attempt"
    );
    let stats = app.running.delivery_stats().partner("wijkteam-centrum");
    assert_eq!((stats.retried, stats.delivered), (3, 1));
    app.stop().await;
}

#[tokio::test]
async fn retry_after_on_a_429_is_honoured() {
    let busy = Answer {
        status: 429,
        retry_after: Some(1),
        delay: Duration::ZERO,
    };
    let desk = Partner::start(vec![busy, OK]).await;
    let url = desk.url.clone();
    let app = TestApp::spawn_with(|d| point(d, "wijkteam-centrum", &url, 5000), QUICK).await;
    let id = post_signal(&app).await;

    eventually("the referral is delivered", || async {
        status_of(&app, id).await == ReferralStatus::Delivered
    })
    .await;
    let got = desk.received();
    assert_eq!(got.len(), 2);
    // Ordering, not performance: the second attempt came no sooner than the partner asked.
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_secs(1));
    app.stop().await;
}

#[tokio::test]
async fn a_400_goes_to_the_dead_letters_and_the_referral_becomes_undeliverable() {
    let desk = Partner::start(vec![status(400)]).await;
    let url = desk.url.clone();
    let app = TestApp::spawn_with(|d| point(d, "wijkteam-centrum", &url, 5000), QUICK).await;
    let id = post_signal(&app).await;

    eventually("the referral is undeliverable", || async {
        status_of(&app, id).await == ReferralStatus::Undeliverable
    })
    .await;
    assert_eq!(desk.received().len(), 1, "no retry after a 400");
    let dead = app
        .running
        .state
        .store
        .dead_letters(None, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].item.referral, id);
    assert_eq!(dead[0].last_error, "HTTP 400 Bad Request");
    // The sender is told, through the outbox.
    let outbox = app.running.state.store.outbox_for(id).await.unwrap();
    assert!(outbox
        .iter()
        .any(|o| o.recipient.as_str() == "woonstad-noord"));
    // Counted once the store has answered, a moment after the commit read above.
    eventually("the worker counted the dead letter", || async {
        app.running
            .delivery_stats()
            .partner("wijkteam-centrum")
            .dead
            == 1
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_slow_partner_does_not_hold_up_deliveries_to_another() {
    let slow = Answer {
        delay: Duration::from_secs(60),
        ..OK
    };
    let desk = Partner::start(vec![slow]).await;
    let nurse = Partner::start(vec![OK]).await;
    let (desk_url, nurse_url) = (desk.url.clone(), nurse.url.clone());
    let app = TestApp::spawn_with(
        |d| {
            point(d, "wijkteam-centrum", &desk_url, 20_000);
            point(d, "thuiszorg-oost", &nurse_url, 3000);
        },
        &[QUICK, &[("WIJKBRUG__SERVER__SHUTDOWN_GRACE_SECS", "1")]].concat(),
    )
    .await;
    // First the referral to the slow desk ...
    let _slow_one = post_signal(&app).await;
    eventually("the slow desk is being delivered to", || async {
        !desk.received().is_empty()
    })
    .await;
    // ... then one to the district nurse.
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-SLOW-1",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    let res = app
        .post_message("huisarts-de-linde", "application/fhir+json", fhir)
        .await;
    assert_eq!(res.status(), 202);
    eventually("the nurse receives its referral", || async {
        !nurse.received().is_empty()
    })
    .await;
    // The desk's attempt has not timed out yet: no second attempt, no retry recorded.
    assert_eq!(desk.received().len(), 1);
    assert_eq!(
        app.running
            .delivery_stats()
            .partner("wijkteam-centrum")
            .retried,
        0
    );
    app.stop().await;
}
