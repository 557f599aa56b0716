//! The store writers' queue of jobs, in two lanes. Under a load the writer cannot keep up
//! with, first come first served let new intakes queue ahead of the writes that finish
//! referrals already taken (a delivery's outcome, a claim of the next ones to deliver, the
//! receiver's answer): the backlog of unfinished referrals grew, and the loop back to the
//! sender closed for only a fraction of what was taken. So the writer takes the jobs waiting
//! in the first lane (everything that is not a new intake) before those in the intake lane,
//! and new intakes wait, or are shed by the API's cap on requests in flight, while what was
//! taken is carried on.
//!
//! Not all of a batch, though: while intakes wait, a quarter of every batch's places
//! ([`intake_share`]) is kept for them. A backlog in the first lane can be long (the queue of
//! a partner that was down for an hour, delivered when it is back, with the receivers'
//! answers), and without that share no intake would be taken until it had drained: each
//! would wait until its request timed out. A job that closes the writer travels in the
//! intake lane, behind every intake sent before it; the first lane's jobs still waiting when
//! the writer takes it are done before the writer stops ([`JobQueue::close`]).
//!
//! Both lanes are bounded: a full lane makes its senders wait (the writer's back-pressure).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Which lane a job goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Taken first: work on referrals already stored, and everything else that is not a new
    /// intake.
    First,
    /// New referrals (and the writer's close), taken when the first lane is empty.
    Intake,
}

/// A job that knows its lane.
pub(crate) trait Laned {
    fn lane(&self) -> Lane;
}

/// The places of a batch of at most `max_batch` kept for intakes while any wait: a quarter,
/// at least one.
pub(crate) fn intake_share(max_batch: usize) -> usize {
    (max_batch / 4).max(1)
}

/// Makes a queue whose lanes each hold up to `capacity` jobs.
pub(crate) fn bounded<J>(capacity: usize) -> (JobSender<J>, JobQueue<J>) {
    let (first_tx, first_rx) = flume::bounded(capacity);
    let (intake_tx, intake_rx) = flume::bounded(capacity);
    let closed = Arc::new(AtomicBool::new(false));
    (
        JobSender {
            first: first_tx,
            intake: intake_tx,
            left: [first_rx.clone(), intake_rx.clone()],
            closed: Arc::clone(&closed),
        },
        JobQueue {
            first: first_rx,
            intake: intake_rx,
            closed,
        },
    )
}

/// The sending side, held by the store handle.
pub(crate) struct JobSender<J> {
    first: flume::Sender<J>,
    intake: flume::Sender<J>,
    /// Both lanes' receiving ends: to drop what a sender queued after the writer stopped
    /// (a channel keeps its queued messages while any sender lives, receivers or not).
    left: [flume::Receiver<J>; 2],
    /// Set by the writer when it stops ([`JobQueue::close`]).
    closed: Arc<AtomicBool>,
}

impl<J> std::fmt::Debug for JobSender<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobSender")
            .field("first_queued", &self.first.len())
            .field("intakes_queued", &self.intake.len())
            .finish()
    }
}

impl<J: Laned> JobSender<J> {
    /// Queues `job` in its lane, waiting while the lane is full. `Err` gives the job back when
    /// the writer has stopped. A job queued while the writer stopped, after its last look at
    /// the lanes, is dropped, and its reply with it (so its caller hears that the store is
    /// closed rather than wait for ever).
    pub async fn send(&self, job: J) -> Result<(), J> {
        if self.is_closed() {
            return Err(job);
        }
        self.queue_checked(job).await
    }

    /// The rest of [`Self::send`], once it found the writer running: the writer may stop
    /// before the job is in its lane.
    async fn queue_checked(&self, job: J) -> Result<(), J> {
        let lane = match job.lane() {
            Lane::First => &self.first,
            Lane::Intake => &self.intake,
        };
        lane.send_async(job).await.map_err(|e| e.into_inner())?;
        // The writer sets `closed` before its last look at the lanes: a job it did not see is
        // still queued when `closed` reads true here.
        if self.is_closed() {
            for lane in &self.left {
                taken(lane).for_each(drop);
            }
        }
        Ok(())
    }

    /// Whether the writer has stopped.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// How many jobs wait in each lane now.
    pub fn queued(&self) -> WriterQueue {
        WriterQueue {
            first: self.first.len(),
            intakes: self.intake.len(),
        }
    }
}

