//! `wijkbrug demo` as a person runs it: the real binary on port 0 with a fresh data
//! directory. While it runs, the store (read-only) and the API show referrals received,
//! delivered, accepted, completed (welfare's too, by iWmo), refused for lack of consent, the
//! mailbox partner acknowledging, and the partner that is down part of the time being retried;
//! `demo-partners.toml` lets a person send an example message (202). Afterwards: exit code 0,
//! a summary, and `wijkbrug audit verify` on the demo's store says intact. The README's curl
//! calls work against a running demo as written, and Ctrl-C stops it cleanly. Errors: an
//! address in use and an unusable data directory are named, with their exit codes.
//!
//! No timing assertions: every wait is bounded by the demo's own duration or a generous limit.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::demo_process::{binary, DemoProcess};
use common::root;
use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use wijkbrug::demo::residents;

/// The demo's SQLite file, read-only beside the running demo.
async fn store(data_dir: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(data_dir.join("wijkbrug.db"))
        .read_only(true)
        .connect()
        .await
        .unwrap()
}

async fn count(db: &mut SqliteConnection, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *db).await.unwrap();
    n
}

/// The demo's BSNs that `text` names: its residents' and the two of its standing consents
/// (together the first test BSNs), each found as a whole run of digits. A duration or an id that merely
/// holds the digits "99990" somewhere is not a BSN; one written with anything but a digit
/// beside it is found.
fn demo_bsns_in(text: &str) -> Vec<String> {
    let runs: HashSet<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 9)
        .collect();
    residents::test_bsns()
        .take(residents::RESIDENTS + 2)
        .map(|bsn| bsn.as_str().to_owned())
        .filter(|bsn| runs.contains(bsn.as_str()))
        .collect()
}

#[test]
fn a_bsn_is_found_beside_any_non_digit_and_a_longer_number_is_not_one() {
    let first = residents::Residents::generate().list[0]
        .bsn
        .as_str()
        .to_owned();
    assert_eq!(demo_bsns_in(&format!("bsn={first},")), vec![first.as_str()]);
    assert_eq!(demo_bsns_in(&format!("id a{first}f")), vec![first.as_str()]);
    assert_eq!(demo_bsns_in(&format!("\"{first}\"")), vec![first.as_str()]);
    assert!(demo_bsns_in(&format!("took 0.{first}1 s")).is_empty());
    assert!(demo_bsns_in("trace 99990f3a latency_ms=0.999901").is_empty());
}

/// What the test waits to see in the store, each with its query.
const SIGHTINGS: [(&str, &str); 9] = [
    ("received", "SELECT count(*) FROM referrals"),
    (
        "delivered",
        "SELECT count(*) FROM status_transitions WHERE status = 'delivered'",
    ),
    (
        "accepted",
        "SELECT count(*) FROM status_transitions WHERE status = 'accepted' AND actor LIKE 'partner:%'",
    ),
    (
        "completed",
        "SELECT count(*) FROM status_transitions WHERE status = 'completed' AND actor LIKE 'partner:%'",
    ),
    (
        "completed by the welfare desk (iWmo WMO307)",
        "SELECT count(*) FROM status_transitions WHERE status = 'completed' AND actor = 'partner:wijkteam-centrum'",
    ),
    (
        "refused for lack of consent",
        "SELECT count(*) FROM referrals WHERE status = 'consent_missing'",
    ),
    (
        "acknowledged by the mailbox partner",
        "SELECT count(*) FROM outbox WHERE recipient = 'werkplein' AND state = 'delivered'",
    ),
    (
        "retried while district nursing was down",
        "SELECT count(*) FROM outbox WHERE recipient = 'thuiszorg-oost' AND attempts > 1",
    ),
    (
        "a status notice back to a sender",
        "SELECT count(*) FROM outbox WHERE kind = 'status' AND state = 'delivered'",
    ),
];

/// The partner table of demo-partners.toml, by id.
fn partners(manifest: &toml::Table) -> Vec<&toml::Table> {
    manifest["partner"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_table().unwrap())
        .collect()
}

