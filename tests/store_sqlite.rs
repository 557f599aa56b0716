//! The store's intake, history, idempotency, group commit and consents: on a real SQLite file
//! in a temporary directory, or with `WIJKBRUG_TEST_STORE=postgres` on a PostgreSQL database
//! of the test's own (the same tests are the specification of both stores).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::db::{TestDb, TestStore};
use uuid::Uuid;
use wijkbrug::audit::{AuditAction, AuditEvent};
use wijkbrug::config::StoreSettings;
use wijkbrug::store::{
    ConsentId, Intake, IntakeOutcome, NewReferral, OutboxItem, OutboxKind, SharedCopy, StoreCounts,
    StoreError, StoredConsent, TransitionOutcome, WriterQueue,
};
use wijkbrug_adapters::case_json;
use wijkbrug_adapters::model::{
    Actor, Bsn, CategorySet, Consent, ConsentEffect, DataCategory, ExternalRef, Grantee, PartnerId,
    Purpose, ReasonText, Referral, ReferralId, ReferralRequest, ReferralStatus, Sector,
    StatusHistory, Transition, TransitionError,
};

const SENDER: &str = "woonstad-noord";
const RECEIVER: &str = "wijkteam-noord";

fn partner(id: &str) -> PartnerId {
    PartnerId::parse(id).unwrap()
}

/// A fresh id each call (v7, distinct within the test binary).
fn new_id() -> ReferralId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut random = [0u8; 10];
    random[..8].copy_from_slice(&n.to_be_bytes());
    ReferralId::from_parts(1_790_000_000_000 + n, random)
}

fn at(second: u32, micros: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, second).unwrap()
        + chrono::Duration::microseconds(i64::from(micros))
}

/// The fixture's request, with `reference` as the sender's reference.
fn request(reference: &str) -> ReferralRequest {
    let mut doc: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/referral.case.json")).unwrap();
    doc["id"] = serde_json::Value::String(new_id().to_string());
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

/// A routed referral with consent: its shared copy and the delivery to the receiver.
fn routed(reference: &str) -> NewReferral {
    let id = new_id();
    let request = request(reference);
    let mut history = StatusHistory::received(at(0, 123_456), Actor::Gateway);
    history
        .apply(step(ReferralStatus::Routed, at(1, 7), Actor::Gateway))
        .unwrap();
    let allowed: CategorySet = [DataCategory::Identity, DataCategory::Needs]
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

/// A referral that found no consent: no shared copy, nothing to deliver.
fn consent_missing(reference: &str) -> NewReferral {
    let mut history = StatusHistory::received(at(0, 0), Actor::Gateway);
    let mut missing = step(ReferralStatus::ConsentMissing, at(0, 1), Actor::Gateway);
    missing.reason = Some(ReasonText::parse("no consent for the welfare sector").unwrap());
    missing.reason_code = Some("consent-missing".to_owned());
    history.apply(missing).unwrap();
    NewReferral {
        referral: Referral {
            id: new_id(),
            request: request(reference),
            history,
        },
        shared: None,
        outbox: vec![],
        consents: vec![],
    }
}

fn intake(key: Option<&str>, referrals: Vec<NewReferral>) -> Intake {
    Intake {
        sender: partner(SENDER),
        idempotency_key: key.map(str::to_owned),
        referrals,
    }
}

fn settings(db: &TestDb, max_batch: usize, max_wait: Duration) -> StoreSettings {
    let mut settings = db.settings_with(max_batch, max_wait);
    if !db.is_postgres() {
        settings.url = "sqlite://db/wijkbrug.db".to_owned();
    }
    settings
}

/// A pool of its own to the database [`settings`] names, for looking behind the store's back.
async fn raw(db: &TestDb) -> common::db::Raw {
    if db.is_postgres() {
        return db.raw().await;
    }
    let path = db.data_dir().join("db/wijkbrug.db");
    common::db::Raw::Sqlite(
        sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap(),
    )
}

/// Waits (20 s at most, then fails naming `what`) until the writes waiting for `store`'s
/// writer are as `wanted`.
async fn until_queued(store: &TestStore, wanted: impl Fn(WriterQueue) -> bool, what: &str) {
    let waiting = tokio::time::timeout(Duration::from_secs(20), async {
        while !wanted(store.writer_queue()) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    if waiting.await.is_err() {
        panic!("{what}: queued {:?}", store.writer_queue());
    }
}

/// A store that commits whatever is queued, without waiting for company.
async fn open(db: &TestDb) -> TestStore {
    db.open_with(&settings(db, 64, Duration::ZERO)).await
}

/// A store whose writer waits (a minute at most) until `n` writes are queued, so `n`
/// concurrent writes share one batch.
async fn open_batching(db: &TestDb, n: usize) -> TestStore {
    db.open_with(&settings(db, n, Duration::from_secs(60)))
        .await
}

/// The resident's consent, recorded by the sender, to refer identity and needs to welfare.
fn welfare_consent(resident: Bsn) -> Consent {
    Consent {
        resident,
        grantee: Grantee::Sector(Sector::Welfare),
        purpose: Purpose::Referral,
        effect: ConsentEffect::Permit,
        categories: [DataCategory::Identity, DataCategory::Needs]
            .into_iter()
            .collect(),
        valid_from: at(0, 0),
        valid_until: None,
        recorded_by: partner(SENDER),
        evidence: None,
        revoked_at: None,
    }
}

/// Stores `new` (a routed referral) and leases its delivery to `worker-1`; the row, with the
/// store closed again.
async fn stored_and_leased(db: &TestDb, new: &NewReferral) -> i64 {
    let store = open(db).await;
    store.intake(intake(None, vec![new.clone()])).await.unwrap();
    let leases = store
        .claim_due(
            "worker-1",
            &[partner(RECEIVER)],
            Utc::now(),
            Duration::from_secs(60),
            10,
        )
        .await
        .unwrap();
    assert_eq!(leases.len(), 1);
    store.close().await;
    leases[0].row
}

/// Runs the intakes concurrently, answers in the order given.
async fn concurrently(
    store: &Arc<TestStore>,
    intakes: Vec<Intake>,
) -> Vec<Result<Vec<IntakeOutcome>, StoreError>> {
    let tasks: Vec<_> = intakes
        .into_iter()
        .map(|i| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.intake(i).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn an_intake_reads_back_exactly() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let with_consent = routed("HUUR-1");
    let without = consent_missing("HUUR-2");

    let outcomes = store
        .intake(intake(None, vec![with_consent.clone(), without.clone()]))
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            IntakeOutcome::Created(with_consent.referral.id),
            IntakeOutcome::Created(without.referral.id)
        ]
    );

    for new in [&with_consent, &without] {
        let stored = store.referral(new.referral.id).await.unwrap().unwrap();
        assert_eq!(stored.referral, new.referral);
        assert_eq!(stored.shared, new.shared);
        assert_eq!(stored.received_at, new.referral.history.transitions()[0].at);
        assert_eq!(store.outbox_for(new.referral.id).await.unwrap(), new.outbox);
        assert_eq!(
            store
                .referral_by_source(&partner(SENDER), &new.referral.request.source.reference)
                .await
                .unwrap(),
            Some(new.referral.id)
        );
    }
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            referrals: 2,
            transitions: 4,
            outbox: 1,
            consents: 0,
            idempotency_keys: 0
        }
    );
}

#[tokio::test]
async fn a_repeated_source_reference_is_a_duplicate_of_the_first_and_stores_nothing() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let first = routed("HUUR-7");
    store
        .intake(intake(None, vec![first.clone()]))
        .await
        .unwrap();
    let before = store.counts().await.unwrap();

    let repeat = routed("HUUR-7");
    let outcomes = store
        .intake(intake(None, vec![repeat.clone()]))
        .await
        .unwrap();

    assert_eq!(outcomes, [IntakeOutcome::Duplicate(first.referral.id)]);
    assert_eq!(store.counts().await.unwrap(), before);
    assert!(store.referral(repeat.referral.id).await.unwrap().is_none());
}

