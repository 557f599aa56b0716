//! The analytics' queries on a large store: a SQLite file with a million referrals over two
//! years about 200,000 residents (histories, audit events, outbox rows, payloads of
//! realistic size), generated in SQL
//! and kept under target/ between runs. Prints the median time of each `Store` aggregate for
//! a month, a quarter and the whole two years. Not criterion: one measurement takes too long
//! for its sampling; five runs each, the fastest and the median reported (on a shared machine
//! the fastest is what the query costs, the median what a user may see).
//!
//! `cargo bench --bench analytics` (`ANALYTICS_BENCH_REFERRALS=N` for another size; the file
//! is made again when the size differs).
//!
//! Then the same on PostgreSQL: the same rows generated into a database of their own on the
//! server of `WIJKBRUG_BENCH_PG` (default postgres://postgres@127.0.0.1:5432; skipped when
//! there is none), dropped afterwards. `ANALYTICS_BENCH_STORES=postgres` (or `sqlite`) runs one
//! store only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use wijkbrug::analytics::{PartnerSectors, TimeWindow};
use wijkbrug::config::StoreSettings;
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::Store;
use wijkbrug_adapters::model::{PartnerId, Sector};

const SAMPLE: &str = include_str!("../tests/fixtures/referral.case.json");

/// The demo network: (partner, sector), by index.
const PARTNERS: [(&str, Sector); 5] = [
    ("woonstad-noord", Sector::Housing),
    ("wijkteam-centrum", Sector::Welfare),
    ("huisarts-de-linde", Sector::Care),
    ("thuiszorg-oost", Sector::Care),
    ("werkplein", Sector::Employment),
];

fn partner_case(expr: &str) -> String {
    let arms: String = PARTNERS
        .iter()
        .enumerate()
        .map(|(i, (p, _))| format!(" WHEN {i} THEN '{p}'"))
        .collect();
    format!("(CASE ({expr}){arms} END)")
}

/// The referrals of the temporary table `gen` (one row of facts a referral), in either dialect:
/// `ts` turns an expression of seconds since the epoch into the dialect's timestamp, `order`
/// is how the rows go in (PostgreSQL's `" ORDER BY i"` keeps the heap in the order received).
fn referrals_insert(ts: &dyn Fn(&str) -> String, order: &str) -> String {
    let request = SAMPLE.replace('\'', "''");
    format!(
        "INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
         shared_categories, shared_removed, consent_id, received_at, updated_at) \
         SELECT id, {sender}, 'REF-' || i, \
           CASE WHEN routed THEN {receiver} END, \
           CASE WHEN NOT routed THEN 'consent_missing' WHEN completed THEN 'completed' \
                WHEN accepted THEN 'accepted' WHEN dead THEN 'undeliverable' \
                ELSE 'delivered' END, \
           '{request}', CASE WHEN routed THEN '{request}' END, \
           CASE WHEN routed THEN 'identity,contact,needs' END, \
           CASE WHEN routed THEN 'notes' END, NULL, \
           {received}, {received} \
         FROM gen{order}",
        sender = partner_case("sender"),
        receiver = partner_case("receiver"),
        received = ts("received"),
    )
}

/// The status transitions of every referral in `gen`, in either dialect (`ts` as for
/// [`referrals_insert`]).
fn transitions_insert(ts: &dyn Fn(&str) -> String) -> String {
    format!(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         SELECT id, 0, 'received', {r}, 'gateway' FROM gen \
         UNION ALL SELECT id, 1, CASE WHEN routed THEN 'routed' ELSE 'consent_missing' END, \
           {r1}, 'gateway' FROM gen \
         UNION ALL SELECT id, 2, CASE WHEN dead THEN 'undeliverable' ELSE 'delivered' END, \
           {r2}, 'gateway' FROM gen WHERE routed \
         UNION ALL SELECT id, 3, 'accepted', {acc}, 'partner:x' FROM gen WHERE accepted \
         UNION ALL SELECT id, 4, 'in_progress', {acc1}, 'partner:x' FROM gen WHERE accepted \
         UNION ALL SELECT id, 5, 'completed', {comp}, 'partner:x' FROM gen WHERE completed",
        r = ts("received"),
        r1 = ts("received + 1"),
        r2 = ts("received + 2"),
        acc = ts("received + accept_after"),
        acc1 = ts("received + accept_after + 60"),
        comp = ts("received + accept_after + complete_after"),
    )
}

