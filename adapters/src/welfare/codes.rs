//! iWmo 3.2 code lists used by the adapter, and the gateway's table from Wmo product
//! categories to life domains.

use crate::adapter::DecodeError;
use crate::model::{Gender, LifeDomain};

/// The basisschema namespace.
pub const BASIS_NS: &str = "http://www.istandaarden.nl/iwmo/3_2/basisschema/schema";

/// The iWmo 3.2 messages this adapter knows (handled or not).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum MessageKind {
    /// Toewijzing Wmo-ondersteuning (assignment), BerichtCode 414.
    Wmo301,
    /// Start Wmo-ondersteuning, BerichtCode 418.
    Wmo305,
    /// Stop Wmo-ondersteuning, BerichtCode 420.
    Wmo307,
    /// Verzoek om toewijzing (request for an assignment), BerichtCode 444.
    Wmo315,
    /// Verzoek om wijziging (request for a change), BerichtCode 480: not handled.
    Wmo317,
    /// Antwoordbericht (answer to a request), BerichtCode 482.
    Wmo319,
    /// Declaratie (invoice), BerichtCode 484: not handled.
    Wmo323,
}

impl MessageKind {
    pub const ALL: [MessageKind; 7] = [
        Self::Wmo301,
        Self::Wmo305,
        Self::Wmo307,
        Self::Wmo315,
        Self::Wmo317,
        Self::Wmo319,
        Self::Wmo323,
    ];

