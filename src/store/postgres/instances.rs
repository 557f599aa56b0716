//! Instance identity and liveness: the `instances` table. Each gateway instance (named by its
//! `[delivery] worker_id`) upserts its row with a heartbeat; `last_seen` is the database's
//! clock, so the instances' own clocks need not agree for "seen within".

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::codec::unavailable;
use crate::store::{InstanceInfo, InstanceSeen, StoreError};

/// An `instances` row: id, version, host, started at, last seen, and the seconds since
/// `last_seen` by the database's clock.
type Row = (String, String, String, DateTime<Utc>, DateTime<Utc>, f64);

fn seen((id, version, host, started_at, last_seen, ago): Row) -> InstanceSeen {
    InstanceSeen {
        instance: InstanceInfo {
            id,
            version,
            host,
            started_at,
        },
        last_seen,
        seen_ago: Duration::try_from_secs_f64(ago.max(0.0)).unwrap_or_default(),
    }
}

/// The columns of a [`Row`].
const COLUMNS: &str = "id, version, host, started_at, last_seen, \
     EXTRACT(EPOCH FROM clock_timestamp() - last_seen)::float8";

/// Registers or refreshes `me`; the registration it replaced, if that was another start.
pub(crate) async fn heartbeat(
    pool: &PgPool,
    me: &InstanceInfo,
) -> Result<Option<InstanceSeen>, StoreError> {
    let before: Option<Row> = sqlx::query_as(&format!(
        "WITH before AS (SELECT id, version, host, started_at, last_seen FROM instances \
         WHERE id = $1 FOR UPDATE), \
         upsert AS (INSERT INTO instances (id, version, host, started_at, last_seen) \
         VALUES ($1, $2, $4, $3, clock_timestamp()) ON CONFLICT (id) DO UPDATE \
         SET version = EXCLUDED.version, host = EXCLUDED.host, \
         started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen) \
         SELECT {COLUMNS} FROM before"
    ))
    .bind(&me.id)
    .bind(&me.version)
    .bind(me.started_at)
    .bind(&me.host)
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    Ok(before
        .map(seen)
        .filter(|b| b.instance.started_at != me.started_at))
}

/// The instances seen within `within` by the database's clock, most recently started first.
pub(crate) async fn seen_within(
    pool: &PgPool,
    within: Duration,
) -> Result<Vec<InstanceSeen>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM instances \
         WHERE last_seen >= clock_timestamp() - make_interval(secs => $1) \
         ORDER BY started_at DESC, id"
    ))
    .bind(within.as_secs_f64())
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    Ok(rows.into_iter().map(seen).collect())
}

/// Removes `me`'s row, if it is still this start's.
pub(crate) async fn retire(pool: &PgPool, me: &InstanceInfo) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM instances WHERE id = $1 AND started_at = $2")
        .bind(&me.id)
        .bind(me.started_at)
        .execute(pool)
        .await
        .map_err(unavailable)?;
    Ok(())
}
