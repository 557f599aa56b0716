//! The partner directory: partner ids and the codes other standards address them by, read
//! from `config/partners/*.toml` and the settings layers (`gateway.agb`).
//!
//! It reads the partner files with the same parser as [`crate::config::load`] but looks only
//! at what identifies a partner (id, sector, adapter, AGB and municipality codes), so
//! `wijkbrug translate` works on a configuration the gateway could not run on yet, e.g.
//! without a partner's secret in the environment.

use std::collections::HashMap;
use std::path::Path;

use wijkbrug_adapters::{Directory, DirectoryEntry, Format};

use crate::config::{self, ConfigProblem, Problems};

/// A partner as the directory knows it, with the format it speaks.
#[derive(Clone, Debug)]
pub struct KnownPartner {
    pub entry: DirectoryEntry,
    pub adapter: Format,
}

/// Loads the directory from a config folder, with the process environment. A missing folder
/// gives an empty directory.
pub fn load(config_dir: &Path) -> Result<(Directory, Vec<KnownPartner>), Vec<ConfigProblem>> {
    load_with_env(config_dir, config::process_env())
}

/// [`load`] with an explicit environment (`WIJKBRUG_ENVIRONMENT`, `WIJKBRUG__GATEWAY__AGB`).
pub fn load_with_env<I>(
    config_dir: &Path,
    env: I,
) -> Result<(Directory, Vec<KnownPartner>), Vec<ConfigProblem>>
where
    I: IntoIterator<Item = (String, String)>,
{
    let env: HashMap<String, String> = env.into_iter().collect();
    let mut problems = Problems::default();
    let gateway_agb = config::gateway_agb(config_dir, &env, &mut problems);
    let files = config::read_partner_files(config_dir, &mut problems);
    let identities: Vec<_> = files
        .iter()
        .map(|f| config::partner_identity(f, &mut problems))
        .collect();
    config::check_duplicate_ids(&files, &mut problems);
    if !problems.is_empty() {
        return Err(problems.into_vec());
    }
    let partners: Vec<KnownPartner> = identities
        .into_iter()
        .flatten()
        .map(|i| KnownPartner {
            entry: DirectoryEntry {
                partner: i.id,
                sector: i.sector,
                agb: i.agb,
                municipality: i.municipality,
            },
            adapter: i.adapter,
        })
        .collect();
    let directory = Directory {
        entries: partners.iter().map(|p| p.entry.clone()).collect(),
        gateway_agb,
    };
    Ok((directory, partners))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_does_not_need_the_partners_secrets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partners")).unwrap();
        std::fs::write(
            dir.path().join("partners/zorg-a.toml"),
            r#"
id = "zorg-a"
name = "Zorg A"
sector = "care"
adapter = "fhir-r4"
agb = "01001234"
token_hashes = []
[delivery]
kind = "push"
url = "https://zorg-a.example/in"
[delivery.auth]
kind = "bearer"
token_env = "ZORG_A_TOKEN_THAT_IS_NOT_SET"
"#,
        )
        .unwrap();
        let (directory, partners) = load_with_env(dir.path(), []).unwrap();
        assert_eq!(partners.len(), 1);
        assert_eq!(directory.entries[0].partner.as_str(), "zorg-a");
        assert_eq!(partners[0].adapter, Format::FhirR4);
        assert!(directory.gateway_agb.is_none());
    }

    #[test]
    fn a_bad_identity_field_is_still_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("partners")).unwrap();
        std::fs::write(
            dir.path().join("partners/zorg-a.toml"),
            "id = \"zorg-a\"\nsector = \"care\"\nadapter = \"hl7-v2\"\n",
        )
        .unwrap();
        let problems = load_with_env(dir.path(), []).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "adapter");
        assert!(problems[0].problem.contains("fhir-r4"));
    }
}
