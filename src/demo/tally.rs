//! What the demo's partners did and saw, counted as it happens: the progress line printed
//! while the demo runs and the summary at the end. Counts only, never a resident's data.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The demo's counters. Shared by the generator and the simulated partners.
#[derive(Default, Debug)]
pub struct Tally {
    /// Referrals the gateway accepted from the generator (202).
    pub submitted: AtomicU64,
    /// Of those, refused at once for lack of consent (`consent_missing`).
    pub consent_refused: AtomicU64,
    /// Messages the gateway did not accept (should stay 0; a sign of a bug in the demo).
    pub rejected: AtomicU64,
    /// Referrals a simulated partner received (pushed or from its mailbox), each once.
    pub delivered: AtomicU64,
    /// Status updates the partners reported and the gateway applied.
    pub accepted: AtomicU64,
    pub declined: AtomicU64,
    pub started: AtomicU64,
    pub completed: AtomicU64,
    /// Status notices the senders received back in their own format.
    pub notices: AtomicU64,
    /// Deliveries a partner turned away while it was down (503).
    pub turned_away: AtomicU64,
    /// Deliveries a partner's intake refused (422): these become dead letters.
    pub refused_by_partner: AtomicU64,
    /// Mailbox items the mailbox partner acknowledged.
    pub acked: AtomicU64,
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub submitted: u64,
    pub consent_refused: u64,
    pub rejected: u64,
    pub delivered: u64,
    pub accepted: u64,
    pub declined: u64,
    pub started: u64,
    pub completed: u64,
    pub notices: u64,
    pub turned_away: u64,
    pub refused_by_partner: u64,
    pub acked: u64,
}

impl Tally {
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            submitted: get(&self.submitted),
            consent_refused: get(&self.consent_refused),
            rejected: get(&self.rejected),
            delivered: get(&self.delivered),
            accepted: get(&self.accepted),
            declined: get(&self.declined),
            started: get(&self.started),
            completed: get(&self.completed),
            notices: get(&self.notices),
            turned_away: get(&self.turned_away),
            refused_by_partner: get(&self.refused_by_partner),
            acked: get(&self.acked),
        }
    }
}

impl fmt::Display for Snapshot {
    /// One line: `submitted 12 · delivered 9 · accepted 6 · ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "submitted {} · delivered {} · accepted {} · declined {} · in progress {} · completed {} · refused (no consent) {} · partner down {}",
            self.submitted,
            self.delivered,
            self.accepted,
            self.declined,
            self.started,
            self.completed,
            self.consent_refused,
            self.turned_away,
        )
    }
}

/// How a demo run went.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub elapsed: Duration,
    pub counts: Snapshot,
    /// Dead letters in the store when the demo stopped.
    pub dead_letters: usize,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        writeln!(f, "demo stopped after {} s", self.elapsed.as_secs())?;
        writeln!(f, "  submitted        {}", c.submitted)?;
        writeln!(f, "  delivered        {}", c.delivered)?;
        writeln!(f, "  accepted         {}", c.accepted)?;
        writeln!(f, "  declined         {}", c.declined)?;
        writeln!(f, "  in progress      {}", c.started)?;
        writeln!(f, "  completed        {}", c.completed)?;
        writeln!(f, "  refused          {} (no consent)", c.consent_refused)?;
        writeln!(
            f,
            "  dead letters     {} (partner turned {} deliveries away while down, refused {})",
            self.dead_letters, c.turned_away, c.refused_by_partner
        )?;
        write!(
            f,
            "  status notices   {} back to the senders; {} mailbox items acknowledged",
            c.notices, c.acked
        )?;
        if c.rejected > 0 {
            write!(
                f,
                "\n  not accepted     {} messages (see the log on stderr)",
                c.rejected
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_count() {
        let tally = Tally::default();
        for _ in 0..3 {
            bump(&tally.submitted);
        }
        bump(&tally.completed);
        let summary = Summary {
            elapsed: Duration::from_secs(30),
            counts: tally.snapshot(),
            dead_letters: 2,
        };
        let text = summary.to_string();
        assert!(text.contains("submitted        3"), "{text}");
        assert!(text.contains("completed        1"), "{text}");
        assert!(text.contains("dead letters     2"), "{text}");
        assert!(!text.contains("not accepted"), "{text}");
        assert!(tally
            .snapshot()
            .to_string()
            .starts_with("submitted 3 · delivered 0"));
    }
}
