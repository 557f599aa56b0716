//! The demo network on loopback: the gateway with its four push partners pointed at real
//! partner servers, quick delivery settings, and the demo staff accounts of config/staff.toml.

use std::time::Duration;

use wijkbrug_adapters::model::{ReferralId, ReferralStatus};

use super::partner_server::{point_partner_at, PartnerServer};
use super::TestApp;

/// How long a test waits for something asynchronous before it fails.
pub const WAIT: Duration = Duration::from_secs(20);
/// The demo operations account's token (config/demo-tokens.toml).
pub const OPS_TOKEN: &str = "wbt_demo-operations-not-a-secret";
/// The demo privacy officer's token.
pub const PRIVACY_TOKEN: &str = "wbt_demo-privacy-officer-not-a-secret";
/// The demo administrator's token.
pub const ADMIN_TOKEN: &str = "wbt_demo-admin-not-a-secret";

pub struct Network {
    pub app: TestApp,
    pub woonstad: PartnerServer,
    pub wijkteam: PartnerServer,
    pub huisarts: PartnerServer,
    pub thuiszorg: PartnerServer,
}

/// Starts the partner servers and the gateway; `env` comes on top of the quick settings.
pub async fn start(env: &[(&str, &str)]) -> Network {
    let woonstad = PartnerServer::start().await;
    let wijkteam = PartnerServer::start().await;
    let huisarts = PartnerServer::start().await;
    let thuiszorg = PartnerServer::start().await;
    let urls = [
        ("woonstad-noord", woonstad.url()),
        ("wijkteam-centrum", wijkteam.url()),
        ("huisarts-de-linde", huisarts.url()),
        ("thuiszorg-oost", thuiszorg.url()),
    ];
    let mut vars = vec![
        ("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20"),
        ("WIJKBRUG__DELIVERY__BACKOFF_BASE_MS", "20"),
        ("WIJKBRUG__DELIVERY__BACKOFF_MAX_SECS", "1"),
    ];
    vars.extend_from_slice(env);
    let app = TestApp::spawn_with(
        |dir| {
            for (p, url) in &urls {
                point_partner_at(dir, p, url);
            }
        },
        &vars,
    )
    .await;
    Network {
        app,
        woonstad,
        wijkteam,
        huisarts,
        thuiszorg,
    }
}

/// Waits (bounded by [`WAIT`]) until the referral has status `want`.
pub async fn wait_for_status(app: &TestApp, id: ReferralId, want: ReferralStatus) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = app
            .running
            .state
            .store
            .referral(id)
            .await
            .unwrap()
            .unwrap()
            .referral
            .status();
        if status == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}
