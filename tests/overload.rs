//! The cap on partner requests in flight (`server.max_requests_in_flight`) over real HTTP: with
//! the cap's requests held inside the gateway (their bodies not yet sent), one more partner
//! request is answered 503 at once with Retry-After and a problem+json body naming the rule,
//! stores nothing, and is counted; health, metrics and the staff routes keep answering; once
//! the held requests finish, partner requests are taken again. Beyond the cap an eighth of it
//! more is kept for work on referrals already taken: a status update is let in and applied,
//! a message holding a new referral is read and then shed the same way.

mod common;

use std::path::Path;

use common::{demo_staff_tokens, native, rent_arrears_signal, request, TestApp};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wijkbrug_adapters::model::{Sector, Target};
use wijkbrug_adapters::Format;

const CAP: usize = 2;

/// A gateway with a cap of [`CAP`] and body and request timeouts far longer than any test
/// takes, so a held body is never cut off by them.
async fn spawn() -> TestApp {
    TestApp::spawn_with(
        |_: &Path| {},
        &[
            ("WIJKBRUG__SERVER__MAX_REQUESTS_IN_FLIGHT", "2"),
            ("WIJKBRUG__SERVER__BODY_READ_TIMEOUT_SECS", "600"),
            ("WIJKBRUG__SERVER__REQUEST_TIMEOUT_SECS", "900"),
        ],
    )
    .await
}

/// An employment CSV referral from werkplein to the welfare sector with `reference`.
fn referral(reference: &str) -> Vec<u8> {
    native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            reference,
            "999900006",
            Target::Sector(Sector::Welfare),
            false,
        ),
    )
}

/// A partner request whose head and first half of the body are sent, the rest held back, so
/// the gateway is inside the handler reading it.
struct Held {
    conn: TcpStream,
    rest: Vec<u8>,
}

impl Held {
    async fn start(app: &TestApp, body: Vec<u8>) -> Self {
        let head = format!(
            "POST /v1/partners/werkplein/messages HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.token("werkplein"),
            body.len()
        );
        let (first, rest) = body.split_at(body.len() / 2);
        let mut conn = TcpStream::connect(app.running.addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(first).await.unwrap();
        conn.flush().await.unwrap();
        Self {
            conn,
            rest: rest.to_vec(),
        }
    }

    /// Sends the rest of the body and returns the answer's status.
    async fn finish(mut self) -> u16 {
        self.conn.write_all(&self.rest).await.unwrap();
        self.conn.flush().await.unwrap();
        let mut raw = Vec::new();
        self.conn.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw);
        text.strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP answer: {text}"))
    }
}

/// Waits (yielding) until `n` capped requests are inside the gateway.
async fn until_in_flight(app: &TestApp, n: usize) {
    while app.running.state.in_flight.current() < n {
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

async fn chain_head(app: &TestApp) -> (bool, Option<String>) {
    let check = wijkbrug::audit_chain::check(&*app.running.state.store)
        .await
        .unwrap();
    (check.intact, check.head())
}

async fn metrics(app: &TestApp) -> String {
    let res = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap()
}

/// The value of the series `name` (without labels) in a scrape.
fn series(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.parse().ok())?
    })
}

