//! The counts the dashboard's overview and `/metrics` read (referrals per status and receiver,
//! referrals per hour received, outbox rows per recipient, state and failing, deliveries per
//! hour and recipient), kept by the single writer for its own changes.
//!
//! Row triggers (migrations 0007, 0010, 0011; the outbox's made again in 0012) keep these
//! counts for every connection. On the writer's connection they cost a trigger program and a statement journal for each change of
//! a referral or an outbox row, a large share of the writer's time (BENCHMARKS.md). So the
//! writer's connection runs with triggers off (`SQLITE_DBCONFIG_ENABLE_TRIGGER`) and a
//! pre-update hook sees each change instead: before a row of `referrals` or `outbox` is
//! inserted, updated or deleted, the hook adds what the triggers would have added (old row out,
//! new row in) to deltas held in memory. Before the batch's COMMIT, [`Counts::flush`] writes
//! the deltas that are not zero, a few statements for the whole batch, in the same
//! transaction. When the batch fails, it is rolled back with its deltas never written, and the
//! next batch starts from none ([`Counts::begin`]). This holds because the writer never goes on
//! after a failed statement: every error fails its whole batch (a statement that failed after
//! the hook saw its change, such as a foreign key checked at the statement's end, is undone by
//! SQLite but would still be in the deltas).
//!
//! The arithmetic is the triggers', statement for statement: a positive change is an upsert, a
//! negative one an `UPDATE` of an existing row, and an hour that a delete brings to zero is
//! removed. The tests below make the same random row changes on a connection with the
//! triggers and on one with the hook and compare the counts after each batch, and check that
//! the schema holds no trigger besides these; `tests/overview_hourly.rs` and the dashboard's
//! tests compare the figures with counting the rows after the store's own writes.

use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::ffi;

use super::codec::{corrupt, failed};
use super::direct;
use crate::store::StoreError;

/// What changed in a batch, not yet written.
#[derive(Default)]
struct Deltas {
    /// (status, receiver or '') → referrals.
    status: HashMap<(String, String), i64>,
    /// hour received → (referrals, of them consent_missing).
    referral_hours: HashMap<String, (i64, i64)>,
    /// Hours a referral was deleted from (removed once they count none).
    referral_hours_deleted: HashSet<String>,
    /// (recipient, state, failing) → rows.
    outbox: HashMap<(String, String, bool), i64>,
    /// (hour delivered, recipient) → deliveries.
    delivered_hours: HashMap<(String, String), i64>,
    delivered_hours_deleted: HashSet<(String, String)>,
    /// A value the hook could not read: the batch fails rather than count wrongly.
    unreadable: Option<String>,
}

/// Column positions, read from the schema once the tables exist.
#[derive(Clone, Copy)]
struct Columns {
    referral_status: i32,
    referral_receiver: i32,
    referral_received_at: i32,
    outbox_recipient: i32,
    outbox_state: i32,
    outbox_last_error: i32,
    outbox_delivered_at: i32,
}

/// What the hook and the writer share.
#[derive(Default)]
struct Shared {
    deltas: Deltas,
    /// `None` until the tables exist.
    columns: Option<Columns>,
    /// Which counts the schema keeps.
    kept: Kept,
    /// The schema `columns` and `kept` were read from.
    schema_version: Option<i64>,
}

/// Which counts the schema has triggers for.
#[derive(Default, Clone, Copy)]
struct Kept {
    status: bool,
    referral_hours: bool,
    outbox: bool,
    delivered_hours: bool,
}

impl Kept {
    fn any(self) -> bool {
        self.status || self.referral_hours || self.outbox || self.delivered_hours
    }
}

/// The writer's counts: the deltas its connection's hook adds to, and their flush.
pub(crate) struct Counts {
    /// Also the hook's context: each attached connection holds a reference of its own (see
    /// [`Counts::attach`]).
    shared: Arc<Mutex<Shared>>,
}

