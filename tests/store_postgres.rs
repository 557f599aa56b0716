//! What only the PostgreSQL store has to show: several store handles (as several gateway
//! instances) on one database. Leases with `FOR UPDATE SKIP LOCKED`, one audit chain with
//! concurrent writers, migrations applied once when instances start together, a database of an
//! older schema migrated with its data, VACUUM after erasures, the shared rate limits and the
//! instance registry. Always on PostgreSQL (127.0.0.1:5432, or `WIJKBRUG_TEST_PG`), each test
//! on a database of its own.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::db::{TestDb, TestStore};
use common::store_fixtures::{at, new_id, now, partner, request_for, routed_referral, step};
use sqlx::Connection;
use uuid::Uuid;
use wijkbrug::audit::{verify, AuditEvent};
use wijkbrug::config::RateLimit;
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::{
    ConsentId, InstanceInfo, Intake, IntakeOutcome, NewReferral, OutboxItem, OutboxKind,
    RateBucket, RateDecision, Store, TransitionOutcome,
};
use wijkbrug_adapters::model::{
    Actor, Bsn, Consent, ConsentEffect, DataCategory, Grantee, Purpose, ReferralId, ReferralStatus,
};

const SENDER: &str = "woonstad-noord";
const RECEIVER: &str = "wijkteam-noord";
const LEASE: Duration = Duration::from_secs(60);

/// A routed referral under `consent`, its minimised copy queued for the receiver.
fn routed_with(id: ReferralId, reference: &str, consent: Option<ConsentId>) -> NewReferral {
    routed_referral(id, request_for(id, reference), RECEIVER, consent)
}

fn routed(reference: &str) -> NewReferral {
    routed_with(new_id(), reference, Some(ConsentId(Uuid::now_v7())))
}

fn intake(key: Option<&str>, referrals: Vec<NewReferral>) -> Intake {
    Intake {
        sender: partner(SENDER),
        idempotency_key: key.map(str::to_owned),
        referrals,
    }
}

async fn all_events(store: &dyn Store) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &AuditEvent| e.seq);
        let page = store.audit_events(after, 500).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// Two handles on one database, as two gateway instances have.
async fn two_instances(db: &TestDb) -> (TestStore, TestStore) {
    let a = db.open().await;
    let b = db.open().await;
    (a, b)
}

#[tokio::test]
async fn two_instances_claiming_at_once_never_lease_the_same_row() {
    let db = TestDb::postgres().await;
    let (a, b) = two_instances(&db).await;
    let referrals: Vec<NewReferral> = (0..120).map(|n| routed(&format!("Q-{n}"))).collect();
    // Half through each instance.
    let (first, second) = referrals.split_at(60);
    a.intake(intake(None, first.to_vec())).await.unwrap();
    b.intake(intake(None, second.to_vec())).await.unwrap();

    let workers: Vec<_> = [("worker-a", a.shared()), ("worker-b", b.shared())]
        .into_iter()
        .flat_map(|(worker, store)| {
            // Two claim loops per instance, four in all, racing for the same rows.
            (0..2).map(move |_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut rows = Vec::new();
                    loop {
                        let leases = store
                            .claim_due(worker, &[partner(RECEIVER)], now(), LEASE, 7)
                            .await
                            .unwrap();
                        if leases.is_empty() {
                            return rows;
                        }
                        rows.extend(leases.into_iter().map(|l| (worker, l.row)));
                    }
                })
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    let distinct: HashSet<i64> = all.iter().map(|(_, row)| *row).collect();
    assert_eq!(all.len(), 120, "every row leased once");
    assert_eq!(distinct.len(), 120);

    // Only the holder finishes a row; the other instance is refused.
    let (holder, row) = all[0];
    let (other, other_store) = if holder == "worker-a" {
        ("worker-b", &b)
    } else {
        ("worker-a", &a)
    };
    assert!(!other_store.complete(row, other, now()).await.unwrap());
    let holder_store = if holder == "worker-a" { &a } else { &b };
    assert!(holder_store.complete(row, holder, now()).await.unwrap());
}

#[tokio::test]
async fn a_claim_skips_a_row_another_instance_has_locked_instead_of_waiting() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    store
        .intake(intake(None, vec![routed("S-1"), routed("S-2")]))
        .await
        .unwrap();
    // Another instance is in the middle of leasing the first row: it holds the row lock.
    let mut other = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    let mut tx = other.begin().await.unwrap();
    let (locked,): (i64,) = sqlx::query_as("SELECT min(id) FROM outbox")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SELECT id FROM outbox WHERE id = $1 FOR UPDATE")
        .bind(locked)
        .execute(&mut *tx)
        .await
        .unwrap();

    // Bounded only so that a claim that waited (a plain FOR UPDATE) fails instead of hanging.
    let leases = tokio::time::timeout(
        Duration::from_secs(30),
        store.claim_due("worker-b", &[partner(RECEIVER)], now(), LEASE, 10),
    )
    .await
    .expect("the claim waited for the locked row")
    .unwrap();
    assert_eq!(leases.len(), 1, "the free row only");
    assert_ne!(leases[0].row, locked);

    tx.rollback().await.unwrap();
    let rest = store
        .claim_due("worker-b", &[partner(RECEIVER)], now(), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].row, locked);
}

