//! Instance identity and liveness: several gateway instances may share one store (PostgreSQL).
//! Each registers with the store under its `[delivery] worker_id` (the name on its leases),
//! with its version and start time, and refreshes a heartbeat every [`HEARTBEAT_EVERY`];
//! `/readyz` lists the instances seen within [`LIVE_WITHIN`]. A clean stop removes the
//! registration; an instance that was killed simply stops being seen, and its leases expire
//! and are claimed by the others.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{InstanceInfo, Store};

/// How often an instance refreshes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// An instance is listed as live when its last heartbeat is at most this old (a few missed
/// heartbeats are tolerated).
pub const LIVE_WITHIN: Duration = Duration::from_secs(20);

/// The running heartbeat.
pub struct Heartbeat {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    store: Arc<dyn Store>,
    me: InstanceInfo,
}

impl Heartbeat {
    /// Registers `id` (first heartbeat before it returns, so the instance is listed at once)
    /// and keeps the heartbeat going.
    pub async fn start(store: Arc<dyn Store>, id: String) -> Self {
        let me = InstanceInfo {
            id,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            host: crate::config::host_name().unwrap_or_default(),
            started_at: crate::store::now(),
        };
        beat(store.as_ref(), &me, true).await;
        let (stop, mut stop_rx) = watch::channel(false);
        let task = {
            let store = store.clone();
            let me = me.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(HEARTBEAT_EVERY);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks.tick().await;
                loop {
                    tokio::select! {
                        _ = ticks.tick() => beat(store.as_ref(), &me, false).await,
                        _ = stop_rx.changed() => return,
                    }
                }
            })
        };
        Self {
            stop,
            task,
            store,
            me,
        }
    }

    /// This instance as registered.
    pub fn instance(&self) -> &InstanceInfo {
        &self.me
    }

    /// Stops the heartbeat and removes the registration.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        if let Err(e) = self.store.retire_instance(&self.me).await {
            tracing::warn!(error = %e, "could not remove this instance's registration");
        }
    }
}

async fn beat(store: &dyn Store, me: &InstanceInfo, first: bool) {
    match store.heartbeat(me).await {
        Ok(Some(other)) => {
            let age = crate::store::now() - other.last_seen;
            let live = chrono::Duration::from_std(LIVE_WITHIN).is_ok_and(|l| age <= l);
            if live && !first {
                // Another start took over this id since our last heartbeat.
                tracing::error!(instance = %me.id, "another gateway instance registers with this worker id: give each instance its own [delivery] worker_id");
            } else if live {
                tracing::warn!(instance = %me.id, "this worker id was in use until moments ago (a restart, or another instance with the same [delivery] worker_id)");
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "instance heartbeat failed"),
    }
}
