//! The dashboard overview's figures since a time (referrals received, of them now
//! `consent_missing`, deliveries per recipient) on a real store (a SQLite file, or PostgreSQL
//! with `WIJKBRUG_TEST_STORE=postgres`): the store sums whole hours from per-hour counts kept
//! by triggers (migration `0010_dashboard_hourly.sql`) and counts only the part of an hour at
//! `since` from the rows, and every figure must equal counting the rows: with `since` inside
//! an hour, on it, and around it, after status changes, deliveries, erasures and deletes,
//! after benchmark seeding, and after migrating a store that already held rows.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use common::db::TestDb;
use common::overview::{assert_since_figures_agree, sinces_around};
use common::store_fixtures::{partner, received_referral, step};
use sqlx::Connection;
use wijkbrug::store::{Intake, NewReferral, Store};
use wijkbrug_adapters::model::{Actor, PartnerId, ReferralId, ReferralStatus};

const SENDER: &str = "woonstad-noord";
const RECEIVERS: [&str; 2] = ["wijkteam-centrum", "huisarts-de-linde"];
const WORKER: &str = "hourly-worker";
const LEASE: Duration = Duration::from_secs(600);

/// Minutes (and a few seconds) after 2026-03-01T10:00:00Z.
fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
        + chrono::Duration::minutes(minutes)
        + chrono::Duration::seconds(minutes % 7)
}

/// A referral received at `received`: routed to `receiver` (queued for it), or refused for
/// want of consent when there is none.
fn referral(receiver: Option<&str>, received: DateTime<Utc>) -> NewReferral {
    received_referral(SENDER, receiver, None, "H", received)
}

/// Stores 24 referrals over about nine hours (every third refused for want of consent, the
/// others routed to the two receivers in turn); their ids and receive times.
async fn spread_over_hours(store: &dyn Store) -> Vec<(ReferralId, DateTime<Utc>)> {
    let mut out = Vec::new();
    for k in 0..24 {
        let received = t(k * 23);
        let receiver = (k % 3 != 0).then_some(RECEIVERS[k as usize % 2]);
        let r = referral(receiver, received);
        let id = r.referral.id;
        store
            .intake(Intake {
                sender: partner(SENDER),
                idempotency_key: None,
                referrals: vec![r],
            })
            .await
            .unwrap();
        out.push((id, received));
    }
    out
}

/// Delivers every due row to the receivers at times spread over several hours (one in five
/// becomes a dead letter, one in seven is retried later).
async fn deliver(store: &dyn Store) {
    let receivers: Vec<PartnerId> = RECEIVERS.iter().map(|p| partner(p)).collect();
    let leases = store
        .claim_due(
            WORKER,
            &receivers,
            Utc::now() + chrono::Duration::hours(1),
            LEASE,
            100,
        )
        .await
        .unwrap();
    assert!(!leases.is_empty());
    for (n, lease) in leases.iter().enumerate() {
        let at = t(30 + n as i64 * 37);
        let done = match n % 5 {
            4 => {
                store
                    .dead_letter(lease.row, WORKER, "400 refused", at, vec![])
                    .await
            }
            _ if n % 7 == 6 => {
                store
                    .retry_later(lease.row, WORKER, at, "503 unavailable")
                    .await
            }
            _ => store.complete(lease.row, WORKER, at).await,
        };
        assert!(done.unwrap());
    }
}

fn times(rows: &[(ReferralId, DateTime<Utc>)]) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = rows.iter().map(|(_, at)| *at).collect();
    out.extend((0..16).map(|n| t(30 + n * 37)));
    out
}

/// The per-hour count rows never go below zero.
async fn assert_no_negative_hours(db: &TestDb) {
    let raw = db.raw().await;
    let (negative,): (i64,) = raw
        .fetch_one(
            "SELECT (SELECT COUNT(*) FROM referral_hourly_counts \
                     WHERE received < 0 OR consent_missing < 0 OR consent_missing > received) \
                  + (SELECT COUNT(*) FROM delivered_hourly_counts WHERE deliveries < 0)",
            &[],
        )
        .await;
    raw.close().await;
    assert_eq!(negative, 0);
}

