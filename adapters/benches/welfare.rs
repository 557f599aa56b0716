//! Criterion benchmarks of the welfare (iWmo 3.2) adapter: decode of the standards' WMO315
//! sample and encode of a sample-like referral, one message per iteration.

use std::hint::black_box;
use std::path::PathBuf;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::welfare::Iwmo32;
use wijkbrug_adapters::{
    Adapter, DecodeContext, Directory, DirectoryEntry, OutgoingReferral, OutgoingStatus,
};

fn pid(s: &str) -> PartnerId {
    PartnerId::parse(s).unwrap()
}

fn directory() -> Directory {
    Directory {
        entries: vec![
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
        ],
        gateway_agb: Some(AgbCode::parse("98765432").unwrap()),
    }
}

fn request() -> ReferralRequest {
    ReferralRequest {
        source: Source {
            partner: pid("zorggroep-oost"),
            reference: ExternalRef::parse("REF-2026-0042").unwrap(),
        },
        target: Target::Partner(pid("wijkteam-centrum")),
        urgency: Urgency::Urgent,
        requested_at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap(),
        resident: Resident {
            identity: Some(Identity {
                bsn: Bsn::parse("999900006").unwrap(),
                name: PersonName {
                    given_names: Some(PersonalText::parse("Tim").unwrap()),
                    initials: Some(PersonalText::parse("T.").unwrap()),
                    prefix: Some(PersonalText::parse("de").unwrap()),
                    family_name: PersonalText::parse("Wit").unwrap(),
                },
                birth_date: NaiveDate::from_ymd_opt(1972, 7, 16),
                gender: Some(Gender::Male),
            }),
            contact: None,
        },
        needs: vec![
            Need {
                domain: LifeDomain::DailyLiving,
                severity: Severity::new(3).unwrap(),
                note: Some(Note::parse("Commentaar Aangevraagd Product").unwrap()),
            },
            Need {
                domain: LifeDomain::MentalHealth,
                severity: Severity::new(3).unwrap(),
                note: Some(Note::parse("Commentaar Aangevraagd Product 2").unwrap()),
            },
        ],
        note: Some(Note::parse("Commentaar client").unwrap()),
        finance: None,
    }
}

fn bench(c: &mut Criterion) {
    let sample = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/standards/iwmo-3.2/WMO315.xml"),
    )
    .expect("the standards' WMO315 sample");
    let ctx = DecodeContext {
        sender: pid("zorggroep-oost"),
        directory: directory(),
    };
    let dir = directory();
    let req = request();
    let id = ReferralId::from_parts(1_790_000_000_000, [7; 10]);
    let update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        Utc.with_ymd_and_hms(2026, 11, 20, 14, 5, 9).unwrap(),
    )
    .unwrap();

    let mut g = c.benchmark_group("welfare");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_wmo315_sample", |b| {
        b.iter(|| {
            let n = Iwmo32.decode(black_box(&sample), &ctx).count();
            black_box(n)
        })
    });
    g.bench_function("encode_wmo315", |b| {
        b.iter(|| {
            let out = Iwmo32
                .encode_referral(
                    OutgoingReferral {
                        id,
                        request: black_box(&req),
                    },
                    &dir,
                )
                .unwrap();
            black_box(out)
        })
    });
    let own = Iwmo32
        .encode_referral(OutgoingReferral { id, request: &req }, &dir)
        .unwrap();
    g.bench_function("decode_wmo315_own", |b| {
        b.iter(|| black_box(Iwmo32.decode(black_box(&own), &ctx).count()))
    });
    g.bench_function("encode_wmo301", |b| {
        b.iter(|| {
            black_box(
                Iwmo32
                    .encode_status(
                        OutgoingStatus {
                            id,
                            request: black_box(&req),
                            update: &update,
                        },
                        &dir,
                    )
                    .unwrap(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
