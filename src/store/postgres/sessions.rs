//! The dashboard's sign-in sessions in PostgreSQL
//! (`migrations/postgres/0009_dashboard_sessions.sql`): one row a session under the SHA-256
//! of its id, shared by every instance. Single-row statements on the pool, outside the writer
//! (they carry nothing the audit log records, so they need not wait for the chain's head).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::codec::unavailable;
use crate::store::dashboard::{SessionKey, StaffSession};
use crate::store::StoreError;

pub(crate) async fn start(
    pool: &PgPool,
    key: &SessionKey,
    s: &StaffSession,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
        .bind(s.started_at)
        .execute(pool)
        .await
        .map_err(unavailable)?;
    sqlx::query(
        "INSERT INTO dashboard_sessions \
         (id_hash, staff, role, csrf, started_at, seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&key[..])
    .bind(&s.staff)
    .bind(&s.role)
    .bind(&s.csrf)
    .bind(s.started_at)
    .bind(s.seen_at)
    .bind(s.expires_at)
    .execute(pool)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// A `dashboard_sessions` row: staff, role, csrf, started, seen, expires.
type Row = (
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    DateTime<Utc>,
);

pub(crate) async fn get(
    pool: &PgPool,
    key: &SessionKey,
    now: DateTime<Utc>,
) -> Result<Option<StaffSession>, StoreError> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT staff, role, csrf, started_at, seen_at, expires_at FROM dashboard_sessions \
         WHERE id_hash = $1 AND expires_at > $2",
    )
    .bind(&key[..])
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    Ok(row.map(
        |(staff, role, csrf, started_at, seen_at, expires_at)| StaffSession {
            staff,
            role,
            csrf,
            started_at,
            seen_at,
            expires_at,
        },
    ))
}

pub(crate) async fn touch(
    pool: &PgPool,
    key: &SessionKey,
    seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE dashboard_sessions SET seen_at = $1, expires_at = $2 WHERE id_hash = $3")
        .bind(seen_at)
        .bind(expires_at)
        .bind(&key[..])
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}

pub(crate) async fn end(pool: &PgPool, key: &SessionKey) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1")
        .bind(&key[..])
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}