/// The outbox rows of every referral in `gen` (its delivery, and the status notices to the
/// sender), in either dialect (`ts` as for [`referrals_insert`]).
fn outbox_insert(ts: &dyn Fn(&str) -> String) -> String {
    format!(
        "INSERT INTO outbox (referral_id, recipient, kind, transition, created_at, state, \
         attempts, next_attempt_at, last_error, failed_at, delivered_at) \
         SELECT id, {receiver}, 'referral', NULL, {r1}, \
           CASE WHEN dead THEN 'dead' ELSE 'delivered' END, CASE WHEN dead THEN 8 ELSE 1 END, \
           {r1}, CASE WHEN dead OR i % 50 = 3 THEN 'HTTP 503' END, \
           CASE WHEN dead THEN {r2} END, CASE WHEN dead THEN NULL ELSE {r2} END \
         FROM gen WHERE routed \
         UNION ALL SELECT id, {sender}, 'status', 1, {r1}, 'delivered', 1, {r1}, NULL, NULL, \
           {r2} FROM gen WHERE NOT routed \
         UNION ALL SELECT id, {sender}, 'status', 3, {acc}, 'delivered', 1, {acc}, NULL, \
           NULL, {acc} FROM gen WHERE accepted \
         UNION ALL SELECT id, {sender}, 'status', 5, {comp}, 'delivered', 1, {comp}, NULL, \
           NULL, {comp} FROM gen WHERE completed",
        sender = partner_case("sender"),
        receiver = partner_case("receiver"),
        r1 = ts("received + 1"),
        r2 = ts("received + 2"),
        acc = ts("received + accept_after"),
        comp = ts("received + accept_after + complete_after"),
    )
}

/// The generator: a temporary table of per-referral facts, then every table from it.
fn generator(n: u64) -> Vec<String> {
    let ts =
        |epoch: &str| format!("strftime('%Y-%m-%dT%H:%M:%S', {epoch}, 'unixepoch') || '.000000Z'");
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp());
    let span = 2 * 365 * 86_400;
    vec![
        // 200,000 residents with random 64-hex pseudonyms, as the keyed HMAC gives them.
        "CREATE TEMP TABLE people AS WITH RECURSIVE k(j) AS \
         (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j + 1 < 200000) \
         SELECT j, lower(hex(randomblob(32))) AS pseudonym FROM k"
            .to_owned(),
        "CREATE UNIQUE INDEX temp.people_j ON people (j)".to_owned(),
        format!(
            "CREATE TEMP TABLE gen AS WITH RECURSIVE n(i) AS \
             (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {n}) \
             SELECT i, \
               printf('%08x-%04x-7000-8000-%012x', i / 65536, i % 65536, i) AS id, \
               {start} + i * {span} / {n} + (i * 7919) % 3600 AS received, \
               (i * 7) % 5 AS sender, (i * 13 + 1) % 5 AS receiver, \
               i % 10 <> 0 AS routed, \
               (SELECT pseudonym FROM people \
                WHERE j = ((i * 2654435761) % 4294967296) % 200000) AS resident, \
               3600 * (1 + (i * 97) % 200) AS accept_after, \
               86400 * (1 + (i * 31) % 40) AS complete_after, \
               i % 10 <> 0 AND i % 4 <> 0 AS accepted, \
               i % 10 <> 0 AND i % 4 <> 0 AND i % 3 = 0 AS completed, \
               i % 100 = 7 AS dead \
             FROM n"
        ),
        referrals_insert(&ts, ""),
        transitions_insert(&ts),
        format!(
            "INSERT INTO audit_events (seq, at, action, partner, referral_id, resident, detail, \
             prev_hash, hash) \
             SELECT 4 * i + 1, {r}, 'message_received', {sender}, id, resident, \
               '{{\"status\":\"routed\"}}', printf('%064x', i), printf('%064x', i + 1) FROM gen \
             UNION ALL SELECT 4 * i + 2, {r}, 'consent_decision', {sender}, id, resident, \
               '{{\"decision\":\"permit\"}}', printf('%064x', i), printf('%064x', i + 2) FROM gen \
             UNION ALL SELECT 4 * i + 3, {r}, 'minimised', {sender}, id, resident, \
               '{{\"kept\":\"identity,contact,needs\"}}', printf('%064x', i), \
               printf('%064x', i + 3) FROM gen \
             UNION ALL SELECT 4 * i + 4, {r}, 'delivery_attempt', {receiver}, id, NULL, \
               '{{\"result\":\"delivered\"}}', printf('%064x', i), printf('%064x', i + 4) \
               FROM gen WHERE routed",
            r = ts("received"),
            sender = partner_case("sender"),
            receiver = partner_case("receiver"),
        ),
        outbox_insert(&ts),
        "DROP TABLE gen".to_owned(),
        "DROP TABLE people".to_owned(),
    ]
}

