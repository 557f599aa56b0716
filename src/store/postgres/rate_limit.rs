//! Per-partner rate limits shared by every instance: a token bucket a partner and direction
//! (`in:<partner>` for its requests, `out:<partner>` for deliveries to it) in the
//! `rate_buckets` table, taken from by the `take_rate_token` function (migration
//! `1001_scale_out.sql`) in one round trip. The function locks the partner's row, refills it
//! for the time since its last refill by the database's clock (one clock for all instances),
//! and takes a token if there is one. So the limit is the partner's, whichever instances its
//! requests reach; see ARCHITECTURE.md for the error bound.

use std::time::Duration;

use sqlx::PgPool;

use super::codec::unavailable;
use crate::config::RateLimit;
use crate::store::{RateBucket, RateDecision, StoreError};

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
