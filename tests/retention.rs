//! Retention: the payloads of referrals that are done are erased after the configured period,
//! their metadata and the audit chain stay, the erasure is audited, and the space is given back.
//! Real SQLite files in temporary directories, or with `WIJKBRUG_TEST_STORE=postgres`
//! PostgreSQL databases of the tests' own; what is about SQLite's file (incremental vacuum,
//! pages) runs on SQLite only (PostgreSQL's VACUUM: tests/store_postgres.rs).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::db::{Raw, TestDb, TestStore};
use sqlx::{Connection, SqliteConnection};
use uuid::Uuid;
use wijkbrug::audit::{verify, AuditAction, AuditEvent};
use wijkbrug::config::RetentionSettings;
use wijkbrug::retention::{self, RetentionWorker};
use wijkbrug::store::{
    ConsentId, Intake, NewReferral, OutboxItem, OutboxKind, SharedCopy, Store, TransitionOutcome,
};
use wijkbrug_adapters::case_json;
use wijkbrug_adapters::model::{
    Actor, CategorySet, DataCategory, ExternalRef, PartnerId, ReasonText, Referral, ReferralId,
    ReferralRequest, ReferralStatus, StatusHistory, Transition,
};

const SENDER: &str = "woonstad-noord";
const RECEIVER: &str = "wijkteam-noord";
/// Personal values of the test data: none may be left where a payload was erased.
const PERSONAL: &[&str] = &[
    "999900006",
    "Anna",
    "Berg",
    "Lindelaan",
    "1234AB",
    "Huurachterstand",
    "moved in with her sister",
];

fn partner(id: &str) -> PartnerId {
    PartnerId::parse(id).unwrap()
}

fn new_id() -> ReferralId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&n.to_be_bytes());
    ReferralId::from_parts(1_760_000_000_000 + n, random)
}

/// A time a year before the tests run: old enough for any cut-off the tests use.
fn long_ago(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 0, second).unwrap()
}

fn request(reference: &str, note_len: usize) -> ReferralRequest {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/referral.case.json")).unwrap();
    doc["id"] = serde_json::Value::String(new_id().to_string());
    if note_len > 0 {
        let note = "Huurachterstand ".repeat(note_len / 16 + 1);
        doc["needs"][0]["note"] = serde_json::Value::String(note[..note_len].trim().to_owned());
    }
    let (_, mut request) = case_json::decode_request(doc.to_string().as_bytes()).unwrap();
    request.source.reference = ExternalRef::parse(reference).unwrap();
    request
}

fn step(to: ReferralStatus, at: DateTime<Utc>, by: Actor) -> Transition {
    Transition {
        to,
        at,
        by,
        reason: None,
        reason_code: None,
    }
}

/// A routed referral with its shared copy (notes included) and the delivery to the receiver.
fn routed(reference: &str, note_len: usize) -> NewReferral {
    let id = new_id();
    let request = request(reference, note_len);
    let mut history = StatusHistory::received(long_ago(0), Actor::Gateway);
    history
        .apply(step(ReferralStatus::Routed, long_ago(1), Actor::Gateway))
        .unwrap();
    let allowed: CategorySet = [
        DataCategory::Identity,
        DataCategory::Needs,
        DataCategory::Notes,
    ]
    .into_iter()
    .collect();
    let (minimised, removed) = request.minimise(allowed);
    NewReferral {
        referral: Referral {
            id,
            request,
            history,
        },
        shared: Some(SharedCopy {
            receiver: partner(RECEIVER),
            request: minimised,
            categories: allowed,
            removed,
            consent: Some(ConsentId(Uuid::now_v7())),
        }),
        outbox: vec![OutboxItem {
            referral: id,
            recipient: partner(RECEIVER),
            kind: OutboxKind::Referral,
        }],
        consents: vec![],
    }
}

/// A referral that found no consent, with a reason text.
fn consent_missing(reference: &str) -> NewReferral {
    let mut history = StatusHistory::received(long_ago(0), Actor::Gateway);
    let mut missing = step(ReferralStatus::ConsentMissing, long_ago(1), Actor::Gateway);
    missing.reason = Some(ReasonText::parse("no consent for the welfare sector").unwrap());
    missing.reason_code = Some("consent-missing".to_owned());
    history.apply(missing).unwrap();
    NewReferral {
        referral: Referral {
            id: new_id(),
            request: request(reference, 0),
            history,
        },
        shared: None,
        outbox: vec![],
        consents: vec![],
    }
}