/// [`generator`] for PostgreSQL: the same facts, tables and rows (the pseudonyms are random
/// too), in its dialect. A bulk load: the triggers off (`session_replication_role`), then the
/// overview's counts made from the rows as migration 0007 makes them; `ANALYZE` afterwards,
/// as autovacuum does on its own after a load this size.
fn generator_pg(n: u64) -> Vec<String> {
    let ts = |epoch: &str| format!("to_timestamp({epoch})");
    let hash = |expr: &str| format!("decode(lpad(to_hex({expr}), 64, '0'), 'hex')");
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp());
    let span: i64 = 2 * 365 * 86_400;
    vec![
        "SET session_replication_role = replica".to_owned(),
        "CREATE TEMP TABLE people AS \
         SELECT j, md5(random()::text) || md5(random()::text) AS pseudonym \
         FROM generate_series(0::bigint, 199999) AS j"
            .to_owned(),
        "CREATE UNIQUE INDEX people_j ON people (j)".to_owned(),
        format!(
            "CREATE TEMP TABLE gen AS \
             SELECT i, \
               (lpad(to_hex(i / 65536), 8, '0') || '-' || lpad(to_hex(i % 65536), 4, '0') \
                || '-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid AS id, \
               {start} + i * {span} / {n} + (i * 7919) % 3600 AS received, \
               (i * 7) % 5 AS sender, (i * 13 + 1) % 5 AS receiver, \
               i % 10 <> 0 AS routed, \
               (SELECT pseudonym FROM people \
                WHERE j = ((i * 2654435761) % 4294967296) % 200000) AS resident, \
               3600 * (1 + (i * 97) % 200) AS accept_after, \
               86400 * (1 + (i * 31) % 40) AS complete_after, \
               i % 10 <> 0 AND i % 4 <> 0 AS accepted, \
               i % 10 <> 0 AND i % 4 <> 0 AND i % 3 = 0 AS completed, \
               i % 100 = 7 AS dead \
             FROM generate_series(0::bigint, {last}) AS i",
            last = n.saturating_sub(1)
        ),
        referrals_insert(&ts, " ORDER BY i"),
        transitions_insert(&ts),
        format!(
            "INSERT INTO audit_events (seq, at, action, partner, referral_id, resident, detail, \
             prev_hash, hash) \
             SELECT 4 * i + 1, {r}, 'message_received', {sender}, id, resident, \
               '{{\"status\":\"routed\"}}', {h0}, {h1} FROM gen \
             UNION ALL SELECT 4 * i + 2, {r}, 'consent_decision', {sender}, id, resident, \
               '{{\"decision\":\"permit\"}}', {h0}, {h2} FROM gen \
             UNION ALL SELECT 4 * i + 3, {r}, 'minimised', {sender}, id, resident, \
               '{{\"kept\":\"identity,contact,needs\"}}', {h0}, {h3} FROM gen \
             UNION ALL SELECT 4 * i + 4, {r}, 'delivery_attempt', {receiver}, id, NULL, \
               '{{\"result\":\"delivered\"}}', {h0}, {h4} FROM gen WHERE routed",
            r = ts("received"),
            sender = partner_case("sender"),
            receiver = partner_case("receiver"),
            h0 = hash("i"),
            h1 = hash("i + 1"),
            h2 = hash("i + 2"),
            h3 = hash("i + 3"),
            h4 = hash("i + 4"),
        ),
        outbox_insert(&ts),
        "DROP TABLE gen".to_owned(),
        "DROP TABLE people".to_owned(),
        "SET session_replication_role = DEFAULT".to_owned(),
        "INSERT INTO referral_status_counts (status, referrals) \
         SELECT status, COUNT(*) FROM referrals GROUP BY status"
            .to_owned(),
        "INSERT INTO outbox_counts (recipient, state, failing, rows) \
         SELECT recipient, state, last_error IS NOT NULL, COUNT(*) FROM outbox \
         GROUP BY recipient, state, last_error IS NOT NULL"
            .to_owned(),
    ]
}

