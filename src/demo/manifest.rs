//! `demo-partners.toml` in the data directory: what a person needs to send their own message
//! into the running demo with curl: for each simulated partner its id, sector, format, content
//! type, intake URL and demo token (and where it receives), plus the staff accounts' tokens.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::network::DemoTokens;
use crate::config::{Config, Delivery};

/// The file's name, in the data directory.
pub const FILE_NAME: &str = "demo-partners.toml";

/// Example messages in the repository (test BSNs only), one per sector, by sending partner.
pub const EXAMPLES: [(&str, &str); 4] = [
    ("woonstad-noord", "examples/housing-signal.json"),
    (super::network::PROVIDER_ID, "examples/welfare-wmo315.xml"),
    ("huisarts-de-linde", "examples/care-fhir-bundle.json"),
    ("werkplein", "examples/employment-referral.csv"),
];

const HEADER: &str = "\
# The simulated partner systems of a running `wijkbrug demo`: send your own message into the
# demo as one of them, e.g.
#   curl -i -X POST <intake_url> -H 'Authorization: Bearer <token>' \\
#     -H 'Content-Type: <content_type>' --data-binary @<example>
# DEMO ONLY: these tokens are public (config/demo-tokens.toml); the file is rewritten on every
# start.

";

/// The whole file.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The gateway's base URL.
    pub gateway: String,
    /// The operations dashboard (log in with a staff token).
    pub dashboard: String,
    /// The API description.
    pub openapi: String,
    pub partner: Vec<PartnerEntry>,
    /// Staff accounts by name.
    pub staff: BTreeMap<String, StaffEntry>,
}

/// One simulated partner.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartnerEntry {
    pub id: String,
    pub name: String,
    pub sector: String,
    pub format: String,
    pub content_type: String,
    /// Where it sends its messages.
    pub intake_url: String,
    pub token: String,
    /// `push` (the gateway delivers to `endpoint`) or `mailbox` (it pulls from `mailbox_url`).
    pub delivery: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_url: Option<String>,
    /// An example message it could send, relative to the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// One staff account.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StaffEntry {
    pub role: String,
    pub token: String,
}

impl Manifest {
    /// The manifest of the demo running at `base` on `config` (with the simulated endpoints).
    pub fn new(base: &str, config: &Config, tokens: &DemoTokens) -> Self {
        let partner = config
            .partners
            .list
            .iter()
            .filter_map(|p| {
                let id = p.id.as_str();
                let (delivery, endpoint, mailbox_url) = match &p.delivery {
                    Delivery::Push { url, .. } => ("push", Some(url.to_string()), None),
                    Delivery::Mailbox => (
                        "mailbox",
                        None,
                        Some(format!("{base}/v1/partners/{id}/mailbox")),
                    ),
                };
                Some(PartnerEntry {
                    id: id.to_owned(),
                    name: p.name.clone(),
                    sector: p.sector.code().to_owned(),
                    format: p.adapter.code().to_owned(),
                    content_type: p.adapter.media_type().to_owned(),
                    intake_url: format!("{base}/v1/partners/{id}/messages"),
                    token: tokens.partner(id)?.to_owned(),
                    delivery: delivery.to_owned(),
                    endpoint,
                    mailbox_url,
                    example: EXAMPLES
                        .iter()
                        .find(|(sender, _)| *sender == id)
                        .map(|(_, file)| (*file).to_owned()),
                })
            })
            .collect();
        let staff = config
            .staff
            .accounts
            .iter()
            .filter_map(|a| {
                let token = tokens.staff.get(a.name.as_str())?;
                Some((
                    a.name.as_str().to_owned(),
                    StaffEntry {
                        role: a.role.code().to_owned(),
                        token: token.clone(),
                    },
                ))
            })
            .collect();
        Self {
            gateway: base.to_owned(),
            dashboard: format!("{base}/ops/"),
            openapi: format!("{base}/openapi.json"),
            partner,
            staff,
        }
    }

    /// The file's text.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        Ok(format!("{HEADER}{}", toml::to_string(self)?))
    }

    /// Writes the file into `data_dir`; its path.
    pub fn write(&self, data_dir: &Path) -> std::io::Result<PathBuf> {
        let text = self
            .to_toml()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let path = data_dir.join(FILE_NAME);
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::network::{self, DemoSettings, PROVIDER_ID};

    #[test]
    fn the_manifest_lists_every_partner_with_its_token_and_reads_back() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut config =
            crate::config::load_with_env(&root.join("config"), Vec::<(String, String)>::new())
                .unwrap();
        let settings = DemoSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: PathBuf::from("demo-data"),
        };
        network::apply(
            &mut config,
            &settings,
            reqwest::Url::parse("http://127.0.0.1:9/inbox").unwrap(),
        );
        let tokens = DemoTokens::read(&root.join("config")).unwrap();
        let m = Manifest::new("http://127.0.0.1:8080", &config, &tokens);
        assert_eq!(m.partner.len(), config.partners.list.len());
        let werkplein = m.partner.iter().find(|p| p.id == "werkplein").unwrap();
        assert_eq!(werkplein.delivery, "mailbox");
        assert_eq!(werkplein.content_type, "text/csv");
        assert_eq!(
            werkplein.mailbox_url.as_deref(),
            Some("http://127.0.0.1:8080/v1/partners/werkplein/mailbox")
        );
        let provider = m.partner.iter().find(|p| p.id == PROVIDER_ID).unwrap();
        assert_eq!(provider.format, "iwmo-3.2");
        assert_eq!(
            provider.endpoint.as_deref(),
            Some("http://127.0.0.1:9/inbox")
        );
        for (sender, file) in EXAMPLES {
            assert!(root.join(file).is_file(), "{file}");
            let p = m.partner.iter().find(|p| p.id == sender).unwrap();
            assert_eq!(p.example.as_deref(), Some(file));
        }
        assert_eq!(m.staff["demo-operations"].role, "operations");
        let text = m.to_toml().unwrap();
        assert!(text.starts_with("# The simulated partner systems"));
        let back: Manifest = toml::from_str(&text).unwrap();
        assert_eq!(back, m);
    }
}
