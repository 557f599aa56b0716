//! `wijkbrug translate`, run as integrators run it: the real binary, files and stdin.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wijkbrug() -> Command {
    let mut cmd = Command::cargo_bin("wijkbrug").unwrap();
    cmd.current_dir(root());
    cmd
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn list_names_every_format() {
    let out = wijkbrug().args(["translate", "--list"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for f in [
        "fhir-r4",
        "iwmo-3.2",
        "housing-signal",
        "employment-csv",
        "case-json",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(f)),
            "{f} missing in:\n{text}"
        );
    }
}

#[test]
fn a_case_json_referral_translates_to_itself_with_a_stable_id() {
    let run = || {
        wijkbrug()
            .args(["translate", "--from", "case-json", "--to", "case-json"])
            .arg(fixture("referral.case.json"))
            .output()
            .unwrap()
    };
    let (a, b) = (run(), run());
    assert!(a.status.success(), "{}", stderr_of(&a));
    assert_eq!(a.stdout, b.stdout, "the same input translates the same");
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["schema"], "wijkbrug.case/1");
    assert_eq!(v["requested_at"], "2026-11-02T08:30:00Z");
    let id = v["id"].as_str().unwrap();
    assert_eq!(&id[14..15], "7", "a UUID v7: {id}");
}

#[test]
fn stdin_is_read_when_no_file_is_given() {
    let input = std::fs::read(fixture("referral.case.json")).unwrap();
    let out = wijkbrug()
        .args(["translate", "--from", "case-json", "--to", "case-json", "-"])
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn bad_input_exits_2_with_one_line_per_problem_and_no_personal_data() {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("referral.case.json")).unwrap()).unwrap();
    v["resident"]["identity"]["bsn"] = "999900007".into();
    v["resident"]["contact"]["address"]["postcode"] = "Berg".into();
    v["needs"][0]["severity"] = 0.into();
    let out = wijkbrug()
        .args(["translate", "--from", "case-json", "--to", "case-json"])
        .write_stdin(v.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout when the input is bad"
    );
    let err = stderr_of(&out);
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(
        lines,
        [
            "error: /resident/identity/bsn: fails the 11-proef (BSN check digit)",
            "error: /resident/contact/address/postcode: must be a Dutch postcode: 4 digits (not starting with 0) and 2 letters, e.g. 1234AB",
            "error: /needs/0/severity: must be from 1 to 5 (self-sufficiency matrix score)",
        ]
    );
    for secret in ["999900007", "Berg", "Anna", "Lindelaan"] {
        assert!(!err.contains(secret), "{secret} leaked: {err}");
    }
}

