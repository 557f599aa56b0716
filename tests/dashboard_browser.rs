//! The operations dashboard in a real headless Chromium, driven through chromedriver
//! (WebDriver, the fantoccini crate): the demo network on loopback with real partner servers,
//! some referrals in each outcome, then a person's walk through the pages: sign in, the
//! overview's figures against the API (and their live refresh), a referral's timeline, a dead
//! letter retried through its confirmation page until the referral is delivered, sign out.
//! Every page's HTML is checked for the test residents' data, and screenshots of the main
//! pages are saved under target/screenshots/.
//!
//! Needs the Debian packages chromium and chromium-driver (`.ci/run` installs them); the
//! test installs nothing itself and fails, saying so, when they are missing.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::network::{wait_for_status, Network, ADMIN_TOKEN, OPS_TOKEN, WAIT};
use common::ops_pages::assert_no_personal_data;
use common::partner_server::Reply;
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use wijkbrug_adapters::model::{ReferralId, ReferralStatus, Sector, Target};
use wijkbrug_adapters::Format;

/// chromedriver on a free loopback port, stopped (by its own process id) when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

async fn start_driver() -> Driver {
    let program = find_program("chromedriver").expect(
        "chromedriver is not installed: install the Debian packages chromium and \
         chromium-driver (.ci/run does)",
    );
    assert!(
        find_program("chromium").is_some(),
        "chromium is not installed: install the Debian packages chromium and chromium-driver"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    let deadline = Instant::now() + WAIT;
    let http = reqwest::Client::new();
    loop {
        if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await {
            if r.status().is_success() {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = json!({
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--window-size=1360,900",
            "--lang=en-GB",
        ]
    });
    if let Some(chromium) = find_program("chromium") {
        options["binary"] = json!(chromium.display().to_string());
    }
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves the whole page as `name.png` (the window grown to the page's height).
async fn screenshot(c: &Client, name: &str) {
    let sizes = c
        .execute(
            "return [Math.ceil(document.documentElement.scrollHeight), \
             window.outerHeight - window.innerHeight];",
            vec![],
        )
        .await
        .unwrap();
    let page = sizes[0].as_u64().unwrap_or(900);
    let chrome = sizes[1].as_u64().unwrap_or(0);
    let height = u32::try_from(page + chrome).unwrap_or(900).clamp(700, 5000);
    c.set_window_size(1360, height).await.unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(screenshots_dir().join(format!("{name}.png")), png).unwrap();
    c.set_window_size(1360, 900).await.unwrap();
}

/// The page's HTML, checked for the test residents' data.
async fn checked_source(c: &Client, what: &str) -> String {
    let html = c.source().await.unwrap();
    assert_no_personal_data(what, &html);
    html
}

/// The text of the element `css` selects. The overview swaps its figures in every few seconds,
/// so an element found may be replaced before its text is read: then it is found again.
async fn text(c: &Client, css: &str) -> String {
    let mut tries = 0;
    loop {
        let found = c.find(Locator::Css(css)).await.unwrap();
        match found.text().await {
            Ok(t) => return t,
            Err(e) if tries < 20 => {
                tries += 1;
                eprintln!("{css}: read again after {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{css}: {e}"),
        }
    }
}

/// The number shown in the first numeric cell of the row `css`.
async fn figure(c: &Client, css: &str) -> u64 {
    let cell = text(c, &format!("{css} td.num")).await;
    cell.replace(',', "")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{css}: {cell:?}"))
}

async fn sign_in(c: &Client, base: &str, token: &str) {
    c.goto(&format!("{base}/ops/login")).await.unwrap();
    let field = c.find(Locator::Css("#token")).await.unwrap();
    field.send_keys(token).await.unwrap();
    c.find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the overview after sign-in", || async {
        c.current_url().await.unwrap().path() == "/ops/"
    })
    .await;
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(reference: &str, bsn: &str) -> String {
    let mut v: Value = serde_json::from_slice(
        &std::fs::read(root().join("adapters/tests/fixtures/housing/accept/signal-single.json"))
            .unwrap(),
    )
    .unwrap();
    v["ID"] = reference.into();
    v["client"]["Burgerservicenummer"] = bsn.into();
    v.to_string()
}

async fn accepted_id(res: reqwest::Response) -> ReferralId {
    let v: Value = res.json().await.unwrap();
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap())
        .unwrap_or_else(|_| panic!("{v}"))
}

/// Referrals in each outcome: one dead letter (the welfare team answers 400 once), two
/// delivered to the welfare team, one delivered to district nursing, one without consent.
/// Returns (referral, sender) pairs and the dead letter's referral.
async fn traffic(n: &Network) -> (Vec<(ReferralId, &'static str)>, ReferralId) {
    n.wijkteam.script([Reply::Status(400)]);
    let dead = accepted_id(
        n.app
            .post_message(
                "woonstad-noord",
                "application/json",
                signal("SIG-WEB-1", "999900006"),
            )
            .await,
    )
    .await;
    wait_for_status(&n.app, dead, ReferralStatus::Undeliverable).await;
    let mut sent = vec![(dead, "woonstad-noord")];
    for r in ["SIG-WEB-2", "SIG-WEB-3"] {
        let id = accepted_id(
            n.app
                .post_message("woonstad-noord", "application/json", signal(r, "999900006"))
                .await,
        )
        .await;
        sent.push((id, "woonstad-noord"));
    }
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-WEB-1",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    let gp = accepted_id(
        n.app
            .post_message("huisarts-de-linde", "application/fhir+json", fhir)
            .await,
    )
    .await;
    sent.push((gp, "huisarts-de-linde"));
    let refused = n
        .app
        .post_message(
            "woonstad-noord",
            "application/json",
            signal("SIG-WEB-4", "999900043"),
        )
        .await;
    let v: Value = refused.json().await.unwrap();
    let no_consent = ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap())
        .unwrap_or_else(|_| panic!("{v}"));
    assert_eq!(v["accepted"][0]["status"], "consent_missing", "{v}");
    sent.push((no_consent, "woonstad-noord"));
    for (id, _) in &sent[1..4] {
        wait_for_status(&n.app, *id, ReferralStatus::Delivered).await;
    }
    (sent, dead)
}

/// Each referral's status as its sender reads it through the API.
async fn statuses_from_the_api(n: &Network, sent: &[(ReferralId, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (id, sender) in sent {
        let v: Value = n
            .app
            .get_referral(sender, &id.to_string())
            .await
            .json()
            .await
            .unwrap();
        out.push(v["status"].as_str().unwrap().to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_staff_use_the_dashboard_in_a_real_browser() {
    let driver = start_driver().await;
    let n = common::network::start(&[]).await;
    let base = n.app.base.clone();
    let (sent, dead) = traffic(&n).await;
    let c = browser(&driver).await;

    // The sign-in page.
    c.goto(&format!("{base}/ops/")).await.unwrap();
    wait_until("the sign-in page", || async {
        c.current_url().await.unwrap().path() == "/ops/login"
    })
    .await;
    checked_source(&c, "the sign-in page").await;
    screenshot(&c, "login").await;

    // Operations staff: the overview's figures are the API's.
    sign_in(&c, &base, OPS_TOKEN).await;
    let statuses = statuses_from_the_api(&n, &sent).await;
    for status in ReferralStatus::ALL {
        let want = statuses.iter().filter(|s| *s == status.code()).count() as u64;
        let got = figure(&c, &format!("tr[data-status=\"{}\"]", status.code())).await;
        assert_eq!(got, want, "{status} on the overview");
    }
    let api_dead: Value = n
        .app
        .http
        .get(format!("{base}/v1/ops/dead-letters"))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_dead = api_dead["items"].as_array().unwrap().len() as u64;
    assert_eq!(api_dead, 1);
    let shown: u64 = text(&c, "[data-card=\"dead-letters\"] .card-value")
        .await
        .trim()
        .parse()
        .unwrap();
    assert_eq!(shown, api_dead);
    let wijkteam_dead = text(
        &c,
        "tr[data-partner=\"wijkteam-centrum\"] td[data-figure=\"dead\"]",
    )
    .await;
    assert_eq!(wijkteam_dead.trim(), "1");
    assert!(text(&c, "[data-chain]").await.contains("Intact"));
    // The script refreshes the figures: a new referral shows without reloading.
    wait_until("the live refresh to start", || async {
        text(&c, "#live-status").await.starts_with("Live")
    })
    .await;
    let before = figure(&c, "tr[data-status=\"consent_missing\"]").await;
    let late = n
        .app
        .post_message(
            "woonstad-noord",
            "application/json",
            signal("SIG-WEB-5", "999900043"),
        )
        .await;
    assert!(late.status().is_success());
    wait_until("the overview to show the new referral", || async {
        figure(&c, "tr[data-status=\"consent_missing\"]").await == before + 1
    })
    .await;
    assert!(text(&c, "#live-status").await.contains("updated"));
    checked_source(&c, "the overview").await;
    screenshot(&c, "overview").await;

    // The referral list, and a referral's timeline from it.
    c.find(Locator::LinkText("Referrals"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the referral list", || async {
        c.current_url().await.unwrap().path() == "/ops/referrals"
    })
    .await;
    let rows = c.find_all(Locator::Css("tr[data-referral]")).await.unwrap();
    assert_eq!(rows.len(), sent.len() + 1);
    checked_source(&c, "the referral list").await;
    screenshot(&c, "referrals").await;
    c.find(Locator::Css(&format!("a[href=\"/ops/referrals/{dead}\"]")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the timeline", || async {
        c.current_url().await.unwrap().path() == format!("/ops/referrals/{dead}")
    })
    .await;
    assert_eq!(text(&c, "#referral-id").await, dead.to_string());
    assert_eq!(text(&c, "#status").await, "Undeliverable");
    let steps = c.find_all(Locator::Css("#history li")).await.unwrap();
    assert_eq!(steps.len(), 3, "received, routed, undeliverable");
    let outbox = text(&c, "#outbox").await;
    assert!(
        outbox.contains("dead") && outbox.contains("HTTP 400"),
        "{outbox}"
    );
    checked_source(&c, "a timeline").await;
    screenshot(&c, "timeline").await;

    // Operations staff see the dead letter but cannot act on it.
    c.goto(&format!("{base}/ops/dead-letters")).await.unwrap();
    assert!(c
        .find_all(Locator::LinkText("Retry…"))
        .await
        .unwrap()
        .is_empty());
    c.find(Locator::Css(".account button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the sign-in page after signing out", || async {
        c.current_url().await.unwrap().path() == "/ops/login"
    })
    .await;

    // The administrator retries it through the confirmation page; it is delivered.
    sign_in(&c, &base, ADMIN_TOKEN).await;
    c.goto(&format!("{base}/ops/dead-letters")).await.unwrap();
    checked_source(&c, "the dead-letter list").await;
    screenshot(&c, "dead-letters").await;
    c.find(Locator::LinkText("Retry…"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the confirmation page", || async {
        c.current_url().await.unwrap().path().ends_with("/retry")
    })
    .await;
    checked_source(&c, "the confirmation page").await;
    screenshot(&c, "retry-confirmation").await;
    c.find(Locator::Css("#confirm"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Css("form button[type=submit].primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the dead-letter list after the retry", || async {
        c.current_url().await.unwrap().path() == "/ops/dead-letters"
    })
    .await;
    assert!(text(&c, ".alert-good").await.contains("queued again"));
    wait_for_status(&n.app, dead, ReferralStatus::Delivered).await;
    c.goto(&format!("{base}/ops/referrals/{dead}"))
        .await
        .unwrap();
    assert_eq!(text(&c, "#status").await, "Delivered");
    let history = text(&c, "#history").await;
    assert!(history.contains("operator demo-admin"), "{history}");
    checked_source(&c, "the delivered referral's timeline").await;
    screenshot(&c, "timeline-after-retry").await;
    c.goto(&format!("{base}/ops/dead-letters")).await.unwrap();
    assert!(c.find(Locator::Css("#no-dead-letters")).await.is_ok());
    c.goto(&format!("{base}/ops/")).await.unwrap();
    checked_source(&c, "the overview after the retry").await;
    // The flow pictures: two inline SVG charts.
    c.goto(&format!("{base}/ops/flows")).await.unwrap();
    assert!(
        c.find(Locator::Css("svg#flows")).await.is_ok()
            || c.find(Locator::Css("figure.chart svg")).await.is_ok()
    );
    checked_source(&c, "the flows page").await;
    screenshot(&c, "flows").await;

    c.close().await.unwrap();
    n.app.stop().await;
}
