//! Shared test support for the adapter tests: proptest strategies for the case model and a
//! hand-written sample referral. Include with `mod common;`. Only test BSNs (999900006–999999990).
#![allow(dead_code)]

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{DecodeContext, Directory, DirectoryEntry};

/// `../shared/standards/<rel>` from the workspace root.
pub fn standards(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/standards")
        .join(rel)
}

/// `adapters/tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn pid(s: &str) -> PartnerId {
    PartnerId::parse(s).unwrap()
}

/// The directory of the test network.
pub fn directory() -> Directory {
    Directory {
        entries: vec![
            DirectoryEntry {
                partner: pid("woonstad-noord"),
                sector: Sector::Housing,
                agb: None,
                municipality: None,
            },
            DirectoryEntry {
                partner: pid("wijkteam-centrum"),
                sector: Sector::Welfare,
                agb: None,
                municipality: Some(MunicipalityCode::parse("0384").unwrap()),
            },
            DirectoryEntry {
                partner: pid("zorggroep-oost"),
                sector: Sector::Welfare,
                agb: Some(AgbCode::parse("42420001").unwrap()),
                municipality: None,
            },
            DirectoryEntry {
                partner: pid("huisarts-de-linde"),
                sector: Sector::Care,
                agb: Some(AgbCode::parse("01001234").unwrap()),
                municipality: None,
            },
            DirectoryEntry {
                partner: pid("werkplein"),
                sector: Sector::Employment,
                agb: None,
                municipality: None,
            },
        ],
        gateway_agb: Some(AgbCode::parse("98765432").unwrap()),
    }
}

pub fn ctx(sender: &str) -> DecodeContext {
    DecodeContext {
        sender: pid(sender),
        directory: directory(),
    }
}

pub fn ts(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// A full referral with data in every category.
pub fn sample_request(sender: &str, target: Target) -> ReferralRequest {
    ReferralRequest {
        source: Source {
            partner: pid(sender),
            reference: ExternalRef::parse("REF-2026-0042").unwrap(),
        },
        target,
        urgency: Urgency::Urgent,
        requested_at: ts(2026, 11, 2, 9, 30, 0),
        resident: Resident {
            identity: Some(Identity {
                bsn: Bsn::parse("999900006").unwrap(),
                name: PersonName {
                    given_names: Some(PersonalText::parse("Anna Maria").unwrap()),
                    initials: Some(PersonalText::parse("A.M.").unwrap()),
                    prefix: Some(PersonalText::parse("van de").unwrap()),
                    family_name: PersonalText::parse("Berg").unwrap(),
                },
                birth_date: NaiveDate::from_ymd_opt(1980, 4, 12),
                gender: Some(Gender::Female),
            }),
            contact: Some(Contact {
                address: Some(Address {
                    postcode: Postcode::parse("1234AB").unwrap(),
                    house_number: HouseNumber::new(12).unwrap(),
                    house_letter: Some('a'),
                    house_number_addition: Some("2".into()),
                    street: Some(PersonalText::parse("Lindelaan").unwrap()),
                    town: Some(PersonalText::parse("Utrecht").unwrap()),
                }),
                phone: Some(Phone::parse("06-12345678").unwrap()),
                email: Some(Email::parse("anna@example.nl").unwrap()),
            }),
        },
        needs: vec![
            Need {
                domain: LifeDomain::Finances,
                severity: Severity::new(2).unwrap(),
                note: Some(Note::parse("Huurachterstand van drie maanden").unwrap()),
            },
            Need::new(LifeDomain::MentalHealth, Severity::new(3).unwrap()),
        ],
        note: Some(Note::parse("Graag telefonisch contact in de ochtend").unwrap()),
        finance: Some(FinancialSituation {
            arrears: MoneyCents::new(135_000).unwrap(),
            arrears_since: NaiveDate::from_ymd_opt(2026, 8, 1),
            signalled_on: NaiveDate::from_ymd_opt(2026, 11, 1),
        }),
    }
}

// ---- proptest strategies -------------------------------------------------------------

/// A test BSN: 9999xxxxx passing the 11-proef.
pub fn bsn() -> impl Strategy<Value = Bsn> {
    (0u32..100_000).prop_filter_map("11-proef", |n| Bsn::parse(&format!("9999{n:05}")).ok())
}

/// Letters, spaces, apostrophes and hyphens; 1–30 characters, no space at either end.
pub fn word() -> impl Strategy<Value = PersonalText> {
    "[A-Za-zÀ-ÿ][A-Za-zà-ÿ' -]{0,28}[a-z]".prop_map(|s| PersonalText::parse(&s).unwrap())
}

pub fn note() -> impl Strategy<Value = Note> {
    "[A-Za-z0-9][A-Za-z0-9 .,;:!?()€'\"<>&/-]{0,120}[a-z.]".prop_map(|s| Note::parse(&s).unwrap())
}

pub fn date() -> impl Strategy<Value = NaiveDate> {
    (1920i32..2026, 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

/// Whole seconds in 2000–2030.
pub fn timestamp() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64..1_924_992_000).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

pub fn identity() -> impl Strategy<Value = Identity> {
    (
        bsn(),
        proptest::option::of(word()),
        proptest::option::of(
            "[A-Z]\\.([A-Z]\\.){0,2}".prop_map(|s| PersonalText::parse(&s).unwrap()),
        ),
        proptest::option::of(
            prop_oneof![
                Just("van"),
                Just("de"),
                Just("van de"),
                Just("van der"),
                Just("ter")
            ]
            .prop_map(|s| PersonalText::parse(s).unwrap()),
        ),
        word(),
        proptest::option::of(date()),
        proptest::option::of(prop_oneof![
            Just(Gender::Male),
            Just(Gender::Female),
            Just(Gender::Other),
            Just(Gender::Unknown)
        ]),
    )
        .prop_map(
            |(bsn, given_names, initials, prefix, family_name, birth_date, gender)| Identity {
                bsn,
                name: PersonName {
                    given_names,
                    initials,
                    prefix,
                    family_name,
                },
                birth_date,
                gender,
            },
        )
}

pub fn address() -> impl Strategy<Value = Address> {
    (
        "[1-9][0-9]{3}[A-Z]{2}",
        1u32..=99_999,
        proptest::option::of("[a-z]"),
        proptest::option::of("[A-Za-z0-9]{1,4}"),
        proptest::option::of(word()),
        proptest::option::of(word()),
    )
        .prop_map(|(pc, n, letter, addition, street, town)| Address {
            postcode: Postcode::parse(&pc).unwrap(),
            house_number: HouseNumber::new(n).unwrap(),
            house_letter: letter.and_then(|l| l.chars().next()),
            house_number_addition: addition,
            street,
            town,
        })
}

pub fn contact() -> impl Strategy<Value = Contact> {
    (
        proptest::option::of(address()),
        proptest::option::of("0[1-9][0-9]-[0-9]{7}".prop_map(|s| Phone::parse(&s).unwrap())),
        proptest::option::of(
            "[a-z]{1,10}@[a-z]{1,10}\\.nl".prop_map(|s| Email::parse(&s).unwrap()),
        ),
    )
        .prop_map(|(address, phone, email)| Contact {
            address,
            phone,
            email,
        })
        .prop_filter("non-empty contact", |c| !c.is_empty())
}

pub fn need() -> impl Strategy<Value = Need> {
    (
        proptest::sample::select(LifeDomain::ALL.to_vec()),
        1u8..=5,
        proptest::option::of(note()),
    )
        .prop_map(|(domain, s, note)| Need {
            domain,
            severity: Severity::new(s).unwrap(),
            note,
        })
}

/// 1–4 needs on distinct domains.
pub fn needs() -> impl Strategy<Value = Vec<Need>> {
    proptest::collection::vec(need(), 1..5).prop_map(|mut v| {
        let mut seen = Vec::new();
        v.retain(|n| {
            let fresh = !seen.contains(&n.domain);
            seen.push(n.domain);
            fresh
        });
        v
    })
}

pub fn finance() -> impl Strategy<Value = FinancialSituation> {
    (
        0i64..10_000_000,
        proptest::option::of(date()),
        proptest::option::of(date()),
    )
        .prop_map(|(c, since, on)| FinancialSituation {
            arrears: MoneyCents::new(c).unwrap(),
            arrears_since: since,
            signalled_on: on,
        })
}

pub fn partner_id() -> impl Strategy<Value = PartnerId> {
    prop_oneof![
        Just("woonstad-noord"),
        Just("wijkteam-centrum"),
        Just("zorggroep-oost"),
        Just("huisarts-de-linde"),
        Just("werkplein")
    ]
    .prop_map(pid)
}

pub fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        partner_id().prop_map(Target::Partner),
        proptest::sample::select(Sector::ALL.to_vec()).prop_map(Target::Sector),
    ]
}

