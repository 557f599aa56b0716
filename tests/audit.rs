//! The audit log: every processing event is chained to the one before it, so `audit verify`
//! passes on a clean run and points at the exact event that was altered or deleted. Real
//! SQLite files in temporary directories, or with `WIJKBRUG_TEST_STORE=postgres` PostgreSQL
//! databases of the tests' own; the CLI is the real binary.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use common::db::{TestDb, TestStore};
use common::store_fixtures::{at, new_id, now, partner, request, routed_referral, step};
use uuid::Uuid;
use wijkbrug::audit::{verify, AuditAction, AuditEvent};
use wijkbrug::store::{
    ConsentId, Intake, NewReferral, OutboxItem, OutboxKind, Store, TransitionOutcome,
};
use wijkbrug_adapters::model::{
    Actor, Bsn, Consent, ConsentEffect, DataCategory, ExternalRef, Grantee, Purpose, Referral,
    ReferralId, ReferralStatus, StatusHistory,
};

const SENDER: &str = "woonstad-noord";
const RECEIVER: &str = "wijkteam-noord";
const LEASE: Duration = Duration::from_secs(60);
/// Personal values of the test data that must never appear in an event.
const PERSONAL: &[&str] = &[
    "999900006",
    "999900018",
    "999900043",
    "Anna",
    "Berg",
    "Berkhout",
    "Lindelaan",
    "1234AB",
    "06-12345678",
];

fn consent(bsn: &str) -> Consent {
    Consent {
        resident: Bsn::parse(bsn).unwrap(),
        grantee: Grantee::Partner(partner(RECEIVER)),
        purpose: Purpose::Referral,
        effect: ConsentEffect::Permit,
        categories: [DataCategory::Identity, DataCategory::Needs]
            .into_iter()
            .collect(),
        valid_from: at(0),
        valid_until: None,
        recorded_by: partner(SENDER),
        evidence: Some(ExternalRef::parse("FORM-2026-17").unwrap()),
        revoked_at: None,
    }
}

/// A routed referral with consent, its minimised copy queued for the receiver.
fn routed(reference: &str) -> NewReferral {
    let id = new_id();
    routed_referral(
        id,
        request(reference),
        RECEIVER,
        Some(ConsentId(Uuid::now_v7())),
    )
}

/// A referral refused for want of consent: the sender is told, nothing is shared.
fn refused(reference: &str) -> NewReferral {
    let id = new_id();
    let mut history = StatusHistory::received(at(0), Actor::Gateway);
    let mut missing = step(ReferralStatus::ConsentMissing, at(1), Actor::Gateway);
    missing.reason_code = Some("no_consent".to_owned());
    history.apply(missing).unwrap();
    NewReferral {
        referral: Referral {
            id,
            request: request(reference),
            history,
        },
        shared: None,
        outbox: vec![OutboxItem {
            referral: id,
            recipient: partner(SENDER),
            kind: OutboxKind::Status { transition: 1 },
        }],
        consents: vec![],
    }
}

async fn open(db: &TestDb) -> TestStore {
    db.open().await
}

async fn intake(store: &TestStore, referrals: Vec<NewReferral>) -> Vec<ReferralId> {
    let ids = referrals.iter().map(|r| r.referral.id).collect();
    store
        .intake(Intake {
            sender: partner(SENDER),
            idempotency_key: None,
            referrals,
        })
        .await
        .unwrap();
    ids
}

/// The single pending row of `id`, claimed by `worker`.
async fn claim(store: &TestStore, worker: &str, id: ReferralId) -> i64 {
    let leases = store
        .claim_due(
            worker,
            &[partner(RECEIVER), partner(SENDER)],
            now(),
            LEASE,
            100,
        )
        .await
        .unwrap();
    leases
        .iter()
        .find(|l| l.item.referral == id)
        .map(|l| l.row)
        .expect("a due row for the referral")
}

async fn all_events(store: &dyn Store) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &AuditEvent| e.seq);
        // Small pages, so paging is exercised.
        let page = store.audit_events(after, 3).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

fn assert_nothing_personal(events: &[AuditEvent]) {
    for e in events {
        let text = String::from_utf8(e.canonical()).unwrap();
        for value in PERSONAL {
            assert!(
                !text.contains(value),
                "event {} ({}) carries personal data: {text}",
                e.seq,
                e.action
            );
        }
    }
}