#[tokio::test]
async fn the_same_reference_from_another_sender_is_another_referral() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let first = routed("CASE-1");
    let mut other = routed("CASE-1");
    other.referral.request.source.partner = partner("werkplein");
    let outcomes = store
        .intake(intake(None, vec![first.clone(), other.clone()]))
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            IntakeOutcome::Created(first.referral.id),
            IntakeOutcome::Created(other.referral.id)
        ]
    );
}

#[tokio::test]
async fn an_idempotency_key_repeat_answers_the_first_ids_and_stores_nothing() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let a = routed("BATCH-A");
    let b = consent_missing("BATCH-B");
    let first = store
        .intake(intake(Some("key-1"), vec![a.clone(), b.clone()]))
        .await
        .unwrap();
    assert_eq!(
        first,
        [
            IntakeOutcome::Created(a.referral.id),
            IntakeOutcome::Created(b.referral.id)
        ]
    );
    let before = store.counts().await.unwrap();
    assert_eq!(before.idempotency_keys, 1);

    // The repeat carries new references: only the key makes it a repeat.
    let repeat = store
        .intake(intake(
            Some("key-1"),
            vec![routed("BATCH-C"), routed("BATCH-D"), routed("BATCH-E")],
        ))
        .await
        .unwrap();

    assert_eq!(
        repeat,
        [
            IntakeOutcome::Duplicate(a.referral.id),
            IntakeOutcome::Duplicate(b.referral.id)
        ]
    );
    assert_eq!(store.counts().await.unwrap(), before);
}

#[tokio::test]
async fn duplicates_inside_one_intake_are_answered_with_the_first_id() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let first = routed("ROW-1");
    let again = routed("ROW-1");
    let outcomes = store
        .intake(intake(None, vec![first.clone(), again]))
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            IntakeOutcome::Created(first.referral.id),
            IntakeOutcome::Duplicate(first.referral.id)
        ]
    );
    assert_eq!(store.counts().await.unwrap().referrals, 1);
}

#[tokio::test]
async fn duplicates_inside_one_batch_are_answered_with_the_first_id() {
    let db = TestDb::new().await;
    let store = Arc::new(open_batching(&db, 4).await);
    let by_reference = [routed("SAME-REF"), routed("SAME-REF")];
    let by_key = [routed("KEY-A"), routed("KEY-B")];
    let ids = |pair: &[NewReferral; 2]| [pair[0].referral.id, pair[1].referral.id];
    let (ref_ids, key_ids) = (ids(&by_reference), ids(&by_key));

    let answers = concurrently(
        &store,
        vec![
            intake(None, vec![by_reference[0].clone()]),
            intake(None, vec![by_reference[1].clone()]),
            intake(Some("same-key"), vec![by_key[0].clone()]),
            intake(Some("same-key"), vec![by_key[1].clone()]),
        ],
    )
    .await;

    assert_eq!(store.commit_stats(), (1, 4), "the four shared one commit");
    let writer = store.writer_activity();
    assert_eq!((writer.commits, writer.writes), (1, 4), "{writer:?}");
    assert!(writer.committing > Duration::ZERO && writer.committing < writer.busy);
    let outcomes: Vec<IntakeOutcome> = answers.into_iter().map(|a| a.unwrap()[0]).collect();
    // Which of each pair came first is up to the scheduler; exactly one was stored.
    for (pair, ids) in [(&outcomes[0..2], ref_ids), (&outcomes[2..4], key_ids)] {
        let created: Vec<_> = pair
            .iter()
            .filter_map(|o| match o {
                IntakeOutcome::Created(id) => Some(*id),
                IntakeOutcome::Duplicate(_) => None,
            })
            .collect();
        assert_eq!(created.len(), 1, "{pair:?}");
        assert!(ids.contains(&created[0]));
        assert!(pair.iter().all(|o| o.id() == created[0]), "{pair:?}");
    }
    assert_eq!(store.counts().await.unwrap().referrals, 2);
}

