//! What a referral costs the store over its life, and how fast each step goes, on SQLite and
//! on PostgreSQL: N referrals (default 2,000; `WIJKBRUG_COST_N`) are taken in, delivered,
//! read by the receiver, accepted and completed (each status sent back to the sender as a
//! notice, delivered too), 64 at a time. Prints, per store, the rate of each step and what the
//! store wrote per referral: transactions, rows, WAL bytes and fsyncs (PostgreSQL's statistics),
//! and the space the tables hold. PostgreSQL: a database made for the run on the server of
//! `WIJKBRUG_BENCH_PG` (default postgres://postgres@127.0.0.1:5432), dropped afterwards, and
//! swept by `.ci/run` like the tests' databases if the run was killed.
//!
//! `cargo bench --bench store_cost` (a plain program, not criterion).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use uuid::Uuid;
use wijkbrug::config::StoreSettings;
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::{ConsentId, Intake, NewReferral, OutboxItem, OutboxKind, SharedCopy, Store};
use wijkbrug_adapters::model::{
    Actor, CategorySet, DataCategory, ExternalRef, PartnerId, Referral, ReferralId, ReferralStatus,
    StatusHistory, Transition,
};

const SAMPLE: &str = include_str!("../tests/fixtures/referral.case.json");
const CONCURRENCY: usize = 64;
const SENDER: &str = "woonstad-noord";
const RECEIVER: &str = "wijkteam-centrum";

fn partner(id: &str) -> PartnerId {
    PartnerId::parse(id).expect("partner id")
}

/// A routed referral with its minimised copy for the receiver (as intake stores one).
fn routed(n: u64) -> NewReferral {
    let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).expect("fixture");
    let id = ReferralId::from_parts(1_760_000_000_000 + n, rand::random());
    doc["id"] = id.to_string().into();
    let (_, mut request) =
        wijkbrug_adapters::case_json::decode_request(doc.to_string().as_bytes()).expect("fixture");
    request.source.reference = ExternalRef::parse(&format!("COST-{n}")).expect("ref");
    let now = wijkbrug::store::now();
    let mut history = StatusHistory::received(now, Actor::Gateway);
    history
        .apply(step(ReferralStatus::Routed, now, Actor::Gateway))
        .expect("routed");
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

fn step(to: ReferralStatus, at: chrono::DateTime<chrono::Utc>, by: Actor) -> Transition {
    Transition {
        to,
        at,
        by,
        reason: None,
        reason_code: None,
    }
}

