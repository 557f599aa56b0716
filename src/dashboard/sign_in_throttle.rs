//! Throttling failed sign-ins to the dashboard, so staff tokens cannot be guessed at speed:
//! each client address has an allowance of failed sign-ins ([`CLIENT_BURST`], one more every
//! [`CLIENT_REFILL`]) and all addresses together a ceiling ([`GLOBAL_BURST`], one more every
//! [`GLOBAL_REFILL`]) against guessing from many addresses. Both are governor rate limiters
//! in this process (a restart forgets them; several instances each keep their own).
//!
//! A failed sign-in takes one from both. The failure that finds an allowance used up is
//! answered 429 and blocks its address (or, for the ceiling, everyone) until governor says
//! the next one may come: until then a sign-in is refused with 429 and a `Retry-After`
//! before its token is even looked at, so a right guess does not get in either. A
//! successful sign-in takes nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, QuantaInstant, Reference};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Failed sign-ins one address may make in a row ...
pub const CLIENT_BURST: u32 = 5;
/// ... and how often it gets one more.
pub const CLIENT_REFILL: Duration = Duration::from_secs(60);
/// Failed sign-ins all addresses together may make in a row ...
pub const GLOBAL_BURST: u32 = 50;
/// ... and how often they get one more.
pub const GLOBAL_REFILL: Duration = Duration::from_secs(1);

/// Past this many addresses, the limiter forgets those whose allowance is whole again.
const FORGET_ABOVE: usize = 4096;

/// Whose allowance is used up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// This client address's.
    Client(IpAddr),
    /// The ceiling for all addresses together.
    Everyone,
}

impl Scope {
    /// For the log: `client` or `everyone`.
    pub fn code(&self) -> &'static str {
        match self {
            Scope::Client(_) => "client",
            Scope::Everyone => "everyone",
        }
    }
}

/// A sign-in refused for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub scope: Scope,
    /// How long until a sign-in may come again (at least a second).
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds for `Retry-After`, rounded up.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }
}

/// The allowances of failed sign-ins.
pub struct SignInThrottle {
    clients: DefaultKeyedRateLimiter<IpAddr>,
    everyone: DefaultDirectRateLimiter,
    /// Until when a scope is refused without a look at the token.
    blocked: Mutex<HashMap<Scope, QuantaInstant>>,
    clock: DefaultClock,
}

impl Default for SignInThrottle {
    fn default() -> Self {
        Self::new(CLIENT_BURST, CLIENT_REFILL, GLOBAL_BURST, GLOBAL_REFILL)
    }
}

fn quota(burst: u32, refill: Duration) -> Quota {
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(refill)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl SignInThrottle {
    /// Allowances of `client_burst` failures an address (one more every `client_refill`) and
    /// `global_burst` for everyone (one more every `global_refill`).
    pub fn new(
        client_burst: u32,
        client_refill: Duration,
        global_burst: u32,
        global_refill: Duration,
    ) -> Self {
        // One clock for both limiters and the blocks, so their instants compare.
        let clients: DefaultKeyedRateLimiter<IpAddr> =
            RateLimiter::keyed(quota(client_burst, client_refill));
        let clock = clients.clock().clone();
        Self {
            everyone: RateLimiter::direct_with_clock(
                quota(global_burst, global_refill),
                clock.clone(),
            ),
            clients,
            blocked: Mutex::new(HashMap::new()),
            clock,
        }
    }

    /// Before the token is looked at: refused when `client`'s allowance, or everyone's, is
    /// used up.
    pub fn check(&self, client: IpAddr) -> Result<(), Throttled> {
        let now = self.clock.now();
        let Ok(mut blocked) = self.blocked.lock() else {
            return Ok(());
        };
        blocked.retain(|_, until| *until > now);
        for scope in [Scope::Everyone, Scope::Client(client)] {
            if let Some(until) = blocked.get(&scope) {
                return Err(Throttled {
                    scope,
                    retry_after: until.duration_since(now).into(),
                }
                .at_least_a_second());
            }
        }
        Ok(())
    }

    /// A sign-in from `client` failed: takes one from its allowance and everyone's. Refused
    /// (and the scope blocked) when one was used up.
    pub fn failed(&self, client: IpAddr) -> Result<(), Throttled> {
        if self.clients.len() > FORGET_ABOVE {
            self.clients.retain_recent();
        }
        let now = self.clock.now();
        let refused = match self.clients.check_key(&client) {
            Err(not_until) => Some((Scope::Client(client), not_until.earliest_possible())),
            Ok(()) => None,
        };
        let refused = match (refused, self.everyone.check()) {
            (_, Err(not_until)) => Some((Scope::Everyone, not_until.earliest_possible())),
            (r, Ok(())) => r,
        };
        let Some((scope, until)) = refused else {
            return Ok(());
        };
        if let Ok(mut blocked) = self.blocked.lock() {
            blocked.insert(scope, until);
        }
        Err(Throttled {
            scope,
            retry_after: until.duration_since(now).into(),
        }
        .at_least_a_second())
    }
}

impl Throttled {
    fn at_least_a_second(mut self) -> Self {
        self.retry_after = self.retry_after.max(Duration::from_secs(1));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_blocked_after_its_failures_and_others_are_not() {
        let t = SignInThrottle::new(3, Duration::from_secs(3600), 100, Duration::from_secs(1));
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            assert_eq!(t.check(a), Ok(()));
            assert_eq!(t.failed(a), Ok(()));
        }
        let refused = t.failed(a).unwrap_err();
        assert_eq!(refused.scope, Scope::Client(a));
        assert!(refused.retry_after_secs() > 3000, "{refused:?}");
        // Blocked before the token is looked at.
        let again = t.check(a).unwrap_err();
        assert_eq!(again.scope, Scope::Client(a));
        assert!(again.retry_after_secs() >= 1);
        // Another address is not.
        assert_eq!(t.check(ip("192.0.2.2")), Ok(()));
        assert_eq!(t.failed(ip("192.0.2.2")), Ok(()));
    }

    #[test]
    fn the_ceiling_blocks_everyone() {
        let t = SignInThrottle::new(2, Duration::from_secs(3600), 4, Duration::from_secs(3600));
        let mut refused = None;
        for i in 0..10u8 {
            let addr = IpAddr::from([198, 51, 100, i]);
            if let Err(e) = t.failed(addr) {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused.map(|r| r.scope), Some(Scope::Everyone));
        let fresh = t.check(ip("203.0.113.1")).unwrap_err();
        assert_eq!(fresh.scope, Scope::Everyone);
    }

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let t = Throttled {
            scope: Scope::Everyone,
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(t.retry_after_secs(), 2);
        assert_eq!(
            Throttled {
                retry_after: Duration::from_secs(3),
                ..t
            }
            .retry_after_secs(),
            3
        );
    }
}