/// Intakes queued together (the PostgreSQL writer writes such a run's referrals in one
/// statement) are each answered as alone: a referral repeating a source reference stored
/// before, or sent earlier in the run (another referral, or the same message again), stores nothing and is answered with the first one's
/// id; every other is stored exactly, with its history, its outbox rows, the consent that
/// came with it and its audit events.
#[tokio::test]
async fn intakes_queued_together_are_each_judged_as_alone() {
    let db = TestDb::new().await;
    let stored = routed("T-INTAKES-STORED");
    open(&db)
        .await
        .intake(intake(None, vec![stored.clone()]))
        .await
        .unwrap();
    let store = open_batching(&db, 5).await;
    let first = routed("T-INTAKES-1");
    let second = routed("T-INTAKES-2");
    let again_in_run = routed("T-INTAKES-1");
    let again_stored = routed("T-INTAKES-STORED");
    let missing = consent_missing("T-INTAKES-3");
    let resident = Bsn::parse("999900006").unwrap();
    let consent = welfare_consent(resident);
    let consent_id = ConsentId(Uuid::now_v7());
    let mut with_consent = routed("T-INTAKES-4");
    with_consent.consents = vec![(consent_id, consent.clone())];
    let received = || async {
        let events = store.audit_events(0, 1_000).await.unwrap();
        let received = events
            .iter()
            .filter(|e| e.action == AuditAction::MessageReceived);
        received.count()
    };
    let received_before = received().await;
    let counts_before = store.counts().await.unwrap();
    let before = store.writer_activity();

    // `join!` polls each in turn, so the writer receives them in this order.
    let answers = tokio::join!(
        store.intake(intake(None, vec![first.clone()])),
        store.intake(intake(None, vec![second.clone(), again_in_run.clone()])),
        store.intake(intake(None, vec![again_stored.clone()])),
        store.intake(intake(None, vec![missing.clone(), with_consent.clone()])),
        // The first message again, the same referral (a sender's retry).
        store.intake(intake(None, vec![first.clone()])),
    );
    let after = store.writer_activity();
    assert_eq!(
        (after.commits - before.commits, after.writes - before.writes),
        (1, 5),
        "the five shared one commit"
    );
    let id = |new: &NewReferral| new.referral.id;
    assert_eq!(answers.0.unwrap(), [IntakeOutcome::Created(id(&first))]);
    assert_eq!(
        answers.1.unwrap(),
        [
            IntakeOutcome::Created(id(&second)),
            IntakeOutcome::Duplicate(id(&first))
        ]
    );
    assert_eq!(answers.2.unwrap(), [IntakeOutcome::Duplicate(id(&stored))]);
    assert_eq!(
        answers.3.unwrap(),
        [
            IntakeOutcome::Created(id(&missing)),
            IntakeOutcome::Created(id(&with_consent))
        ]
    );
    assert_eq!(answers.4.unwrap(), [IntakeOutcome::Duplicate(id(&first))]);
    for new in [&first, &second, &missing, &with_consent] {
        let read = store.referral(id(new)).await.unwrap().unwrap();
        assert_eq!(read.referral, new.referral);
        assert_eq!(read.shared, new.shared);
        assert_eq!(store.outbox_for(id(new)).await.unwrap(), new.outbox);
    }
    for duplicate in [&again_in_run, &again_stored] {
        assert!(store.referral(id(duplicate)).await.unwrap().is_none());
        assert!(store.outbox_for(id(duplicate)).await.unwrap().is_empty());
    }
    let counts = store.counts().await.unwrap();
    let history_rows: usize = [&first, &second, &missing, &with_consent]
        .iter()
        .map(|n| n.referral.history.transitions().len())
        .sum();
    assert_eq!(
        (
            counts.referrals - counts_before.referrals,
            counts.transitions - counts_before.transitions,
            counts.outbox - counts_before.outbox,
            counts.consents - counts_before.consents,
        ),
        (4, history_rows as u64, 3, 1)
    );
    let consents = store.consents_for(&resident).await.unwrap();
    assert_eq!(
        consents
            .iter()
            .map(|c| (c.id, &c.consent))
            .collect::<Vec<_>>(),
        [(consent_id, &consent)]
    );
    assert_eq!(received().await - received_before, 4, "one for each stored");
}

#[tokio::test]
async fn two_hundred_concurrent_intakes_all_land() {
    let db = TestDb::new().await;
    let store = Arc::new(
        db.open_with(&settings(&db, 64, Duration::from_millis(2)))
            .await,
    );
    let news: Vec<NewReferral> = (0..200).map(|i| routed(&format!("C-{i}"))).collect();

    let answers = concurrently(
        &store,
        news.iter().map(|n| intake(None, vec![n.clone()])).collect(),
    )
    .await;

    for (new, answer) in news.iter().zip(answers) {
        assert_eq!(answer.unwrap(), [IntakeOutcome::Created(new.referral.id)]);
        let stored = store.referral(new.referral.id).await.unwrap().unwrap();
        assert_eq!(stored.referral, new.referral);
    }
    let (commits, intakes) = store.commit_stats();
    assert_eq!(intakes, 200);
    assert!(
        commits <= intakes,
        "{commits} commits for {intakes} intakes"
    );
    assert_eq!(store.counts().await.unwrap().outbox, 200);
}

#[tokio::test]
async fn intakes_queued_together_share_one_commit() {
    let db = TestDb::new().await;
    let store = Arc::new(open_batching(&db, 20).await);
    let news: Vec<NewReferral> = (0..20).map(|i| routed(&format!("G-{i}"))).collect();

    let answers = concurrently(
        &store,
        news.iter().map(|n| intake(None, vec![n.clone()])).collect(),
    )
    .await;

    assert!(answers.iter().all(Result::is_ok));
    assert_eq!(store.commit_stats(), (1, 20));
    assert_eq!(store.counts().await.unwrap().referrals, 20);
}

