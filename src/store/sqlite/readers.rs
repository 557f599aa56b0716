//! Point reads on the hot path (a referral by id, a resident's consents, a referral by its
//! sender's reference) on direct SQLite connections, run in place on the calling task's
//! thread.
//!
//! sqlx runs each of its SQLite connections on a thread of its own and hands every statement
//! to it and every row back over channels: two thread wake-ups per statement at least, and a
//! referral's read is four statements (`BEGIN`, the row, its history, `COMMIT`). These reads
//! take a few pages by key and are done in microseconds, less than the hand-over costs, so
//! they run where they are asked. In WAL mode a reader does not wait for the writer; a reader
//! waits only while SQLite itself recovers the WAL's index (after a crash), up to the busy
//! timeout. Reads that scan (the dashboard's, analytics, claims) stay on sqlx's pool.
//!
//! Connections are kept in a small stack and reused (each keeps its prepared statements and
//! page cache); a reader that finds the stack empty opens one more. Every connection is
//! `query_only`: nothing can be written through it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::Connection;

use super::codec::failed;
use super::direct;
use crate::store::StoreError;

pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// The most connections kept between reads (more may be open at once).
    keep: usize,
    closed: AtomicBool,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .field("keep", &self.keep)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// Each reader's page cache, in KiB.
const READER_CACHE_KIB: u32 = 4 * 1024;

impl Readers {
    pub fn new(path: PathBuf, busy_timeout: Duration, keep: usize) -> Self {
        Self {
            path,
            busy_timeout,
            idle: Mutex::new(Vec::new()),
            keep: keep.max(1),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `read` on a connection of its own. A connection `read` leaves inside a transaction
    /// (it failed half-way) is closed rather than kept.
    pub fn read<T>(
        &self,
        read: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable("the store is closed".to_owned()));
        }
        let kept = self.lock().pop();
        let mut conn = match kept {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&mut conn);
        if conn.is_autocommit() && !self.closed.load(Ordering::Acquire) {
            let mut idle = self.lock();
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
        result
    }

    /// Refuses every later read and closes the kept connections.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The stack stays consistent whatever panicked while it was held (a push or a pop).
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
                | rusqlite::OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(failed)?;
        conn.busy_timeout(self.busy_timeout).map_err(failed)?;
        conn.execute_batch(&format!(
            "PRAGMA query_only = ON; PRAGMA cache_size = -{READER_CACHE_KIB};"
        ))
        .map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(direct::STATEMENT_CACHE);
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7);",
        )
        .expect("schema");
        (dir, path)
    }

    fn value(conn: &mut Connection) -> Result<i64, StoreError> {
        conn.query_row("SELECT v FROM t", [], |r| r.get(0))
            .map_err(failed)
    }

    #[test]
    fn a_reader_is_kept_and_used_again() {
        let (_dir, path) = database();
        let readers = Readers::new(path, Duration::from_secs(1), 2);
        assert_eq!(readers.read(value).expect("read"), 7);
        assert_eq!(readers.lock().len(), 1);
        assert_eq!(readers.read(value).expect("read"), 7);
        assert_eq!(
            readers.lock().len(),
            1,
            "the same connection, not a second one"
        );
    }

    #[test]
    fn nothing_can_be_written_through_a_reader() {
        let (_dir, path) = database();
        let readers = Readers::new(path, Duration::from_secs(1), 2);
        let written =
            readers.read(|conn| conn.execute("INSERT INTO t VALUES (8)", []).map_err(failed));
        assert!(written.is_err(), "query_only refuses the insert");
        assert_eq!(readers.read(value).expect("read"), 7);
    }

    #[test]
    fn a_reader_left_inside_a_transaction_is_not_kept() {
        let (_dir, path) = database();
        let readers = Readers::new(path, Duration::from_secs(1), 2);
        let failed_half_way: Result<(), StoreError> = readers.read(|conn| {
            conn.execute_batch("BEGIN").map_err(failed)?;
            Err(StoreError::Unavailable("half-way".to_owned()))
        });
        assert!(failed_half_way.is_err());
        assert!(readers.lock().is_empty());
        assert_eq!(readers.read(value).expect("read"), 7);
    }

    #[test]
    fn a_closed_store_refuses_reads() {
        let (_dir, path) = database();
        let readers = Readers::new(path, Duration::from_secs(1), 2);
        readers.read(value).expect("read");
        readers.close();
        assert!(readers.lock().is_empty());
        assert!(matches!(
            readers.read(value),
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn a_reader_sees_what_another_connection_committed() {
        let (_dir, path) = database();
        let readers = Readers::new(path.clone(), Duration::from_secs(1), 2);
        assert_eq!(readers.read(value).expect("read"), 7);
        let writer = Connection::open(&path).expect("open");
        writer.execute("UPDATE t SET v = 9", []).expect("update");
        assert_eq!(readers.read(value).expect("read"), 9);
    }
}
