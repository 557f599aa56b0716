//! The writer's VFS: SQLite's own (`unix`), with the writes of a commit to the write-ahead log
//! gathered into one run, written with as few system calls as `unix` allows (one for each
//! 120 KiB).
//!
//! A commit in WAL mode appends each page it changed to the `-wal` file as a frame, with two
//! `pwrite` calls a frame (its 24-byte header, then the page), each touching two pages of the
//! file's cache since a frame is 4,120 bytes long. A full-path commit writes 40 to 140 frames;
//! with intake alone these calls were a fifth of the gateway's CPU time and about two fifths
//! of the writer thread's (BENCHMARKS.md). Here the writes to a WAL file are kept in a buffer
//! while each one follows the last (or lands inside what is kept), and the buffer is written
//! in one call before anything else is done to that file: before a read, a sync, a
//! truncation, a size query, a file control, a close, and before a write the buffer cannot
//! take.
//!
//! Why this keeps every guarantee: with `synchronous = FULL` SQLite syncs the WAL at the end
//! of every commit, before it publishes the commit in the WAL index, so the commit's frames
//! are in the file (and on disk) before any other connection can look for them. The writer's
//! connection therefore must never run with less (`writer::connect` sets FULL and its test
//! holds it). Only the writer's connection opens files through this VFS; every other
//! connection goes straight to `unix`, and every file other than a WAL passes each call
//! through unchanged.

#[cfg(test)]
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use rusqlite::ffi;

use crate::store::StoreError;

/// The name the writer's connection opens its database with.
const NAME: &CStr = c"wijkbrug-wal-gather";

/// A gathered run is written out before it grows past this (a commit of the full path is
/// about 0.6 MiB).
const MAX_GATHERED: usize = 4 << 20;

/// The most `unix`'s write takes in one call: it masks the length with `0x1ffff` (it never
/// writes more than 128 KiB at once, and a longer write would be cut short and reported as a
/// full disk), so a gathered run goes out in pieces of 120 KiB (30 pages).
const UNIX_WRITE_MAX: usize = 120 * 1024;

#[cfg(test)]
thread_local! {
    /// Gathered runs written to a WAL file through this VFS on this thread (SQLite calls a
    /// VFS on the thread that uses the connection).
    static WAL_WRITES: Cell<u64> = const { Cell::new(0) };
}

/// Registers the VFS (once per process) and gives its name for
/// [`rusqlite::Connection::open_with_flags_and_vfs`].
pub(crate) fn name() -> Result<&'static str, StoreError> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `register` only reads SQLite's own VFS and hands SQLite a VFS object that
            // lives for the rest of the process.
            unsafe { register() }
        })
        .clone()
        .map_err(StoreError::Unavailable)?;
    NAME.to_str()
        .map_err(|_| StoreError::Unavailable("the writer's VFS name is not UTF-8".to_owned()))
}

/// How many gathered runs this thread has written to a WAL file through this VFS.
#[cfg(test)]
pub(crate) fn wal_writes() -> u64 {
    WAL_WRITES.with(Cell::get)
}

unsafe fn register() -> Result<(), String> {
    let unix = ffi::sqlite3_vfs_find(c"unix".as_ptr());
    if unix.is_null() {
        return Err("SQLite has no `unix` VFS to build the writer's on".to_owned());
    }
    let mut vfs: ffi::sqlite3_vfs = *unix;
    let unix_file = usize::try_from((*unix).szOsFile)
        .map_err(|_| "the unix VFS gives a negative file size".to_owned())?;
    let file_size = std::mem::size_of::<File>() + unix_file;
    vfs.szOsFile =
        c_int::try_from(file_size).map_err(|_| "the unix VFS's file is too large".to_owned())?;
    vfs.pNext = null_mut();
    vfs.zName = NAME.as_ptr();
    vfs.pAppData = unix.cast();
    vfs.xOpen = Some(open);
    vfs.xDelete = Some(delete);
    vfs.xAccess = Some(access);
    vfs.xFullPathname = Some(full_pathname);
    // The remaining entries (dynamic loading, randomness, sleep, time, system calls) are
    // `unix`'s own, which do not look at the VFS they are called through.
    let vfs = Box::leak(Box::new(vfs));
    match ffi::sqlite3_vfs_register(vfs, 0) {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(format!("SQLite refused the writer's VFS (code {rc})")),
    }
}

