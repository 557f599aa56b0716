//! The demo's network: the configuration of `config/` with the demo's changes made in memory
//! (never in the files): the listen address and data directory from the command line, each
//! push partner's endpoint pointed at its simulated system on loopback, quicker retries, and
//! one more partner, a Wmo provider speaking iWmo, which only the demo runs. Also the demo
//! tokens of `config/demo-tokens.toml`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wijkbrug_adapters::model::{AgbCode, PartnerId, Sector};
use wijkbrug_adapters::{Directory, DirectoryEntry, Format};

use crate::auth::TokenHash;
use crate::config::{Config, Delivery, OutboundAuth, Partner, RateLimit};

/// The Wmo provider only the demo runs: a welfare organisation that asks the municipality's
/// desk for assignments (WMO315) and gets the answers (WMO301, WMO319) back.
pub const PROVIDER_ID: &str = "welzijn-west";
/// DEMO ONLY: the provider's API token, in plain text like the others in
/// `config/demo-tokens.toml`; it exists only while the demo runs.
pub const PROVIDER_TOKEN: &str = "wbt_demo-welzijn-west-not-a-secret";
const PROVIDER_NAME: &str = "Welzijn West (Wmo provider: social work and day activities)";
const PROVIDER_AGB: &str = "42420007";

/// The id the simulated systems know the gateway by: the sender of everything they receive.
/// In iWmo the gateway is the provider asking for an assignment (by its AGB code).
pub const GATEWAY_ID: &str = "wijkbrug";

/// The demo tokens: partners' and staff accounts', by id and account name.
#[derive(Clone, Debug, Default)]
pub struct DemoTokens {
    pub partners: BTreeMap<String, String>,
    pub staff: BTreeMap<String, String>,
}

impl DemoTokens {
    /// Reads `demo-tokens.toml` in the configuration folder, and adds the provider's token.
    pub fn read(config_dir: &Path) -> Result<Self, String> {
        let path = config_dir.join("demo-tokens.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (the demo needs the demo tokens)", path.display()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let strings = |t: &toml::Table| -> BTreeMap<String, String> {
            t.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        };
        let mut partners = strings(&table);
        partners.insert(PROVIDER_ID.to_owned(), PROVIDER_TOKEN.to_owned());
        let staff = table
            .get("staff")
            .and_then(toml::Value::as_table)
            .map(strings)
            .unwrap_or_default();
        Ok(Self { partners, staff })
    }

    /// A partner's token.
    pub fn partner(&self, id: &str) -> Option<&str> {
        self.partners.get(id).map(String::as_str)
    }

    /// The token of the first staff account with `role` in `config`.
    pub fn staff_with_role(&self, config: &Config, role: crate::access::Role) -> Option<&str> {
        config
            .staff
            .accounts
            .iter()
            .filter(|a| a.role == role)
            .find_map(|a| self.staff.get(a.name.as_str()))
            .map(String::as_str)
    }
}

/// The settings the demo runs with on top of the configuration.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
}

/// The demo's SQLite file, under the data directory.
pub const STORE_URL: &str = "sqlite://wijkbrug.db";

/// Changes the loaded configuration for the demo: listen address, the SQLite file under the
/// data directory, quicker delivery retries and circuit probes (so a partner's outage shows
/// within a minute), and
/// the provider, pushed to at `provider_url`.
pub fn apply(config: &mut Config, settings: &DemoSettings, provider_url: reqwest::Url) {
    config.settings.server.listen = settings.listen;
    config.settings.store.url = STORE_URL.to_owned();
    config.settings.store.data_dir = settings.data_dir.clone();
    config.settings.delivery.poll_interval = Duration::from_millis(100);
    config.settings.delivery.backoff_max = Duration::from_secs(20);
    // The circuit of a partner that is down opens, and probes again, within the outage's
    // quarter minute, so the dashboard shows both.
    config.settings.delivery.circuit_cooldown = Duration::from_secs(5);
    // The demo's own simulated partners answer within a second; a shorter grace keeps Ctrl-C
    // quick.
    config.settings.server.shutdown_grace = Duration::from_secs(5);
    if config.partners.get(PROVIDER_ID).is_none() {
        config.partners.list.extend(provider(provider_url));
    }
}

/// Points push partner `id` at `url` (its simulated system).
pub fn point_at(config: &mut Config, id: &str, url: reqwest::Url) {
    if let Some(p) = config
        .partners
        .list
        .iter_mut()
        .find(|p| p.id.as_str() == id)
    {
        if let Delivery::Push { url: u, .. } = &mut p.delivery {
            *u = url;
        }
    }
}