#[tokio::test]
async fn a_failing_intake_stores_nothing_and_does_not_fail_its_batch_mates() {
    let db = TestDb::new().await;
    let store = Arc::new(open_batching(&db, 3).await);
    let good_a = routed("GOOD-A");
    let good_b = routed("GOOD-B");
    // Two referrals under one id: the second breaks the primary key after the first was
    // written inside the transaction.
    let bad_first = routed("BAD-1");
    let mut bad_second = routed("BAD-2");
    bad_second.referral.id = bad_first.referral.id;
    bad_second.outbox[0].referral = bad_first.referral.id;

    let answers = concurrently(
        &store,
        vec![
            intake(None, vec![good_a.clone()]),
            intake(Some("bad-key"), vec![bad_first.clone(), bad_second]),
            intake(None, vec![good_b.clone()]),
        ],
    )
    .await;

    assert_eq!(
        answers[0].as_ref().unwrap(),
        &[IntakeOutcome::Created(good_a.referral.id)]
    );
    assert!(matches!(answers[1], Err(StoreError::Unavailable(_))));
    assert_eq!(
        answers[2].as_ref().unwrap(),
        &[IntakeOutcome::Created(good_b.referral.id)]
    );
    assert!(store
        .referral(bad_first.referral.id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        store
            .referral_by_source(&partner(SENDER), &ExternalRef::parse("BAD-1").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.counts().await.unwrap(),
        StoreCounts {
            referrals: 2,
            transitions: 4,
            outbox: 2,
            consents: 0,
            idempotency_keys: 0
        }
    );
    // The shared batch failed; the two good intakes were then committed one by one.
    assert_eq!(store.commit_stats(), (2, 2));
    // Only what was committed is counted as written; the failed batch's time is busy time.
    let writer = store.writer_activity();
    assert_eq!((writer.commits, writer.writes), (2, 2), "{writer:?}");
    assert!(writer.committing < writer.busy);
}

#[tokio::test]
async fn a_closed_store_answers_every_caller_with_an_error() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    store.close().await;
    let answer = store.intake(intake(None, vec![routed("LATE")])).await;
    assert!(matches!(answer, Err(StoreError::Unavailable(_))));
    let answer = store
        .apply_transition(
            new_id(),
            step(ReferralStatus::Cancelled, at(9, 0), Actor::Gateway),
            vec![],
        )
        .await;
    assert!(matches!(answer, Err(StoreError::Unavailable(_))));
}

/// Closing the store finishes the work on stored referrals still queued for the writer,
/// even when the close is taken ahead of it (in a place of the batch kept for intakes).
#[tokio::test]
async fn a_close_finishes_the_status_changes_queued_before_it() {
    let db = TestDb::new().await;
    // Batches of two: the second place is kept for the intake lane, where the close travels.
    let store = db.open_with(&settings(&db, 2, Duration::ZERO)).await;
    let (one, two) = (routed("T-CLOSE-1"), routed("T-CLOSE-2"));
    let ids = [one.referral.id, two.referral.id];
    store.intake(intake(None, vec![one, two])).await.unwrap();
    let delivered = || step(ReferralStatus::Delivered, at(2, 0), Actor::Gateway);

    let raw = raw(&db).await;
    let hold = raw.hold_writer().await;
    // `join!` polls each in turn, so a write is sent at the first poll of its future. The
    // writer takes the intake alone and stops at the hold; then the two changes and the close
    // are sent and queue behind it until the hold is released.
    let (held, (first, second, (), ())) = tokio::join!(
        store.intake(intake(None, vec![routed("T-CLOSE-3")])),
        async {
            until_queued(
                &store,
                |q| q == WriterQueue::default(),
                "the writer takes the intake",
            )
            .await;
            // Past the writer's gathering of the intake's batch.
            tokio::time::sleep(Duration::from_millis(20)).await;
            tokio::join!(
                store.apply_transition(ids[0], delivered(), vec![]),
                store.apply_transition(ids[1], delivered(), vec![]),
                store.close(),
                async {
                    assert_eq!(
                        store.writer_queue(),
                        WriterQueue {
                            first: 2,
                            intakes: 1
                        },
                        "the changes and the close queued"
                    );
                    hold.release().await;
                },
            )
        },
    );
    assert!(held.is_ok(), "{held:?}");
    for (id, answer) in ids.iter().zip([first, second]) {
        assert!(
            matches!(answer, Ok(TransitionOutcome::Applied(_))),
            "the change to {id} queued before the close is written: {answer:?}"
        );
    }
    raw.close().await;
}

#[tokio::test]
async fn a_legal_transition_is_applied_with_its_notify_row() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let new = routed("T-1");
    let id = new.referral.id;
    store.intake(intake(None, vec![new.clone()])).await.unwrap();

    let delivered = step(ReferralStatus::Delivered, at(2, 0), Actor::Gateway);
    let TransitionOutcome::Applied(history) =
        store.apply_transition(id, delivered, vec![]).await.unwrap()
    else {
        panic!("delivered was not applied")
    };
    assert_eq!(history.current(), ReferralStatus::Delivered);

    let mut accepted = step(
        ReferralStatus::Accepted,
        at(3, 500),
        Actor::Partner(partner(RECEIVER)),
    );
    accepted.reason = Some(ReasonText::parse("intake planned").unwrap());
    let notify = OutboxItem {
        referral: id,
        recipient: partner(SENDER),
        // The store fills in the index of the transition it appended.
        kind: OutboxKind::Status { transition: 0 },
    };
    let outcome = store
        .apply_transition(id, accepted.clone(), vec![notify.clone()])
        .await
        .unwrap();

    let mut expected = new.referral.history.clone();
    expected
        .apply(step(ReferralStatus::Delivered, at(2, 0), Actor::Gateway))
        .unwrap();
    expected.apply(accepted).unwrap();
    assert_eq!(outcome, TransitionOutcome::Applied(expected.clone()));
    let stored = store.referral(id).await.unwrap().unwrap();
    assert_eq!(stored.referral.history, expected);
    assert_eq!(
        store.outbox_for(id).await.unwrap(),
        [
            new.outbox[0].clone(),
            OutboxItem {
                kind: OutboxKind::Status { transition: 3 },
                ..notify
            }
        ]
    );
}

