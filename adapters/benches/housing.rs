//! Criterion benchmarks of the housing-signal adapter: decode and encode of a sample-like
//! signal, an envelope of 100 signals, and the status callback.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wijkbrug_adapters::model::{
    ReferralId, ReferralRef, ReferralStatus, Sector, StatusUpdate, Target,
};
use wijkbrug_adapters::{adapter_for, Format, OutgoingReferral, OutgoingStatus};

const SIGNAL: &[u8] = include_bytes!("../tests/fixtures/housing/accept/signal-single.json");

fn envelope(n: usize) -> Vec<u8> {
    let signal = std::str::from_utf8(SIGNAL).unwrap();
    let signals = vec![signal; n].join(",");
    format!(
        r#"{{"codeGegevensleverancier":"WOONSTAD-NOORD","startdatumLevering":"2026-10-01","einddatumLevering":"2026-10-31","aanleverdatumEnTijd":"2026-11-02T08:15:00Z","leveringen":[{{"teller":1,"gemeentecode":"0384","aanleverende_organisatie":{{"naam":"Woonstad Noord"}},"vroegsignalen":[{signals}]}}]}}"#
    )
    .into_bytes()
}

fn bench(c: &mut Criterion) {
    let adapter = adapter_for(Format::HousingSignal);
    let ctx = common::ctx("woonstad-noord");
    let dir = common::directory();
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let request = common::sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        common::ts(2026, 11, 2, 10, 0, 0),
    )
    .unwrap();
    let callback = adapter
        .encode_status(
            OutgoingStatus {
                id,
                request: &request,
                update: &update,
            },
            &dir,
        )
        .unwrap();
    let batch = envelope(100);

    let mut g = c.benchmark_group("housing");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_signal", |b| {
        b.iter(|| {
            adapter.decode(black_box(SIGNAL), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        })
    });
    g.bench_function("encode_signal", |b| {
        b.iter(|| {
            adapter
                .encode_referral(
                    OutgoingReferral {
                        id,
                        request: black_box(&request),
                    },
                    &dir,
                )
                .unwrap()
        })
    });
    g.bench_function("decode_status", |b| {
        b.iter(|| {
            adapter.decode(black_box(&callback), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        })
    });
    g.bench_function("encode_status", |b| {
        b.iter(|| {
            adapter
                .encode_status(
                    OutgoingStatus {
                        id,
                        request: &request,
                        update: black_box(&update),
                    },
                    &dir,
                )
                .unwrap()
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("decode_envelope_100", |b| {
        b.iter(|| {
            adapter.decode(black_box(&batch), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