#[tokio::test]
async fn the_demo_runs_the_neighbourhood_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo-data");
    let log = dir.path().join("demo.log");
    let mut demo = DemoProcess::start_logging(
        &["demo", "--duration", "40s", "--rate", "5"],
        &data_dir,
        Some(&log),
    );
    let http = reqwest::Client::new();

    // demo-partners.toml: each partner with its token and intake URL, and the staff tokens.
    let text = std::fs::read_to_string(data_dir.join("demo-partners.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(manifest["gateway"].as_str(), Some(demo.base.as_str()));
    assert_eq!(
        manifest["dashboard"].as_str().unwrap(),
        format!("{}/ops/", demo.base)
    );
    let list = partners(&manifest);
    for id in [
        "woonstad-noord",
        "wijkteam-centrum",
        "huisarts-de-linde",
        "thuiszorg-oost",
        "werkplein",
        "welzijn-west",
    ] {
        assert!(list.iter().any(|p| p["id"].as_str() == Some(id)), "{id}");
    }
    let werkplein = list
        .iter()
        .find(|p| p["id"].as_str() == Some("werkplein"))
        .unwrap();
    assert_eq!(werkplein["delivery"].as_str(), Some("mailbox"));
    assert_eq!(
        manifest["staff"]["demo-operations"]["token"].as_str(),
        Some(common::network::OPS_TOKEN)
    );
    assert!(
        demo.stdout().contains(common::network::OPS_TOKEN),
        "the operations token is printed with the dashboard"
    );
    assert!(demo.stdout().contains(&format!("{}/ops/", demo.base)));

    // A person sends the housing example as the manifest says: 202, and it moves on.
    let housing = list
        .iter()
        .find(|p| p["id"].as_str() == Some("woonstad-noord"))
        .unwrap();
    let token = housing["token"].as_str().unwrap();
    let body = std::fs::read(root().join(housing["example"].as_str().unwrap())).unwrap();
    let res = http
        .post(housing["intake_url"].as_str().unwrap())
        .bearer_auth(token)
        .header("content-type", housing["content_type"].as_str().unwrap())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    let example = v["accepted"][0]["referral_id"].as_str().unwrap().to_owned();
    assert_eq!(v["accepted"][0]["status"], "routed", "{v}");

    // While the demo runs, the store shows every part of the flow.
    let mut db = store(&data_dir).await;
    let mut missing: Vec<&str> = SIGHTINGS.iter().map(|(what, _)| *what).collect();
    let mut example_status = String::new();
    while demo.running() && (!missing.is_empty() || example_status == "routed") {
        let mut still = Vec::new();
        for (what, sql) in SIGHTINGS {
            if missing.contains(&what) && count(&mut db, sql).await == 0 {
                still.push(what);
            }
        }
        missing = still;
        let res = http
            .get(format!("{}/v1/referrals/{example}", demo.base))
            .bearer_auth(token)
            .send()
            .await;
        if let Ok(r) = res {
            if r.status() == 200 {
                let v: Value = r.json().await.unwrap();
                example_status = v["status"].as_str().unwrap_or_default().to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(missing.is_empty(), "never seen: {missing:?}");
    assert!(
        !example_status.is_empty() && example_status != "routed",
        "the example was delivered and answered: {example_status}"
    );
    let dead_letters_with_400: i64 = count(
        &mut db,
        "SELECT count(*) FROM outbox WHERE last_error LIKE '%400%'",
    )
    .await;
    assert_eq!(dead_letters_with_400, 0, "every partner reads what it gets");
    db.close().await.unwrap();

    // --duration ends it cleanly, with a summary.
    let status = demo.wait();
    assert!(status.success(), "{status}");
    let out = demo.stdout();
    assert!(out.contains("demo stopped after"), "{out}");
    let submitted: i64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("submitted"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no submitted count: {out}"));
    assert!(submitted > 0);
    for word in [
        "delivered",
        "accepted",
        "completed",
        "refused",
        "dead letters",
    ] {
        assert!(out.contains(word), "{word}: {out}");
    }
    assert!(
        !out.contains("not accepted"),
        "every generated message was accepted: {out}"
    );
    // Neither the terminal nor the log (at info) names a resident.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("message processed"), "the log was written");
    let mut personal: Vec<&str> = vec![residents::TOWN];
    personal.extend(residents::FAMILY.iter().map(|(_, family)| *family));
    personal.extend(residents::STREETS);
    personal.extend(["Voorbeeldt", "Testmaker", "Proefstraat", "Voorbeeldlaan"]);
    for word in personal {
        assert!(!out.contains(word), "{word} on the terminal");
        assert!(!logged.contains(word), "{word} in the log");
    }
    for (place, text) in [("the terminal", &out), ("the log", &logged)] {
        let named = demo_bsns_in(text);
        assert!(named.is_empty(), "{named:?} on {place}");
    }

    let mut db = store(&data_dir).await;
    let referrals = count(&mut db, "SELECT count(*) FROM referrals").await;
    assert!(
        referrals > submitted,
        "{referrals} stored, {submitted} counted + the example"
    );
    db.close().await.unwrap();

    // The audit chain of the demo's store is intact.
    let verify = Command::new(binary())
        .args(["audit", "verify", "--config"])
        .arg(root().join("config"))
        .env("WIJKBRUG__STORE__DATA_DIR", &demo.data_dir)
        .env_remove("WIJKBRUG__STORE__URL")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{said}");
    assert!(said.contains("intact"), "{said}");
}

/// One curl call of the README: method, URL, headers and the body file.
#[derive(Debug)]
struct Curl {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body_file: String,
    line: String,
}

/// Splits a shell line into words: single and double quotes, backslash escapes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// The README's shell code blocks, with continued lines joined and comments dropped.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut current = String::new();
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh || line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

/// The README's curl calls that send a file.
fn readme_curls() -> Vec<Curl> {
    readme_commands()
        .into_iter()
        .filter(|c| c.starts_with("curl ") && c.contains("--data-binary @"))
        .map(|line| {
            let words = shell_words(&line);
            let mut curl = Curl {
                method: "GET".into(),
                url: String::new(),
                headers: Vec::new(),
                body_file: String::new(),
                line: line.clone(),
            };
            let mut i = 1;
            while i < words.len() {
                match words[i].as_str() {
                    "-X" => {
                        curl.method = words[i + 1].clone();
                        i += 1;
                    }
                    "-H" => {
                        let (k, v) = words[i + 1].split_once(':').unwrap();
                        curl.headers
                            .push((k.trim().to_owned(), v.trim().to_owned()));
                        i += 1;
                    }
                    "--data-binary" => {
                        curl.body_file = words[i + 1].trim_start_matches('@').to_owned();
                        i += 1;
                    }
                    "-i" | "-s" => {}
                    w if w.starts_with("http") => curl.url = w.to_owned(),
                    other => {
                        panic!("the README's curl has an option this test does not know: {other}")
                    }
                }
                i += 1;
            }
            curl
        })
        .collect()
}

#[tokio::test]
async fn the_readme_commands_work_against_the_demo_and_ctrl_c_stops_it() {
    // The README's first command is the demo, and the test runs the same subcommand (on a free
    // port and a fresh data directory instead of 8080 and ./demo-data).
    let commands = readme_commands();
    assert_eq!(commands[0], "cargo run --release -- demo");
    let args: Vec<&str> = commands[0]
        .split_once(" -- ")
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut demo = DemoProcess::start(&args, &dir.path().join("demo-data"));

    let curls = readme_curls();
    for example in [
        "examples/housing-signal.json",
        "examples/welfare-wmo315.xml",
        "examples/care-fhir-bundle.json",
        "examples/employment-referral.csv",
    ] {
        assert!(
            curls.iter().any(|c| c.body_file == example),
            "the README shows {example}"
        );
    }
    let http = reqwest::Client::new();
    let has_curl = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    for c in &curls {
        assert!(
            c.url.starts_with("http://127.0.0.1:8080/"),
            "{}: the README's address",
            c.line
        );
        let url = c.url.replace("http://127.0.0.1:8080", &demo.base);
        // The same request, made by the test ...
        let mut request = http
            .request(c.method.parse().unwrap(), &url)
            .body(std::fs::read(root().join(&c.body_file)).unwrap());
        for (k, v) in &c.headers {
            request = request.header(k, v);
        }
        let res = request.send().await.unwrap();
        let status = res.status();
        let v: Value = res.json().await.unwrap();
        assert_eq!(status, 202, "{}: {v}", c.line);
        assert!(v["accepted"][0]["referral_id"].is_string(), "{v}");
        assert!(v["refused"].as_array().unwrap().is_empty(), "{v}");
        // ... and by curl itself, as written (a repeat: recognised as a duplicate).
        if has_curl {
            let words: Vec<String> = shell_words(&c.line)
                .into_iter()
                .map(|w| w.replace("http://127.0.0.1:8080", &demo.base))
                .collect();
            let out = Command::new(&words[0])
                .args(&words[1..])
                .current_dir(root())
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "{}", c.line);
            assert!(text.starts_with("HTTP/1.1 202"), "{}: {text}", c.line);
            assert!(text.contains("\"duplicate\":true"), "{text}");
        }
    }

    // Ctrl-C: a clean stop with the summary.
    demo.interrupt();
    let status = demo.wait();
    assert!(status.success(), "{status}");
    assert!(
        demo.stdout().contains("demo stopped after"),
        "{}",
        demo.stdout()
    );
}

#[test]
fn an_address_in_use_is_named_and_nothing_is_made() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("demo-data");
    let out = Command::new(binary())
        .args(["demo", "--listen", &addr, "--duration", "5s", "--data-dir"])
        .arg(&data_dir)
        .arg("--config")
        .arg(root().join("config"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{addr} is already in use")),
        "{stderr}"
    );
    assert!(
        !data_dir.exists(),
        "nothing made for a demo that cannot start"
    );
}

#[test]
fn an_unusable_data_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"").unwrap();
    let data_dir = file.join("demo-data");
    let out = Command::new(binary())
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--duration",
            "5s",
            "--data-dir",
        ])
        .arg(&data_dir)
        .arg("--config")
        .arg(root().join("config"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("the data directory") && stderr.contains("not-a-folder"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "no banner for a demo that did not start"
    );
}