fn rate(per_second: u32, burst: u32) -> RateLimit {
    RateLimit {
        per_second: NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN),
        burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
    }
}

fn provider(url: reqwest::Url) -> Option<Partner> {
    Some(Partner {
        id: PartnerId::parse(PROVIDER_ID).ok()?,
        name: PROVIDER_NAME.to_owned(),
        sector: Sector::Welfare,
        adapter: Format::Iwmo32,
        delivery: Delivery::Push {
            url,
            auth: OutboundAuth::None,
            tls: None,
        },
        token_hashes: vec![TokenHash::of(PROVIDER_TOKEN)],
        client_certs: Vec::new(),
        inbound_rate: rate(50, 100),
        outbound_rate: rate(20, 40),
        timeout: Duration::from_secs(5),
        agb: Some(AgbCode::parse(PROVIDER_AGB).ok()?),
        municipality: None,
    })
}

/// The directory as the partners' own systems know it: every partner's codes, and the gateway
/// itself, which in iWmo is the provider asking the municipality for an assignment (its AGB
/// code) and the one a start or stop is reported for (the municipality's desk's code).
pub fn partner_directory(config: &Config) -> Directory {
    let mut directory = config
        .partners
        .directory(config.settings.gateway.agb.clone());
    let municipality = config
        .partners
        .list
        .iter()
        .find(|p| p.sector == Sector::Welfare && p.municipality.is_some())
        .and_then(|p| p.municipality.clone());
    if let Ok(gateway) = PartnerId::parse(GATEWAY_ID) {
        directory.entries.push(DirectoryEntry {
            partner: gateway,
            sector: Sector::Welfare,
            agb: config.settings.gateway.agb.clone(),
            municipality,
        });
    }
    directory
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    fn shipped() -> Config {
        crate::config::load_with_env(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
            Vec::<(String, String)>::new(),
        )
        .unwrap()
    }

    #[test]
    fn the_demo_changes_the_configuration_in_memory_only() {
        let mut config = shipped();
        let settings = DemoSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: PathBuf::from("/tmp/demo-data"),
        };
        apply(&mut config, &settings, url("http://127.0.0.1:9/inbox"));
        point_at(
            &mut config,
            "woonstad-noord",
            url("http://127.0.0.1:7/inbox"),
        );
        assert_eq!(config.settings.store.data_dir, settings.data_dir);
        assert_eq!(config.settings.store.url, STORE_URL);
        let provider = config.partners.get(PROVIDER_ID).unwrap();
        assert!(provider.token_hashes[0].matches(PROVIDER_TOKEN));
        assert!(
            matches!(&provider.delivery, Delivery::Push { url, .. } if url.as_str() == "http://127.0.0.1:9/inbox")
        );
        assert!(
            matches!(&config.partners.get("woonstad-noord").unwrap().delivery,
            Delivery::Push { url, .. } if url.as_str() == "http://127.0.0.1:7/inbox")
        );
        // Applying twice adds the provider once.
        apply(&mut config, &settings, url("http://127.0.0.1:9/inbox"));
        assert_eq!(
            config
                .partners
                .list
                .iter()
                .filter(|p| p.id.as_str() == PROVIDER_ID)
                .count(),
            1
        );
        let directory = partner_directory(&config);
        let gateway = directory
            .partner(&PartnerId::parse(GATEWAY_ID).unwrap())
            .unwrap();
        assert_eq!(gateway.agb, config.settings.gateway.agb);
        assert_eq!(
            directory.by_municipality("0384").unwrap().partner.as_str(),
            "wijkteam-centrum",
            "the desk's code still finds the desk"
        );
    }

    #[test]
    fn the_demo_tokens_are_read_with_the_providers() {
        let tokens =
            DemoTokens::read(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")).unwrap();
        let config = shipped();
        for p in &config.partners.list {
            let token = tokens.partner(p.id.as_str()).unwrap();
            assert!(p.token_hashes.iter().any(|h| h.matches(token)), "{}", p.id);
        }
        assert_eq!(tokens.partner(PROVIDER_ID), Some(PROVIDER_TOKEN));
        let ops = tokens
            .staff_with_role(&config, crate::access::Role::Operations)
            .unwrap();
        assert_eq!(
            config.staff.authenticate(ops).map(|a| a.role),
            Some(crate::access::Role::Operations)
        );
        assert!(DemoTokens::read(Path::new("/nonexistent")).is_err());
    }
}
