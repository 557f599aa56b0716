//! Soak: the real gateway binary on a SQLite store on a small filesystem of its own (a tmpfs
//! with a size limit), a loopback partner behind a link that flaps, and a steady stream of
//! referrals from a client that retries as a partner's system would (same Idempotency-Key,
//! after the Retry-After). Meanwhile the gateway is killed with SIGKILL and started again twice,
//! and the filesystem is filled to within a few KiB for a while, then freed.
//!
//! Afterwards: every referral that was acknowledged (2xx) reached the partner, is delivered
//! exactly once in the store's view (one outbox row, delivered), and nothing about a resident
//! without consent went anywhere; while the disk was full the gateway answered 503 problem+json
//! with Retry-After, never another 5xx; the database passes `PRAGMA integrity_check` and the
//! audit chain verifies. The counts are printed (`cargo test --test soak -- --nocapture`).
//!
//! Mounting needs root (CI runs as root): when the mount fails, the test fails and says why.
//! SQLite only: the disk that fills is the SQLite file's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::flaky_link::FlakyLink;
use common::gateway_process::GatewayProcess;
use common::partner_server::{point_partner_at, PartnerServer};
use common::*;
use sqlx::SqlitePool;
use wijkbrug_adapters::model::{Sector, Target};
use wijkbrug_adapters::Format;

/// How long referrals are sent; the faults happen inside this window (seconds from its start).
const STREAM: Duration = Duration::from_secs(60);
/// One referral every this long.
const TICK: Duration = Duration::from_millis(125);
const FIRST_KILL: u64 = 12;
const DISK_FULL: (u64, u64) = (22, 34);
const SECOND_KILL: u64 = 44;
/// The partner link: down this long, then up this long, over and over.
const LINK_DOWN: Duration = Duration::from_secs(2);
const LINK_UP: Duration = Duration::from_secs(4);
/// How long the client keeps retrying one referral, and the test waits for deliveries.
const PATIENCE: Duration = Duration::from_secs(60);
/// The small filesystem.
const FS_SIZE_MB: u64 = 48;
/// What the filler leaves free.
const LEFT_FREE: u64 = 16 * 1024;

const WITH_CONSENT: &str = "999900006";
const WITHOUT_CONSENT: &str = "999900043";

/// A tmpfs mounted with a size limit; unmounted on drop.
struct SmallFs {
    path: PathBuf,
}