#[tokio::test]
async fn an_expired_lease_of_a_stopped_instance_is_taken_over_and_the_first_holder_refused() {
    let db = TestDb::postgres().await;
    let (a, b) = two_instances(&db).await;
    a.intake(intake(None, vec![routed("T-1")])).await.unwrap();
    let leased = a
        .claim_due("worker-a", &[partner(RECEIVER)], now(), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    // Instance a stops (its handle closes); b sees the lease until it expires.
    a.close().await;
    let during = b
        .claim_due(
            "worker-b",
            &[partner(RECEIVER)],
            now() + chrono::Duration::seconds(30),
            LEASE,
            10,
        )
        .await
        .unwrap();
    assert!(during.is_empty());
    let after = b
        .claim_due(
            "worker-b",
            &[partner(RECEIVER)],
            now() + chrono::Duration::seconds(61),
            LEASE,
            10,
        )
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].row, leased[0].row);
    assert_eq!(after[0].attempts, 2);
    // A late acknowledgement by the first holder (say, restarted) is refused.
    let c = db.open().await;
    assert!(!c.complete(leased[0].row, "worker-a", now()).await.unwrap());
    assert!(b.complete(after[0].row, "worker-b", now()).await.unwrap());
}

#[tokio::test]
async fn concurrent_writers_on_two_instances_keep_one_chain_that_verifies() {
    let db = TestDb::postgres().await;
    let settings = db.settings_with(16, Duration::from_millis(2));
    let a = db.open_with(&settings).await.shared();
    let b = db.open_with(&settings).await.shared();
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        for n in 0..40 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let new = routed(&format!("W-{i}-{n}"));
                let id = new.referral.id;
                store.intake(intake(None, vec![new])).await.unwrap();
                store.record_read(&partner(SENDER), id).await.unwrap();
                let cancelled = step(
                    ReferralStatus::Cancelled,
                    now(),
                    Actor::Partner(partner(SENDER)),
                );
                let outcome = store.apply_transition(id, cancelled, vec![]).await.unwrap();
                assert!(matches!(outcome, TransitionOutcome::Applied(_)));
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = all_events(a.as_ref()).await;
    // Per referral: received, consent decision, minimised, read, status changed.
    assert_eq!(events.len(), 80 * 5);
    assert_eq!(verify(&events), Ok(80 * 5));
    // Both instances read the same chain.
    assert_eq!(all_events(b.as_ref()).await, events);
    // The resident's processing log (through the narrowed per-resident index, 1006) holds
    // every event that carries them.
    let (residents, checked) =
        common::processing_logs::assert_every_event_of_a_resident_is_in_their_log(
            a.as_ref(),
            &events,
        )
        .await;
    assert!(
        residents >= 1 && checked >= 80 * 3,
        "{residents} / {checked}"
    );
    // Each instance's writer counted its own writes: 40 intakes, reads and status changes.
    for store in [&a, &b] {
        let writer = store.writer_activity();
        assert_eq!(writer.writes, 40 * 3, "{writer:?}");
        assert!((1..=writer.writes).contains(&writer.commits), "{writer:?}");
        assert!(writer.committing > Duration::ZERO && writer.committing < writer.busy);
    }
}

#[tokio::test]
async fn a_duplicate_sent_to_two_instances_at_once_is_stored_once() {
    let db = TestDb::postgres().await;
    let settings = db.settings_with(1, Duration::ZERO);
    let a = db.open_with(&settings).await.shared();
    let b = db.open_with(&settings).await.shared();
    for n in 0..20 {
        let reference = format!("DUP-{n}");
        let (one, two) = (routed(&reference), routed(&reference));
        let key = format!("key-{n}");
        let (x, y) = tokio::join!(
            a.intake(intake(Some(&key), vec![one])),
            b.intake(intake(Some(&key), vec![two]))
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x[0].id(), y[0].id(), "both answer the stored referral");
        let created = [x[0], y[0]]
            .iter()
            .filter(|o| matches!(o, IntakeOutcome::Created(_)))
            .count();
        assert_eq!(created, 1);
    }
    assert_eq!(a.counts().await.unwrap().referrals, 20);
}

#[tokio::test]
async fn a_store_whose_sessions_were_cut_carries_on_with_new_ones() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    store
        .intake(intake(None, vec![routed("CUT-1")]))
        .await
        .unwrap();
    // The database ends every session of the store (a restart, a fail-over).
    let raw = db.raw().await;
    let (cut,): (i64,) = raw
        .fetch_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await;
    assert!(cut >= 2, "the writer's session and the pool's");
    raw.close().await;
    // The next write and read go through on new sessions.
    let new = routed("CUT-2");
    let id = new.referral.id;
    store.intake(intake(None, vec![new])).await.unwrap();
    assert!(store.referral(id).await.unwrap().is_some());
    assert_eq!(store.counts().await.unwrap().referrals, 2);
}

