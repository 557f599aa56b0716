//! For the store's unit tests: databases made from the migration files themselves, so a test
//! can stop before a migration, or apply one in the middle of its run.

use std::path::Path;

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");

/// Every migration file in order: its name and its SQL.
pub(super) fn migrations() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(MIGRATIONS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The SQL of the migration whose name starts with `prefix`.
pub(super) fn migration(prefix: &str) -> String {
    migrations()
        .into_iter()
        .find(|(name, _)| name.starts_with(prefix))
        .map(|(_, sql)| sql)
        .unwrap()
}

/// A database at `path` (foreign keys on) with the migrations whose names `apply` accepts.
pub(super) fn migrated_with(path: &Path, apply: impl Fn(&str) -> bool) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    for (name, sql) in migrations() {
        if apply(&name) {
            conn.execute_batch(&sql).unwrap();
        }
    }
    conn
}

/// The rows of a query of three columns: two texts and a number.
pub(super) fn triples(conn: &rusqlite::Connection, sql: &str) -> Vec<(String, String, i64)> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    rows
}
