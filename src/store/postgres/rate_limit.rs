//! Per-partner rate limits shared by every instance: a token bucket a partner and direction
//! (`in:<partner>` for its requests, `out:<partner>` for deliveries to it) in the
//! `rate_buckets` table, taken from by the `take_rate_token` function (migration
//! `1001_scale_out.sql`) in one round trip. The function locks the partner's row, refills it
//! for the time since its last refill by the database's clock (one clock for all instances),
//! and takes a token if there is one. So the limit is the partner's, whichever instances its
//! requests reach; see ARCHITECTURE.md for the error bound.
//!
//! The buckets are taken from on a pool of their own whose connections commit with
//! `synchronous_commit = off`: a token's commit does not wait for the WAL's flush to disk, so
//! the partner's row is locked for the function's microseconds rather than an fsync's
//! milliseconds (every request and delivery of one partner takes from the same row). What a
//! crash can lose is the last fraction of a second of takes: the bucket is then fuller than it
//! should be by at most that, the same kind of error as an instance's own clock skew.
//! Referrals, status changes and the audit log are written by the writer, with durable commits.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use super::codec::unavailable;
use crate::config::RateLimit;
use crate::store::{RateBucket, RateDecision, StoreError};

/// The buckets' own pool: a quarter of the store's connections (at least two), committing
/// without waiting for the flush.
pub(crate) async fn pool(
    options: &PgConnectOptions,
    store_connections: u32,
) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections((store_connections / 4).max(2))
        .acquire_timeout(super::ACQUIRE_TIMEOUT)
        .connect_with(connect_options(options))
        .await
}

/// The store's connection options with asynchronous commits, under a name of their own
/// (`pg_stat_activity` tells them from the store's other connections).
fn connect_options(options: &PgConnectOptions) -> PgConnectOptions {
    options
        .clone()
        .application_name("wijkbrug rate limits")
        .options([("synchronous_commit", "off")])
}

pub(crate) async fn take(
    pool: &PgPool,
    bucket: &RateBucket,
    rate: RateLimit,
) -> Result<RateDecision, StoreError> {
    let (wait,): (f64,) = sqlx::query_as("SELECT take_rate_token($1, $2, $3)")
        .bind(bucket.key())
        .bind(f64::from(rate.per_second.get()))
        .bind(f64::from(rate.burst.get()))
        .fetch_one(pool)
        .await
        .map_err(unavailable)?;
    Ok(if wait <= 0.0 {
        RateDecision::Allowed
    } else {
        RateDecision::Limited {
            retry_after: Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(1)),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn the_buckets_connections_commit_asynchronously_and_keep_the_stores_options() {
        let store = PgConnectOptions::from_str("postgres://postgres@127.0.0.1:5432/test")
            .expect("url")
            .application_name("wijkbrug")
            .options([("idle_in_transaction_session_timeout", "60000")]);
        let buckets = connect_options(&store);
        let options = buckets.get_options().expect("startup options");
        assert!(options.contains("synchronous_commit=off"), "{options}");
        assert!(
            options.contains("idle_in_transaction_session_timeout=60000"),
            "{options}"
        );
        assert_eq!(buckets.get_application_name(), Some("wijkbrug rate limits"));
        assert_eq!(
            store
                .get_options()
                .map(|o| o.contains("synchronous_commit")),
            Some(false)
        );
    }
}