/// A run through every kind of processing the store does: intake (permitted and refused, with
/// a consent in the message), a consent recorded, deliveries that succeed, are retried, fail
/// for good and are cancelled, the mailbox, operations' retry and discard, a status change
/// by the receiver and a read.
async fn a_full_run(store: &TestStore) {
    let mut with_consent = routed("A-1");
    with_consent.consents = vec![(ConsentId(Uuid::now_v7()), consent("999900006"))];
    let ids = intake(store, vec![with_consent, refused("A-2")]).await;
    let (delivered, _refused) = (ids[0], ids[1]);
    store
        .insert_consent(ConsentId(Uuid::now_v7()), &consent("999900018"))
        .await
        .unwrap();

    // Delivered by the push worker, then accepted by the receiver, then read by the sender.
    let row = claim(store, "w1", delivered).await;
    assert!(store.complete(row, "w1", now()).await.unwrap());
    let accepted = step(
        ReferralStatus::Accepted,
        now(),
        Actor::Partner(partner(RECEIVER)),
    );
    assert!(matches!(
        store
            .apply_transition(delivered, accepted, vec![])
            .await
            .unwrap(),
        TransitionOutcome::Applied(_)
    ));
    store
        .record_read(&partner(SENDER), delivered)
        .await
        .unwrap();

    // Retried, dead, retried by operations, dead again, discarded.
    let failing = intake(store, vec![routed("A-3")]).await[0];
    let row = claim(store, "w1", failing).await;
    assert!(store
        .retry_later(
            row,
            "w1",
            now(),
            "HTTP 503 Service Unavailable: Anna van den Berg"
        )
        .await
        .unwrap());
    let row = claim(store, "w1", failing).await;
    assert!(store
        .dead_letter(row, "w1", "HTTP 400 Bad Request", now(), vec![])
        .await
        .unwrap());
    assert!(store
        .retry_dead_letter(row, "ops-anna", now())
        .await
        .unwrap());
    let row = claim(store, "w1", failing).await;
    assert!(store
        .dead_letter(row, "w1", "timed out after 10s", now(), vec![])
        .await
        .unwrap());
    assert!(store
        .discard_dead_letter(row, "ops-anna", now())
        .await
        .unwrap());

    // Cancelled (consent revoked before delivery).
    let cancelled = intake(store, vec![routed("A-4")]).await[0];
    let row = claim(store, "w1", cancelled).await;
    let mut missing = step(ReferralStatus::ConsentMissing, now(), Actor::Gateway);
    missing.reason_code = Some("consent_revoked".to_owned());
    assert!(store
        .cancel_delivery(row, "w1", missing, vec![])
        .await
        .unwrap());

    // Pulled from the mailbox and acknowledged.
    let pulled = intake(store, vec![routed("A-5")]).await[0];
    let offered = store
        .mailbox_offer(&partner(RECEIVER), None, now(), LEASE, 10)
        .await
        .unwrap();
    let row = offered
        .iter()
        .find(|l| l.item.referral == pulled)
        .unwrap()
        .row;
    assert!(store
        .mailbox_ack(&partner(RECEIVER), row, now())
        .await
        .unwrap());
}

#[tokio::test]
async fn a_clean_run_records_every_kind_of_event_and_the_chain_verifies() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    a_full_run(&store).await;
    let events = all_events(&*store).await;

    assert_eq!(verify(&events), Ok(events.len() as u64));
    assert_eq!(events[0].seq, 1);
    let kinds: HashSet<AuditAction> = events.iter().map(|e| e.action).collect();
    for kind in AuditAction::ALL {
        // Revocation, retention and processing-log reads have their own tests.
        if !matches!(
            kind,
            AuditAction::ConsentRevoked
                | AuditAction::PayloadErased
                | AuditAction::ProcessingLogRead
                | AuditAction::AccessRefused
        ) {
            assert!(kinds.contains(&kind), "no {kind} event");
        }
    }
    let results: HashSet<(&str, Option<&str>)> = events
        .iter()
        .filter(|e| e.action == AuditAction::DeliveryAttempt)
        .map(|e| {
            (
                e.detail["result"].as_str(),
                e.detail.get("http_status").map(String::as_str),
            )
        })
        .collect();
    for expected in [
        ("delivered", None),
        ("retry", Some("503")),
        ("dead", Some("400")),
        ("dead", None),
        ("cancelled", None),
    ] {
        assert!(
            results.contains(&expected),
            "no delivery attempt {expected:?}"
        );
    }
    let decisions: Vec<&str> = events
        .iter()
        .filter(|e| e.action == AuditAction::ConsentDecision)
        .map(|e| e.detail["decision"].as_str())
        .collect();
    assert!(decisions.contains(&"permit") && decisions.contains(&"refuse"));
    let ops: HashSet<&str> = events
        .iter()
        .filter(|e| e.action == AuditAction::OpsAction)
        .map(|e| e.detail["op"].as_str())
        .collect();
    assert_eq!(ops, HashSet::from(["retry", "discard"]));
    let read = events
        .iter()
        .find(|e| e.action == AuditAction::ReferralRead)
        .unwrap();
    assert_eq!(read.partner, Some(partner(SENDER)));

    // The resident is a pseudonym, the same one on every event about them.
    let residents: HashSet<_> = events
        .iter()
        .filter_map(|e| e.resident.as_ref().map(|r| r.as_str().to_owned()))
        .collect();
    assert_eq!(residents.len(), 2, "the fixture's resident and 999900018");
    assert_nothing_personal(&events);
    // Each resident's processing log holds every event that carries them.
    let (residents, checked) =
        common::processing_logs::assert_every_event_of_a_resident_is_in_their_log(&*store, &events)
            .await;
    assert_eq!(residents, 2);
    assert!(checked >= 10, "{checked}");
    store.close().await;
}

