//! The learning report (`wijkbrug report`): real referrals through the gateway and the partner
//! systems on loopback, then the real binary on the test's store. Checks the numbers in the
//! CSV files against what was sent, that small cells are withheld (a period of three
//! residents shows no number of residents at all; later, a flow of one resident is withheld
//! together with its complement), that no test resident's data is in any file, and that the
//! HTML parses.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::network::{wait_for_status, Network};
use common::*;
use serde_json::Value;
use wijkbrug_adapters::adapter::OutgoingStatus;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, Format};

/// The report period around today (UTC), wide enough that a run across midnight stays in it.
fn period() -> (String, String) {
    let today = chrono::Utc::now().date_naive();
    let day = chrono::Days::new(1);
    ((today - day).to_string(), (today + day + day).to_string())
}

/// Runs `wijkbrug report` on the network's store into `out`.
fn report(n: &Network, out: &Path, from: &str, to: &str) -> assert_cmd::assert::Assert {
    Command::cargo_bin("wijkbrug")
        .unwrap()
        .args(["report", "--from", from, "--to", to, "--out"])
        .arg(out)
        .arg("--config")
        .arg(&n.app.config_dir)
        .envs(n.app.store_env())
        .assert()
}

/// The CSV file `name` in `dir` as rows of fields (header included).
fn csv(dir: &Path, name: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
        .lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

/// The rows of a CSV file keyed by their first `key` fields, the rest as values.
fn rows(dir: &Path, name: &str, key: usize) -> HashMap<Vec<String>, Vec<String>> {
    let all = csv(dir, name);
    all[1..]
        .iter()
        .map(|r| (r[..key].to_vec(), r[key..].to_vec()))
        .collect()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every file the report wrote, with its text.
fn files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

/// Checks the HTML is well-formed enough to parse as XML (the page is written as XHTML-clean
/// HTML, so a strict parser reads it all), and returns its text content.
fn parse_html(html: &str) -> String {
    use quick_xml::events::Event;
    let body = html
        .strip_prefix("<!DOCTYPE html>\n")
        .expect("the page starts with a doctype");
    let mut reader = quick_xml::Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let (mut depth, mut text, mut elements) = (0i32, String::new(), 0);
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                elements += 1;
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::Text(t)) => {
                text.push_str(&t.unescape().unwrap());
                text.push(' ');
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("the report's HTML does not parse: {e}"),
        }
    }
    assert_eq!(depth, 0, "unclosed elements");
    assert!(elements > 50);
    text
}

/// No test resident's data in any file.
fn assert_no_personal_data(dir: &Path, bsns: &[String]) {
    for (path, text) in files(dir) {
        for word in PERSONAL
            .iter()
            .copied()
            .chain(bsns.iter().map(String::as_str))
        {
            assert!(!text.contains(word), "{} holds {word:?}", path.display());
        }
        for word in ["Anna", "Utrecht", "1234AB", "Huurachterstand"] {
            assert!(!text.contains(word), "{} holds {word:?}", path.display());
        }
    }
}

/// `n` test BSNs (9999…, 11-proef) other than the demo residents'.
fn test_bsns(n: usize) -> Vec<String> {
    (999_900_050u32..999_999_999)
        .map(|v| v.to_string())
        .filter(|s| Bsn::parse(s).is_ok())
        .take(n)
        .collect()
}

async fn referral_id(res: reqwest::Response) -> (ReferralId, String) {
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 202, "{v}");
    (
        ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap(),
        v["accepted"][0]["status"].as_str().unwrap().to_owned(),
    )
}

