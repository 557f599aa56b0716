//! The care adapter's code tables: FHIR codes ↔ the case model.

use crate::model::{DataCategory, LifeDomain, Purpose, ReferralStatus, Sector, Urgency};

/// The code system of life domains in `ServiceRequest.reasonCode` / `category`.
pub const LIFE_DOMAIN_SYSTEM: &str = "urn:wijkbrug:fhir:life-domain";
/// The HL7 Gravity (SDOH Clinical Care IG) category code system, accepted on decode.
pub const SDOH_CATEGORY_SYSTEM: &str =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";
/// Extension on a reasonCode / category: the need's severity (valueInteger 1–5).
pub const SEVERITY_EXTENSION: &str = "urn:wijkbrug:fhir:severity";
/// Extension on a reasonCode / category: the need's note (valueString).
pub const NEED_NOTE_EXTENSION: &str = "urn:wijkbrug:fhir:need-note";
/// Complex extension on the ServiceRequest: the financial situation.
pub const FINANCE_EXTENSION: &str = "urn:wijkbrug:fhir:finance";
/// Severity assumed when a need carries no severity extension.
pub const DEFAULT_SEVERITY: u8 = 3;

/// BSN identifier systems: the URI (written) and the OID (accepted).
pub const BSN_SYSTEM: &str = "http://fhir.nl/fhir/NamingSystem/bsn";
pub const BSN_OID_SYSTEM: &str = "urn:oid:2.16.840.1.113883.2.4.6.3";
/// AGB identifier systems (care providers), resolved through the directory.
pub const AGB_SYSTEMS: [&str; 2] = [
    "http://fhir.nl/fhir/NamingSystem/agb-z",
    "urn:oid:2.16.840.1.113883.2.4.6.1",
];
/// The gateway's referral id (ServiceRequest.identifier, Task.basedOn.identifier).
pub const REFERRAL_SYSTEM: &str = "urn:wijkbrug:referral";
/// An organisation's partner id (performer, requester, consent actor).
pub const PARTNER_SYSTEM: &str = "urn:wijkbrug:partner";
/// Prefix of the system of a partner's own references: `urn:wijkbrug:partner:<partner-id>`.
pub const PARTNER_REF_PREFIX: &str = "urn:wijkbrug:partner:";
/// `ServiceRequest.performerType` codes: a sector for the router to resolve.
pub const SECTOR_SYSTEM: &str = "urn:wijkbrug:sector";
/// `Task.statusReason` codes the gateway writes.
pub const STATUS_REASON_SYSTEM: &str = "urn:wijkbrug:fhir:status-reason";
/// Consent purpose codes.
pub const PURPOSE_SYSTEM: &str = "urn:wijkbrug:fhir:consent-purpose";
pub const ACT_REASON_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
/// Consent `provision.class` / `securityLabel` data category codes.
pub const DATA_CATEGORY_SYSTEM: &str = "urn:wijkbrug:fhir:data-category";
pub const RESOURCE_TYPES_SYSTEM: &str = "http://hl7.org/fhir/resource-types";
pub const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

pub const QUALIFIER_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier";
pub const OWN_PREFIX_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/humanname-own-prefix";
pub const OWN_NAME_EXTENSION: &str = "http://hl7.org/fhir/StructureDefinition/humanname-own-name";
pub const STREET_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName";
pub const HOUSE_NUMBER_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-houseNumber";
pub const HOUSE_SUFFIX_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-buildingNumberSuffix";

/// Life domains in [`LIFE_DOMAIN_SYSTEM`]: (domain, code, display). Both directions.
pub const LIFE_DOMAINS: [(LifeDomain, &str, &str); 11] = [
    (LifeDomain::Finances, "finances", "Financiën"),
    (
        LifeDomain::WorkAndEducation,
        "work-and-education",
        "Werk & opleiding",
    ),
    (LifeDomain::Housing, "housing", "Huisvesting"),
    (
        LifeDomain::DomesticRelations,
        "domestic-relations",
        "Huiselijke relaties",
    ),
    (
        LifeDomain::MentalHealth,
        "mental-health",
        "Geestelijke gezondheid",
    ),
    (
        LifeDomain::PhysicalHealth,
        "physical-health",
        "Lichamelijke gezondheid",
    ),
    (LifeDomain::Addiction, "addiction", "Verslaving"),
    (
        LifeDomain::DailyLiving,
        "daily-living",
        "Activiteiten dagelijks leven",
    ),
    (
        LifeDomain::SocialNetwork,
        "social-network",
        "Sociaal netwerk",
    ),
    (
        LifeDomain::CommunityParticipation,
        "community-participation",
        "Maatschappelijke participatie",
    ),
    (LifeDomain::Justice, "justice", "Justitie"),
];

