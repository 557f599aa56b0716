//! The operations dashboard in a real headless Chromium, driven through chromedriver
//! (WebDriver, the fantoccini crate), watching the real `wijkbrug demo` binary at work: the
//! demo runs (port 0, a fresh data directory, a scripted rate) while operations staff sign in,
//! compare the overview's figures with the API's, watch them refresh, open a referral's
//! timeline, see the dead letters without being able to act on them and sign out; then the
//! administrator retries a dead letter (district nursing's planning system refused the
//! referral: 422) through its confirmation page and sees it delivered. Every page's HTML is
//! checked for every demo resident's BSN, names, street and postcode and for the senders'
//! notes, and screenshots of the main pages are saved under target/screenshots/ (`demo-*.png`).
//! Ctrl-C then stops the demo cleanly.
//!
//! The demo keeps running during the walk, so the figures are compared in a way that holds
//! while they change: the API is read just before and just after the page, and figures that
//! only grow must lie between the two readings. No timing assertions: every wait is bounded.
//!
//! Needs the Debian packages chromium and chromium-driver (`.ci/run` installs them); the
//! test installs nothing itself and fails, saying so, when they are missing.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::demo_process::DemoProcess;
use common::network::WAIT;
use common::ops_pages::{
    assert_no_demo_personal_data, assert_no_personal_data, demo_personal_data,
};
use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use wijkbrug::demo::manifest::Manifest;

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

/// The page's HTML, checked for the demo residents' data (`words`, [`demo_personal_data`])
/// and the other tests' residents.
async fn checked_source(c: &Client, what: &str, words: &[String]) -> String {
    let html = c.source().await.unwrap();
    assert_no_demo_personal_data(what, &html, words);
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
    wait_until("the overview after sign-in", WAIT, || async {
        c.current_url().await.unwrap().path() == "/ops/"
    })
    .await;
}

/// Waits (bounded by `limit`) until `check` holds.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "waited in vain for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Referrals by status as `/metrics` counts them (summed over the receivers' sectors).
async fn api_counts(http: &reqwest::Client, base: &str) -> HashMap<String, u64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut counts = HashMap::new();
    for line in text.lines() {
        let Some(labels) = line.strip_prefix("wijkbrug_referrals{") else {
            continue;
        };
        let (labels, value) = labels.split_once("} ").unwrap();
        let status = labels
            .split(',')
            .find_map(|l| l.strip_prefix("status=\""))
            .and_then(|l| l.strip_suffix('"'))
            .unwrap();
        *counts.entry(status.to_owned()).or_default() += value.trim().parse::<u64>().unwrap();
    }
    assert!(!counts.is_empty(), "no referral counts in /metrics");
    counts
}