#[tokio::test]
async fn instances_starting_together_apply_each_migration_once() {
    let db = TestDb::postgres().await;
    let settings = db.settings();
    let mut stores: Vec<Arc<PgStore>> = Vec::new();
    for _ in 0..4 {
        stores.push(Arc::new(PgStore::open(&settings).await.unwrap()));
    }
    assert!(stores[0].ready().await.is_err(), "not migrated yet");
    let starts: Vec<_> = stores
        .iter()
        .map(|s| {
            let s = s.clone();
            tokio::spawn(async move { s.migrate().await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().unwrap();
    }
    // Again: nothing left to do.
    stores[1].migrate().await.unwrap();
    for s in &stores {
        s.ready().await.unwrap();
    }
    let raw = db.raw().await;
    let versions: Vec<(i64, i64)> = raw
        .fetch_all(
            "SELECT version, count(*) FROM _sqlx_migrations GROUP BY version ORDER BY version",
            &[],
        )
        .await;
    assert!(versions.len() >= 5, "{versions:?}");
    assert!(versions.iter().all(|(_, n)| *n == 1), "{versions:?}");
    let (head,): (i64,) = raw.fetch_one("SELECT count(*) FROM audit_head", &[]).await;
    assert_eq!(head, 1, "one head row, not one per instance");
    raw.close().await;
}

#[tokio::test]
async fn reclaim_vacuums_the_erased_tables_after_an_erasure_and_not_otherwise() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let raw = db.raw().await;
    let vacuums = || async {
        let (n,): (i64,) = raw
            .fetch_one(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'referrals'",
                &[],
            )
            .await;
        n
    };
    let new = routed("V-1");
    let id = new.referral.id;
    store.intake(intake(None, vec![new])).await.unwrap();
    let cancelled = step(ReferralStatus::Cancelled, at(5), Actor::Gateway);
    store.apply_transition(id, cancelled, vec![]).await.unwrap();

    let before = vacuums().await;
    assert_eq!(store.reclaim_space().await.unwrap(), 0);
    assert_eq!(vacuums().await, before, "nothing erased, nothing vacuumed");

    assert_eq!(store.erase_payloads(at(30), now(), 10).await.unwrap(), 1);
    store.reclaim_space().await.unwrap();
    assert_eq!(vacuums().await, before + 1);
    let (dead,): (i64,) = raw
        .fetch_one(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'referrals'",
            &[],
        )
        .await;
    assert_eq!(dead, 0, "the erased versions are free for reuse");
    raw.close().await;
}

#[tokio::test]
async fn the_rate_limit_is_one_bucket_for_all_instances() {
    let db = TestDb::postgres().await;
    let (a, b) = two_instances(&db).await;
    assert!(a.shares_rate_limits());
    let rate = quota(2, 5);
    let p = RateBucket::Inbound(partner(SENDER));
    let started = Instant::now();
    let mut allowed = 0u32;
    let mut limited = 0u32;
    for i in 0..40 {
        let store = if i % 2 == 0 { &a } else { &b };
        match store.take_rate_token(&p, rate).await.unwrap() {
            RateDecision::Allowed => allowed += 1,
            RateDecision::Limited { retry_after } => {
                limited += 1;
                assert!(retry_after <= Duration::from_millis(500), "{retry_after:?}");
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The burst, and what refilled while the requests were made: whichever instance asked.
    let bound = 5 + (elapsed * 2.0).ceil() as u32;
    assert!(allowed >= 5, "{allowed} allowed");
    assert!(allowed <= bound, "{allowed} allowed, at most {bound}");
    assert_eq!(allowed + limited, 40);
    // Another partner, and the deliveries to this one, have buckets of their own.
    for other in [
        RateBucket::Inbound(partner(RECEIVER)),
        RateBucket::Outbound(partner(SENDER)),
    ] {
        assert_eq!(
            a.take_rate_token(&other, rate).await.unwrap(),
            RateDecision::Allowed
        );
    }
}

/// A quota of `per_second` refilled up to `burst`.
fn quota(per_second: u32, burst: u32) -> RateLimit {
    RateLimit {
        per_second: std::num::NonZeroU32::new(per_second).unwrap(),
        burst: std::num::NonZeroU32::new(burst).unwrap(),
    }
}

/// Takes from `store` until it is refused (at most `max`); how many it was allowed.
async fn drain(store: &TestStore, bucket: &RateBucket, rate: RateLimit, max: u32) -> u32 {
    let mut allowed = 0;
    while allowed < max {
        match store.take_rate_token(bucket, rate).await.unwrap() {
            RateDecision::Allowed => allowed += 1,
            RateDecision::Limited { .. } => break,
        }
    }
    allowed
}

#[tokio::test]
async fn an_instance_takes_tokens_in_lots_and_the_instances_together_stay_within_the_bucket() {
    let db = TestDb::postgres().await;
    let (a, b) = two_instances(&db).await;
    // A burst of 100 refilled at 1 a second: lots of a tenth of the burst.
    let rate = quota(1, 100);
    assert_eq!(wijkbrug::store::postgres::rate_lot_size(rate), 10);
    let p = RateBucket::Inbound(partner(SENDER));
    let started = Instant::now();
    // A's first request takes a lot of 10 out of the shared bucket.
    assert_eq!(
        a.take_rate_token(&p, rate).await.unwrap(),
        RateDecision::Allowed
    );
    // B gets what A did not take (and what refilled meanwhile), not the whole burst.
    let b_allowed = drain(&b, &p, rate, 200).await;
    // A still hands out the rest of its lot, without the bucket.
    let a_allowed = 1 + drain(&a, &p, rate, 200).await;
    let refilled = started.elapsed().as_secs_f64().ceil() as u32;
    assert!(
        (90..=90 + refilled).contains(&b_allowed),
        "B was allowed {b_allowed}, A's lot should have left it 90 (+{refilled} refilled)"
    );
    assert!(a_allowed >= 10, "A was allowed {a_allowed}: its lot of 10");
    assert!(
        a_allowed + b_allowed <= 100 + refilled,
        "{a_allowed} + {b_allowed} allowed, the bucket gave at most {}",
        100 + refilled
    );

    // A lot not handed out within its lifetime is dropped: the next request takes a new one.
    let other = RateBucket::Outbound(partner(RECEIVER));
    let started = Instant::now();
    assert_eq!(
        a.take_rate_token(&other, rate).await.unwrap(),
        RateDecision::Allowed
    );
    tokio::time::sleep(wijkbrug::store::postgres::RATE_LOT_LIFETIME + Duration::from_millis(100))
        .await;
    assert_eq!(
        a.take_rate_token(&other, rate).await.unwrap(),
        RateDecision::Allowed
    );
    let b_allowed = drain(&b, &other, rate, 200).await;
    let refilled = started.elapsed().as_secs_f64().ceil() as u32;
    assert!(
        (80..=80 + refilled).contains(&b_allowed),
        "B was allowed {b_allowed}: two lots of A's should have left it 80 (+{refilled})"
    );
    // The first lot's nine were dropped; the second's nine are still A's.
    let a_left = drain(&a, &other, rate, 200).await;
    assert!((9..=9 + refilled).contains(&a_left), "A had {a_left} left");
}

#[tokio::test]
async fn the_previous_versions_one_token_function_still_takes_from_the_same_bucket() {
    // During a rolling upgrade instances of the previous version call `take_rate_token`
    // (migration 1001); since 1005 it takes through `take_rate_tokens`.
    let db = TestDb::postgres().await;
    let _store = db.open().await;
    let raw = db.raw().await;
    let take = "SELECT take_rate_token('in:old-version', 0.01, 3)";
    for _ in 0..3 {
        let (wait,): (f64,) = raw.fetch_one(take, &[]).await;
        assert_eq!(wait, 0.0);
    }
    let (wait,): (f64,) = raw.fetch_one(take, &[]).await;
    assert!(wait > 1.0, "the burst of 3 is spent: wait {wait}");
    // The new function sees the same, empty, bucket.
    let (granted,): (i32,) = raw
        .fetch_one(
            "SELECT granted FROM take_rate_tokens('in:old-version', 0.01, 3, 10)",
            &[],
        )
        .await;
    assert_eq!(granted, 0);
    raw.close().await;
}

#[tokio::test]
async fn requests_over_an_empty_bucket_are_limited_without_asking_the_database_until_it_refills() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let rate = quota(1, 5);
    let p = RateBucket::Inbound(partner(SENDER));
    assert_eq!(drain(&store, &p, rate, 20).await, 5);
    // The refusal came from the database, which moved the bucket's refill time.
    let raw = db.raw().await;
    let refilled = format!(
        "SELECT to_char(refilled_at, 'YYYY-MM-DD HH24:MI:SS.US') FROM rate_buckets \
         WHERE partner = 'in:{SENDER}'"
    );
    let (before,): (String,) = raw.fetch_one(&refilled, &[]).await;
    // A flood of requests over the quota: each limited, with the time left until the token.
    let mut last = Duration::MAX;
    for _ in 0..50 {
        match store.take_rate_token(&p, rate).await.unwrap() {
            RateDecision::Limited { retry_after } => {
                assert!(retry_after <= last && retry_after <= Duration::from_secs(1));
                last = retry_after;
            }
            RateDecision::Allowed => panic!("no token can have refilled yet"),
        }
    }
    // None of them asked the database.
    let (after,): (String,) = raw.fetch_one(&refilled, &[]).await;
    assert_eq!(before, after);
    // Once the token is due, the next request asks again and gets it.
    tokio::time::sleep(last + Duration::from_millis(50)).await;
    assert_eq!(
        store.take_rate_token(&p, rate).await.unwrap(),
        RateDecision::Allowed
    );
    let (later,): (String,) = raw.fetch_one(&refilled, &[]).await;
    assert_ne!(later, after);
    raw.close().await;
}

#[tokio::test]
async fn a_rate_limit_the_database_could_not_answer_fails_at_once_for_a_moment_then_asks_again() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let rate = quota(100, 100);
    let p = RateBucket::Inbound(partner(SENDER));
    let other = RateBucket::Outbound(partner(RECEIVER));
    // The database refuses the store's sessions: no new ones, the open ones ended.
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", common::db::pg_server()))
        .await
        .unwrap();
    let (name,): (String,) = {
        let raw = db.raw().await;
        let row = raw.fetch_one("SELECT current_database()::text", &[]).await;
        raw.close().await;
        row
    };
    sqlx::raw_sql(&format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    assert!(store.take_rate_token(&p, rate).await.is_err());
    let failed = Instant::now();
    // The database is back; for a moment the bucket's requests still get the failure at once
    // (the callers fall back as for any failure) instead of each asking again.
    sqlx::raw_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let held = store.take_rate_token(&p, rate).await;
    if failed.elapsed() < wijkbrug::store::postgres::RATE_FAILURE_HOLD {
        assert!(held.is_err(), "within the hold: {held:?}");
    }
    // Another bucket asks the database itself.
    assert_eq!(
        store.take_rate_token(&other, rate).await.unwrap(),
        RateDecision::Allowed
    );
    // After the hold the bucket asks again, and gets its tokens.
    tokio::time::sleep(wijkbrug::store::postgres::RATE_FAILURE_HOLD).await;
    assert_eq!(
        store.take_rate_token(&p, rate).await.unwrap(),
        RateDecision::Allowed
    );
    admin.close().await.unwrap();
}

#[tokio::test]
async fn instances_register_see_each_other_and_retire() {
    let db = TestDb::postgres().await;
    let (a, b) = two_instances(&db).await;
    let me = |id: &str| InstanceInfo {
        id: id.to_owned(),
        version: "test".to_owned(),
        host: "test-host".to_owned(),
        started_at: now(),
    };
    let (ia, ib) = (me("gw-a"), me("gw-b"));
    assert_eq!(a.heartbeat(&ia).await.unwrap(), None);
    assert_eq!(b.heartbeat(&ib).await.unwrap(), None);
    assert_eq!(
        a.heartbeat(&ia).await.unwrap(),
        None,
        "a refresh replaces nothing"
    );
    let seen = b.instances(Duration::from_secs(60)).await.unwrap();
    let ids: HashSet<&str> = seen.iter().map(|s| s.instance.id.as_str()).collect();
    assert_eq!(ids, HashSet::from(["gw-a", "gw-b"]));

    // Another start under the same id is told what it replaced.
    let mut again = me("gw-a");
    again.started_at = ia.started_at + chrono::Duration::seconds(1);
    let replaced = b.heartbeat(&again).await.unwrap().unwrap();
    assert_eq!(replaced.instance, ia);

    b.retire_instance(&ib).await.unwrap();
    let seen = a.instances(Duration::from_secs(60)).await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].instance, again);
    // Retiring the first start's registration does not remove the second's.
    a.retire_instance(&ia).await.unwrap();
    assert_eq!(a.instances(Duration::from_secs(60)).await.unwrap().len(), 1);
}

// ---- a database of an older schema --------------------------------------------------------

/// The dump of a database at schema version 0003 (before retention and the scale-out tables),
/// made by `write_the_older_schema_fixture` below.
const OLDER_SCHEMA: &str = include_str!("fixtures/postgres-schema-0003.sql");

/// The fixture's referrals, rebuilt as they were stored.
fn fixture_referrals() -> (NewReferral, NewReferral, ConsentId) {
    let consent = ConsentId(Uuid::parse_str("01930000-0000-7000-8000-00000000c0de").unwrap());
    let shared = routed_with(
        ReferralId::from_parts(1_762_000_000_000, [7; 10]),
        "OLD-1",
        Some(consent),
    );
    let waiting = routed_with(
        ReferralId::from_parts(1_762_000_000_001, [8; 10]),
        "OLD-2",
        None,
    );
    (shared, waiting, consent)
}

fn fixture_consent() -> Consent {
    Consent {
        resident: Bsn::parse("999900006").unwrap(),
        grantee: Grantee::Partner(partner(RECEIVER)),
        purpose: Purpose::Referral,
        effect: ConsentEffect::Permit,
        categories: [DataCategory::Identity, DataCategory::Needs]
            .into_iter()
            .collect(),
        valid_from: at(0),
        valid_until: None,
        recorded_by: partner(SENDER),
        evidence: None,
        revoked_at: None,
    }
}

/// Writes `tests/fixtures/postgres-schema-0003.sql`: a database migrated to 0003 only, with a
/// consent, two referrals (one delivered and accepted, its sender's notice still queued; one
/// waiting) and an idempotency key, dumped with `pg_dump`. Run it by hand when the fixture
/// must be made again:
/// `cargo test --test store_postgres -- --ignored write_the_older_schema_fixture`.
#[tokio::test]
#[ignore]
async fn write_the_older_schema_fixture() {
    let db = TestDb::postgres().await;
    let mut migrator = sqlx::migrate::Migrator::new(common::root().join("migrations/postgres"))
        .await
        .unwrap();
    migrator.migrations = std::borrow::Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|m| m.version <= 3)
            .cloned()
            .collect(),
    );
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    migrator.run_direct(&mut conn).await.unwrap();
    conn.close().await.unwrap();

    let store = db.open_unmigrated(&db.settings()).await;
    let (shared, waiting, consent) = fixture_referrals();
    store
        .insert_consent(consent, &fixture_consent())
        .await
        .unwrap();
    let ids = [shared.referral.id, waiting.referral.id];
    store
        .intake(intake(Some("old-key"), vec![shared, waiting]))
        .await
        .unwrap();
    let leases = store
        .claim_due("old-worker", &[partner(RECEIVER)], now(), LEASE, 1)
        .await
        .unwrap();
    assert_eq!(leases[0].item.referral, ids[0]);
    assert!(store
        .complete(leases[0].row, "old-worker", at(3))
        .await
        .unwrap());
    let accepted = step(
        ReferralStatus::Accepted,
        at(4),
        Actor::Partner(partner(RECEIVER)),
    );
    let notice = OutboxItem {
        referral: ids[0],
        recipient: partner(SENDER),
        kind: OutboxKind::Status { transition: 0 },
    };
    store
        .apply_transition(ids[0], accepted, vec![notice])
        .await
        .unwrap();
    store.close().await;

    let dump = std::process::Command::new("pg_dump")
        .args([
            "--no-owner",
            "--no-privileges",
            "--column-inserts",
            "--dbname",
        ])
        .arg(db.url())
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = String::from_utf8(dump.stdout).unwrap();
    // psql meta-commands (newer pg_dump writes `\restrict`) are not SQL: left out.
    let sql: Vec<&str> = text.lines().filter(|l| !l.starts_with('\\')).collect();
    let header =
        "-- A wijkbrug PostgreSQL database at schema version 0003 (migrations 0001-0003),\n\
                  -- with a consent, two referrals, their outbox rows and audit events, dumped by\n\
                  -- pg_dump. Made by tests/store_postgres.rs write_the_older_schema_fixture;\n\
                  -- loaded by an_older_schema_is_migrated_with_its_data_intact.\n";
    std::fs::write(
        common::root().join("tests/fixtures/postgres-schema-0003.sql"),
        format!("{header}{}\n", sql.join("\n")),
    )
    .unwrap();
}