#[tokio::test]
async fn an_illegal_transition_is_refused_and_changes_nothing() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let new = routed("T-2");
    let id = new.referral.id;
    store.intake(intake(None, vec![new.clone()])).await.unwrap();
    let before = store.counts().await.unwrap();

    let outcome = store
        .apply_transition(
            id,
            step(
                ReferralStatus::Completed,
                at(5, 0),
                Actor::Partner(partner(RECEIVER)),
            ),
            vec![OutboxItem {
                referral: id,
                recipient: partner(SENDER),
                kind: OutboxKind::Status { transition: 2 },
            }],
        )
        .await
        .unwrap();

    assert_eq!(
        outcome,
        TransitionOutcome::Refused(TransitionError {
            from: ReferralStatus::Routed,
            to: ReferralStatus::Completed
        })
    );
    assert_eq!(store.counts().await.unwrap(), before);
    assert_eq!(
        store.referral(id).await.unwrap().unwrap().referral,
        new.referral
    );
}

/// A delivery's outcome and the receiver's answers that share one commit are each judged
/// against the history as the jobs before them in the batch left it (the PostgreSQL writer
/// reads a batch's histories together at its start: a stale one would refuse the answer, or
/// let a refused one through).
#[tokio::test]
async fn changes_to_one_referral_queued_together_are_judged_in_order_in_one_commit() {
    let db = TestDb::new().await;
    let new = routed("T-BATCH");
    let id = new.referral.id;
    let row = stored_and_leased(&db, &new).await;
    let store = open_batching(&db, 4).await;
    let before = store.writer_activity();
    let receiver = || Actor::Partner(partner(RECEIVER));
    let accepted = step(ReferralStatus::Accepted, at(3, 0), receiver());
    let notify = OutboxItem {
        referral: id,
        recipient: partner(SENDER),
        kind: OutboxKind::Status { transition: 0 },
    };
    let declined = step(ReferralStatus::Declined, at(4, 0), receiver());
    let started = step(ReferralStatus::InProgress, at(5, 0), receiver());

    // `join!` polls each in turn, so the writer receives them in this order.
    let (delivered, accept, decline, start) = tokio::join!(
        store.complete(row, "worker-1", at(2, 500)),
        store.apply_transition(id, accepted.clone(), vec![notify.clone()]),
        store.apply_transition(id, declined, vec![]),
        store.apply_transition(id, started.clone(), vec![]),
    );

    let after = store.writer_activity();
    assert_eq!(
        (after.commits - before.commits, after.writes - before.writes),
        (1, 4),
        "the four shared one commit"
    );
    assert!(
        delivered.unwrap(),
        "the lease holder's delivery is recorded"
    );
    let mut expected = new.referral.history.clone();
    expected
        .apply(step(ReferralStatus::Delivered, at(2, 500), Actor::Gateway))
        .unwrap();
    expected.apply(accepted).unwrap();
    assert_eq!(
        accept.unwrap(),
        TransitionOutcome::Applied(expected.clone()),
        "accepted is judged after the delivery"
    );
    assert_eq!(
        decline.unwrap(),
        TransitionOutcome::Refused(TransitionError {
            from: ReferralStatus::Accepted,
            to: ReferralStatus::Declined
        }),
        "declined is judged after accepted"
    );
    expected.apply(started).unwrap();
    assert_eq!(start.unwrap(), TransitionOutcome::Applied(expected.clone()));
    assert_eq!(
        store.referral(id).await.unwrap().unwrap().referral.history,
        expected
    );
    assert_eq!(
        store.outbox_for(id).await.unwrap(),
        [
            new.outbox[0].clone(),
            OutboxItem {
                kind: OutboxKind::Status { transition: 3 },
                ..notify
            }
        ]
    );
}

