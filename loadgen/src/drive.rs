//! How submissions are paced. Open loop: submission `i` is due at `start + i / rate`, sent
//! then (or as soon as a slot is free) and timed from that intended moment, so a gateway that
//! stalls is charged for the submissions that queued behind the stall (no coordinated
//! omission). Closed loop: `connections` workers each send the next as soon as the last was
//! answered, for the most the gateway can take.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

/// The offered load.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Load {
    Open { rate: f64 },
    Closed { connections: usize },
}

/// How long and how much.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub load: Load,
    pub duration: Duration,
    /// Stop after this many submissions (whichever comes first).
    pub count: Option<u64>,
    /// Open loop: the most submissions in flight (the rest wait, and their wait is counted).
    pub max_in_flight: usize,
}

/// Runs `send(intended)` as paced; returns when the last submission was answered, with the
/// time the sending took (from the start to the last answer).
pub async fn run<F, Fut>(pace: Pace, send: F) -> Duration
where
    F: Fn(Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let send = Arc::new(send);
    let start = Instant::now();
    let deadline = start + pace.duration;
    let budget = pace.count.unwrap_or(u64::MAX);
    match pace.load {
        Load::Open { rate } => {
            let rate = rate.max(0.001);
            let slots = Arc::new(Semaphore::new(pace.max_in_flight.max(1)));
            let mut tasks = Vec::new();
            let mut i: u64 = 0;
            while i < budget {
                let intended = start + Duration::from_secs_f64(i as f64 / rate);
                if intended >= deadline {
                    break;
                }
                tokio::time::sleep_until(intended.into()).await;
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let send = Arc::clone(&send);
                tasks.push(tokio::spawn(async move {
                    send(intended).await;
                    drop(slot);
                }));
                i += 1;
                if tasks.len() >= 4096 {
                    tasks.retain(|t| !t.is_finished());
                }
            }
            for t in tasks {
                let _ = t.await;
            }
        }
        Load::Closed { connections } => {
            let issued = Arc::new(AtomicU64::new(0));
            let mut workers = Vec::new();
            for _ in 0..connections.max(1) {
                let send = Arc::clone(&send);
                let issued = Arc::clone(&issued);
                workers.push(tokio::spawn(async move {
                    while Instant::now() < deadline
                        && issued.fetch_add(1, Ordering::Relaxed) < budget
                    {
                        send(Instant::now()).await;
                    }
                }));
            }
            for w in workers {
                let _ = w.await;
            }
        }
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_count_limits_both_loops() {
        for load in [
            Load::Open { rate: 10_000.0 },
            Load::Closed { connections: 3 },
        ] {
            let sent = Arc::new(AtomicU64::new(0));
            let s = Arc::clone(&sent);
            run(
                Pace {
                    load,
                    duration: Duration::from_secs(60),
                    count: Some(25),
                    max_in_flight: 8,
                },
                move |_| {
                    let s = Arc::clone(&s);
                    async move {
                        s.fetch_add(1, Ordering::Relaxed);
                    }
                },
            )
            .await;
            assert_eq!(sent.load(Ordering::Relaxed), 25, "{load:?}");
        }
    }
}
