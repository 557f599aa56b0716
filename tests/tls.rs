//! Transport security on loopback, with certificates made at test time: the gateway serving
//! HTTPS, partners bound to their client certificate (mTLS), deliveries over HTTPS to a partner
//! with its own CA (and a client certificate the gateway presents), token rotation, and the
//! configuration problems `check-config` reports.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::network::OPS_TOKEN;
use common::partner_server::{point_partner_at, PartnerServer};
use common::pki::{self, Ca, Issued};
use common::{rent_arrears_signal, TestApp};
use serde_json::Value;
use wijkbrug::audit::AuditAction;
use wijkbrug::auth::TokenHash;
use wijkbrug_adapters::model::{ReferralId, ReferralStatus};

/// Tiny backoff and a fast poll, so retries happen within a test.
const QUICK: &[(&str, &str)] = &[
    ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "10"),
    ("WIJKBRUG__DELIVERY__BACKOFF_MAX_SECS", "1"),
    ("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20"),
];

/// Writes the server certificate (and the partners' CA) under `<config>/tls/` and turns on
/// `[server.tls]` in default.toml.
fn serve_tls(config_dir: &Path, server: &Issued, client_ca: Option<&Ca>) {
    let dir = config_dir.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    server.write(&dir, "server");
    let mut section =
        "\n[server.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n".to_owned();
    if let Some(ca) = client_ca {
        ca.write(&dir, "partners-ca.pem");
        section.push_str("client_ca = \"tls/partners-ca.pem\"\n");
    }
    append(&config_dir.join("default.toml"), &section);
}

fn append(file: &Path, text: &str) {
    let mut s = std::fs::read_to_string(file).unwrap();
    s.push_str(text);
    std::fs::write(file, s).unwrap();
}