impl Counts {
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared::default())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns the connection's triggers off and hooks its row changes (the writer's connection,
    /// each time it is opened).
    pub fn attach(&self, conn: &rusqlite::Connection) -> Result<(), StoreError> {
        let enabled = conn
            .set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER,
                false,
            )
            .map_err(failed)?;
        if enabled {
            return Err(corrupt("the writer's connection kept its triggers on"));
        }
        // The hook's context is a reference of its own, never released: SQLite gives no call
        // when a connection closes, so this is what keeps the context alive for as long as
        // the connection may call the hook, whichever of the two is dropped first. It costs
        // one small allocation per connection the writer opens (one per store, and one more
        // after a failed commit left a connection unusable).
        let context = Arc::into_raw(Arc::clone(&self.shared))
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: `conn.handle()` is the connection's open handle, used here on the thread
        // that owns `conn`. The context is a leaked `Arc<Mutex<Shared>>`, valid for the rest
        // of the process; `on_change` only reads it through the mutex.
        unsafe {
            ffi::sqlite3_preupdate_hook(conn.handle(), Some(on_change), context);
        }
        Ok(())
    }

    /// Before a batch: forgets what a failed batch left, and, when the schema changed since
    /// (the writer opens before the migrations run, and a migration may rebuild a table),
    /// learns again the columns' positions and which counts the schema keeps.
    pub fn begin(&self, conn: &rusqlite::Connection) -> Result<(), StoreError> {
        let mut shared = self.lock();
        shared.deltas = Deltas::default();
        let (version,): (i64,) = direct::optional(conn, "PRAGMA schema_version", [])?
            .ok_or_else(|| corrupt("no schema version"))?;
        if shared.schema_version == Some(version) {
            return Ok(());
        }
        let position = |table: &str, column: &str| -> Result<Option<i32>, StoreError> {
            Ok(direct::optional::<(i32,)>(
                conn,
                "SELECT cid FROM pragma_table_info(?) WHERE name = ?",
                rusqlite::params![table, column],
            )?
            .map(|(cid,)| cid))
        };
        let referrals = (
            position("referrals", "status")?,
            position("referrals", "receiver")?,
            position("referrals", "received_at")?,
        );
        let outbox = (
            position("outbox", "recipient")?,
            position("outbox", "state")?,
            position("outbox", "last_error")?,
            position("outbox", "delivered_at")?,
        );
        shared.columns = match (referrals, outbox) {
            ((Some(a), Some(b), Some(c)), (Some(d), Some(e), Some(f), Some(g))) => Some(Columns {
                referral_status: a,
                referral_receiver: b,
                referral_received_at: c,
                outbox_recipient: d,
                outbox_state: e,
                outbox_last_error: f,
                outbox_delivered_at: g,
            }),
            _ => None,
        };
        // A count is kept where the schema has its triggers (a store not yet migrated to a
        // count's migration keeps it no more than the triggers would).
        let has = |prefix: &str| -> Result<bool, StoreError> {
            Ok(direct::optional::<(i64,)>(
                conn,
                "SELECT 1 FROM sqlite_schema WHERE type = 'trigger' AND name LIKE ? || '%' \
                 LIMIT 1",
                [prefix],
            )?
            .is_some())
        };
        shared.kept = Kept {
            status: has("referral_status_counts_")?,
            referral_hours: has("referral_hourly_counts_")?,
            outbox: has("outbox_counts_")?,
            delivered_hours: has("delivered_hourly_counts_")?,
        };
        shared.schema_version = Some(version);
        Ok(())
    }

    /// Writes the batch's deltas in its transaction, before its COMMIT.
    pub fn flush(&self, conn: &rusqlite::Connection) -> Result<(), StoreError> {
        let (deltas, kept) = {
            let mut shared = self.lock();
            (std::mem::take(&mut shared.deltas), shared.kept)
        };
        if let Some(what) = deltas.unreadable {
            return Err(corrupt(format_args!(
                "a change to count could not be read: {what}"
            )));
        }
        let status = deltas
            .status
            .into_iter()
            .filter(|(_, n)| kept.status && *n != 0);
        for ((status, receiver), n) in status {
            add(
                conn,
                n,
                "INSERT INTO referral_status_counts (status, receiver, referrals) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (status, receiver) DO UPDATE SET referrals = referrals + ?3",
                "UPDATE referral_status_counts SET referrals = referrals + ?3 \
                 WHERE status = ?1 AND receiver = ?2",
                rusqlite::params![status, receiver, n],
            )?;
        }
        for (hour, (received, missing)) in deltas.referral_hours {
            if !kept.referral_hours || (received == 0 && missing == 0) {
                continue;
            }
            let sql = if received > 0 || missing > 0 {
                "INSERT INTO referral_hourly_counts (hour, received, consent_missing) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (hour) DO UPDATE SET \
                 received = received + ?2, consent_missing = consent_missing + ?3"
            } else {
                "UPDATE referral_hourly_counts SET received = received + ?2, \
                 consent_missing = consent_missing + ?3 WHERE hour = ?1"
            };
            direct::execute(conn, sql, rusqlite::params![hour, received, missing])?;
        }
        for hour in deltas
            .referral_hours_deleted
            .into_iter()
            .filter(|_| kept.referral_hours)
        {
            direct::execute(
                conn,
                "DELETE FROM referral_hourly_counts WHERE hour = ? AND received = 0",
                [hour],
            )?;
        }
        let outbox = deltas
            .outbox
            .into_iter()
            .filter(|(_, n)| kept.outbox && *n != 0);
        for ((recipient, state, failing), n) in outbox {
            add(
                conn,
                n,
                "INSERT INTO outbox_counts (recipient, state, failing, rows) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (recipient, state, failing) DO UPDATE SET rows = rows + ?4",
                "UPDATE outbox_counts SET rows = rows + ?4 \
                 WHERE recipient = ?1 AND state = ?2 AND failing = ?3",
                rusqlite::params![recipient, state, failing, n],
            )?;
        }
        let delivered = deltas
            .delivered_hours
            .into_iter()
            .filter(|(_, n)| kept.delivered_hours && *n != 0);
        for ((hour, recipient), n) in delivered {
            add(
                conn,
                n,
                "INSERT INTO delivered_hourly_counts (hour, recipient, deliveries) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (hour, recipient) DO UPDATE SET \
                 deliveries = deliveries + ?3",
                "UPDATE delivered_hourly_counts SET deliveries = deliveries + ?3 \
                 WHERE hour = ?1 AND recipient = ?2",
                rusqlite::params![hour, recipient, n],
            )?;
        }
        for (hour, recipient) in deltas
            .delivered_hours_deleted
            .into_iter()
            .filter(|_| kept.delivered_hours)
        {
            direct::execute(
                conn,
                "DELETE FROM delivered_hourly_counts \
                 WHERE hour = ? AND recipient = ? AND deliveries = 0",
                [hour, recipient],
            )?;
        }
        Ok(())
    }
}

