//! One stop signal shared by the demo's tasks: the generator, the simulated partners' answers
//! and the mailbox poller end their waits early when the demo stops.

use std::time::Duration;

use tokio::sync::watch;

/// Raises the stop signal.
pub struct StopSwitch(watch::Sender<bool>);

/// Listens for the stop signal. Cheap to clone.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

/// A new, unraised stop signal.
pub fn signal() -> (StopSwitch, Stop) {
    let (tx, rx) = watch::channel(false);
    (StopSwitch(tx), Stop(rx))
}

impl StopSwitch {
    /// Tells every listener to stop.
    pub fn raise(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    /// Whether the demo is stopping.
    pub fn is_raised(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the demo stops.
    pub async fn raised(&self) {
        let mut rx = self.0.clone();
        // An error means the switch is gone, which also means stop.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps for `d`; false when the demo stopped first.
    pub async fn sleep(&self, d: Duration) -> bool {
        if self.is_raised() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => !self.is_raised(),
            () = self.raised() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raised_signal_ends_sleeps_at_once() {
        let (switch, stop) = signal();
        assert!(stop.sleep(Duration::from_millis(1)).await);
        let sleeper = tokio::spawn({
            let stop = stop.clone();
            async move { stop.sleep(Duration::from_secs(3600)).await }
        });
        switch.raise();
        assert!(!sleeper.await.unwrap());
        assert!(stop.is_raised());
        assert!(!stop.sleep(Duration::from_secs(3600)).await);
    }
}
