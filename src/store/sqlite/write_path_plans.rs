//! The write path's schema (migrations/sqlite/0011_write_path.sql, 0012_no_in_lists.sql,
//! 0014_transitions_by_referral.sql, 0015_received_index.sql):
//! the partial indexes serve the queries they were made for (SQLite uses a partial index only
//! when the query names its condition), the counts per status and receiver that replaced an
//! index stay equal to counting the rows, no write builds a temporary b-tree to check a
//! condition, and the rebuilds of the outbox and of the status changes keep what they held.

use std::path::Path;

use super::test_schema::{migrated_with, migration, triples};
use super::{analytics, dashboard, metrics, processing_log, retention};

/// A database with the migrations before `until` (all of them when it is `None`).
fn migrated(path: &Path, until: Option<&str>) -> rusqlite::Connection {
    migrated_with(path, |name| until.is_none_or(|u| name < u))
}

/// One column of every row of `EXPLAIN {what} sql` (parameters left unbound: NULL).
fn explained(conn: &rusqlite::Connection, what: &str, sql: &str, column: usize) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN {what}{sql}")).unwrap();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        out.push(row.get::<_, String>(column).unwrap());
    }
    out
}

/// The plan's steps, one line each (the plan does not depend on the parameters' values).
fn plan(conn: &rusqlite::Connection, sql: &str) -> String {
    explained(conn, "QUERY PLAN ", sql, 3).join("\n")
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

/// Migration 0015 left one index by time of receipt: the analytics' cohorts read it alone
/// (the sender and receiver ride along) and the list of the newest referrals reads it in its
/// order (the overview's count of a window names it: `dashboard.rs`).
#[test]
fn one_index_by_time_of_receipt_serves_the_list_and_the_cohorts() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("received.db"), None);
    let indexes: Vec<String> = conn
        .prepare(
            "SELECT sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'referrals' \
             AND sql LIKE '%ON referrals (received_at%' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        indexes,
        ["CREATE INDEX referrals_by_received ON referrals (received_at, id, sender, receiver)"],
        "one index leads with the time of receipt"
    );
    for (what, sql) in [
        (
            "cohort",
            format!("WITH {} SELECT * FROM cohort", analytics::COHORT),
        ),
        (
            "plain cohort",
            format!("WITH {} SELECT * FROM cohort", analytics::COHORT_PLAIN),
        ),
    ] {
        let plan = plan(&conn, &sql);
        assert!(
            plan.contains("SEARCH r USING COVERING INDEX referrals_by_received"),
            "the {what} should read the window from the index alone:\n{plan}"
        );
    }
    let newest = dashboard::page_sql(
        &crate::store::dashboard::ReferralFilter::default(),
        None,
        dashboard::Toward::Older,
        50,
    );
    let plan = plan(&conn, &newest.text);
    assert!(
        plan.contains("SCAN referrals USING INDEX referrals_by_received")
            && !plan.contains("TEMP B-TREE"),
        "the newest referrals in the index's order:\n{plan}"
    );
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

