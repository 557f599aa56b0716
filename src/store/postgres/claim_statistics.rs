//! The planner's statistics of `outbox` kept near its backlog of pending deliveries.
//!
//! A delivery claim picks the oldest due rows whose referral and recipient have no older
//! pending row (`delivery::lease_rows`). How PostgreSQL runs that depends on how many rows it
//! believes are pending: with statistics gathered while few were (a new store, a quiet hour)
//! it looked for the older rows through the pending rows' `next_attempt_at` index, reading
//! every pending row for each candidate, so that once a backlog formed (1,000 referrals a
//! second offered, or a partner's queue after an outage) each claim took longer as the
//! backlog grew, up to seconds, and deliveries fell to under a hundred a second
//! (BENCHMARKS.md, "The delivery claims under a backlog on PostgreSQL"). With statistics
//! that know the backlog it reads the few rows of the candidate's referral. Autovacuum
//! analyses the table only after a fraction of it changed and at most once a minute.
//!
//! So the claims check, at most every [`CHECK_EVERY`], how many rows are pending (the kept
//! counts, one small read) and analyse `outbox` when that number has moved far from the one
//! of the last analysis ([`moved_far`]).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::codec::unavailable;
use crate::store::StoreError;

/// The shortest time between two checks.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);

/// When the claims last checked, and the pending rows at the last analysis.
#[derive(Debug)]
pub(crate) struct ClaimStatistics {
    started: Instant,
    /// Milliseconds after `started` of the last check (0: none yet).
    checked_ms: AtomicU64,
    /// Pending rows when `outbox` was last analysed here (-1: not yet).
    analysed_pending: AtomicI64,
}

impl Default for ClaimStatistics {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            checked_ms: AtomicU64::new(0),
            analysed_pending: AtomicI64::new(-1),
        }
    }
}

/// Whether `pending` rows are far enough from `analysed` (the count at the last analysis,
/// -1 for none) for the plan of a claim to change: a thousand rows more or fewer, and half
/// again or half as many.
pub(crate) fn moved_far(analysed: i64, pending: i64) -> bool {
    if analysed < 0 {
        return pending >= 1_000;
    }
    (pending - analysed).abs() >= 1_000 && (pending >= analysed * 3 / 2 || pending * 2 <= analysed)
}

impl ClaimStatistics {
    /// Checks the backlog if the last check is [`CHECK_EVERY`] ago (one caller at a time),
    /// and analyses `outbox` if it moved far; whether it analysed.
    pub(crate) async fn refresh(&self, pool: &PgPool) -> Result<bool, StoreError> {
        let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.checked_ms.load(Ordering::Relaxed);
        let every = u64::try_from(CHECK_EVERY.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now_ms.saturating_sub(last) < every {
            return Ok(false);
        }
        // One caller checks; the others go on with their claims.
        if self
            .checked_ms
            .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return Ok(false);
        }
        let (pending,): (i64,) = sqlx::query_as(
            "SELECT COALESCE(SUM(rows), 0)::bigint FROM outbox_counts WHERE state = 'pending'",
        )
        .fetch_one(pool)
        .await
        .map_err(unavailable)?;
        if !moved_far(self.analysed_pending.load(Ordering::Relaxed), pending) {
            return Ok(false);
        }
        sqlx::query("ANALYZE outbox")
            .execute(pool)
            .await
            .map_err(unavailable)?;
        self.analysed_pending.store(pending, Ordering::Relaxed);
        tracing::info!(
            pending,
            "store: analysed the outbox for the delivery claims"
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::super::delivery;
    use super::super::write_path_plans::{plan_with, Scratch};
    use super::{moved_far, ClaimStatistics};

    /// The plan PostgreSQL makes for a claim of 16 rows for two recipients, now.
    async fn claim_plan(conn: &mut sqlx::PgConnection) -> String {
        let args = "'worker-1', now() + interval '1 minute', now(), \
                    '{wijkteam-noord,werkplein}', 16";
        plan_with(conn, &delivery::lease_due_sql(), args).await
    }

    /// A store analysed while nothing was pending, then a backlog of 3,000 deliveries: the
    /// claims analyse it, and a claim then looks for a candidate's older rows by its referral.
    #[tokio::test]
    async fn a_backlog_that_formed_after_the_last_analysis_is_analysed_before_a_claim() {
        let (scratch, mut conn) = Scratch::migrated("claims").await;
        sqlx::raw_sql(
            "ANALYZE outbox; \
             INSERT INTO referrals (id, sender, source_ref, status, request, received_at, \
              updated_at) \
             SELECT gen_random_uuid(), 'woonstad-noord', 'REF-' || i, 'routed', '{}', now(), \
              now() FROM generate_series(1, 3000) AS i; \
             INSERT INTO outbox (referral_id, recipient, kind, created_at, state, attempts, \
              next_attempt_at) \
             SELECT id, CASE WHEN random() < 0.5 THEN 'wijkteam-noord' ELSE 'werkplein' END, \
              'referral', now(), 'pending', 0, now() FROM referrals",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let pool = sqlx::PgPool::connect(&scratch.url()).await.unwrap();
        let statistics = ClaimStatistics::default();
        assert!(statistics.refresh(&pool).await.unwrap(), "analysed");
        assert!(
            !statistics.refresh(&pool).await.unwrap(),
            "not checked again so soon"
        );
        let plan = claim_plan(&mut conn).await;
        assert!(
            plan.contains("outbox_pending_by_referral"),
            "a claim should look for older rows by the candidate's referral:\n{plan}"
        );
        pool.close().await;
        conn.close().await.unwrap();
    }

    #[test]
    fn a_backlog_that_grew_or_shrank_far_is_analysed_again() {
        assert!(!moved_far(-1, 999));
        assert!(moved_far(-1, 1_000));
        assert!(!moved_far(0, 999));
        assert!(moved_far(0, 1_000));
        assert!(!moved_far(10_000, 14_999), "half again not reached");
        assert!(moved_far(10_000, 15_000));
        assert!(moved_far(10_000, 5_000));
        assert!(!moved_far(10_000, 5_001));
        assert!(!moved_far(1_500, 700), "fewer than a thousand rows apart");
        assert!(moved_far(2_000, 0));
    }
}