/// Status changes of several referrals queued together (the PostgreSQL writer writes such a
/// run in one statement) are each answered as alone: a refused change and one of an unknown
/// referral write nothing, each applied one writes its history row, its referral's status and
/// its notices (numbered by its own history), and a second change of a referral in the run is
/// judged after the first.
#[tokio::test]
async fn status_changes_of_several_referrals_queued_together_are_each_judged_as_alone() {
    let db = TestDb::new().await;
    let new: Vec<NewReferral> = (0..3).map(|i| routed(&format!("T-CHANGES-{i}"))).collect();
    let [a, b, c] = [0, 1, 2].map(|i| new[i].referral.id);
    open(&db)
        .await
        .intake(intake(None, new.clone()))
        .await
        .unwrap();
    let store = open_batching(&db, 6).await;
    let notify = |referral| OutboxItem {
        referral,
        recipient: partner(SENDER),
        kind: OutboxKind::Status { transition: 0 },
    };
    let receiver = || Actor::Partner(partner(RECEIVER));
    // A time finer than the stores keep (to the microsecond): a later change of the same
    // referral is judged against the history as stored, and answers it so.
    let nanos = at(2, 0) + chrono::Duration::nanoseconds(789);
    let a_delivered = step(ReferralStatus::Delivered, nanos, Actor::Gateway);
    let a_delivered_stored = step(ReferralStatus::Delivered, at(2, 0), Actor::Gateway);
    let b_completed = step(ReferralStatus::Completed, at(2, 1), receiver());
    let mut c_delivered = step(ReferralStatus::Delivered, at(2, 2), Actor::Gateway);
    c_delivered.reason = Some(ReasonText::parse("delivered by post").unwrap());
    c_delivered.reason_code = Some("post".to_owned());
    let b_delivered = step(ReferralStatus::Delivered, at(2, 3), Actor::Gateway);
    let a_accepted = step(ReferralStatus::Accepted, at(3, 0), receiver());
    let unknown = new_id();

    let status_changes = || async {
        let events = store.audit_events(0, 1_000).await.unwrap();
        let changed = events
            .iter()
            .filter(|e| e.action == AuditAction::StatusChanged);
        changed.count()
    };
    let changes_before = status_changes().await;
    let before = store.writer_activity();
    let counts_before = store.counts().await.unwrap();
    // `join!` polls each in turn, so the writer receives them in this order.
    let answers = tokio::join!(
        store.apply_transition(a, a_delivered.clone(), vec![notify(a)]),
        store.apply_transition(b, b_completed, vec![notify(b)]),
        store.apply_transition(unknown, a_delivered.clone(), vec![notify(unknown)]),
        store.apply_transition(c, c_delivered.clone(), vec![notify(c)]),
        store.apply_transition(b, b_delivered.clone(), vec![]),
        store.apply_transition(a, a_accepted.clone(), vec![notify(a)]),
    );
    let after = store.writer_activity();
    assert_eq!(
        (after.commits - before.commits, after.writes - before.writes),
        (1, 6),
        "the six shared one commit"
    );
    let with = |i: usize, steps: &[&Transition]| {
        let mut history = new[i].referral.history.clone();
        for step in steps {
            history.apply((*step).clone()).unwrap();
        }
        history
    };
    let expected = [
        with(0, &[&a_delivered_stored, &a_accepted]),
        with(1, &[&b_delivered]),
        with(2, &[&c_delivered]),
    ];
    assert_eq!(
        answers.0.unwrap(),
        TransitionOutcome::Applied(with(0, &[&a_delivered]))
    );
    assert_eq!(
        answers.1.unwrap(),
        TransitionOutcome::Refused(TransitionError {
            from: ReferralStatus::Routed,
            to: ReferralStatus::Completed
        })
    );
    assert_eq!(answers.2.unwrap(), TransitionOutcome::NotFound);
    assert_eq!(
        answers.3.unwrap(),
        TransitionOutcome::Applied(expected[2].clone())
    );
    assert_eq!(
        answers.4.unwrap(),
        TransitionOutcome::Applied(expected[1].clone())
    );
    assert_eq!(
        answers.5.unwrap(),
        TransitionOutcome::Applied(expected[0].clone())
    );
    for (id, history) in [a, b, c].into_iter().zip(&expected) {
        let stored = store.referral(id).await.unwrap().unwrap();
        assert_eq!(&stored.referral.history, history, "{id}");
    }
    // Each applied change's notices, numbered by its own history; none for the others.
    let notice = |referral, transition| OutboxItem {
        kind: OutboxKind::Status { transition },
        ..notify(referral)
    };
    assert_eq!(
        store.outbox_for(a).await.unwrap(),
        [new[0].outbox[0].clone(), notice(a, 2), notice(a, 3)]
    );
    assert_eq!(store.outbox_for(b).await.unwrap(), new[1].outbox);
    assert_eq!(
        store.outbox_for(c).await.unwrap(),
        [new[2].outbox[0].clone(), notice(c, 2)]
    );
    let counts = store.counts().await.unwrap();
    assert_eq!(
        (
            counts.transitions - counts_before.transitions,
            counts.outbox - counts_before.outbox
        ),
        (4, 3)
    );
    // The referrals' statuses as their histories end (the dashboard's counts read them).
    let mut by_status: Vec<(ReferralStatus, u64)> = store
        .referral_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.count))
        .collect();
    by_status.sort_by_key(|(s, _)| s.code());
    assert_eq!(
        by_status,
        [
            (ReferralStatus::Accepted, 1),
            (ReferralStatus::Delivered, 2)
        ]
    );
    assert_eq!(
        status_changes().await - changes_before,
        4,
        "one event for each applied change"
    );
}

/// A status change and, behind it in the same commit, a cancelled delivery of the same
/// referral (the PostgreSQL writer stages status changes and writes them together, before a
/// job that changes a referral another way): the referral ends with the cancellation, in its
/// history and in its status.
#[tokio::test]
async fn a_status_change_and_a_cancelled_delivery_queued_together_are_written_in_order() {
    let db = TestDb::new().await;
    let new = routed("T-STAGED-CANCEL");
    let id = new.referral.id;
    let row = stored_and_leased(&db, &new).await;
    let store = open_batching(&db, 2).await;
    let undeliverable = step(ReferralStatus::Undeliverable, at(2, 0), Actor::Gateway);
    let cancelled = step(ReferralStatus::Cancelled, at(3, 0), Actor::Gateway);
    let before = store.writer_activity();
    // `join!` polls each in turn, so the writer receives them in this order.
    let (changed, cancel) = tokio::join!(
        store.apply_transition(id, undeliverable.clone(), vec![]),
        store.cancel_delivery(row, "worker-1", cancelled.clone(), vec![]),
    );
    let after = store.writer_activity();
    assert_eq!(
        (after.commits - before.commits, after.writes - before.writes),
        (1, 2),
        "the two shared one commit"
    );
    let mut expected = new.referral.history.clone();
    expected.apply(undeliverable).unwrap();
    assert_eq!(
        changed.unwrap(),
        TransitionOutcome::Applied(expected.clone())
    );
    assert!(
        cancel.unwrap(),
        "the lease holder's cancellation is recorded"
    );
    expected.apply(cancelled).unwrap();
    assert_eq!(
        store.referral(id).await.unwrap().unwrap().referral.history,
        expected
    );
    let statuses: Vec<(ReferralStatus, u64)> = store
        .referral_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.status, c.count))
        .collect();
    assert_eq!(statuses, [(ReferralStatus::Cancelled, 1)]);
}