/// A referral with a full identity (every format needs one) and any mix of the rest.
pub fn request() -> impl Strategy<Value = ReferralRequest> {
    (
        partner_id(),
        "[A-Z0-9][A-Za-z0-9-]{0,30}",
        target(),
        proptest::sample::select(Urgency::ALL.to_vec()),
        timestamp(),
        identity(),
        proptest::option::of(contact()),
        needs(),
        proptest::option::of(note()),
        proptest::option::of(finance()),
    )
        .prop_map(
            |(
                partner,
                reference,
                target,
                urgency,
                requested_at,
                identity,
                contact,
                needs,
                note,
                finance,
            )| {
                ReferralRequest {
                    source: Source {
                        partner,
                        reference: ExternalRef::parse(&reference).unwrap(),
                    },
                    target,
                    urgency,
                    requested_at,
                    resident: Resident {
                        identity: Some(identity),
                        contact,
                    },
                    needs,
                    note,
                    finance,
                }
            },
        )
}

pub fn referral_id() -> impl Strategy<Value = ReferralId> {
    (1_600_000_000_000u64..1_900_000_000_000, any::<[u8; 10]>())
        .prop_map(|(ms, r)| ReferralId::from_parts(ms, r))
}

pub fn status_update() -> impl Strategy<Value = StatusUpdate> {
    (
        referral_id(),
        proptest::sample::select(vec![
            ReferralStatus::Accepted,
            ReferralStatus::Declined,
            ReferralStatus::InProgress,
            ReferralStatus::Completed,
            ReferralStatus::Cancelled,
        ]),
        timestamp(),
        proptest::option::of(
            "[A-Za-z][A-Za-z ]{0,40}[a-z]".prop_map(|s| ReasonText::parse(&s).unwrap()),
        ),
    )
        .prop_map(|(id, status, at, reason)| {
            let mut u = StatusUpdate::new(ReferralRef::Id(id), status, at).unwrap();
            u.reason = reason;
            u
        })
}
