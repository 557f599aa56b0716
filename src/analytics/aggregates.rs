//! What the store counts for the analytics: flows between sectors, times to acceptance and
//! completion, consent refusals and delivery outcomes, over a window of time. No value here
//! names a resident: residents are only ever counted (distinct, inside the store's query).
//!
//! Every aggregate is about the referrals *received* in the window (a cohort): a referral
//! received in March and accepted in April counts in March's times.

use std::fmt;

use chrono::{DateTime, Utc};
use wijkbrug_adapters::model::{PartnerId, Sector};

/// A half-open window of time, `[from, to)`, in UTC.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimeWindow {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl TimeWindow {
    /// The window `[from, to)`; `None` unless `from` is before `to`.
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Self> {
        (from < to).then_some(Self { from, to })
    }

    /// Whether `t` lies in the window.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from <= t && t < self.to
    }
}

/// The sector a partner belongs to, as the configuration says; `Unknown` for a partner the
/// configuration no longer lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum SectorKey {
    Known(Sector),
    Unknown,
}

impl SectorKey {
    /// The stored code (`housing`, ...), or `unknown`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Known(s) => s.code(),
            Self::Unknown => "unknown",
        }
    }

    /// Reads [`SectorKey::code`] back; anything else is `Unknown`.
    pub fn from_code(code: &str) -> Self {
        code.parse().map_or(Self::Unknown, Self::Known)
    }
}

impl fmt::Display for SectorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Which partner belongs to which sector (from the configuration's partner files). The store
/// keeps partner ids only; the aggregates group by sector through this map.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PartnerSectors {
    list: Vec<(PartnerId, Sector)>,
}

impl PartnerSectors {
    /// The map; a partner named twice keeps its first sector.
    pub fn new(pairs: impl IntoIterator<Item = (PartnerId, Sector)>) -> Self {
        let mut list: Vec<(PartnerId, Sector)> = Vec::new();
        for (p, s) in pairs {
            if !list.iter().any(|(q, _)| *q == p) {
                list.push((p, s));
            }
        }
        Self { list }
    }

    /// Every partner and its sector, in the order given.
    pub fn pairs(&self) -> &[(PartnerId, Sector)] {
        &self.list
    }

    /// The sector of `partner`.
    pub fn sector_of(&self, partner: &str) -> SectorKey {
        self.list
            .iter()
            .find(|(p, _)| p.as_str() == partner)
            .map_or(SectorKey::Unknown, |(_, s)| SectorKey::Known(*s))
    }
}

impl From<&crate::config::Partners> for PartnerSectors {
    /// The configured partners' sectors (the running gateway's map).
    fn from(partners: &crate::config::Partners) -> Self {
        Self::new(partners.list.iter().map(|p| (p.id.clone(), p.sector)))
    }
}

/// Referrals from partners of one sector routed to partners of another (or the same) sector.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SectorFlow {
    /// The sending partner's sector.
    pub from: SectorKey,
    /// The receiving partner's sector.
    pub to: SectorKey,
    pub referrals: u64,
    /// Distinct residents among them (counted by the audit log's keyed pseudonym inside the
    /// store; a referral without the resident's identity counts no resident).
    pub residents: u64,
}

/// The step of a referral's life a time is measured to, from its receipt.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Stage {
    /// The receiving partner accepted it (the first `accepted` transition).
    Acceptance,
    /// The receiving partner completed it (the first `completed` transition).
    Completion,
}

impl Stage {
    pub const ALL: [Stage; 2] = [Stage::Acceptance, Stage::Completion];

    /// The status whose first transition ends the time.
    pub fn status_code(self) -> &'static str {
        match self {
            Self::Acceptance => "accepted",
            Self::Completion => "completed",
        }
    }

    /// `acceptance` or `completion`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Acceptance => "acceptance",
            Self::Completion => "completion",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The times from receipt to one stage, for the referrals received in a window and routed to
/// partners of one sector that reached that stage (up to the moment of the query).
#[derive(Clone, PartialEq, Debug)]
pub struct StageDurations {
    /// The receiving partner's sector.
    pub sector: SectorKey,
    pub stage: Stage,
    /// Distinct residents among these referrals.
    pub residents: u64,
    /// One time per referral, in seconds, ascending; rounded to the second under an hour, to
    /// the minute under a day, to ten minutes under a week and to the hour beyond (what a
    /// median or a chart needs).
    pub seconds: Vec<f64>,
}

impl StageDurations {
    /// How many referrals reached the stage.
    pub fn referrals(&self) -> u64 {
        self.seconds.len() as u64
    }
}

/// Referrals of one sender that were refused for want of consent (that ever became
/// `consent_missing`: at intake, or when a consent was revoked before acceptance).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConsentRefusals {
    pub sender: PartnerId,
    pub sector: SectorKey,
    pub referrals: u64,
    /// Distinct residents among them.
    pub residents: u64,
}

/// What became of the deliveries (outbox rows, referrals and status notices) queued for one
/// partner in a window, as they stand now.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartnerDeliveries {
    pub partner: PartnerId,
    pub sector: SectorKey,
    /// Deliveries queued.
    pub deliveries: u64,
    pub delivered: u64,
    /// Deliveries that failed at least once (delivered later or not).
    pub with_failures: u64,
    /// Deliveries that became a dead letter (retried or discarded since, or not).
    pub dead_letters: u64,
    /// Dead letters still waiting for operations.
    pub dead_now: u64,
    /// Still queued (pending).
    pub pending: u64,
}

/// The referrals received in a window.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PeriodTotals {
    pub referrals: u64,
    /// Distinct residents among them.
    pub residents: u64,
    /// Referrals with a receiving partner (the sum of the [`SectorFlow`]s).
    pub routed: u64,
    /// Distinct residents among the routed ones.
    pub routed_residents: u64,
    /// Referrals ever refused for want of consent (the sum of the [`ConsentRefusals`]).
    pub consent_refused: u64,
    /// Distinct residents among the refused ones.
    pub refused_residents: u64,
    /// Routed referrals that were accepted (the sum over sectors of [`StageDurations`]).
    pub accepted: u64,
    pub accepted_residents: u64,
    /// Routed referrals that were completed.
    pub completed: u64,
    pub completed_residents: u64,
}

impl PeriodTotals {
    /// The referrals (and distinct residents) that reached `stage`.
    pub fn reached(&self, stage: Stage) -> (u64, u64) {
        match stage {
            Stage::Acceptance => (self.accepted, self.accepted_residents),
            Stage::Completion => (self.completed, self.completed_residents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_window_is_half_open_and_must_not_be_empty() {
        let a = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let b = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let w = TimeWindow::new(a, b).unwrap();
        assert!(w.contains(a));
        assert!(!w.contains(b));
        assert!(TimeWindow::new(b, a).is_none());
        assert!(TimeWindow::new(a, a).is_none());
    }

    #[test]
    fn unknown_partners_are_of_an_unknown_sector() {
        let map = PartnerSectors::new([
            (PartnerId::parse("woonstad-noord").unwrap(), Sector::Housing),
            (PartnerId::parse("woonstad-noord").unwrap(), Sector::Care),
        ]);
        assert_eq!(
            map.sector_of("woonstad-noord"),
            SectorKey::Known(Sector::Housing)
        );
        assert_eq!(map.sector_of("elders"), SectorKey::Unknown);
        assert_eq!(map.pairs().len(), 1);
        assert_eq!(SectorKey::from_code("care"), SectorKey::Known(Sector::Care));
        assert_eq!(SectorKey::from_code("unknown"), SectorKey::Unknown);
    }
}