#[tokio::test]
async fn an_older_schema_is_migrated_with_its_data_intact() {
    let db = TestDb::postgres().await;
    {
        let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
        sqlx::raw_sql(OLDER_SCHEMA)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let store = db.open_unmigrated(&db.settings()).await;
    assert!(
        store.ready().await.is_err(),
        "the older schema is not current"
    );
    let events_before = {
        let raw = db.raw().await;
        let (n,): (i64,) = raw
            .fetch_one("SELECT count(*) FROM audit_events", &[])
            .await;
        raw.close().await;
        n as u64
    };
    store.migrate().await.unwrap();
    store.ready().await.unwrap();

    // The referrals read back exactly as they were stored.
    let (shared, waiting, consent) = fixture_referrals();
    let stored = store.referral(shared.referral.id).await.unwrap().unwrap();
    let mut history = shared.referral.history.clone();
    history
        .apply(step(ReferralStatus::Delivered, at(3), Actor::Gateway))
        .unwrap();
    history
        .apply(step(
            ReferralStatus::Accepted,
            at(4),
            Actor::Partner(partner(RECEIVER)),
        ))
        .unwrap();
    assert_eq!(stored.referral.request, shared.referral.request);
    assert_eq!(stored.referral.history, history);
    assert_eq!(stored.shared, shared.shared);
    let stored = store.referral(waiting.referral.id).await.unwrap().unwrap();
    assert_eq!(stored.referral, waiting.referral);
    assert_eq!(
        store
            .referral_meta(waiting.referral.id)
            .await
            .unwrap()
            .unwrap()
            .erased_at,
        None
    );
    let consents = store
        .consents_for(&Bsn::parse("999900006").unwrap())
        .await
        .unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].id, consent);
    assert_eq!(consents[0].consent, fixture_consent());
    // The idempotency key still answers the first ids.
    let repeat = store
        .intake(intake(Some("old-key"), vec![routed("NEW-1")]))
        .await
        .unwrap();
    assert_eq!(
        repeat,
        [
            IntakeOutcome::Duplicate(shared.referral.id),
            IntakeOutcome::Duplicate(waiting.referral.id)
        ]
    );

    // The chain verifies and goes on from the head the older database left.
    let events = all_events(&*store).await;
    assert_eq!(events.len() as u64, events_before);
    assert!(events_before > 5);
    assert_eq!(verify(&events), Ok(events_before));
    store
        .record_read(&partner(SENDER), shared.referral.id)
        .await
        .unwrap();
    let events = all_events(&*store).await;
    assert_eq!(verify(&events), Ok(events_before + 1));

    // The queued rows are delivered as before: the waiting referral and the sender's notice.
    let leases = store
        .claim_due(
            "new-worker",
            &[partner(RECEIVER), partner(SENDER)],
            now(),
            LEASE,
            10,
        )
        .await
        .unwrap();
    let items: Vec<&OutboxItem> = leases.iter().map(|l| &l.item).collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.contains(&&waiting.outbox[0]));
    assert!(items.contains(&&OutboxItem {
        referral: shared.referral.id,
        recipient: partner(SENDER),
        kind: OutboxKind::Status { transition: 3 },
    }));
    // New rows get ids after the old ones (the identity sequence came along).
    let max_old = leases.iter().map(|l| l.row).max().unwrap();
    let new = routed("NEW-2");
    let new_id = new.referral.id;
    store.intake(intake(None, vec![new])).await.unwrap();
    let leased = store
        .claim_due("new-worker", &[partner(RECEIVER)], now(), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].item.referral, new_id);
    assert!(leased[0].row > max_old);
    // The overview's counts were initialised from the rows the older database had.
    assert_overview_counts_agree(&db, &*store).await;
}

