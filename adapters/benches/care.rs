//! Criterion benchmarks of the care adapter (FHIR R4): decode of the sample referral bundle
//! and a Task, encode of a full referral and a status update.

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wijkbrug_adapters::care::FhirR4;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{
    Adapter, DecodeContext, Directory, DirectoryEntry, OutgoingReferral, OutgoingStatus,
};

const BUNDLE: &[u8] = include_bytes!("../tests/fixtures/care/referral-bsn-uri.json");
const BUNDLE_OID: &[u8] = include_bytes!("../tests/fixtures/care/referral-bsn-oid.json");
const TASK: &[u8] = include_bytes!("../tests/fixtures/care/task-rejected.json");

fn p(s: &str) -> PartnerId {
    PartnerId::parse(s).unwrap()
}

fn sample() -> ReferralRequest {
    ReferralRequest {
        source: Source {
            partner: p("huisarts-de-linde"),
            reference: ExternalRef::parse("REF-2026-0042").unwrap(),
        },
        target: Target::Partner(p("wijkteam-centrum")),
        urgency: Urgency::Urgent,
        requested_at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap(),
        resident: Resident {
            identity: Some(Identity {
                bsn: Bsn::parse("999900006").unwrap(),
                name: PersonName {
                    given_names: Some(PersonalText::parse("Anna Maria").unwrap()),
                    initials: Some(PersonalText::parse("A.M.").unwrap()),
                    prefix: Some(PersonalText::parse("van de").unwrap()),
                    family_name: PersonalText::parse("Berg").unwrap(),
                },
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 4, 12),
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
        finance: None,
    }
}

fn bench(c: &mut Criterion) {
    // The performer of the OID fixture is addressed by its AGB code.
    let ctx = DecodeContext {
        sender: p("huisarts-de-linde"),
        directory: Directory {
            entries: vec![DirectoryEntry {
                partner: p("zorggroep-oost"),
                sector: Sector::Welfare,
                agb: Some(AgbCode::parse("42420001").unwrap()),
                municipality: None,
            }],
            gateway_agb: None,
        },
    };
    let dir = Directory::default();
    let req = sample();
    let id = ReferralId::from_parts(1_780_000_000_000, [7; 10]);
    let update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        Utc.with_ymd_and_hms(2026, 11, 3, 13, 0, 0).unwrap(),
    )
    .unwrap();

    let mut g = c.benchmark_group("care");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_referral_bundle", |b| {
        b.iter(|| {
            let n = FhirR4
                .decode(std::hint::black_box(BUNDLE), &ctx)
                .filter(Result::is_ok)
                .count();
            assert_eq!(n, 1);
        })
    });
    // A 3 KB bundle with the OID BSN system, as a GP system would send it.
    g.bench_function("decode_referral_bundle_oid", |b| {
        b.iter(|| {
            let n = FhirR4
                .decode(std::hint::black_box(BUNDLE_OID), &ctx)
                .filter(Result::is_ok)
                .count();
            assert_eq!(n, 1);
        })
    });
    // The compact Bundle the gateway itself writes (about a third of the pretty fixture).
    let written = FhirR4
        .encode_referral(OutgoingReferral { id, request: &req }, &dir)
        .unwrap();
    g.bench_function("decode_written_bundle", |b| {
        b.iter(|| FhirR4.decode(std::hint::black_box(&written), &ctx).count())
    });
    g.bench_function("decode_task", |b| {
        b.iter(|| FhirR4.decode(std::hint::black_box(TASK), &ctx).count())
    });
    g.bench_function("encode_referral_bundle", |b| {
        b.iter(|| {
            FhirR4
                .encode_referral(
                    OutgoingReferral {
                        id,
                        request: std::hint::black_box(&req),
                    },
                    &dir,
                )
                .map(|v| v.len())
        })
    });
    g.bench_function("encode_status_task", |b| {
        b.iter(|| {
            FhirR4
                .encode_status(
                    OutgoingStatus {
                        id,
                        request: &req,
                        update: std::hint::black_box(&update),
                    },
                    &dir,
                )
                .map(|v| v.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
