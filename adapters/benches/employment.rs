//! Criterion benchmarks of the employment CSV adapter: decode and encode of a one-referral
//! file (header + row), a status row, and a 1,000-row file (throughput in rows).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wijkbrug_adapters::employment::{encode_referrals, EmploymentCsv};
use wijkbrug_adapters::model::{
    ExternalRef, ReferralId, ReferralRef, ReferralRequest, ReferralStatus, StatusUpdate, Target,
};
use wijkbrug_adapters::{Adapter, OutgoingReferral, OutgoingStatus};

fn bench(c: &mut Criterion) {
    let adapter = EmploymentCsv;
    let ctx = common::ctx("werkplein");
    let dir = common::directory();
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let request = common::sample_request(
        "werkplein",
        Target::Partner(common::pid("wijkteam-centrum")),
    );
    let one = adapter
        .encode_referral(
            OutgoingReferral {
                id,
                request: &request,
            },
            &dir,
        )
        .unwrap();
    let update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        common::ts(2026, 11, 2, 10, 0, 0),
    )
    .unwrap();
    let status = OutgoingStatus {
        id,
        request: &request,
        update: &update,
    };
    let status_file = adapter.encode_status(status, &dir).unwrap();

    const ROWS: usize = 1_000;
    let requests: Vec<ReferralRequest> = (0..ROWS)
        .map(|i| {
            let mut r = request.clone();
            r.source.reference = ExternalRef::parse(&format!("WP-{i}")).unwrap();
            r
        })
        .collect();
    let outgoing: Vec<_> = requests
        .iter()
        .map(|r| OutgoingReferral { id, request: r })
        .collect();
    let batch = encode_referrals(outgoing.iter().copied()).unwrap();

    let mut g = c.benchmark_group("employment");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_referral", |b| {
        b.iter(|| {
            adapter.decode(black_box(&one), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        })
    });
    g.bench_function("encode_referral", |b| {
        b.iter(|| {
            black_box(
                adapter
                    .encode_referral(
                        OutgoingReferral {
                            id,
                            request: black_box(&request),
                        },
                        &dir,
                    )
                    .unwrap(),
            )
        })
    });
    g.bench_function("decode_status", |b| {
        b.iter(|| {
            adapter.decode(black_box(&status_file), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        })
    });
    g.bench_function("encode_status", |b| {
        b.iter(|| black_box(adapter.encode_status(black_box(status), &dir).unwrap()))
    });
    g.throughput(Throughput::Elements(ROWS as u64));
    g.bench_function("decode_1000_rows", |b| {
        b.iter(|| {
            adapter.decode(black_box(&batch), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        })
    });
    g.bench_function("encode_1000_rows", |b| {
        b.iter(|| black_box(encode_referrals(black_box(&outgoing).iter().copied()).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