/// The overview's trigger-kept counts equal what counting the rows gives, its figures since
/// a time too (per-hour counts, migration 0010).
async fn assert_overview_counts_agree(db: &TestDb, store: &dyn Store) {
    common::overview::assert_since_figures_agree(
        db,
        store,
        &common::overview::sinces_around(&[
            at(0),
            at(59),
            now(),
            now() - Duration::from_secs(86_400),
        ]),
    )
    .await;
    let overview = store.ops_overview(now(), now()).await.unwrap();
    let raw = db.raw().await;
    let by_status: Vec<(String, i64)> = raw
        .fetch_all(
            "SELECT status, count(*) FROM referrals GROUP BY status",
            &[],
        )
        .await;
    for (status, n) in &overview.by_status {
        let rows = by_status
            .iter()
            .find(|(s, _)| s == status.code())
            .map_or(0, |(_, n)| *n as u64);
        assert_eq!(*n, rows, "referrals {status:?}");
    }
    // /metrics' counts per status and receiver (migration 1004), against the rows.
    let mut by_receiver: Vec<(String, Option<String>, i64)> = raw
        .fetch_all(
            "SELECT status, receiver, count(*) FROM referrals GROUP BY status, receiver",
            &[],
        )
        .await;
    by_receiver.sort();
    let mut kept: Vec<(String, Option<String>, i64)> = store
        .referral_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.status.code().to_owned(),
                c.receiver.map(|r| r.as_str().to_owned()),
                c.count as i64,
            )
        })
        .collect();
    kept.sort();
    assert_eq!(kept, by_receiver, "referrals per status and receiver");
    let (pending, retrying, dead): (i64, i64, i64) = raw
        .fetch_one(
            "SELECT count(*) FILTER (WHERE state = 'pending'), \
             count(*) FILTER (WHERE state = 'pending' AND last_error IS NOT NULL), \
             count(*) FILTER (WHERE state = 'dead') FROM outbox",
            &[],
        )
        .await;
    raw.close().await;
    assert_eq!(
        (
            overview.deliveries_pending,
            overview.deliveries_retrying,
            overview.dead_letters
        ),
        (pending as u64, retrying as u64, dead as u64)
    );
}

