//! Two real gateway processes (`wijkbrug serve`) on one PostgreSQL database, behind no load
//! balancer: the test sends to either. A stream of referrals through both is delivered to a
//! loopback partner, every one of them, never two attempts of one delivery at the same time;
//! one process is killed with SIGKILL mid-stream and the other finishes the work the dead one
//! had leased once the leases expire; the audit chain verifies; and a partner's inbound quota
//! holds across the two. Always on PostgreSQL (a database of the test's own).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::db::TestDb;
use common::gateway_process::GatewayProcess;
use common::partner_server::{point_partner_at, PartnerServer, Reply};
use common::*;
use wijkbrug_adapters::model::{Sector, Target};
use wijkbrug_adapters::Format;

/// The lease of these tests: short, so a killed instance's rows are taken over soon.
const LEASE_SECS: &str = "3";
/// How long the test waits for something asynchronous before it fails.
const WAIT: Duration = Duration::from_secs(90);

/// Starts `wijkbrug serve` as instance `worker` on the test's database.
fn start_gateway(config: &Path, db: &TestDb, worker: &str) -> GatewayProcess {
    GatewayProcess::serve(
        config,
        &[
            ("WIJKBRUG__STORE__URL", db.url()),
            (
                "WIJKBRUG__STORE__DATA_DIR",
                db.data_dir().display().to_string(),
            ),
            ("WIJKBRUG__DELIVERY__WORKER_ID", worker.to_owned()),
            ("WIJKBRUG__DELIVERY__LEASE_SECS", LEASE_SECS.to_owned()),
            ("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20".into()),
            ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "20".into()),
            ("WIJKBRUG__DELIVERY__BACKOFF_MAX_SECS", "1".into()),
        ],
    )
}

/// The config dir: the demo network with the receiver pointed at `partner`, attempts that fit
/// the short lease, and `change` on top.
fn config(db: &TestDb, partner: &PartnerServer, change: impl FnOnce(&Path)) -> std::path::PathBuf {
    let config = db.dir.path().join("config");
    copy_config_to(&config);
    point_partner_at(&config, "wijkteam-centrum", &partner.url());
    for entry in std::fs::read_dir(config.join("partners")).unwrap() {
        let file = entry.unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("timeout_ms") {
                    "timeout_ms = 1000".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&file, text.join("\n") + "\n").unwrap();
    }
    change(&config);
    config
}