#[tokio::test]
async fn a_failed_write_leaves_no_hole_in_the_chain() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let id = ConsentId(Uuid::now_v7());
    store
        .insert_consent(id, &consent("999900043"))
        .await
        .unwrap();
    // The same id again: refused, and its event rolled back with it.
    assert!(store
        .insert_consent(id, &consent("999900043"))
        .await
        .is_err());
    let referral = intake(&store, vec![routed("B-1")]).await[0];
    store
        .record_read(&partner(RECEIVER), referral)
        .await
        .unwrap();
    let events = all_events(&*store).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == AuditAction::ConsentRecorded)
            .count(),
        1
    );
    store.close().await;

    // A reopened store continues the chain where it ended.
    let store = open(&db).await;
    store
        .record_read(&partner(RECEIVER), referral)
        .await
        .unwrap();
    let events = all_events(&*store).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    store.close().await;
}

/// A finished run's database, closed; its event count.
async fn finished_run(db: &TestDb) -> u64 {
    let store = open(db).await;
    a_full_run(&store).await;
    let n = all_events(&*store).await.len() as u64;
    store.close().await;
    n
}

async fn raw(db: &TestDb, sql: &str, seq: i64) {
    let raw = db.raw().await;
    assert_eq!(raw.execute(sql, &[seq.into()]).await, 1);
    raw.close().await;
}

async fn verify_stored(db: &TestDb) -> Result<u64, wijkbrug::audit::BrokenLink> {
    let store = open(db).await;
    let events = all_events(&*store).await;
    store.close().await;
    verify(&events)
}

#[tokio::test]
async fn an_altered_event_is_caught_at_its_seq() {
    let db = TestDb::new().await;
    let n = finished_run(&db).await;
    assert!(n > 10);
    // Rewrite history: the retry was "delivered" after all.
    let tampered = find_seq(&db, "\"retry\"").await;
    raw(
        &db,
        "UPDATE audit_events SET detail = replace(detail, '\"retry\"', '\"delivered\"') \
         WHERE seq = ?",
        tampered,
    )
    .await;
    let broken = verify_stored(&db).await.unwrap_err();
    assert_eq!(broken.seq, tampered as u64);
    assert!(broken.why.contains("altered"), "{}", broken.why);
}

/// The seq of the first event whose stored detail contains `text`.
async fn find_seq(db: &TestDb, text: &str) -> i64 {
    let raw = db.raw().await;
    let seqs: Vec<(i64,)> = raw
        .fetch_all(
            "SELECT seq FROM audit_events WHERE detail LIKE '%' || ? || '%' ORDER BY seq",
            &[text.into()],
        )
        .await;
    raw.close().await;
    seqs[0].0
}

#[tokio::test]
async fn a_deleted_event_is_caught_at_its_seq() {
    let db = TestDb::new().await;
    finished_run(&db).await;
    raw(&db, "DELETE FROM audit_events WHERE seq = ?", 5).await;
    let broken = verify_stored(&db).await.unwrap_err();
    assert_eq!(broken.seq, 5);
    assert!(broken.why.contains("missing"), "{}", broken.why);
}

#[tokio::test]
async fn an_overwritten_hash_is_caught_at_its_event() {
    let db = TestDb::new().await;
    finished_run(&db).await;
    // (Whoever also recomputes the hash breaks the next link instead: see src/audit.rs.)
    // SQLite keeps the hash as hex text, PostgreSQL as bytes.
    let overwrite = if db.is_postgres() {
        "UPDATE audit_events SET hash = set_byte(hash, 0, get_byte(hash, 0) # 255) WHERE seq = ?"
    } else {
        "UPDATE audit_events SET hash = '00' || substr(hash, 3) WHERE seq = ?"
    };
    raw(&db, overwrite, 7).await;
    let broken = verify_stored(&db).await.unwrap_err();
    assert_eq!(broken.seq, 7, "its own hash no longer matches");
}

fn config_dir(db: &TestDb) -> std::path::PathBuf {
    let config = db.dir.path().join("config");
    common::copy_config_to(&config);
    config
}

fn audit_verify(config: &Path, db: &TestDb) -> std::process::Output {
    audit_verify_on(config, &db.url(), &db.data_dir(), &[])
}