#[tokio::test]
async fn the_overview_counts_stay_exact_with_two_instances_writing_at_once() {
    let db = TestDb::postgres().await;
    let settings = db.settings_with(8, Duration::from_millis(1));
    let a = db.open_with(&settings).await.shared();
    let b = db.open_with(&settings).await.shared();
    // Intakes, transitions and delivery outcomes through both instances at once: every
    // trigger (insert, status change, outbox state and failing changes) on both.
    let mut tasks = Vec::new();
    for (i, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        let worker = if i == 0 { "worker-a" } else { "worker-b" };
        for n in 0..30 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let new = routed(&format!("C-{i}-{n}"));
                let id = new.referral.id;
                store.intake(intake(None, vec![new])).await.unwrap();
                if n % 3 == 0 {
                    let cancelled = step(
                        ReferralStatus::Cancelled,
                        now(),
                        Actor::Partner(partner(SENDER)),
                    );
                    store.apply_transition(id, cancelled, vec![]).await.unwrap();
                }
            }));
        }
        for n in 0..3 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    let leases = store
                        .claim_due(worker, &[partner(RECEIVER)], now(), LEASE, 3)
                        .await
                        .unwrap();
                    for lease in leases {
                        let done = match (lease.row + n) % 3 {
                            0 => store.complete(lease.row, worker, now()).await,
                            1 => {
                                store
                                    .retry_later(lease.row, worker, now(), "503 unavailable")
                                    .await
                            }
                            _ => {
                                store
                                    .dead_letter(lease.row, worker, "400 refused", now(), vec![])
                                    .await
                            }
                        };
                        assert!(done.unwrap());
                    }
                    tokio::task::yield_now().await;
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_overview_counts_agree(&db, a.as_ref()).await;
    let total: u64 = a
        .ops_overview(now(), now())
        .await
        .unwrap()
        .by_status
        .iter()
        .map(|(_, n)| n)
        .sum();
    assert_eq!(total, 60);
}

