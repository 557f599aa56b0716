//! The write path's schema on PostgreSQL (migration `1004_write_path.sql`): each query that
//! an index was made partial for can still be served by it. The planner uses a partial index
//! only when it can prove from the query's own conditions that the index holds every row the
//! query wants, so a query that stopped naming the condition (or bound it as a parameter)
//! would silently fall back to reading the table. Run on the PostgreSQL server the other
//! tests use (`WIJKBRUG_TEST_PG`, default 127.0.0.1:5432), in a database of its own.

use sqlx::{Connection, PgConnection};

use super::{analytics, dashboard, histories, operations, processing_log, retention, MIGRATOR};

fn server() -> String {
    std::env::var("WIJKBRUG_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database of this test, dropped at the end (also when the test fails).
pub(super) struct Scratch {
    name: String,
}

impl Scratch {
    /// A new database, migrated, and a connection to it.
    pub(super) async fn migrated(what: &str) -> (Self, PgConnection) {
        let name = format!("wijkbrug_test_{what}_{:016x}", rand::random::<u64>());
        let mut admin = PgConnection::connect(&format!("{}/postgres", server()))
            .await
            .expect("the PostgreSQL tests need a server (`bash .ci/run` starts it)");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let scratch = Self { name: name.clone() };
        let mut conn = PgConnection::connect(&format!("{}/{name}", server()))
            .await
            .unwrap();
        MIGRATOR.run(&mut conn).await.unwrap();
        (scratch, conn)
    }
}

impl Scratch {
    /// The database's URL.
    pub(super) fn url(&self) -> String {
        format!("{}/{}", server(), self.name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside the test's runtime: a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) =
                    PgConnection::connect(&format!("{}/postgres", server())).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The plan of `sql` with table scans ruled out where any index can serve: an index the
/// planner cannot prove usable still does not appear.
async fn plan(conn: &mut PgConnection, sql: &str, params: usize) -> String {
    plan_with(conn, sql, &vec!["NULL"; params].join(", ")).await
}

/// The plan of `sql` (prepared) executed with `args` (SQL expressions, comma-separated).
pub(super) async fn plan_with(conn: &mut PgConnection, sql: &str, args: &str) -> String {
    let prepared = format!("PREPARE q AS {sql}");
    sqlx::raw_sql(&prepared).execute(&mut *conn).await.unwrap();
    let explain = if args.is_empty() {
        "EXPLAIN EXECUTE q".to_owned()
    } else {
        format!("EXPLAIN EXECUTE q({args})")
    };
    let rows: Vec<(String,)> = sqlx::query_as(&explain)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql("DEALLOCATE q")
        .execute(&mut *conn)
        .await
        .unwrap();
    plan_text(rows)
}

/// `EXPLAIN`'s rows as one text, a line each.
pub(super) fn plan_text(rows: Vec<(String,)>) -> String {
    rows.into_iter()
        .map(|(l,)| l)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn each_query_can_read_its_partial_index() {
    let (_scratch, mut conn) = Scratch::migrated("plans").await;
    // Generic plans (parameters unknown), and no table scan where an index can serve.
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let cases = [
        (
            "retention",
            retention::candidates_sql(),
            2,
            "referrals_retention",
        ),
        (
            "pending backlog",
            operations::BACKLOG.to_owned(),
            1,
            "outbox_by_recipient",
        ),
        (
            "dead backlog",
            operations::BACKLOG.to_owned(),
            1,
            "outbox_dead",
        ),
        (
            "oldest due",
            dashboard::OLDEST_DUE.to_owned(),
            1,
            "outbox_due",
        ),
        (
            "processing log",
            processing_log::about_sql(),
            1,
            "audit_by_resident",
        ),
        (
            "analytics cohort",
            format!("WITH {} SELECT * FROM cohort", analytics::cohort(1)),
            2,
            "audit_intake_resident",
        ),
    ];
    for (what, sql, params, index) in cases {
        let plan = plan(&mut conn, &sql, params).await;
        assert!(
            plan.contains(&format!(" {index} ")) || plan.contains(&format!(" {index}\n")),
            "{what} should be able to read {index}:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on outbox") && !plan.contains("Seq Scan on audit_events"),
            "{what} should not scan a table:\n{plan}"
        );
    }
    // The writer's history preload reads each named outbox row by key, and each named history
    // through an index on the referral (either of status_transitions' two that start with it).
    let preload = plan(&mut conn, histories::preload_sql(), 2).await;
    assert!(
        preload.contains(" outbox_pkey")
            && preload.contains("on status_transitions")
            && preload.contains("Index Cond: (referral_id = "),
        "the history preload should read by key:\n{preload}"
    );
    assert!(
        !preload.contains("Seq Scan"),
        "the history preload should not scan a table:\n{preload}"
    );
    // /metrics reads the kept counts, not the referrals.
    let metrics = plan(&mut conn, operations::REFERRAL_COUNTS, 0).await;
    assert!(
        !metrics.contains(" on referrals "),
        "the referral counts should not read the referrals:\n{metrics}"
    );
    conn.close().await.unwrap();
}