/// Gravity SDOH categories accepted on decode (never written): (code, domain). Categories
/// with no counterpart on the matrix (food, transportation, veteran status, ...) are refused.
pub const SDOH_CATEGORIES: [(&str, LifeDomain); 12] = [
    ("financial-insecurity", LifeDomain::Finances),
    ("material-hardship", LifeDomain::Finances),
    ("medical-cost-burden", LifeDomain::Finances),
    ("housing-instability", LifeDomain::Housing),
    ("homelessness", LifeDomain::Housing),
    ("inadequate-housing", LifeDomain::Housing),
    ("employment-status", LifeDomain::WorkAndEducation),
    ("educational-attainment", LifeDomain::WorkAndEducation),
    ("intimate-partner-violence", LifeDomain::DomesticRelations),
    ("elder-abuse", LifeDomain::DomesticRelations),
    ("social-connection", LifeDomain::SocialNetwork),
    ("stress", LifeDomain::MentalHealth),
];

/// `ServiceRequest.priority` (required binding request-priority) ↔ urgency.
pub const PRIORITIES: [(Urgency, &str); 4] = [
    (Urgency::Routine, "routine"),
    (Urgency::Urgent, "urgent"),
    (Urgency::Asap, "asap"),
    (Urgency::Crisis, "stat"),
];

/// `performerType` codes in [`SECTOR_SYSTEM`].
pub const SECTORS: [(Sector, &str); 4] = [
    (Sector::Housing, "housing"),
    (Sector::Welfare, "welfare"),
    (Sector::Care, "care"),
    (Sector::Employment, "employment"),
];

/// What a Task status (R4 task-status, Gravity lifecycle) means as a status update.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TaskMeaning {
    /// A reportable status, with the reason code the lifecycle implies (if any).
    Report(ReferralStatus, Option<&'static str>),
    /// A status the gateway does not report (the requester's own, or not a change).
    NotReportable,
}

/// R4 `Task.status` codes (required binding task-status) and their meaning.
pub const TASK_STATUSES: [(&str, TaskMeaning); 12] = [
    ("draft", TaskMeaning::NotReportable),
    ("requested", TaskMeaning::NotReportable),
    ("received", TaskMeaning::NotReportable),
    ("ready", TaskMeaning::NotReportable),
    ("entered-in-error", TaskMeaning::NotReportable),
    (
        "accepted",
        TaskMeaning::Report(ReferralStatus::Accepted, None),
    ),
    (
        "rejected",
        TaskMeaning::Report(ReferralStatus::Declined, None),
    ),
    (
        "in-progress",
        TaskMeaning::Report(ReferralStatus::InProgress, None),
    ),
    (
        "on-hold",
        TaskMeaning::Report(ReferralStatus::InProgress, Some(ON_HOLD)),
    ),
    (
        "completed",
        TaskMeaning::Report(ReferralStatus::Completed, None),
    ),
    (
        "cancelled",
        TaskMeaning::Report(ReferralStatus::Cancelled, None),
    ),
    (
        "failed",
        TaskMeaning::Report(ReferralStatus::Cancelled, Some(FAILED)),
    ),
];

/// The reason code that marks a cancellation as the performer's `failed`.
pub const FAILED: &str = "failed";
/// The reason code that marks work in progress as `on-hold`.
pub const ON_HOLD: &str = "on-hold";

/// R4 `Consent.status` codes (required binding consent-state-codes).
pub const CONSENT_STATUSES: [&str; 6] = [
    "active",
    "inactive",
    "draft",
    "proposed",
    "rejected",
    "entered-in-error",
];

