//! The consent decision and minimisation: pure, given the consents.
//!
//! A referral may go to a receiver only under a permit in force for the receiver (the partner
//! itself or its whole sector) and the purpose `referral`, covering at least `identity` and
//! `needs`. Rules, in order:
//! 1. An objection (a deny record) in force for the receiver wins over any permit.
//! 2. The more specific consent wins: if any permit names the partner itself, only such
//!    permits count; otherwise the permits for its sector.
//! 3. The categories shared are the union of the winning permits' categories, intersected with
//!    what the referral holds. Health data only under a permit naming `health`.
//! 4. What is left must still say what the resident needs: if minimisation removes every need
//!    (e.g. a referral about health only, under a consent without health), nothing is shared.

use chrono::{DateTime, Utc};
use wijkbrug_adapters::model::{
    CategorySet, Consent, ConsentEffect, DataCategory, Grantee, PartnerId, Purpose,
    ReferralRequest, Sector,
};

use crate::store::ConsentId;

/// Why nothing may be shared. Messages name no personal data and may go to the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No permit in force for this receiver and purpose.
    NoConsent,
    /// The resident objected (a deny record in force).
    Objection(Option<ConsentId>),
    /// A permit exists but does not cover identity and needs.
    Insufficient {
        consent: Option<ConsentId>,
        missing: CategorySet,
    },
    /// The permit does not cover any of the needs the referral is about (e.g. health).
    NeedsNotCovered { consent: Option<ConsentId> },
}

impl Refusal {
    /// A sentence for the sender and the status history.
    pub fn reason(&self) -> String {
        match self {
            Self::NoConsent => "no consent of the resident is recorded for this receiver and purpose referral".into(),
            Self::Objection(_) => "the resident objected to sharing with this receiver".into(),
            Self::Insufficient { missing, .. } => format!(
                "the resident's consent for this receiver does not cover {missing}, which a referral needs"
            ),
            Self::NeedsNotCovered { .. } => "the resident's consent for this receiver does not cover the needs this referral is about (health data needs a consent that names health)".into(),
        }
    }

    /// A stable code for the status history and problem details.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoConsent => "no-consent",
            Self::Objection(_) => "objection",
            Self::Insufficient { .. } => "consent-insufficient",
            Self::NeedsNotCovered { .. } => "needs-not-covered",
        }
    }

    /// The consent the decision rests on, if one.
    pub fn consent(&self) -> Option<ConsentId> {
        match self {
            Self::NoConsent => None,
            Self::Objection(c) => *c,
            Self::Insufficient { consent, .. } | Self::NeedsNotCovered { consent } => *consent,
        }
    }
}

/// A permit to share: the minimised copy and what was kept and removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// The most specific permit the decision rests on (the first of the winning ones).
    pub consent: Option<ConsentId>,
    pub shared: ReferralRequest,
    pub categories: CategorySet,
    pub removed: CategorySet,
}

/// The receiver of a referral, as consent sees it.
#[derive(Debug, Clone, Copy)]
pub struct Receiver<'a> {
    pub partner: &'a PartnerId,
    pub sector: Sector,
}

/// What a referral needs a consent to cover, at the least.
pub fn required() -> CategorySet {
    [DataCategory::Identity, DataCategory::Needs]
        .into_iter()
        .collect()
}

