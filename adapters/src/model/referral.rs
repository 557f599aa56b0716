//! The referral: who sent it, for whom, about whom, and what is needed.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use super::{
    CategorySet, DataCategory, ExternalRef, ModelError, Need, Note, PartnerId, ReferralId,
    Resident, StatusHistory,
};

/// The four kinds of organisation in the neighbourhood.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Sector {
    Housing,
    Welfare,
    Care,
    Employment,
}

impl Sector {
    pub const ALL: [Sector; 4] = [Self::Housing, Self::Welfare, Self::Care, Self::Employment];

    pub fn code(self) -> &'static str {
        match self {
            Self::Housing => "housing",
            Self::Welfare => "welfare",
            Self::Care => "care",
            Self::Employment => "employment",
        }
    }
}

impl fmt::Display for Sector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Sector {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::parse_code(s, Self::ALL, Self::code)
    }
}

/// Where a referral came from: the sending partner and that partner's own reference.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Source {
    pub partner: PartnerId,
    pub reference: ExternalRef,
}

/// Where a referral should go: a named partner, or a sector for the router to resolve.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Target {
    Partner(PartnerId),
    Sector(Sector),
}

/// How soon the resident needs help (the FHIR request priority scale).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Urgency {
    Routine,
    Urgent,
    Asap,
    /// A crisis: act at once (FHIR `stat`, a crisis signal in early-warning exchanges).
    Crisis,
}

impl Urgency {
    pub const ALL: [Urgency; 4] = [Self::Routine, Self::Urgent, Self::Asap, Self::Crisis];

    pub fn code(self) -> &'static str {
        match self {
            Self::Routine => "routine",
            Self::Urgent => "urgent",
            Self::Asap => "asap",
            Self::Crisis => "crisis",
        }
    }
}

impl FromStr for Urgency {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::parse_code(s, Self::ALL, Self::code)
    }
}

/// An amount of money in euro cents, never negative.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MoneyCents(i64);

impl MoneyCents {
    pub fn new(cents: i64) -> Result<Self, ModelError> {
        if cents >= 0 {
            Ok(Self(cents))
        } else {
            Err(ModelError::NegativeAmount)
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The resident's financial situation as a signal reports it (data category `finance`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FinancialSituation {
    /// The amount in arrears.
    pub arrears: MoneyCents,
    /// When the arrears arose (VNG `ontstaansdatum`).
    pub arrears_since: Option<NaiveDate>,
    /// When the creditor signalled them (VNG `signaaldatum`).
    pub signalled_on: Option<NaiveDate>,
}

/// A referral as a partner's message states it: everything but the gateway's own bookkeeping
/// (its id and status history).
///
/// Field categories: `source`, `target`, `urgency` and `requested_at` are the envelope, not
/// data about the resident, and always travel. `resident.identity` is `identity`,
/// `resident.contact` is `contact`, each need's domain and severity is `needs` or `health`
/// (by [`crate::model::LifeDomain::category`]), each need's note and the referral's `note`
/// are `notes`, and `finance` is `finance`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReferralRequest {
    pub source: Source,
    pub target: Target,
    pub urgency: Urgency,
    pub requested_at: DateTime<Utc>,
    pub resident: Resident,
    pub needs: Vec<Need>,
    pub note: Option<Note>,
    pub finance: Option<FinancialSituation>,
}

impl ReferralRequest {
    /// Checks the rules that span fields: at least one need, no life domain twice.
    /// Decoders call this before handing a referral out.
    pub fn check_needs(needs: &[Need]) -> Result<(), ModelError> {
        if needs.is_empty() {
            return Err(ModelError::NoNeeds);
        }
        for (i, n) in needs.iter().enumerate() {
            if needs[..i].iter().any(|m| m.domain == n.domain) {
                return Err(ModelError::DuplicateDomain);
            }
        }
        Ok(())
    }

    /// The data categories this referral holds data in.
    pub fn categories_present(&self) -> CategorySet {
        let mut set = CategorySet::empty();
        if self.resident.identity.is_some() {
            set.insert(DataCategory::Identity);
        }
        if self
            .resident
            .contact
            .as_ref()
            .is_some_and(|c| !c.is_empty())
        {
            set.insert(DataCategory::Contact);
        }
        for need in &self.needs {
            set.insert(need.domain.category());
            if need.note.is_some() {
                set.insert(DataCategory::Notes);
            }
        }
        if self.note.is_some() {
            set.insert(DataCategory::Notes);
        }
        if self.finance.is_some() {
            set.insert(DataCategory::Finance);
        }
        set
    }

    /// A copy holding only data in the `allowed` categories, and the categories whose data
    /// was removed. A health need's note goes with the need when health is not allowed.
    pub fn minimise(&self, allowed: CategorySet) -> (ReferralRequest, CategorySet) {
        let removed = self.categories_present().difference(allowed);
        let keep = |c: DataCategory| allowed.contains(c);
        let needs = self
            .needs
            .iter()
            .filter(|n| keep(n.domain.category()))
            .map(|n| Need {
                domain: n.domain,
                severity: n.severity,
                note: n.note.clone().filter(|_| keep(DataCategory::Notes)),
            })
            .collect();
        let minimised = ReferralRequest {
            source: self.source.clone(),
            target: self.target.clone(),
            urgency: self.urgency,
            requested_at: self.requested_at,
            resident: Resident {
                identity: self
                    .resident
                    .identity
                    .clone()
                    .filter(|_| keep(DataCategory::Identity)),
                contact: self
                    .resident
                    .contact
                    .clone()
                    .filter(|_| keep(DataCategory::Contact)),
            },
            needs,
            note: self.note.clone().filter(|_| keep(DataCategory::Notes)),
            finance: self.finance.clone().filter(|_| keep(DataCategory::Finance)),
        };
        (minimised, removed)
    }
}

/// A referral in the gateway: the request, the gateway's id for it and its status history.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Referral {
    pub id: ReferralId,
    pub request: ReferralRequest,
    pub history: StatusHistory,
}

impl Referral {
    pub fn status(&self) -> super::ReferralStatus {
        self.history.current()
    }
}
