//! "Who saw what about me": a resident's processing log, through the privacy officer's API and
//! `wijkbrug audit resident`, matches what the partner systems on loopback actually received.

mod common;

use assert_cmd::Command;
use common::network::{wait_for_status, Network, ADMIN_TOKEN, OPS_TOKEN, PRIVACY_TOKEN, WAIT};
use common::*;
use serde_json::Value;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, DecodeContext, Format, Record};

/// The network with a retention period of its own, so the log's retention text shows it
/// comes from configuration.
async fn network() -> Network {
    common::network::start(&[("WIJKBRUG__RETENTION__PAYLOAD_DAYS", "90")]).await
}

async fn referral_id(res: reqwest::Response) -> ReferralId {
    let v: Value = res.json().await.unwrap();
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

/// Records, through the API, the resident 999900006's consent for wijkteam-centrum alone to
/// receive identity and needs (more specific than the configured one for the sector); its id.
async fn partner_consent(n: &Network) -> String {
    let consent = serde_json::json!({"resident_bsn": "999900006", "grantee_partner": "wijkteam-centrum",
        "purpose": "referral", "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z",
        "evidence": "FORM-PL-1"});
    let res = n
        .app
        .http
        .post(format!("{}/v1/consents", n.app.base))
        .bearer_auth(n.app.token("woonstad-noord"))
        .json(&consent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let v: Value = res.json().await.unwrap();
    v["consent_id"].as_str().unwrap().to_owned()
}

/// A referral about 999900006 delivered to wijkteam-centrum, and one about 999900043 refused
/// for want of consent; the ids, and the categories wijkteam-centrum's system decoded.
async fn two_referrals(n: &Network) -> (ReferralId, ReferralId, CategorySet) {
    let signal = rent_arrears_signal();
    let shared = referral_id(
        n.app
            .post_message("woonstad-noord", "application/json", signal)
            .await,
    )
    .await;
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-NO-CONSENT",
            "999900043",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let refused = referral_id(n.app.post_message("werkplein", "text/csv", csv).await).await;
    let got: Vec<_> = n
        .wijkteam
        .wait_for(1, WAIT)
        .await
        .into_iter()
        .filter(|r| r.referral == shared.to_string())
        .collect();
    assert_eq!(got.len(), 1);
    wait_for_status(&n.app, shared, ReferralStatus::Delivered).await;
    wait_for_status(&n.app, refused, ReferralStatus::ConsentMissing).await;
    let ctx = DecodeContext {
        sender: pid("wijkbrug-gateway"),
        directory: Default::default(),
    };
    let mut records: Vec<_> = adapter_for(Format::Iwmo32)
        .decode(&got[0].body, &ctx)
        .collect();
    let Ok(Record::Referral(r)) = records.remove(0) else {
        panic!("wijkteam-centrum received no referral")
    };
    (shared, refused, r.request.categories_present())
}

async fn log(n: &Network, bsn: &str, token: &str) -> reqwest::Response {
    n.app
        .http
        .get(format!(
            "{}/v1/privacy/residents/{bsn}/processing-log",
            n.app.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn of<'a>(entries: &'a [Value], action: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["action"] == action).collect()
}

fn categories(entry: &Value) -> CategorySet {
    entry["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().parse::<DataCategory>().unwrap())
        .collect()
}

#[tokio::test]
async fn the_log_shows_what_the_receiver_actually_got_and_nothing_of_another_resident() {
    let n = network().await;
    let consent = partner_consent(&n).await;
    let (shared, refused, received) = two_referrals(&n).await;

    let res = log(&n, "999900006", PRIVACY_TOKEN).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let entries = v["entries"].as_array().unwrap().clone();
    let text = v.to_string();
    assert!(!text.contains("999900006") && !text.contains("Berkhout"));
    assert!(
        !text.contains(&refused.to_string()),
        "nothing about 999900043"
    );
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in seq order");

    let received_entry = of(&entries, "message_received");
    assert!(received_entry
        .iter()
        .any(|e| e["actor"] == "woonstad-noord" && e["referral_id"] == shared.to_string()));
    let decision = of(&entries, "consent_decision");
    assert_eq!(decision.len(), 1);
    assert_eq!(decision[0]["result"], "permit");
    assert_eq!(decision[0]["recipient"], "wijkteam-centrum");
    assert_eq!(decision[0]["legal_basis"], format!("consent {consent}"));
    let minimised = of(&entries, "minimised");
    assert_eq!(minimised.len(), 1);
    assert_eq!(minimised[0]["recipient"], "wijkteam-centrum");

    // The delivery names what the receiver's system actually decoded, and no more.
    let delivered: Vec<_> = of(&entries, "delivery_attempt")
        .into_iter()
        .filter(|e| e["recipient"] == "wijkteam-centrum" && e["result"] == "referral delivered")
        .collect();
    assert_eq!(delivered.len(), 1, "{entries:#?}");
    let logged = categories(delivered[0]);
    assert_eq!(delivered[0]["legal_basis"], format!("consent {consent}"));
    assert!(received.contains(DataCategory::Identity) && received.contains(DataCategory::Needs));
    for c in received.iter() {
        assert!(logged.contains(c), "{c} was received but is not in the log");
    }
    assert!(
        received.difference(categories(minimised[0])).is_empty(),
        "minimisation kept what was received"
    );
    assert_eq!(logged, received, "exactly what the receiver decoded");
    assert!(
        !logged.contains(DataCategory::Contact),
        "not under this consent"
    );
    let recorded = of(&entries, "consent_recorded");
    assert!(recorded
        .iter()
        .any(|e| e["legal_basis"] == format!("consent {consent}")
            && e["recipient"] == "wijkteam-centrum"
            && e["actor"] == "woonstad-noord"));
    assert!(entries.iter().all(|e| e["retention"]
        == "payload erased 90 days after the referral is done; this record kept in the audit log"));
    n.app.stop().await;
}

#[tokio::test]
async fn the_log_of_a_resident_without_consent_shows_the_refusal() {
    let n = network().await;
    let (shared, refused, _) = two_referrals(&n).await;
    let res = log(&n, "999900043", PRIVACY_TOKEN).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let entries = v["entries"].as_array().unwrap().clone();
    assert!(!v.to_string().contains(&shared.to_string()));
    let decision = of(&entries, "consent_decision");
    assert_eq!(decision.len(), 1);
    assert_eq!(decision[0]["referral_id"], refused.to_string());
    assert!(decision[0]["result"]
        .as_str()
        .unwrap()
        .starts_with("refused"));
    assert_eq!(decision[0]["legal_basis"], "no consent: not shared");
    assert!(of(&entries, "minimised").is_empty());
    assert!(!entries.iter().any(|e| e["action"] == "delivery_attempt"
        && e["result"].as_str().unwrap().starts_with("referral")));
    n.app.stop().await;
}

#[tokio::test]
async fn only_a_privacy_officer_may_read_the_log_and_each_read_is_audited() {
    let n = network().await;
    for token in [OPS_TOKEN, ADMIN_TOKEN, n.app.token("wijkteam-centrum")] {
        let res = log(&n, "999900006", token).await;
        assert_eq!(res.status(), 403, "{token}");
    }
    assert_eq!(log(&n, "999900006", "wbt_nonsense").await.status(), 401);
    let res = n
        .app
        .http
        .get(format!(
            "{}/v1/privacy/residents/999900006/processing-log",
            n.app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    let res = log(&n, "999900007", PRIVACY_TOKEN).await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("\"bsn\"") && body.contains("11-proef"),
        "{body}"
    );
    assert!(!body.contains("999900007"));

    assert_eq!(log(&n, "999900006", PRIVACY_TOKEN).await.status(), 200);
    let v: Value = log(&n, "999900006", PRIVACY_TOKEN)
        .await
        .json()
        .await
        .unwrap();
    let reads = of(v["entries"].as_array().unwrap(), "processing_log_read").len();
    assert_eq!(reads, 1, "the first read is in the second's log");
    let mut events = Vec::new();
    loop {
        let page = n
            .app
            .running
            .state
            .store
            .audit_events(events.len() as u64, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let audited: Vec<_> = events
        .iter()
        .filter(|e| e.action == wijkbrug::audit::AuditAction::ProcessingLogRead)
        .collect();
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[0].detail["reader"], "demo-privacy-officer");
    assert!(audited[0].resident.is_some());
    assert_eq!(wijkbrug::audit::verify(&events), Ok(events.len() as u64));

    let openapi: Value = n.app.openapi().await;
    assert!(openapi["paths"]["/v1/privacy/residents/{bsn}/processing-log"]["get"].is_object());
    n.app.stop().await;
}

fn audit_resident(n: &Network, bsn: &str) -> std::process::Output {
    Command::cargo_bin("wijkbrug")
        .unwrap()
        .args(["audit", "resident", "--bsn", bsn, "--config"])
        .arg(&n.app.config_dir)
        .env_remove("WIJKBRUG_ENVIRONMENT")
        .env_remove("WIJKBRUG_PSEUDONYM_KEY")
        .envs(n.app.store_env())
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_cli_prints_the_table_without_the_bsn() {
    let n = network().await;
    let consent = partner_consent(&n).await;
    let (shared, refused, _) = two_referrals(&n).await;
    let out = audit_resident(&n, "999900006");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("processing log for the resident with the given BSN\n"));
    assert!(!stdout.contains("999900006"));
    for column in [
        "TIME",
        "ACTION",
        "PARTNER",
        "RECIPIENT",
        "CATEGORIES",
        "LEGAL BASIS",
        "RESULT",
    ] {
        assert!(stdout.contains(column), "{column}");
    }
    let delivered = stdout
        .lines()
        .find(|l| l.contains("delivery_attempt") && l.contains("referral delivered"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(delivered.contains("wijkteam-centrum"));
    assert!(delivered.contains("identity") && delivered.contains("needs"));
    assert!(delivered.contains(&format!("consent {consent}")));
    assert!(!stdout.contains(&refused.to_string()));
    let _ = shared;

    let out = audit_resident(&n, "999900043");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout.contains("no consent: not shared"), "{stdout}");
    assert!(!stdout.contains("999900043"));

    let out = audit_resident(&n, "999900007");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("11-proef"), "{stderr}");
    assert!(!stderr.contains("999900007") && out.stdout.is_empty());
    n.app.stop().await;
}