#[tokio::test]
async fn the_figures_since_a_time_equal_counting_the_rows() {
    let db = TestDb::new().await;
    let store = db.open().await;
    let stored = spread_over_hours(&*store).await;
    let sinces = sinces_around(&times(&stored));
    assert_since_figures_agree(&db, &*store, &sinces).await;

    // Status changes in and out of consent_missing, and others.
    for (n, (id, at)) in stored.iter().enumerate() {
        let later = *at + chrono::Duration::minutes(5);
        let to = match n % 6 {
            // refused for want of consent: the consent came, routed now
            0 => ReferralStatus::Routed,
            // routed: the consent was withdrawn
            1 => ReferralStatus::ConsentMissing,
            2 => ReferralStatus::Cancelled,
            _ => continue,
        };
        let outcome = store
            .apply_transition(*id, step(to, later, Actor::Gateway), vec![])
            .await
            .unwrap();
        assert!(
            matches!(outcome, wijkbrug::store::TransitionOutcome::Applied(_)),
            "{n}: {outcome:?}"
        );
    }
    assert_since_figures_agree(&db, &*store, &sinces).await;

    // Deliveries (and dead letters, retries) over several hours.
    deliver(&*store).await;
    assert_since_figures_agree(&db, &*store, &sinces).await;

    // Retention erases the finished ones' payloads (cancelling what was still queued).
    let erased = store
        .erase_payloads(t(24 * 60), t(24 * 60), 100)
        .await
        .unwrap();
    assert!(erased > 0);
    assert_since_figures_agree(&db, &*store, &sinces).await;

    // Rows changed and deleted behind the store's back: a delivery moved to another hour and
    // recipient, deliveries and whole referrals deleted.
    let raw = db.raw().await;
    let ids: Vec<(String,)> = raw
        .fetch_all(
            "SELECT CAST(id AS TEXT) FROM outbox WHERE state = 'delivered' ORDER BY id",
            &[],
        )
        .await;
    assert!(ids.len() >= 4, "{ids:?}");
    let moved = if raw.is_postgres() {
        "UPDATE outbox SET delivered_at = delivered_at - interval '3 hours', \
         recipient = 'werkplein' WHERE CAST(id AS TEXT) = ?"
    } else {
        "UPDATE outbox SET delivered_at = strftime('%Y-%m-%dT%H:%M:%fZ', delivered_at, \
         '-3 hours') || '000', recipient = 'werkplein' WHERE CAST(id AS TEXT) = ?"
    };
    assert_eq!(raw.execute(moved, &[ids[0].0.clone().into()]).await, 1);
    assert_eq!(
        raw.execute(
            "UPDATE outbox SET state = 'cancelled' WHERE CAST(id AS TEXT) = ?",
            &[ids[1].0.clone().into()],
        )
        .await,
        1
    );
    assert_eq!(
        raw.execute(
            "DELETE FROM outbox WHERE CAST(id AS TEXT) = ?",
            &[ids[2].0.clone().into()],
        )
        .await,
        1
    );
    for (id, _) in stored.iter().step_by(5) {
        let id = id.to_string();
        for sql in [
            "DELETE FROM outbox WHERE CAST(referral_id AS TEXT) = ?",
            "DELETE FROM status_transitions WHERE CAST(referral_id AS TEXT) = ?",
            "DELETE FROM referrals WHERE CAST(id AS TEXT) = ?",
        ] {
            raw.execute(sql, &[id.clone().into()]).await;
        }
    }
    raw.close().await;
    assert_since_figures_agree(&db, &*store, &sinces).await;
    assert_no_negative_hours(&db).await;
    store.close().await;
}

#[tokio::test]
async fn benchmark_seeding_keeps_the_figures_since_a_time_exact() {
    let db = TestDb::new().await;
    let store = db.open().await;
    let stored = spread_over_hours(&*store).await;
    let now = Utc::now();
    for tag in [7, 8] {
        let plan = wijkbrug::store::bench_seed::SeedPlan {
            count: 400,
            span_secs: 2 * 86_400,
            tag,
        };
        store.seed_benchmark_referrals(&plan, now).await.unwrap();
    }
    let mut around = times(&stored);
    around.extend((0..12).map(|k| now - chrono::Duration::minutes(60 + k * 247)));
    assert_since_figures_agree(&db, &*store, &sinces_around(&around)).await;
    assert_no_negative_hours(&db).await;
    store.close().await;
}

#[tokio::test]
async fn migrating_a_store_that_holds_rows_counts_its_hours() {
    let db = TestDb::new().await;
    let store = db.open_unmigrated(&db.settings()).await;
    // Every migration but the per-hour counts' (0010), and on SQLite the outbox's rebuild
    // (0012), which makes its triggers again, 0010's among them: the store is opened on this
    // older schema, then migrated.
    let dir = if db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let mut migrator = sqlx::migrate::Migrator::new(common::root().join("migrations").join(dir))
        .await
        .unwrap();
    migrator.migrations = std::borrow::Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|m| m.version != 10 && !(dir == "sqlite" && m.version == 12))
            .cloned()
            .collect(),
    );
    if db.is_postgres() {
        let mut conn = sqlx::PgConnection::connect(&db.url()).await.unwrap();
        migrator.run_direct(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    } else {
        let path = db.data_dir().join("wijkbrug.db");
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        migrator.run_direct(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }
    assert!(store.ready().await.is_err(), "0010 is not applied yet");

    // Rows written on the older schema: intakes, status changes, deliveries.
    let stored = spread_over_hours(&*store).await;
    // Routed ones whose consent is withdrawn.
    for (id, at) in stored.iter().skip(1).step_by(3).step_by(2) {
        let later = *at + chrono::Duration::minutes(5);
        store
            .apply_transition(
                *id,
                step(ReferralStatus::ConsentMissing, later, Actor::Gateway),
                vec![],
            )
            .await
            .unwrap();
    }
    deliver(&*store).await;

    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    let sinces = sinces_around(&times(&stored));
    assert_since_figures_agree(&db, &*store, &sinces).await;

    // And the triggers keep them from there on.
    let more = spread_over_hours(&*store).await;
    deliver(&*store).await;
    let mut around = times(&stored);
    around.extend(times(&more));
    assert_since_figures_agree(&db, &*store, &sinces_around(&around)).await;
    assert_no_negative_hours(&db).await;
    store.close().await;
}
