//! The referral's state machine. Each transition is timestamped and attributed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::{ExternalRef, ModelError, PartnerId, ReasonText, ReferralId};

/// Where a referral is.
///
/// ```text
/// received → routed → delivered → accepted | declined
/// delivered → in_progress            (a receiver that starts at once accepts implicitly)
/// accepted → in_progress → completed
/// any open state → cancelled
/// received | routed → consent_missing | undeliverable     (terminal for the delivery,
/// consent_missing | undeliverable → routed | cancelled      recoverable by operations)
/// delivered → consent_missing        (consent revoked after delivery)
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ReferralStatus {
    Received,
    Routed,
    Delivered,
    Accepted,
    Declined,
    InProgress,
    Completed,
    Cancelled,
    ConsentMissing,
    Undeliverable,
}

impl ReferralStatus {
    pub const ALL: [ReferralStatus; 10] = [
        Self::Received,
        Self::Routed,
        Self::Delivered,
        Self::Accepted,
        Self::Declined,
        Self::InProgress,
        Self::Completed,
        Self::Cancelled,
        Self::ConsentMissing,
        Self::Undeliverable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Routed => "routed",
            Self::Delivered => "delivered",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::ConsentMissing => "consent_missing",
            Self::Undeliverable => "undeliverable",
        }
    }

    /// Open states can still be cancelled.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Self::Received | Self::Routed | Self::Delivered | Self::Accepted | Self::InProgress
        )
    }

    /// Final states have no way out.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Declined | Self::Completed | Self::Cancelled)
    }

    /// Whether `self → next` is a legal transition.
    pub fn can_become(self, next: ReferralStatus) -> bool {
        use ReferralStatus::*;
        if next == Cancelled {
            return self.is_open() || matches!(self, ConsentMissing | Undeliverable);
        }
        matches!(
            (self, next),
            (Received, Routed)
                | (Received | Routed, ConsentMissing | Undeliverable)
                | (Routed, Delivered)
                | (Delivered, Accepted | Declined | InProgress | ConsentMissing)
                | (Accepted, InProgress)
                | (InProgress, Completed)
                | (ConsentMissing | Undeliverable, Routed)
        )
    }

    /// The statuses a partner may report in a status update (the rest are the gateway's).
    pub fn is_reportable(self) -> bool {
        matches!(
            self,
            Self::Accepted | Self::Declined | Self::InProgress | Self::Completed | Self::Cancelled
        )
    }
}

impl fmt::Display for ReferralStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for ReferralStatus {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::parse_code(s, Self::ALL, Self::code)
    }
}

/// Who made a transition.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Actor {
    /// The gateway itself (routing, delivery, consent checks).
    Gateway,
    /// A partner, through a status update.
    Partner(PartnerId),
    /// An operations user, by their account name.
    Operator(String),
}

/// One step in a referral's history.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Transition {
    pub to: ReferralStatus,
    pub at: DateTime<Utc>,
    pub by: Actor,
    pub reason: Option<ReasonText>,
    /// A code from the reporting standard (an iWmo reason code, a FHIR statusReason code).
    pub reason_code: Option<String>,
}

/// An illegal transition.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Error)]
#[error("a referral that is {from} cannot become {to}")]
pub struct TransitionError {
    pub from: ReferralStatus,
    pub to: ReferralStatus,
}

/// A referral's status history: never empty, always starting at `received`, and only ever
/// extended by legal transitions.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatusHistory(Vec<Transition>);

impl StatusHistory {
    /// A new history: received at `at`, from `by`.
    pub fn received(at: DateTime<Utc>, by: Actor) -> Self {
        Self(vec![Transition {
            to: ReferralStatus::Received,
            at,
            by,
            reason: None,
            reason_code: None,
        }])
    }

    /// Rebuilds a history from stored transitions, checking every step.
    pub fn from_transitions(transitions: Vec<Transition>) -> Result<Self, TransitionError> {
        let mut iter = transitions.into_iter();
        let first = iter.next().ok_or(TransitionError {
            from: ReferralStatus::Received,
            to: ReferralStatus::Received,
        })?;
        if first.to != ReferralStatus::Received {
            return Err(TransitionError {
                from: ReferralStatus::Received,
                to: first.to,
            });
        }
        let mut history = Self(vec![first]);
        for t in iter {
            history.apply(t)?;
        }
        Ok(history)
    }

    pub fn current(&self) -> ReferralStatus {
        self.0.last().map_or(ReferralStatus::Received, |t| t.to)
    }

