//! The operations dashboard's reads on a large store: a SQLite file with a million referrals
//! (`DASHBOARD_BENCH_ROWS` to change it), each with an outbox row, spread over a year; then
//! the same rows in a PostgreSQL database of their own on the server of `WIJKBRUG_BENCH_PG`
//! (default postgres://postgres@127.0.0.1:5432; skipped when there is none), dropped
//! afterwards (`DASHBOARD_BENCH_STORES=postgres` or `sqlite` runs one store). Seeded by
//! `Store::seed_benchmark_referrals` (plain SQL for speed, the load generator's seeding;
//! metadata only: the request columns are empty, which the dashboard never reads), then every
//! read goes through `Store`.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use sqlx::Connection;
use wijkbrug::config::StoreSettings;
use wijkbrug::store::bench_seed::SeedPlan;
use wijkbrug::store::dashboard::{PageStart, ReferralFilter, Side};
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::Store;
use wijkbrug_adapters::model::{PartnerId, ReferralStatus};

/// The first referral's time (2026-01-01T00:00:00Z) and the step between two, in seconds.
const START: i64 = 1_767_225_600;
const STEP: i64 = 30;

/// The plan for `rows` referrals received one every [`STEP`] seconds from [`START`] on, and
/// the "now" to seed them at: [`Store::seed_benchmark_referrals`] spreads them evenly over
/// `span_secs` ending an hour before now, so referral `i` is received at `START + i * STEP`.
/// Its statuses (by `i % 20`): 1 in 20 consent_missing (no receiver), undeliverable (a dead
/// letter), delivered, declined and cancelled each, 2 in 20 accepted and in progress each, the
/// rest completed; each routed referral has an outbox row (delivered, or dead).
fn seed_plan(rows: u64) -> (SeedPlan, DateTime<Utc>) {
    let span = rows.max(1) * STEP as u64;
    let plan = SeedPlan {
        count: rows,
        span_secs: span,
        tag: 0,
    };
    let now = Utc
        .timestamp_opt(START + span as i64 + 3_600, 0)
        .single()
        .expect("time");
    (plan, now)
}

fn bench(c: &mut Criterion) {
    let rows: u64 = std::env::var("DASHBOARD_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = StoreSettings {
        url: "sqlite://dashboard.db".into(),
        data_dir: dir.path().to_path_buf(),
        max_connections: 4,
        group_commit_max_batch: 64,
        group_commit_max_wait: Duration::from_millis(2),
    };
    let stores =
        std::env::var("DASHBOARD_BENCH_STORES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    if stores.contains("sqlite") {
        bench_sqlite(c, &rt, &settings, rows);
    }
    if stores.contains("postgres") {
        bench_postgres(c, &rt, &settings, rows);
    }
}

fn bench_sqlite(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    settings: &StoreSettings,
    rows: u64,
) {
    let sqlite = rt.block_on(async {
        let s = SqliteStore::open(settings).await.expect("open");
        s.migrate().await.expect("migrate");
        let seeded = Instant::now();
        let (plan, now) = seed_plan(rows);
        s.seed_benchmark_referrals(&plan, now).await.expect("seed");
        println!(
            "sqlite: seeded {rows} referrals in {:.1}s",
            seeded.elapsed().as_secs_f64()
        );
        s
    });
    run(c, rt, "dashboard", &sqlite, rows);
    rt.block_on(sqlite.close());
}