/// Deliveries and mailbox acknowledgements queued together (the PostgreSQL writer marks such a
/// run of rows in one statement) are each answered as alone: a row held by another worker or
/// offered to another partner is not taken, a row named twice is delivered once, and each
/// delivered referral row makes its referral delivered at its own time.
#[tokio::test]
async fn deliveries_and_acknowledgements_queued_together_are_each_judged_as_alone() {
    let db = TestDb::new().await;
    let new: Vec<NewReferral> = (0..5).map(|i| routed(&format!("T-RUN-{i}"))).collect();
    let receiver = partner(RECEIVER);
    // Times after the intake's, each second from then on, with microseconds as given.
    let start = chrono::SubsecRound::trunc_subsecs(Utc::now() + chrono::Duration::minutes(1), 6);
    let at = |second: i64, micros: i64| {
        start + chrono::Duration::seconds(second) + chrono::Duration::microseconds(micros)
    };
    let (offered, claimed) = {
        let store = open(&db).await;
        store.intake(intake(None, new)).await.unwrap();
        let offered = store
            .mailbox_offer(&receiver, None, at(1, 0), Duration::from_secs(60), 2)
            .await
            .unwrap();
        let claimed = store
            .claim_due(
                "worker-1",
                std::slice::from_ref(&receiver),
                at(1, 0),
                Duration::from_secs(60),
                10,
            )
            .await
            .unwrap();
        store.close().await;
        (offered, claimed)
    };
    assert_eq!((offered.len(), claimed.len()), (2, 3));
    let referral_of = |row: i64| {
        offered
            .iter()
            .chain(&claimed)
            .find(|l| l.row == row)
            .unwrap()
            .item
            .referral
    };
    let (m0, m1) = (offered[0].row, offered[1].row);
    let (w0, w1, w2) = (claimed[0].row, claimed[1].row, claimed[2].row);
    let store = open_batching(&db, 5).await;
    let history_of = |id: ReferralId| {
        let store = &store;
        async move { store.referral(id).await.unwrap().unwrap().referral.history }
    };

    // One batch, no row named twice.
    let sender = partner(SENDER);
    let before = store.writer_activity();
    let answers = tokio::join!(
        store.complete(w0, "worker-1", at(2, 0)),
        store.mailbox_ack(&receiver, m0, at(2, 1)),
        store.complete(w1, "worker-2", at(2, 2)),
        store.mailbox_ack(&sender, m1, at(2, 3)),
        store.complete(w2, "worker-1", at(2, 4)),
    );
    let after = store.writer_activity();
    assert_eq!(
        (after.commits - before.commits, after.writes - before.writes),
        (1, 5),
        "the five shared one commit"
    );
    let answers = [answers.0, answers.1, answers.2, answers.3, answers.4].map(Result::unwrap);
    assert_eq!(answers, [true, true, false, false, true]);
    for (row, delivered_at) in [(w0, Some(at(2, 0))), (m0, Some(at(2, 1))), (w1, None)]
        .into_iter()
        .chain([(m1, None), (w2, Some(at(2, 4)))])
    {
        let history = history_of(referral_of(row)).await;
        match delivered_at {
            Some(t) => assert_eq!(
                history.transitions().last(),
                Some(&step(ReferralStatus::Delivered, t, Actor::Gateway)),
                "row {row}"
            ),
            None => assert_eq!(history.current(), ReferralStatus::Routed, "row {row}"),
        }
    }

    // One batch naming rows twice: each delivered once, by the first that may.
    let answers = tokio::join!(
        store.complete(w1, "worker-1", at(3, 0)),
        store.complete(w1, "worker-1", at(3, 1)),
        store.mailbox_ack(&receiver, m1, at(3, 2)),
        store.mailbox_ack(&receiver, m1, at(3, 3)),
        store.complete(w0, "worker-1", at(3, 4)),
    );
    let answers = [answers.0, answers.1, answers.2, answers.3, answers.4].map(Result::unwrap);
    assert_eq!(answers, [true, false, true, false, false]);
    for (row, t) in [(w1, at(3, 0)), (m1, at(3, 2)), (w0, at(2, 0))] {
        let history = history_of(referral_of(row)).await;
        assert_eq!(
            history.transitions().last(),
            Some(&step(ReferralStatus::Delivered, t, Actor::Gateway)),
            "row {row}"
        );
    }
    // Each delivery audited once, an acknowledgement as one through the mailbox.
    let attempts: Vec<AuditEvent> = store
        .audit_events(0, 1_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::DeliveryAttempt)
        .collect();
    assert_eq!(attempts.len(), 5);
    let via_mailbox = attempts
        .iter()
        .filter(|e| e.detail.get("via").map(String::as_str) == Some("mailbox"))
        .count();
    assert_eq!(via_mailbox, 2);
}