/// Adds `n` (not zero) to a count as the triggers do: an increase is an upsert (the count's
/// row is made when missing), a decrease an `UPDATE` of the row there is.
fn add(
    conn: &rusqlite::Connection,
    n: i64,
    upsert: &str,
    update: &str,
    params: impl rusqlite::Params,
) -> Result<(), StoreError> {
    direct::execute(conn, if n > 0 { upsert } else { update }, params).map(drop)
}

/// The first 13 characters of a stored time: its hour ('2026-11-22T17').
fn hour(at: &str) -> String {
    at.get(..13).unwrap_or(at).to_owned()
}

/// A referral as the counts see it.
struct ReferralRow {
    status: String,
    receiver: String,
    hour: String,
}

/// An outbox row as the counts see it.
struct OutboxRow {
    recipient: String,
    state: String,
    failing: bool,
    delivered_at: Option<String>,
}

/// SQLite's pre-update callback: adds the change of a `referrals` or `outbox` row to the
/// deltas.
unsafe extern "C" fn on_change(
    context: *mut c_void,
    db: *mut ffi::sqlite3,
    op: c_int,
    schema: *const c_char,
    table: *const c_char,
    _old_rowid: ffi::sqlite3_int64,
    _new_rowid: ffi::sqlite3_int64,
) {
    // SAFETY: SQLite passes the schema's and table's names as NUL-terminated strings valid for
    // the call, and `context` as given to `sqlite3_preupdate_hook` (see `Counts::attach`).
    let (schema, table, shared) = unsafe {
        (
            CStr::from_ptr(schema),
            CStr::from_ptr(table),
            &*context.cast_const().cast::<Mutex<Shared>>(),
        )
    };
    let counted = match table.to_bytes() {
        b"referrals" => Table::Referrals,
        b"outbox" => Table::Outbox,
        _ => return,
    };
    if schema.to_bytes() != b"main" {
        return;
    }
    // Nothing may unwind into SQLite; a panic (there is none to expect) fails the batch.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(columns) = shared.columns else {
            // Nothing is counted before the tables exist.
            if shared.kept.any() {
                shared.deltas.unreadable = Some("the counted tables' columns".to_owned());
            }
            return;
        };
        let (old, new) = match op {
            ffi::SQLITE_INSERT => (None, Some(Side::New)),
            ffi::SQLITE_DELETE => (Some(Side::Old), None),
            ffi::SQLITE_UPDATE => (Some(Side::Old), Some(Side::New)),
            _ => {
                shared.deltas.unreadable = Some(format!("a change of kind {op}"));
                return;
            }
        };
        if let Err(what) = shared.deltas.add(db, &columns, counted, old, new) {
            shared.deltas.unreadable = Some(what);
        }
    }));
    if result.is_err() {
        let mut shared = shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.deltas.unreadable = Some("a panic while counting".to_owned());
    }
}