/// Generates the store into the (migrated) PostgreSQL database at `url`.
async fn make_pg_store(url: &str, n: u64) {
    let started = Instant::now();
    let mut conn = PgConnection::connect(url).await.expect("connect");
    conn.execute("SET synchronous_commit = off")
        .await
        .expect("setting");
    let mut tx = conn.begin().await.expect("begin");
    for sql in generator_pg(n) {
        tx.execute(sql.as_str()).await.expect("generate");
    }
    tx.commit().await.expect("commit");
    conn.execute("VACUUM ANALYZE").await.expect("analyze");
    let (bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&mut conn)
        .await
        .expect("size");
    conn.close().await.expect("close");
    eprintln!(
        "postgres: generated {n} referrals in {:.0} s: {} MB",
        started.elapsed().as_secs_f64(),
        bytes / 1_000_000
    );
}

fn settings(dir: &std::path::Path) -> StoreSettings {
    StoreSettings {
        url: "sqlite://analytics.db".into(),
        data_dir: dir.to_path_buf(),
        max_connections: 4,
        group_commit_max_batch: 64,
        group_commit_max_wait: Duration::from_millis(2),
    }
}

async fn make_store(dir: &std::path::Path, n: u64) {
    let marker = dir.join("referrals.count");
    let file = dir.join("analytics.db");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(&format!("{n} v2")) && file.exists()
    {
        return;
    }
    let _ = std::fs::remove_dir_all(dir);
    let store = SqliteStore::open(&settings(dir)).await.expect("open");
    store.migrate().await.expect("migrate");
    store.close().await;
    let started = Instant::now();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("connect");
    conn.execute("PRAGMA synchronous = OFF")
        .await
        .expect("pragma");
    let mut tx = conn.begin().await.expect("begin");
    for sql in generator(n) {
        tx.execute(sql.as_str()).await.expect("generate");
    }
    tx.commit().await.expect("commit");
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        .await
        .expect("checkpoint");
    conn.close().await.expect("close");
    eprintln!(
        "generated {n} referrals in {:.0} s: {} MB",
        started.elapsed().as_secs_f64(),
        std::fs::metadata(&file).map_or(0, |m| m.len() / 1_000_000)
    );
    std::fs::write(marker, format!("{n} v2")).expect("marker");
}