/// Waits (bounded by [`WAIT`]) until `check` holds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A referral from the employment partner (CSV), for the welfare sector (wijkteam-centrum).
async fn send(http: &reqwest::Client, base: &str, reference: &str) -> String {
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            reference,
            "999900006",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let res = http
        .post(format!("{base}/v1/partners/werkplein/messages"))
        .bearer_auth(&demo_tokens()["werkplein"])
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let v: serde_json::Value = res.json().await.unwrap();
    v["accepted"][0]["referral_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn two_processes_share_the_work_and_one_finishes_what_a_killed_one_had_leased() {
    let db = TestDb::postgres().await;
    let partner = PartnerServer::start().await;
    // Slow answers keep deliveries in flight (and rows leased) while the stream goes on.
    partner.script((0..40).map(|_| Reply::Slow(Duration::from_millis(150))));
    let config = config(&db, &partner, |_| {});

    // Both start at once on an empty database: the migrations are applied once.
    let mut a = start_gateway(&config, &db, "gw-a");
    let base_a = a.base.clone();
    let mut b = start_gateway(&config, &db, "gw-b");
    let base_b = b.base.clone();
    let http = reqwest::Client::new();
    eventually("readyz lists both instances", || async {
        let v: serde_json::Value = http
            .get(format!("{base_a}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ids: BTreeSet<&str> = v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["id"].as_str())
            .collect();
        ids == BTreeSet::from(["gw-a", "gw-b"])
    })
    .await;

    // The first part of the stream through both.
    let mut accepted = BTreeSet::new();
    for i in 0..30 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        accepted.insert(send(&http, base, &format!("SO-{i}")).await);
    }

    // Instance a dies while it holds leases.
    let raw = db.raw().await;
    let held = || async {
        let rows: Vec<(i64,)> = raw
            .fetch_all(
                "SELECT id FROM outbox WHERE locked_by = 'gw-a' AND state = 'pending'",
                &[],
            )
            .await;
        rows
    };
    eventually("instance a holds a lease", || async {
        !held().await.is_empty()
    })
    .await;
    a.kill();
    let orphaned: Vec<i64> = held().await.into_iter().map(|(id,)| id).collect();
    assert!(!orphaned.is_empty());

    // The rest of the stream through b.
    for i in 30..50 {
        accepted.insert(send(&http, &base_b, &format!("SO-{i}")).await);
    }

    eventually("every referral delivered", || async {
        let (pending,): (i64,) = raw
            .fetch_one(
                "SELECT count(*) FROM outbox WHERE kind = 'referral' AND state <> 'delivered'",
                &[],
            )
            .await;
        pending == 0
    })
    .await;
    eventually("the partner finished every request", || async {
        partner.received().iter().all(|r| r.finished.is_some())
    })
    .await;

    // Every referral reached the partner, and is delivered in the store.
    let received = partner.received();
    let delivered: BTreeSet<String> = received.iter().map(|r| r.referral.clone()).collect();
    let missing: Vec<_> = accepted.difference(&delivered).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let statuses: Vec<(String, String)> = raw
        .fetch_all("SELECT CAST(id AS TEXT), status FROM referrals", &[])
        .await;
    assert_eq!(statuses.len(), accepted.len());
    assert!(
        statuses.iter().all(|(_, s)| s == "delivered"),
        "{statuses:?}"
    );
    // What a had leased was finished by b after the lease expired: a second attempt.
    for row in &orphaned {
        let (state, attempts): (String, i64) = raw
            .fetch_one(
                "SELECT state, attempts FROM outbox WHERE id = ?",
                &[(*row).into()],
            )
            .await;
        assert_eq!(state, "delivered");
        assert!(attempts >= 2, "row {row}: {attempts} attempts");
    }

    // One delivery is never attempted twice at the same time, and keeps its key.
    let mut by_key: BTreeMap<String, Vec<_>> = BTreeMap::new();
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &received {
        by_key
            .entry(r.idempotency_key.clone())
            .or_default()
            .push((r.at, r.finished.unwrap()));
        keys.entry(r.referral.clone())
            .or_default()
            .insert(r.idempotency_key.clone());
    }
    for (key, mut attempts) in by_key {
        attempts.sort();
        for pair in attempts.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "two attempts of {key} overlapped: {attempts:?}"
            );
        }
    }
    for (referral, k) in keys {
        assert_eq!(k.len(), 1, "{referral} was sent with different keys: {k:?}");
    }

    // A clean stop deregisters b; the chain written by both verifies.
    assert!(b.terminate().success());
    let (left,): (i64,) = raw
        .fetch_one("SELECT count(*) FROM instances WHERE id = 'gw-b'", &[])
        .await;
    assert_eq!(left, 0);
    raw.close().await;
    let out = Command::new(env!("CARGO_BIN_EXE_wijkbrug"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .env_remove("WIJKBRUG_ENVIRONMENT")
        .env("WIJKBRUG__STORE__URL", db.url())
        .env("WIJKBRUG__STORE__DATA_DIR", db.data_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("audit chain intact: "), "{stdout}");
}

/// Sets `[section] key = value` in a partner's config file.
fn set(config: &Path, partner: &str, section: &str, key: &str, value: u32) {
    let file = config.join(format!("partners/{partner}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut current = String::new();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with('[') {
                current = l.to_owned();
            }
            if current == format!("[{section}]") && l.split('=').next().map(str::trim) == Some(key)
            {
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&file, text.join("\n") + "\n").unwrap();
}

#[tokio::test]
async fn a_partners_quotas_hold_across_two_processes() {
    let db = TestDb::postgres().await;
    let partner = PartnerServer::start().await;
    // The GP's requests to the gateway, and the gateway's deliveries to the neighbourhood team.
    const IN_RATE: u32 = 5;
    const IN_BURST: u32 = 5;
    const OUT_RATE: u32 = 4;
    const OUT_BURST: u32 = 4;
    let config = config(&db, &partner, |dir| {
        set(
            dir,
            "huisarts-de-linde",
            "inbound_rate",
            "per_second",
            IN_RATE,
        );
        set(dir, "huisarts-de-linde", "inbound_rate", "burst", IN_BURST);
        set(
            dir,
            "wijkteam-centrum",
            "outbound_rate",
            "per_second",
            OUT_RATE,
        );
        set(dir, "wijkteam-centrum", "outbound_rate", "burst", OUT_BURST);
    });
    let mut a = start_gateway(&config, &db, "gw-a");
    let base_a = a.base.clone();
    let mut b = start_gateway(&config, &db, "gw-b");
    let base_b = b.base.clone();
    let http = reqwest::Client::new();

    // Inbound: requests as fast as they come, alternately to each instance; each costs a
    // token (a read of an unknown referral: 404 when let through, 429 when over the quota).
    let token = demo_tokens()["huisarts-de-linde"].clone();
    let started = Instant::now();
    let mut per_second: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    let mut by_instance = [0u32; 2];
    for i in 0..80 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let res = http
            .get(format!(
                "{base}/v1/referrals/01930000-0000-7000-8000-000000000000"
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let second = started.elapsed().as_secs();
        let counts = per_second.entry(second).or_default();
        match res.status().as_u16() {
            404 => {
                counts.0 += 1;
                by_instance[i % 2] += 1;
            }
            429 => {
                assert!(res.headers().contains_key("retry-after"));
                counts.1 += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let allowed: u32 = per_second.values().map(|c| c.0).sum();
    let limited: u32 = per_second.values().map(|c| c.1).sum();
    // One bucket for the partner: the burst, and what refilled while the requests were made.
    // (A bucket in each process would let up to twice this through.)
    let bound = IN_BURST + (elapsed * f64::from(IN_RATE)).ceil() as u32;
    assert!(
        allowed <= bound,
        "{allowed} let through in {elapsed:.1} s, at most {bound}: {per_second:?} (accepted, 429) a second"
    );
    assert!(allowed >= IN_BURST, "{per_second:?}");
    assert!(limited > 0, "{per_second:?}");
    assert!(
        by_instance.iter().all(|n| *n > 0),
        "both instances let some through: {by_instance:?}"
    );

    // Outbound: referrals through both instances at once; the partner counts what arrives.
    const N: u32 = 16;
    for i in 0..N {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        send(&http, base, &format!("RL-{i}")).await;
    }
    let got = partner.wait_for(N as usize, WAIT).await;
    let _ = a.terminate();
    let _ = b.terminate();
    assert_eq!(got.len(), N as usize);
    let first = got.iter().map(|r| r.at).min().unwrap();
    let last = got.iter().map(|r| r.at).max().unwrap();
    let mut arrivals: BTreeMap<u64, u32> = BTreeMap::new();
    for r in &got {
        *arrivals.entry((r.at - first).as_secs()).or_default() += 1;
    }
    // After the burst the deliveries come at the partner's rate, whichever instance sends
    // them: the last cannot arrive before (N - burst) / rate seconds after the first (less a
    // margin for the way there). Each instance keeping the quota alone would take half that.
    let least = f64::from(N - OUT_BURST) / f64::from(OUT_RATE) - 0.5;
    let span = (last - first).as_secs_f64();
    assert!(
        span >= least,
        "{N} deliveries within {span:.1} s, at {OUT_RATE}/s after a burst of {OUT_BURST} they take at least {least:.1} s: {arrivals:?} a second"
    );
}
