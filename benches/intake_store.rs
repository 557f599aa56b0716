//! Durable intakes into a real SQLite file (WAL, synchronous = FULL): one at a time, and 64
//! at once, which the store's single writer groups into shared commits.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use wijkbrug::config::StoreSettings;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::{Intake, NewReferral, OutboxItem, OutboxKind, Store};
use wijkbrug_adapters::model::{Actor, ExternalRef, Referral, ReferralId, StatusHistory};

const SAMPLE: &str = include_str!("../tests/fixtures/referral.case.json");

fn new_referral(n: u64) -> NewReferral {
    let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).expect("fixture");
    let id = ReferralId::from_parts(1_760_000_000_000 + n, rand::random());
    doc["id"] = id.to_string().into();
    let (_, mut request) =
        wijkbrug_adapters::case_json::decode_request(doc.to_string().as_bytes()).expect("fixture");
    request.source.reference =
        ExternalRef::parse(&format!("B-{n}-{}", rand::random::<u32>())).expect("ref");
    let sender = request.source.partner.clone();
    NewReferral {
        referral: Referral {
            id,
            request,
            history: StatusHistory::received(
                wijkbrug::store::now(),
                Actor::Partner(sender.clone()),
            ),
        },
        shared: None,
        outbox: vec![OutboxItem {
            referral: id,
            recipient: sender,
            kind: OutboxKind::Referral,
        }],
        consents: vec![],
    }
}

fn intake(r: NewReferral) -> Intake {
    Intake {
        sender: r.referral.request.source.partner.clone(),
        idempotency_key: None,
        referrals: vec![r],
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = StoreSettings {
        url: "sqlite://bench.db".into(),
        data_dir: dir.path().to_path_buf(),
        max_connections: 8,
        group_commit_max_batch: 64,
        group_commit_max_wait: Duration::from_millis(2),
    };
    let store: Arc<SqliteStore> = rt.block_on(async {
        let s = SqliteStore::open(&settings).await.expect("open");
        s.migrate().await.expect("migrate");
        Arc::new(s)
    });
    let mut n = 0u64;
    let mut g = c.benchmark_group("intake_store");
    g.sample_size(20);
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_at_a_time", |b| {
        b.to_async(&rt).iter(|| {
            n += 1;
            let store = store.clone();
            let r = new_referral(n);
            async move { store.intake(intake(r)).await.expect("stored") }
        })
    });
    g.throughput(Throughput::Elements(64));
    g.bench_function("64_concurrent", |b| {
        b.to_async(&rt).iter(|| {
            let batch: Vec<_> = (0..64)
                .map(|_| {
                    n += 1;
                    new_referral(n)
                })
                .collect();
            let store = store.clone();
            async move {
                let tasks: Vec<_> = batch
                    .into_iter()
                    .map(|r| {
                        let store = store.clone();
                        tokio::spawn(async move { store.intake(intake(r)).await.expect("stored") })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("task");
                }
            }
        })
    });
    g.finish();
    let (commits, intakes) = store.commit_stats();
    println!(
        "group commit: {intakes} intakes in {commits} commits ({:.1} intakes a commit)",
        intakes as f64 / commits.max(1) as f64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