    /// The message's name, e.g. `WMO315`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Wmo301 => "WMO301",
            Self::Wmo305 => "WMO305",
            Self::Wmo307 => "WMO307",
            Self::Wmo315 => "WMO315",
            Self::Wmo317 => "WMO317",
            Self::Wmo319 => "WMO319",
            Self::Wmo323 => "WMO323",
        }
    }

    /// The namespace prefix the adapter writes, e.g. `wmo315`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Wmo301 => "wmo301",
            Self::Wmo305 => "wmo305",
            Self::Wmo307 => "wmo307",
            Self::Wmo315 => "wmo315",
            Self::Wmo317 => "wmo317",
            Self::Wmo319 => "wmo319",
            Self::Wmo323 => "wmo323",
        }
    }

    pub fn namespace(self) -> &'static str {
        match self {
            Self::Wmo301 => "http://www.istandaarden.nl/iwmo/3_2/wmo301/schema",
            Self::Wmo305 => "http://www.istandaarden.nl/iwmo/3_2/wmo305/schema",
            Self::Wmo307 => "http://www.istandaarden.nl/iwmo/3_2/wmo307/schema",
            Self::Wmo315 => "http://www.istandaarden.nl/iwmo/3_2/wmo315/schema",
            Self::Wmo317 => "http://www.istandaarden.nl/iwmo/3_2/wmo317/schema",
            Self::Wmo319 => "http://www.istandaarden.nl/iwmo/3_2/wmo319/schema",
            Self::Wmo323 => "http://www.istandaarden.nl/iwmo/3_2/wmo323/schema",
        }
    }

    /// The Header/BerichtCode the message carries.
    pub fn bericht_code(self) -> &'static str {
        match self {
            Self::Wmo301 => "414",
            Self::Wmo305 => "418",
            Self::Wmo307 => "420",
            Self::Wmo315 => "444",
            Self::Wmo317 => "480",
            Self::Wmo319 => "482",
            Self::Wmo323 => "484",
        }
    }

    pub fn is_handled(self) -> bool {
        !matches!(self, Self::Wmo317 | Self::Wmo323)
    }

    pub fn from_namespace(ns: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.namespace().as_bytes() == ns)
    }

    pub fn from_bericht_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.bericht_code() == code)
    }

    /// The handled messages as `WMO315 (444), ...` for error messages.
    pub fn accepted_codes() -> String {
        Self::ALL
            .into_iter()
            .filter(|k| k.is_handled())
            .map(|k| format!("{} ({})", k.bericht_code(), k.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn accepted_namespaces() -> String {
        Self::ALL
            .into_iter()
            .filter(|k| k.is_handled())
            .map(|k| k.namespace())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Refuses the known messages the gateway does not handle.
    pub fn check_handled(self) -> Result<(), DecodeError> {
        if self.is_handled() {
            Ok(())
        } else {
            Err(DecodeError::document(format!(
                "message {} is not handled by this gateway; it accepts {}",
                self.name(),
                Self::accepted_codes()
            )))
        }
    }
}

/// One row of the product category table.
#[derive(Clone, Copy, Debug)]
pub struct CategoryRow {
    /// `LDT_ProductCategorie` code.
    pub code: &'static str,
    /// Its name in the iWmo code list.
    pub name: &'static str,
    pub domain: LifeDomain,
    /// Whether this is the category a need on `domain` is written as.
    pub primary: bool,
}

const fn row(
    code: &'static str,
    name: &'static str,
    domain: LifeDomain,
    primary: bool,
) -> CategoryRow {
    CategoryRow {
        code,
        name,
        domain,
        primary,
    }
}

/// Every Wmo product category (`LDT_ProductCategorie`, iWmo 3.2) and the life domain the
/// gateway reads it as. Each domain has exactly one primary category, which is what a need on
/// that domain is written as; the other categories decode to the nearest domain.
pub const PRODUCT_CATEGORIES: [CategoryRow; 18] = [
    row(
        "01",
        "Hulp bij het huishouden",
        LifeDomain::DailyLiving,
        true,
    ),
    row("02", "Begeleiding", LifeDomain::MentalHealth, true),
    row(
        "03",
        "Persoonlijke verzorging",
        LifeDomain::PhysicalHealth,
        true,
    ),
    row(
        "04",
        "Kortdurend verblijf",
        LifeDomain::DomesticRelations,
        false,
    ),
    row("05", "Woondiensten", LifeDomain::Housing, true),
    row(
        "06",
        "Overige ondersteuning gericht op het individu of huishouden/gezin",
        LifeDomain::DomesticRelations,
        true,
    ),
    row("07", "Dagbesteding", LifeDomain::WorkAndEducation, true),
    row(
        "08",
        "Vervoerdiensten",
        LifeDomain::CommunityParticipation,
        true,
    ),
    row(
        "09",
        "Overige groepsgerichte ondersteuning",
        LifeDomain::SocialNetwork,
        true,
    ),
    row(
        "10",
        "Overige maatwerk arrangementen",
        LifeDomain::Finances,
        true,
    ),
    row("11", "Rolstoelen", LifeDomain::PhysicalHealth, false),
    row(
        "12",
        "Vervoervoorzieningen",
        LifeDomain::CommunityParticipation,
        false,
    ),
    row("13", "Woonvoorzieningen", LifeDomain::Housing, false),
    row(
        "14",
        "Overige hulpmiddelen",
        LifeDomain::PhysicalHealth,
        false,
    ),
    row("15", "Beschermd wonen", LifeDomain::Addiction, true),
    row("16", "Opvang", LifeDomain::Housing, false),
    row("17", "Spoedopvang", LifeDomain::DomesticRelations, false),
    row(
        "18",
        "Overige beschermd wonen en opvang",
        LifeDomain::Justice,
        true,
    ),
];

/// The product category a need on `domain` is written as.
pub fn category_for(domain: LifeDomain) -> &'static str {
    PRODUCT_CATEGORIES
        .iter()
        .find(|r| r.primary && r.domain == domain)
        .map_or("06", |r| r.code)
}

/// The life domain a product category is read as.
pub fn domain_for(category: &str) -> Option<LifeDomain> {
    PRODUCT_CATEGORIES
        .iter()
        .find(|r| r.code == category)
        .map(|r| r.domain)
}

pub fn category_codes() -> String {
    PRODUCT_CATEGORIES
        .iter()
        .map(|r| r.code)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `LDT_Geslacht`: 0 onbekend, 1 man, 2 vrouw. `Other` has no code and is written as 0.
pub fn gender_code(g: Option<Gender>) -> &'static str {
    match g {
        Some(Gender::Male) => "1",
        Some(Gender::Female) => "2",
        Some(Gender::Other | Gender::Unknown) | None => "0",
    }
}

pub fn gender_from_code(code: &str) -> Option<Gender> {
    match code {
        "0" => Some(Gender::Unknown),
        "1" => Some(Gender::Male),
        "2" => Some(Gender::Female),
        _ => None,
    }
}

/// `LDT_RedenAfwijzingVerzoek` (WMO319): why a request was refused.
pub const REDEN_AFWIJZING: [&str; 9] = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];
/// `LDT_RedenBeeindiging` (WMO307): why support ended.
pub const REDEN_BEEINDIGING: [&str; 11] = [
    "02", "19", "20", "21", "22", "23", "31", "36", "37", "38", "39",
];
/// Written when a completion carries no valid `LDT_RedenBeeindiging`: "levering volgens plan
/// beeindigd".
pub const DEFAULT_REDEN_BEEINDIGING: &str = "19";
/// `LDT_RedenWijziging` (WMO301).
pub const REDEN_WIJZIGING: [&str; 14] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_has_one_primary_category_that_decodes_back() {
        for d in LifeDomain::ALL {
            let primaries = PRODUCT_CATEGORIES
                .iter()
                .filter(|r| r.primary && r.domain == d)
                .count();
            assert_eq!(primaries, 1, "{d}");
            assert_eq!(domain_for(category_for(d)), Some(d), "{d}");
        }
        for r in PRODUCT_CATEGORIES {
            assert_eq!(domain_for(r.code), Some(r.domain));
        }
        assert_eq!(domain_for("19"), None);
    }

    #[test]
    fn message_kinds_round_trip_their_codes() {
        for k in MessageKind::ALL {
            assert_eq!(MessageKind::from_bericht_code(k.bericht_code()), Some(k));
            assert_eq!(
                MessageKind::from_namespace(k.namespace().as_bytes()),
                Some(k)
            );
        }
    }
}
