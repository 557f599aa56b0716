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
            let mut due = pace_on_a_thread(start, rate, deadline, budget);
            let mut tasks = Vec::new();
            while let Some(intended) = due.recv().await {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    break;
                };
                let send = Arc::clone(&send);
                tasks.push(tokio::spawn(async move {
                    send(intended).await;
                    drop(slot);
                }));
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

/// The open loop's clock: a thread of its own that sends submission `i`'s intended moment,
/// `start + i / rate`, when it comes (until `deadline` or `budget` submissions). Tokio's timer
/// wakes a task on the next tick of a millisecond at the earliest, so a submission paced by it
/// left up to a millisecond after its moment, and the wait was counted in its latency (the
/// intake p99 target is 10 ms); a thread's sleep ends within tens of microseconds of its
/// moment. A moment is sent even when it is already past (the submissions behind a stall
/// are all due at once, as the open loop wants).
fn pace_on_a_thread(
    start: Instant,
    rate: f64,
    deadline: Instant,
    budget: u64,
) -> tokio::sync::mpsc::UnboundedReceiver<Instant> {
    let (due, moments) = tokio::sync::mpsc::unbounded_channel();
    let clock = move || {
        let mut i: u64 = 0;
        while i < budget {
            let intended = start + Duration::from_secs_f64(i as f64 / rate);
            if intended >= deadline {
                break;
            }
            let now = Instant::now();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            if due.send(intended).is_err() {
                break;
            }
            i += 1;
        }
    };
    if let Err(e) = std::thread::Builder::new()
        .name("open-loop-clock".to_owned())
        .spawn(clock)
    {
        // Without its thread the loop sends nothing; said rather than hidden.
        tracing::error!(error = %e, "the open loop's clock could not start");
    }
    moments
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

    #[tokio::test]
    async fn the_open_loop_sends_each_submission_at_its_moment_never_before() {
        let start = Instant::now();
        let moments = Arc::new(std::sync::Mutex::new(Vec::new()));
        let m = Arc::clone(&moments);
        run(
            Pace {
                load: Load::Open { rate: 200.0 },
                duration: Duration::from_millis(250),
                count: None,
                max_in_flight: 8,
            },
            move |intended| {
                let m = Arc::clone(&m);
                async move {
                    m.lock().unwrap().push((intended, Instant::now()));
                }
            },
        )
        .await;
        let moments = moments.lock().unwrap();
        // 250 ms at 200 a second: moments 0, 5, ..., 245 ms after the loop's start, in order
        // (the loop starts after `start`; how long after depends on the machine).
        assert_eq!(moments.len(), 50);
        let first = moments[0].0;
        assert!(first >= start);
        for (i, (intended, sent)) in moments.iter().enumerate() {
            let due = Duration::from_millis(5 * i as u64);
            let offset = intended.duration_since(first);
            assert!(
                offset.abs_diff(due) < Duration::from_micros(1),
                "submission {i} due at {offset:?}"
            );
            // Never sent before its moment (how late depends on the machine: not asserted).
            assert!(sent >= intended, "submission {i} sent early");
        }
    }
}
