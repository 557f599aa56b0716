//! What a resident needs help with, on the domains of the Self-Sufficiency Matrix.

use std::fmt;
use std::str::FromStr;

use super::{DataCategory, ModelError, Note};

/// The eleven life domains of the Self-Sufficiency Matrix (zelfredzaamheid-matrix).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum LifeDomain {
    Finances,
    WorkAndEducation,
    Housing,
    DomesticRelations,
    MentalHealth,
    PhysicalHealth,
    Addiction,
    DailyLiving,
    SocialNetwork,
    CommunityParticipation,
    Justice,
}

impl LifeDomain {
    pub const ALL: [LifeDomain; 11] = [
        Self::Finances,
        Self::WorkAndEducation,
        Self::Housing,
        Self::DomesticRelations,
        Self::MentalHealth,
        Self::PhysicalHealth,
        Self::Addiction,
        Self::DailyLiving,
        Self::SocialNetwork,
        Self::CommunityParticipation,
        Self::Justice,
    ];

    /// The stable code used in case-json and the code tables.
    pub fn code(self) -> &'static str {
        match self {
            Self::Finances => "finances",
            Self::WorkAndEducation => "work_and_education",
            Self::Housing => "housing",
            Self::DomesticRelations => "domestic_relations",
            Self::MentalHealth => "mental_health",
            Self::PhysicalHealth => "physical_health",
            Self::Addiction => "addiction",
            Self::DailyLiving => "daily_living",
            Self::SocialNetwork => "social_network",
            Self::CommunityParticipation => "community_participation",
            Self::Justice => "justice",
        }
    }

    /// The domain's name in the Dutch matrix.
    pub fn dutch_name(self) -> &'static str {
        match self {
            Self::Finances => "Financiën",
            Self::WorkAndEducation => "Werk & opleiding",
            Self::Housing => "Huisvesting",
            Self::DomesticRelations => "Huiselijke relaties",
            Self::MentalHealth => "Geestelijke gezondheid",
            Self::PhysicalHealth => "Lichamelijke gezondheid",
            Self::Addiction => "Verslaving",
            Self::DailyLiving => "Activiteiten dagelijks leven",
            Self::SocialNetwork => "Sociaal netwerk",
            Self::CommunityParticipation => "Maatschappelijke participatie",
            Self::Justice => "Justitie",
        }
    }

    /// Needs on mental health, physical health and addiction are health data, a special
    /// category under the GDPR; all other needs are in the `needs` category.
    pub fn category(self) -> DataCategory {
        match self {
            Self::MentalHealth | Self::PhysicalHealth | Self::Addiction => DataCategory::Health,
            _ => DataCategory::Needs,
        }
    }
}

impl fmt::Display for LifeDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for LifeDomain {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        super::parse_code(s, Self::ALL, Self::code)
    }
}

/// A score on the Self-Sufficiency Matrix: 1 (acute problems) to 5 (fully self-sufficient).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Severity(u8);

impl Severity {
    pub fn new(n: u8) -> Result<Self, ModelError> {
        if (1..=5).contains(&n) {
            Ok(Self(n))
        } else {
            Err(ModelError::Severity)
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// One thing the resident needs help with.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Need {
    pub domain: LifeDomain,
    pub severity: Severity,
    /// Free text; data category `notes`.
    pub note: Option<Note>,
}

impl Need {
    pub fn new(domain: LifeDomain, severity: Severity) -> Self {
        Self {
            domain,
            severity,
            note: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_have_unique_codes_that_parse_back() {
        for d in LifeDomain::ALL {
            assert_eq!(d.code().parse::<LifeDomain>(), Ok(d));
        }
        let mut codes: Vec<_> = LifeDomain::ALL.iter().map(|d| d.code()).collect();
        codes.dedup();
        assert_eq!(codes.len(), 11);
        assert!(matches!(
            "nope".parse::<LifeDomain>(),
            Err(ModelError::UnknownCode { .. })
        ));
    }

    #[test]
    fn severity_is_one_to_five() {
        assert!(Severity::new(0).is_err());
        assert!(Severity::new(6).is_err());
        assert_eq!(Severity::new(3).unwrap().get(), 3);
    }

    #[test]
    fn only_health_domains_are_health_data() {
        let health: Vec<_> = LifeDomain::ALL
            .into_iter()
            .filter(|d| d.category() == DataCategory::Health)
            .collect();
        assert_eq!(
            health,
            [
                LifeDomain::MentalHealth,
                LifeDomain::PhysicalHealth,
                LifeDomain::Addiction
            ]
        );
    }
}
