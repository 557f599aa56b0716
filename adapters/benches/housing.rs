//! Criterion benchmarks of the housing-signal adapter: decode and encode of a sample-like
//! signal, an envelope of 100 signals, and the status callback.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{criterion_group, Criterion, Throughput};
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

/// On-CPU nanoseconds of this thread (Linux `schedstat`), so that the figure does not depend
/// on how busy the machine is; `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Messages a second per on-CPU second, printed after the criterion run.
fn cpu_throughput() {
    let adapter = adapter_for(Format::HousingSignal);
    let ctx = common::ctx("woonstad-noord");
    let dir = common::directory();
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let request = common::sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let batch = envelope(100);
    let measure = |name: &str, per_iter: u64, f: &mut dyn FnMut()| {
        let n = 20_000u64;
        let Some(start) = thread_cpu_ns() else { return };
        for _ in 0..n {
            f();
        }
        let Some(end) = thread_cpu_ns() else { return };
        let per_s = (n * per_iter) as f64 / ((end - start) as f64 / 1e9);
        println!("housing/{name}: {per_s:.0} messages per on-CPU second");
    };
    measure("decode_signal", 1, &mut || {
        adapter.decode(black_box(SIGNAL), &ctx).for_each(|r| {
            black_box(r.unwrap());
        })
    });
    measure("encode_signal", 1, &mut || {
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
        );
    });
    measure("decode_envelope_100 (per signal)", 100, &mut || {
        if black_box(true) {
            adapter.decode(black_box(&batch), &ctx).for_each(|r| {
                black_box(r.unwrap());
            })
        }
    });
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--bench") {
        cpu_throughput();
    }
}