/// The dead letters the API lists (newest first, up to 200).
async fn api_dead_letters(http: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
    let v: Value = http
        .get(format!("{base}/v1/ops/dead-letters?limit=200"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["items"].as_array().unwrap().clone()
}

/// A referral as its receiver reads it through the API.
async fn api_referral(http: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    let res = http
        .get(format!("{base}/v1/referrals/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{id}");
    res.json().await.unwrap()
}

/// The number in the HTML after `marker`, then after `opening` (the tag that holds it, or
/// holds the tag that holds it), its thousands separators left out.
fn number_after(html: &str, marker: &str, opening: &str) -> u64 {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not on the page"));
    let rest = &html[at..];
    let start = rest
        .find(opening)
        .unwrap_or_else(|| panic!("{marker}: no {opening}"))
        + opening.len();
    let rest = &rest[start..];
    let mut digits = String::new();
    let mut in_tag = false;
    for ch in rest.chars() {
        match ch {
            '<' if !digits.is_empty() => break,
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if in_tag => {}
            c if c.is_ascii_digit() => digits.push(c),
            ',' if !digits.is_empty() => {}
            c if c.is_whitespace() && digits.is_empty() => {}
            _ => break,
        }
    }
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{marker}: no number after {opening}"))
}

/// Statuses no referral leaves once it has them (while nobody retries a dead letter).
const ONLY_GROWING: [&str; 5] = [
    "completed",
    "declined",
    "cancelled",
    "consent_missing",
    "undeliverable",
];

/// The steps of a timeline's history in order: the status and its reason code, if any.
async fn timeline_steps(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for li in c
        .find_all(Locator::Css("#history li .step-title"))
        .await
        .unwrap()
    {
        out.push(li.text().await.unwrap());
    }
    out
}

/// How the dashboard labels an API status code (`in_progress` → `In progress`).
fn label(code: &str) -> String {
    let words = code.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|f| f.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_staff_watch_the_running_demo_in_a_real_browser() {
    let driver = start_driver().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo-data");
    // Long enough for the walk: the test stops it with Ctrl-C when done.
    let mut demo = DemoProcess::start(&["demo", "--rate", "10", "--duration", "300s"], &data_dir);
    let base = demo.base.clone();
    let manifest: Manifest =
        toml::from_str(&std::fs::read_to_string(data_dir.join("demo-partners.toml")).unwrap())
            .unwrap();
    let ops_token = manifest.staff["demo-operations"].token.clone();
    let admin_token = manifest.staff["demo-admin"].token.clone();
    let nursing_token = manifest
        .partner
        .iter()
        .find(|p| p.id == "thuiszorg-oost")
        .unwrap()
        .token
        .clone();
    let words = demo_personal_data();
    let http = reqwest::Client::new();
    let c = browser(&driver).await;

    // The sign-in page.
    c.goto(&format!("{base}/ops/")).await.unwrap();
    wait_until("the sign-in page", WAIT, || async {
        c.current_url().await.unwrap().path() == "/ops/login"
    })
    .await;
    checked_source(&c, "the sign-in page", &words).await;
    screenshot(&c, "demo-login").await;

    // District nursing's planning system refuses a share of referrals (422): wait for one of
    // those dead letters, and for referrals that went all the way.
    let deadline = Instant::now() + Duration::from_secs(120);
    let dead = loop {
        let refused = api_dead_letters(&http, &base, &admin_token)
            .await
            .into_iter()
            .find(|d| {
                d["recipient"] == "thuiszorg-oost"
                    && d["kind"] == "referral"
                    && d["last_error"].as_str().unwrap_or_default().contains("422")
            });
        let completed = api_counts(&http, &base).await["completed"];
        if let (Some(d), true) = (refused, completed > 0) {
            break d;
        }
        assert!(
            Instant::now() < deadline && demo.running(),
            "waited in vain for a refused referral and a completed one"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let dead_row = dead["id"].as_i64().unwrap();
    let dead_referral = dead["referral_id"].as_str().unwrap().to_owned();

    // Operations staff: the overview's figures lie between the API's just before and just
    // after the page was read; the page's own figures add up.
    sign_in(&c, &base, &ops_token).await;
    let before = api_counts(&http, &base).await;
    let dead_before = api_dead_letters(&http, &base, &ops_token).await.len() as u64;
    c.goto(&format!("{base}/ops/")).await.unwrap();
    let html = checked_source(&c, "the overview", &words).await;
    let dead_after = api_dead_letters(&http, &base, &ops_token).await.len() as u64;
    let after = api_counts(&http, &base).await;
    let mut shown = HashMap::new();
    for status in after.keys() {
        let marker = format!("data-status=\"{status}\"");
        shown.insert(
            status.clone(),
            number_after(&html, &marker, "<td class=\"num\">"),
        );
    }
    let page_total = number_after(&html, "id=\"by-status-title\"", "<p class=\"panel-note\">");
    assert_eq!(
        page_total,
        shown.values().sum::<u64>(),
        "the page's rows add up"
    );
    let total = |m: &HashMap<String, u64>| m.values().sum::<u64>();
    assert!(
        total(&before) <= page_total && page_total <= total(&after),
        "{page_total} referrals on the page, {} to {} by the API",
        total(&before),
        total(&after)
    );
    for status in ONLY_GROWING {
        let (low, high) = (before[status], after[status]);
        assert!(
            low <= shown[status] && shown[status] <= high,
            "{status}: {} on the page, {low} to {high} by the API",
            shown[status]
        );
    }
    assert!(shown["completed"] > 0 && shown["undeliverable"] > 0);
    let in_flight = ["received", "routed", "delivered"]
        .iter()
        .map(|s| shown[*s])
        .sum::<u64>();
    assert_eq!(
        number_after(&html, "data-card=\"in-flight\"", "<p class=\"card-value\">"),
        in_flight
    );
    let dead_shown = number_after(
        &html,
        "data-card=\"dead-letters\"",
        "<a href=\"/ops/dead-letters\">",
    );
    assert!(
        dead_before <= dead_shown && dead_shown <= dead_after && dead_shown > 0,
        "{dead_shown} dead letters on the page, {dead_before} to {dead_after} by the API"
    );
    assert!(text(&c, "[data-chain]").await.contains("Intact"));
    // The script refreshes the figures without a reload.
    let first = text(&c, "#live p.updated").await;
    wait_until("the figures to refresh", WAIT, || async {
        text(&c, "#live-status").await.contains("updated")
            && text(&c, "#live p.updated").await != first
    })
    .await;
    checked_source(&c, "the refreshed overview", &words).await;
    screenshot(&c, "demo-overview").await;

    // From the overview's undeliverable row to the list, and the refused referral's timeline
    // from there: its history is the one the API gives its receiver.
    c.find(Locator::Css("tr[data-status=\"undeliverable\"] th a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the referral list", WAIT, || async {
        c.current_url().await.unwrap().path() == "/ops/referrals"
    })
    .await;
    let rows = c.find_all(Locator::Css("tr[data-referral]")).await.unwrap();
    assert!(!rows.is_empty());
    checked_source(&c, "the undeliverable referrals", &words).await;
    c.find(Locator::Css(&format!(
        "a[href=\"/ops/referrals/{dead_referral}\"]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_until("the timeline", WAIT, || async {
        c.current_url().await.unwrap().path() == format!("/ops/referrals/{dead_referral}")
    })
    .await;
    assert_eq!(text(&c, "#referral-id").await, dead_referral);
    assert_eq!(text(&c, "#status").await, "Undeliverable");
    let api = api_referral(&http, &base, &nursing_token, &dead_referral).await;
    assert_eq!(api["status"], "undeliverable");
    let api_steps: Vec<String> = api["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| match h["reason_code"].as_str() {
            Some(code) => format!("{} {code}", label(h["status"].as_str().unwrap())),
            None => label(h["status"].as_str().unwrap()),
        })
        .collect();
    assert_eq!(timeline_steps(&c).await, api_steps);
    let outbox = text(&c, "#outbox").await;
    assert!(
        outbox.contains("dead") && outbox.contains("HTTP 422"),
        "{outbox}"
    );
    checked_source(&c, "a timeline", &words).await;
    screenshot(&c, "demo-timeline").await;

    // The whole referral list, and the next page of it.
    c.goto(&format!("{base}/ops/referrals")).await.unwrap();
    assert!(!c
        .find_all(Locator::Css("tr[data-referral]"))
        .await
        .unwrap()
        .is_empty());
    checked_source(&c, "the referral list", &words).await;
    screenshot(&c, "demo-referrals").await;
    if let Ok(next) = c.find(Locator::Css("a[rel=next]")).await {
        next.click().await.unwrap();
        wait_until("the next page of referrals", WAIT, || async {
            c.current_url()
                .await
                .unwrap()
                .query()
                .is_some_and(|q| q.contains("before"))
        })
        .await;
        checked_source(&c, "the referral list's second page", &words).await;
    }

    // Operations staff see the dead letters but cannot act on them; they sign out.
    c.goto(&format!("{base}/ops/dead-letters")).await.unwrap();
    assert!(c
        .find(Locator::Css(&format!(
            "tr[data-dead-letter=\"{dead_row}\"]"
        )))
        .await
        .is_ok());
    assert!(c
        .find_all(Locator::LinkText("Retry…"))
        .await
        .unwrap()
        .is_empty());
    checked_source(&c, "the dead-letter list (operations)", &words).await;
    c.find(Locator::Css(".account button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the sign-in page after signing out", WAIT, || async {
        c.current_url().await.unwrap().path() == "/ops/login"
    })
    .await;

    // The administrator retries the refused referral through the confirmation page.
    sign_in(&c, &base, &admin_token).await;
    c.goto(&format!("{base}/ops/dead-letters")).await.unwrap();
    checked_source(&c, "the dead-letter list", &words).await;
    screenshot(&c, "demo-dead-letters").await;
    c.find(Locator::Css(&format!(
        "a[href=\"/ops/dead-letters/{dead_row}/retry\"]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_until("the confirmation page", WAIT, || async {
        c.current_url().await.unwrap().path() == format!("/ops/dead-letters/{dead_row}/retry")
    })
    .await;
    checked_source(&c, "the confirmation page", &words).await;
    screenshot(&c, "demo-retry-confirmation").await;
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
    wait_until("the dead-letter list after the retry", WAIT, || async {
        c.current_url().await.unwrap().path() == "/ops/dead-letters"
    })
    .await;
    assert!(text(&c, ".alert-good").await.contains("queued again"));
    assert!(c
        .find_all(Locator::Css(&format!(
            "tr[data-dead-letter=\"{dead_row}\"]"
        )))
        .await
        .unwrap()
        .is_empty());

    // District nursing takes it this time (after its outage and the circuit's cool-down at
    // worst): the API and the timeline show it delivered after the operator's retry.
    wait_until(
        "the retried referral to be delivered",
        Duration::from_secs(120),
        || async {
            let v = api_referral(&http, &base, &nursing_token, &dead_referral).await;
            let history = v["history"].as_array().unwrap().clone();
            let retried = history.iter().position(|h| {
                h["by"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("operator:")
            });
            retried.is_some_and(|i| history[i..].iter().any(|h| h["status"] == "delivered"))
        },
    )
    .await;
    c.goto(&format!("{base}/ops/referrals/{dead_referral}"))
        .await
        .unwrap();
    let mut history = Vec::new();
    for li in c.find_all(Locator::Css("#history li")).await.unwrap() {
        history.push(li.text().await.unwrap());
    }
    let retried = history
        .iter()
        .position(|step| step.contains("by operator demo-admin"))
        .unwrap_or_else(|| panic!("no step by the operator: {history:?}"));
    assert!(
        history[retried + 1..]
            .iter()
            .any(|step| step.starts_with("Delivered")),
        "{history:?}"
    );
    let outbox = text(&c, "#outbox").await;
    assert!(outbox.contains("delivered"), "{outbox}");
    checked_source(&c, "the delivered referral's timeline", &words).await;
    screenshot(&c, "demo-timeline-after-retry").await;

    // The flow pictures: inline SVG charts.
    c.goto(&format!("{base}/ops/flows")).await.unwrap();
    assert!(
        c.find(Locator::Css("figure.chart svg")).await.is_ok()
            || c.find(Locator::Css("svg#flows")).await.is_ok()
    );
    checked_source(&c, "the flows page", &words).await;
    screenshot(&c, "demo-flows").await;
    c.close().await.unwrap();

    // Ctrl-C: the demo stops cleanly, with its summary.
    demo.interrupt();
    let status = demo.wait();
    assert!(status.success(), "{status}");
    assert!(
        demo.stdout().contains("demo stopped after"),
        "{}",
        demo.stdout()
    );
}