/// Runs of each measurement.
const RUNS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let n: u64 = std::env::var("ANALYTICS_BENCH_REFERRALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/analytics-bench");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stores =
        std::env::var("ANALYTICS_BENCH_STORES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    if stores.contains("sqlite") {
        rt.block_on(async {
            make_store(&dir, n).await;
            let store = SqliteStore::open(&settings(&dir)).await.expect("open");
            store.migrate().await.expect("migrate");
            println!("\n== sqlite");
            measure(&store).await;
            store.close().await;
        });
    }
    if stores.contains("postgres") {
        let server = std::env::var("WIJKBRUG_BENCH_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
        let name = format!("wijkbrug_test_{}_analytics_bench", std::process::id());
        let admin = |sql: String| {
            let server = server.clone();
            rt.block_on(async move {
                let mut conn = PgConnection::connect(&format!("{server}/postgres")).await?;
                sqlx::query(&sql).execute(&mut conn).await?;
                conn.close().await
            })
        };
        if let Err(e) = admin(format!("CREATE DATABASE {name}")) {
            println!("postgres: skipped, no server at {server}: {e}");
            return;
        }
        let url = format!("{server}/{name}");
        rt.block_on(async {
            let store = PgStore::open(&StoreSettings {
                url: url.clone(),
                ..settings(&dir)
            })
            .await
            .expect("open");
            store.migrate().await.expect("migrate");
            make_pg_store(&url, n).await;
            println!("\n== postgres");
            measure(&store).await;
            store.close().await;
        });
        let _ = admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
}

/// Times every aggregate on `store` for each window.
async fn measure(store: &dyn Store) {
    {
        let sectors = PartnerSectors::new(
            PARTNERS
                .iter()
                .map(|(p, s)| (PartnerId::parse(p).expect("id"), *s)),
        );
        let day = |y, m, d| {
            Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
                .single()
                .expect("date")
        };
        let windows = [
            ("month", day(2026, 3, 1), day(2026, 4, 1)),
            ("quarter", day(2026, 1, 1), day(2026, 4, 1)),
            ("two years", day(2025, 1, 1), day(2027, 1, 1)),
        ];
        for (name, from, to) in windows {
            let w = TimeWindow::new(from, to).expect("window");
            // Warm the page cache for this window, untimed.
            wijkbrug::analytics::PeriodAggregates::fetch(store, w, &sectors)
                .await
                .expect("warm-up");
            let totals = store.period_totals(&w).await.expect("totals");
            println!(
                "\n{name}: {} referrals, {} residents",
                totals.referrals, totals.residents
            );
            macro_rules! time {
                ($label:expr, $call:expr) => {{
                    let mut runs = Vec::new();
                    for _ in 0..RUNS {
                        let t = Instant::now();
                        let r = $call.await.expect("query");
                        runs.push(t.elapsed());
                        std::hint::black_box(r);
                    }
                    let min = runs.iter().min().copied().unwrap_or_default();
                    println!(
                        "  {:<18} {:>8.1} ms fastest, {:>8.1} ms median",
                        $label,
                        min.as_secs_f64() * 1e3,
                        median(runs).as_secs_f64() * 1e3
                    );
                }};
            }
            time!("period_totals", store.period_totals(&w));
            time!("sector_flows", store.sector_flows(&w, &sectors));
            time!("stage_durations", store.stage_durations(&w, &sectors));
            time!("consent_refusals", store.consent_refusals(&w, &sectors));
            time!("delivery_outcomes", store.delivery_outcomes(&w, &sectors));
            time!("all + both charts", async {
                let a = wijkbrug::analytics::PeriodAggregates::fetch(store, w, &sectors).await?;
                let flows = wijkbrug::analytics::sankey_svg(
                    &wijkbrug::analytics::sankey_links(&a.flows),
                    &wijkbrug::analytics::ChartOptions::new("f", "flows"),
                );
                let times = wijkbrug::analytics::time_distribution_svg(
                    &wijkbrug::analytics::time_rows(&a.durations),
                    &wijkbrug::analytics::ChartOptions::new("t", "times"),
                );
                Ok::<_, wijkbrug::store::StoreError>((flows, times))
            });
        }
    }
}
