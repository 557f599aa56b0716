//! `GET /metrics` on the demo network with real partner systems on loopback: referrals run
//! through the network (delivered, consent refused, and one to a partner that fails until its
//! circuit opens and a dead letter appears), then the scraped numbers are checked against the
//! API, the store and what the partner servers received; no resident data in the text; every
//! metric the alert rules name is exported; and the alert rules pass promtool.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use common::network::{wait_for_status, Network, OPS_TOKEN, WAIT};
use common::partner_server::Reply;
use common::*;
use serde_json::Value;
use wijkbrug::delivery::health::CircuitState;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::Format;

/// One sample line of the exposition: `name{labels} value`.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text format (our label values hold no quotes or commas).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect(l);
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').expect(p);
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect(l),
            }
        })
        .collect()
}

/// The value of the one sample `name` with these labels (among others); panics if absent.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].value
}

async fn scrape(n: &Network) -> (String, reqwest::header::HeaderMap) {
    // No token: the route is open for a Prometheus scraper.
    let res = n
        .app
        .http
        .get(format!("{}/metrics", n.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    (res.text().await.unwrap(), headers)
}

async fn accepted(res: reqwest::Response) -> (ReferralId, String) {
    let v: Value = res.json().await.unwrap();
    let a = &v["accepted"][0];
    (
        ReferralId::parse(a["referral_id"].as_str().unwrap()).unwrap(),
        a["status"].as_str().unwrap().to_owned(),
    )
}

async fn care_referral(n: &Network, reference: &str) -> ReferralId {
    // From the GP, about daily living (and physical health): routed to district nursing.
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            reference,
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    let (id, status) = accepted(
        n.app
            .post_message("huisarts-de-linde", "application/fhir+json", fhir)
            .await,
    )
    .await;
    assert_eq!(status, "routed");
    id
}

async fn welfare_referral(n: &Network, reference: &str, bsn: &str) -> (ReferralId, String) {
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            reference,
            bsn,
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    accepted(n.app.post_message("werkplein", "text/csv", csv).await).await
}

/// Waits (bounded) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + WAIT;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The metric names the alert rules file mentions (in expressions and annotations).
fn names_in_rules() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("ops/prometheus/alerts.yml")).unwrap();
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("wijkbrug_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

#[tokio::test]
async fn metrics_match_the_store_and_the_api_and_carry_no_resident_data() {
    let n = common::network::start(&[
        ("WIJKBRUG__DELIVERY__CIRCUIT_FAILURE_THRESHOLD", "3"),
        // Long enough that the circuit stays open for the rest of the test.
        ("WIJKBRUG__DELIVERY__CIRCUIT_COOLDOWN_SECS", "3600"),
    ])
    .await;
    let state = n.app.running.state.clone();

    // District nursing fails: two 503s (retried), then a 422 (a dead letter). Three failures
    // in a row open its circuit.
    n.thuiszorg
        .script([Reply::Status(503), Reply::Status(503), Reply::Status(422)]);
    let failed = care_referral(&n, "GP-M1").await;
    wait_for_status(&n.app, failed, ReferralStatus::Undeliverable).await;
    eventually("the circuit to thuiszorg-oost opens", || async {
        state.delivery_health.circuit("thuiszorg-oost") == Some(CircuitState::Open)
    })
    .await;
    // While it is open, the next referral for district nursing stays queued ...
    let held = care_referral(&n, "GP-M2").await;
    // Its row was committed before the answer came back.
    let held_answered = wijkbrug::store::now();
    // ... even once a later referral to another partner was delivered.
    let (delivered, status) = welfare_referral(&n, "WP-M1", "999900006").await;
    assert_eq!(status, "routed");
    wait_for_status(&n.app, delivered, ReferralStatus::Delivered).await;
    // A resident without consent: refused.
    let (refused, status) = welfare_referral(&n, "WP-M2", "999900043").await;
    assert_eq!(status, "consent_missing");
    assert_eq!(
        n.thuiszorg.received().len(),
        3,
        "nothing more reached the partner whose circuit is open"
    );

    // Let every other push delivery (the notices to the senders) finish, and its result be
    // counted for every request a partner received.
    let servers = [
        ("thuiszorg-oost", &n.thuiszorg),
        ("wijkteam-centrum", &n.wijkteam),
        ("huisarts-de-linde", &n.huisarts),
        ("woonstad-noord", &n.woonstad),
    ];
    eventually("the push queues are empty but the held row", || async {
        let backlog = state
            .store
            .outbox_backlog(wijkbrug::store::now())
            .await
            .unwrap();
        let health = state.delivery_health.snapshot(std::time::Instant::now());
        let counted = servers.iter().all(|(partner, server)| {
            health
                .iter()
                .find(|h| h.partner == *partner)
                .is_some_and(|h| h.counts.attempts == server.received().len() as u64)
        });
        counted
            && backlog.iter().all(|b| match b.recipient.as_str() {
                "thuiszorg-oost" => b.pending == 1,
                "werkplein" => true, // a mailbox: its notices wait for its pull
                _ => b.pending == 0,
            })
    })
    .await;

    // What the API says: every referral's status and receiver, as their senders read them.
    let ids = [
        ("huisarts-de-linde", failed),
        ("huisarts-de-linde", held),
        ("werkplein", delivered),
        ("werkplein", refused),
    ];
    let mut expected: BTreeMap<(String, String), f64> = BTreeMap::new();
    for (sender, id) in ids {
        let view: Value = n
            .app
            .get_referral(sender, &id.to_string())
            .await
            .json()
            .await
            .unwrap();
        let sector = match view["receiver"].as_str() {
            Some(r) => state
                .config
                .partners
                .get(r)
                .unwrap()
                .sector
                .code()
                .to_owned(),
            None => "none".to_owned(),
        };
        *expected
            .entry((view["status"].as_str().unwrap().to_owned(), sector))
            .or_default() += 1.0;
    }
    assert_eq!(
        expected.keys().cloned().collect::<Vec<_>>(),
        [
            ("consent_missing".into(), "none".into()),
            ("delivered".into(), "welfare".into()),
            ("routed".into(), "care".into()),
            ("undeliverable".into(), "care".into()),
        ]
    );
    let dead_letters: Value = n
        .app
        .http
        .get(format!("{}/v1/ops/dead-letters", n.app.base))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dead_letters = dead_letters["items"].as_array().unwrap().clone();

    // The audit chain as the watcher sees it now (the API reads above are audited too).
    wijkbrug::audit_watch::run_once(
        state.store.as_ref(),
        &state.audit_chain,
        std::time::Duration::from_secs(86_400),
    )
    .await
    .unwrap();

    let before = wijkbrug::store::now();
    let (text, headers) = scrape(&n).await;
    let after = wijkbrug::store::now();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(text.ends_with("# EOF\n"));
    for word in PERSONAL {
        assert!(!text.contains(word), "{word} in the metrics");
    }
    let samples = parse(&text);

    // Referrals by status and sector: the API's tally, every other pair zero, and the store's
    // total.
    let referrals: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "wijkbrug_referrals")
        .collect();
    for s in &referrals {
        let key = (s.labels["status"].clone(), s.labels["sector"].clone());
        assert_eq!(
            s.value,
            expected.get(&key).copied().unwrap_or(0.0),
            "{key:?}"
        );
    }
    assert_eq!(
        referrals.iter().map(|s| s.value).sum::<f64>(),
        n.app.counts().await.referrals as f64
    );
    assert_eq!(referrals.len(), ReferralStatus::ALL.len() * 5);

    // Deliveries by partner and outcome, as the partner servers received them.
    let attempts = |partner: &str, outcome: &str| {
        value(
            &samples,
            "wijkbrug_delivery_attempts_total",
            &[("partner", partner), ("outcome", outcome)],
        )
    };
    assert_eq!(attempts("thuiszorg-oost", "retry"), 2.0);
    assert_eq!(attempts("thuiszorg-oost", "permanent_failure"), 1.0);
    assert_eq!(attempts("thuiszorg-oost", "delivered"), 0.0);
    for (partner, server) in [
        ("wijkteam-centrum", &n.wijkteam),
        ("huisarts-de-linde", &n.huisarts),
        ("woonstad-noord", &n.woonstad),
    ] {
        // These partners answered 200 to everything they received.
        assert_eq!(
            attempts(partner, "delivered"),
            server.received().len() as f64,
            "{partner}"
        );
    }
    assert!(attempts("wijkteam-centrum", "delivered") >= 1.0);
    assert!(
        attempts("huisarts-de-linde", "delivered") >= 1.0,
        "the GP was told its referral is undeliverable"
    );
    // One latency observation per request a partner received.
    for (partner, server) in [
        ("thuiszorg-oost", &n.thuiszorg),
        ("wijkteam-centrum", &n.wijkteam),
    ] {
        assert_eq!(
            value(
                &samples,
                "wijkbrug_delivery_attempt_duration_seconds_count",
                &[("partner", partner)]
            ),
            server.received().len() as f64
        );
    }

    // Dead letters: the API's list, per partner, and the worker's count.
    for partner in state.delivery_health.partners() {
        let listed = dead_letters
            .iter()
            .filter(|d| d["recipient"] == partner)
            .count();
        assert_eq!(
            value(&samples, "wijkbrug_dead_letters", &[("partner", partner)]),
            listed as f64,
            "{partner}"
        );
    }
    assert_eq!(
        value(
            &samples,
            "wijkbrug_dead_letters",
            &[("partner", "thuiszorg-oost")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "wijkbrug_delivery_dead_lettered_total",
            &[("partner", "thuiszorg-oost")]
        ),
        1.0
    );

    // Circuits: open for district nursing, closed for the others.
    let circuit = |partner: &str, s: &str| {
        value(
            &samples,
            "wijkbrug_delivery_circuit_state",
            &[("partner", partner), ("state", s)],
        )
    };
    assert_eq!(circuit("thuiszorg-oost", "open"), 1.0);
    assert_eq!(circuit("thuiszorg-oost", "closed"), 0.0);
    assert_eq!(circuit("thuiszorg-oost", "half_open"), 0.0);
    assert_eq!(circuit("wijkteam-centrum", "closed"), 1.0);
    let health = state.delivery_health.snapshot(std::time::Instant::now());
    let nursing = health
        .iter()
        .find(|h| h.partner == "thuiszorg-oost")
        .unwrap();
    assert_eq!(nursing.circuit, CircuitState::Open);
    assert_eq!(nursing.success_rate, Some(0.0));
    assert_eq!(nursing.consecutive_failures, 3);
    assert_eq!(
        nursing.last_error,
        Some(wijkbrug::delivery::health::ErrorKind::Http4xx)
    );

    // The queue: the held referral is due for district nursing; its age is the time since it
    // was queued at intake (between receiving it and answering).
    let outbox = |name: &str| value(&samples, name, &[("partner", "thuiszorg-oost")]);
    assert_eq!(outbox("wijkbrug_outbox_pending"), 1.0);
    assert_eq!(outbox("wijkbrug_outbox_due"), 1.0);
    let queued = state
        .store
        .referral(held)
        .await
        .unwrap()
        .unwrap()
        .received_at;
    let age = outbox("wijkbrug_outbox_oldest_due_age_seconds");
    let secs = |d: chrono::TimeDelta| d.num_microseconds().unwrap() as f64 / 1e6;
    assert!(
        age >= secs(before - held_answered) - 0.001 && age <= secs(after - queued) + 0.001,
        "{age} not between {:?} and {:?}",
        before - held_answered,
        after - queued
    );
    assert_eq!(
        value(
            &samples,
            "wijkbrug_outbox_pending",
            &[("partner", "wijkteam-centrum")]
        ),
        0.0
    );
    let backlog = state.store.outbox_backlog(before).await.unwrap();
    let werkplein = backlog
        .iter()
        .find(|b| b.recipient.as_str() == "werkplein")
        .map_or(0, |b| b.pending);
    assert!(werkplein >= 1, "the refusal notice waits in the mailbox");
    assert_eq!(
        value(
            &samples,
            "wijkbrug_outbox_pending",
            &[("partner", "werkplein")]
        ),
        werkplein as f64
    );

    // Consent decisions at intake.
    let decision = |d: &str, reason: &str, sector: &str| {
        value(
            &samples,
            "wijkbrug_consent_decisions_total",
            &[("decision", d), ("reason", reason), ("sector", sector)],
        )
    };
    assert_eq!(decision("shared", "permit", "care"), 2.0);
    assert_eq!(decision("shared", "permit", "welfare"), 1.0);
    assert_eq!(decision("refused", "no-consent", "welfare"), 1.0);

    // The audit chain, as the watcher walked it; nothing was written since.
    let chain = wijkbrug::audit_chain::check(state.store.as_ref())
        .await
        .unwrap();
    assert!(chain.intact);
    assert!(chain.events > 0);
    assert_eq!(
        value(&samples, "wijkbrug_audit_chain_events", &[]),
        chain.events as f64
    );
    assert_eq!(value(&samples, "wijkbrug_audit_chain_intact", &[]), 1.0);
    let checked = value(
        &samples,
        "wijkbrug_audit_chain_checked_timestamp_seconds",
        &[],
    );
    assert!(checked <= after.timestamp() as f64 + 1.0 && checked > 0.0);
    // The last whole walk: the one at start, or this one (the walk above goes on from where
    // the one at start ended, if that had finished).
    let whole = value(
        &samples,
        "wijkbrug_audit_chain_whole_checked_timestamp_seconds",
        &[],
    );
    assert!(whole > 0.0 && whole <= checked, "{whole} {checked}");

    // The store's writer: what it did so far, between a reading before the scrape and one
    // after (other writes may still be landing).
    let writer_before = state.store.writer_activity();
    let (text, _) = scrape(&n).await;
    let writer_after = state.store.writer_activity();
    let scraped = parse(&text);
    let commits = value(&scraped, "wijkbrug_store_commits_total", &[]);
    let writes = value(&scraped, "wijkbrug_store_writes_total", &[]);
    let busy = value(&scraped, "wijkbrug_store_writer_busy_seconds_total", &[]);
    let committing = value(&scraped, "wijkbrug_store_commit_seconds_total", &[]);
    assert!(
        (writer_before.commits as f64..=writer_after.commits as f64).contains(&commits),
        "{commits} commits, {writer_before:?} / {writer_after:?}"
    );
    assert!((writer_before.writes as f64..=writer_after.writes as f64).contains(&writes));
    let secs = |d: Duration| d.as_secs_f64();
    assert!((secs(writer_before.busy) - 1e-6..=secs(writer_after.busy) + 1e-6).contains(&busy));
    assert!(
        (secs(writer_before.committing) - 1e-6..=secs(writer_after.committing) + 1e-6)
            .contains(&committing)
    );
    // Four intakes, their status changes and deliveries: many writes, fewer or as many
    // commits, and commits are part of the writer's busy time.
    assert!(writes >= 12.0, "{writes} writes");
    assert!(commits >= 1.0 && commits <= writes, "{commits} / {writes}");
    assert!(
        committing > 0.0 && committing < busy,
        "{committing} s of {busy} s"
    );
    // Its batches by how long each took: as many as it worked on between the readings, the
    // buckets cumulative up to all of them, the sum its busy time.
    let batches = |w: &wijkbrug::store::WriterActivity| w.batches.iter().sum::<u64>() as f64;
    let count = value(&scraped, "wijkbrug_store_batch_duration_seconds_count", &[]);
    assert!(
        (batches(&writer_before)..=batches(&writer_after)).contains(&count),
        "{count} batches, {writer_before:?} / {writer_after:?}"
    );
    assert!(count >= 1.0, "{count} batches");
    let sum = value(&scraped, "wijkbrug_store_batch_duration_seconds_sum", &[]);
    assert!(
        (busy - 1e-6..=busy + 1e-6).contains(&sum),
        "{sum} s, busy {busy} s"
    );
    let mut cumulative = 0.0;
    for bound in wijkbrug::store::BATCH_BOUNDS
        .iter()
        .map(|b| format!("{b:?}"))
        .chain(["+Inf".to_owned()])
    {
        let n = value(
            &scraped,
            "wijkbrug_store_batch_duration_seconds_bucket",
            &[("le", bound.as_str())],
        );
        assert!(n >= cumulative, "bucket {bound}: {n} after {cumulative}");
        cumulative = n;
    }
    assert_eq!(cumulative, count);

    // The writes waiting for the writer, by lane (their meaning is checked in store_sqlite.rs).
    for lane in ["first", "intake"] {
        let queued = value(&scraped, "wijkbrug_store_writer_queued", &[("lane", lane)]);
        assert!(
            queued >= 0.0 && queued.fract() == 0.0,
            "{queued} queued in {lane}"
        );
    }

    // Every metric the alert rules use is exported by this gateway.
    let exported: BTreeSet<String> = samples.iter().map(|s| s.name.clone()).collect();
    let used = names_in_rules();
    assert!(used.len() >= 5, "{used:?}");
    for name in &used {
        assert!(
            exported.contains(name),
            "{name} is used in ops/prometheus/alerts.yml but not exported"
        );
    }
    n.app.stop().await;
}

#[tokio::test]
async fn rate_limit_waits_are_counted_both_ways() {
    let wijkteam = common::partner_server::PartnerServer::start().await;
    let url = wijkteam.url();
    let app = TestApp::spawn_with(
        |dir| {
            common::partner_server::point_partner_at(dir, "wijkteam-centrum", &url);
            // Outbound to the welfare desk: 2 a second, bursts of 1; inbound from the
            // Werkplein: 1 a second, bursts of 1.
            set_rate(
                &dir.join("partners/wijkteam-centrum.toml"),
                "outbound_rate",
                2,
                1,
            );
            set_rate(&dir.join("partners/werkplein.toml"), "inbound_rate", 1, 1);
        },
        &[("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20")],
    )
    .await;
    // One message with three referrals: stored together, claimed together, so the second and
    // third wait for the quota.
    let rows: Vec<String> = (0..3)
        .map(|i| {
            let csv = native(
                Format::EmploymentCsv,
                &request(
                    "werkplein",
                    &format!("WP-R{i}"),
                    "999900006",
                    Target::Sector(Sector::Welfare),
                    false,
                ),
            );
            String::from_utf8(csv).unwrap()
        })
        .collect();
    let header = rows[0].lines().next().unwrap().to_owned();
    let mut message = header.clone();
    for r in &rows {
        for line in r.lines().skip(1).filter(|l| !l.trim().is_empty()) {
            message.push_str("\r\n");
            message.push_str(line.trim_start_matches('\u{feff}'));
        }
    }
    message.push_str("\r\n");
    let res = app.post_message("werkplein", "text/csv", message).await;
    assert_eq!(res.status(), 202);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"].as_array().unwrap().len(), 3, "{v}");
    // More requests at once than the inbound quota allows: some are refused with 429.
    let mut refused = 0;
    for _ in 0..6 {
        if app
            .post_message("werkplein", "text/csv", "x")
            .await
            .status()
            == 429
        {
            refused += 1;
        }
    }
    assert!(refused >= 1);
    assert_eq!(wijkteam.wait_for(3, WAIT).await.len(), 3);
    let state = app.running.state.clone();
    eventually("the three deliveries are counted", || async {
        state
            .delivery_health
            .snapshot(std::time::Instant::now())
            .iter()
            .any(|h| h.partner == "wijkteam-centrum" && h.counts.attempts == 3)
    })
    .await;

    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let samples = parse(&text);
    assert_eq!(
        value(
            &samples,
            "wijkbrug_inbound_rate_limited_total",
            &[("partner", "werkplein")]
        ),
        refused as f64
    );
    assert_eq!(
        value(
            &samples,
            "wijkbrug_inbound_rate_limited_total",
            &[("partner", "woonstad-noord")]
        ),
        0.0
    );
    let waits = value(
        &samples,
        "wijkbrug_outbound_rate_limited_total",
        &[("partner", "wijkteam-centrum"), ("by", "quota")],
    );
    assert!(waits >= 2.0, "{waits}");
    let health = app
        .running
        .state
        .delivery_health
        .snapshot(std::time::Instant::now());
    let desk = health
        .iter()
        .find(|h| h.partner == "wijkteam-centrum")
        .unwrap();
    assert_eq!(desk.quota_waits as f64, waits);
    assert_eq!(desk.rate_limited, desk.quota_waits + desk.partner_429s);
    assert_eq!(desk.success_rate, Some(1.0));
    assert_eq!(desk.counts.delivered, 3);
    assert!(desk.latency_p50_ms.is_some());
    app.stop().await;
}

/// Sets `per_second` and `burst` of one rate table of a partner file.
fn set_rate(file: &Path, table: &str, per_second: u32, burst: u32) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut inside = false;
    let changed: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with('[') {
                inside = l.trim() == format!("[{table}]");
            }
            match l.split('=').next().map(str::trim) {
                Some("per_second") if inside => format!("per_second = {per_second}"),
                Some("burst") if inside => format!("burst = {burst}"),
                _ => l.to_owned(),
            }
        })
        .collect();
    std::fs::write(file, changed.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn metrics_are_in_the_openapi_description() {
    let app = TestApp::spawn().await;
    let api: Value = app.openapi().await;
    assert!(
        api["paths"]["/metrics"]["get"].is_object(),
        "{}",
        api["paths"]
    );
    app.stop().await;
}

fn promtool(args: &[&str]) {
    let dir = root().join("ops/prometheus");
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool could not run ({e}): install the prometheus package (.ci/run does)")
        });
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_pass_promtool_check_and_their_unit_tests() {
    promtool(&["check", "rules", "alerts.yml"]);
    promtool(&["test", "rules", "alerts.test.yml"]);
}

#[test]
fn the_alert_rules_name_their_runbook_action() {
    let text = std::fs::read_to_string(root().join("ops/prometheus/alerts.yml")).unwrap();
    let alerts = text.matches("- alert:").count();
    assert!(alerts >= 4);
    assert_eq!(text.matches("summary:").count(), alerts);
    assert_eq!(text.matches("Runbook \"").count(), alerts);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for action in text.split("Runbook \"").skip(1) {
        let name = action.split('"').next().unwrap();
        assert!(
            readme.contains(&format!("**{name}**")),
            "README.md has no runbook entry **{name}**"
        );
    }
}
