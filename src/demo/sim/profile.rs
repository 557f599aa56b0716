//! How each simulated partner answers: how soon it decides, how often it declines and why,
//! how long the work takes, whether it is down now and then. Delays are seconds, drawn anew
//! for every referral, so the dashboard shows a spread of times per sector.

use std::ops::RangeInclusive;
use std::time::Duration;

use rand::RngExt;

use super::outage::Outage;

/// One partner's way of answering.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Seconds from receiving a referral to deciding on it.
    pub decide: RangeInclusive<f64>,
    /// The share it accepts; the rest it declines.
    pub accept_share: f64,
    /// Why it declines: (reason code in its own standard, reason text).
    pub decline: &'static [(&'static str, &'static str)],
    /// Seconds from accepting to starting.
    pub start: RangeInclusive<f64>,
    /// Seconds from starting to completing.
    pub complete: RangeInclusive<f64>,
    /// Seconds its system takes to answer a delivery.
    pub latency: RangeInclusive<f64>,
    /// The share of new referrals its intake refuses (422: they become dead letters; a retry
    /// by operations goes through).
    pub refuse_share: f64,
    /// When it is down (it answers 503 then).
    pub outage: Option<Outage>,
    /// How often it looks in its mailbox (mailbox partners).
    pub poll: Duration,
}

impl Profile {
    /// The profile of partner `id` in the demo network.
    pub fn of(id: &str) -> Profile {
        let base = Profile {
            decide: 2.0..=8.0,
            accept_share: 0.85,
            decline: &[("no-capacity", "Geen plek binnen de termijn")],
            start: 2.0..=6.0,
            complete: 4.0..=15.0,
            latency: 0.02..=0.25,
            refuse_share: 0.0,
            outage: None,
            poll: Duration::from_secs(3),
        };
        match id {
            // The municipality's desk: iWmo 319 reason codes.
            "wijkteam-centrum" => Profile {
                decide: 3.0..=10.0,
                accept_share: 0.8,
                decline: &[
                    ("1", "Inwoner valt buiten de doelgroep"),
                    ("3", "Er is al een voorziening"),
                ],
                start: 2.0..=8.0,
                complete: 5.0..=15.0,
                ..base
            },
            // The GP answers quickly.
            "huisarts-de-linde" => Profile {
                decide: 1.0..=4.0,
                accept_share: 0.9,
                decline: &[("not-indicated", "Geen medische indicatie")],
                start: 1.0..=3.0,
                complete: 2.0..=8.0,
                ..base
            },
            // District nursing: down 15 s of every minute, and its planning system refuses a
            // referral now and then.
            "thuiszorg-oost" => Profile {
                decline: &[("no-capacity", "Geen capaciteit in deze wijk")],
                refuse_share: 0.05,
                outage: Some(Outage::DEMO),
                ..base
            },
            "woonstad-noord" => Profile {
                decline: &[("AL-BEKEND", "Regeling loopt al via de verhuurder")],
                ..base
            },
            "werkplein" => Profile {
                accept_share: 0.75,
                decline: &[("GEEN-DOELGROEP", "Geen uitkering of re-integratietraject")],
                ..base
            },
            _ => base,
        }
    }

    /// A delay drawn from `range` (seconds).
    pub fn delay(range: &RangeInclusive<f64>) -> Duration {
        let (low, high) = (range.start().max(0.0), range.end().max(0.0));
        let secs = if high > low {
            rand::rng().random_range(low..=high)
        } else {
            low
        };
        Duration::from_secs_f64(secs)
    }

    /// Whether this referral is accepted (drawn).
    pub fn accepts(&self) -> bool {
        rand::random_bool(self.accept_share.clamp(0.0, 1.0))
    }

    /// Whether its intake refuses this delivery (drawn).
    pub fn refuses(&self) -> bool {
        rand::random_bool(self.refuse_share.clamp(0.0, 1.0))
    }

    /// A reason to decline (drawn).
    pub fn decline_reason(&self) -> Option<(&'static str, &'static str)> {
        if self.decline.is_empty() {
            return None;
        }
        self.decline
            .get(rand::random_range(0..self.decline.len()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_partner_is_down_now_and_then_and_delays_stay_in_range() {
        let down: Vec<&str> = [
            "woonstad-noord",
            "wijkteam-centrum",
            "huisarts-de-linde",
            "thuiszorg-oost",
            "werkplein",
        ]
        .into_iter()
        .filter(|p| Profile::of(p).outage.is_some())
        .collect();
        assert_eq!(down, ["thuiszorg-oost"]);
        let p = Profile::of("huisarts-de-linde");
        for _ in 0..100 {
            let d = Profile::delay(&p.decide).as_secs_f64();
            assert!((1.0..=4.0).contains(&d), "{d}");
        }
        assert_eq!(Profile::delay(&(3.0..=3.0)), Duration::from_secs(3));
        assert!(Profile::of("wijkteam-centrum")
            .decline
            .iter()
            .all(|(code, _)| code.parse::<u8>().is_ok()));
    }
}