/// Every job in `lane`, taken one by one. Unlike `Receiver::drain`, each take lets a sender
/// waiting for room in a full lane put its job in, so no sender is left waiting; the senders
/// waiting are finite once the queue is closed, which a sender checks before it waits.
fn taken<J>(lane: &flume::Receiver<J>) -> impl Iterator<Item = J> + '_ {
    std::iter::from_fn(|| lane.try_recv().ok())
}

/// The jobs waiting for the store's writer at one moment ([`crate::store::Store::writer_queue`]),
/// by lane. Jobs the writer has taken (its batch) are not counted. Intakes waiting while the
/// first lane is empty mean the writer is the limit of intake; a first lane that stays full
/// means it cannot keep up with finishing what it took.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WriterQueue {
    /// Work on referrals already stored (deliveries, status changes, revocations, audit
    /// events, consents), taken first.
    pub first: usize,
    /// New intakes, taken when the first lane is empty.
    pub intakes: usize,
}

/// The writer's side.
pub(crate) struct JobQueue<J> {
    first: flume::Receiver<J>,
    intake: flume::Receiver<J>,
    closed: Arc<AtomicBool>,
}

impl<J> Drop for JobQueue<J> {
    /// A writer that ends without closing (its thread ended) refuses what was queued: each
    /// job's reply is dropped with it.
    fn drop(&mut self) {
        drop(self.close(1));
    }
}

