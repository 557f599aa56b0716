//! The configuration folder of one run: a copy of `config/` with the changes a measurement
//! needs, written as files for the gateway process to read. The listen address, the store
//! and its data folder; every push partner (the Werkplein too, a mailbox partner in the demo)
//! pointed at its endpoint on loopback, or, for an intake-alone run, every partner a mailbox
//! partner (nothing is pushed); partner rate limits raised out of the way (the load is the
//! point); logs at `warn`; and the Wmo provider the demo adds in memory, as a file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use toml::{Table, Value};
use wijkbrug::auth::TokenHash;
use wijkbrug::demo::network::{PROVIDER_ID, PROVIDER_TOKEN};

/// The provider's partner file (as `wijkbrug::demo::network` builds it in memory).
const PROVIDER_AGB: &str = "42420007";

/// A rate no run reaches: inbound and outbound limits are not what is measured.
const UNLIMITED_RATE: i64 = 1_000_000;

/// What the run's configuration says.
#[derive(Clone, Debug)]
pub struct NetworkPlan {
    pub listen: SocketAddr,
    /// `sqlite://wijkbrug.db` (under `data_dir`) or a PostgreSQL URL.
    pub store_url: String,
    pub data_dir: PathBuf,
    /// Push endpoint by partner id; partners without one become mailbox partners.
    pub endpoints: HashMap<String, String>,
    /// The most deliveries in flight to one partner (`[delivery] per_partner_concurrency`).
    pub per_partner_concurrency: u32,
}

/// Copies `source` (a configuration folder such as `config/`) to `target` with the plan's
/// changes.
pub fn write(source: &Path, target: &Path, plan: &NetworkPlan) -> anyhow::Result<()> {
    copy_dir(source, target)?;
    let settings_path = target.join("default.toml");
    let mut settings = read_table(&settings_path)?;
    set(
        &mut settings,
        "server",
        "listen",
        plan.listen.to_string().into(),
    );
    set(&mut settings, "store", "url", plan.store_url.clone().into());
    set(
        &mut settings,
        "store",
        "data_dir",
        plan.data_dir.display().to_string().into(),
    );
    set(&mut settings, "log", "filter", "warn".into());
    set(
        &mut settings,
        "delivery",
        "per_partner_concurrency",
        i64::from(plan.per_partner_concurrency).into(),
    );
    write_table(&settings_path, &settings)?;

    let partners = target.join("partners");
    write_table(&partners.join(format!("{PROVIDER_ID}.toml")), &provider())?;
    for entry in std::fs::read_dir(&partners).context("reading partners/")? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let mut partner = read_table(&path)?;
        let id = partner
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{}: no id", path.display()))?
            .to_owned();
        for limit in ["inbound_rate", "outbound_rate"] {
            set(&mut partner, limit, "per_second", UNLIMITED_RATE.into());
            set(&mut partner, limit, "burst", UNLIMITED_RATE.into());
        }
        let mut delivery = Table::new();
        match plan.endpoints.get(&id) {
            Some(url) => {
                delivery.insert("kind".into(), "push".into());
                delivery.insert("url".into(), url.clone().into());
                let mut auth = Table::new();
                auth.insert("kind".into(), "none".into());
                delivery.insert("auth".into(), Value::Table(auth));
            }
            None => {
                delivery.insert("kind".into(), "mailbox".into());
            }
        }
        partner.insert("delivery".into(), Value::Table(delivery));
        write_table(&path, &partner)?;
    }
    Ok(())
}

/// The demo's Wmo provider (iWmo, AGB 42420007) as a partner file.
fn provider() -> Table {
    let mut t = Table::new();
    t.insert("id".into(), PROVIDER_ID.into());
    t.insert(
        "name".into(),
        "Welzijn West (Wmo provider, load generator)".into(),
    );
    t.insert("sector".into(), "welfare".into());
    t.insert("adapter".into(), "iwmo-3.2".into());
    t.insert("agb".into(), PROVIDER_AGB.into());
    t.insert(
        "token_hashes".into(),
        Value::Array(vec![TokenHash::of(PROVIDER_TOKEN).to_string().into()]),
    );
    t.insert("timeout_ms".into(), 5000.into());
    t
}

fn set(table: &mut Table, section: &str, key: &str, value: Value) {
    let entry = table
        .entry(section)
        .or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(t) = entry {
        t.insert(key.to_owned(), value);
    }
}

fn read_table(path: &Path) -> anyhow::Result<Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn write_table(path: &Path, table: &Table) -> anyhow::Result<()> {
    let text = toml::to_string(table).with_context(|| format!("writing {}", path.display()))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying to {}", target.display()))?;
        }
    }
    Ok(())
}