/// Consent purposes: (system, code, purpose). Ours both ways; v3-ActReason on decode.
pub const PURPOSES: [(&str, &str, Purpose); 4] = [
    (PURPOSE_SYSTEM, "referral", Purpose::Referral),
    (PURPOSE_SYSTEM, "coordination", Purpose::Coordination),
    (ACT_REASON_SYSTEM, "TREAT", Purpose::Referral),
    (ACT_REASON_SYSTEM, "COC", Purpose::Coordination),
];

/// Consent `provision.class` / `provision.securityLabel` codes → the data categories they
/// cover: (system, code, categories).
pub const CONSENT_CLASSES: [(&str, &str, &[DataCategory]); 13] = [
    (DATA_CATEGORY_SYSTEM, "identity", &[DataCategory::Identity]),
    (DATA_CATEGORY_SYSTEM, "contact", &[DataCategory::Contact]),
    (DATA_CATEGORY_SYSTEM, "needs", &[DataCategory::Needs]),
    (DATA_CATEGORY_SYSTEM, "notes", &[DataCategory::Notes]),
    (DATA_CATEGORY_SYSTEM, "health", &[DataCategory::Health]),
    (DATA_CATEGORY_SYSTEM, "finance", &[DataCategory::Finance]),
    (
        RESOURCE_TYPES_SYSTEM,
        "Patient",
        &[DataCategory::Identity, DataCategory::Contact],
    ),
    (
        RESOURCE_TYPES_SYSTEM,
        "ServiceRequest",
        &[DataCategory::Needs, DataCategory::Notes],
    ),
    (
        RESOURCE_TYPES_SYSTEM,
        "Observation",
        &[DataCategory::Health],
    ),
    (RESOURCE_TYPES_SYSTEM, "Condition", &[DataCategory::Health]),
    (ACT_CODE_SYSTEM, "PSY", &[DataCategory::Health]),
    (ACT_CODE_SYSTEM, "ETH", &[DataCategory::Health]),
    (ACT_CODE_SYSTEM, "HIV", &[DataCategory::Health]),
];

/// The domain a (system, code) names, or `None` when the system is not a needs system.
/// `Some(Err(accepted))` for an unknown code in a needs system.
pub fn life_domain(system: &str, code: &str) -> Option<Result<LifeDomain, String>> {
    if system == LIFE_DOMAIN_SYSTEM {
        Some(
            LIFE_DOMAINS
                .iter()
                .find(|(_, c, _)| *c == code)
                .map(|(d, _, _)| *d)
                .ok_or_else(|| unknown(code, LIFE_DOMAINS.iter().map(|(_, c, _)| *c))),
        )
    } else if system == SDOH_CATEGORY_SYSTEM {
        Some(
            SDOH_CATEGORIES
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, d)| *d)
                .ok_or_else(|| unknown(code, SDOH_CATEGORIES.iter().map(|(c, _)| *c))),
        )
    } else {
        None
    }
}

/// The code and display of a domain in [`LIFE_DOMAIN_SYSTEM`].
pub fn life_domain_code(domain: LifeDomain) -> (&'static str, &'static str) {
    LIFE_DOMAINS
        .iter()
        .find(|(d, _, _)| *d == domain)
        .map_or(("", ""), |(_, c, d)| (*c, *d))
}

/// "unknown code \"x\"; expected one of: a, b" (the code is a code, never personal data; cut
/// to 40 characters all the same).
pub fn unknown<'a>(code: &str, accepted: impl Iterator<Item = &'a str>) -> String {
    let shown: String = code.chars().take(40).collect();
    let list: Vec<&str> = accepted.collect();
    format!(
        "unknown code {shown:?}; expected one of: {}",
        list.join(", ")
    )
}

pub fn urgency(code: &str) -> Result<Urgency, String> {
    PRIORITIES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(u, _)| *u)
        .ok_or_else(|| unknown(code, PRIORITIES.iter().map(|(_, c)| *c)))
}

