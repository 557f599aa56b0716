//! The partner directory: partner ids and the codes other standards address them by, read
//! from `config/partners/*.toml` and `config/default.toml`.

use std::path::Path;

use serde::Deserialize;
use thiserror::Error;
use wijkbrug_adapters::model::{AgbCode, ModelError, MunicipalityCode, PartnerId, Sector};
use wijkbrug_adapters::{Directory, DirectoryEntry, Format};

/// The fields of a partner file the directory needs (the rest is the gateway's concern).
#[derive(Deserialize)]
struct PartnerFile {
    id: String,
    sector: String,
    adapter: String,
    agb: Option<String>,
    municipality: Option<String>,
}

#[derive(Deserialize, Default)]
struct DefaultsFile {
    #[serde(default)]
    gateway: GatewaySection,
}

#[derive(Deserialize, Default)]
struct GatewaySection {
    agb: Option<String>,
}

/// A partner as the directory knows it, with the format it speaks.
#[derive(Clone, Debug)]
pub struct KnownPartner {
    pub entry: DirectoryEntry,
    pub adapter: Format,
}

/// A problem in the configuration files, naming the file and the field.
#[derive(Debug, Error)]
pub enum DirectoryError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {field}: {rule}")]
    Field {
        file: String,
        field: &'static str,
        rule: ModelError,
    },
}

/// Loads the directory from a config folder. A missing folder gives an empty directory.
pub fn load(config_dir: &Path) -> Result<(Directory, Vec<KnownPartner>), Vec<DirectoryError>> {
    let mut errors = Vec::new();
    let mut directory = Directory::default();
    let mut partners = Vec::new();

    let defaults = config_dir.join("default.toml");
    if defaults.exists() {
        match read_toml::<DefaultsFile>(&defaults) {
            Ok(d) => {
                if let Some(agb) = d.gateway.agb {
                    match AgbCode::parse(&agb) {
                        Ok(a) => directory.gateway_agb = Some(a),
                        Err(rule) => errors.push(DirectoryError::Field {
                            file: defaults.display().to_string(),
                            field: "gateway.agb",
                            rule,
                        }),
                    }
                }
            }
            Err(e) => errors.push(e),
        }
    }

    let partners_dir = config_dir.join("partners");
    let mut files: Vec<_> = match std::fs::read_dir(&partners_dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    for file in files {
        let name = file.display().to_string();
        let pf = match read_toml::<PartnerFile>(&file) {
            Ok(pf) => pf,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let partner = field(&mut errors, &name, "id", PartnerId::parse(&pf.id));
        let sector = field(&mut errors, &name, "sector", pf.sector.parse::<Sector>());
        let adapter = field(&mut errors, &name, "adapter", pf.adapter.parse::<Format>());
        let agb = pf
            .agb
            .map(|a| field(&mut errors, &name, "agb", AgbCode::parse(&a)));
        let municipality = pf.municipality.map(|m| {
            field(
                &mut errors,
                &name,
                "municipality",
                MunicipalityCode::parse(&m),
            )
        });
        if let (Some(partner), Some(sector), Some(adapter), Some(agb), Some(municipality)) = (
            partner,
            sector,
            adapter,
            agb.map_or(Some(None), |a| a.map(Some)),
            municipality.map_or(Some(None), |m| m.map(Some)),
        ) {
            let entry = DirectoryEntry {
                partner,
                sector,
                agb,
                municipality,
            };
            directory.entries.push(entry.clone());
            partners.push(KnownPartner { entry, adapter });
        }
    }
    if errors.is_empty() {
        Ok((directory, partners))
    } else {
        Err(errors)
    }
}

fn field<T>(
    errors: &mut Vec<DirectoryError>,
    file: &str,
    field: &'static str,
    r: Result<T, ModelError>,
) -> Option<T> {
    r.map_err(|rule| {
        errors.push(DirectoryError::Field {
            file: file.to_owned(),
            field,
            rule,
        })
    })
    .ok()
}

fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, DirectoryError> {
    let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Read {
        file: path.display().to_string(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| DirectoryError::Parse {
        file: path.display().to_string(),
        message: e.message().to_owned(),
    })
}
