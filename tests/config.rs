//! The configuration: the shipped demo network loads clean, a broken one reports every
//! problem at once, environment layers win, tokens authenticate, rules route.
//!
//! Environment-dependent loading goes through `load_with_env`, so no test touches the
//! process-global environment.

use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use secrecy::ExposeSecret;
use wijkbrug::auth::{mint_token, TokenHash};
use wijkbrug::config::{load_with_env, ConfigProblem, Delivery, LogFormat, OutboundAuth};
use wijkbrug_adapters::model::{
    Address, Contact, DataCategory, ExternalRef, Grantee, HouseNumber, LifeDomain, Need, PartnerId,
    Postcode, ReferralRequest, Resident, Sector, Severity, Source, Target, Urgency,
};

fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
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

/// A copy of the shipped configuration to break.
fn copy_of_shipped() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shipped(), dir.path());
    dir
}

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn append(dir: &Path, file: &str, text: &str) {
    let path = dir.join(file);
    let mut old = std::fs::read_to_string(&path).unwrap_or_default();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

fn demo_tokens() -> toml::Table {
    std::fs::read_to_string(shipped().join("demo-tokens.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

fn request(domains: &[LifeDomain], postcode: Option<&str>) -> ReferralRequest {
    ReferralRequest {
        source: Source {
            // A sender that no rule names (a rule naming the sender is passed over).
            partner: PartnerId::parse("buurthuis-test").unwrap(),
            reference: ExternalRef::parse("WT-1").unwrap(),
        },
        target: Target::Sector(Sector::Care),
        urgency: Urgency::Routine,
        requested_at: Utc.with_ymd_and_hms(2025, 3, 1, 9, 0, 0).unwrap(),
        resident: Resident {
            identity: None,
            contact: postcode.map(|p| Contact {
                address: Some(Address {
                    postcode: Postcode::parse(p).unwrap(),
                    house_number: HouseNumber::new(1).unwrap(),
                    house_letter: None,
                    house_number_addition: None,
                    street: None,
                    town: None,
                }),
                phone: None,
                email: None,
            }),
        },
        needs: domains
            .iter()
            .map(|d| Need::new(*d, Severity::new(3).unwrap()))
            .collect(),
        note: None,
        finance: None,
    }
}

/// Asserts a problem in a file ending in `file`, at `key`, whose text contains `says`.
fn assert_reported(problems: &[ConfigProblem], file: &str, key: &str, says: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.source.ends_with(file) && p.key == key && p.problem.contains(says)),
        "no problem {file}: {key}: ...{says}... among:\n{}",
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_shipped_configuration_loads_without_problems() {
    let cfg = load_with_env(&shipped(), no_env()).unwrap_or_else(|problems| {
        panic!(
            "{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert_eq!(cfg.partners.list.len(), 5);
    assert_eq!(cfg.settings.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.settings.server.body_limit_bytes, 8 * 1024 * 1024);
    assert_eq!(cfg.settings.server.max_requests_in_flight, 512);
    assert_eq!(cfg.settings.log.format, LogFormat::Text);
    assert_eq!(cfg.settings.store.group_commit_max_batch, 64);
    assert_eq!(
        cfg.settings.gateway.agb.as_ref().map(|a| a.as_str()),
        Some("98765432")
    );

    let wijkteam = cfg.partners.get("wijkteam-centrum").unwrap();
    assert_eq!(wijkteam.sector, Sector::Welfare);
    assert_eq!(
        wijkteam.municipality.as_ref().map(|m| m.as_str()),
        Some("0384")
    );
    assert!(matches!(
        &wijkteam.delivery,
        Delivery::Push { url, auth: OutboundAuth::None, tls: None } if url.as_str().starts_with("http://127.0.0.1:1808")
    ));
    let werkplein = cfg.partners.get("werkplein").unwrap();
    assert!(matches!(werkplein.delivery, Delivery::Mailbox));
    assert_eq!(
        cfg.partners
            .get("thuiszorg-oost")
            .and_then(|p| p.agb.as_ref())
            .map(|a| a.as_str()),
        Some("42420001")
    );
}

#[test]
fn the_demo_consents_cover_what_the_demo_needs() {
    let cfg = load_with_env(&shipped(), no_env()).unwrap();
    let of = |bsn: &str| {
        cfg.consents
            .iter()
            .filter(|c| c.resident.as_str() == bsn)
            .collect::<Vec<_>>()
    };
    assert!(of("999900043").is_empty());
    let welfare = of("999900006");
    assert!(welfare
        .iter()
        .any(|c| c.grantee == Grantee::Sector(Sector::Welfare)
            && c.categories.contains(DataCategory::Identity)
            && c.categories.contains(DataCategory::Needs)
            && !c.covers_health()));
    assert!(of("999900018")
        .iter()
        .any(|c| c.grantee == Grantee::Sector(Sector::Care) && c.covers_health()));
}

#[test]
fn a_broken_configuration_reports_every_problem_at_once() {
    let dir = copy_of_shipped();
    let d = dir.path();
    // Settings: an unknown key, an address that is not one, a zero.
    edit(
        d,
        "default.toml",
        "listen = \"127.0.0.1:8080\"",
        "listen = \"everywhere\"\nlisten_backlog = 5",
    );
    edit(
        d,
        "default.toml",
        "max_connections = 8",
        "max_connections = 0",
    );
    // Partners: a bad adapter, an unknown key, a bad hash, a mailbox with a URL, a missing
    // secret, a zero rate, a bad URL scheme, a duplicate id in a misnamed file.
    edit(
        d,
        "partners/thuiszorg-oost.toml",
        "adapter = \"fhir-r4\"",
        "adapter = \"hl7-v2\"",
    );
    edit(
        d,
        "partners/huisarts-de-linde.toml",
        "timeout_ms = 5000",
        "timeout_ms = 5000\ncolour = \"green\"",
    );
    edit(
        d,
        "partners/huisarts-de-linde.toml",
        "token_hashes = [\"sha256:",
        "token_hashes = [\"md5:",
    );
    edit(
        d,
        "partners/werkplein.toml",
        "kind = \"mailbox\"",
        "kind = \"mailbox\"\nurl = \"http://127.0.0.1:18085/inbox\"",
    );
    edit(
        d,
        "partners/woonstad-noord.toml",
        "kind = \"none\"",
        "kind = \"bearer\"\ntoken_env = \"WOONSTAD_NOORD_OUTBOUND_TOKEN\"",
    );
    edit(
        d,
        "partners/wijkteam-centrum.toml",
        "per_second = 20",
        "per_second = 0",
    );
    edit(
        d,
        "partners/wijkteam-centrum.toml",
        "url = \"http://",
        "url = \"ftp://",
    );
    std::fs::copy(
        d.join("partners/werkplein.toml"),
        d.join("partners/werkplein-2.toml"),
    )
    .unwrap();
    // A partner without any token hash.
    edit(
        d,
        "partners/thuiszorg-oost.toml",
        "token_hashes = [\"",
        "old_hashes = [\"",
    );
    // Routing: an unknown partner, a partner of another sector, a bad domain.
    append(
        d,
        "routing.toml",
        "\n[[rule]]\nto_sector = \"care\"\npartner = \"apotheek-west\"\n\n[[rule]]\nto_sector = \"care\"\npartner = \"werkplein\"\n\n[[rule]]\nto_sector = \"welfare\"\ndomain = \"money\"\npartner = \"wijkteam-centrum\"\n",
    );
    // Consents: an invalid BSN, an unknown grantee.
    append(
        d,
        "consents/demo.toml",
        "\n[[consent]]\nresident = \"999900030\"\ngrantee_partner = \"apotheek-west\"\ncategories = [\"identity\"]\nvalid_from = 2025-01-01\nrecorded_by = \"woonstad-noord\"\n",
    );

    let problems = load_with_env(d, no_env()).unwrap_err();

    assert_reported(
        &problems,
        "default.toml",
        "server.listen_backlog",
        "unknown key",
    );
    assert_reported(
        &problems,
        "default.toml",
        "server.listen_backlog",
        "listen, ",
    );
    assert_reported(
        &problems,
        "default.toml",
        "server.listen",
        "IP address and port",
    );
    assert_reported(
        &problems,
        "default.toml",
        "store.max_connections",
        "at least 1",
    );
    assert_reported(
        &problems,
        "partners/thuiszorg-oost.toml",
        "adapter",
        "fhir-r4, iwmo-3.2",
    );
    assert_reported(
        &problems,
        "partners/thuiszorg-oost.toml",
        "old_hashes",
        "unknown key",
    );
    assert_reported(
        &problems,
        "partners/thuiszorg-oost.toml",
        "token_hashes",
        "at least one token hash",
    );
    assert_reported(
        &problems,
        "partners/huisarts-de-linde.toml",
        "colour",
        "unknown key",
    );
    assert_reported(
        &problems,
        "partners/huisarts-de-linde.toml",
        "token_hashes[0]",
        "sha256:",
    );
    assert_reported(
        &problems,
        "partners/werkplein.toml",
        "delivery.url",
        "mailbox",
    );
    assert_reported(
        &problems,
        "partners/woonstad-noord.toml",
        "delivery.auth.token_env",
        "WOONSTAD_NOORD_OUTBOUND_TOKEN is not set",
    );
    assert_reported(
        &problems,
        "partners/wijkteam-centrum.toml",
        "outbound_rate.per_second",
        "at least 1",
    );
    assert_reported(
        &problems,
        "partners/wijkteam-centrum.toml",
        "delivery.url",
        "http:// or https://",
    );
    assert_reported(
        &problems,
        "partners/werkplein-2.toml",
        "id",
        "duplicate partner id `werkplein`",
    );
    assert_reported(
        &problems,
        "partners/werkplein-2.toml",
        "id",
        "partners/werkplein.toml",
    );
    assert_reported(
        &problems,
        "routing.toml",
        "rule[8].partner",
        "unknown partner `apotheek-west`",
    );
    assert_reported(
        &problems,
        "routing.toml",
        "rule[9].partner",
        "employment sector",
    );
    assert_reported(&problems, "routing.toml", "rule[10].domain", "finances");
    assert_reported(
        &problems,
        "consents/demo.toml",
        "consent[3].resident",
        "11-proef",
    );
    assert_reported(
        &problems,
        "consents/demo.toml",
        "consent[3].grantee_partner",
        "unknown partner",
    );
    // A thuiszorg-oost with a bad adapter is still a known partner: its routes are not
    // reported as going to an unknown partner.
    assert!(!problems
        .iter()
        .any(|p| p.problem.contains("unknown partner `thuiszorg-oost`")));
    // Each problem once, and the invalid BSN never echoed.
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for (i, l) in lines.iter().enumerate() {
        assert!(!lines[..i].contains(l), "reported twice: {l}");
        assert!(!l.contains("999900030"), "BSN echoed: {l}");
    }
}

#[test]
fn a_secret_is_read_from_the_named_variable_and_never_shown() {
    let dir = copy_of_shipped();
    edit(
        dir.path(),
        "partners/woonstad-noord.toml",
        "kind = \"none\"",
        "kind = \"basic\"\nusername = \"wijkbrug\"\npassword_env = \"WOONSTAD_PASSWORD\"",
    );
    let secret = "correct-horse-battery-staple";
    let cfg = load_with_env(dir.path(), env(&[("WOONSTAD_PASSWORD", secret)])).unwrap();
    let partner = cfg.partners.get("woonstad-noord").unwrap();
    match &partner.delivery {
        Delivery::Push {
            auth: OutboundAuth::Basic { username, password },
            ..
        } => {
            assert_eq!(username, "wijkbrug");
            assert_eq!(password.expose_secret(), secret);
        }
        other => panic!("not basic auth: {other:?}"),
    }
    assert!(!format!("{cfg:?}").contains(secret));

    // Set but empty is a problem too, naming the variable only.
    let problems = load_with_env(dir.path(), env(&[("WOONSTAD_PASSWORD", "")])).unwrap_err();
    assert_reported(
        &problems,
        "partners/woonstad-noord.toml",
        "delivery.auth.password_env",
        "WOONSTAD_PASSWORD is empty",
    );
}

#[test]
fn environment_layers_override_the_files() {
    let dir = copy_of_shipped();
    std::fs::write(
        dir.path().join("staging.toml"),
        "[log]\nformat = \"json\"\n[store]\nmax_connections = 3\n",
    )
    .unwrap();
    let cfg = load_with_env(
        dir.path(),
        env(&[
            ("WIJKBRUG_ENVIRONMENT", "staging"),
            ("WIJKBRUG__SERVER__LISTEN", "127.0.0.1:0"),
            ("WIJKBRUG__STORE__URL", "sqlite://elsewhere.db"),
            ("WIJKBRUG__STORE__MAX_CONNECTIONS", "5"),
            ("WIJKBRUG__GATEWAY__AGB", "01234567"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.settings.server.listen.port(), 0);
    assert_eq!(cfg.settings.store.url, "sqlite://elsewhere.db");
    // The variable wins over the environment file, which wins over default.toml.
    assert_eq!(cfg.settings.store.max_connections, 5);
    assert_eq!(cfg.settings.log.format, LogFormat::Json);
    // A leading zero survives: overrides are strings until the setting says otherwise.
    assert_eq!(
        cfg.settings.gateway.agb.as_ref().map(|a| a.as_str()),
        Some("01234567")
    );

    // Without the variable, the environment file is not read.
    let cfg = load_with_env(dir.path(), no_env()).unwrap();
    assert_eq!(cfg.settings.log.format, LogFormat::Text);
}

#[test]
fn a_cap_on_requests_in_flight_must_be_between_one_and_a_million() {
    for (value, says) in [("0", "at least 1"), ("1000001", "at most 1000000")] {
        let problems = load_with_env(
            &shipped(),
            env(&[("WIJKBRUG__SERVER__MAX_REQUESTS_IN_FLIGHT", value)]),
        )
        .unwrap_err();
        assert_reported(
            &problems,
            "environment",
            "server.max_requests_in_flight",
            says,
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
    }
    let cfg = load_with_env(
        &shipped(),
        env(&[("WIJKBRUG__SERVER__MAX_REQUESTS_IN_FLIGHT", "3")]),
    )
    .unwrap();
    assert_eq!(cfg.settings.server.max_requests_in_flight, 3);
}

#[test]
fn a_bad_override_is_reported_as_coming_from_the_environment() {
    let problems = load_with_env(
        &shipped(),
        env(&[
            ("WIJKBRUG__SERVER__LISTEN", "port eighty"),
            ("WIJKBRUG__SERVER__BODY_LIMIT_BYTES", "lots"),
            ("WIJKBRUG__LOG__COLOUR", "yes"),
        ]),
    )
    .unwrap_err();
    assert_reported(
        &problems,
        "environment",
        "server.listen",
        "IP address and port",
    );
    assert_reported(
        &problems,
        "environment",
        "server.body_limit_bytes",
        "invalid type",
    );
    assert_reported(&problems, "environment", "log.colour", "unknown key");
    assert_eq!(problems.len(), 3, "{problems:?}");
}

#[test]
fn a_missing_default_file_is_a_problem_not_an_empty_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let problems = load_with_env(dir.path(), no_env()).unwrap_err();
    assert_reported(&problems, "default.toml", "", "missing");
}

#[test]
fn the_demo_tokens_authenticate_their_partner_and_no_other() {
    let cfg = load_with_env(&shipped(), no_env()).unwrap();
    let tokens = demo_tokens();
    let partners: Vec<_> = tokens.iter().filter(|(_, v)| v.is_str()).collect();
    assert_eq!(partners.len(), 5);
    for (id, token) in partners {
        let token = token.as_str().unwrap();
        assert!(cfg.staff.authenticate(token).is_none());
        let partner = cfg.partners.authenticate(id, token).map(|p| p.id.as_str());
        assert_eq!(partner, Some(id.as_str()));
        for other in cfg.partners.list.iter().filter(|p| p.id.as_str() != id) {
            assert!(cfg
                .partners
                .authenticate(other.id.as_str(), token)
                .is_none());
        }
    }
    assert!(cfg.partners.authenticate("werkplein", "").is_none());
    assert!(cfg.partners.authenticate("nobody", "wbt_x").is_none());
}

#[test]
fn the_demo_staff_tokens_authenticate_their_account_and_no_partner() {
    let cfg = load_with_env(&shipped(), no_env()).unwrap();
    let staff = demo_tokens()["staff"].as_table().unwrap().clone();
    assert_eq!(staff.len(), 3);
    for (name, token) in &staff {
        let token = token.as_str().unwrap();
        let account = cfg.staff.authenticate(token).unwrap();
        assert_eq!(account.name.as_str(), name);
        for p in &cfg.partners.list {
            assert!(cfg.partners.authenticate(p.id.as_str(), token).is_none());
        }
    }
}

#[test]
fn a_second_hash_lets_the_next_token_in_during_a_change_over() {
    let dir = copy_of_shipped();
    let (next, next_hash) = mint_token();
    let old = demo_tokens()["werkplein"].as_str().unwrap().to_owned();
    edit(
        dir.path(),
        "partners/werkplein.toml",
        "token_hashes = [\"",
        &format!("token_hashes = [\"{next_hash}\", \""),
    );
    let cfg = load_with_env(dir.path(), no_env()).unwrap();
    assert!(cfg
        .partners
        .authenticate("werkplein", next.expose_secret())
        .is_some());
    assert!(cfg.partners.authenticate("werkplein", &old).is_some());
}

#[test]
fn minted_tokens_hash_to_what_they_parse_back_to() {
    let (token, hash) = mint_token();
    assert!(token.expose_secret().starts_with("wbt_"));
    assert!(hash.matches(token.expose_secret()));
    assert_eq!(TokenHash::parse(&hash.to_string()), Ok(hash.clone()));
    assert_eq!(TokenHash::of(token.expose_secret()), hash);
    assert!(!hash.matches("wbt_someone-else"));
    assert!(TokenHash::parse("sha256:xyz").is_err());
}

#[test]
fn the_demo_rules_route_by_sector_and_need() {
    let cfg = load_with_env(&shipped(), no_env()).unwrap();
    let route = |domains: &[LifeDomain], from: Sector, to: Sector| {
        cfg.routing
            .route(&request(domains, Some("1011AB")), from, to)
            .map(|p| p.to_string())
    };
    assert_eq!(
        route(&[LifeDomain::Finances], Sector::Housing, Sector::Welfare).unwrap(),
        "wijkteam-centrum"
    );
    assert_eq!(
        route(&[LifeDomain::MentalHealth], Sector::Welfare, Sector::Care).unwrap(),
        "huisarts-de-linde"
    );
    assert_eq!(
        route(&[LifeDomain::DailyLiving], Sector::Welfare, Sector::Care).unwrap(),
        "thuiszorg-oost"
    );
    assert_eq!(
        route(&[LifeDomain::SocialNetwork], Sector::Welfare, Sector::Care).unwrap(),
        "huisarts-de-linde"
    );
    assert_eq!(
        route(
            &[LifeDomain::WorkAndEducation],
            Sector::Welfare,
            Sector::Employment
        )
        .unwrap(),
        "werkplein"
    );
    assert_eq!(
        route(&[LifeDomain::Housing], Sector::Welfare, Sector::Housing).unwrap(),
        "woonstad-noord"
    );
}

#[test]
fn a_referral_no_rule_takes_is_refused() {
    let dir = copy_of_shipped();
    std::fs::write(
        dir.path().join("routing.toml"),
        "[[rule]]\nto_sector = \"welfare\"\npostcode = \"1000-1099\"\npartner = \"wijkteam-centrum\"\n",
    )
    .unwrap();
    let cfg = load_with_env(dir.path(), no_env()).unwrap();
    let inside = request(&[LifeDomain::Finances], Some("1011AB"));
    let outside = request(&[LifeDomain::Finances], Some("2011AB"));
    let unknown = request(&[LifeDomain::Finances], None);
    let route = |r| cfg.routing.route(r, Sector::Housing, Sector::Welfare);
    assert_eq!(route(&inside).unwrap().as_str(), "wijkteam-centrum");
    let refusal = route(&outside).unwrap_err();
    assert!(refusal
        .to_string()
        .contains("housing sector to the welfare sector"));
    assert!(route(&unknown).is_err());
}

#[test]
fn a_lease_shorter_than_a_partners_timeout_is_refused() {
    // The demo partners' timeouts are 5 and 10 seconds.
    let problems =
        load_with_env(&shipped(), env(&[("WIJKBRUG__DELIVERY__LEASE_SECS", "5")])).unwrap_err();
    let timeouts: Vec<_> = problems.iter().filter(|p| p.key == "timeout_ms").collect();
    assert!(!timeouts.is_empty(), "{problems:?}");
    assert!(timeouts
        .iter()
        .all(|p| p.problem.contains("delivery.lease_secs (5 s)")));
}

#[test]
fn the_pseudonym_key_comes_from_its_variable_and_only_production_requires_it() {
    let bsn = wijkbrug_adapters::model::Bsn::parse("999900006").unwrap();
    let dev = load_with_env(&shipped(), no_env()).unwrap().settings.audit;
    assert!(dev.development_key);
    assert_eq!(dev.pseudonym_key_env, "WIJKBRUG_PSEUDONYM_KEY");

    let keyed = load_with_env(&shipped(), env(&[("WIJKBRUG_PSEUDONYM_KEY", "s3cret")]))
        .unwrap()
        .settings
        .audit;
    assert!(!keyed.development_key);
    assert_ne!(
        keyed.pseudonym_key.pseudonym(&bsn),
        dev.pseudonym_key.pseudonym(&bsn)
    );

    let problems =
        load_with_env(&shipped(), env(&[("WIJKBRUG_ENVIRONMENT", "production")])).unwrap_err();
    assert_reported(
        &problems,
        "default.toml",
        "audit.pseudonym_key_env",
        "WIJKBRUG_PSEUDONYM_KEY is not set",
    );
    assert!(load_with_env(
        &shipped(),
        env(&[
            ("WIJKBRUG_ENVIRONMENT", "production"),
            ("WIJKBRUG_PSEUDONYM_KEY", "s3cret"),
        ]),
    )
    .is_ok());
}

#[test]
fn the_public_address_and_trusted_proxies_are_checked() {
    let problems = load_with_env(
        &shipped(),
        env(&[
            ("WIJKBRUG__SERVER__PUBLIC_URL", "wijkbrug.example.nl"),
            ("WIJKBRUG__SERVER__TRUSTED_PROXIES", "10.0.0.5, proxy.local"),
        ]),
    )
    .unwrap_err();
    assert_reported(&problems, "environment", "server.public_url", "https://");
    assert_reported(
        &problems,
        "environment",
        "server.trusted_proxies",
        "IP addresses separated by commas",
    );
    assert_eq!(problems.len(), 2, "{problems:?}");

    let config = load_with_env(
        &shipped(),
        env(&[
            (
                "WIJKBRUG__SERVER__PUBLIC_URL",
                "https://wijkbrug.example.nl/",
            ),
            ("WIJKBRUG__SERVER__TRUSTED_PROXIES", "10.0.0.5, ::1"),
        ]),
    )
    .unwrap();
    let server = &config.settings.server;
    assert_eq!(
        server.public_url.as_deref(),
        Some("https://wijkbrug.example.nl")
    );
    assert_eq!(
        server.trusted_proxies,
        vec![
            "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
            "::1".parse().unwrap()
        ]
    );
    let defaults = load_with_env(&shipped(), no_env()).unwrap();
    assert!(defaults.settings.server.public_url.is_none());
    assert!(defaults.settings.server.trusted_proxies.is_empty());
}