impl<J> JobQueue<J> {
    /// Whether no job is waiting in either lane.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty() && self.intake.is_empty()
    }

    /// A job waiting, the first lane's before the intake lane's; `None` when none is waiting.
    pub fn try_take(&self) -> Option<J> {
        self.first
            .try_recv()
            .or_else(|_| self.intake.try_recv())
            .ok()
    }

    /// The next job waiting for `batch`, which holds at most `max_batch`: the first lane's,
    /// unless the places left are the ones kept for intakes ([`intake_share`]) and an intake
    /// waits; `None` when none is waiting.
    pub fn try_take_for(&self, batch: &[J], max_batch: usize) -> Option<J>
    where
        J: Laned,
    {
        let room = max_batch.saturating_sub(batch.len());
        let intakes = batch.iter().filter(|j| j.lane() == Lane::Intake).count();
        let kept = intake_share(max_batch).saturating_sub(intakes);
        if room > kept {
            self.try_take()
        } else {
            self.intake
                .try_recv()
                .or_else(|_| self.first.try_recv())
                .ok()
        }
    }

    /// Whether every sender is gone and nothing is left to take.
    fn finished(&self) -> bool {
        self.first.is_disconnected() && self.intake.is_disconnected() && self.is_empty()
    }

    /// The next job, waiting for one on this thread; `None` once every sender is gone and
    /// both lanes are empty.
    pub fn take_blocking(&self) -> Option<J> {
        self.take_blocking_until(None)
    }

    /// As [`Self::take_blocking`], waiting no later than `deadline` (`None` when it passed).
    pub fn take_blocking_until(&self, deadline: Option<Instant>) -> Option<J> {
        loop {
            if let Some(job) = self.try_take() {
                return Some(job);
            }
            if self.finished() {
                return None;
            }
            // Only lanes that can still be sent to are waited on: a lane whose sender is gone
            // ends every wait on it at once, and while the store handle is dropped (one lane's
            // sender before the other's) the loop would spin. A lane's disconnection during
            // the wait ends it; the loop then takes what is left.
            let mut selector = flume::Selector::new();
            let mut lanes = 0;
            for lane in [&self.first, &self.intake] {
                if !lane.is_disconnected() {
                    selector = selector.recv(lane, |r| r.ok());
                    lanes += 1;
                }
            }
            if lanes == 0 {
                // Both gone, a job still queued: the loop takes it.
                continue;
            }
            let waited = match deadline {
                Some(deadline) => match selector.wait_deadline(deadline) {
                    Ok(job) => job,
                    Err(flume::select::SelectError::Timeout) => return self.try_take(),
                },
                None => selector.wait(),
            };
            if let Some(job) = waited {
                return Some(job);
            }
        }
    }

    /// The next job, waiting for one without blocking the thread; `None` once every sender is
    /// gone and both lanes are empty.
    pub async fn take(&self) -> Option<J> {
        loop {
            if let Some(job) = self.try_take() {
                return Some(job);
            }
            if self.finished() {
                return None;
            }
            // Taking from a lane is cancel-safe: the losing wait leaves its job in the lane.
            // A lane whose sender is gone is not waited on, as in `take_blocking_until`: its
            // wait would end at once, and this loop would never give the thread back.
            let waited = tokio::select! {
                biased;
                r = self.first.recv_async(), if !self.first.is_disconnected() => r.ok(),
                r = self.intake.recv_async(), if !self.intake.is_disconnected() => r.ok(),
                else => None,
            };
            if let Some(job) = waited {
                return Some(job);
            }
        }
    }

    /// Stops the queue: every later send is refused. Answers what is waiting now: the first
    /// lane's jobs in batches of at most `max_batch`, to be done before the writer stops (the
    /// close may have been taken ahead of some of them, in a place kept for intakes, and they
    /// finish referrals already stored: a delivery's outcome left unwritten would be
    /// delivered again), and the intakes queued behind the close, to be refused.
    pub fn close(&self, max_batch: usize) -> (Vec<Vec<J>>, Vec<J>) {
        self.closed.store(true, Ordering::SeqCst);
        let mut batches = Vec::new();
        let mut batch = Vec::new();
        for job in taken(&self.first) {
            batch.push(job);
            if batch.len() >= max_batch.max(1) {
                batches.push(std::mem::take(&mut batch));
            }
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        (batches, taken(&self.intake).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum TestJob {
        Intake(u32),
        Finish(u32),
    }

    impl Laned for TestJob {
        fn lane(&self) -> Lane {
            match self {
                TestJob::Intake(_) => Lane::Intake,
                TestJob::Finish(_) => Lane::First,
            }
        }
    }

    fn take_all(queue: &JobQueue<TestJob>) -> Vec<TestJob> {
        std::iter::from_fn(|| queue.try_take()).collect()
    }

    /// A queue whose first lane's sender is gone and whose intake lane's is still held, as
    /// while the store handle is dropped, one field after the other.
    fn first_lane_gone() -> (flume::Sender<TestJob>, JobQueue<TestJob>) {
        let (tx, queue) = bounded::<TestJob>(4);
        let JobSender { first, intake, .. } = tx;
        drop(first);
        (intake, queue)
    }

    /// Runs `wait` on a thread of its own and gives its answer, or `None` if it had none
    /// within 10 s (a wait that spins never ends).
    fn answer_within<T: Send + 'static>(wait: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(wait());
        });
        rx.recv_timeout(Duration::from_secs(10)).ok()
    }

    #[test]
    fn a_blocking_wait_with_one_lane_gone_waits_on_the_other_until_its_deadline() {
        let (intake, queue) = first_lane_gone();
        let waited = answer_within(move || {
            let timed_out =
                queue.take_blocking_until(Some(Instant::now() + Duration::from_millis(50)));
            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                intake.send(TestJob::Intake(7)).expect("queued");
            });
            let taken = queue.take_blocking();
            sender.join().expect("sender");
            (timed_out, taken)
        });
        assert_eq!(waited, Some((None, Some(TestJob::Intake(7)))));
    }

    #[test]
    fn an_async_wait_with_one_lane_gone_yields_while_it_waits_on_the_other() {
        let (intake, queue) = first_lane_gone();
        let waited = answer_within(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let timed_out = tokio::time::timeout(Duration::from_millis(50), queue.take())
                    .await
                    .is_err();
                let sender = tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    intake.send_async(TestJob::Intake(8)).await.expect("queued");
                });
                let taken = queue.take().await;
                sender.await.expect("sender");
                (timed_out, taken)
            })
        });
        assert_eq!(waited, Some((true, Some(TestJob::Intake(8)))));
    }

    #[tokio::test]
    async fn jobs_of_the_first_lane_are_taken_before_intakes_queued_earlier() {
        let (tx, queue) = bounded(8);
        for job in [
            TestJob::Intake(1),
            TestJob::Intake(2),
            TestJob::Finish(1),
            TestJob::Intake(3),
            TestJob::Finish(2),
        ] {
            tx.send(job).await.expect("queued");
        }
        assert_eq!(
            take_all(&queue),
            vec![
                TestJob::Finish(1),
                TestJob::Finish(2),
                TestJob::Intake(1),
                TestJob::Intake(2),
                TestJob::Intake(3),
            ],
            "each lane in its order, the first lane before the intakes"
        );
        assert!(queue.is_empty());
    }

    /// Takes a batch as the writers do: the first job, then what waits, up to `max_batch`.
    fn batch_of(queue: &JobQueue<TestJob>, max_batch: usize) -> Vec<TestJob> {
        let mut batch: Vec<TestJob> = queue.try_take().into_iter().collect();
        while batch.len() < max_batch {
            match queue.try_take_for(&batch, max_batch) {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        batch
    }

    #[tokio::test]
    async fn a_quarter_of_a_full_batch_is_kept_for_waiting_intakes() {
        let (tx, queue) = bounded(32);
        for n in 0..10 {
            tx.send(TestJob::Intake(n)).await.expect("queued");
        }
        for n in 0..10 {
            tx.send(TestJob::Finish(n)).await.expect("queued");
        }
        assert_eq!(
            batch_of(&queue, 8),
            vec![
                TestJob::Finish(0),
                TestJob::Finish(1),
                TestJob::Finish(2),
                TestJob::Finish(3),
                TestJob::Finish(4),
                TestJob::Finish(5),
                TestJob::Intake(0),
                TestJob::Intake(1),
            ],
            "six of the first lane, then the two places kept for intakes"
        );
        // Four of the first lane are left: they go first, the rest of the batch is intakes.
        let next = batch_of(&queue, 8);
        assert_eq!(
            next.iter()
                .filter(|j| matches!(j, TestJob::Finish(_)))
                .count(),
            4
        );
        assert_eq!(
            next[4..],
            [
                TestJob::Intake(2),
                TestJob::Intake(3),
                TestJob::Intake(4),
                TestJob::Intake(5)
            ]
        );
        // Only intakes left: they fill the batch.
        assert_eq!(batch_of(&queue, 8).len(), 4);
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn with_no_intake_waiting_the_first_lane_fills_the_whole_batch() {
        let (tx, queue) = bounded(32);
        for n in 0..10 {
            tx.send(TestJob::Finish(n)).await.expect("queued");
        }
        let batch = batch_of(&queue, 8);
        assert_eq!(batch.len(), 8);
        assert!(batch.iter().all(|j| matches!(j, TestJob::Finish(_))));
        // A batch of one keeps its one place for an intake only when the first job was one.
        tx.send(TestJob::Intake(1)).await.expect("queued");
        assert_eq!(batch_of(&queue, 1), vec![TestJob::Finish(8)]);
        assert_eq!(intake_share(1), 1);
        assert_eq!(intake_share(64), 16);
    }

    #[tokio::test]
    async fn a_waiting_writer_is_woken_by_a_job_in_either_lane() {
        let (tx, queue) = bounded(8);
        let queue = std::sync::Arc::new(queue);
        for job in [TestJob::Intake(7), TestJob::Finish(8)] {
            let waiting = {
                let queue = std::sync::Arc::clone(&queue);
                std::thread::spawn(move || queue.take_blocking())
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send(job).await.expect("queued");
            let taken = waiting.join().expect("the waiting thread");
            assert!(taken.is_some(), "the blocking wait returned the job");
        }
        for job in [TestJob::Intake(9), TestJob::Finish(10)] {
            let waiting = {
                let queue = std::sync::Arc::clone(&queue);
                tokio::spawn(async move { queue.take().await })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            let expected = format!("{job:?}");
            tx.send(job).await.expect("queued");
            let taken = waiting.await.expect("the waiting task");
            assert_eq!(format!("{taken:?}"), format!("Some({expected})"));
        }
    }

    #[test]
    fn a_wait_with_a_deadline_ends_empty_when_nothing_comes() {
        let (_tx, queue) = bounded::<TestJob>(8);
        let deadline = Instant::now() + Duration::from_millis(30);
        assert_eq!(queue.take_blocking_until(Some(deadline)), None);
        assert!(Instant::now() >= deadline, "it waited until the deadline");
    }

    #[tokio::test]
    async fn when_the_senders_are_gone_what_was_queued_is_still_taken_then_none() {
        let (tx, queue) = bounded(8);
        tx.send(TestJob::Intake(1)).await.expect("queued");
        tx.send(TestJob::Finish(2)).await.expect("queued");
        drop(tx);
        assert_eq!(queue.take().await, Some(TestJob::Finish(2)));
        assert_eq!(queue.take_blocking(), Some(TestJob::Intake(1)));
        assert_eq!(queue.take().await, None);
        assert_eq!(queue.take_blocking(), None);
    }

    #[tokio::test]
    async fn at_close_the_first_lane_is_handed_over_in_batches_and_intakes_refused() {
        let (tx, queue) = bounded(16);
        for n in 0..5 {
            tx.send(TestJob::Finish(n)).await.expect("queued");
        }
        tx.send(TestJob::Intake(9)).await.expect("queued");
        let (finish, refuse) = queue.close(2);
        assert_eq!(
            finish,
            vec![
                vec![TestJob::Finish(0), TestJob::Finish(1)],
                vec![TestJob::Finish(2), TestJob::Finish(3)],
                vec![TestJob::Finish(4)],
            ]
        );
        assert_eq!(refuse, vec![TestJob::Intake(9)]);
        assert_eq!(
            tx.send(TestJob::Finish(7)).await,
            Err(TestJob::Finish(7)),
            "a send after the close is refused"
        );
    }

    #[tokio::test]
    async fn a_sender_hears_when_the_writer_has_stopped() {
        let (tx, queue) = bounded(8);
        assert!(!tx.is_closed());
        tx.send(TestJob::Finish(1)).await.expect("queued");
        assert_eq!(queue.close(8), (vec![vec![TestJob::Finish(1)]], vec![]));
        assert!(tx.is_closed());
        assert_eq!(
            tx.send(TestJob::Intake(2)).await,
            Err(TestJob::Intake(2)),
            "the job is given back"
        );
        drop(queue);
        assert!(tx.is_closed());
    }

    #[tokio::test]
    async fn a_sender_waiting_for_room_at_close_gets_its_job_refused_not_kept() {
        let (tx, queue) = bounded(1);
        let tx = std::sync::Arc::new(tx);
        tx.send(TestJob::Intake(1)).await.expect("queued");
        // The lane is full: this send passes the check for a closed writer, then waits.
        let late = {
            let tx = std::sync::Arc::clone(&tx);
            tokio::spawn(async move { tx.send(TestJob::Intake(2)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!late.is_finished(), "the late send waits for room");
        // The writer's last look takes both: the queued job, and the waiting one it let in.
        let (_, refused) = queue.close(8);
        assert_eq!(refused, vec![TestJob::Intake(1), TestJob::Intake(2)]);
        assert!(late.await.expect("the sending task").is_ok());
        assert_eq!(
            tx.queued(),
            WriterQueue::default(),
            "nothing left in the lanes"
        );
    }

    #[tokio::test]
    async fn a_job_queued_after_the_writers_last_look_is_dropped_not_kept() {
        let (tx, queue) = bounded(8);
        assert!(!tx.is_closed(), "the send's check finds the writer running");
        // The writer stops between the send's check and its job reaching the lane.
        assert_eq!(queue.close(8), (vec![], vec![]));
        assert!(
            tx.queue_checked(TestJob::Intake(1)).await.is_ok(),
            "the lane still takes it"
        );
        assert_eq!(
            tx.queued(),
            WriterQueue::default(),
            "dropped (its reply with it), not left in the lane for ever"
        );
        drop(queue);
        assert_eq!(tx.queued(), WriterQueue::default());
    }

    #[tokio::test]
    async fn a_full_lane_makes_its_sender_wait_but_not_the_other_lanes() {
        let (tx, queue) = bounded(1);
        tx.send(TestJob::Intake(1)).await.expect("queued");
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(TestJob::Intake(2)));
        assert!(
            blocked.await.is_err(),
            "the full intake lane holds its sender"
        );
        tokio::time::timeout(Duration::from_secs(5), tx.send(TestJob::Finish(3)))
            .await
            .expect("the first lane still has room")
            .expect("queued");
        assert_eq!(
            take_all(&queue),
            vec![TestJob::Finish(3), TestJob::Intake(1)]
        );
    }
}