/// What SQLite holds for an open file: the methods below, the gathered writes (WAL files only),
/// and `unix`'s own file right after.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    gathered: *mut Gathered,
}

/// Writes that follow each other, not yet written to the file.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    start: i64,
    bytes: Vec<u8>,
}

impl Gathered {
    /// Takes a write of `data` at `offset`: kept when it continues what is kept (or lands
    /// inside it), otherwise after what is kept is written out with `out`. A write larger than
    /// [`MAX_GATHERED`] goes straight to `out`. Returns what `out` returned, or `SQLITE_OK`.
    pub(crate) fn write(
        &mut self,
        offset: i64,
        data: &[u8],
        out: &mut impl FnMut(i64, &[u8]) -> c_int,
    ) -> c_int {
        let end = self.end();
        let Ok(length) = i64::try_from(data.len()) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        if !self.bytes.is_empty() && offset >= self.start && offset + length <= end {
            let at = usize::try_from(offset - self.start).unwrap_or(0);
            self.bytes[at..at + data.len()].copy_from_slice(data);
            return ffi::SQLITE_OK;
        }
        if !self.bytes.is_empty() && offset == end && self.bytes.len() + data.len() <= MAX_GATHERED
        {
            self.bytes.extend_from_slice(data);
            return ffi::SQLITE_OK;
        }
        let rc = self.flush(out);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if data.len() > MAX_GATHERED {
            return out(offset, data);
        }
        self.start = offset;
        self.bytes.extend_from_slice(data);
        ffi::SQLITE_OK
    }

    /// Writes out what is kept (if anything) with `out`; kept no longer, whatever `out`
    /// returned (SQLite fails the operation that asked, and the transaction with it).
    pub(crate) fn flush(&mut self, out: &mut impl FnMut(i64, &[u8]) -> c_int) -> c_int {
        if self.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let rc = out(self.start, &self.bytes);
        self.bytes.clear();
        rc
    }

    fn end(&self) -> i64 {
        self.start + i64::try_from(self.bytes.len()).unwrap_or(i64::MAX)
    }
}

/// `unix`'s file, placed right after ours.
unsafe fn real(f: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    f.cast::<u8>()
        .add(std::mem::size_of::<File>())
        .cast::<ffi::sqlite3_file>()
}

/// `unix`'s VFS, kept as this one's app data.
unsafe fn unix(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    (*vfs).pAppData.cast()
}