#[derive(Clone, Copy)]
enum Table {
    Referrals,
    Outbox,
}

impl Deltas {
    fn add(
        &mut self,
        db: *mut ffi::sqlite3,
        c: &Columns,
        table: Table,
        old: Option<Side>,
        new: Option<Side>,
    ) -> Result<(), String> {
        match table {
            Table::Referrals => {
                let old = old.map(|s| s.referral(db, c)).transpose()?;
                let new = new.map(|s| s.referral(db, c)).transpose()?;
                if let Some(o) = &old {
                    self.referral(o, -1);
                }
                if let Some(n) = &new {
                    self.referral(n, 1);
                }
                if let (Some(o), None) = (old, &new) {
                    self.referral_hours_deleted.insert(o.hour);
                }
            }
            Table::Outbox => {
                let old = old.map(|s| s.outbox(db, c)).transpose()?;
                let new = new.map(|s| s.outbox(db, c)).transpose()?;
                if let Some(o) = &old {
                    self.outbox_row(o, -1);
                }
                if let Some(n) = &new {
                    self.outbox_row(n, 1);
                }
                if let (
                    Some(OutboxRow {
                        recipient,
                        state,
                        delivered_at: Some(at),
                        ..
                    }),
                    None,
                ) = (old, &new)
                {
                    if state == "delivered" {
                        self.delivered_hours_deleted.insert((hour(&at), recipient));
                    }
                }
            }
        }
        Ok(())
    }

    fn referral(&mut self, row: &ReferralRow, sign: i64) {
        *self
            .status
            .entry((row.status.clone(), row.receiver.clone()))
            .or_default() += sign;
        let missing = i64::from(row.status == "consent_missing");
        let hour = self.referral_hours.entry(row.hour.clone()).or_default();
        hour.0 += sign;
        hour.1 += sign * missing;
    }

    fn outbox_row(&mut self, row: &OutboxRow, sign: i64) {
        *self
            .outbox
            .entry((row.recipient.clone(), row.state.clone(), row.failing))
            .or_default() += sign;
        if let (true, Some(at)) = (row.state == "delivered", &row.delivered_at) {
            *self
                .delivered_hours
                .entry((hour(at), row.recipient.clone()))
                .or_default() += sign;
        }
    }
}

/// One side of a change: the row before it or after it.
#[derive(Clone, Copy)]
enum Side {
    Old,
    New,
}

impl Side {
    /// A text column's value (`None` when NULL), read inside the pre-update callback.
    fn get(self, db: *mut ffi::sqlite3, column: i32, what: &str) -> Result<Option<String>, String> {
        let mut value: *mut ffi::sqlite3_value = std::ptr::null_mut();
        // SAFETY: called only from `on_change`, inside SQLite's pre-update callback for `db`,
        // where `sqlite3_preupdate_old`/`_new` may be called for the side the change has
        // (`Deltas::add` asks for the old row only of updates and deletes, the new only of
        // inserts and updates). The value and its text stay valid until the callback returns;
        // the text is copied before that.
        unsafe {
            let rc = match self {
                Self::Old => ffi::sqlite3_preupdate_old(db, column, &mut value),
                Self::New => ffi::sqlite3_preupdate_new(db, column, &mut value),
            };
            if rc != ffi::SQLITE_OK || value.is_null() {
                return Err(what.to_owned());
            }
            match ffi::sqlite3_value_type(value) {
                ffi::SQLITE_NULL => Ok(None),
                ffi::SQLITE_TEXT => {
                    let text = ffi::sqlite3_value_text(value);
                    let len = usize::try_from(ffi::sqlite3_value_bytes(value))
                        .map_err(|_| what.to_owned())?;
                    if text.is_null() {
                        return Err(what.to_owned());
                    }
                    let bytes = std::slice::from_raw_parts(text, len);
                    std::str::from_utf8(bytes)
                        .map(|s| Some(s.to_owned()))
                        .map_err(|_| what.to_owned())
                }
                _ => Err(what.to_owned()),
            }
        }
    }

