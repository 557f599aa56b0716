//! The operations dashboard's reads on a large store: a SQLite file with a million referrals
//! (`DASHBOARD_BENCH_ROWS` to change it), each with an outbox row, spread over a year; then
//! the same rows in a PostgreSQL database of their own on the server of `WIJKBRUG_BENCH_PG`
//! (default postgres://postgres@127.0.0.1:5432; skipped when there is none), dropped
//! afterwards (`DASHBOARD_BENCH_STORES=postgres` or `sqlite` runs one store). Seeded with
//! plain SQL for speed (metadata only: the request columns are empty, which the dashboard
//! never reads), then every read goes through `Store`.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use sqlx::Connection;
use wijkbrug::config::StoreSettings;
use wijkbrug::store::dashboard::{PageStart, ReferralFilter, Side};
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::Store;
use wijkbrug_adapters::model::{PartnerId, ReferralStatus};

/// The first referral's time (2026-01-01T00:00:00Z) and the step between two, in seconds.
const START: i64 = 1_767_225_600;
const STEP: i64 = 30;

const PARTNERS: [&str; 5] = [
    "woonstad-noord",
    "wijkteam-centrum",
    "huisarts-de-linde",
    "thuiszorg-oost",
    "werkplein",
];

/// One statement that writes `rows` referrals and their outbox rows. Every seventh referral
/// shares its time with the one before (ties for the key's id part). Statuses by `i % 20`:
/// 1 in 20 consent_missing (no receiver), undeliverable (a dead letter), routed (pending),
/// delivered, declined and cancelled each; the rest accepted, in progress or completed.
fn seed_sql(rows: u64) -> Vec<String> {
    let partners = PARTNERS
        .iter()
        .enumerate()
        .map(|(i, p)| format!("SELECT {i} AS k, '{p}' AS p"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let referrals = format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}), \
         ps AS ({partners}), \
         r AS (SELECT i, \
                 {START} + (i - (i % 7 = 1)) * {STEP} AS t, \
                 i % 5 AS s, \
                 (i % 5 + 1 + (i / 5) % 4) % 5 AS rc, \
                 CASE i % 20 WHEN 0 THEN 'consent_missing' WHEN 1 THEN 'undeliverable' \
                   WHEN 2 THEN 'routed' WHEN 3 THEN 'delivered' WHEN 4 THEN 'accepted' \
                   WHEN 5 THEN 'accepted' WHEN 6 THEN 'in_progress' WHEN 7 THEN 'in_progress' \
                   WHEN 18 THEN 'declined' WHEN 19 THEN 'cancelled' ELSE 'completed' END AS st \
               FROM n) \
         INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
           shared_categories, shared_removed, received_at, updated_at) \
         SELECT printf('%08x-%04x-7%03x-8%03x-%012x', (t * 1000) >> 16, (t * 1000) & 65535, \
                       i & 4095, (i >> 12) & 4095, i), \
                (SELECT p FROM ps WHERE k = s), 'B-' || i, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE (SELECT p FROM ps WHERE k = rc) END, \
                st, '', \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                strftime('%Y-%m-%dT%H:%M:%S', t, 'unixepoch') || '.000000Z', \
                strftime('%Y-%m-%dT%H:%M:%S', t + 3600, 'unixepoch') || '.000000Z' \
         FROM r",
        last = rows.saturating_sub(1),
    );
    let transitions = "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         SELECT id, 0, 'received', received_at, 'partner:' || sender FROM referrals"
        .to_owned();
    let outbox = "INSERT INTO outbox (referral_id, recipient, kind, created_at, state, attempts, \
           next_attempt_at, last_error, failed_at, delivered_at) \
         SELECT id, receiver, 'referral', received_at, \
           CASE status WHEN 'routed' THEN 'pending' WHEN 'undeliverable' THEN 'dead' \
             ELSE 'delivered' END, 1, received_at, \
           CASE status WHEN 'undeliverable' THEN 'HTTP 503 Service Unavailable' END, \
           CASE status WHEN 'undeliverable' THEN updated_at END, \
           CASE WHEN status NOT IN ('routed', 'undeliverable') THEN updated_at END \
         FROM referrals WHERE receiver IS NOT NULL"
        .to_owned();
    // No ANALYZE: the gateway never runs it, so the planner works without statistics here
    // as it does there.
    vec![referrals, transitions, outbox]
}

