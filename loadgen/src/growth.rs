//! Growth: the store topped up with seeded referrals before a run
//! ([`wijkbrug::store::Store::seed_benchmark_referrals`], in batches of 100,000), and the
//! operations dashboard's queries timed on it after the run, through the `Store` as the
//! dashboard calls them.

use std::time::{Duration, Instant};

use serde::Serialize;
use wijkbrug::config::Config;
use wijkbrug::store::bench_seed::SeedPlan;
use wijkbrug::store::dashboard::{PageStart, ReferralFilter};
use wijkbrug::store::Store;
use wijkbrug_adapters::model::ReferralStatus;

use crate::measure::{Latency, LatencySummary};

/// Referrals one seeding transaction writes at most.
const SEED_BATCH: u64 = 100_000;

async fn open(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let store = wijkbrug::store::open(
        &config.settings.store,
        config.settings.audit.pseudonym_key.clone(),
    )
    .await?;
    store.migrate().await?;
    Ok(store)
}

/// Seeds the store up to `seed_to` referrals (if given); returns how many it holds.
pub async fn prepare(config: &Config, seed_to: Option<u64>) -> anyhow::Result<u64> {
    let store = open(config).await?;
    let mut count = store.counts().await?.referrals;
    if let Some(target) = seed_to {
        let first_tag: u16 = rand::random_range(0..60_000);
        let started = Instant::now();
        let mut batch = 0u16;
        while count < target {
            let n = (target - count).min(SEED_BATCH);
            let plan = SeedPlan::new(n, first_tag.wrapping_add(batch));
            store
                .seed_benchmark_referrals(&plan, chrono::Utc::now())
                .await?;
            count += n;
            batch = batch.wrapping_add(1);
        }
        if batch > 0 {
            eprintln!(
                "seeded the store up to {count} referrals in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.close().await;
    Ok(count)
}

/// The dashboard's reads, timed.
#[derive(Clone, Debug, Serialize)]
pub struct DashboardTimes {
    pub referrals_in_store: u64,
    /// `ops_overview` (the overview page's figures).
    pub overview: LatencySummary,
    /// `referral_page`, the newest 50, no filter (the list's first page).
    pub list_newest: LatencySummary,
    /// `referral_page`, 50 of one status (completed), from the newest.
    pub list_by_status: LatencySummary,
}

/// Times each read `samples` times (after one untimed warm-up).
pub async fn time_dashboard(config: &Config, samples: usize) -> anyhow::Result<DashboardTimes> {
    let store = open(config).await?;
    let referrals = store.counts().await?.referrals;
    let (overview, newest, by_status) =
        (Latency::default(), Latency::default(), Latency::default());
    let all = ReferralFilter::default();
    let completed = ReferralFilter {
        status: Some(ReferralStatus::Completed),
        ..ReferralFilter::default()
    };
    for i in 0..=samples {
        let now = chrono::Utc::now();
        let t = Instant::now();
        store
            .ops_overview(now - chrono::Duration::hours(24), now)
            .await?;
        let a = t.elapsed();
        let t = Instant::now();
        store.referral_page(&all, PageStart::Newest, 50).await?;
        let b = t.elapsed();
        let t = Instant::now();
        store
            .referral_page(&completed, PageStart::Newest, 50)
            .await?;
        let c = t.elapsed();
        if i > 0 {
            overview.record(a);
            newest.record(b);
            by_status.record(c);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    store.close().await;
    Ok(DashboardTimes {
        referrals_in_store: referrals,
        overview: overview.summary(),
        list_newest: newest.summary(),
        list_by_status: by_status.summary(),
    })
}
