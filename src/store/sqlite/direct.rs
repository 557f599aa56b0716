//! Statements on the single writer's own connection ([`super::writer`]), which is a direct
//! SQLite connection (rusqlite) on the writer's thread: a statement runs in place, with no
//! hand-over to another thread and back, and is prepared once and kept in the connection's
//! statement cache.

use rusqlite::{Connection, Params, Row};

use super::codec::failed;
use crate::store::StoreError;

/// How many prepared statements the writer keeps (more than it has).
pub(crate) const STATEMENT_CACHE: usize = 128;

/// Runs `sql`; how many rows it changed.
pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<u64, StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map(|n| u64::try_from(n).unwrap_or(u64::MAX))
        .map_err(failed)
}

/// The first row of `sql`, if any.
pub(crate) fn optional<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Option<T>, StoreError>
where
    T: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
{
    let mut statement = conn.prepare_cached(sql).map_err(failed)?;
    let mut rows = statement.query(params).map_err(failed)?;
    match rows.next().map_err(failed)? {
        Some(row) => T::try_from(row).map(Some).map_err(failed),
        None => Ok(None),
    }
}

/// Every row of `sql`.
pub(crate) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> TryFrom<&'r Row<'r>, Error = rusqlite::Error>,
{
    let mut statement = conn.prepare_cached(sql).map_err(failed)?;
    let mut rows = statement.query(params).map_err(failed)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(failed)? {
        out.push(T::try_from(row).map_err(failed)?);
    }
    Ok(out)
}
