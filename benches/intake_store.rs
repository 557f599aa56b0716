//! Durable intakes: one at a time, and 64 at once, which each store's writer groups into shared
//! commits. Into a real SQLite file (WAL, synchronous = FULL), and into PostgreSQL (a database
//! made for the run on the server of `WIJKBRUG_BENCH_PG`, default
//! postgres://postgres@127.0.0.1:5432, dropped afterwards, and swept by `.ci/run` like
//! the tests' databases if the run was killed; skipped when there is none), where
//! the 64 are also split over two store handles, as two gateway instances would send them.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sqlx::Connection;
use wijkbrug::config::StoreSettings;
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::{Intake, NewReferral, OutboxItem, OutboxKind, Store};
use wijkbrug_adapters::model::{Actor, ExternalRef, Referral, ReferralId, StatusHistory};

const SAMPLE: &str = include_str!("../tests/fixtures/referral.case.json");

fn new_referral(n: u64) -> NewReferral {
    let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).expect("fixture");
    let id = ReferralId::from_parts(1_760_000_000_000 + n, rand::random());
    doc["id"] = id.to_string().into();
    let (_, mut request) =
        wijkbrug_adapters::case_json::decode_request(doc.to_string().as_bytes()).expect("fixture");
    request.source.reference =
        ExternalRef::parse(&format!("B-{n}-{}", rand::random::<u32>())).expect("ref");
    let sender = request.source.partner.clone();
    NewReferral {
        referral: Referral {
            id,
            request,
            history: StatusHistory::received(
                wijkbrug::store::now(),
                Actor::Partner(sender.clone()),
            ),
        },
        shared: None,
        outbox: vec![OutboxItem {
            referral: id,
            recipient: sender,
            kind: OutboxKind::Referral,
        }],
        consents: vec![],
    }
}

fn intake(r: NewReferral) -> Intake {
    Intake {
        sender: r.referral.request.source.partner.clone(),
        idempotency_key: None,
        referrals: vec![r],
    }
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

/// The two loads on `stores` (the 64 spread over them in turn).
fn bench_store(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    stores: &[Arc<dyn Store>],
) {
    let mut n = 0u64;
    let mut g = c.benchmark_group(name);
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    if stores.len() == 1 {
        g.bench_function("one_at_a_time", |b| {
            b.to_async(rt).iter(|| {
                n += 1;
                let store = stores[0].clone();
                let r = new_referral(n);
                async move { store.intake(intake(r)).await.expect("stored") }
            })
        });
    }
    g.throughput(Throughput::Elements(64));
    g.bench_function("64_concurrent", |b| {
        b.to_async(rt).iter(|| {
            let batch: Vec<_> = (0..64)
                .map(|i| {
                    n += 1;
                    (stores[i % stores.len()].clone(), new_referral(n))
                })
                .collect();
            async move {
                let tasks: Vec<_> = batch
                    .into_iter()
                    .map(|(store, r)| {
                        tokio::spawn(async move { store.intake(intake(r)).await.expect("stored") })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            }
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<SqliteStore> = rt.block_on(async {
        let s = SqliteStore::open(&settings("sqlite://bench.db".into(), dir.path().into()))
            .await
            .expect("open");
        s.migrate().await.expect("migrate");
        Arc::new(s)
    });
    let as_store: Arc<dyn Store> = sqlite.clone();
    bench_store(c, &rt, "intake_store/sqlite", &[as_store]);
    let (commits, intakes) = sqlite.commit_stats();
    println!(
        "sqlite group commit: {intakes} intakes in {commits} commits ({:.1} intakes a commit)",
        intakes as f64 / commits.max(1) as f64
    );

    let server = std::env::var("WIJKBRUG_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("wijkbrug_test_{}_bench", std::process::id());
    let admin = |sql: String| {
        let server = server.clone();
        rt.block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres")).await?;
            sqlx::query(&sql).execute(&mut conn).await?;
            conn.close().await
        })
    };
    if let Err(e) = admin(format!("CREATE DATABASE {name}")) {
        println!("postgres: skipped, no server at {server}: {e}");
        return;
    }
    let pg_settings = settings(format!("{server}/{name}"), dir.path().into());
    let (one, two): (Arc<PgStore>, Arc<PgStore>) = rt.block_on(async {
        let a = PgStore::open(&pg_settings).await.expect("open");
        a.migrate().await.expect("migrate");
        let b = PgStore::open(&pg_settings).await.expect("open");
        (Arc::new(a), Arc::new(b))
    });
    let (a, b): (Arc<dyn Store>, Arc<dyn Store>) = (one.clone(), two.clone());
    bench_store(c, &rt, "intake_store/postgres", std::slice::from_ref(&a));
    bench_store(c, &rt, "intake_store/postgres_two_instances", &[a, b]);
    for (label, s) in [("postgres instance 1", &one), ("postgres instance 2", &two)] {
        let (commits, intakes) = s.commit_stats();
        println!(
            "{label} group commit: {intakes} intakes in {commits} commits ({:.1} intakes a commit)",
            intakes as f64 / commits.max(1) as f64
        );
    }
    rt.block_on(async {
        one.close().await;
        two.close().await;
    });
    let _ = admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

criterion_group!(benches, bench);
criterion_main!(benches);