impl SmallFs {
    fn mount(path: &Path) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={FS_SIZE_MB}m,mode=0700"),
            ])
            .arg("tmpfs")
            .arg(path)
            .output()
            .unwrap_or_else(|e| panic!("the soak test needs `mount` (util-linux): {e}"));
        assert!(
            out.status.success(),
            "the soak test mounts a {FS_SIZE_MB} MiB tmpfs for the gateway's data, which needs \
             root (CAP_SYS_ADMIN); the mount failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Self {
            path: path.to_owned(),
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the filesystem of `file` to within [`LEFT_FREE`] bytes, appending to `file` (so a
/// second call tops up what was freed since); returns the file's length.
fn fill(file: &Path) -> u64 {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap();
    for chunk in [1 << 20, 4096] {
        let buf = vec![0x5au8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
    let written = f.metadata().unwrap().len();
    let keep = written.saturating_sub(LEFT_FREE);
    f.set_len(keep).unwrap();
    keep
}

/// The length of the store's WAL (0 when there is none).
fn wal_len(data: &Path) -> u64 {
    std::fs::metadata(data.join("wijkbrug.db-wal")).map_or(0, |m| m.len())
}

/// Checkpoints the store's WAL and truncates it to nothing (as SQLite does when the last
/// connection closes); false when a reader held an old snapshot throughout. A WAL keeps its
/// size once grown and is written over from the start after each checkpoint, so commits go on
/// without taking new space until its high-water mark is used up.
async fn truncate_wal(data: &Path) -> bool {
    let db = SqlitePool::connect(&format!("sqlite://{}", data.join("wijkbrug.db").display()))
        .await
        .unwrap();
    let mut done = false;
    for _ in 0..50 {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&db)
            .await
            .unwrap();
        if busy == 0 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db.close().await;
    done
}

/// Fills the store's filesystem so that its next commits find no room: fills it, then
/// truncates the WAL and tops up the space the WAL held, until the WAL is empty once the
/// filesystem is full. A WAL that kept even a few commits' worth of pages would take the
/// gateway's writes (checkpoints start it again from the beginning every few dozen ms) and the
/// full disk would not show. Returns the filler's length.
async fn fill_the_disk(data: &Path, filler: &Path) -> u64 {
    let top_up = |filler: PathBuf| async move {
        tokio::task::spawn_blocking(move || fill(&filler))
            .await
            .unwrap()
    };
    let mut filled = top_up(filler.to_owned()).await;
    let mut wal = wal_len(data);
    for round in 0..100 {
        if wal == 0 {
            println!("soak: the disk was full with an empty WAL after {round} truncations");
            return filled;
        }
        if truncate_wal(data).await {
            filled = top_up(filler.to_owned()).await;
        }
        wal = wal_len(data);
    }
    panic!(
        "the store's WAL ({wal} bytes) grew again after each truncation before the filesystem \
         was full: the full disk cannot be made"
    );
}

/// What became of one referral the client sent.
#[derive(Debug, Clone)]
enum Outcome {
    /// A 2xx: the referral's id and the status it was stored with.
    Acknowledged { id: String, status: String },
    /// Gave up after [`PATIENCE`] (the last answer).
    GaveUp(String),
    /// Answered with something a partner's system cannot retry on (a bug).
    Failed(u16, String),
}

#[derive(Default, Debug)]
struct Tally {
    /// Requests made (first sends and retries).
    requests: u64,
    /// 503 / 429 answers, and how many came while the disk was full.
    refused: u64,
    refused_while_full: u64,
    /// When each refusal came (whole seconds into the stream).
    refused_at: Vec<u64>,
    /// Refusals that were not problem+json with a Retry-After.
    malformed_refusals: Vec<String>,
    /// Requests that got no answer (the gateway was down or died mid-request).
    unanswered: u64,
    /// 5xx answers other than 503.
    server_errors: Vec<String>,
}

struct Client {
    http: reqwest::Client,
    base: Mutex<String>,
    token: String,
    disk_full: AtomicBool,
    tally: Mutex<Tally>,
    started: tokio::time::Instant,
}

impl Client {
    /// Sends referral `i` until it is acknowledged (or [`PATIENCE`] runs out).
    async fn send(&self, i: usize, bsn: &str) -> Outcome {
        let csv = native(
            Format::EmploymentCsv,
            &request(
                "werkplein",
                &format!("SOAK-{i}"),
                bsn,
                Target::Sector(Sector::Welfare),
                false,
            ),
        );
        let give_up = Instant::now() + PATIENCE;
        let mut last = String::from("not sent");
        while Instant::now() < give_up {
            let base = self.base.lock().unwrap().clone();
            let full = self.disk_full.load(Ordering::SeqCst);
            self.tally.lock().unwrap().requests += 1;
            let sent = self
                .http
                .post(format!("{base}/v1/partners/werkplein/messages"))
                .bearer_auth(&self.token)
                .header("content-type", "text/csv")
                .header("idempotency-key", format!("soak-{i}"))
                .timeout(Duration::from_secs(15))
                .body(csv.clone())
                .send()
                .await;
            let res = match sent {
                Ok(res) => res,
                Err(e) => {
                    self.tally.lock().unwrap().unanswered += 1;
                    last = format!("no answer: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let status = res.status().as_u16();
            let content_type = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let retry_after = res
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = res.text().await.unwrap_or_default();
            match status {
                200..=299 => {
                    let v: serde_json::Value = match serde_json::from_str(&body) {
                        Ok(v) => v,
                        Err(e) => return Outcome::Failed(status, format!("{e}: {body}")),
                    };
                    let accepted = &v["accepted"][0];
                    return match (
                        accepted["referral_id"].as_str(),
                        accepted["status"].as_str(),
                    ) {
                        (Some(id), Some(s)) => Outcome::Acknowledged {
                            id: id.to_owned(),
                            status: s.to_owned(),
                        },
                        _ => Outcome::Failed(status, body),
                    };
                }
                429 | 503 => {
                    {
                        let mut t = self.tally.lock().unwrap();
                        t.refused += 1;
                        t.refused_at.push(self.started.elapsed().as_secs());
                        if full || self.disk_full.load(Ordering::SeqCst) {
                            t.refused_while_full += 1;
                        }
                        if content_type != "application/problem+json" || retry_after.is_none() {
                            t.malformed_refusals
                                .push(format!("{status} {content_type} {retry_after:?}"));
                        }
                    }
                    last = format!("{status}: {body}");
                    let wait = retry_after.unwrap_or(1).clamp(1, 10);
                    tokio::time::sleep(Duration::from_secs(wait)).await;
                }
                500..=599 => {
                    self.tally
                        .lock()
                        .unwrap()
                        .server_errors
                        .push(format!("{status}: {body}"));
                    last = format!("{status}: {body}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                _ => return Outcome::Failed(status, body),
            }
        }
        Outcome::GaveUp(last)
    }
}

/// The config dir: the demo network with wijkteam-centrum (the welfare sector's partner)
/// behind `link`, and attempts that fit the short lease (every partner's).
fn config(dir: &Path, link: &FlakyLink) -> PathBuf {
    let config = dir.join("config");
    copy_config_to(&config);
    point_partner_at(&config, "wijkteam-centrum", &link.url("inbox"));
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
    config
}

async fn start(config: PathBuf, data: PathBuf) -> GatewayProcess {
    tokio::task::spawn_blocking(move || {
        GatewayProcess::serve(
            &config,
            &[
                ("WIJKBRUG__STORE__DATA_DIR", data.display().to_string()),
                ("WIJKBRUG__DELIVERY__LEASE_SECS", "3".into()),
                ("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "50".into()),
                ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "100".into()),
                ("WIJKBRUG__DELIVERY__BACKOFF_MAX_SECS", "2".into()),
                ("WIJKBRUG__DELIVERY__CIRCUIT_COOLDOWN_SECS", "1".into()),
            ],
        )
    })
    .await
    .unwrap()
}

async fn restart(gateway: GatewayProcess, config: &Path, data: &Path) -> GatewayProcess {
    let mut gateway = gateway;
    tokio::task::spawn_blocking(move || gateway.kill())
        .await
        .unwrap();
    start(config.to_owned(), data.to_owned()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_survives_a_flapping_partner_two_kills_and_a_full_disk() {
    if db::sqlite_only("the disk that fills is the SQLite file's") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = SmallFs::mount(&dir.path().join("small"));
    let data = small.path.join("data");
    let filler = small.path.join("filler");

    let partner = PartnerServer::start().await;
    let link = Arc::new(FlakyLink::start(partner.addr).await);
    let config = config(dir.path(), &link);
    let mut gateway = start(config.clone(), data.clone()).await;
    let mut logs = vec![gateway.log.clone()];

    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        base: Mutex::new(gateway.base.clone()),
        token: demo_tokens()["werkplein"].clone(),
        disk_full: AtomicBool::new(false),
        tally: Mutex::new(Tally::default()),
        started: tokio::time::Instant::now(),
    });

    let started = client.started;
    let at = |secs: u64| started + Duration::from_secs(secs);

    // The stream: one referral per tick, each retried by a task of its own; every fourth is
    // about a resident without consent.
    let stream = {
        let client = Arc::clone(&client);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            let mut sends = tokio::task::JoinSet::new();
            let mut i = 0usize;
            while started.elapsed() < STREAM {
                tick.tick().await;
                let bsn = if i % 4 == 3 {
                    WITHOUT_CONSENT
                } else {
                    WITH_CONSENT
                };
                let client = Arc::clone(&client);
                sends.spawn(async move { (i, bsn, client.send(i, bsn).await) });
                i += 1;
            }
            let mut outcomes = BTreeMap::new();
            while let Some(done) = sends.join_next().await {
                let (i, bsn, outcome) = done.unwrap();
                outcomes.insert(i, (bsn, outcome));
            }
            outcomes
        })
    };

    // The partner's link flaps for as long as the stream runs.
    let flaps = {
        let link = Arc::clone(&link);
        tokio::spawn(async move {
            let mut cuts = 0u32;
            tokio::time::sleep(LINK_UP).await;
            while started.elapsed() < STREAM {
                link.cut();
                cuts += 1;
                tokio::time::sleep(LINK_DOWN).await;
                link.restore().await;
                tokio::time::sleep(LINK_UP).await;
            }
            cuts
        })
    };

    tokio::time::sleep_until(at(FIRST_KILL)).await;
    gateway = restart(gateway, &config, &data).await;
    logs.push(gateway.log.clone());
    *client.base.lock().unwrap() = gateway.base.clone();

    tokio::time::sleep_until(at(DISK_FULL.0)).await;
    let filled = fill_the_disk(&data, &filler).await;
    client.disk_full.store(true, Ordering::SeqCst);
    tokio::time::sleep_until(at(DISK_FULL.1)).await;
    std::fs::remove_file(&filler).unwrap();
    client.disk_full.store(false, Ordering::SeqCst);

    tokio::time::sleep_until(at(SECOND_KILL)).await;
    gateway = restart(gateway, &config, &data).await;
    logs.push(gateway.log.clone());
    *client.base.lock().unwrap() = gateway.base.clone();

    let outcomes = stream.await.unwrap();
    let cuts = flaps.await.unwrap();
    link.restore().await;

    let mut acknowledged: BTreeMap<String, &str> = BTreeMap::new();
    let mut gave_up = Vec::new();
    let mut failed = Vec::new();
    for (i, (bsn, outcome)) in &outcomes {
        match outcome {
            Outcome::Acknowledged { id, status } => {
                let expected = if *bsn == WITH_CONSENT {
                    "routed"
                } else {
                    "consent_missing"
                };
                assert_eq!(status, expected, "referral {i} ({id})");
                acknowledged.insert(id.clone(), bsn);
            }
            Outcome::GaveUp(last) => gave_up.push(format!("{i}: {last}")),
            Outcome::Failed(status, body) => failed.push(format!("{i}: {status} {body}")),
        }
    }
    let with_consent: BTreeSet<&String> = acknowledged
        .iter()
        .filter(|(_, bsn)| **bsn == WITH_CONSENT)
        .map(|(id, _)| id)
        .collect();
    let without_consent: BTreeSet<&String> = acknowledged
        .iter()
        .filter(|(_, bsn)| **bsn == WITHOUT_CONSENT)
        .map(|(id, _)| id)
        .collect();

    // Wait (bounded) for every acknowledged referral with consent to be delivered in the
    // store's view.
    let db = SqlitePool::connect(&format!("sqlite://{}", data.join("wijkbrug.db").display()))
        .await
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let delivered_rows = loop {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT referral_id, state FROM outbox WHERE kind = 'referral' ORDER BY id",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        let delivered: BTreeSet<&String> = rows
            .iter()
            .filter(|(_, s)| s == "delivered")
            .map(|(r, _)| r)
            .collect();
        if with_consent.iter().all(|id| delivered.contains(id)) || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (stored,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM referrals WHERE source_ref LIKE 'SOAK-%'")
            .fetch_one(&db)
            .await
            .unwrap();
    let consent_missing: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, status FROM referrals WHERE source_ref LIKE 'SOAK-%' AND receiver IS NULL",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    db.close().await;
    let status = gateway.terminate();
    assert!(status.success(), "the gateway's clean stop: {status}");

    // The wire, as the partner saw it.
    let wire = partner.received();
    let mut copies: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for r in &wire {
        let e = copies.entry(r.referral.clone()).or_default();
        e.0 += 1;
        e.1.insert(r.idempotency_key.clone());
    }
    let duplicates_on_wire: usize = copies.values().map(|(n, _)| n - 1).sum();
    let mut rows_per_referral: BTreeMap<&String, Vec<&String>> = BTreeMap::new();
    for (r, s) in &delivered_rows {
        rows_per_referral.entry(r).or_default().push(s);
    }
    let delivered_in_store = with_consent
        .iter()
        .filter(|id| {
            rows_per_referral
                .get(**id)
                .is_some_and(|rows| rows.len() == 1 && rows[0] == "delivered")
        })
        .count();
    let lost: Vec<&&String> = with_consent
        .iter()
        .filter(|id| {
            !copies.contains_key(**id)
                || !rows_per_referral
                    .get(**id)
                    .is_some_and(|rows| rows.iter().any(|s| *s == "delivered"))
        })
        .collect();

    let tally = std::mem::take(&mut *client.tally.lock().unwrap());
    let mut per_second: BTreeMap<u64, u32> = BTreeMap::new();
    for t in &tally.refused_at {
        *per_second.entry(*t).or_default() += 1;
    }
    println!("soak: refusals by second of the stream: {per_second:?}");
    for (n, log) in logs.iter().enumerate() {
        let log = log.lock().unwrap();
        let mut kinds: BTreeMap<String, u32> = BTreeMap::new();
        for line in log.lines() {
            // The message without its timestamp, colours and the ids in it.
            let mut plain = String::new();
            let mut escape = false;
            for c in line.chars() {
                match c {
                    '\u{1b}' => escape = true,
                    'm' if escape => escape = false,
                    _ if escape => {}
                    c => plain.push(c),
                }
            }
            let message: String = plain
                .split_whitespace()
                .skip(1)
                .filter(|w| !w.starts_with("referral=") && !w.starts_with("latency="))
                .collect::<Vec<_>>()
                .join(" ");
            *kinds.entry(message).or_default() += 1;
        }
        println!("soak: gateway run {n} logged: {kinds:#?}");
    }
    println!(
        "soak: sent {} referrals ({} with consent, {} without) in {} requests; acknowledged \
         (2xx) {}; refused (503/429, retried) {} ({} while the disk was full); unanswered \
         (gateway down) {}; delivered {} of {}; duplicates on the wire {}; lost {}; link cuts {}; \
         filler {} MiB",
        outcomes.len(),
        outcomes
            .values()
            .filter(|(b, _)| *b == WITH_CONSENT)
            .count(),
        outcomes
            .values()
            .filter(|(b, _)| *b == WITHOUT_CONSENT)
            .count(),
        tally.requests,
        acknowledged.len(),
        tally.refused,
        tally.refused_while_full,
        tally.unanswered,
        delivered_in_store,
        with_consent.len(),
        duplicates_on_wire,
        lost.len(),
        cuts,
        filled >> 20,
    );

    assert!(
        failed.is_empty(),
        "answers a client cannot retry on: {failed:?}"
    );
    assert!(gave_up.is_empty(), "never acknowledged: {gave_up:?}");
    assert!(
        tally.server_errors.is_empty(),
        "5xx other than 503: {:?}",
        tally.server_errors
    );
    assert!(
        tally.malformed_refusals.is_empty(),
        "refusals without problem+json and Retry-After: {:?}",
        tally.malformed_refusals
    );
    assert!(
        tally.refused_while_full > 0,
        "the full disk never showed: no 503 while it was full"
    );
    // The store told a full disk apart from other failures (StoreError::Full); the log is the
    // gateway's that ran while the disk was full.
    assert!(
        logs[1]
            .lock()
            .unwrap()
            .contains("store's disk is full or failing"),
        "the full disk was not reported as such"
    );
    // Once the disk has room again the gateway takes writes again, without a restart.
    let after_freed: Vec<&u64> = tally
        .refused_at
        .iter()
        .filter(|t| **t > DISK_FULL.1)
        .collect();
    assert!(
        after_freed.is_empty(),
        "refused after the disk was freed (seconds into the stream): {after_freed:?}"
    );
    assert!(cuts >= 5, "the link flapped {cuts} times");
    assert!(
        lost.is_empty(),
        "acknowledged but never delivered: {lost:?}"
    );
    // Exactly once in the store's view: one referral per reference, one delivered row each.
    assert_eq!(stored as usize, outcomes.len(), "referrals stored");
    assert_eq!(delivered_in_store, with_consent.len());
    // Copies on the wire carry one key per referral.
    for (referral, (_, keys)) in &copies {
        assert_eq!(
            keys.len(),
            1,
            "{referral} was sent with different keys: {keys:?}"
        );
    }
    // Nothing about a resident without consent went anywhere.
    for id in &without_consent {
        assert!(
            !copies.contains_key(*id),
            "{id} (no consent) reached the partner"
        );
        assert!(
            !rows_per_referral.contains_key(*id),
            "{id} (no consent) was queued"
        );
    }
    assert!(wire.iter().all(|r| !r.text().contains(WITHOUT_CONSENT)));
    assert_eq!(consent_missing.len(), without_consent.len());
    assert!(consent_missing.iter().all(|(_, s)| s == "consent_missing"));

    // No corruption: SQLite's own check, and the audit chain.
    let db = SqlitePool::connect(&format!("sqlite://{}", data.join("wijkbrug.db").display()))
        .await
        .unwrap();
    let (integrity,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    assert_eq!(integrity, "ok");
    let out = Command::new(env!("CARGO_BIN_EXE_wijkbrug"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .env_remove("WIJKBRUG_ENVIRONMENT")
        .env("WIJKBRUG__STORE__DATA_DIR", &data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("audit chain intact: "), "{stdout}");
    drop(small);
}
