//! What the neighbourhood refers to whom: the flows the generator draws from, each a sending
//! partner, a target sector, the life domains it is about and how often it happens.
//!
//! The shares are a plausible picture of one neighbourhood, not data: rent-arrears signals from
//! the housing corporation to the neighbourhood team are the largest flow; the GP refers
//! daily-living needs to district nursing and social needs to the neighbourhood team; the
//! Werkplein refers residents in debt to the team and to the housing corporation; a Wmo
//! provider asks the municipality's desk for an assignment.

use chrono::{DateTime, Duration as Days, Utc};
use rand::RngExt;
use wijkbrug_adapters::model::{
    ExternalRef, FinancialSituation, LifeDomain, MoneyCents, Need, Note, PartnerId,
    ReferralRequest, Sector, Severity, Source, Target, Urgency,
};

use super::residents::Resident;

/// One kind of referral.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// The sending partner.
    pub sender: &'static str,
    /// Its own references start with this.
    pub prefix: &'static str,
    pub to: Sector,
    /// The life domains and a severity range for each (1 acute … 5 self-sufficient).
    pub needs: &'static [(LifeDomain, u8, u8)],
    /// Notes the sender may write (made up, no resident named).
    pub notes: &'static [&'static str],
    /// The referral carries the rent arrears (finance).
    pub arrears: bool,
    /// How often, relative to the others.
    pub weight: u32,
    /// Only about residents who consented to the target sector (a sender whose format cannot
    /// tell it a referral was refused, such as iWmo, checks consent first).
    pub consented_only: bool,
}

use LifeDomain::*;

/// The demo's flows.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        sender: "woonstad-noord",
        prefix: "HUUR",
        to: Sector::Welfare,
        needs: &[(Finances, 1, 3), (Housing, 2, 3)],
        notes: &[
            "Huurachterstand; bewoner reageert niet op brieven",
            "Betalingsregeling niet nagekomen",
            "Bewoner vraagt zelf om hulp bij de huurschuld",
        ],
        arrears: true,
        weight: 25,
        consented_only: false,
    },
    Scenario {
        sender: "woonstad-noord",
        prefix: "HUUR",
        to: Sector::Employment,
        needs: &[(WorkAndEducation, 2, 3), (Finances, 2, 3)],
        notes: &["Inkomen gedaald na baanverlies"],
        arrears: true,
        weight: 6,
        consented_only: false,
    },
    Scenario {
        sender: "huisarts-de-linde",
        prefix: "GP",
        to: Sector::Care,
        needs: &[(DailyLiving, 2, 3), (PhysicalHealth, 2, 4)],
        notes: &[
            "Hulp bij wassen en aankleden nodig na ziekenhuisopname",
            "Wondzorg thuis, twee keer per week",
        ],
        arrears: false,
        weight: 15,
        consented_only: false,
    },
    Scenario {
        sender: "huisarts-de-linde",
        prefix: "GP",
        to: Sector::Welfare,
        needs: &[(SocialNetwork, 2, 3), (MentalHealth, 2, 3)],
        notes: &["Eenzaam sinds overlijden partner"],
        arrears: false,
        weight: 8,
        consented_only: false,
    },
    Scenario {
        sender: "huisarts-de-linde",
        prefix: "GP",
        to: Sector::Employment,
        needs: &[(WorkAndEducation, 2, 3), (CommunityParticipation, 3, 4)],
        notes: &["Wil na herstel weer aan het werk"],
        arrears: false,
        weight: 6,
        consented_only: false,
    },
    Scenario {
        sender: "thuiszorg-oost",
        prefix: "TZO",
        to: Sector::Care,
        needs: &[(PhysicalHealth, 2, 3), (DailyLiving, 2, 4)],
        notes: &["Medicatie graag herzien door de huisarts"],
        arrears: false,
        weight: 8,
        consented_only: false,
    },
    Scenario {
        sender: "thuiszorg-oost",
        prefix: "TZO",
        to: Sector::Welfare,
        needs: &[(DailyLiving, 2, 3), (SocialNetwork, 2, 3)],
        notes: &["Mantelzorger overbelast"],
        arrears: false,
        weight: 6,
        consented_only: false,
    },
    Scenario {
        sender: "werkplein",
        prefix: "WP",
        to: Sector::Welfare,
        needs: &[(Finances, 1, 2), (WorkAndEducation, 2, 3)],
        notes: &["Schulden staan re-integratie in de weg"],
        arrears: false,
        weight: 10,
        consented_only: false,
    },
    Scenario {
        sender: "werkplein",
        prefix: "WP",
        to: Sector::Housing,
        needs: &[(Housing, 2, 3), (Finances, 2, 3)],
        notes: &["Betalingsregeling voor de huur gewenst"],
        arrears: true,
        weight: 6,
        consented_only: false,
    },
    Scenario {
        sender: super::network::PROVIDER_ID,
        prefix: "WMO",
        to: Sector::Welfare,
        needs: &[(DailyLiving, 2, 3), (SocialNetwork, 2, 4)],
        notes: &["Dagbesteding twee dagdelen per week"],
        arrears: false,
        weight: 10,
        consented_only: true,
    },
];

/// A scenario drawn by weight.
pub fn draw() -> &'static Scenario {
    let total: u32 = SCENARIOS.iter().map(|s| s.weight).sum();
    let mut n = rand::random_range(0..total.max(1));
    for s in SCENARIOS {
        if n < s.weight {
            return s;
        }
        n -= s.weight;
    }
    &SCENARIOS[0]
}

/// A referral of `scenario` about `resident`, with the sender's own `reference`, made `at`.
pub fn request(
    scenario: &Scenario,
    resident: &Resident,
    reference: &str,
    at: DateTime<Utc>,
) -> Option<ReferralRequest> {
    let mut rng = rand::rng();
    let needs: Vec<Need> = scenario
        .needs
        .iter()
        .filter_map(|(domain, low, high)| {
            Some(Need::new(
                *domain,
                Severity::new(rng.random_range(*low..=*high)).ok()?,
            ))
        })
        .collect();
    let note = scenario
        .notes
        .get(rng.random_range(0..scenario.notes.len().max(1)))
        .and_then(|n| Note::parse(n).ok());
    let finance = if scenario.arrears {
        let months = rng.random_range(2..=6i64);
        let today = at.date_naive();
        Some(FinancialSituation {
            arrears: MoneyCents::new(months * rng.random_range(450..=950i64) * 100).ok()?,
            arrears_since: today.checked_sub_signed(Days::days(months * 30)),
            signalled_on: Some(today),
        })
    } else {
        None
    };
    let urgency = match rng.random_range(0..20) {
        0 => Urgency::Asap,
        1..=5 => Urgency::Urgent,
        _ => Urgency::Routine,
    };
    Some(ReferralRequest {
        source: Source {
            partner: PartnerId::parse(scenario.sender).ok()?,
            reference: ExternalRef::parse(reference).ok()?,
        },
        target: Target::Sector(scenario.to),
        urgency,
        requested_at: at,
        resident: resident.model(),
        needs,
        note,
        finance,
    })
}
