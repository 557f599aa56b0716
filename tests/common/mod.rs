//! Shared support for the gateway tests: the real app on port 0 with a fresh store (a SQLite
//! file, or with `WIJKBRUG_TEST_STORE=postgres` a PostgreSQL database of its own: [`db`]) and
//! a copy of config/ that a test may change, and messages in each partner's own format.
#![allow(dead_code)]

pub mod db;
pub mod demo_process;
pub mod flaky_link;
pub mod gateway_process;
pub mod network;
pub mod ops_pages;
pub mod overview;
pub mod partner_server;
pub mod pki;
pub mod processing_logs;
pub mod store_fixtures;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use wijkbrug::server::{self, Running};
use wijkbrug::store::StoreCounts;
use wijkbrug_adapters::adapter::OutgoingReferral;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, Format};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Copies the repository's config/ to `to`.
pub fn copy_config_to(to: &Path) {
    copy_dir(&root().join("config"), to);
}

/// The demo partners' tokens of config/demo-tokens.toml, by partner id.
/// woonstad-noord's rent arrears signal about a demo resident who consented (housing JSON,
/// reference `HUUR-2026-0042`; routed to wijkteam-centrum).
pub fn rent_arrears_signal() -> Vec<u8> {
    std::fs::read(root().join("adapters/tests/fixtures/housing/accept/signal-single.json")).unwrap()
}

pub fn demo_tokens() -> HashMap<String, String> {
    demo_token_table(None)
}

/// The demo staff accounts' tokens of config/demo-tokens.toml (`[staff]`), by account name.
pub fn demo_staff_tokens() -> HashMap<String, String> {
    demo_token_table(Some("staff"))
}