#[tokio::test]
async fn benchmark_seeding_bypasses_the_count_triggers_and_keeps_the_counts_exact() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    // A referral the gateway stored, then two seedings on top: the counts add up.
    store
        .intake(intake(None, vec![routed("BEFORE-SEED")]))
        .await
        .unwrap();
    for tag in [1, 2] {
        let plan = wijkbrug::store::bench_seed::SeedPlan {
            count: 500,
            span_secs: 86_400,
            tag,
        };
        store.seed_benchmark_referrals(&plan, now()).await.unwrap();
    }
    let overview = store.ops_overview(now(), now()).await.unwrap();
    let total: u64 = overview.by_status.iter().map(|(_, n)| *n).sum();
    assert_eq!(total, 1_001);
    assert_overview_counts_agree(&db, &*store).await;
    store.close().await;
}

/// Every count table next to what counting the rows gives, as (key, count) with zero counts
/// left out (a key whose rows all moved away may keep a row of zero).
async fn assert_count_tables_match_rows(conn: &mut sqlx::PgConnection, when: &str) {
    const HOUR: &str = "date_trunc('hour', received_at, 'UTC')::text";
    let pairs = [
        (
            "SELECT status || '/' || receiver, referrals FROM referral_status_counts".to_owned(),
            "SELECT status || '/' || COALESCE(receiver, ''), count(*) FROM referrals GROUP BY 1"
                .to_owned(),
        ),
        (
            "SELECT hour::text, received FROM referral_hourly_counts".to_owned(),
            format!("SELECT {HOUR}, count(*) FROM referrals GROUP BY 1"),
        ),
        (
            "SELECT hour::text, consent_missing FROM referral_hourly_counts".to_owned(),
            format!(
                "SELECT {HOUR}, count(*) FROM referrals WHERE status = 'consent_missing' \
                 GROUP BY 1"
            ),
        ),
        (
            "SELECT recipient || '/' || state || '/' || failing, rows FROM outbox_counts"
                .to_owned(),
            "SELECT recipient || '/' || state || '/' || (last_error IS NOT NULL), count(*) \
             FROM outbox GROUP BY 1"
                .to_owned(),
        ),
        (
            "SELECT hour::text || '/' || recipient, deliveries FROM delivered_hourly_counts"
                .to_owned(),
            "SELECT date_trunc('hour', delivered_at, 'UTC')::text || '/' || recipient, \
             count(*) FROM outbox WHERE state = 'delivered' AND delivered_at IS NOT NULL \
             GROUP BY 1"
                .to_owned(),
        ),
    ];
    for (kept, counted) in pairs {
        let mut both = Vec::new();
        for sql in [&kept, &counted] {
            let mut rows: Vec<(String, i64)> =
                sqlx::query_as(sql).fetch_all(&mut *conn).await.unwrap();
            rows.retain(|(_, n)| *n != 0);
            rows.sort();
            both.push(rows);
        }
        assert_eq!(both[0], both[1], "{kept}, {when}");
    }
}