/// Replaces the line of a partner file that starts with `key` by `line` (keys before the first
/// table).
fn set_line(config_dir: &Path, partner: &str, key: &str, line: &str) {
    let file = config_dir.join(format!("partners/{partner}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut found = false;
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(key) {
                found = true;
                line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert!(found, "no {key} in {partner}");
    std::fs::write(file, changed.join("\n") + "\n").unwrap();
}

/// Binds a partner to client certificates: its token is only good with one of them.
fn bind_partner(config_dir: &Path, partner: &str, certs: &[&Issued]) {
    let file = config_dir.join(format!("partners/{partner}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let prints: Vec<String> = certs
        .iter()
        .map(|c| format!("\"{}\"", c.fingerprint()))
        .collect();
    // A top-level key: before the first table.
    let at = text.find("\n[").unwrap();
    let (head, tail) = text.split_at(at);
    let line = format!("\nclient_cert_sha256 = [{}]\n", prints.join(", "));
    std::fs::write(file, format!("{head}{line}{tail}")).unwrap();
}

fn signal() -> Vec<u8> {
    rent_arrears_signal()
}

/// `GET /v1/consents?resident=...` as `partner` with `client` (any route a partner's token
/// opens will do).
async fn consents(
    app: &TestApp,
    client: &reqwest::Client,
    token: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    client
        .get(format!("{}/v1/consents?resident=999900006", app.base))
        .bearer_auth(token)
        .send()
        .await
}

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

async fn post_signal(app: &TestApp, client: &reqwest::Client) -> ReferralId {
    let res = client
        .post(format!("{}/v1/partners/woonstad-noord/messages", app.base))
        .bearer_auth(app.token("woonstad-noord"))
        .header("content-type", "application/json")
        .body(signal())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"][0]["receiver"], "wijkteam-centrum");
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn with_server_tls_the_gateway_speaks_https_only_and_marks_the_session_cookie_secure() {
    let ca = Ca::new("Test CA");
    let server = ca.server();
    let app = TestApp::spawn_with(|d| serve_tls(d, &server, None), &[]).await;
    assert!(app.base.starts_with("https://"), "{}", app.base);
    let client = pki::client(&ca, None);

    let health = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // A partner without a certificate rule works over TLS with its token alone.
    post_signal(&app, &client).await;
    // Also by name, as the certificate is for localhost too.
    let by_name = client
        .get(format!(
            "https://localhost:{}/healthz",
            app.running.addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 200);

    // Connections that never start their handshake hold up nobody else (each handshake has a
    // task and a time limit of its own).
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(
            tokio::net::TcpStream::connect(app.running.addr)
                .await
                .unwrap(),
        );
    }
    let health = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    drop(silent);

    // A client that does not trust the gateway's CA does not get through the handshake.
    let stranger = pki::client(&Ca::new("Another CA"), None);
    let refused = stranger.get(format!("{}/healthz", app.base)).send().await;
    assert!(
        refused.is_err(),
        "an untrusted server certificate was accepted"
    );
    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", app.running.addr))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| r.status() != 200),
        "plain HTTP was served: {plain:?}"
    );

    // The dashboard's session cookie is Secure over TLS.
    let signed_in = client
        .post(format!("{}/ops/login", app.base))
        .form(&[("token", OPS_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn a_partner_bound_to_its_client_certificate_is_only_let_in_with_it() {
    let ca = Ca::new("Test CA");
    let server = ca.server();
    let partners_ca = Ca::new("Partners CA");
    let current = partners_ca.client("woonstad-noord");
    let next = partners_ca.client("woonstad-noord");
    let other_partner = partners_ca.client("wijkteam-centrum");
    let forged = Ca::new("Unknown CA").client("woonstad-noord");
    let app = TestApp::spawn_with(
        |d| {
            serve_tls(d, &server, Some(&partners_ca));
            // Two certificates during a change-over.
            bind_partner(d, "woonstad-noord", &[&current, &next]);
        },
        &[],
    )
    .await;
    let token = app.token("woonstad-noord").to_owned();

    // With its certificate (either of the two), its token works.
    let with_current = pki::client(&ca, Some(&current));
    post_signal(&app, &with_current).await;
    for cert in [&current, &next] {
        let res = consents(&app, &pki::client(&ca, Some(cert)), &token)
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    // Without a certificate, or with another partner's (valid, same CA): 403 naming the rule.
    for (client, presented) in [
        (pki::client(&ca, None), "presented none"),
        (
            pki::client(&ca, Some(&other_partner)),
            "presented another one",
        ),
    ] {
        let res = consents(&app, &client, &token).await.unwrap();
        assert_eq!(res.status(), 403);
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "problem+json"
        );
        let p: Value = res.json().await.unwrap();
        assert!(
            p["type"]
                .as_str()
                .unwrap()
                .ends_with("client-certificate-required"),
            "{p}"
        );
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains("client_cert_sha256"), "{detail}");
        assert!(detail.contains(presented), "{detail}");
        assert!(!detail.contains(&token), "{detail}");
    }

    // A certificate from a CA the gateway does not know fails the handshake.
    let from_unknown_ca = consents(&app, &pki::client(&ca, Some(&forged)), &token).await;
    match from_unknown_ca {
        Err(_) => {}
        Ok(r) => panic!(
            "a certificate of an unknown CA got an answer: {}",
            r.status()
        ),
    }

    // Partners without the rule, and staff, are not affected (no certificate needed).
    let no_cert = pki::client(&ca, None);
    let res = consents(&app, &no_cert, app.token("wijkteam-centrum"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let staff = no_cert
        .get(format!("{}/v1/audit/chain", app.base))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(staff.status(), 200);
    // A wrong token is still just 401, certificate or not.
    let res = consents(&app, &with_current, "wbt_not-a-token")
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // Each refusal is audited, with what was presented, never the token.
    let events = app
        .running
        .state
        .store
        .audit_events(0, 10_000)
        .await
        .unwrap();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::AccessRefused)
        .collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    for e in &refused {
        assert_eq!(e.partner.as_ref().unwrap().as_str(), "woonstad-noord");
        assert_eq!(e.detail["rule"], "client_certificate");
        assert!(e.detail.values().all(|v| !v.contains(&token)));
    }
    assert_eq!(refused[0].detail["presented"], "none");
    assert_eq!(refused[1].detail["presented"], other_partner.fingerprint());
    assert_eq!(
        wijkbrug::audit::verify(&events),
        Ok(events.len() as u64),
        "the chain holds"
    );
    app.stop().await;
}

/// A partner's HTTPS endpoint: its certificate from `ca`, and (with `clients`) client
/// certificates required from that CA.
async fn https_partner(dir: &Path, ca: &Ca, clients: Option<&Ca>) -> PartnerServer {
    let (cert, key) = ca.server().write(dir, "desk");
    let clients = clients.map(|c| c.write(dir, "desk-clients-ca.pem"));
    let tls = wijkbrug::tls::server_config(&cert, &key, clients.as_deref()).unwrap();
    PartnerServer::start_tls(&tls).await
}

/// Points wijkteam-centrum at `url` with `[delivery.tls]`: `ca` (the CA to trust) and the
/// gateway's client certificate, if any, written under `<config>/tls/`.
fn deliver_over_tls(config_dir: &Path, url: &str, ca: &Ca, client: Option<&Issued>) {
    point_partner_at(config_dir, "wijkteam-centrum", url);
    let dir = config_dir.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    ca.write(&dir, "wijkteam-ca.pem");
    let mut section = "\n[delivery.tls]\nca = \"tls/wijkteam-ca.pem\"\n".to_owned();
    if let Some(c) = client {
        c.write(&dir, "gateway-client");
        section.push_str(
            "client_cert = \"tls/gateway-client.pem\"\nclient_key = \"tls/gateway-client.key\"\n",
        );
    }
    append(&config_dir.join("partners/wijkteam-centrum.toml"), &section);
}

#[tokio::test]
async fn a_delivery_over_https_trusts_the_partners_ca_and_presents_the_gateways_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let desk_ca = Ca::new("Wijkteam CA");
    let gateway_ca = Ca::new("Gateway clients CA");
    let gateway_client = gateway_ca.client("wijkbrug");
    // The desk requires a client certificate from the gateway's CA.
    let desk = https_partner(certs.path(), &desk_ca, Some(&gateway_ca)).await;
    assert!(desk.url().starts_with("https://"));
    let url = desk.url();
    let app = TestApp::spawn_with(
        |d| deliver_over_tls(d, &url, &desk_ca, Some(&gateway_client)),
        QUICK,
    )
    .await;
    let id = post_signal(&app, &app.http).await;
    eventually("the referral is delivered over https", || async {
        status_of(&app, id).await == ReferralStatus::Delivered
    })
    .await;
    let got = desk.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].referral == id.to_string());
    app.stop().await;
}

#[tokio::test]
async fn a_partner_certificate_from_another_ca_fails_the_delivery_retries_and_dead_letters() {
    let certs = tempfile::tempdir().unwrap();
    let desk_ca = Ca::new("Wijkteam CA");
    let desk = https_partner(certs.path(), &desk_ca, None).await;
    let url = desk.url();
    let configured = Ca::new("Not the wijkteam's CA");
    let mut env = QUICK.to_vec();
    env.push(("WIJKBRUG__DELIVERY__MAX_AGE_SECS", "2"));
    // The circuit must not hold the retries back past max_age in this short test.
    env.push(("WIJKBRUG__DELIVERY__CIRCUIT_FAILURE_THRESHOLD", "1000"));
    let app = TestApp::spawn_with(|d| deliver_over_tls(d, &url, &configured, None), &env).await;
    let id = post_signal(&app, &app.http).await;

    eventually("the referral is undeliverable", || async {
        status_of(&app, id).await == ReferralStatus::Undeliverable
    })
    .await;
    assert!(desk.received().is_empty(), "nothing got through");
    // The worker counts the dead letter after the store's answer, so a read of the status can
    // come first.
    eventually("the worker counted the dead letter", || async {
        app.running
            .delivery_stats()
            .partner("wijkteam-centrum")
            .dead
            == 1
    })
    .await;
    let stats = app.running.delivery_stats().partner("wijkteam-centrum");
    assert!(stats.retried >= 1, "retried before giving up: {stats:?}");
    assert_eq!(stats.dead, 1);
    let dead = app
        .running
        .state
        .store
        .dead_letters(None, 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].attempts >= 2, "{:?}", dead[0].attempts);
    // Operations see why, in words, without anything from the referral.
    let why = &dead[0].last_error;
    assert!(why.contains("TLS"), "{why}");
    assert!(why.contains("not signed by a trusted CA"), "{why}");
    assert!(why.contains("delivery.tls.ca"), "{why}");
    for word in common::PERSONAL {
        assert!(!why.contains(word), "{why}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_token_works_beside_the_old_one_until_the_old_is_removed_and_the_gateway_restarted(
) {
    let old = "wbt_rotation-test-old-token-0000000000000000000000";
    let new = "wbt_rotation-test-new-token-1111111111111111111111";
    let hashes = |tokens: &[&str]| {
        let quoted: Vec<String> = tokens
            .iter()
            .map(|t| format!("\"{}\"", TokenHash::of(t)))
            .collect();
        format!("token_hashes = [{}]", quoted.join(", "))
    };
    let both = hashes(&[old, new]);
    let app = TestApp::spawn_with(
        |d| set_line(d, "woonstad-noord", "token_hashes", &both),
        &[],
    )
    .await;
    // During the change-over both are valid.
    for token in [old, new] {
        let res = consents(&app, &app.http, token).await.unwrap();
        assert_eq!(res.status(), 200, "{token}");
    }

    // The old one is removed from the configuration; after a restart it is refused.
    set_line(
        &app.config_dir,
        "woonstad-noord",
        "token_hashes",
        &hashes(&[new]),
    );
    let app = app.restart().await;
    let res = consents(&app, &app.http, old).await.unwrap();
    assert_eq!(res.status(), 401);
    let res = consents(&app, &app.http, new).await.unwrap();
    assert_eq!(res.status(), 200);
    app.stop().await;
}

fn problems_of(dir: &Path) -> Vec<(String, String)> {
    let problems = wijkbrug::config::load_with_env(dir, Vec::<(String, String)>::new())
        .expect_err("the configuration has problems");
    problems.into_iter().map(|p| (p.key, p.problem)).collect()
}

#[test]
fn unusable_tls_settings_are_reported_by_their_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("config");
    common::copy_config_to(&dir);
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    std::fs::write(dir.join("tls/not-a-cert.pem"), "not a certificate").unwrap();
    append(
        &dir.join("default.toml"),
        "\n[server.tls]\ncert = \"tls/not-a-cert.pem\"\n",
    );
    set_line(
        &dir,
        "woonstad-noord",
        "token_hashes",
        &format!(
            "{}\nclient_cert_sha256 = [\"sha256:abc\"]",
            std::fs::read_to_string(dir.join("partners/woonstad-noord.toml"))
                .unwrap()
                .lines()
                .find(|l| l.starts_with("token_hashes"))
                .unwrap()
        ),
    );
    append(
        &dir.join("partners/wijkteam-centrum.toml"),
        "\n[delivery.tls]\nca = \"tls/missing.pem\"\n",
    );
    let found = problems_of(&dir);
    let has = |key: &str, words: &str| {
        assert!(
            found.iter().any(|(k, p)| k == key && p.contains(words)),
            "no {key}: {words} in {found:#?}"
        )
    };
    has("server.tls.key", "is needed to serve TLS");
    has("client_cert_sha256[0]", "64 hex digits");
    // The demo's partners use http://, so the CA bundle is refused before it is read.
    has("delivery.tls", "https:// URL only");

    // With a key, the certificate file itself is read and refused; a partner bound to a client
    // certificate needs a gateway that asks for one.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("config");
    common::copy_config_to(&dir);
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    std::fs::write(dir.join("tls/not-a-cert.pem"), "not a certificate").unwrap();
    let ca = Ca::new("Test CA");
    ca.server().write(&dir.join("tls"), "server");
    append(
        &dir.join("default.toml"),
        "\n[server.tls]\ncert = \"tls/not-a-cert.pem\"\nkey = \"tls/server.key\"\nclient_ca = \"tls/nowhere.pem\"\n",
    );
    let found = problems_of(&dir);
    let has = |key: &str, words: &str| {
        assert!(
            found.iter().any(|(k, p)| k == key && p.contains(words)),
            "no {key}: {words} in {found:#?}"
        )
    };
    has("server.tls.cert", "holds no certificate");
    has("server.tls.client_ca", "cannot read");

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("config");
    common::copy_config_to(&dir);
    std::fs::create_dir_all(dir.join("tls")).unwrap();
    ca.server().write(&dir.join("tls"), "server");
    append(
        &dir.join("default.toml"),
        "\n[server.tls]\ncert = \"tls/server.pem\"\nkey = \"tls/server.key\"\n",
    );
    bind_partner(&dir, "woonstad-noord", &[&ca.client("woonstad-noord")]);
    let found = problems_of(&dir);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, "client_cert_sha256");
    assert!(found[0].1.contains("client_ca"), "{found:#?}");
}