/// Every row `sql` returns, each column as SQLite holds it.
fn dump(conn: &rusqlite::Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let mut stmt = conn.prepare(sql).unwrap();
    let width = stmt.column_count();
    let rows = stmt
        .query_map([], |r| (0..width).map(|i| r.get(i)).collect())
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

#[test]
fn rebuilding_the_outbox_keeps_its_rows_ids_sequence_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("outbox.db"), Some("0012"));
    insert(&conn, 1, Some("zorgaanbieder"), "routed");
    let t = "2026-11-22T10:00:00Z";
    let rows = [
        ("referral", "NULL", "pending", "NULL", "NULL", "NULL"),
        (
            "status",
            "0",
            "delivered",
            "NULL",
            "NULL",
            "'2026-11-22T10:05:00Z'",
        ),
        (
            "referral",
            "NULL",
            "dead",
            "'HTTP 503'",
            "'2026-11-22T10:06:00Z'",
            "NULL",
        ),
        ("status", "1", "cancelled", "NULL", "NULL", "NULL"),
        (
            "referral",
            "NULL",
            "discarded",
            "'HTTP 500'",
            "'2026-11-22T10:07:00Z'",
            "NULL",
        ),
        ("referral", "NULL", "pending", "NULL", "NULL", "NULL"),
    ];
    for (kind, transition, state, error, failed, delivered) in rows {
        conn.execute_batch(&format!(
            "INSERT INTO outbox (referral_id, recipient, kind, transition, created_at, state, \
             attempts, next_attempt_at, last_error, failed_at, delivered_at) \
             VALUES ('r1', 'zorgaanbieder', '{kind}', {transition}, '{t}', '{state}', 2, '{t}', \
             {error}, {failed}, {delivered})"
        ))
        .unwrap();
    }
    // The newest row is gone: the sequence is ahead of the highest id, and stays so.
    conn.execute_batch("DELETE FROM outbox WHERE id = 6")
        .unwrap();
    let tables = [
        "SELECT * FROM outbox ORDER BY id",
        "SELECT * FROM outbox_counts ORDER BY 1, 2, 3",
        "SELECT * FROM delivered_hourly_counts ORDER BY 1, 2",
        "SELECT * FROM sqlite_sequence WHERE name = 'outbox'",
    ];
    let before: Vec<_> = tables.iter().map(|sql| dump(&conn, sql)).collect();
    assert_eq!(before[0].len(), 5);
    conn.execute_batch(&migration("0012")).unwrap();
    let after: Vec<_> = tables.iter().map(|sql| dump(&conn, sql)).collect();
    assert_eq!(after, before);

    // The constraints hold as before, and the counts follow the next rows.
    let bogus = conn.execute_batch(&format!(
        "INSERT INTO outbox (referral_id, recipient, kind, created_at, state, next_attempt_at) \
         VALUES ('r1', 'zorgaanbieder', 'referral', '{t}', 'sent', '{t}')"
    ));
    assert!(bogus.unwrap_err().to_string().contains("CHECK"));
    conn.execute_batch(&format!(
        "INSERT INTO outbox (referral_id, recipient, kind, created_at, next_attempt_at) \
         VALUES ('r1', 'zorgaanbieder', 'referral', '{t}', '{t}'); \
         UPDATE outbox SET state = 'delivered', delivered_at = '{t}' WHERE id = 1;"
    ))
    .unwrap();
    assert_eq!(
        dump(&conn, "SELECT max(id) FROM outbox"),
        vec![vec![rusqlite::types::Value::Integer(7)]]
    );
    assert_eq!(
        dump(&conn, "SELECT recipient, state, failing, rows FROM outbox_counts WHERE rows > 0 ORDER BY 1, 2, 3"),
        dump(
            &conn,
            "SELECT recipient, state, last_error IS NOT NULL, COUNT(*) FROM outbox GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    );
    assert_eq!(
        dump(
            &conn,
            "SELECT hour, recipient, deliveries FROM delivered_hourly_counts ORDER BY 1, 2"
        ),
        dump(
            &conn,
            "SELECT substr(delivered_at, 1, 13), recipient, COUNT(*) FROM outbox \
             WHERE state = 'delivered' GROUP BY 1, 2 ORDER BY 1, 2"
        )
    );
}

#[test]
fn the_transitions_keyed_by_referral_keep_their_rows_and_rules_and_are_read_by_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("transitions.db"), Some("0014"));
    insert(&conn, 2, Some("zorgaanbieder"), "accepted");
    insert(&conn, 1, Some("zorgaanbieder"), "declined");
    // Inserted out of the key's order, with and without reasons.
    conn.execute_batch(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor, reason, reason_code) \
         VALUES ('r2', 1, 'delivered', '2026-11-22T10:01:00Z', 'gateway', NULL, NULL), \
                ('r1', 0, 'routed', '2026-11-22T10:00:00Z', 'gateway', NULL, NULL), \
                ('r2', 0, 'routed', '2026-11-22T10:00:00Z', 'gateway', NULL, NULL), \
                ('r1', 1, 'declined', '2026-11-22T10:03:00Z', 'partner:zorgaanbieder', \
                 'wachtlijst', 'capacity'), \
                ('r2', 2, 'accepted', '2026-11-22T10:02:00Z', 'partner:zorgaanbieder', NULL, NULL)",
    )
    .unwrap();
    let all = "SELECT referral_id, seq, status, at, actor, reason, reason_code \
               FROM status_transitions ORDER BY referral_id, seq";
    let before = dump(&conn, all);
    assert_eq!(before.len(), 5);
    conn.execute_batch(&migration("0014")).unwrap();
    assert_eq!(dump(&conn, all), before);

    // One b-tree: no rowid, no index beside the key.
    assert!(conn
        .prepare("SELECT rowid FROM status_transitions")
        .is_err());
    assert_eq!(
        dump(
            &conn,
            "SELECT name FROM sqlite_schema WHERE tbl_name = 'status_transitions' AND type = 'index'"
        ),
        Vec::<Vec<rusqlite::types::Value>>::new()
    );

    // The rules hold as before: one change per step, no negative step, a known referral.
    let refused = |sql: &str, rule: &str| {
        let error = conn.execute_batch(sql).unwrap_err().to_string();
        assert!(error.contains(rule), "{sql}: {error}");
    };
    refused(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         VALUES ('r2', 1, 'accepted', '2026-11-22T10:04:00Z', 'gateway')",
        "UNIQUE",
    );
    refused(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         VALUES ('r2', -1, 'accepted', '2026-11-22T10:04:00Z', 'gateway')",
        "CHECK",
    );
    refused(
        "INSERT INTO status_transitions (referral_id, seq, status, at, actor) \
         VALUES ('r9', 0, 'routed', '2026-11-22T10:04:00Z', 'gateway')",
        "FOREIGN KEY",
    );

    // Every query of the changes finds a referral's by the key, and none sorts them.
    let queries = [
        ("history", super::writer::HISTORY.to_owned()),
        (
            "reached",
            format!(
                "SELECT 1 FROM referrals c WHERE id = 'r2' AND {}",
                analytics::reached("accepted")
            ),
        ),
        (
            "erasure",
            "UPDATE status_transitions SET reason = NULL \
             WHERE referral_id = ? AND reason IS NOT NULL"
                .to_owned(),
        ),
    ];
    for (what, sql) in queries {
        let plan = plan(&conn, &sql);
        assert!(
            plan.contains("USING PRIMARY KEY (referral_id=?") && !plan.contains("SCAN"),
            "{what} should read the changes by their key:\n{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{what} sorts:\n{plan}");
    }
    let history = |id: &str| {
        dump(
            &conn,
            &super::writer::HISTORY.replace('?', &format!("'{id}'")),
        )
        .into_iter()
        .map(|row| row[0].clone())
        .collect::<Vec<_>>()
    };
    let text = |s: &str| rusqlite::types::Value::Text(s.to_owned());
    assert_eq!(
        history("r2"),
        vec![text("routed"), text("delivered"), text("accepted")]
    );
    assert_eq!(history("r1"), vec![text("routed"), text("declined")]);
}

