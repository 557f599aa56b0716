//! The retention job: every `[retention] interval_secs`, erases the payloads of referrals that
//! are done and whose last status change is older than `payload_days`
//! ([`Store::erase_payloads`], in batches until none are left), then gives the space back
//! ([`Store::reclaim_space`]). Logs counts only. Started beside the server, stopped on
//! shutdown (a batch in flight finishes: each is one transaction).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::RetentionSettings;
use crate::store::{Store, StoreError};

/// Referrals erased per transaction.
pub const BATCH: usize = 500;

/// What one run did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RetentionRun {
    /// Payloads erased.
    pub erased: u64,
    /// Free pages given back to the file system.
    pub pages_reclaimed: u64,
}

/// The cut-off for `payload_days` at `now`: referrals last changed before it are erased.
pub fn cutoff(now: DateTime<Utc>, payload_days: u32) -> DateTime<Utc> {
    now - chrono::Duration::days(i64::from(payload_days))
}

/// One run: erases in batches of [`BATCH`] until none are left, then reclaims the space.
pub async fn run_once(
    store: &dyn Store,
    payload_days: u32,
    now: DateTime<Utc>,
) -> Result<RetentionRun, StoreError> {
    let older_than = cutoff(now, payload_days);
    let mut erased = 0;
    loop {
        let n = store.erase_payloads(older_than, now, BATCH).await?;
        erased += n;
        if n < BATCH as u64 {
            break;
        }
    }
    let pages_reclaimed = store.reclaim_space().await?;
    Ok(RetentionRun {
        erased,
        pages_reclaimed,
    })
}

/// The running job.
pub struct RetentionWorker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RetentionWorker {
    /// Starts the job: a first run at once, then one every `settings.interval`.
    pub fn spawn(store: Arc<dyn Store>, settings: RetentionSettings) -> Self {
        let (stop, mut stop_rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(settings.interval.max(Duration::from_secs(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop_rx.changed() => return,
                }
                let run = run_once(store.as_ref(), settings.payload_days, crate::store::now());
                // A run in flight finishes its current batch on stop; the next is not started.
                tokio::select! {
                    result = run => match result {
                        Ok(r) if r.erased > 0 || r.pages_reclaimed > 0 => tracing::info!(
                            erased = r.erased,
                            pages_reclaimed = r.pages_reclaimed,
                            "retention: payloads erased"
                        ),
                        Ok(_) => tracing::debug!("retention: nothing to erase"),
                        Err(e) => tracing::warn!(error = %e, "retention run failed; retried at the next interval"),
                    },
                    _ = stop_rx.changed() => return,
                }
            }
        });
        Self { stop, task }
    }

    /// Stops the job and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