/// The count triggers keep every count table exact through every kind of change a row goes
/// through, in any order: referrals inserted, their status moved
/// (into and out of `consent_missing`), their receiver set and cleared, their `received_at`
/// moved within an hour and across hours, deleted; outbox rows inserted, moved between
/// states and recipients, failing and recovering, delivered and their `delivered_at` moved,
/// deleted. Seeded, so a failure replays.
#[tokio::test]
async fn the_count_triggers_keep_every_count_table_exact_through_any_change() {
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    const STATUSES: [&str; 5] = [
        "received",
        "consent_missing",
        "delivered",
        "accepted",
        "completed",
    ];
    const STATES: [&str; 5] = ["pending", "delivered", "dead", "cancelled", "discarded"];
    const PARTNERS: [&str; 3] = ["wijkteam-noord", "zorg-oost", "werkplein"];
    let db = TestDb::postgres().await;
    db.open().await.close().await;
    let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    // Three hours, each minute of them possible.
    let time = |rng: &mut StdRng| {
        format!(
            "2026-11-0{} 1{}:{:02}:00Z",
            rng.random_range(1..=2),
            rng.random_range(0..=1),
            rng.random_range(0..60)
        )
    };
    let mut referrals: Vec<Uuid> = Vec::new();
    let mut outbox: Vec<(i64, Uuid)> = Vec::new();
    let mut ran = [0u32; 13];
    for step in 0..600 {
        let status = STATUSES[rng.random_range(0..STATUSES.len())];
        let state = STATES[rng.random_range(0..STATES.len())];
        let partner = PARTNERS[rng.random_range(0..PARTNERS.len())];
        let at = time(&mut rng);
        let referral =
            (!referrals.is_empty()).then(|| referrals[rng.random_range(0..referrals.len())]);
        let row = (!outbox.is_empty()).then(|| outbox[rng.random_range(0..outbox.len())].0);
        // The change to make: a new referral when there is nothing yet to change.
        let op = match (rng.random_range(0..13), referral, row) {
            (_, None, _) | (8..=11, _, None) => 0,
            (op, _, _) => op,
        };
        ran[op] += 1;
        let sql: Option<(String, Vec<String>)> = match (op, referral, row) {
            (0 | 1, _, _) | (_, None, _) => {
                let id = Uuid::now_v7();
                referrals.push(id);
                let routed = rng.random_bool(0.5);
                Some((
                    format!(
                        "INSERT INTO referrals (id, sender, source_ref, receiver, status, \
                         request, shared, shared_categories, shared_removed, received_at, \
                         updated_at) VALUES ('{id}', 'woonstad-noord', '{id}', {}, $1, '{{}}', \
                         {}, $2::timestamptz, $2::timestamptz)",
                        if routed { "$3" } else { "NULL" },
                        if routed {
                            "'{}', '', ''"
                        } else {
                            "NULL, NULL, NULL"
                        },
                    ),
                    if routed {
                        vec![status.into(), at, partner.into()]
                    } else {
                        vec![status.into(), at]
                    },
                ))
            }
            (2, Some(id), _) => Some((
                format!("UPDATE referrals SET status = $1 WHERE id = '{id}'"),
                vec![status.into()],
            )),
            (3, Some(id), _) => Some((
                format!(
                    "UPDATE referrals SET receiver = CASE WHEN receiver IS NULL THEN $1 END, \
                     shared = CASE WHEN receiver IS NULL THEN '{{}}' END, \
                     shared_categories = CASE WHEN receiver IS NULL THEN '' END, \
                     shared_removed = CASE WHEN receiver IS NULL THEN '' END, \
                     consent_id = NULL WHERE id = '{id}'"
                ),
                vec![partner.into()],
            )),
            (4, Some(id), _) => Some((
                format!("UPDATE referrals SET received_at = $1::timestamptz WHERE id = '{id}'"),
                vec![at],
            )),
            (5, Some(id), _) => Some((
                // Both at once, as the writer's status change can.
                format!(
                    "UPDATE referrals SET status = $1, received_at = $2::timestamptz \
                     WHERE id = '{id}'"
                ),
                vec![status.into(), at],
            )),
            (6, Some(id), _) => {
                referrals.retain(|r| *r != id);
                outbox.retain(|(_, of)| *of != id);
                Some((
                    format!(
                        "WITH o AS (DELETE FROM outbox WHERE referral_id = '{id}') \
                         DELETE FROM referrals WHERE id = '{id}'"
                    ),
                    Vec::new(),
                ))
            }
            (7 | 12, Some(id), _) => {
                let (new,): (i64,) = sqlx::query_as(
                    "INSERT INTO outbox (referral_id, recipient, kind, created_at, \
                     next_attempt_at) VALUES ($1, $2, 'referral', now(), now()) RETURNING id",
                )
                .bind(id)
                .bind(partner)
                .fetch_one(&mut conn)
                .await
                .unwrap();
                outbox.push((new, id));
                None
            }
            (8, _, Some(row)) => Some((
                format!(
                    "UPDATE outbox SET state = $1, \
                     delivered_at = CASE WHEN $1 = 'delivered' THEN $2::timestamptz END, \
                     failed_at = CASE WHEN $1 = 'dead' THEN $2::timestamptz END WHERE id = {row}"
                ),
                vec![state.into(), at],
            )),
            (9, _, Some(row)) => Some((
                format!(
                    "UPDATE outbox SET last_error = CASE WHEN last_error IS NULL \
                     THEN 'HTTP 503' END WHERE id = {row}"
                ),
                Vec::new(),
            )),
            (10, _, Some(row)) => Some((
                format!(
                    "UPDATE outbox SET recipient = $1, \
                     delivered_at = CASE WHEN delivered_at IS NOT NULL THEN $2::timestamptz END \
                     WHERE id = {row}"
                ),
                vec![partner.into(), at],
            )),
            (11, _, Some(row)) => {
                outbox.retain(|(r, _)| *r != row);
                Some((format!("DELETE FROM outbox WHERE id = {row}"), Vec::new()))
            }
            _ => None,
        };
        if let Some((sql, binds)) = sql {
            let mut query = sqlx::query(&sql);
            for b in binds {
                query = query.bind(b);
            }
            query.execute(&mut conn).await.unwrap();
        }
        if step % 50 == 49 {
            assert_count_tables_match_rows(&mut conn, &format!("after step {step}")).await;
        }
    }
    // Every kind of change ran, again and again.
    assert!(ran.iter().all(|n| *n >= 20), "{ran:?}");
    conn.close().await.unwrap();
}
