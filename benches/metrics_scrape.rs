//! The cost of one `/metrics` scrape ([`wijkbrug::metrics::render`]: the referral counts by
//! status and receiver, the outbox backlog per recipient, and the encoding) on a real SQLite
//! file holding `WIJKBRUG_BENCH_REFERRALS` referrals (default 100,000), each with one outbox
//! row still pending: the worst case for the backlog query, which reads pending rows only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use wijkbrug::app::AppState;
use wijkbrug::config::StoreSettings;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::{Intake, NewReferral, OutboxItem, OutboxKind, Store};
use wijkbrug_adapters::model::{Actor, ExternalRef, Referral, ReferralId, StatusHistory};

const SAMPLE: &str = include_str!("../tests/fixtures/referral.case.json");
const BATCH: usize = 500;

fn new_referral(n: u64) -> NewReferral {
    let mut doc: serde_json::Value = serde_json::from_str(SAMPLE).expect("fixture");
    let id = ReferralId::from_parts(1_760_000_000_000 + n, rand::random());
    doc["id"] = id.to_string().into();
    let (_, mut request) =
        wijkbrug_adapters::case_json::decode_request(doc.to_string().as_bytes()).expect("fixture");
    request.source.reference = ExternalRef::parse(&format!("S-{n}")).expect("ref");
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

fn bench(c: &mut Criterion) {
    let referrals: usize = std::env::var("WIJKBRUG_BENCH_REFERRALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
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
    let config_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config = wijkbrug::config::load_with_env(&config_dir, Vec::<(String, String)>::new())
        .expect("the shipped config loads");
    let state = rt.block_on(async {
        let store = SqliteStore::open(&settings).await.expect("open");
        store.migrate().await.expect("migrate");
        let started = Instant::now();
        let mut n = 0u64;
        while (n as usize) < referrals {
            let batch: Vec<NewReferral> = (0..BATCH.min(referrals - n as usize))
                .map(|_| {
                    n += 1;
                    new_referral(n)
                })
                .collect();
            let sender = batch[0].referral.request.source.partner.clone();
            store
                .intake(Intake {
                    sender,
                    idempotency_key: None,
                    referrals: batch,
                })
                .await
                .expect("stored");
        }
        println!("filled {n} referrals in {:.1?}", started.elapsed());
        let store: Arc<dyn Store> = Arc::new(store);
        Arc::new(AppState::new(config, store))
    });
    let mut g = c.benchmark_group("metrics_scrape");
    g.sample_size(10);
    g.bench_function(format!("render_{referrals}_referrals"), |b| {
        b.to_async(&rt).iter(|| {
            let state = state.clone();
            async move {
                wijkbrug::metrics::render(&state, wijkbrug::store::now())
                    .await
                    .expect("rendered")
            }
        })
    });
    g.bench_function("referral_counts", |b| {
        b.to_async(&rt).iter(|| {
            let state = state.clone();
            async move { state.store.referral_counts().await.expect("counted") }
        })
    });
    g.bench_function("outbox_backlog", |b| {
        b.to_async(&rt).iter(|| {
            let state = state.clone();
            async move {
                state
                    .store
                    .outbox_backlog(wijkbrug::store::now())
                    .await
                    .expect("read")
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
