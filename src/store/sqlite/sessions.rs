//! The dashboard's sign-in sessions in SQLite (`migrations/sqlite/0009_dashboard_sessions.sql`):
//! one row a session under the SHA-256 of its id. Small single-row writes, outside the group
//! committer: they carry nothing the audit log records.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::codec::{parse_ts, ts, unavailable};
use crate::store::dashboard::{SessionKey, StaffSession};
use crate::store::StoreError;

pub(crate) async fn start(
    pool: &SqlitePool,
    key: &SessionKey,
    s: &StaffSession,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(unavailable)?;
    sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= ?")
        .bind(ts(s.started_at))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    sqlx::query(
        "INSERT INTO dashboard_sessions \
         (id_hash, staff, role, csrf, started_at, seen_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&key[..])
    .bind(&s.staff)
    .bind(&s.role)
    .bind(&s.csrf)
    .bind(ts(s.started_at))
    .bind(ts(s.seen_at))
    .bind(ts(s.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)
}

pub(crate) async fn get(
    pool: &SqlitePool,
    key: &SessionKey,
    now: DateTime<Utc>,
) -> Result<Option<StaffSession>, StoreError> {
    let row: Option<(String, String, String, String, String, String)> = sqlx::query_as(
        "SELECT staff, role, csrf, started_at, seen_at, expires_at FROM dashboard_sessions \
         WHERE id_hash = ? AND expires_at > ?",
    )
    .bind(&key[..])
    .bind(ts(now))
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    row.map(|(staff, role, csrf, started_at, seen_at, expires_at)| {
        Ok(StaffSession {
            staff,
            role,
            csrf,
            started_at: parse_ts(&started_at, "dashboard_sessions.started_at")?,
            seen_at: parse_ts(&seen_at, "dashboard_sessions.seen_at")?,
            expires_at: parse_ts(&expires_at, "dashboard_sessions.expires_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn touch(
    pool: &SqlitePool,
    key: &SessionKey,
    seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE dashboard_sessions SET seen_at = ?, expires_at = ? WHERE id_hash = ?")
        .bind(ts(seen_at))
        .bind(ts(expires_at))
        .bind(&key[..])
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}

pub(crate) async fn end(pool: &SqlitePool, key: &SessionKey) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = ?")
        .bind(&key[..])
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}