/// Sends a referral about `bsn` from `sender` in its own format to `target`; its id, after
/// checking the status intake gave it.
async fn send(
    n: &Network,
    sender: &str,
    format: Format,
    reference: &str,
    bsn: &str,
    target: Sector,
    want: &str,
) -> ReferralId {
    let mut referral = request(
        sender,
        reference,
        bsn,
        Target::Sector(target),
        target == Sector::Care,
    );
    if format == Format::HousingSignal {
        // A housing signal is about arrears: it always carries them.
        referral.finance = Some(FinancialSituation {
            arrears: MoneyCents::new(135_000).unwrap(),
            arrears_since: None,
            signalled_on: None,
        });
    }
    let body = native(format, &referral);
    let (id, status) =
        referral_id(n.app.post_message(sender, format.media_type(), body).await).await;
    assert_eq!(status, want, "{sender} {reference}");
    id
}

/// Records consents for `bsn` to the care sector (health included) and to the welfare
/// sector, through the API.
async fn consent_for_care_and_welfare(n: &Network, bsn: &str) {
    for (sector, categories) in [
        (
            "care",
            vec!["identity", "contact", "needs", "notes", "health"],
        ),
        ("welfare", vec!["identity", "contact", "needs", "notes"]),
    ] {
        let body = serde_json::json!({"resident_bsn": bsn, "grantee_sector": sector,
            "purpose": "referral", "categories": categories,
            "valid_from": "2025-01-01T00:00:00Z", "evidence": "FORM-REPORT"});
        let res = n
            .app
            .http
            .post(format!("{}/v1/consents", n.app.base))
            .bearer_auth(n.app.token("huisarts-de-linde"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
}

/// The district nurses (thuiszorg-oost) report a status as a FHIR Task, through intake.
async fn nurses_answer(n: &Network, id: ReferralId, status: ReferralStatus) {
    let stored = n
        .app
        .running
        .state
        .store
        .referral(id)
        .await
        .unwrap()
        .unwrap();
    let mut seen = stored.shared.unwrap().request;
    seen.source.reference = ExternalRef::parse(&id.to_string()).unwrap();
    let update = StatusUpdate::new(ReferralRef::Id(id), status, wijkbrug::store::now()).unwrap();
    let body = adapter_for(Format::FhirR4)
        .encode_status(
            OutgoingStatus {
                id,
                request: &seen,
                update: &update,
            },
            &n.app.running.state.directory,
        )
        .unwrap();
    let res = n
        .app
        .post_message("thuiszorg-oost", Format::FhirR4.media_type(), body)
        .await;
    let code = res.status();
    assert_eq!(code, 200, "{}", res.text().await.unwrap());
    wait_for_status(&n.app, id, status).await;
}

#[tokio::test]
async fn the_report_counts_what_went_through_the_gateway_and_withholds_small_cells() {
    let n = common::network::start(&[]).await;
    let (from, to) = period();
    let dir = tempfile::tempdir().unwrap();

    // A period of three residents: housing → welfare, care → care, and a refusal for want of
    // consent (employment → welfare).
    let first = send(
        &n,
        "woonstad-noord",
        Format::HousingSignal,
        "W-0",
        "999900006",
        Sector::Welfare,
        "routed",
    )
    .await;
    let care = send(
        &n,
        "huisarts-de-linde",
        Format::FhirR4,
        "GP-0",
        "999900018",
        Sector::Care,
        "routed",
    )
    .await;
    send(
        &n,
        "werkplein",
        Format::EmploymentCsv,
        "WP-0",
        "999900043",
        Sector::Welfare,
        "consent_missing",
    )
    .await;
    wait_for_status(&n.app, first, ReferralStatus::Delivered).await;
    wait_for_status(&n.app, care, ReferralStatus::Delivered).await;

    let small = dir.path().join("small");
    report(&n, &small, &from, &to).success();
    let flows = rows(&small, "flows.csv", 2);
    assert_eq!(flows.len(), 3, "{flows:?}");
    for (key, values) in &flows {
        assert_eq!(values, &strings(&["<5", "<5"]), "{key:?}");
    }
    let refusals = rows(&small, "consent_refusals.csv", 1);
    assert_eq!(
        refusals[&strings(&["werkplein"])],
        strings(&["employment", "<5", "<5"])
    );
    assert_eq!(refusals[&strings(&["total"])], strings(&["", "<5", "<5"]));
    let html = std::fs::read_to_string(small.join("report.html")).unwrap();
    let text = parse_html(&html);
    assert!(text.contains("Small numbers are withheld"));
    // The figures at a glance: three residents, withheld.
    assert!(
        html.contains("<b><span class=\"withheld\""),
        "received is withheld"
    );
    assert!(!text.contains(" 3 residents"));
    // Deliveries count partner systems' work, not residents: shown.
    let deliveries = rows(&small, "deliveries.csv", 1);
    assert_eq!(
        deliveries[&strings(&["wijkteam-centrum"])][..3],
        strings(&["welfare", "1", "1"])
    );
    assert_no_personal_data(&small, &[]);

    // More residents: seven with consents for care and welfare, referred by the GP to the
    // care sector (eight care → care in all, to the district nurses) and six of them by the
    // Werkplein to the welfare desk.
    let bsns = test_bsns(7);
    for bsn in &bsns {
        consent_for_care_and_welfare(&n, bsn).await;
    }
    let mut nursing = vec![care];
    for (i, bsn) in bsns.iter().enumerate() {
        nursing.push(
            send(
                &n,
                "huisarts-de-linde",
                Format::FhirR4,
                &format!("GP-{}", i + 1),
                bsn,
                Sector::Care,
                "routed",
            )
            .await,
        );
    }
    let mut employment = Vec::new();
    for (i, bsn) in bsns.iter().take(6).enumerate() {
        employment.push(
            send(
                &n,
                "werkplein",
                Format::EmploymentCsv,
                &format!("WP-{}", i + 1),
                bsn,
                Sector::Welfare,
                "routed",
            )
            .await,
        );
    }
    for id in &employment {
        wait_for_status(&n.app, *id, ReferralStatus::Delivered).await;
    }
    // The nurses accept every referral and complete five of them.
    for (i, id) in nursing.iter().enumerate() {
        wait_for_status(&n.app, *id, ReferralStatus::Delivered).await;
        nurses_answer(&n, *id, ReferralStatus::Accepted).await;
        if i < 5 {
            nurses_answer(&n, *id, ReferralStatus::InProgress).await;
            nurses_answer(&n, *id, ReferralStatus::Completed).await;
        }
    }

    let big = dir.path().join("big");
    report(&n, &big, &from, &to).success();
    let flows = rows(&big, "flows.csv", 2);
    assert_eq!(flows[&strings(&["care", "care"])], strings(&["8", "8"]));
    // housing → welfare has one resident; employment → welfare (six) is withheld with it, or
    // the total would give it away.
    assert_eq!(
        flows[&strings(&["housing", "welfare"])],
        strings(&["<5", "<5"])
    );
    assert_eq!(
        flows[&strings(&["employment", "welfare"])],
        strings(&["<5", "<5"])
    );
    // 8 + 6 + 1 referrals; 9 distinct residents (the six are among the care eight).
    assert_eq!(flows[&strings(&["total", "total"])], strings(&["15", "9"]));
    assert_eq!(flows.len(), 4);

    let times = rows(&big, "times.csv", 2);
    let acceptance = &times[&strings(&["acceptance", "care"])];
    assert_eq!(acceptance[..2], strings(&["8", "8"]));
    let median: f64 = acceptance[2].parse().unwrap();
    let p90: f64 = acceptance[3].parse().unwrap();
    assert!(median >= 0.0 && p90 >= median, "{acceptance:?}");
    assert_eq!(
        times[&strings(&["completion", "care"])][..2],
        strings(&["5", "5"])
    );
    assert_eq!(
        times[&strings(&["completion", "total"])][..2],
        strings(&["5", "5"])
    );
    assert!(!times.contains_key(&strings(&["acceptance", "welfare"])));

    let refusals = rows(&big, "consent_refusals.csv", 1);
    assert_eq!(
        refusals[&strings(&["werkplein"])],
        strings(&["employment", "<5", "<5"])
    );
    // One refusal of one resident and nothing to protect it with: the total is withheld too.
    assert_eq!(refusals[&strings(&["total"])], strings(&["", "<5", "<5"]));

    // Every referral was delivered once (8 to the nurses, 1 + 6 to the desk); the GP got a
    // notice for each status its referrals went through (8 accepted, 5 × 2 more).
    let deliveries = rows(&big, "deliveries.csv", 1);
    assert_eq!(
        deliveries[&strings(&["thuiszorg-oost"])][..3],
        strings(&["care", "8", "8"])
    );
    assert_eq!(
        deliveries[&strings(&["wijkteam-centrum"])][..3],
        strings(&["welfare", "7", "7"])
    );
    assert_eq!(
        deliveries[&strings(&["huisarts-de-linde"])][..2],
        strings(&["care", "18"])
    );

    let html = std::fs::read_to_string(big.join("report.html")).unwrap();
    let text = parse_html(&html);
    assert!(text.contains("care → care: 8 referrals, 8 residents"));
    assert!(
        !text.contains("housing → welfare"),
        "a withheld flow is not drawn"
    );
    assert!(text.contains("complementary suppression"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("https://"));
    // Kept under target/ to be looked at (the temporary directory goes with the test).
    let keep = root().join("target/report-test");
    let _ = std::fs::remove_dir_all(&keep);
    std::fs::create_dir_all(&keep).unwrap();
    for (path, text) in files(&big) {
        std::fs::write(keep.join(path.file_name().unwrap()), text).unwrap();
    }
    let mut bsns_and_demo = bsns.clone();
    bsns_and_demo.extend(strings(&["999900006", "999900018", "999900043"]));
    assert_no_personal_data(&big, &bsns_and_demo);

    // A period without referrals: a whole report that says so.
    let empty = dir.path().join("empty");
    report(&n, &empty, "2020-01-01", "2020-04-01").success();
    let html = std::fs::read_to_string(empty.join("report.html")).unwrap();
    parse_html(&html);
    assert!(html.contains("No referrals in this period"));
    assert_eq!(
        csv(&empty, "flows.csv"),
        vec![
            strings(&["from_sector", "to_sector", "referrals", "residents"]),
            strings(&["total", "total", "<5", "<5"])
        ]
    );
    n.app.stop().await;
}

#[test]
fn bad_dates_are_refused_with_exit_code_2_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cases = [
        (["2026-04-01", "2026-01-01"], "--from must be before --to"),
        (["2026-01-01", "2026-01-01"], "--from must be before --to"),
        (
            ["2026-02-30", "2026-04-01"],
            "--from must be a date written YYYY-MM-DD",
        ),
        (
            ["2026-01-01", "next week"],
            "--to must be a date written YYYY-MM-DD",
        ),
    ];
    for ([from, to], message) in cases {
        let run = Command::cargo_bin("wijkbrug")
            .unwrap()
            .args(["report", "--from", from, "--to", to, "--out"])
            .arg(&out)
            .arg("--config")
            .arg(dir.path().join("no-config"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{from} {to}: {stderr}");
        assert!(stderr.contains(message), "{from} {to}: {stderr}");
    }
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn a_missing_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    copy_config_to(&config);
    let run = Command::cargo_bin("wijkbrug")
        .unwrap()
        .args([
            "report",
            "--from",
            "2026-01-01",
            "--to",
            "2026-04-01",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--config")
        .arg(&config)
        .env("WIJKBRUG__STORE__DATA_DIR", dir.path().join("data"))
        .env("WIJKBRUG__STORE__URL", "sqlite://wijkbrug.db")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no database"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}
