//! The housing-signal adapter's code tables and documented rules.
//!
//! Everything a reviewer needs to check the mapping is here, as `const` data: the VNG v0.9
//! enumerations the adapter validates against, the VERA payment-arrangement statuses, the
//! life-domain codes of the `leefgebieden` extension, the status-callback codes, and the
//! thresholds of the urgency and severity rules.

use chrono::NaiveDate;

use crate::model::{LifeDomain, ModelError, MoneyCents, Need, ReferralStatus, Severity, Urgency};

/// `EnumSignaalpartner` of the VNG exchange model v0.9, in the schema's order.
pub const SIGNAL_PARTNER_TYPES: [&str; 11] = [
    "Energie",
    "Huur",
    "Hypotheek",
    "CAK Zorgverzekeringen",
    "Zorg",
    "Water",
    "DUO",
    "Belastingdienst",
    "CAK Eigen bijdrage",
    "Overige",
    "Dienst Toeslagen",
];

/// The only `signaalpartner.type` this adapter accepts: a landlord's rent-arrears signal.
pub const HOUSING_PARTNER_TYPE: &str = "Huur";

/// `EnumSignaalstatus` of the VNG exchange model v0.9, in the schema's order. Checked on
/// decode, not carried into the model (the gateway's own status machine tracks progress).
pub const SIGNAL_STATUSES: [&str; 6] = [
    "Nog niet opgepakt",
    "Niet opgepakt: onterecht signaal",
    "Inwoner is overleden",
    "Persoon is geen inwoner (meer) in de gemeente",
    "Niet opgepakt: herhaalde melding",
    "Niet opgepakt: andere reden",
];

/// The `status` the adapter writes on a signal it encodes.
pub const NEW_SIGNAL_STATUS: &str = "Nog niet opgepakt";

/// A VERA `BETALINGSREGELINGSTATUS` code (Aedes reference data).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PaymentArrangementStatus {
    pub code: &'static str,
    /// The VERA `Naam`.
    pub name: &'static str,
    /// Whether an arrangement in this status softens the derived severity by one step (the
    /// tenant has an arrangement running or applied for).
    pub softens: bool,
}

/// VERA `BETALINGSREGELINGSTATUS`, as in `Referentiedata.csv` (checked by a test).
pub const PAYMENT_ARRANGEMENT_STATUSES: [PaymentArrangementStatus; 6] = [
    PaymentArrangementStatus {
        code: "AAN",
        name: "Aangevraagd",
        softens: true,
    },
    PaymentArrangementStatus {
        code: "ACT",
        name: "Actief",
        softens: true,
    },
    PaymentArrangementStatus {
        code: "ANN",
        name: "Geannuleerd",
        softens: false,
    },
    PaymentArrangementStatus {
        code: "BEE",
        name: "Beëindigd",
        softens: false,
    },
    PaymentArrangementStatus {
        code: "BEV",
        name: "Bevroren",
        softens: false,
    },
    PaymentArrangementStatus {
        code: "VER",
        name: "Verwijderd",
        softens: false,
    },
];

/// Looks up a VERA payment-arrangement status by its code.
pub fn payment_arrangement_status(code: &str) -> Result<PaymentArrangementStatus, ModelError> {
    PAYMENT_ARRANGEMENT_STATUSES
        .into_iter()
        .find(|s| s.code == code)
        .ok_or_else(|| ModelError::UnknownCode {
            code: code.chars().take(40).collect(),
            expected: PAYMENT_ARRANGEMENT_STATUSES.map(|s| s.code).join(", "),
        })
}

/// The life-domain codes of the `leefgebieden` extension: the Dutch Self-Sufficiency Matrix
/// (zelfredzaamheid-matrix) domains, both directions.
pub const DOMAIN_CODES: [(LifeDomain, &str); 11] = [
    (LifeDomain::Finances, "financien"),
    (LifeDomain::WorkAndEducation, "werk_en_opleiding"),
    (LifeDomain::Housing, "huisvesting"),
    (LifeDomain::DomesticRelations, "huiselijke_relaties"),
    (LifeDomain::MentalHealth, "geestelijke_gezondheid"),
    (LifeDomain::PhysicalHealth, "lichamelijke_gezondheid"),
    (LifeDomain::Addiction, "verslaving"),
    (LifeDomain::DailyLiving, "adl"),
    (LifeDomain::SocialNetwork, "sociaal_netwerk"),
    (
        LifeDomain::CommunityParticipation,
        "maatschappelijke_participatie",
    ),
    (LifeDomain::Justice, "justitie"),
];