/// The opcodes of `sql`'s program, one per step.
fn opcodes(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    explained(conn, "", sql, 1)
}

/// The names of a table's columns, and whether each is part of its primary key.
fn columns(conn: &rusqlite::Connection, table: &str) -> Vec<(String, bool)> {
    let mut stmt = conn
        .prepare("SELECT name, pk FROM pragma_table_info(?)")
        .unwrap();
    let rows = stmt
        .query_map([table], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? > 0)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}

/// Writing a row checks the table's CHECK constraints and the conditions of its partial
/// indexes (an UPDATE for the old row and the new). SQLite evaluates `x IN (...)` with more
/// than two constants by building a temporary b-tree of them each time, which on the writer
/// cost about 5% of its time (migration 0012). No insert into any table, and no update of
/// every column but the key, may build one. The writer's connection runs with triggers off
/// (`counts.rs`), and so does this one: a trigger's program is not the table's own check.
#[test]
fn no_write_builds_a_temporary_btree() {
    let dir = tempfile::tempdir().unwrap();
    let conn = migrated(&dir.path().join("writes.db"), None);
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER,
        false,
    )
    .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx_%' ORDER BY name",
        )
        .unwrap();
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert!(tables.iter().any(|t| t == "outbox"), "{tables:?}");
    let mut offending = Vec::new();
    for table in &tables {
        let columns = columns(&conn, table);
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let insert = format!(
            "INSERT INTO \"{table}\" ({}) VALUES ({})",
            names.join(", "),
            vec!["?"; names.len()].join(", ")
        );
        let set: Vec<String> = columns
            .iter()
            .filter(|(_, key)| !key)
            .map(|(n, _)| format!("{n} = ?"))
            .collect();
        let key: Vec<String> = columns
            .iter()
            .filter(|(_, key)| *key)
            .map(|(n, _)| format!("{n} = ?"))
            .collect();
        // A table without a declared key is found by its rowid (every such table has one).
        let found = if key.is_empty() {
            "rowid = ?".to_owned()
        } else {
            key.join(" AND ")
        };
        let mut writes = vec![insert];
        if !set.is_empty() {
            writes.push(format!(
                "UPDATE \"{table}\" SET {} WHERE {found}",
                set.join(", ")
            ));
        }
        for sql in writes {
            if opcodes(&conn, &sql).iter().any(|op| op == "OpenEphemeral") {
                offending.push(sql);
            }
        }
    }
    assert!(
        offending.is_empty(),
        "these writes build a temporary b-tree:\n{}",
        offending.join("\n")
    );
}