#[test]
fn unknown_formats_and_missing_files_exit_1() {
    let out = wijkbrug()
        .args(["translate", "--from", "hl7v2", "--to", "case-json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("expected one of: fhir-r4, iwmo-3.2"));
    let out = wijkbrug()
        .args([
            "translate",
            "--from",
            "case-json",
            "--to",
            "case-json",
            "no/such/file.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no/such/file.json"));
}

#[test]
fn garbage_never_panics() {
    for from in [
        "fhir-r4",
        "iwmo-3.2",
        "housing-signal",
        "employment-csv",
        "case-json",
    ] {
        for input in [
            &b"\xff\xfe\x00garbage"[..],
            b"",
            b"<<<>>>",
            b"{{{{",
            b";;;;\n;;",
        ] {
            let out = wijkbrug()
                .args(["translate", "--from", from, "--to", "case-json"])
                .write_stdin(input)
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{from} on {input:?}: {}",
                stderr_of(&out)
            );
            assert!(!stderr_of(&out).contains("panicked"));
        }
    }
}

#[test]
fn out_dir_writes_one_file_per_record() {
    let dir = std::env::temp_dir().join(format!("wijkbrug-translate-{}", std::process::id()));
    let input = std::fs::read_to_string(fixture("referral.case.json")).unwrap();
    let batch = format!("[{input},{input}]");
    let out = wijkbrug()
        .args([
            "translate",
            "--from",
            "case-json",
            "--to",
            "case-json",
            "--out-dir",
        ])
        .arg(&dir)
        .write_stdin(batch)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    files.sort();
    assert_eq!(files, ["0001-referral.json", "0002-referral.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!Path::new(&dir).exists());
}

fn standards(rel: &str) -> PathBuf {
    root().join("../shared/standards").join(rel)
}

fn adapter_fixture(rel: &str) -> PathBuf {
    root().join("adapters/tests/fixtures").join(rel)
}

#[test]
fn the_vng_examples_are_refused_naming_the_bsn_field() {
    for example in ["enkelvoudigVoorbeeld.json", "meervoudigVoorbeeld.json"] {
        let out = wijkbrug()
            .args(["translate", "--from", "housing-signal", "--to", "case-json"])
            .arg(standards(&format!("vroegsignalering/{example}")))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{example}");
        let err = stderr_of(&out);
        assert!(
            err.lines().any(|l| l.starts_with("error: /leveringen/0/vroegsignalen/0/client/Burgerservicenummer: fails the 11-proef")),
            "{example}: {err}"
        );
        assert!(!err.contains("123456789"), "{example} leaked a BSN: {err}");
    }
}

#[test]
fn a_rent_arrears_signal_becomes_a_referral_for_welfare() {
    let out = wijkbrug()
        .args(["translate", "--from", "housing-signal", "--to", "case-json"])
        .arg(adapter_fixture("housing/accept/signal-single.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["source"]["partner"], "woonstad-noord",
        "the configured housing partner sends"
    );
    assert_eq!(v["target"]["sector"], "welfare");
    let domains: Vec<_> = v["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["domain"].as_str().unwrap())
        .collect();
    assert!(
        domains.contains(&"finances") && domains.contains(&"housing"),
        "{domains:?}"
    );
    assert!(v["finance"]["arrears_cents"].as_i64().unwrap() > 0);
}

#[test]
fn a_csv_with_bad_rows_names_line_and_column_of_each() {
    let out = wijkbrug()
        .args(["translate", "--from", "employment-csv", "--to", "case-json"])
        .arg(adapter_fixture("employment/bad-rows.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: line 3:5 (bsn): fails the 11-proef"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("error: line 5:3 (datum): must be a date dd-mm-jjjj"),
        "{err}"
    );
}

#[test]
fn a_csv_file_translates_to_one_json_array() {
    let out = wijkbrug()
        .args(["translate", "--from", "employment-csv", "--to", "case-json"])
        .arg(adapter_fixture("employment/example.csv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = v.as_array().map_or(1, Vec::len);
    let rows = std::fs::read_to_string(adapter_fixture("employment/example.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(n, rows);
}

#[test]
fn the_iwmo_315_sample_translates_and_what_comes_back_validates() {
    let xmllint = which_xmllint();
    let case = wijkbrug()
        .args(["translate", "--from", "iwmo-3.2", "--to", "case-json"])
        .arg(standards("iwmo-3.2/WMO315.xml"))
        .output()
        .unwrap();
    assert!(case.status.success(), "{}", stderr_of(&case));
    let v: serde_json::Value = serde_json::from_slice(&case.stdout).unwrap();
    assert_eq!(v["resident"]["identity"]["bsn"], "999900006");
    let back = wijkbrug()
        .args(["translate", "--from", "case-json", "--to", "iwmo-3.2"])
        .write_stdin(case.stdout)
        .output()
        .unwrap();
    assert!(back.status.success(), "{}", stderr_of(&back));
    let dir = std::env::temp_dir().join(format!("wijkbrug-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("315.xml");
    std::fs::write(&file, &back.stdout).unwrap();
    let out = std::process::Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .arg(standards("iwmo-3.2/WMO315.xsd"))
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_xml_with_a_dtd_is_refused() {
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><wmo315:Bericht xmlns:wmo315="http://www.istandaarden.nl/iwmo/3_2/wmo315/schema">&lol2;</wmo315:Bericht>"#;
    let out = wijkbrug()
        .args(["translate", "--from", "iwmo-3.2", "--to", "case-json"])
        .write_stdin(bomb)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).to_lowercase().contains("dtd")
            || stderr_of(&out).to_lowercase().contains("doctype"),
        "{}",
        stderr_of(&out)
    );
}

fn which_xmllint() -> &'static str {
    let found = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "xmllint is missing: install libxml2-utils (.ci/run does)"
    );
    "xmllint"
}
