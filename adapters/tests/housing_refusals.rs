//! Data-driven refusals of the housing-signal adapter: every `fixtures/housing/refuse/<name>.*`
//! input is decoded and its errors (`location: rule`, one a line, in order) must equal
//! `<name>.errors`. Run with `BLESS=1` to (re)write the expected files, then review the diff.

mod common;

use std::fs;

use common::{ctx, fixture};
use wijkbrug_adapters::{adapter_for, Format, Record};

/// Values from the refusal inputs that are personal data and must never appear in a rule.
const PERSONAL: [&str; 7] = [
    "999900006",
    "999900018",
    "Berg",
    "Lindelaan",
    "Brussel",
    "B-1000",
    "Anna",
];

#[test]
fn every_refusal_fixture_gives_its_expected_errors() {
    let adapter = adapter_for(Format::HousingSignal);
    let dir = fixture("housing/refuse");
    let bless = std::env::var_os("BLESS").is_some();
    let mut inputs: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x != "errors"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 20, "refusal fixtures are missing");
    let mut failures = Vec::new();
    for input in inputs {
        let bytes = fs::read(&input).unwrap();
        let c = ctx("woonstad-noord");
        let mut got = String::new();
        for r in adapter.decode(&bytes, &c) {
            match r {
                Ok(Record::Referral(r)) => panic!(
                    "{}: decoded a referral ({}) from a refusal fixture",
                    input.display(),
                    r.request.source.reference
                ),
                Ok(Record::Status(_)) => {
                    panic!(
                        "{}: decoded a status from a refusal fixture",
                        input.display()
                    )
                }
                Err(e) => {
                    for p in PERSONAL {
                        assert!(
                            !e.rule.contains(p),
                            "{}: rule quotes {p}: {e}",
                            input.display()
                        );
                    }
                    got.push_str(&e.to_string());
                    got.push('\n');
                }
            }
        }
        assert!(!got.is_empty(), "{}: no errors", input.display());
        let expected_path = input.with_extension("errors");
        if bless {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != got {
            failures.push(format!(
                "{}\n--- expected\n{expected}--- got\n{got}",
                input.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
