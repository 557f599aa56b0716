//! The fuzzing corpus (`fuzz/corpus/<target>/`, see fuzz/README.md) as a regression suite on
//! stable Rust: every input a fuzz target was seeded with or found goes through the same
//! decoder here, which must return (records or errors) without panicking. An input that once
//! crashed a decoder is added to its target's corpus, so it is checked on every test run.

mod common;

use std::path::PathBuf;

use common::ctx;
use wijkbrug_adapters::{adapter_for, care, case_json, Format};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Decodes every input of `target` as `format` from each of `senders`; returns how many
/// records decoded in all (so a test can tell the corpus holds valid messages too).
fn decode_corpus(target: &str, format: Format, senders: &[&str]) -> usize {
    let mut ok = 0;
    for (path, input) in corpus(target) {
        for sender in senders {
            let c = ctx(sender);
            for r in adapter_for(format).decode(&input, &c) {
                match r {
                    Ok(_) => ok += 1,
                    Err(e) => assert!(!e.rule.is_empty(), "{}: an empty rule", path.display()),
                }
            }
        }
    }
    ok
}

#[test]
fn fhir_referral_corpus() {
    assert!(decode_corpus("fhir_referral", Format::FhirR4, &["huisarts-de-linde"]) > 0);
}

#[test]
fn fhir_task_corpus() {
    assert!(decode_corpus("fhir_task", Format::FhirR4, &["huisarts-de-linde"]) > 0);
}

#[test]
fn fhir_consent_corpus() {
    let c = ctx("huisarts-de-linde");
    let mut ok = 0;
    for (path, input) in corpus("fhir_consent") {
        match care::decode_consent(&input, &c) {
            Ok(_) => ok += 1,
            Err(errors) => assert!(!errors.is_empty(), "{}", path.display()),
        }
    }
    assert!(ok > 0);
}

#[test]
fn iwmo_corpus() {
    assert!(
        decode_corpus(
            "iwmo",
            Format::Iwmo32,
            &["zorggroep-oost", "wijkteam-centrum"]
        ) > 0
    );
}

#[test]
fn housing_corpora() {
    for target in ["housing_signal", "housing_status", "housing_envelope"] {
        assert!(
            decode_corpus(target, Format::HousingSignal, &["woonstad-noord"]) > 0,
            "{target}"
        );
    }
}

#[test]
fn employment_corpora() {
    for target in ["employment_referral", "employment_status"] {
        assert!(
            decode_corpus(target, Format::EmploymentCsv, &["werkplein"]) > 0,
            "{target}"
        );
    }
}

#[test]
fn case_json_corpus() {
    assert!(decode_corpus("case_json", Format::CaseJson, &["werkplein"]) > 0);
    for (_, input) in corpus("case_json") {
        let _ = case_json::decode_tracked(&input);
        let _ = case_json::decode_request(&input);
    }
}
