//! WAL checkpoints on a thread of their own, beside the writer.
//!
//! In WAL mode a commit appends pages to the `-wal` file; a checkpoint copies them back into
//! the database file and syncs it. Left to SQLite, the connection that commits runs the
//! checkpoint itself once the WAL holds 1,000 pages: the writer then stops taking jobs while
//! it copies and syncs, and every caller waiting for the next commit waits with it. Here the
//! writer only wakes this thread after each commit, and the thread runs a `PASSIVE`
//! checkpoint on its own connection, at most once per [`INTERVAL`]. A passive checkpoint takes
//! no lock the writer needs: the two run at the same time, and once the WAL has been copied
//! in full, the writer's next transaction starts it again from the beginning.
//!
//! Durability does not depend on checkpoints (a commit is synced in the WAL). The writer keeps
//! SQLite's own checkpoint as a fallback, at [`WRITER_FALLBACK_PAGES`], for when this thread
//! falls behind or has stopped.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::codec::failed;
use super::writer::Stats;
use crate::store::StoreError;

/// The shortest time between two checkpoints: commits in between share one.
pub(crate) const INTERVAL: Duration = Duration::from_millis(50);

/// The writer's own automatic checkpoint, in pages of WAL (SQLite's default is 1,000).
pub(crate) const WRITER_FALLBACK_PAGES: u32 = 8_000;

/// The checkpointing thread; it stops when [`Checkpointer::stop`] is called or this is dropped.
pub(crate) struct Checkpointer {
    wake: Option<flume::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection to `path` and starts the thread.
    pub fn start(
        path: &Path,
        busy_timeout: Duration,
        stats: Arc<Stats>,
    ) -> Result<Self, StoreError> {
        let conn = rusqlite::Connection::open(path).map_err(failed)?;
        conn.busy_timeout(busy_timeout).map_err(failed)?;
        // The database is synced at the end of each checkpoint, as the writer would.
        conn.execute_batch("PRAGMA synchronous = FULL;")
            .map_err(failed)?;
        let (wake, rx) = flume::bounded(1);
        let thread = std::thread::Builder::new()
            .name("store-checkpoint".to_owned())
            .spawn(move || run(&conn, &rx, &stats))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the store's checkpoints: {e}"))
            })?;
        Ok(Self {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// Tells the thread that a transaction was committed (never waits).
    pub fn committed(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }

    /// Stops the thread, after the checkpoint it may be running.
    pub fn stop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(conn: &rusqlite::Connection, wake: &flume::Receiver<()>, stats: &Stats) {
    let mut pending = false;
    loop {
        if !pending && wake.recv().is_err() {
            return;
        }
        checkpoint(conn, stats);
        // Let the commits of the next interval gather.
        pending = false;
        let until = Instant::now() + INTERVAL;
        loop {
            match wake.recv_deadline(until) {
                Ok(()) => pending = true,
                Err(flume::RecvTimeoutError::Timeout) => break,
                Err(flume::RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

fn checkpoint(conn: &rusqlite::Connection, stats: &Stats) {
    // (busy, pages in the WAL, pages of it copied into the database)
    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok(_) => {
            stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            tracing::warn!(error = %e, "store: a WAL checkpoint failed; the next commit tries again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_copied_into_the_database_by_the_thread() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("c.db");
        let writer = super::super::writer::connect(&path, Duration::from_secs(1)).unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let stats = Arc::new(Stats::default());
        let mut checkpointer =
            Checkpointer::start(&path, Duration::from_secs(1), Arc::clone(&stats)).unwrap();
        for _ in 0..20 {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(8000))", [])
                .unwrap();
            checkpointer.committed();
        }
        // About 60 pages were written, far below the writer's own threshold: only the thread
        // can have copied them from the WAL into the database file.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&path).unwrap().len();
            if size >= 20 * 8000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file is {size} bytes after 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(stats.checkpoints.load(Ordering::Relaxed) > 0);
        checkpointer.stop();
        let rows: i64 = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 20);
    }

    #[test]
    fn the_thread_stops_when_dropped() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("c.db");
        let _writer = super::super::writer::connect(&path, Duration::from_secs(1)).unwrap();
        let checkpointer =
            Checkpointer::start(&path, Duration::from_secs(1), Arc::new(Stats::default())).unwrap();
        checkpointer.committed();
        // Dropping joins the thread: the test would hang if it did not stop.
        drop(checkpointer);
    }
}