/// Checks a shed answer: 503, Retry-After, problem+json of type `overloaded` naming the rule.
async fn assert_shed(res: reqwest::Response) {
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["type"], "urn:wijkbrug:problem:overloaded");
    assert_eq!(problem["status"], 503);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("server.max_requests_in_flight"), "{detail}");
    assert!(detail.contains(&CAP.to_string()), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_a_partner_request_is_shed_at_once_and_stores_nothing() {
    let app = spawn().await;
    let counts = app.counts().await;
    let chain = chain_head(&app).await;

    // Fill the cap with requests whose bodies are still coming.
    let held = [
        Held::start(&app, referral("WP-HELD-1")).await,
        Held::start(&app, referral("WP-HELD-2")).await,
    ];
    until_in_flight(&app, CAP).await;

    // One more intake, and a read, are shed.
    let shed_body = referral("WP-SHED-1");
    assert_shed(
        app.post_message("werkplein", "text/csv; charset=utf-8", shed_body.clone())
            .await,
    )
    .await;
    assert_shed(
        app.get_referral("werkplein", "0190f0e8-0000-7000-8000-000000000000")
            .await,
    )
    .await;
    assert_eq!(
        app.counts().await,
        counts,
        "a shed request changed the store"
    );
    assert_eq!(
        chain_head(&app).await,
        chain,
        "a shed request changed the audit chain"
    );

    // Health, metrics and the staff routes are outside the cap.
    for path in ["/healthz", "/readyz"] {
        let res = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let scrape = metrics(&app).await;
    assert_eq!(series(&scrape, "wijkbrug_requests_shed_total"), Some(2.0));
    assert_eq!(
        series(&scrape, "wijkbrug_requests_in_flight"),
        Some(CAP as f64)
    );
    assert_eq!(
        series(&scrape, "wijkbrug_requests_in_flight_limit"),
        Some(CAP as f64)
    );
    assert!(!scrape.contains("WP-SHED"), "a reference in the metrics");
    let staff = demo_staff_tokens();
    let res = app
        .http
        .get(format!("{}/v1/ops/dead-letters", app.base))
        .bearer_auth(&staff["demo-operations"])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // The held requests finish and are accepted.
    for h in held {
        assert_eq!(h.finish().await, 202);
    }
    assert_eq!(app.running.state.in_flight.current(), 0);
    assert_eq!(app.counts().await.referrals, counts.referrals + 2);

    // Taken again: the shed referral, sent again, is new (nothing of it had been stored).
    let res = app
        .post_message("werkplein", "text/csv; charset=utf-8", shed_body)
        .await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"][0]["reference"], "WP-SHED-1");
    assert_eq!(v["accepted"][0]["duplicate"], false);
    let id = v["accepted"][0]["referral_id"].as_str().unwrap().to_owned();
    assert_eq!(app.get_referral("werkplein", &id).await.status(), 200);
    assert_eq!(app.counts().await.referrals, counts.referrals + 3);
    assert_eq!(
        series(&metrics(&app).await, "wijkbrug_requests_shed_total"),
        Some(2.0)
    );
    app.stop().await;
}

/// What `GET /metrics` says of the requests let in beyond the cap as answers.
async fn answers_in_flight(app: &TestApp) -> Option<f64> {
    series(&metrics(app).await, "wijkbrug_requests_in_flight_answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_a_status_update_is_let_in_and_a_new_referral_is_shed() {
    let app = spawn().await;
    assert_eq!(
        app.running.state.in_flight.answers_limit(),
        1,
        "an eighth of 2, at least 1"
    );
    // A referral taken before the overload: woonstad-noord's rent arrears signal.
    let signal = rent_arrears_signal();
    let res = app
        .post_message("woonstad-noord", "application/json", signal)
        .await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    let id = wijkbrug_adapters::model::ReferralId::parse(
        v["accepted"][0]["referral_id"].as_str().unwrap(),
    )
    .unwrap();
    let counts = app.counts().await;

    let held = [
        Held::start(&app, referral("WP-HELD-1")).await,
        Held::start(&app, referral("WP-HELD-2")).await,
    ];
    until_in_flight(&app, CAP).await;

    // A new referral beyond the cap is let in as a possible answer, read, and shed: nothing
    // stored, counted as shed.
    assert_shed(
        app.post_message(
            "werkplein",
            "text/csv; charset=utf-8",
            referral("WP-SHED-2"),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.counts().await,
        counts,
        "a shed referral changed the store"
    );
    // A read of a referral is not an answer: shed at once.
    assert_shed(app.get_referral("woonstad-noord", &id.to_string()).await).await;

    // The sender's cancellation of the referral it sent is work on a referral already taken:
    // let in beyond the cap and applied.
    let cancel = serde_json::json!({"schema": "wijkbrug.housing-status/1",
        "signaal_id": "HUUR-2026-0042", "status": "cancelled", "at": "2026-11-03T10:00:00Z",
        "reden": "Regeling getroffen"})
    .to_string();
    let res = app
        .post_message("woonstad-noord", "application/json", cancel.clone())
        .await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["applied"][0]["status"], "cancelled");
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    assert_eq!(stored.referral.status().code(), "cancelled");
    assert_eq!(answers_in_flight(&app).await, Some(0.0));

    // With the answers' room taken too (a message whose body is still coming), even a status
    // update is shed at once; the held message turns out to be a new referral and is shed.
    let beyond = Held::start(&app, referral("WP-HELD-3")).await;
    while app.running.state.in_flight.current_answers() < 1 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(answers_in_flight(&app).await, Some(1.0));
    assert_shed(
        app.post_message("woonstad-noord", "application/json", cancel)
            .await,
    )
    .await;
    assert_eq!(beyond.finish().await, 503);
    for h in held {
        assert_eq!(h.finish().await, 202);
    }
    assert_eq!(app.counts().await.referrals, counts.referrals + 2);
    let scrape = metrics(&app).await;
    assert_eq!(series(&scrape, "wijkbrug_requests_shed_total"), Some(4.0));
    assert_eq!(
        series(&scrape, "wijkbrug_requests_in_flight_answers"),
        Some(0.0)
    );
    // How long each message took, by its answer: the signal and the two held referrals
    // accepted, the cancellation applied, and the two referrals shed once read; the two
    // requests shed at once (a read, a status update) are not messages answered by the intake.
    for (code, answered) in [("202", 3.0), ("200", 1.0), ("503", 2.0)] {
        assert_eq!(
            series(
                &scrape,
                &format!("wijkbrug_intake_duration_seconds_count{{code=\"{code}\"}}")
            ),
            Some(answered),
            "answered {code}"
        );
    }
    assert_eq!(app.running.state.in_flight.current(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_capped_routes_document_the_503_with_retry_after() {
    let app = spawn().await;
    let doc: Value = app.openapi().await;
    for (path, method) in [
        ("/v1/partners/{partner}/messages", "post"),
        ("/v1/referrals/{id}", "get"),
        ("/v1/consents", "post"),
        ("/v1/consents", "get"),
        ("/v1/consents/{id}/revoke", "post"),
        ("/v1/partners/{partner}/mailbox", "get"),
        ("/v1/partners/{partner}/mailbox/{item}/ack", "post"),
    ] {
        let answer = &doc["paths"][path][method]["responses"]["503"];
        let description = answer["description"].as_str().unwrap_or_default();
        assert!(
            description.contains("max_requests_in_flight"),
            "{method} {path}: {answer}"
        );
        assert!(
            answer["headers"]["Retry-After"].is_object(),
            "{method} {path}: {answer}"
        );
        assert!(
            answer["content"]["application/problem+json"].is_object(),
            "{method} {path}: {answer}"
        );
    }
    app.stop().await;
}