pub fn priority_code(u: Urgency) -> &'static str {
    PRIORITIES
        .iter()
        .find(|(x, _)| *x == u)
        .map_or("routine", |(_, c)| *c)
}

pub fn sector(code: &str) -> Result<Sector, String> {
    SECTORS
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(s, _)| *s)
        .ok_or_else(|| unknown(code, SECTORS.iter().map(|(_, c)| *c)))
}

pub fn sector_code(s: Sector) -> &'static str {
    SECTORS
        .iter()
        .find(|(x, _)| *x == s)
        .map_or("care", |(_, c)| *c)
}

pub fn task_meaning(code: &str) -> Result<TaskMeaning, String> {
    TASK_STATUSES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, m)| *m)
        .ok_or_else(|| unknown(code, TASK_STATUSES.iter().map(|(c, _)| *c)))
}

/// The Task status a status update is written as: `failed` for a cancellation with reason
/// code "failed", `on-hold` for work in progress with reason code "on-hold".
pub fn task_status_code(status: ReferralStatus, reason_code: Option<&str>) -> Option<&'static str> {
    Some(match (status, reason_code) {
        (ReferralStatus::Cancelled, Some(FAILED)) => "failed",
        (ReferralStatus::InProgress, Some(ON_HOLD)) => "on-hold",
        (ReferralStatus::Accepted, _) => "accepted",
        (ReferralStatus::Declined, _) => "rejected",
        (ReferralStatus::InProgress, _) => "in-progress",
        (ReferralStatus::Completed, _) => "completed",
        (ReferralStatus::Cancelled, _) => "cancelled",
        _ => return None,
    })
}

pub fn purpose(system: &str, code: &str) -> Result<Purpose, String> {
    PURPOSES
        .iter()
        .find(|(s, c, _)| *s == system && *c == code)
        .map(|(_, _, p)| *p)
        .ok_or_else(|| {
            format!(
                "unknown purpose; expected one of: {}",
                PURPOSES
                    .iter()
                    .map(|(s, c, _)| format!("{s}|{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

pub fn consent_class(system: &str, code: &str) -> Result<&'static [DataCategory], String> {
    CONSENT_CLASSES
        .iter()
        .find(|(s, c, _)| *s == system && *c == code)
        .map(|(_, _, cats)| *cats)
        .ok_or_else(|| {
            format!(
                "unknown data class; expected one of: {}",
                CONSENT_CLASSES
                    .iter()
                    .map(|(s, c, _)| format!("{s}|{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_life_domain_encodes_and_decodes() {
        for d in LifeDomain::ALL {
            let (code, display) = life_domain_code(d);
            assert!(!code.is_empty() && !display.is_empty(), "{d}");
            assert_eq!(life_domain(LIFE_DOMAIN_SYSTEM, code), Some(Ok(d)));
        }
        for (code, d) in SDOH_CATEGORIES {
            assert_eq!(life_domain(SDOH_CATEGORY_SYSTEM, code), Some(Ok(d)));
        }
        assert!(matches!(
            life_domain(LIFE_DOMAIN_SYSTEM, "nope"),
            Some(Err(_))
        ));
        assert_eq!(life_domain("http://snomed.info/sct", "1"), None);
    }

    #[test]
    fn every_urgency_sector_and_status_maps_both_ways() {
        for u in Urgency::ALL {
            assert_eq!(urgency(priority_code(u)), Ok(u));
        }
        for s in Sector::ALL {
            assert_eq!(sector(sector_code(s)), Ok(s));
        }
        for s in ReferralStatus::ALL
            .into_iter()
            .filter(|s| s.is_reportable())
        {
            for rc in [None, Some(FAILED), Some(ON_HOLD)] {
                let code = task_status_code(s, rc).unwrap();
                match task_meaning(code).unwrap() {
                    TaskMeaning::Report(back, implied) => {
                        assert_eq!(back, s);
                        if implied.is_some() {
                            assert_eq!(implied, rc);
                        }
                    }
                    TaskMeaning::NotReportable => panic!("{code}"),
                }
            }
        }
        assert!(task_status_code(ReferralStatus::Routed, None).is_none());
    }
}
