//! A resident's consent (or objection) to share data with a partner or a sector.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{Bsn, CategorySet, DataCategory, ExternalRef, ModelError, PartnerId, Sector};

/// Who a consent lets receive data.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Grantee {
    Partner(PartnerId),
    Sector(Sector),
}

/// What the data may be used for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Purpose {
    /// Referring the resident to the grantee for help.
    Referral,
    /// Coordinating help between partners already involved.
    Coordination,
}

impl Purpose {
    pub fn code(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Coordination => "coordination",
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Purpose {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "referral" => Ok(Self::Referral),
            "coordination" => Ok(Self::Coordination),
            _ => Err(ModelError::UnknownCode {
                code: s.chars().take(40).collect(),
                expected: "referral, coordination".to_owned(),
            }),
        }
    }
}

/// Whether the record permits sharing or records the resident's objection to it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ConsentEffect {
    Permit,
    /// An explicit objection: wins over any permit.
    Deny,
}

/// A consent record.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Consent {
    pub resident: Bsn,
    pub grantee: Grantee,
    pub purpose: Purpose,
    pub effect: ConsentEffect,
    /// Never empty.
    pub categories: CategorySet,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    /// The partner that recorded it on the resident's behalf.
    pub recorded_by: PartnerId,
    /// The evidence, e.g. the id of a signed form.
    pub evidence: Option<ExternalRef>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Consent {
    /// Checks the rules across fields: at least one category, a period that does not end
    /// before it starts.
    pub fn check(&self) -> Result<(), ModelError> {
        if self.categories.is_empty() {
            return Err(ModelError::NoCategories);
        }
        if self.valid_until.is_some_and(|u| u < self.valid_from) {
            return Err(ModelError::PeriodOrder);
        }
        Ok(())
    }

    /// Whether the record is in force at `at` (started, not ended, not revoked).
    pub fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at
            && self.valid_until.is_none_or(|u| at < u)
            && self.revoked_at.is_none_or(|r| at < r)
    }

    /// Health data is shared only under a consent that names the health category.
    pub fn covers_health(&self) -> bool {
        self.categories.contains(DataCategory::Health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn consent() -> Consent {
        Consent {
            resident: Bsn::parse("999900006").unwrap(),
            grantee: Grantee::Sector(Sector::Welfare),
            purpose: Purpose::Referral,
            effect: ConsentEffect::Permit,
            categories: [DataCategory::Identity].into_iter().collect(),
            valid_from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            valid_until: Some(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()),
            recorded_by: PartnerId::parse("wijkteam").unwrap(),
            evidence: None,
            revoked_at: None,
        }
    }

    #[test]
    fn in_force_between_start_and_end_until_revoked() {
        let mut c = consent();
        assert!(c.check().is_ok());
        assert!(!c.in_force_at(Utc.with_ymd_and_hms(2025, 12, 31, 0, 0, 0).unwrap()));
        assert!(c.in_force_at(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()));
        assert!(!c.in_force_at(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()));
        c.revoked_at = Some(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap());
        assert!(!c.in_force_at(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap()));
        assert!(!c.covers_health());
    }

    #[test]
    fn cross_field_rules() {
        let mut c = consent();
        c.valid_until = Some(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(c.check(), Err(ModelError::PeriodOrder));
        let mut c = consent();
        c.categories = CategorySet::empty();
        assert_eq!(c.check(), Err(ModelError::NoCategories));
    }
}
