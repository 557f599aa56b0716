//! The gateway process is killed (SIGKILL) while deliveries are in flight; after a restart on
//! the same data every accepted referral reaches the partner, and duplicates on the wire carry
//! the same Idempotency-Key. SQLite only (the gateway's default store: its file survives the
//! kill); two processes on PostgreSQL, one killed, are tests/scale_out.rs.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::gateway_process::GatewayProcess;
use common::partner_server::{point_partner_at, PartnerServer, Reply};
use common::*;
use wijkbrug_adapters::model::{Sector, Target};
use wijkbrug_adapters::Format;

/// Starts `wijkbrug serve` on a config dir and data dir, with a short lease and quick retries.
fn start_gateway(config: &std::path::Path, data: &std::path::Path) -> GatewayProcess {
    GatewayProcess::serve(
        config,
        &[
            ("WIJKBRUG__STORE__DATA_DIR", data.display().to_string()),
            ("WIJKBRUG__DELIVERY__LEASE_SECS", "3".into()),
            ("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20".into()),
            ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "20".into()),
            ("WIJKBRUG__DELIVERY__BACKOFF_MAX_SECS", "1".into()),
        ],
    )
}

#[tokio::test]
async fn after_a_kill_and_a_restart_every_accepted_referral_is_delivered() {
    let partner = PartnerServer::start().await;
    // Slow answers keep deliveries in flight when the process dies.
    partner.script((0..6).map(|_| Reply::Slow(Duration::from_millis(300))));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let data = dir.path().join("data");
    copy_config_to(&config);
    point_partner_at(&config, "wijkteam-centrum", &partner.url());
    // Attempts must fit the (short) lease of this test.
    for p in [
        "woonstad-noord",
        "wijkteam-centrum",
        "huisarts-de-linde",
        "thuiszorg-oost",
        "werkplein",
    ] {
        let file = config.join(format!("partners/{p}.toml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("timeout_ms") {
                    "timeout_ms = 1000".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&file, text.join("\n") + "\n").unwrap();
    }

    let mut first = start_gateway(&config, &data);
    let addr = first.base.clone();
    let http = reqwest::Client::new();
    let token = demo_tokens()["werkplein"].clone();
    let mut accepted = BTreeSet::new();
    for i in 0..20 {
        let csv = native(
            Format::EmploymentCsv,
            &request(
                "werkplein",
                &format!("WP-K{i}"),
                "999900006",
                Target::Sector(Sector::Welfare),
                false,
            ),
        );
        let res = http
            .post(format!("{addr}/v1/partners/werkplein/messages"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        let v: serde_json::Value = res.json().await.unwrap();
        accepted.insert(v["accepted"][0]["referral_id"].as_str().unwrap().to_owned());
    }
    partner.wait_for(2, Duration::from_secs(20)).await;
    first.kill();

    let mut second = start_gateway(&config, &data);
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        let got: BTreeSet<String> = partner.received().into_iter().map(|r| r.referral).collect();
        if accepted.is_subset(&got) || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    second.kill();
    let missing: Vec<_> = accepted.difference(&delivered).collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    // Every copy of a referral on the wire carries the same key.
    let mut keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in partner.received() {
        keys.entry(r.referral)
            .or_default()
            .insert(r.idempotency_key);
    }
    for (referral, k) in keys {
        assert_eq!(k.len(), 1, "{referral} was sent with different keys: {k:?}");
    }
}