async fn open(db: &TestDb) -> TestStore {
    db.open().await
}

/// A raw connection to the SQLite file (for its pragmas).
async fn sqlite_file(db: &TestDb) -> SqliteConnection {
    let url = format!("sqlite://{}", db.data_dir().join("wijkbrug.db").display());
    SqliteConnection::connect(&url).await.unwrap()
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

async fn apply(store: &TestStore, id: ReferralId, t: Transition) {
    let outcome = store.apply_transition(id, t, vec![]).await.unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Applied(_)),
        "{outcome:?}"
    );
}

/// Cancelled by the sender at `at`, with a reason text that names the resident, and a status
/// notice to the receiver queued with it.
async fn cancel(store: &TestStore, id: ReferralId, at: DateTime<Utc>) {
    let mut t = step(
        ReferralStatus::Cancelled,
        at,
        Actor::Partner(partner(SENDER)),
    );
    t.reason = Some(ReasonText::parse("Anna van den Berg moved in with her sister").unwrap());
    t.reason_code = Some("resident-moved".to_owned());
    let notice = OutboxItem {
        referral: id,
        recipient: partner(RECEIVER),
        kind: OutboxKind::Status { transition: 0 },
    };
    let outcome = store.apply_transition(id, t, vec![notice]).await.unwrap();
    assert!(
        matches!(outcome, TransitionOutcome::Applied(_)),
        "{outcome:?}"
    );
}

/// Delivered, accepted, in progress and completed by the receiver, long ago.
async fn complete(store: &TestStore, id: ReferralId) {
    let by = || Actor::Partner(partner(RECEIVER));
    apply(
        store,
        id,
        step(ReferralStatus::Delivered, long_ago(2), Actor::Gateway),
    )
    .await;
    apply(store, id, step(ReferralStatus::Accepted, long_ago(3), by())).await;
    apply(
        store,
        id,
        step(ReferralStatus::InProgress, long_ago(4), by()),
    )
    .await;
    apply(
        store,
        id,
        step(ReferralStatus::Completed, long_ago(5), by()),
    )
    .await;
}

async fn all_events(store: &dyn Store) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &AuditEvent| e.seq);
        let page = store.audit_events(after, 100).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

async fn pragma(conn: &mut SqliteConnection, name: &str) -> i64 {
    let (value,): (i64,) = sqlx::query_as(&format!("PRAGMA {name}"))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    value
}

/// Everything stored about a referral outside the audit log, as one text.
async fn stored_text(raw: &Raw, id: ReferralId) -> String {
    let (referral,): (String,) = raw
        .fetch_one(
            "SELECT CAST(id AS TEXT) || '|' || sender || '|' || source_ref || '|' \
             || COALESCE(receiver, '') || '|' || status || '|' || request || '|' \
             || COALESCE(shared, '') || '|' || COALESCE(shared_categories, '') || '|' \
             || COALESCE(CAST(consent_id AS TEXT), '') \
             FROM referrals WHERE CAST(id AS TEXT) = ?",
            &[id.to_string().into()],
        )
        .await;
    let transitions: Vec<(String,)> = raw
        .fetch_all(
            "SELECT status || '|' || actor || '|' || COALESCE(reason, '') || '|' \
             || COALESCE(reason_code, '') FROM status_transitions \
             WHERE CAST(referral_id AS TEXT) = ? ORDER BY seq",
            &[id.to_string().into()],
        )
        .await;
    let transitions: Vec<String> = transitions.into_iter().map(|(t,)| t).collect();
    format!("{referral}\n{}", transitions.join(";"))
}