/// [`seed_sql`] for PostgreSQL: the same rows (ids, times, partners, statuses, outbox rows).
/// A bulk load, as one would make one: with the triggers off (`session_replication_role`;
/// a million updates of one count row in one transaction leave a chain of a million row
/// versions that each next update walks), then the overview's counts made as migrations 0007
/// and 0010 make them. Followed by `ANALYZE`, as autovacuum does on its own after a load this size.
fn seed_sql_pg(rows: u64) -> Vec<String> {
    let partners = PARTNERS
        .iter()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let referrals = format!(
        "INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
           shared_categories, shared_removed, received_at, updated_at) \
         SELECT (lpad(to_hex((t * 1000) >> 16), 8, '0') || '-' \
                 || lpad(to_hex((t * 1000) & 65535), 4, '0') || '-7' \
                 || lpad(to_hex(i & 4095), 3, '0') || '-8' \
                 || lpad(to_hex((i >> 12) & 4095), 3, '0') || '-' \
                 || lpad(to_hex(i), 12, '0'))::uuid, \
                (ARRAY[{partners}])[s + 1], 'B-' || i, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE (ARRAY[{partners}])[rc + 1] END, \
                st, '', \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                CASE WHEN st = 'consent_missing' THEN NULL ELSE '' END, \
                to_timestamp(t), to_timestamp(t + 3600) \
         FROM (SELECT i, \
                 {START} + (i - (i % 7 = 1)::int) * {STEP} AS t, \
                 i % 5 AS s, \
                 (i % 5 + 1 + (i / 5) % 4) % 5 AS rc, \
                 CASE i % 20 WHEN 0 THEN 'consent_missing' WHEN 1 THEN 'undeliverable' \
                   WHEN 2 THEN 'routed' WHEN 3 THEN 'delivered' WHEN 4 THEN 'accepted' \
                   WHEN 5 THEN 'accepted' WHEN 6 THEN 'in_progress' WHEN 7 THEN 'in_progress' \
                   WHEN 18 THEN 'declined' WHEN 19 THEN 'cancelled' ELSE 'completed' END AS st \
               FROM generate_series(0::bigint, {last}) AS i) r",
        last = rows.saturating_sub(1),
    );
    let transitions = "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         SELECT id, 0, 'received', received_at, 'partner:' || sender FROM referrals"
        .to_owned();
    let outbox = "INSERT INTO outbox (referral_id, recipient, kind, created_at, state, attempts, \
           next_attempt_at, last_error, failed_at, delivered_at) \
         SELECT id, receiver, 'referral', received_at, \
           CASE status WHEN 'routed' THEN 'pending' WHEN 'undeliverable' THEN 'dead' \
             ELSE 'delivered' END, 1, received_at, \
           CASE status WHEN 'undeliverable' THEN 'HTTP 503 Service Unavailable' END, \
           CASE status WHEN 'undeliverable' THEN updated_at END, \
           CASE WHEN status NOT IN ('routed', 'undeliverable') THEN updated_at END \
         FROM referrals WHERE receiver IS NOT NULL ORDER BY received_at, id"
        .to_owned();
    vec![
        "SET session_replication_role = replica".to_owned(),
        referrals,
        transitions,
        outbox,
        "SET session_replication_role = DEFAULT".to_owned(),
        RECOUNT_PG[0].to_owned(),
        RECOUNT_PG[1].to_owned(),
        RECOUNT_PG[2].to_owned(),
        RECOUNT_PG[3].to_owned(),
        "VACUUM ANALYZE referrals".to_owned(),
        "VACUUM ANALYZE status_transitions".to_owned(),
        "VACUUM ANALYZE outbox".to_owned(),
    ]
}

/// The overview's counts from the rows, as migrations 0007 and 0010 make them.
const RECOUNT_PG: [&str; 4] = [
    "INSERT INTO referral_status_counts (status, referrals) \
     SELECT status, COUNT(*) FROM referrals GROUP BY status",
    "INSERT INTO outbox_counts (recipient, state, failing, rows) \
     SELECT recipient, state, last_error IS NOT NULL, COUNT(*) FROM outbox \
     GROUP BY recipient, state, last_error IS NOT NULL",
    "INSERT INTO referral_hourly_counts (hour, received, consent_missing) \
     SELECT date_trunc('hour', received_at, 'UTC'), COUNT(*), \
       COUNT(*) FILTER (WHERE status = 'consent_missing') \
     FROM referrals GROUP BY date_trunc('hour', received_at, 'UTC')",
    "INSERT INTO delivered_hourly_counts (hour, recipient, deliveries) \
     SELECT date_trunc('hour', delivered_at, 'UTC'), recipient, COUNT(*) FROM outbox \
     WHERE state = 'delivered' AND delivered_at IS NOT NULL \
     GROUP BY date_trunc('hour', delivered_at, 'UTC'), recipient",
];

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
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.path().display()))
            .await
            .expect("seed connection");
        for sql in seed_sql(rows) {
            sqlx::query(&sql).execute(&pool).await.expect("seed");
        }
        pool.close().await;
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
        let mut conn = sqlx::PgConnection::connect(&settings.url)
            .await
            .expect("seed connection");
        for sql in seed_sql_pg(rows) {
            sqlx::query(&sql).execute(&mut conn).await.expect("seed");
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
