//! Per-partner rate limits shared by every instance: a token bucket a partner and direction
//! (`in:<partner>` for its requests, `out:<partner>` for deliveries to it) in the
//! `rate_buckets` table. The `take_rate_tokens` function (migration
//! `1005_rate_token_lots.sql`) locks the partner's row, refills it for the time since its
//! last refill by the database's clock (one clock for all instances), and takes up to a lot
//! of tokens, in one round trip. So the limit is the partner's, whichever instances its
//! requests reach.
//!
//! Tokens come in lots: an instance takes [`lot_size`] tokens when its own reserve for the
//! bucket is empty, hands them out one a request without asking the database again, and drops
//! what is left after [`LOT_LIFETIME`]. A busy partner then costs one round trip a lot instead
//! of one a request (four a referral on the full path, a large share of what the database
//! spent on a referral: BENCHMARKS.md). Tokens are only ever taken from the shared bucket, so
//! all instances together still admit no more than the bucket gives out, except that a token
//! taken up to [`LOT_LIFETIME`] before an interval may be used in it: at most `lot - 1` more
//! per instance and bucket in any interval, a tenth of the burst; see ARCHITECTURE.md for the
//! whole error bound. A quota with a burst under 20 is taken one token at a time, as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::codec::unavailable;
use crate::config::RateLimit;
use crate::store::{RateBucket, RateDecision, StoreError};

/// How long an instance keeps tokens it took and has not handed out yet.
pub const LOT_LIFETIME: Duration = Duration::from_secs(1);

/// How many tokens an instance takes at once for a quota: a tenth of its burst, between 1
/// and 32.
pub fn lot_size(rate: RateLimit) -> u32 {
    (rate.burst.get() / 10).clamp(1, 32)
}

/// After the database could not be asked for a bucket, how long the other requests of that
/// bucket are answered with the same failure at once instead of each asking again.
pub const FAILURE_HOLD: Duration = Duration::from_secs(1);

/// Tokens taken from a bucket and not handed out yet.
#[derive(Debug)]
struct Reserve {
    tokens: u32,
    taken_at: Instant,
    /// When the database last could not be asked for this bucket, and what it answered.
    failed: Option<(Instant, StoreError)>,
    /// The shared bucket was empty: no token can be there before this (instances only take
    /// from it), so until then the bucket's requests are limited without asking.
    empty_until: Option<Instant>,
}

/// This instance's reserves, one per bucket (partners and directions: bounded by the
/// configuration).
#[derive(Debug, Default)]
pub(crate) struct Lots {
    reserves: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Reserve>>>>,
}

impl Lots {
    fn reserve(&self, key: &str) -> Arc<tokio::sync::Mutex<Reserve>> {
        let mut reserves = self.reserves.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(reserve) = reserves.get(key) {
            return reserve.clone();
        }
        reserves
            .entry(key.to_owned())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(Reserve {
                    tokens: 0,
                    taken_at: Instant::now(),
                    failed: None,
                    empty_until: None,
                }))
            })
            .clone()
    }
}

pub(crate) async fn take(
    pool: &PgPool,
    lots: &Lots,
    bucket: &RateBucket,
    rate: RateLimit,
) -> Result<RateDecision, StoreError> {
    let key = bucket.key();
    let reserve = lots.reserve(&key);
    // Held across the round trip on purpose: the requests of one bucket that find the reserve
    // empty wait for the one lot being taken instead of each taking a lot of its own (which
    // would keep several lots per instance out of the bucket). So that they do not each wait
    // out a database that does not answer (up to the pool's acquire timeout, one after the
    // other), a failure is the answer to every request of the bucket for [`FAILURE_HOLD`]:
    // the callers then fall back as they do for any failure (ARCHITECTURE.md). And once the
    // shared bucket was found empty, its requests are limited without asking until the
    // database said a token can be there: a partner flooding the gateway over its quota costs
    // the database one round trip a refill, not one a request.
    let mut reserve = reserve.lock().await;
    if reserve.tokens > 0 && reserve.taken_at.elapsed() < LOT_LIFETIME {
        reserve.tokens -= 1;
        return Ok(RateDecision::Allowed);
    }
    if let Some((at, error)) = &reserve.failed {
        if at.elapsed() < FAILURE_HOLD {
            return Err(error.clone());
        }
    }
    if let Some(until) = reserve.empty_until {
        let now = Instant::now();
        if now < until {
            return Ok(RateDecision::Limited {
                retry_after: until - now,
            });
        }
    }
    let want = i32::try_from(lot_size(rate)).unwrap_or(1);
    let taken: Result<(i32, f64), StoreError> =
        sqlx::query_as("SELECT granted, wait FROM take_rate_tokens($1, $2, $3, $4)")
            .bind(key)
            .bind(f64::from(rate.per_second.get()))
            .bind(f64::from(rate.burst.get()))
            .bind(want)
            .fetch_one(pool)
            .await
            .map_err(unavailable);
    let (granted, wait) = match taken {
        Ok(taken) => {
            reserve.failed = None;
            taken
        }
        Err(e) => {
            reserve.tokens = 0;
            reserve.failed = Some((Instant::now(), e.clone()));
            return Err(e);
        }
    };
    if granted >= 1 {
        reserve.tokens = u32::try_from(granted - 1).unwrap_or(0);
        reserve.taken_at = Instant::now();
        reserve.empty_until = None;
        Ok(RateDecision::Allowed)
    } else {
        reserve.tokens = 0;
        let retry_after = Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(1));
        reserve.empty_until = Some(Instant::now() + retry_after);
        Ok(RateDecision::Limited { retry_after })
    }
}
