//! The partial indexes of migrations/sqlite/0011_write_path.sql serve the queries they were
//! made for (SQLite uses a partial index only when the query names its condition), and the
//! counts per status and receiver that replaced an index stay equal to counting the rows.

use std::path::Path;

use super::test_schema::{migrated_with, migration, triples};
use super::{analytics, dashboard, metrics, processing_log, retention};

/// A database with the migrations before `until` (all of them when it is `None`).
fn migrated(path: &Path, until: Option<&str>) -> rusqlite::Connection {
    migrated_with(path, |name| until.is_none_or(|u| name < u))
}

/// The plan's steps, one line each.
fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
    // Parameters left unbound (NULL): the plan does not depend on their values.
    let mut rows = stmt.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        steps.push(row.get::<_, String>(3).unwrap());
    }
    steps.join("\n")
}

#[test]
fn each_query_reads_its_partial_index() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("plans.db"), None);
    let cases = [
        (
            "retention",
            retention::candidates_sql(),
            "referrals_retention",
        ),
        (
            "pending backlog",
            metrics::PENDING_BACKLOG.to_owned(),
            "outbox_by_recipient",
        ),
        (
            "dead backlog",
            metrics::DEAD_BACKLOG.to_owned(),
            "outbox_dead",
        ),
        ("oldest due", dashboard::OLDEST_DUE.to_owned(), "outbox_due"),
        (
            "processing log",
            processing_log::ABOUT.to_owned(),
            "audit_by_resident",
        ),
        (
            "analytics cohort",
            format!("WITH {} SELECT * FROM cohort", analytics::COHORT),
            "audit_intake_resident",
        ),
    ];
    for (what, sql, index) in cases {
        let plan = plan(&conn, &sql);
        assert!(
            plan.contains(&format!("INDEX {index}")),
            "{what} should read {index}:\n{plan}"
        );
        // A scan of a partial index walks the rows it holds only; a table scan walks them all.
        assert!(
            !plan
                .lines()
                .any(|l| l.trim() == "SCAN outbox" || l.trim() == "SCAN audit_events"),
            "{what} should not scan a table:\n{plan}"
        );
    }
}

fn insert(conn: &rusqlite::Connection, n: u32, receiver: Option<&str>, status: &str) {
    let shared = receiver.map(|_| "{}");
    let categories = receiver.map(|_| "identity");
    conn.execute(
        "INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
         shared_categories, shared_removed, received_at, updated_at) \
         VALUES (?1, 'woonstad', ?1, ?2, ?3, '{}', ?4, ?5, ?6, '2026-11-22T10:00:00Z', \
         '2026-11-22T10:00:00Z')",
        rusqlite::params![
            format!("r{n}"),
            receiver,
            status,
            shared,
            categories,
            categories
        ],
    )
    .unwrap();
}

/// The counts table, rows with none left out.
fn counts(conn: &rusqlite::Connection) -> Vec<(String, String, i64)> {
    triples(
        conn,
        "SELECT status, receiver, referrals FROM referral_status_counts \
         WHERE referrals > 0 ORDER BY status, receiver",
    )
}

/// Counting the rows themselves.
fn counted(conn: &rusqlite::Connection) -> Vec<(String, String, i64)> {
    triples(
        conn,
        "SELECT status, COALESCE(receiver, ''), COUNT(*) FROM referrals \
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
}

#[test]
fn counts_per_status_and_receiver_follow_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("counts.db"), None);
    insert(&conn, 1, Some("zorgaanbieder"), "routed");
    insert(&conn, 2, Some("zorgaanbieder"), "routed");
    insert(&conn, 3, Some("wijkteam"), "routed");
    insert(&conn, 4, None, "consent_missing");
    insert(&conn, 5, None, "consent_missing");
    assert_eq!(counts(&conn), counted(&conn));
    assert_eq!(
        counts(&conn),
        vec![
            ("consent_missing".to_owned(), String::new(), 2),
            ("routed".to_owned(), "wijkteam".to_owned(), 1),
            ("routed".to_owned(), "zorgaanbieder".to_owned(), 2),
        ]
    );

    conn.execute(
        "UPDATE referrals SET status = 'delivered' WHERE id = 'r1'",
        [],
    )
    .unwrap();
    assert_eq!(counts(&conn), counted(&conn));
    // A change of receiver moves the referral between receivers (no write does this today;
    // the counts would still hold).
    conn.execute(
        "UPDATE referrals SET receiver = 'wijkteam' WHERE id = 'r2'",
        [],
    )
    .unwrap();
    assert_eq!(counts(&conn), counted(&conn));
    // A change that keeps status and receiver leaves the counts alone.
    conn.execute(
        "UPDATE referrals SET updated_at = '2026-11-22T11:00:00Z' WHERE id = 'r3'",
        [],
    )
    .unwrap();
    assert_eq!(counts(&conn), counted(&conn));
    conn.execute("DELETE FROM referrals WHERE id IN ('r4', 'r3')", [])
        .unwrap();
    assert_eq!(counts(&conn), counted(&conn));
    assert_eq!(
        counts(&conn),
        vec![
            ("consent_missing".to_owned(), String::new(), 1),
            ("delivered".to_owned(), "zorgaanbieder".to_owned(), 1),
            ("routed".to_owned(), "wijkteam".to_owned(), 1),
        ]
    );
}

#[test]
fn the_migration_counts_the_referrals_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("upgrade.db"), Some("0011"));
    insert(&conn, 1, Some("zorgaanbieder"), "routed");
    insert(&conn, 2, Some("zorgaanbieder"), "delivered");
    insert(&conn, 3, Some("zorgaanbieder"), "delivered");
    insert(&conn, 4, None, "consent_missing");
    conn.execute_batch(&migration("0011")).unwrap();
    assert_eq!(
        counts(&conn),
        vec![
            ("consent_missing".to_owned(), String::new(), 1),
            ("delivered".to_owned(), "zorgaanbieder".to_owned(), 2),
            ("routed".to_owned(), "zorgaanbieder".to_owned(), 1),
        ]
    );
    insert(&conn, 5, Some("zorgaanbieder"), "routed");
    assert_eq!(counts(&conn), counted(&conn));
}