fn demo_token_table(section: Option<&str>) -> HashMap<String, String> {
    let text = std::fs::read_to_string(root().join("config/demo-tokens.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let table = match section {
        Some(s) => table[s].as_table().unwrap().clone(),
        None => table,
    };
    table
        .into_iter()
        .filter_map(|(k, v)| Some((k, v.as_str()?.to_owned())))
        .collect()
}

/// A gateway under test.
pub struct TestApp {
    pub base: String,
    pub running: Running,
    pub config_dir: PathBuf,
    pub tokens: HashMap<String, String>,
    pub http: reqwest::Client,
    /// The temporary directory (config/, data/) and, on PostgreSQL, the test's database
    /// (dropped after the app, when the test ends).
    pub db: db::TestDb,
    /// The `env` it was started with (a restart uses it again).
    env: Vec<(String, String)>,
}

/// The token of an extra iWmo-speaking welfare provider some tests add.
pub const PROVIDER_TOKEN: &str = "wbt_test-zorgaanbieder-west";

impl TestApp {
    /// The gateway's OpenAPI description, as served at `/openapi.json`.
    pub async fn openapi(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/openapi.json", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}, &[]).await
    }

    /// Copies config/ into a temp dir, lets `change` edit it, and starts the gateway on it
    /// with `env` on top (as `WIJKBRUG__...` variables would be).
    pub async fn spawn_with(change: impl FnOnce(&Path), env: &[(&str, &str)]) -> Self {
        Self::spawn_on(db::TestDb::new().await, change, env).await
    }

    /// A second gateway instance on `first`'s PostgreSQL database (as behind a load
    /// balancer), with a config dir of its own and `[delivery] worker_id = worker`.
    pub async fn spawn_beside(first: &TestApp, worker: &str) -> Self {
        Self::spawn_on(
            db::TestDb::beside(&first.db),
            |_| {},
            &[("WIJKBRUG__DELIVERY__WORKER_ID", worker)],
        )
        .await
    }

    pub async fn spawn_on(
        db: db::TestDb,
        change: impl FnOnce(&Path),
        env: &[(&str, &str)],
    ) -> Self {
        let config_dir = db.dir.path().join("config");
        copy_dir(&root().join("config"), &config_dir);
        change(&config_dir);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let running = Self::start_on(&db, &config_dir, &env).await;
        let mut tokens = demo_tokens();
        tokens.insert("zorgaanbieder-west".into(), PROVIDER_TOKEN.into());
        Self {
            base: running.base_url(),
            running,
            config_dir,
            tokens,
            http: reqwest::Client::new(),
            db,
            env,
        }
    }

    async fn start_on(db: &db::TestDb, config_dir: &Path, env: &[(String, String)]) -> Running {
        let mut vars: Vec<(String, String)> = vec![
            ("WIJKBRUG__SERVER__LISTEN".into(), "127.0.0.1:0".into()),
            (
                "WIJKBRUG__STORE__DATA_DIR".into(),
                db.data_dir().display().to_string(),
            ),
            ("WIJKBRUG__STORE__URL".into(), db.url()),
        ];
        vars.extend(env.iter().cloned());
        let config = wijkbrug::config::load_with_env(config_dir, vars)
            .unwrap_or_else(|p| panic!("test config does not load: {p:#?}"));
        server::start(config).await.unwrap()
    }

    /// Stops the gateway and starts it again on the same store and configuration folder,
    /// which it reads afresh (as after an edit and a restart).
    pub async fn restart(self) -> Self {
        let Self {
            running,
            config_dir,
            tokens,
            http,
            db,
            env,
            ..
        } = self;
        running.stop().await.unwrap();
        let running = Self::start_on(&db, &config_dir, &env).await;
        Self {
            base: running.base_url(),
            running,
            config_dir,
            tokens,
            http,
            db,
            env,
        }
    }

    /// `WIJKBRUG__STORE__URL` and `WIJKBRUG__STORE__DATA_DIR` for a command on this app's store
    /// (e.g. `wijkbrug audit verify`).
    pub fn store_env(&self) -> [(&'static str, String); 2] {
        [
            ("WIJKBRUG__STORE__URL", self.db.url()),
            (
                "WIJKBRUG__STORE__DATA_DIR",
                self.db.data_dir().display().to_string(),
            ),
        ]
    }

    /// A raw connection to this app's database.
    pub async fn raw(&self) -> db::Raw {
        self.db.raw().await
    }

    /// Adds an iWmo-speaking welfare provider (AGB 42420002) to a config dir.
    pub fn add_welfare_provider(config_dir: &Path) {
        let hash = wijkbrug::auth::TokenHash::of(PROVIDER_TOKEN);
        let file = format!(
            r#"id = "zorgaanbieder-west"
name = "Zorgaanbieder West (Wmo provider)"
sector = "welfare"
adapter = "iwmo-3.2"
agb = "42420002"
token_hashes = ["{}"]
timeout_ms = 5000

[delivery]
kind = "mailbox"

[inbound_rate]
per_second = 100
burst = 100

[outbound_rate]
per_second = 10
burst = 10
"#,
            hash
        );
        std::fs::write(config_dir.join("partners/zorgaanbieder-west.toml"), file).unwrap();
    }

    pub fn token(&self, partner: &str) -> &str {
        self.tokens
            .get(partner)
            .map(String::as_str)
            .unwrap_or("no-such-token")
    }

    pub async fn post_message(
        &self,
        partner: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/partners/{partner}/messages", self.base))
            .bearer_auth(self.token(partner))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_referral(&self, as_partner: &str, id: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/v1/referrals/{id}", self.base))
            .bearer_auth(self.token(as_partner))
            .send()
            .await
            .unwrap()
    }

    pub async fn counts(&self) -> StoreCounts {
        self.running.state.store.counts().await.unwrap()
    }

    pub async fn stop(self) {
        self.running.stop().await.unwrap();
    }
}

pub fn pid(s: &str) -> PartnerId {
    PartnerId::parse(s).unwrap()
}

/// A referral about `bsn` from `sender` for `target`, with data in every category but finance
/// (and health when `health_need`).
pub fn request(
    sender: &str,
    reference: &str,
    bsn: &str,
    target: Target,
    health_need: bool,
) -> ReferralRequest {
    let mut needs = vec![Need {
        domain: LifeDomain::Finances,
        severity: Severity::new(2).unwrap(),
        note: Some(Note::parse("Huurachterstand van drie maanden").unwrap()),
    }];
    if health_need {
        needs.push(Need::new(
            LifeDomain::DailyLiving,
            Severity::new(2).unwrap(),
        ));
        needs.push(Need::new(
            LifeDomain::PhysicalHealth,
            Severity::new(3).unwrap(),
        ));
    }
    ReferralRequest {
        source: Source {
            partner: pid(sender),
            reference: ExternalRef::parse(reference).unwrap(),
        },
        target,
        urgency: Urgency::Urgent,
        requested_at: Utc.with_ymd_and_hms(2026, 11, 2, 9, 30, 0).unwrap(),
        resident: Resident {
            identity: Some(Identity {
                bsn: Bsn::parse(bsn).unwrap(),
                name: PersonName {
                    given_names: Some(PersonalText::parse("Anna").unwrap()),
                    initials: Some(PersonalText::parse("A.").unwrap()),
                    prefix: Some(PersonalText::parse("van den").unwrap()),
                    family_name: PersonalText::parse("Berkhout").unwrap(),
                },
                birth_date: chrono::NaiveDate::from_ymd_opt(1980, 4, 12),
                gender: Some(Gender::Female),
            }),
            contact: Some(Contact {
                address: Some(Address {
                    postcode: Postcode::parse("1234AB").unwrap(),
                    house_number: HouseNumber::new(12).unwrap(),
                    house_letter: None,
                    house_number_addition: None,
                    street: Some(PersonalText::parse("Lindelaan").unwrap()),
                    town: Some(PersonalText::parse("Utrecht").unwrap()),
                }),
                phone: Some(Phone::parse("06-12345678").unwrap()),
                email: None,
            }),
        },
        needs,
        note: Some(Note::parse("Graag bellen in de ochtend").unwrap()),
        finance: None,
    }
}

/// `request` in `format`, as that partner's system would send it.
pub fn native(format: Format, request: &ReferralRequest) -> Vec<u8> {
    let directory =
        wijkbrug::config::load_with_env(&root().join("config"), Vec::<(String, String)>::new())
            .unwrap()
            .partners
            .directory(Some(AgbCode::parse("98765432").unwrap()));
    let id = ReferralId::from_parts(1_762_000_000_000, [1; 10]);
    adapter_for(format)
        .encode_referral(OutgoingReferral { id, request }, &directory)
        .unwrap()
}

/// Words of the test residents that must never appear in logs or error messages.
pub const PERSONAL: &[&str] = &[
    "999900006",
    "999900018",
    "999900043",
    "Berkhout",
    "Lindelaan",
    "Huurachterstand",
    "Graag bellen",
    "Berg",
    "06-12345678",
];