/// Runs `op` for every item, `CONCURRENCY` at a time; the items a second.
async fn each<T, F, Fut>(items: Vec<T>, op: F) -> f64
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let n = items.len();
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(items));
    let op = Arc::new(op);
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (queue, op) = (queue.clone(), op.clone());
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().expect("queue").pop();
                    match next {
                        Some(item) => op(item).await,
                        None => return,
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Claims and completes every due row, `CONCURRENCY` workers; rows a second.
async fn deliver_all(store: Arc<dyn Store>) -> f64 {
    let started = Instant::now();
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|w| {
            let (store, delivered) = (store.clone(), delivered.clone());
            tokio::spawn(async move {
                let worker = format!("worker-{w}");
                loop {
                    let leases = store
                        .claim_due(
                            &worker,
                            &[partner(RECEIVER), partner(SENDER)],
                            wijkbrug::store::now(),
                            Duration::from_secs(60),
                            4,
                        )
                        .await
                        .expect("claim");
                    if leases.is_empty() {
                        return;
                    }
                    for l in leases {
                        let done = store
                            .complete(l.row, &worker, wijkbrug::store::now())
                            .await
                            .expect("complete");
                        assert!(done);
                        delivered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    delivered.load(std::sync::atomic::Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The whole life of `n` referrals; the rate of each step.
async fn lifecycle(store: Arc<dyn Store>, n: u64) -> Vec<(&'static str, f64)> {
    let referrals: Vec<NewReferral> = (0..n).map(routed).collect();
    let ids: Vec<ReferralId> = referrals.iter().map(|r| r.referral.id).collect();
    let mut rates = Vec::new();
    let s = store.clone();
    rates.push((
        "intake (referral, history, outbox, 3 events)",
        each(referrals, move |r| {
            let s = s.clone();
            async move {
                s.intake(Intake {
                    sender: partner(SENDER),
                    idempotency_key: None,
                    referrals: vec![r],
                })
                .await
                .expect("intake");
            }
        })
        .await,
    ));
    rates.push((
        "claim + complete the delivery",
        deliver_all(store.clone()).await,
    ));
    let s = store.clone();
    rates.push((
        "receiver reads it (audited)",
        each(ids.clone(), move |id| {
            let s = s.clone();
            async move {
                s.record_read(&partner(RECEIVER), id).await.expect("read");
                s.referral(id).await.expect("read").expect("there");
            }
        })
        .await,
    ));
    for (label, status) in [
        ("status accepted, notice queued", ReferralStatus::Accepted),
        ("status completed, notice queued", ReferralStatus::Completed),
    ] {
        if status == ReferralStatus::Completed {
            // accepted -> in_progress -> completed: in_progress is part of the cost.
            let s = store.clone();
            each(ids.clone(), move |id| {
                let s = s.clone();
                async move {
                    let t = step(
                        ReferralStatus::InProgress,
                        wijkbrug::store::now(),
                        Actor::Partner(partner(RECEIVER)),
                    );
                    s.apply_transition(id, t, notice(id)).await.expect("status");
                }
            })
            .await;
            deliver_all(store.clone()).await;
        }
        let s = store.clone();
        rates.push((
            label,
            each(ids.clone(), move |id| {
                let s = s.clone();
                async move {
                    let t = step(
                        status,
                        wijkbrug::store::now(),
                        Actor::Partner(partner(RECEIVER)),
                    );
                    s.apply_transition(id, t, notice(id)).await.expect("status");
                }
            })
            .await,
        ));
        rates.push((
            "claim + complete the notice",
            deliver_all(store.clone()).await,
        ));
    }
    rates
}

fn notice(id: ReferralId) -> Vec<OutboxItem> {
    vec![OutboxItem {
        referral: id,
        recipient: partner(SENDER),
        kind: OutboxKind::Status { transition: 0 },
    }]
}

fn settings(url: String, data_dir: std::path::PathBuf) -> StoreSettings {
    StoreSettings {
        url,
        data_dir,
        max_connections: 8,
        group_commit_max_batch: 64,
        group_commit_max_wait: Duration::from_millis(2),
    }
}

fn print_rates(store: &str, n: u64, rates: &[(&str, f64)]) {
    println!("\n{store}: {n} referrals, {CONCURRENCY} at a time");
    for (label, rate) in rates {
        println!("  {label:<48} {rate:>9.0} /s");
    }
}

/// PostgreSQL's counters: commits, rows inserted, updated, deleted (this database), WAL
/// bytes, WAL records and WAL fsyncs (the server).
async fn pg_counters(conn: &mut sqlx::PgConnection, db: &str) -> [i64; 7] {
    let (commits, ins, upd, del): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database \
         WHERE datname = $1",
    )
    .bind(db)
    .fetch_one(&mut *conn)
    .await
    .expect("pg_stat_database");
    let (wal, records, syncs): (i64, i64, i64) = sqlx::query_as(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, wal_records, wal_sync \
         FROM pg_stat_wal",
    )
    .fetch_one(&mut *conn)
    .await
    .expect("pg_stat_wal");
    [commits, ins, upd, del, wal, records, syncs]
}

fn main() {
    let n: u64 = std::env::var("WIJKBRUG_COST_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");

    // SQLite.
    rt.block_on(async {
        let store = SqliteStore::open(&settings("sqlite://cost.db".into(), dir.path().into()))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let store = Arc::new(store);
        let rates = lifecycle(store.clone(), n).await;
        let (commits, _) = store.commit_stats();
        print_rates("sqlite", n, &rates);
        store.close().await;
        let bytes = std::fs::metadata(dir.path().join("cost.db"))
            .map(|m| m.len())
            .unwrap_or(0);
        println!(
            "  per referral: {:.2} write commits, {:.0} bytes of database file",
            commits as f64 / n as f64,
            bytes as f64 / n as f64
        );
    });

    // PostgreSQL.
    let server = std::env::var("WIJKBRUG_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("wijkbrug_test_{}_cost", std::process::id());
    rt.block_on(async {
        let Ok(mut admin) = sqlx::PgConnection::connect(&format!("{server}/postgres")).await else {
            println!("\npostgres: skipped, no server at {server}");
            return;
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let url = format!("{server}/{name}");
        let store = PgStore::open(&settings(url.clone(), dir.path().into()))
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        let store = Arc::new(store);
        // Counters are flushed when sessions end and at most once a second: settle first.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = pg_counters(&mut admin, &name).await;
        let rates = lifecycle(store.clone(), n).await;
        let (writer_commits, _) = store.commit_stats();
        store.close().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let after = pg_counters(&mut admin, &name).await;
        print_rates("postgres", n, &rates);
        let d: Vec<f64> = before
            .iter()
            .zip(after)
            .map(|(b, a)| (a - b) as f64 / n as f64)
            .collect();
        println!(
            "  per referral: {:.2} transactions, reads included ({:.2} of them the writer's \
             batches), {:.1} rows inserted, \
             {:.1} updated, {:.1} deleted",
            d[0],
            writer_commits as f64 / n as f64,
            d[1],
            d[2],
            d[3]
        );
        println!(
            "  per referral: {:.0} WAL bytes in {:.1} WAL records, {:.2} WAL fsyncs",
            d[4], d[5], d[6]
        );
        let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
        let sizes: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT relname::text, n_live_tup, pg_total_relation_size(relid) \
             FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC",
        )
        .fetch_all(&mut db)
        .await
        .expect("sizes");
        let total: i64 = sizes.iter().map(|(_, _, b)| b).sum();
        println!(
            "  space per referral: {:.0} bytes in all (tables, TOAST, indexes)",
            total as f64 / n as f64
        );
        for (table, rows, bytes) in sizes {
            if bytes > 0 {
                println!(
                    "    {table:<20} {:>6.1} rows {:>7.0} bytes",
                    rows as f64 / n as f64,
                    bytes as f64 / n as f64
                );
            }
        }
        let _ = db.close().await;
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
    });
}