fn audit_verify_anchored(config: &Path, db: &TestDb, anchors: &[&str]) -> std::process::Output {
    audit_verify_on(config, &db.url(), &db.data_dir(), anchors)
}

fn audit_verify_on(
    config: &Path,
    url: &str,
    data_dir: &Path,
    anchors: &[&str],
) -> std::process::Output {
    Command::cargo_bin("wijkbrug")
        .unwrap()
        .args(["audit", "verify", "--config"])
        .arg(config)
        .args(anchors.iter().flat_map(|a| ["--anchor", a]))
        .env_remove("WIJKBRUG_ENVIRONMENT")
        .env("WIJKBRUG__STORE__DATA_DIR", data_dir)
        .env("WIJKBRUG__STORE__URL", url)
        .output()
        .unwrap()
}

#[tokio::test]
async fn audit_verify_passes_a_clean_store_and_names_the_tampered_event() {
    let db = TestDb::new().await;
    let config = config_dir(&db);
    let n = finished_run(&db).await;

    let out = audit_verify(&config, &db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("audit chain intact: {n} events").as_str())
    );
    let head = lines
        .next()
        .unwrap()
        .strip_prefix("head: ")
        .unwrap()
        .to_owned();
    assert!(head.starts_with(&format!("{n}:")), "{head}");

    raw(
        &db,
        "UPDATE audit_events SET detail = replace(detail, 'ops-anna', 'someone-else') \
         WHERE seq = ?",
        find_seq(&db, "ops-anna").await,
    )
    .await;
    let tampered = find_seq(&db, "someone-else").await;
    let out = audit_verify(&config, &db);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!("audit chain broken at event {tampered}: ")),
        "{stdout}"
    );
}

#[tokio::test]
async fn an_anchored_head_catches_removed_newest_events_and_a_rewritten_chain() {
    let db = TestDb::new().await;
    let config = config_dir(&db);
    let n = finished_run(&db).await;
    let out = audit_verify(&config, &db);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let head = stdout
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("head: ")
        .unwrap()
        .to_owned();
    let middle = {
        let store = open(&db).await;
        let e = store.audit_events(2, 1).await.unwrap().remove(0);
        store.close().await;
        format!("{}:{}", e.seq, hex::encode(e.hash))
    };
    assert_eq!(
        audit_verify_anchored(&config, &db, &[&middle, &head])
            .status
            .code(),
        Some(0)
    );
    for bad in ["3", "0:00", "x:y", &format!("3:{}", "g".repeat(64))] {
        let out = audit_verify_anchored(&config, &db, &[bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
    }

    // Deleting the newest event leaves a valid chain, but not the anchored head.
    raw(&db, "DELETE FROM audit_events WHERE seq = ?", n as i64).await;
    assert_eq!(audit_verify(&config, &db).status.code(), Some(0));
    let out = audit_verify_anchored(&config, &db, &[&head]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "audit chain broken at event {n}: the chain ends at event {}",
            n - 1
        )),
        "{stdout}"
    );
    // An anchor with another hash: the chain was rewritten.
    let other = format!("3:{}", "ab".repeat(32));
    let out = audit_verify_anchored(&config, &db, &[&other]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("rewritten"), "{stdout}");
}

#[tokio::test]
async fn audit_verify_refuses_a_folder_without_a_database() {
    let db = TestDb::new().await;
    let config = config_dir(&db);
    let nowhere = db.dir.path().join("nowhere");
    let url = if db.is_postgres() {
        // A database that was never created: refused, not created.
        format!("{}/{}missing", common::db::pg_server(), common::db::PREFIX)
    } else {
        db.url()
    };
    let out = audit_verify_on(&config, &url, &nowhere, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!nowhere.join("wijkbrug.db").exists());
}

#[tokio::test]
async fn the_gateway_audits_intake_and_reads_without_personal_data() {
    let app = common::TestApp::spawn().await;
    let signal = common::rent_arrears_signal();
    let res = app
        .post_message("woonstad-noord", "application/json", signal)
        .await;
    assert_eq!(res.status(), 202);
    let v: serde_json::Value = res.json().await.unwrap();
    let id = v["accepted"][0]["referral_id"].as_str().unwrap().to_owned();
    let res = app.get_referral("wijkteam-centrum", &id).await;
    assert_eq!(res.status(), 200);

    let store = app.running.state.store.clone();
    let events = all_events(store.as_ref()).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    let about: Vec<_> = events
        .iter()
        .filter(|e| e.referral.map(|r| r.to_string()) == Some(id.clone()))
        .map(|e| e.action)
        .collect();
    for kind in [
        AuditAction::MessageReceived,
        AuditAction::ConsentDecision,
        AuditAction::Minimised,
        AuditAction::ReferralRead,
    ] {
        assert!(about.contains(&kind), "no {kind} for the referral");
    }
    assert_nothing_personal(&events);
    app.stop().await;
}