/// The `leefgebied` code of a domain.
pub fn domain_code(domain: LifeDomain) -> &'static str {
    DOMAIN_CODES
        .iter()
        .find(|(d, _)| *d == domain)
        .map_or("", |(_, c)| c)
}

/// The domain of a `leefgebied` code.
pub fn domain_from_code(code: &str) -> Result<LifeDomain, ModelError> {
    DOMAIN_CODES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(d, _)| *d)
        .ok_or_else(|| ModelError::UnknownCode {
            code: code.chars().take(40).collect(),
            expected: DOMAIN_CODES.map(|(_, c)| c).join(", "),
        })
}

/// The `status` codes of the `wijkbrug.housing-status/1` callback: the reportable statuses,
/// spelled as the case model spells them.
pub const CALLBACK_STATUSES: [(ReferralStatus, &str); 5] = [
    (ReferralStatus::Accepted, "accepted"),
    (ReferralStatus::Declined, "declined"),
    (ReferralStatus::InProgress, "in_progress"),
    (ReferralStatus::Completed, "completed"),
    (ReferralStatus::Cancelled, "cancelled"),
];

/// The callback code of a status, if it is one a callback can carry.
pub fn callback_status_code(status: ReferralStatus) -> Option<&'static str> {
    CALLBACK_STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map(|(_, c)| *c)
}

/// The status of a callback code.
pub fn callback_status(code: &str) -> Result<ReferralStatus, ModelError> {
    CALLBACK_STATUSES
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(s, _)| *s)
        .ok_or_else(|| ModelError::UnknownCode {
            code: code.chars().take(40).collect(),
            expected: CALLBACK_STATUSES.map(|(_, c)| c).join(", "),
        })
}

// ---- the urgency and severity rules -----------------------------------------------------

/// From this amount in arrears (€1,000) a non-crisis signal is `Urgent`.
pub const URGENT_FROM_CENTS: i64 = 100_000;
/// From this many days between `ontstaansdatum` and `signaaldatum` (about two months' rent)
/// a non-crisis signal is `Urgent`.
pub const URGENT_FROM_DAYS: i64 = 60;
/// From this amount in arrears (€2,500) the derived severity is 2 (serious).
pub const SERIOUS_FROM_CENTS: i64 = 250_000;
/// From this many days in arrears (about three months' rent: the usual threshold for an
/// eviction procedure) the derived severity is 2 (serious).
pub const SERIOUS_FROM_DAYS: i64 = 90;

/// What the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct SignalFacts {
    /// `crisissignaal`.
    pub crisis: bool,
    /// `warmeOverdracht`.
    pub warm_handover: bool,
    /// `bedrag`.
    pub arrears: MoneyCents,
    /// `ontstaansdatum`, if given.
    pub arrears_since: Option<NaiveDate>,
    /// `signaaldatum`.
    pub signalled_on: NaiveDate,
    /// The `betalingsregelingStatus` extension, if given.
    pub arrangement: Option<PaymentArrangementStatus>,
}

impl SignalFacts {
    /// Days from `ontstaansdatum` to `signaaldatum`; 0 when unknown or in the wrong order.
    pub fn days_in_arrears(&self) -> i64 {
        self.arrears_since
            .map_or(0, |since| (self.signalled_on - since).num_days().max(0))
    }
}

/// The urgency rule:
///
/// | condition (first that holds)                                   | urgency   |
/// |----------------------------------------------------------------|-----------|
/// | `crisissignaal` is true                                        | `Crisis`  |
/// | `warmeOverdracht` is true (the tenant expects to be contacted) | `Asap`    |
/// | amount ≥ €1,000 or ≥ 60 days in arrears                        | `Urgent`  |
/// | otherwise                                                      | `Routine` |
pub fn derived_urgency(f: &SignalFacts) -> Urgency {
    if f.crisis {
        Urgency::Crisis
    } else if f.warm_handover {
        Urgency::Asap
    } else if f.arrears.get() >= URGENT_FROM_CENTS || f.days_in_arrears() >= URGENT_FROM_DAYS {
        Urgency::Urgent
    } else {
        Urgency::Routine
    }
}

