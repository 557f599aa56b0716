//! `wijkbrug check-config` and `wijkbrug partner token`, run as operators run them: the real
//! binary.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use wijkbrug::auth::TokenHash;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, in the repository, with no `WIJKBRUG` variables of the caller leaking in.
fn wijkbrug() -> Command {
    let mut cmd = Command::cargo_bin("wijkbrug").unwrap();
    cmd.current_dir(root());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("WIJKBRUG") {
            cmd.env_remove(k);
        }
    }
    cmd
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

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_shipped_configuration_checks_clean_with_a_summary() {
    let out = wijkbrug().args(["check-config"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("5 partners, 8 routing rules, 3 consents"),
        "{stdout}"
    );
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_broken_configuration_fails_with_one_line_a_problem_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("config"), dir.path());
    let d = dir.path();
    // A secret that is present (and must never be printed) next to four problems.
    edit(
        d,
        "partners/woonstad-noord.toml",
        "kind = \"none\"",
        "kind = \"bearer\"\ntoken_env = \"WOONSTAD_OUT\"",
    );
    edit(
        d,
        "partners/huisarts-de-linde.toml",
        "kind = \"none\"",
        "kind = \"bearer\"\ntoken_env = \"HUISARTS_OUT\"",
    );
    edit(
        d,
        "partners/werkplein.toml",
        "adapter = \"employment-csv\"",
        "adapter = \"excel\"",
    );
    edit(d, "default.toml", "filter = \"info\"", "filtre = \"info\"");
    edit(
        d,
        "routing.toml",
        "partner = \"woonstad-noord\"",
        "partner = \"woonstad-zuid\"",
    );

    let secret = "s3cret-value-that-must-not-appear";
    let out = wijkbrug()
        .args(["check-config", "--config"])
        .arg(d)
        .env("WOONSTAD_OUT", secret)
        .env("WIJKBRUG__SERVER__LISTEN", "localhost")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains(secret) && !stderr.contains(secret));

    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    let expected = [
        "default.toml: log.filtre: unknown key",
        "environment: server.listen: must be an IP address and port",
        "partners/werkplein.toml: adapter: unknown code \"excel\"",
        "partners/huisarts-de-linde.toml: delivery.auth.token_env: environment variable HUISARTS_OUT is not set",
        "routing.toml: rule[7].partner: unknown partner `woonstad-zuid`",
    ];
    for e in expected {
        assert!(
            errors.iter().any(|l| l.contains(e)),
            "no {e:?} in:\n{stderr}"
        );
    }
    assert_eq!(errors.len(), expected.len(), "{stderr}");
    assert!(stderr.contains("5 problem(s)"), "{stderr}");
}

#[test]
fn a_minted_token_hashes_to_the_printed_hash() {
    let out = wijkbrug().args(["partner", "token"]).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value = |label: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {label} in:\n{stdout}"))
            .to_owned()
    };
    let token = value("token:");
    let hash = value("hash:");
    assert!(token.starts_with("wbt_"));
    assert_eq!(TokenHash::parse(&hash), Ok(TokenHash::of(&token)));
    assert!(stdout.contains("token_hashes"));
    assert!(stdout.contains("config/partners/<id>.toml"));
    assert!(stdout.contains("safe channel"));

    let again = wijkbrug().args(["partner", "token"]).output().unwrap();
    assert!(!String::from_utf8(again.stdout).unwrap().contains(&token));
}
