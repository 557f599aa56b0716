//! The load generator counts right: a few referrals against a real gateway (in this process,
//! SQLite in a temporary folder) through real partner endpoints on loopback, and the plain
//! mode against its own sink. No timing is asserted.

use std::path::PathBuf;
use std::time::Duration;

use wijkbrug_loadgen::drive::{Load, Pace};
use wijkbrug_loadgen::gateway_run::{self, Launch, RunOptions};
use wijkbrug_loadgen::plain::{self, PostOptions, Sink};
use wijkbrug_loadgen::traffic::Mix;

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn closed(count: u64) -> Pace {
    Pace {
        load: Load::Closed { connections: 3 },
        duration: Duration::from_secs(120),
        count: Some(count),
        max_in_flight: 16,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_referral_is_counted_through_the_whole_loop() {
    let work = tempfile::tempdir().unwrap();
    let options = RunOptions {
        label: "smoke".into(),
        source_config: config_dir(),
        work_dir: work.path().to_owned(),
        store_url: None,
        mix: Mix::Demo,
        pace: closed(12),
        intake_only: false,
        status_loop: true,
        drain: Duration::from_secs(60),
        per_partner_concurrency: 4,
        seed_to: Some(500),
        dashboard_samples: 2,
    };
    let s = gateway_run::run(&options, &Launch::InProcess)
        .await
        .unwrap();
    assert_eq!(s.referrals_in_store_before, 500, "seeded");
    assert_eq!((s.sent, s.accepted, s.errors), (12, 12, 0), "{s:?}");
    assert_eq!(s.delivered, 12, "{s:?}");
    assert_eq!(s.unreadable_deliveries, 0, "{s:?}");
    assert_eq!((s.statuses_applied, s.status_errors), (12, 0), "{s:?}");
    assert_eq!(s.notices, 12, "every sender heard back: {s:?}");
    assert_eq!(s.intake.count, 12);
    assert_eq!(s.submission_to_delivery.count, 12);
    assert_eq!(s.submission_to_notice.count, 12);
    // The store's writer, from /metrics: 12 intakes, their status changes and deliveries.
    let writer = s.store_writer.expect("the writer's counters were read");
    assert!(
        writer.busy > 0.0 && writer.commits_per_s > 0.0,
        "{writer:?}"
    );
    assert!(
        writer.writes_per_commit.is_some_and(|w| w >= 1.0),
        "{writer:?}"
    );
    assert!(writer.commit_ms.is_some_and(|c| c > 0.0), "{writer:?}");
    assert!(writer.batch_ms >= writer.commit_ms, "{writer:?}");
    // Its batches by how long each took, from the gateway's histogram.
    assert!(
        writer
            .batches_within_5ms
            .is_some_and(|w| (0.0..=1.0).contains(&w)),
        "{writer:?}"
    );
    // The gateway's own histogram of its 202 answers: one for each referral of the run.
    let inside = s
        .gateway_intake
        .expect("the gateway's intake histogram was read");
    assert_eq!(inside.answered, 12.0, "{inside:?}");
    assert!(
        inside.within_10ms.is_some_and(|w| (0.0..=1.0).contains(&w)),
        "{inside:?}"
    );
    let dashboard = s.dashboard.unwrap();
    assert_eq!(dashboard.referrals_in_store, 512);
    assert_eq!(dashboard.overview.count, 2);

    // Intake alone on the same store: nothing is pushed.
    let options = RunOptions {
        intake_only: true,
        mix: Mix::Iwmo,
        pace: closed(5),
        seed_to: None,
        dashboard_samples: 0,
        ..options
    };
    let s = gateway_run::run(&options, &Launch::InProcess)
        .await
        .unwrap();
    assert_eq!(s.referrals_in_store_before, 512);
    assert_eq!((s.accepted, s.errors, s.delivered), (5, 0, 0), "{s:?}");
}

#[tokio::test]
async fn the_plain_mode_counts_what_it_posted_and_what_arrived() {
    let sink = Sink::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let options = PostOptions {
        label: "plain".into(),
        url: format!("http://{}/inbox", sink.addr),
        body: b"<Bericht/>".to_vec(),
        content_type: "application/xml".into(),
        pace: Pace {
            load: Load::Open { rate: 200.0 },
            ..closed(10)
        },
        pids: vec![std::process::id()],
        sink: None,
    };
    let s = plain::run(&options).await.unwrap();
    assert_eq!((s.sent, s.ok, s.errors), (10, 10, 0));
    assert_eq!(s.latency.count, 10);
    assert!(s.peer.unwrap().peak_rss_mib.is_some());
    assert_eq!(sink.stop().await, 10);
}
