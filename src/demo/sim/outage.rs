//! When a simulated partner is down: a fixed schedule, so the demo shows retries every
//! minute and a person watching the dashboard knows when to look.

use std::time::Duration;

/// Down for `length`, first after `first`, then again every `every`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    pub first: Duration,
    pub every: Duration,
    pub length: Duration,
}

impl Outage {
    /// The demo's outage: down 15 s of every minute, the first time 10 s after the start.
    pub const DEMO: Outage = Outage {
        first: Duration::from_secs(10),
        every: Duration::from_secs(60),
        length: Duration::from_secs(15),
    };

    /// Whether the partner is down `elapsed` after the demo started.
    pub fn is_down(&self, elapsed: Duration) -> bool {
        let Some(since) = elapsed.checked_sub(self.first) else {
            return false;
        };
        let every = self.every.as_millis().max(1);
        since.as_millis() % every < self.length.as_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_part_of_every_minute() {
        let o = Outage::DEMO;
        let at = Duration::from_secs;
        assert!(!o.is_down(at(0)));
        assert!(!o.is_down(at(9)));
        assert!(o.is_down(at(10)));
        assert!(o.is_down(at(24)));
        assert!(!o.is_down(at(25)));
        assert!(!o.is_down(at(69)));
        assert!(o.is_down(at(70)));
        assert!(o.is_down(at(600 + 10 + 5)));
        let down = (0..600).filter(|s| o.is_down(at(*s))).count();
        assert_eq!(down, 10 * 15, "15 s of each of the ten minutes");
    }
}
