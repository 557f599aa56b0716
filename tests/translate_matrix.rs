//! Every referral fixture of every adapter, translated into every format: each translation
//! works or refuses with a clear reason, iWmo output validates against the XSD, and the
//! resident's identity survives the trip through each format and back.

use std::path::{Path, PathBuf};

use wijkbrug::{directory, translate};
use wijkbrug_adapters::model::PartnerId;
use wijkbrug_adapters::{DecodeContext, Format};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Referral fixtures per format, as a partner of that sector would send them.
fn referral_fixtures() -> Vec<(Format, PathBuf)> {
    let f = |rel: &str| root().join("adapters/tests/fixtures").join(rel);
    vec![
        (Format::FhirR4, f("care/referral-bsn-uri.json")),
        (Format::FhirR4, f("care/referral-bsn-oid.json")),
        (Format::FhirR4, f("care/referral-sector-message.json")),
        (
            Format::Iwmo32,
            root().join("../shared/standards/iwmo-3.2/WMO315.xml"),
        ),
        (Format::Iwmo32, f("welfare/wmo315-default-namespace.xml")),
        (
            Format::HousingSignal,
            f("housing/accept/signal-single.json"),
        ),
        (
            Format::HousingSignal,
            f("housing/accept/signal-minimal-crisis.json"),
        ),
        (Format::EmploymentCsv, f("employment/referral-bom.csv")),
        (Format::EmploymentCsv, f("employment/referral-no-bom.csv")),
        (
            Format::CaseJson,
            root().join("tests/fixtures/referral.case.json"),
        ),
    ]
}

fn context(from: Format, input: &[u8]) -> DecodeContext {
    let (directory, partners) = directory::load(&root().join("config")).expect("config/ loads");
    let sender = translate::default_sender(&partners, from, input);
    DecodeContext {
        sender: PartnerId::parse(&sender).unwrap(),
        directory,
    }
}

fn bsns(case_json: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(case_json).unwrap();
    let docs = match v {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    docs.iter()
        .filter_map(|d| {
            d.pointer("/resident/identity/bsn")
                .and_then(|b| b.as_str())
                .map(str::to_owned)
        })
        .collect()
}

fn xmllint_valid(xsd: &Path, file: &Path) -> Result<(), String> {
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd)
        .arg(file)
        .output()
        .map_err(|e| {
            format!("xmllint could not run ({e}): install libxml2-utils (.ci/run does)")
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn every_referral_fixture_translates_into_every_format_or_says_what_is_missing() {
    let scratch = std::env::temp_dir().join(format!("wijkbrug-matrix-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let xsd = root().join("../shared/standards/iwmo-3.2/WMO315.xsd");
    let mut checked = 0;
    for (from, path) in referral_fixtures() {
        let input = std::fs::read(&path).unwrap();
        let ctx = context(from, &input);
        let reference = translate::translate(&input, from, Format::CaseJson, &ctx)
            .unwrap_or_else(|p| panic!("{} does not decode: {:?}", path.display(), p));
        let reference = translate::join(Format::CaseJson, &reference.records).unwrap();
        let expected_bsns = bsns(&reference);
        assert!(!expected_bsns.is_empty(), "{}", path.display());
        for to in Format::ALL {
            let name = format!("{} -> {to}", path.file_name().unwrap().to_string_lossy());
            match translate::translate(&input, from, to, &ctx) {
                Ok(t) => {
                    for (i, rec) in t.records.iter().enumerate() {
                        if to == Format::Iwmo32 {
                            let file = scratch.join(format!("{checked}-{i}.xml"));
                            std::fs::write(&file, &rec.bytes).unwrap();
                            xmllint_valid(&xsd, &file).unwrap_or_else(|e| panic!("{name}: {e}"));
                        }
                        // Back to case-json through the target format's own decoder, as if the
                        // original sender had sent it in that format.
                        let back_ctx = DecodeContext {
                            sender: ctx.sender.clone(),
                            directory: ctx.directory.clone(),
                        };
                        let back =
                            translate::translate(&rec.bytes, to, Format::CaseJson, &back_ctx)
                                .unwrap_or_else(|p| {
                                    panic!("{name}: output does not decode again: {p:?}")
                                });
                        let back = translate::join(Format::CaseJson, &back.records).unwrap();
                        assert_eq!(
                            bsns(&back),
                            expected_bsns[i..=i],
                            "{name}: the resident changed"
                        );
                    }
                }
                Err(problems) => {
                    // Only a format that needs data (or a partner code) the input lacks may refuse, and it
                    // says so.
                    for p in &problems {
                        let says_what = p.0.contains("requires")
                            || p.0.contains("the directory has none for it");
                        assert!(
                            p.0.starts_with("record ") && says_what,
                            "{name}: unexpected refusal: {}",
                            p.0
                        );
                    }
                }
            }
            checked += 1;
        }
    }
    std::fs::remove_dir_all(&scratch).unwrap();
    assert_eq!(checked, referral_fixtures().len() * Format::ALL.len());
}