#[tokio::test]
async fn old_done_referrals_lose_their_payload_and_keep_their_metadata() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let ids = intake(
        &store,
        vec![
            routed("R-CANCELLED", 0),
            routed("R-COMPLETED", 0),
            consent_missing("R-MISSING"),
            routed("R-OPEN", 0),
            routed("R-RECENT", 0),
        ],
    )
    .await;
    let [cancelled, completed, missing, open_one, recent] = ids[..] else {
        unreachable!()
    };
    cancel(&store, cancelled, long_ago(2)).await;
    complete(&store, completed).await;
    let now = wijkbrug::store::now();
    cancel(&store, recent, now).await;
    let before = store.referral(cancelled).await.unwrap().unwrap();

    let erased = store.erase_payloads(long_ago(30), now, 500).await.unwrap();

    assert_eq!(erased, 3);
    for id in [cancelled, completed, missing] {
        assert_eq!(
            store.referral(id).await.unwrap(),
            None,
            "erased {id} reads as none"
        );
        let meta = store.referral_meta(id).await.unwrap().unwrap();
        assert_eq!(meta.erased_at, Some(now));
        assert_eq!(meta.sender, partner(SENDER));
    }
    let meta = store.referral_meta(cancelled).await.unwrap().unwrap();
    assert_eq!(meta.status, ReferralStatus::Cancelled);
    assert_eq!(meta.receiver, Some(partner(RECEIVER)));
    assert_eq!(meta.received_at, before.received_at);
    assert_eq!(meta.updated_at, long_ago(2));
    for id in [open_one, recent] {
        assert!(store.referral(id).await.unwrap().is_some(), "kept {id}");
        let meta = store.referral_meta(id).await.unwrap().unwrap();
        assert_eq!(meta.erased_at, None);
    }

    let raw = db.raw().await;
    for id in [cancelled, completed, missing] {
        let text = stored_text(&raw, id).await;
        for value in PERSONAL {
            assert!(!text.contains(value), "{value:?} left for {id}: {text}");
        }
        let (request, shared): (String, Option<String>) = raw
            .fetch_one(
                "SELECT request, shared FROM referrals WHERE CAST(id AS TEXT) = ?",
                &[id.to_string().into()],
            )
            .await;
        assert_eq!(request, "");
        assert!(shared.as_deref().is_none_or(str::is_empty));
    }
    // The history keeps its statuses, actors and reason codes.
    let text = stored_text(&raw, cancelled).await;
    assert!(
        text.contains("cancelled|partner:woonstad-noord||resident-moved"),
        "{text}"
    );
    let text = stored_text(&raw, missing).await;
    assert!(
        text.contains("consent_missing|gateway||consent-missing"),
        "{text}"
    );
    // The recent one keeps everything, its reason text included.
    let text = stored_text(&raw, recent).await;
    assert!(text.contains("999900006") && text.contains("moved in with her sister"));

    // Nothing is left to deliver for an erased referral; its rows stay.
    let rows: Vec<(String, String)> = raw
        .fetch_all(
            "SELECT CAST(referral_id AS TEXT), state FROM outbox ORDER BY id",
            &[],
        )
        .await;
    for (referral, state) in &rows {
        let erased = [cancelled, completed, missing]
            .iter()
            .any(|id| id.to_string() == *referral);
        if erased {
            assert_ne!(
                state, "pending",
                "a pending row of erased referral {referral}"
            );
        }
    }
    assert!(rows
        .iter()
        .any(|(r, s)| *r == cancelled.to_string() && s == "cancelled"));
    assert!(rows
        .iter()
        .any(|(r, s)| *r == recent.to_string() && s == "pending"));

    // A second run finds nothing more.
    assert_eq!(
        store.erase_payloads(long_ago(30), now, 500).await.unwrap(),
        0
    );
    store.close().await;
}

#[tokio::test]
async fn erasure_is_audited_once_per_referral_and_the_chain_still_verifies() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let ids = intake(
        &store,
        vec![
            routed("A-1", 0),
            routed("A-2", 0),
            consent_missing("A-3"),
            routed("A-4", 0),
        ],
    )
    .await;
    cancel(&store, ids[0], long_ago(2)).await;
    complete(&store, ids[1]).await;
    let now = wijkbrug::store::now();
    let before = all_events(&*store).await.len();

    // Small batches: every batch is its own transaction and its own audit events.
    let mut erased = 0;
    loop {
        let n = store.erase_payloads(long_ago(30), now, 2).await.unwrap();
        erased += n;
        if n < 2 {
            break;
        }
    }
    assert_eq!(erased, 3);

    let events = all_events(&*store).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    let erasures: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.action == AuditAction::PayloadErased)
        .collect();
    assert_eq!(erasures.len(), 3);
    assert_eq!(events.len(), before + 3);
    let named: HashSet<ReferralId> = erasures.iter().filter_map(|e| e.referral).collect();
    assert_eq!(named, HashSet::from([ids[0], ids[1], ids[2]]));
    for e in &erasures {
        assert_eq!(e.at, now);
        assert_eq!(e.partner, Some(partner(SENDER)));
        // The resident's pseudonym, so the erasure is in their processing log.
        assert!(e.resident.is_some());
        let text = String::from_utf8(e.canonical()).unwrap();
        for value in PERSONAL {
            assert!(!text.contains(value), "{value:?} in {text}");
        }
    }
    let cancelled = erasures
        .iter()
        .find(|e| e.referral == Some(ids[0]))
        .unwrap();
    assert_eq!(cancelled.detail["status"], "cancelled");
    assert_eq!(cancelled.detail["reasons_erased"], "1");
    // The referral's own delivery and the notice of its cancellation were still queued.
    assert_eq!(cancelled.detail["cancelled_deliveries"], "2");
    store.close().await;
}