/// Calls `unix`'s method `$m` of the file `f` with the arguments after it.
macro_rules! pass {
    ($f:expr, $m:ident $(, $arg:expr)*) => {{
        let real = real($f);
        match (*(*real).pMethods).$m {
            Some(method) => method(real $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

/// Writes out the WAL writes `f` has kept, if any.
unsafe fn flush(f: *mut ffi::sqlite3_file) -> c_int {
    let gathered = (*f.cast::<File>()).gathered;
    if gathered.is_null() {
        return ffi::SQLITE_OK;
    }
    (*gathered).flush(&mut |offset, bytes| write_through(f, offset, bytes))
}

/// Writes `bytes` at `offset` with `unix`'s write, in pieces of at most [`UNIX_WRITE_MAX`].
unsafe fn write_through(f: *mut ffi::sqlite3_file, offset: i64, bytes: &[u8]) -> c_int {
    #[cfg(test)]
    WAL_WRITES.with(|writes| writes.set(writes.get() + 1));
    let mut at = offset;
    for piece in bytes.chunks(UNIX_WRITE_MAX) {
        let (Ok(amount), Ok(length)) = (c_int::try_from(piece.len()), i64::try_from(piece.len()))
        else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let rc = pass!(f, xWrite, piece.as_ptr().cast::<c_void>(), amount, at);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        at += length;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    f: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let unix = unix(vfs);
    let file = f.cast::<File>();
    (*file).base.pMethods = null();
    (*file).gathered = null_mut();
    let real = real(f);
    let Some(open) = (*unix).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let rc = open(unix, name, real, flags, out_flags);
    // SQLite closes a file whose methods are set, whatever the open returned.
    if (*real).pMethods.is_null() {
        return rc;
    }
    if flags & ffi::SQLITE_OPEN_WAL != 0 {
        (*file).gathered = Box::into_raw(Box::new(Gathered::default()));
    }
    (*file).base.pMethods = &METHODS;
    rc
}

unsafe extern "C" fn delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    sync_dir: c_int,
) -> c_int {
    let unix = unix(vfs);
    match (*unix).xDelete {
        Some(delete) => delete(unix, name, sync_dir),
        None => ffi::SQLITE_IOERR_DELETE,
    }
}

unsafe extern "C" fn access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let unix = unix(vfs);
    match (*unix).xAccess {
        Some(access) => access(unix, name, flags, out),
        None => ffi::SQLITE_IOERR_ACCESS,
    }
}

unsafe extern "C" fn full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    size: c_int,
    out: *mut c_char,
) -> c_int {
    let unix = unix(vfs);
    match (*unix).xFullPathname {
        Some(full) => full(unix, name, size, out),
        None => ffi::SQLITE_CANTOPEN,
    }
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

unsafe extern "C" fn close(f: *mut ffi::sqlite3_file) -> c_int {
    let flushed = flush(f);
    let file = f.cast::<File>();
    if !(*file).gathered.is_null() {
        drop(Box::from_raw((*file).gathered));
        (*file).gathered = null_mut();
    }
    let closed = pass!(f, xClose);
    if flushed == ffi::SQLITE_OK {
        closed
    } else {
        flushed
    }
}

unsafe extern "C" fn read(
    f: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    match flush(f) {
        ffi::SQLITE_OK => pass!(f, xRead, buf, amount, offset),
        rc => rc,
    }
}

unsafe extern "C" fn write(
    f: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    let gathered = (*f.cast::<File>()).gathered;
    let Ok(length) = usize::try_from(amount) else {
        return pass!(f, xWrite, buf, amount, offset);
    };
    if gathered.is_null() || buf.is_null() || length == 0 {
        return pass!(f, xWrite, buf, amount, offset);
    }
    let data = std::slice::from_raw_parts(buf.cast::<u8>(), length);
    (*gathered).write(offset, data, &mut |at, bytes| write_through(f, at, bytes))
}

unsafe extern "C" fn truncate(f: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    match flush(f) {
        ffi::SQLITE_OK => pass!(f, xTruncate, size),
        rc => rc,
    }
}

unsafe extern "C" fn sync(f: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    match flush(f) {
        ffi::SQLITE_OK => pass!(f, xSync, flags),
        rc => rc,
    }
}

unsafe extern "C" fn file_size(f: *mut ffi::sqlite3_file, size: *mut ffi::sqlite3_int64) -> c_int {
    match flush(f) {
        ffi::SQLITE_OK => pass!(f, xFileSize, size),
        rc => rc,
    }
}

unsafe extern "C" fn lock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(f, xLock, level)
}

unsafe extern "C" fn unlock(f: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(f, xUnlock, level)
}

unsafe extern "C" fn check_reserved_lock(f: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass!(f, xCheckReservedLock, out)
}

unsafe extern "C" fn file_control(f: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    match flush(f) {
        ffi::SQLITE_OK => pass!(f, xFileControl, op, arg),
        rc => rc,
    }
}

unsafe extern "C" fn sector_size(f: *mut ffi::sqlite3_file) -> c_int {
    let real = real(f);
    match (*(*real).pMethods).xSectorSize {
        Some(method) => method(real),
        None => 4096,
    }
}

unsafe extern "C" fn device_characteristics(f: *mut ffi::sqlite3_file) -> c_int {
    let real = real(f);
    match (*(*real).pMethods).xDeviceCharacteristics {
        Some(method) => method(real),
        None => 0,
    }
}

unsafe extern "C" fn shm_map(
    f: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    pass!(f, xShmMap, region, size, extend, out)
}

unsafe extern "C" fn shm_lock(
    f: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    pass!(f, xShmLock, offset, n, flags)
}

unsafe extern "C" fn shm_barrier(f: *mut ffi::sqlite3_file) {
    let real = real(f);
    if let Some(method) = (*(*real).pMethods).xShmBarrier {
        method(real);
    }
}

unsafe extern "C" fn shm_unmap(f: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    pass!(f, xShmUnmap, delete)
}

unsafe extern "C" fn fetch(
    f: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    match flush(f) {
        ffi::SQLITE_OK => pass!(f, xFetch, offset, amount, out),
        rc => rc,
    }
}

unsafe extern "C" fn unfetch(
    f: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    p: *mut c_void,
) -> c_int {
    pass!(f, xUnfetch, offset, p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Applies `writes` to a file kept in memory, gathered, and returns the file and the
    /// number of writes that reached it.
    fn through_gathered(writes: &[(i64, Vec<u8>)]) -> (Vec<u8>, usize) {
        let mut file = Vec::new();
        let mut calls = 0;
        let mut out = |offset: i64, bytes: &[u8]| {
            calls += 1;
            put(&mut file, offset, bytes);
            ffi::SQLITE_OK
        };
        let mut gathered = Gathered::default();
        for (offset, bytes) in writes {
            assert_eq!(gathered.write(*offset, bytes, &mut out), ffi::SQLITE_OK);
        }
        assert_eq!(gathered.flush(&mut out), ffi::SQLITE_OK);
        (file, calls)
    }

    fn put(file: &mut Vec<u8>, offset: i64, bytes: &[u8]) {
        let at = usize::try_from(offset).unwrap();
        if file.len() < at + bytes.len() {
            file.resize(at + bytes.len(), 0);
        }
        file[at..at + bytes.len()].copy_from_slice(bytes);
    }

    #[test]
    fn frames_that_follow_each_other_reach_the_file_in_one_write() {
        let mut writes = vec![(0, vec![7u8; 32])];
        for frame in 0..100i64 {
            let at = 32 + frame * 4120;
            writes.push((at, vec![1; 24]));
            writes.push((at + 24, vec![2; 4096]));
        }
        let (file, calls) = through_gathered(&writes);
        assert_eq!(calls, 1);
        assert_eq!(file.len(), 32 + 100 * 4120);
    }

    #[test]
    fn what_the_out_call_refused_is_reported_and_not_kept() {
        let mut gathered = Gathered::default();
        let mut refuse = |_: i64, _: &[u8]| ffi::SQLITE_FULL;
        assert_eq!(gathered.write(0, &[1; 10], &mut refuse), ffi::SQLITE_OK);
        assert_eq!(gathered.write(100, &[2; 10], &mut refuse), ffi::SQLITE_FULL);
        assert_eq!(gathered.flush(&mut refuse), ffi::SQLITE_OK, "nothing kept");
    }

    proptest! {
        /// Whatever the order, overlap and size of the writes, the file ends as if each had
        /// been written straight away.
        #[test]
        fn gathered_writes_leave_the_file_as_direct_writes_do(
            writes in proptest::collection::vec(
                (0i64..20_000, proptest::collection::vec(any::<u8>(), 1..5_000)),
                1..60,
            ),
        ) {
            let mut direct = Vec::new();
            for (offset, bytes) in &writes {
                put(&mut direct, *offset, bytes);
            }
            let (gathered, _) = through_gathered(&writes);
            prop_assert_eq!(gathered, direct);
        }
    }

    #[test]
    fn a_commit_reaches_the_wal_in_one_run_and_other_connections_see_it_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let writer = rusqlite::Connection::open_with_flags_and_vfs(
            &path,
            rusqlite::OpenFlags::default(),
            name().unwrap(),
        )
        .unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (n INTEGER, pad BLOB);",
            )
            .unwrap();
        let reader = rusqlite::Connection::open(&path).unwrap();
        let count = || -> i64 {
            reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        for round in 1..=5i64 {
            let before = wal_writes();
            let tx = writer.unchecked_transaction().unwrap();
            for n in 0..200 {
                tx.execute(
                    "INSERT INTO t VALUES (?1, zeroblob(1000))",
                    [round * 1000 + n],
                )
                .unwrap();
            }
            tx.commit().unwrap();
            assert_eq!(count(), round * 200, "seen by another connection at once");
            // About 60 frames, two writes each without gathering; gathered, one run a commit
            // (in pieces of 120 KiB).
            assert_eq!(wal_writes() - before, 1, "one run a commit");
        }
        drop(writer);
        let check: String = reader
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