    fn required(self, db: *mut ffi::sqlite3, column: i32, what: &str) -> Result<String, String> {
        self.get(db, column, what)?.ok_or_else(|| what.to_owned())
    }

    fn referral(self, db: *mut ffi::sqlite3, c: &Columns) -> Result<ReferralRow, String> {
        Ok(ReferralRow {
            status: self.required(db, c.referral_status, "referrals.status")?,
            receiver: self
                .get(db, c.referral_receiver, "referrals.receiver")?
                .unwrap_or_default(),
            hour: hour(&self.required(db, c.referral_received_at, "referrals.received_at")?),
        })
    }

    fn outbox(self, db: *mut ffi::sqlite3, c: &Columns) -> Result<OutboxRow, String> {
        Ok(OutboxRow {
            recipient: self.required(db, c.outbox_recipient, "outbox.recipient")?,
            state: self.required(db, c.outbox_state, "outbox.state")?,
            failing: self
                .get(db, c.outbox_last_error, "outbox.last_error")?
                .is_some(),
            delivered_at: self.get(db, c.outbox_delivered_at, "outbox.delivered_at")?,
        })
    }
}

#[cfg(test)]
mod tests {
    //! The hook against the triggers: the same row changes, made once on a connection with
    //! the triggers and once on a connection with the hook, leave the same counts.

    use std::path::Path;

    use super::super::test_schema::{migrated_with, migration};
    use super::*;

    /// The triggers the hook stands in for: all the triggers the schema has. A trigger that is not
    /// listed here would not run on the writer's connection; a test checks that none exists.
    const STOOD_IN_FOR: [&str; 13] = [
        "referral_status_counts_insert",
        "referral_status_counts_update",
        "referral_status_counts_delete",
        "referral_hourly_counts_insert",
        "referral_hourly_counts_update",
        "referral_hourly_counts_delete",
        "outbox_counts_insert",
        "outbox_counts_update",
        "outbox_counts_delete",
        "delivered_hourly_counts_insert",
        "delivered_hourly_counts_update_old",
        "delivered_hourly_counts_update_new",
        "delivered_hourly_counts_delete",
    ];

    /// A database with every migration but those whose names start with one of `except`.
    fn migrated_except(path: &Path, except: &[&str]) -> rusqlite::Connection {
        migrated_with(path, |name| !except.iter().any(|e| name.starts_with(e)))
    }

    fn migrated(path: &Path) -> rusqlite::Connection {
        migrated_except(path, &[])
    }