#[tokio::test]
async fn erasing_many_large_referrals_gives_the_space_back() {
    if common::db::sqlite_only("the file's pages and freelist") {
        return;
    }
    let db = TestDb::new().await;
    let store = open(&db).await;
    let mut conn = sqlite_file(&db).await;
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 2, "INCREMENTAL");

    let referrals = (0..120)
        .map(|i| routed(&format!("BIG-{i}"), 3_900))
        .collect();
    let ids = intake(&store, referrals).await;
    for id in &ids {
        cancel(&store, *id, long_ago(2)).await;
    }
    let pages_full = pragma(&mut conn, "page_count").await;

    // 40 days after the last change, with a 30-day period: all of them go.
    let now = long_ago(0) + chrono::Duration::days(40);
    let erased = store
        .erase_payloads(retention::cutoff(now, 30), now, 500)
        .await
        .unwrap();
    assert_eq!(erased, 120);
    let free = pragma(&mut conn, "freelist_count").await;
    assert!(free > 0, "erasing freed no pages");

    let reclaimed = store.reclaim_space().await.unwrap();

    assert_eq!(reclaimed, u64::try_from(free).unwrap());
    assert_eq!(pragma(&mut conn, "freelist_count").await, 0);
    let pages_after = pragma(&mut conn, "page_count").await;
    assert!(
        pages_after + free <= pages_full,
        "{pages_after} pages after, {pages_full} before, {free} were free"
    );
    store.close().await;
}

#[tokio::test]
async fn a_run_erases_in_batches_until_none_are_left_and_vacuums() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let referrals = (0..(retention::BATCH + 3))
        .map(|i| consent_missing(&format!("M-{i}")))
        .collect();
    let ids = intake(&store, referrals).await;
    let mut kept = intake(&store, vec![routed("OPEN", 0)]).await;
    let now = long_ago(0) + chrono::Duration::days(31);

    // 30 days: everything done is past it.
    let run = retention::run_once(&*store, 30, now).await.unwrap();

    assert_eq!(run.erased, ids.len() as u64);
    assert!(store.referral(ids[0]).await.unwrap().is_none());
    assert!(store.referral(kept.remove(0)).await.unwrap().is_some());
    if !db.is_postgres() {
        let mut conn = sqlite_file(&db).await;
        assert_eq!(pragma(&mut conn, "freelist_count").await, 0);
    }
    // 31 days is not past a 60-day period: a later run with it erases nothing new.
    assert_eq!(
        retention::run_once(&*store, 60, now).await.unwrap().erased,
        0
    );
    store.close().await;
}

#[tokio::test]
async fn the_background_job_erases_at_its_first_run_and_stops() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let ids = intake(&store, vec![consent_missing("JOB-1")]).await;
    let worker = RetentionWorker::spawn(
        store.shared(),
        RetentionSettings {
            payload_days: 1,
            interval: Duration::from_secs(3600),
        },
    );
    // The first run starts at once; wait for it (bounded), without asserting on timing.
    let mut erased = false;
    for _ in 0..200 {
        let meta = store.referral_meta(ids[0]).await.unwrap().unwrap();
        if meta.erased_at.is_some() {
            erased = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await;
    assert!(erased, "the first run did not erase the old referral");
    store.close().await;
}

#[tokio::test]
async fn an_existing_database_without_incremental_auto_vacuum_is_converted_at_open() {
    if common::db::sqlite_only("SQLite's auto_vacuum mode") {
        return;
    }
    let db = TestDb::new().await;
    std::fs::create_dir_all(db.data_dir()).unwrap();
    let path = db.data_dir().join("wijkbrug.db");
    {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE before_retention (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(pragma(&mut conn, "auto_vacuum").await, 0, "NONE");
        conn.close().await.unwrap();
    }

    let store = open(&db).await;

    let mut conn = sqlite_file(&db).await;
    assert_eq!(pragma(&mut conn, "auto_vacuum").await, 2, "INCREMENTAL");
    store.close().await;
}