/// The severity rule, the same for both derived needs (self-sufficiency matrix scale, 1 is
/// acute):
///
/// | condition                                                  | severity |
/// |------------------------------------------------------------|----------|
/// | `crisissignaal` is true                                    | 1        |
/// | amount ≥ €2,500 or ≥ 90 days in arrears                    | 2        |
/// | otherwise                                                  | 3        |
///
/// Without a crisis, a payment arrangement whose VERA status softens (AAN, ACT) adds one
/// (2 → 3, 3 → 4).
pub fn derived_severity(f: &SignalFacts) -> Result<Severity, ModelError> {
    if f.crisis {
        return Severity::new(1);
    }
    let base = if f.arrears.get() >= SERIOUS_FROM_CENTS || f.days_in_arrears() >= SERIOUS_FROM_DAYS
    {
        2
    } else {
        3
    };
    let soften = u8::from(f.arrangement.is_some_and(|a| a.softens));
    Severity::new(base + soften)
}

/// The domains a rent-arrears signal implies when it lists no `leefgebieden`.
pub const DERIVED_DOMAINS: [LifeDomain; 2] = [LifeDomain::Finances, LifeDomain::Housing];

/// The needs a signal without `leefgebieden` implies: Finances and Housing, both at the
/// derived severity, without notes.
pub fn derived_needs(f: &SignalFacts) -> Result<Vec<Need>, ModelError> {
    let severity = derived_severity(f)?;
    Ok(DERIVED_DOMAINS
        .iter()
        .map(|d| Need::new(*d, severity))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_encodes_and_decodes() {
        for d in LifeDomain::ALL {
            let code = domain_code(d);
            assert!(!code.is_empty(), "{d}");
            assert_eq!(domain_from_code(code), Ok(d));
        }
        assert!(domain_from_code("wonen").is_err());
    }

    #[test]
    fn every_reportable_status_has_a_callback_code() {
        for s in ReferralStatus::ALL {
            assert_eq!(callback_status_code(s).is_some(), s.is_reportable(), "{s}");
            if let Some(c) = callback_status_code(s) {
                assert_eq!(callback_status(c), Ok(s));
                assert_eq!(c, s.code());
            }
        }
    }

    fn facts(cents: i64, days: i64, crisis: bool, warm: bool) -> SignalFacts {
        let on = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        SignalFacts {
            crisis,
            warm_handover: warm,
            arrears: MoneyCents::new(cents).unwrap(),
            arrears_since: Some(on - chrono::Days::new(days as u64)),
            signalled_on: on,
            arrangement: None,
        }
    }

    #[test]
    fn the_rules_follow_their_tables() {
        assert_eq!(derived_urgency(&facts(0, 0, true, true)), Urgency::Crisis);
        assert_eq!(derived_urgency(&facts(0, 0, false, true)), Urgency::Asap);
        assert_eq!(
            derived_urgency(&facts(100_000, 0, false, false)),
            Urgency::Urgent
        );
        assert_eq!(
            derived_urgency(&facts(0, 60, false, false)),
            Urgency::Urgent
        );
        assert_eq!(
            derived_urgency(&facts(99_999, 59, false, false)),
            Urgency::Routine
        );
        let sev = |f: SignalFacts| derived_severity(&f).unwrap().get();
        assert_eq!(sev(facts(0, 0, true, false)), 1);
        assert_eq!(sev(facts(250_000, 0, false, false)), 2);
        assert_eq!(sev(facts(0, 90, false, false)), 2);
        assert_eq!(sev(facts(249_999, 89, false, false)), 3);
        let mut f = facts(0, 0, false, false);
        f.arrangement = payment_arrangement_status("ACT").ok();
        assert_eq!(sev(f), 4);
        f.arrangement = payment_arrangement_status("BEE").ok();
        assert_eq!(sev(f), 3);
        assert!(payment_arrangement_status("XYZ").is_err());
    }
}