    /// Every count, those at zero left out (no reader tells a zero row from a missing one).
    fn all_counts(conn: &rusqlite::Connection) -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT 's', status, receiver, referrals FROM referral_status_counts \
             WHERE referrals <> 0 ORDER BY 2, 3",
            "SELECT 'h', hour, received, consent_missing FROM referral_hourly_counts \
             WHERE received <> 0 OR consent_missing <> 0 ORDER BY 2",
            "SELECT 'o', recipient, state || '/' || failing, rows FROM outbox_counts \
             WHERE rows <> 0 ORDER BY 2, 3",
            "SELECT 'd', hour, recipient, deliveries FROM delivered_hourly_counts \
             WHERE deliveries <> 0 ORDER BY 2, 3",
        ] {
            let Ok(mut stmt) = conn.prepare(sql) else {
                continue; // a table of a migration not applied yet
            };
            let rows = stmt
                .query_map([], |r| {
                    Ok(format!(
                        "{} {} {} {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, rusqlite::types::Value>(2)
                            .map(|v| format!("{v:?}"))?,
                        r.get::<_, i64>(3)?
                    ))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            out.extend(rows);
        }
        out
    }

    /// What counting the rows gives, for the two referral counts.
    fn counted_referrals(conn: &rusqlite::Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare(
                "SELECT 's', status, COALESCE(receiver, ''), COUNT(*) FROM referrals \
                 GROUP BY 2, 3 ORDER BY 2, 3",
            )
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{} {} {:?} {}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    rusqlite::types::Value::Text(r.get::<_, String>(2)?),
                    r.get::<_, i64>(3)?
                ))
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows
    }

    /// A small deterministic generator (xorshift), so a failure can be replayed.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[usize::try_from(self.below(from.len() as u64)).unwrap()]
        }
    }

    const STATUSES: [&str; 5] = [
        "routed",
        "delivered",
        "accepted",
        "consent_missing",
        "completed",
    ];
    const PARTNERS: [&str; 3] = ["zorg", "wijkteam", "woonstad"];
    const HOURS: [&str; 3] = ["2026-11-22T08", "2026-11-22T09", "2026-11-22T10"];

    /// One random row change, as SQL (on the rows there are, so every statement can run).
    fn change(rng: &mut Rng, conn: &rusqlite::Connection, n: u64) -> String {
        let ids = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
                .unwrap()
                .map(|v| match v.unwrap() {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => format!("'{t}'"),
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>();
            rows
        };
        let referrals = ids("SELECT id FROM referrals ORDER BY id");
        let routed = ids("SELECT id FROM referrals WHERE receiver IS NOT NULL ORDER BY id");
        let childless = ids("SELECT id FROM referrals r WHERE NOT EXISTS \
             (SELECT 1 FROM outbox o WHERE o.referral_id = r.id) ORDER BY id");
        let rows = ids("SELECT id FROM outbox ORDER BY id");
        let at = format!("{}:{:02}:00Z", rng.pick(&HOURS), rng.below(60));
        let pick = |rng: &mut Rng, from: &[String]| {
            from[usize::try_from(rng.below(from.len() as u64)).unwrap()].clone()
        };
        match rng.below(10) {
            0 | 1 => {
                let status = rng.pick(&STATUSES);
                if rng.below(3) == 0 {
                    format!(
                        "INSERT INTO referrals (id, sender, source_ref, status, request, \
                         received_at, updated_at) VALUES ('r{n}', 'woonstad', 'r{n}', \
                         '{status}', '{{}}', '{at}', '{at}')"
                    )
                } else {
                    let receiver = rng.pick(&PARTNERS);
                    format!(
                        "INSERT INTO referrals (id, sender, source_ref, receiver, status, \
                         request, shared, shared_categories, shared_removed, received_at, \
                         updated_at) VALUES ('r{n}', 'woonstad', 'r{n}', '{receiver}', \
                         '{status}', '{{}}', '{{}}', 'identity', '', '{at}', '{at}')"
                    )
                }
            }
            2 if !referrals.is_empty() => format!(
                "UPDATE referrals SET status = '{}', updated_at = '{at}' WHERE id = {}",
                rng.pick(&STATUSES),
                pick(rng, &referrals)
            ),
            3 if !routed.is_empty() => format!(
                "UPDATE referrals SET receiver = '{}' WHERE id = {}",
                rng.pick(&PARTNERS),
                pick(rng, &routed)
            ),
            4 if !referrals.is_empty() => format!(
                "UPDATE referrals SET received_at = '{at}' WHERE id = {}",
                pick(rng, &referrals)
            ),
            5 if !childless.is_empty() => {
                format!("DELETE FROM referrals WHERE id = {}", pick(rng, &childless))
            }
            6 if !referrals.is_empty() => format!(
                "INSERT INTO outbox (referral_id, recipient, kind, created_at, next_attempt_at) \
                 VALUES ({}, '{}', 'referral', '{at}', '{at}')",
                pick(rng, &referrals),
                rng.pick(&PARTNERS)
            ),
            7 | 8 if !rows.is_empty() => {
                let set = match rng.below(6) {
                    0 => format!("state = 'delivered', delivered_at = '{at}'"),
                    1 => format!("state = 'dead', failed_at = '{at}', last_error = 'HTTP 503'"),
                    2 => "state = 'pending', last_error = NULL".to_owned(),
                    3 => "last_error = 'HTTP 500'".to_owned(),
                    4 => format!("recipient = '{}'", rng.pick(&PARTNERS)),
                    _ => format!("delivered_at = '{at}'"),
                };
                format!("UPDATE outbox SET {set} WHERE id = {}", pick(rng, &rows))
            }
            9 if !rows.is_empty() => {
                format!("DELETE FROM outbox WHERE id = {}", pick(rng, &rows))
            }
            _ => format!(
                "UPDATE outbox SET locked_by = 'w', locked_until = '{at}' WHERE state = 'pending'"
            ),
        }
    }

    #[test]
    fn the_hook_counts_what_the_triggers_count() {
        let dir = tempfile::tempdir().unwrap();
        // Two migrations come in the middle of the run, as on a store that is upgraded while
        // its writer is open. Before the per-hour counts' (0010), neither keeps them; from it
        // on, both do (the migration counts the rows already there). The outbox is rebuilt
        // with its triggers (0012) later: the hook finds its columns again.
        let later = [(60, "0010"), (100, "0012")];
        let skipped = later.map(|(_, name)| name);
        let triggers = migrated_except(&dir.path().join("triggers.db"), &skipped);
        let hooked = migrated_except(&dir.path().join("hooked.db"), &skipped);
        let counts = Counts::new();
        counts.attach(&hooked).unwrap();
        let mut rng = Rng(0x5eed_2026_1122);
        let mut n = 0;
        for batch in 0..150 {
            if let Some((_, name)) = later.iter().find(|(at, _)| *at == batch) {
                let sql = migration(name);
                triggers.execute_batch(&sql).unwrap();
                hooked.execute_batch(&sql).unwrap();
            }
            counts.begin(&hooked).unwrap();
            triggers.execute_batch("BEGIN").unwrap();
            hooked.execute_batch("BEGIN").unwrap();
            for _ in 0..rng.below(8) + 1 {
                n += 1;
                let sql = change(&mut rng, &hooked, n);
                // Every change is made to succeed: the writer never goes on after a failed
                // statement (the whole batch fails), so a failure mid-batch is not a case.
                let a = triggers.execute(&sql, []).map_err(|e| e.to_string());
                let b = hooked.execute(&sql, []).map_err(|e| e.to_string());
                assert!(a.is_ok() && b.is_ok(), "{sql}: {a:?} / {b:?}");
            }
            if batch % 10 == 9 {
                // A failed batch: rolled back on both, its deltas never written.
                triggers.execute_batch("ROLLBACK").unwrap();
                hooked.execute_batch("ROLLBACK").unwrap();
                continue;
            }
            counts.flush(&hooked).unwrap();
            triggers.execute_batch("COMMIT").unwrap();
            hooked.execute_batch("COMMIT").unwrap();
            assert_eq!(
                all_counts(&hooked),
                all_counts(&triggers),
                "after batch {batch}"
            );
        }
        let statuses: Vec<String> = all_counts(&hooked)
            .into_iter()
            .filter(|l| l.starts_with("s "))
            .collect();
        assert_eq!(statuses, counted_referrals(&hooked));
        assert!(
            statuses.len() > 3,
            "the changes reached several statuses: {statuses:?}"
        );
        let delivered = all_counts(&hooked)
            .iter()
            .filter(|l| l.starts_with("d "))
            .count();
        assert!(delivered > 0, "and deliveries");
    }

    #[test]
    fn the_hooked_connection_runs_no_trigger() {
        let dir = tempfile::tempdir().unwrap();
        let hooked = migrated(&dir.path().join("hooked.db"));
        Counts::new().attach(&hooked).unwrap();
        hooked
            .execute_batch(
                "INSERT INTO referrals (id, sender, source_ref, status, request, received_at, \
                 updated_at) VALUES ('r1', 'woonstad', 'r1', 'routed', '{}', \
                 '2026-11-22T10:00:00Z', '2026-11-22T10:00:00Z')",
            )
            .unwrap();
        // Outside a batch nothing is flushed: the counts stay as they were.
        assert_eq!(all_counts(&hooked), Vec::<String>::new());
    }

    #[test]
    fn every_trigger_in_the_schema_is_one_the_writer_stands_in_for() {
        let dir = tempfile::tempdir().unwrap();
        let conn = migrated(&dir.path().join("schema.db"));
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name")
            .unwrap();
        let mut found: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        found.sort();
        let mut known: Vec<String> = STOOD_IN_FOR.iter().map(|s| (*s).to_owned()).collect();
        known.sort();
        assert_eq!(found, known);
    }
}