/// Under a backlog the writer takes work on referrals already stored before new intakes: a
/// status change queued behind two intakes is written before them (so deliveries and the
/// receivers' answers keep flowing while intake waits).
#[tokio::test]
async fn a_status_change_queued_behind_intakes_is_written_before_them() {
    let db = TestDb::new().await;
    let stored = routed("T-LANE-STORED");
    let id = stored.referral.id;
    // One job a batch: the writer takes exactly one, then the next.
    let store = db.open_with(&settings(&db, 1, Duration::ZERO)).await;
    store.intake(intake(None, vec![stored])).await.unwrap();
    let (first, second, third) = (routed("T-LANE-1"), routed("T-LANE-2"), routed("T-LANE-3"));
    let later = [second.referral.id, third.referral.id];
    let delivered = step(ReferralStatus::Delivered, at(2, 0), Actor::Gateway);

    let raw = raw(&db).await;
    let hold = raw.hold_writer().await;
    // `join!` polls each in turn, so the jobs are sent in this order. The writer takes one
    // (the first intake, or the change when it woke after all four were sent) and stops at
    // the hold; the other three queue until it is released.
    let (one, two, three, change, ()) = tokio::join!(
        store.intake(intake(None, vec![first])),
        store.intake(intake(None, vec![second])),
        store.intake(intake(None, vec![third])),
        store.apply_transition(id, delivered, vec![]),
        async {
            until_queued(
                &store,
                |q| q.first + q.intakes >= 3,
                "three writes queue behind the held one",
            )
            .await;
            hold.release().await;
        },
    );
    for answer in [one, two, three] {
        assert!(answer.is_ok(), "{answer:?}");
    }
    assert!(
        matches!(change.unwrap(), TransitionOutcome::Applied(_)),
        "the change applies"
    );
    assert_eq!(store.writer_queue(), WriterQueue::default());

    let events = store.audit_events(0, 1_000).await.unwrap();
    let change_seq = events
        .iter()
        .filter(|e| e.referral == Some(id))
        .map(|e| e.seq)
        .max()
        .unwrap();
    for referral in later {
        let intake_seq = events
            .iter()
            .filter(|e| e.referral == Some(referral))
            .map(|e| e.seq)
            .min()
            .unwrap();
        assert!(
            change_seq < intake_seq,
            "the status change is event {change_seq}, after the intake queued ahead of it \
             (event {intake_seq}): work on a stored referral goes first"
        );
    }
    raw.close().await;
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let unknown = new_id();
    assert_eq!(
        store
            .apply_transition(
                unknown,
                step(ReferralStatus::Cancelled, at(0, 0), Actor::Gateway),
                vec![]
            )
            .await
            .unwrap(),
        TransitionOutcome::NotFound
    );
    assert!(store.referral(unknown).await.unwrap().is_none());
    assert!(store.outbox_for(unknown).await.unwrap().is_empty());
    assert_eq!(
        store
            .referral_by_source(&partner(SENDER), &ExternalRef::parse("NOPE").unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn consents_round_trip_with_both_grantee_kinds_and_revocation() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let resident = Bsn::parse("999900006").unwrap();
    let to_partner = Consent {
        resident,
        grantee: Grantee::Partner(partner(RECEIVER)),
        purpose: Purpose::Referral,
        effect: ConsentEffect::Permit,
        categories: [
            DataCategory::Identity,
            DataCategory::Needs,
            DataCategory::Health,
        ]
        .into_iter()
        .collect(),
        valid_from: at(0, 0),
        valid_until: Some(Utc.with_ymd_and_hms(2027, 11, 2, 0, 0, 0).unwrap()),
        recorded_by: partner(SENDER),
        evidence: Some(ExternalRef::parse("FORM-2026-11").unwrap()),
        revoked_at: Some(at(30, 250)),
    };
    let to_sector = Consent {
        grantee: Grantee::Sector(Sector::Welfare),
        purpose: Purpose::Coordination,
        effect: ConsentEffect::Deny,
        categories: [DataCategory::Finance].into_iter().collect(),
        valid_until: None,
        evidence: None,
        revoked_at: None,
        ..to_partner.clone()
    };
    let someone_else = Consent {
        resident: Bsn::parse("999900018").unwrap(),
        ..to_sector.clone()
    };
    let ids = [
        ConsentId(Uuid::now_v7()),
        ConsentId(Uuid::now_v7()),
        ConsentId(Uuid::now_v7()),
    ];
    store.insert_consent(ids[0], &to_partner).await.unwrap();
    store.insert_consent(ids[1], &to_sector).await.unwrap();
    store.insert_consent(ids[2], &someone_else).await.unwrap();

    let mut stored = store.consents_for(&resident).await.unwrap();
    stored.sort_by_key(|c| c.id.0);
    assert_eq!(
        stored,
        [
            StoredConsent {
                id: ids[0],
                consent: to_partner
            },
            StoredConsent {
                id: ids[1],
                consent: to_sector
            }
        ]
    );
    assert!(store
        .consents_for(&Bsn::parse("999900043").unwrap())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn the_store_survives_reopening_and_migrating_twice() {
    let db = TestDb::new().await;
    let settings = settings(&db, 8, Duration::ZERO);
    let new = routed("KEEP-1");
    {
        let store = db.open_unmigrated(&settings).await;
        assert!(matches!(store.ready().await, Err(StoreError::Migration(_))));
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        store.ready().await.unwrap();
        store
            .intake(intake(Some("k"), vec![new.clone()]))
            .await
            .unwrap();
        store.close().await;
    }
    if !db.is_postgres() {
        assert!(db.data_dir().join("db/wijkbrug.db").exists());
    }

    let store = db.open_with(&settings).await;
    store.ready().await.unwrap();
    let stored = store.referral(new.referral.id).await.unwrap().unwrap();
    assert_eq!(stored.referral, new.referral);
    assert_eq!(stored.shared, new.shared);
    assert_eq!(
        store
            .intake(intake(Some("k"), vec![routed("KEEP-2")]))
            .await
            .unwrap(),
        [IntakeOutcome::Duplicate(new.referral.id)]
    );
}

#[tokio::test]
async fn a_tampered_row_is_reported_corrupt_without_its_content() {
    let db = TestDb::new().await;
    let settings = settings(&db, 8, Duration::ZERO);
    let store = db.open_with(&settings).await;
    let new = routed("TAMPER-1");
    store.intake(intake(None, vec![new.clone()])).await.unwrap();
    store.close().await;

    // Someone edits the database behind the gateway's back.
    let raw = raw(&db).await;
    raw.execute(
        "UPDATE referrals SET request = replace(request, '\"finances\"', '\"finanzen\"')",
        &[],
    )
    .await;
    raw.close().await;

    let store = db.open_with(&settings).await;
    let Err(StoreError::Corrupt(message)) = store.referral(new.referral.id).await else {
        panic!("a tampered request was read back")
    };
    assert!(message.contains(&new.referral.id.to_string()), "{message}");
    assert!(!message.contains("finanzen"), "{message}");
    assert!(!message.contains("999900006"), "{message}");
}

#[tokio::test]
async fn a_consent_that_came_with_a_referral_is_stored_with_it_and_not_with_a_duplicate() {
    let db = TestDb::new().await;
    let store = open(&db).await;
    let resident = Bsn::parse("999900006").unwrap();
    let consent = welfare_consent(resident);
    let first_id = ConsentId(Uuid::now_v7());
    let mut with_consent = routed("REF-C1");
    with_consent.consents = vec![(first_id, consent.clone())];
    store
        .intake(intake(None, vec![with_consent]))
        .await
        .unwrap();
    let stored = store.consents_for(&resident).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, first_id);
    assert_eq!(stored[0].consent, consent);

    let mut duplicate = routed("REF-C1");
    duplicate.consents = vec![(ConsentId(Uuid::now_v7()), consent)];
    let outcomes = store.intake(intake(None, vec![duplicate])).await.unwrap();
    assert!(matches!(outcomes[0], IntakeOutcome::Duplicate(_)));
    assert_eq!(
        store.consents_for(&resident).await.unwrap().len(),
        1,
        "a duplicate stores nothing"
    );
}