fn bench_postgres(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    settings: &StoreSettings,
    rows: u64,
) {
    let server = std::env::var("WIJKBRUG_BENCH_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let name = format!("wijkbrug_test_{}_dashboard_bench", std::process::id());
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
    let pg = rt.block_on(async {
        let settings = StoreSettings {
            url: format!("{server}/{name}"),
            ..settings.clone()
        };
        let s = PgStore::open(&settings).await.expect("open");
        s.migrate().await.expect("migrate");
        let seeded = Instant::now();
        let (plan, now) = seed_plan(rows);
        s.seed_benchmark_referrals(&plan, now).await.expect("seed");
        // The seeding analyses the tables; a VACUUM as well sets the visibility map, as
        // autovacuum would after a load this size.
        let mut conn = sqlx::PgConnection::connect(&settings.url)
            .await
            .expect("vacuum connection");
        for table in ["referrals", "status_transitions", "outbox"] {
            sqlx::query(&format!("VACUUM ANALYZE {table}"))
                .execute(&mut conn)
                .await
                .expect("vacuum");
        }
        let _ = conn.close().await;
        println!(
            "postgres: seeded {rows} referrals in {:.1}s",
            seeded.elapsed().as_secs_f64()
        );
        s
    });
    run(c, rt, "dashboard_postgres", &pg, rows);
    rt.block_on(pg.close());
    let _ = admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}

/// Every read, as group `group`, on `store` seeded with `rows` referrals.
fn run(c: &mut Criterion, rt: &tokio::runtime::Runtime, group: &str, store: &dyn Store, rows: u64) {
    let pid = |p: &str| PartnerId::parse(p).expect("partner");
    let middle = rt.block_on(async {
        let filter = ReferralFilter {
            received_until: Some(
                Utc.timestamp_opt(START + STEP * (rows as i64 / 2), 0)
                    .unwrap(),
            ),
            ..Default::default()
        };
        let page = store
            .referral_page(&filter, PageStart::Newest, 1)
            .await
            .expect("middle");
        page.items[0].key()
    });
    let last_id = rt.block_on(async {
        store
            .referral_page(&ReferralFilter::default(), PageStart::Newest, 1)
            .await
            .expect("newest")
            .items[0]
            .id
    });

    let cases: Vec<(&str, ReferralFilter, PageStart)> = vec![
        ("newest", ReferralFilter::default(), PageStart::Newest),
        (
            "middle",
            ReferralFilter::default(),
            PageStart::OlderThan(middle),
        ),
        (
            "status_declined",
            ReferralFilter {
                status: Some(ReferralStatus::Declined),
                ..Default::default()
            },
            PageStart::OlderThan(middle),
        ),
        (
            "partner_either_side",
            ReferralFilter {
                partner: Some(pid("huisarts-de-linde")),
                ..Default::default()
            },
            PageStart::OlderThan(middle),
        ),
        (
            "partner_receiver_status",
            ReferralFilter {
                partner: Some(pid("huisarts-de-linde")),
                side: Side::Receiver,
                status: Some(ReferralStatus::Undeliverable),
                ..Default::default()
            },
            PageStart::OlderThan(middle),
        ),
        (
            "sector_care_two_partners",
            ReferralFilter {
                partners_any: Some(vec![pid("huisarts-de-linde"), pid("thuiszorg-oost")]),
                ..Default::default()
            },
            PageStart::OlderThan(middle),
        ),
        (
            "time_range_one_day",
            ReferralFilter {
                received_from: Some(Utc.timestamp_opt(START + 86_400 * 100, 0).unwrap()),
                received_until: Some(Utc.timestamp_opt(START + 86_400 * 101, 0).unwrap()),
                ..Default::default()
            },
            PageStart::Newest,
        ),
        (
            "previous_page",
            ReferralFilter::default(),
            PageStart::NewerThan(middle),
        ),
    ];
    let mut g = c.benchmark_group(group);
    g.sample_size(20);
    for (name, filter, start) in cases {
        g.bench_function(format!("referral_page_50/{name}"), |b| {
            b.to_async(rt).iter(|| {
                let filter = filter.clone();

                async move {
                    let page = store.referral_page(&filter, start, 50).await.expect("page");
                    assert!(!page.items.is_empty());
                }
            })
        });
    }
    let since = Utc
        .timestamp_opt(START + STEP * rows as i64 - 86_400, 0)
        .unwrap();
    let now = Utc.timestamp_opt(START + STEP * rows as i64, 0).unwrap();
    g.bench_function("overview", |b| {
        b.to_async(rt)
            .iter(|| async { store.ops_overview(since, now).await.expect("overview") })
    });
    // The same over the last 30 days (86,400 referrals and about 77,000 deliveries at one
    // every 30 s): whole hours come from the per-hour counts (migration 0010), so the period's
    // length barely matters; counting its rows would cost tens of milliseconds.
    let month = now - chrono::Duration::days(30) + chrono::Duration::seconds(1_234);
    g.bench_function("overview_30_days", |b| {
        b.to_async(rt)
            .iter(|| async { store.ops_overview(month, now).await.expect("overview") })
    });
    // p50 / p99 of 200 calls one after another, as scripts/bench.sh reports the dashboard's
    // queries (criterion gives means and medians only).
    for (name, from) in [("overview", since), ("overview_30_days", month)] {
        let mut times: Vec<f64> = rt.block_on(async {
            let mut times = Vec::with_capacity(200);
            for _ in 0..200 {
                let start = Instant::now();
                store.ops_overview(from, now).await.expect("overview");
                times.push(start.elapsed().as_secs_f64() * 1_000.0);
            }
            times
        });
        times.sort_by(f64::total_cmp);
        println!(
            "{group}/{name}: 200 calls, p50 {:.2} ms, p99 {:.2} ms",
            times[99], times[197]
        );
    }
    g.bench_function("timeline", |b| {
        b.to_async(rt).iter(|| async {
            store
                .referral_timeline(last_id, 200)
                .await
                .expect("timeline")
                .expect("exists")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