    pub fn transitions(&self) -> &[Transition] {
        &self.0
    }

    /// Appends a transition if it is legal from the current status.
    pub fn apply(&mut self, t: Transition) -> Result<(), TransitionError> {
        let from = self.current();
        if !from.can_become(t.to) {
            return Err(TransitionError { from, to: t.to });
        }
        self.0.push(t);
        Ok(())
    }
}

/// How a status update names the referral it is about.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ReferralRef {
    /// The gateway's id, as it was carried in the delivered message.
    Id(ReferralId),
    /// The reporting partner's own reference: the sender's reference when the sender reports
    /// (e.g. a cancellation), resolved by the gateway against the reporting partner.
    External(ExternalRef),
}

/// A partner's report of a transition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StatusUpdate {
    pub referral: ReferralRef,
    /// Always one for which [`ReferralStatus::is_reportable`] holds.
    pub status: ReferralStatus,
    pub at: DateTime<Utc>,
    pub reason: Option<ReasonText>,
    pub reason_code: Option<String>,
}

impl StatusUpdate {
    pub fn new(
        referral: ReferralRef,
        status: ReferralStatus,
        at: DateTime<Utc>,
    ) -> Result<Self, ModelError> {
        if !status.is_reportable() {
            return Err(ModelError::UnknownCode {
                code: status.code().to_owned(),
                expected: "accepted, declined, in_progress, completed, cancelled".to_owned(),
            });
        }
        Ok(Self {
            referral,
            status,
            at,
            reason: None,
            reason_code: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;

    fn step(to: ReferralStatus) -> Transition {
        Transition {
            to,
            at: DateTime::UNIX_EPOCH,
            by: Actor::Gateway,
            reason: None,
            reason_code: None,
        }
    }

    #[test]
    fn the_happy_path_is_legal() {
        let mut h = StatusHistory::received(DateTime::UNIX_EPOCH, Actor::Gateway);
        for s in [Routed, Delivered, Accepted, InProgress, Completed] {
            h.apply(step(s)).unwrap();
        }
        assert_eq!(h.current(), Completed);
        assert_eq!(h.transitions().len(), 6);
    }

    #[test]
    fn illegal_transitions_are_errors_and_change_nothing() {
        let mut h = StatusHistory::received(DateTime::UNIX_EPOCH, Actor::Gateway);
        assert_eq!(
            h.apply(step(Accepted)),
            Err(TransitionError {
                from: Received,
                to: Accepted
            })
        );
        assert_eq!(h.transitions().len(), 1);
        for (from, to) in [
            (Completed, InProgress),
            (Declined, Accepted),
            (Cancelled, Routed),
            (Accepted, Declined),
            (Routed, Accepted),
            (InProgress, Accepted),
        ] {
            assert!(!from.can_become(to), "{from} -> {to}");
        }
    }

    #[test]
    fn cancelled_from_any_open_state_and_from_the_dead_ends() {
        for s in ReferralStatus::ALL {
            let expect = s.is_open() || matches!(s, ConsentMissing | Undeliverable);
            assert_eq!(s.can_become(Cancelled), expect, "{s}");
        }
        for s in [Declined, Completed, Cancelled] {
            assert!(
                ReferralStatus::ALL.iter().all(|n| !s.can_become(*n)),
                "{s} is final"
            );
        }
    }

    #[test]
    fn dead_ends_are_recoverable_by_routing_again() {
        assert!(ConsentMissing.can_become(Routed));
        assert!(Undeliverable.can_become(Routed));
        assert!(!ConsentMissing.can_become(Delivered));
    }

    #[test]
    fn stored_histories_are_checked_when_rebuilt() {
        assert!(StatusHistory::from_transitions(vec![step(Received), step(Routed)]).is_ok());
        assert!(StatusHistory::from_transitions(vec![step(Routed)]).is_err());
        assert!(StatusHistory::from_transitions(vec![]).is_err());
        assert!(StatusHistory::from_transitions(vec![step(Received), step(Completed)]).is_err());
    }

    #[test]
    fn partners_report_only_their_statuses() {
        let r = ReferralRef::External(ExternalRef::parse("x").unwrap());
        assert!(StatusUpdate::new(r.clone(), Accepted, DateTime::UNIX_EPOCH).is_ok());
        assert!(StatusUpdate::new(r, Routed, DateTime::UNIX_EPOCH).is_err());
    }
}
