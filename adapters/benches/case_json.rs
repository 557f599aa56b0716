//! Criterion benchmarks of case-json: decode and encode of a referral like the fixtures.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wijkbrug_adapters::adapter::OutgoingReferral;
use wijkbrug_adapters::case_json::CaseJson;
use wijkbrug_adapters::model::{PartnerId, ReferralId};
use wijkbrug_adapters::{Adapter, DecodeContext, Directory, Record};

const SAMPLE: &str = include_str!("../../tests/fixtures/referral.case.json");

fn bench(c: &mut Criterion) {
    let ctx = DecodeContext {
        sender: PartnerId::parse("woonstad-noord").expect("valid id"),
        directory: Directory::default(),
    };
    let mut g = c.benchmark_group("case-json");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode referral", |b| {
        b.iter(|| {
            let n = CaseJson
                .decode(SAMPLE.as_bytes(), &ctx)
                .filter(Result::is_ok)
                .count();
            assert_eq!(n, 1);
        })
    });
    let Some(Ok(Record::Referral(r))) = CaseJson.decode(SAMPLE.as_bytes(), &ctx).next() else {
        panic!("the sample decodes");
    };
    let id = ReferralId::from_parts(1_760_000_000_000, [3; 10]);
    g.bench_function("encode referral", |b| {
        b.iter(|| {
            CaseJson
                .encode_referral(
                    OutgoingReferral {
                        id,
                        request: &r.request,
                    },
                    &ctx.directory,
                )
                .expect("encodes")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