/// Decides whether `request` may go to `receiver` at `at`, and minimises it.
pub fn decide(
    request: &ReferralRequest,
    receiver: Receiver<'_>,
    consents: &[(Option<ConsentId>, &Consent)],
    at: DateTime<Utc>,
) -> Result<Permit, Refusal> {
    let applicable: Vec<_> = consents
        .iter()
        .filter(|(_, c)| {
            c.purpose == Purpose::Referral
                && c.in_force_at(at)
                && match &c.grantee {
                    Grantee::Partner(p) => p == receiver.partner,
                    Grantee::Sector(s) => *s == receiver.sector,
                }
        })
        .collect();
    if let Some((id, _)) = applicable
        .iter()
        .find(|(_, c)| c.effect == ConsentEffect::Deny)
    {
        return Err(Refusal::Objection(*id));
    }
    let partner_level: Vec<_> = applicable
        .iter()
        .filter(|(_, c)| matches!(c.grantee, Grantee::Partner(_)))
        .collect();
    let winning: Vec<_> = if partner_level.is_empty() {
        applicable.iter().collect()
    } else {
        partner_level
    };
    let Some((first_id, _)) = winning.first() else {
        return Err(Refusal::NoConsent);
    };
    let consent = *first_id;
    let covered = winning
        .iter()
        .fold(CategorySet::empty(), |acc, (_, c)| acc.union(c.categories));
    let missing = required().difference(covered);
    if !missing.is_empty() {
        return Err(Refusal::Insufficient { consent, missing });
    }
    let (shared, removed) = request.minimise(covered);
    if shared.needs.is_empty() {
        return Err(Refusal::NeedsNotCovered { consent });
    }
    let categories = shared.categories_present();
    Ok(Permit {
        consent,
        shared,
        categories,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;
    use wijkbrug_adapters::model::*;

    fn pid(s: &str) -> PartnerId {
        PartnerId::parse(s).unwrap()
    }

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap()
    }

    fn request(domains: &[LifeDomain]) -> ReferralRequest {
        ReferralRequest {
            source: Source {
                partner: pid("woonstad-noord"),
                reference: ExternalRef::parse("R-1").unwrap(),
            },
            target: Target::Sector(Sector::Care),
            urgency: Urgency::Routine,
            requested_at: at(),
            resident: Resident {
                identity: Some(Identity {
                    bsn: Bsn::parse("999900006").unwrap(),
                    name: PersonName::family(PersonalText::parse("Berg").unwrap()),
                    birth_date: None,
                    gender: None,
                }),
                contact: Some(Contact {
                    phone: Some(Phone::parse("06-12345678").unwrap()),
                    ..Contact::default()
                }),
            },
            needs: domains
                .iter()
                .map(|d| Need::new(*d, Severity::new(2).unwrap()))
                .collect(),
            note: Some(Note::parse("free text").unwrap()),
            finance: None,
        }
    }

    fn consent(grantee: Grantee, effect: ConsentEffect, cats: &[DataCategory]) -> Consent {
        Consent {
            resident: Bsn::parse("999900006").unwrap(),
            grantee,
            purpose: Purpose::Referral,
            effect,
            categories: cats.iter().copied().collect(),
            valid_from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            valid_until: None,
            recorded_by: pid("wijkteam-centrum"),
            evidence: None,
            revoked_at: None,
        }
    }

    fn id(n: u128) -> Option<ConsentId> {
        Some(ConsentId(Uuid::from_u128(n)))
    }

    const GP: &str = "huisarts-de-linde";

    fn receiver(p: &PartnerId) -> Receiver<'_> {
        Receiver {
            partner: p,
            sector: Sector::Care,
        }
    }

    #[test]
    fn without_any_consent_nothing_is_shared() {
        let gp = pid(GP);
        let r = request(&[LifeDomain::Finances]);
        assert_eq!(
            decide(&r, receiver(&gp), &[], at()),
            Err(Refusal::NoConsent)
        );
    }

    #[test]
    fn a_sector_permit_shares_only_its_categories() {
        let gp = pid(GP);
        let c = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &[DataCategory::Identity, DataCategory::Needs],
        );
        let r = request(&[LifeDomain::Finances, LifeDomain::MentalHealth]);
        let p = decide(&r, receiver(&gp), &[(id(1), &c)], at()).unwrap();
        assert_eq!(p.consent, id(1));
        assert_eq!(
            p.shared.needs.len(),
            1,
            "health needs need a consent naming health"
        );
        assert!(p.shared.resident.contact.is_none() && p.shared.note.is_none());
        assert_eq!(
            p.removed,
            [
                DataCategory::Contact,
                DataCategory::Notes,
                DataCategory::Health
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            p.categories,
            [DataCategory::Identity, DataCategory::Needs]
                .into_iter()
                .collect()
        );
    }

    #[test]
    fn health_is_shared_only_under_a_consent_naming_it() {
        let gp = pid(GP);
        let r = request(&[LifeDomain::MentalHealth]);
        let without = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &[DataCategory::Identity, DataCategory::Needs],
        );
        assert_eq!(
            decide(&r, receiver(&gp), &[(id(1), &without)], at()),
            Err(Refusal::NeedsNotCovered { consent: id(1) })
        );
        let with = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &[
                DataCategory::Identity,
                DataCategory::Needs,
                DataCategory::Health,
            ],
        );
        let p = decide(&r, receiver(&gp), &[(id(2), &with)], at()).unwrap();
        assert_eq!(p.shared.needs[0].domain, LifeDomain::MentalHealth);
    }

    #[test]
    fn an_objection_wins_over_any_permit() {
        let gp = pid(GP);
        let permit = consent(
            Grantee::Partner(gp.clone()),
            ConsentEffect::Permit,
            &DataCategory::ALL,
        );
        let deny = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Deny,
            &DataCategory::ALL,
        );
        let r = request(&[LifeDomain::Finances]);
        assert_eq!(
            decide(&r, receiver(&gp), &[(id(1), &permit), (id(2), &deny)], at()),
            Err(Refusal::Objection(id(2)))
        );
    }

    #[test]
    fn the_partner_specific_permit_wins_over_the_sector_one() {
        let gp = pid(GP);
        let broad = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &DataCategory::ALL,
        );
        let narrow = consent(
            Grantee::Partner(gp.clone()),
            ConsentEffect::Permit,
            &[DataCategory::Identity, DataCategory::Needs],
        );
        let r = request(&[LifeDomain::Finances]);
        let p = decide(
            &r,
            receiver(&gp),
            &[(id(1), &broad), (id(2), &narrow)],
            at(),
        )
        .unwrap();
        assert_eq!(p.consent, id(2));
        assert!(p.shared.resident.contact.is_none());
    }

    #[test]
    fn a_permit_must_cover_identity_and_needs() {
        let gp = pid(GP);
        let c = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &[DataCategory::Needs, DataCategory::Contact],
        );
        let r = request(&[LifeDomain::Finances]);
        assert_eq!(
            decide(&r, receiver(&gp), &[(id(1), &c)], at()),
            Err(Refusal::Insufficient {
                consent: id(1),
                missing: [DataCategory::Identity].into_iter().collect()
            })
        );
    }

    #[test]
    fn consents_out_of_force_or_for_others_do_not_count() {
        let gp = pid(GP);
        let mut revoked = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &DataCategory::ALL,
        );
        revoked.revoked_at = Some(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
        let mut expired = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &DataCategory::ALL,
        );
        expired.valid_until = Some(Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap());
        let other = consent(
            Grantee::Sector(Sector::Welfare),
            ConsentEffect::Permit,
            &DataCategory::ALL,
        );
        let mut coordination = consent(
            Grantee::Sector(Sector::Care),
            ConsentEffect::Permit,
            &DataCategory::ALL,
        );
        coordination.purpose = Purpose::Coordination;
        let r = request(&[LifeDomain::Finances]);
        let all = [
            (id(1), &revoked),
            (id(2), &expired),
            (id(3), &other),
            (id(4), &coordination),
        ];
        assert_eq!(
            decide(&r, receiver(&gp), &all, at()),
            Err(Refusal::NoConsent)
        );
    }
}
