//! The gateway end to end: the real app on port 0 with a fresh SQLite file, partners sending
//! in their own formats over HTTP.

mod common;

use common::*;
use serde_json::Value;
use wijkbrug::store::OutboxKind;
use wijkbrug_adapters::adapter::OutgoingStatus;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, Format};

async fn json(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

fn referral_id(v: &Value) -> ReferralId {
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_rent_arrears_signal_is_stored_routed_to_welfare_and_readable_by_both_sides() {
    let app = TestApp::spawn().await;
    let signal = rent_arrears_signal();
    let res = app
        .post_message("woonstad-noord", "application/json", signal)
        .await;
    assert_eq!(res.status(), 202);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let v = json(res).await;
    assert_eq!(v["accepted"][0]["status"], "routed");
    assert_eq!(v["accepted"][0]["receiver"], "wijkteam-centrum");
    assert_eq!(v["accepted"][0]["reference"], "HUUR-2026-0042");
    let id = referral_id(&v);
    assert_eq!(location, format!("/v1/referrals/{id}"));

    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    assert_eq!(stored.referral.status(), ReferralStatus::Routed);
    let outbox = app.running.state.store.outbox_for(id).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].recipient.as_str(), "wijkteam-centrum");
    assert_eq!(outbox[0].kind, OutboxKind::Referral);

    for reader in ["woonstad-noord", "wijkteam-centrum"] {
        let res = app.get_referral(reader, &id.to_string()).await;
        assert_eq!(res.status(), 200, "{reader}");
        let view = json(res).await;
        assert_eq!(view["status"], "routed");
        assert_eq!(view["history"].as_array().unwrap().len(), 2);
        assert_eq!(view["referral"]["resident"]["identity"]["bsn"], "999900006");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_referral_in_each_sectors_own_format_is_accepted() {
    let app = TestApp::spawn_with(TestApp::add_welfare_provider, &[]).await;
    // care: a GP's FHIR Bundle about daily living, to the care sector: the district nurse.
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-1",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    // employment: a CSV row to the welfare sector.
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-1",
            "999900006",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    // welfare: the iStandaarden WMO315 sample, from a Wmo provider to the municipality's desk.
    let wmo315 = std::fs::read(root().join("../shared/standards/iwmo-3.2/WMO315.xml")).unwrap();
    let cases = [
        (
            "huisarts-de-linde",
            "application/fhir+json",
            fhir,
            "thuiszorg-oost",
        ),
        (
            "werkplein",
            "text/csv; charset=utf-8",
            csv,
            "wijkteam-centrum",
        ),
        (
            "zorgaanbieder-west",
            "application/xml",
            wmo315,
            "wijkteam-centrum",
        ),
    ];
    for (sender, ct, body, receiver) in cases {
        let res = app.post_message(sender, ct, body).await;
        let status = res.status();
        let v = json(res).await;
        assert_eq!(status, 202, "{sender}: {v}");
        assert_eq!(v["accepted"][0]["status"], "routed", "{sender}: {v}");
        assert_eq!(v["accepted"][0]["receiver"], receiver, "{sender}");
        let id = referral_id(&v);
        let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
        assert_eq!(stored.referral.request.source.partner.as_str(), sender);
    }
    assert_eq!(app.counts().await.referrals, 3);
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_is_answered_with_the_first_id_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let signal = rent_arrears_signal();
    let first = json(
        app.post_message("woonstad-noord", "application/json", signal.clone())
            .await,
    )
    .await;
    let before = app.counts().await;
    let res = app
        .post_message("woonstad-noord", "application/json", signal)
        .await;
    assert_eq!(res.status(), 202);
    let again = json(res).await;
    assert_eq!(again["accepted"][0]["duplicate"], true);
    assert_eq!(referral_id(&again), referral_id(&first));
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_repeat_answers_the_first_result() {
    let app = TestApp::spawn().await;
    let send = |reference: &str| {
        let csv = native(
            Format::EmploymentCsv,
            &request(
                "werkplein",
                reference,
                "999900006",
                Target::Sector(Sector::Welfare),
                false,
            ),
        );
        app.http
            .post(format!("{}/v1/partners/werkplein/messages", app.base))
            .bearer_auth(app.token("werkplein"))
            .header("content-type", "text/csv")
            .header("idempotency-key", "batch-2026-11-02")
            .body(csv)
            .send()
    };
    let first = json(send("WP-7").await.unwrap()).await;
    let before = app.counts().await;
    // Same key, even with another reference: the first result, nothing new stored.
    let again = json(send("WP-8").await.unwrap()).await;
    assert_eq!(referral_id(&again), referral_id(&first));
    assert_eq!(again["accepted"][0]["duplicate"], true);
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test]
async fn a_referral_without_consent_becomes_consent_missing_and_is_never_queued() {
    let app = TestApp::spawn().await;
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-9",
            "999900043",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let res = app.post_message("werkplein", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let v = json(res).await;
    assert_eq!(v["accepted"][0]["status"], "consent_missing");
    assert!(v["accepted"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("no consent"));
    let id = referral_id(&v);
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    assert_eq!(stored.referral.status(), ReferralStatus::ConsentMissing);
    assert!(stored.shared.is_none(), "nothing is shared");
    let outbox = app.running.state.store.outbox_for(id).await.unwrap();
    assert!(
        outbox.iter().all(|o| o.kind != OutboxKind::Referral),
        "never queued for delivery"
    );
    assert!(
        outbox.iter().all(|o| o.recipient.as_str() == "werkplein"),
        "only the sender is told"
    );
    // The receiver cannot see it.
    assert_eq!(
        app.get_referral("wijkteam-centrum", &id.to_string())
            .await
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn minimisation_removes_exactly_the_uncovered_categories() {
    let app = TestApp::spawn().await;
    // 999900006 consented to werkplein for identity, contact and needs only (partner-specific,
    // which wins over any sector consent). The FHIR referral also holds notes and health.
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-2",
            "999900006",
            Target::Partner(pid("werkplein")),
            true,
        ),
    );
    let v = json(
        app.post_message("huisarts-de-linde", "application/fhir+json", fhir)
            .await,
    )
    .await;
    assert_eq!(v["accepted"][0]["status"], "routed", "{v}");
    let id = referral_id(&v);
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    let shared = stored.shared.unwrap();
    let expected_removed: CategorySet = [DataCategory::Notes, DataCategory::Health]
        .into_iter()
        .collect();
    assert_eq!(shared.removed, expected_removed);
    assert!(shared.request.note.is_none());
    assert!(shared
        .request
        .needs
        .iter()
        .all(|n| n.note.is_none() && n.domain.category() != DataCategory::Health));
    assert!(
        shared.request.resident.identity.is_some() && shared.request.resident.contact.is_some()
    );
    // The receiver reads the minimised copy; the sender its own full referral.
    let as_receiver = json(app.get_referral("werkplein", &id.to_string()).await).await;
    assert!(as_receiver["referral"].get("note").is_none());
    assert_eq!(
        as_receiver["referral"]["needs"].as_array().unwrap().len(),
        2
    );
    let as_sender = json(app.get_referral("huisarts-de-linde", &id.to_string()).await).await;
    assert_eq!(as_sender["referral"]["needs"].as_array().unwrap().len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn the_receiver_reports_progress_in_its_own_format_and_the_sender_is_told() {
    let app = TestApp::spawn().await;
    let signal = rent_arrears_signal();
    let id = referral_id(
        &json(
            app.post_message("woonstad-noord", "application/json", signal)
                .await,
        )
        .await,
    );
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    let shared = stored.shared.unwrap();
    // Delivery (the outbox worker's job) moves it to delivered.
    let delivered = Transition {
        to: ReferralStatus::Delivered,
        at: wijkbrug::store::now(),
        by: Actor::Gateway,
        reason: None,
        reason_code: None,
    };
    app.running
        .state
        .store
        .apply_transition(id, delivered, vec![])
        .await
        .unwrap();
    // The municipality's desk accepts with an iWmo 301 that answers the 315 the gateway sent
    // it: addressed to the gateway's AGB code, with the gateway's id as ReferentieAanbieder.
    let update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        chrono::Utc::now(),
    )
    .unwrap();
    let directory = app.running.state.directory.clone();
    let mut as_delivered = shared.request.clone();
    as_delivered.source = Source {
        partner: pid("thuiszorg-oost"),
        reference: ExternalRef::parse(&id.to_string()).unwrap(),
    };
    let wmo301 = adapter_for(Format::Iwmo32)
        .encode_status(
            OutgoingStatus {
                id,
                request: &as_delivered,
                update: &update,
            },
            &directory,
        )
        .unwrap();
    let wmo301 = String::from_utf8(wmo301).unwrap().replace(
        ">42420001</wmo301:Ontvanger>",
        ">98765432</wmo301:Ontvanger>",
    );
    assert!(wmo301.contains(">98765432</wmo301:Ontvanger>"));
    let res = app
        .post_message("wijkteam-centrum", "application/xml", wmo301)
        .await;
    let status = res.status();
    let v = json(res).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["applied"][0]["status"], "accepted");
    let view = json(app.get_referral("woonstad-noord", &id.to_string()).await).await;
    assert_eq!(view["status"], "accepted");
    let outbox = app.running.state.store.outbox_for(id).await.unwrap();
    assert!(outbox
        .iter()
        .any(|o| o.recipient.as_str() == "woonstad-noord"
            && matches!(o.kind, OutboxKind::Status { .. })));
    // The sender may cancel, by its own reference, in its own callback format.
    let cancel = serde_json::json!({"schema": "wijkbrug.housing-status/1", "signaal_id": "HUUR-2026-0042",
        "status": "cancelled", "at": "2026-11-03T10:00:00Z", "reden": "Regeling getroffen"});
    let res = app
        .post_message("woonstad-noord", "application/json", cancel.to_string())
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        json(app.get_referral("wijkteam-centrum", &id.to_string()).await).await["status"],
        "cancelled"
    );
    app.stop().await;
}

#[tokio::test]
async fn status_updates_are_checked_for_who_may_send_them_and_for_legality() {
    let app = TestApp::spawn().await;
    let signal = rent_arrears_signal();
    let id = referral_id(
        &json(
            app.post_message("woonstad-noord", "application/json", signal)
                .await,
        )
        .await,
    );
    let status = |s: &str| {
        serde_json::json!({"schema": "wijkbrug.housing-status/1", "signaal_id": "HUUR-2026-0042",
        "referral_id": id.to_string(), "status": s, "at": "2026-11-03T10:00:00Z"})
        .to_string()
    };
    let before = app.counts().await;
    // The sender may not report the receiver's progress.
    let res = app
        .post_message("woonstad-noord", "application/json", status("accepted"))
        .await;
    assert_eq!(res.status(), 422);
    assert_eq!(
        json(res).await["type"],
        "urn:wijkbrug:problem:not-permitted"
    );
    // A partner that is neither side sees nothing.
    let csv_status = "soort;referentie;wijkbrug_id;status;datum\r\nstatus;X-1;".to_owned()
        + &id.to_string()
        + ";geaccepteerd;03-11-2026\r\n";
    let res = app.post_message("werkplein", "text/csv", csv_status).await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.counts().await, before, "refused updates change nothing");
    // An illegal transition: cancelling what is already cancelled.
    assert_eq!(
        app.post_message("woonstad-noord", "application/json", status("cancelled"))
            .await
            .status(),
        200
    );
    let after_cancel = app.counts().await;
    let res = app
        .post_message("woonstad-noord", "application/json", status("cancelled"))
        .await;
    assert_eq!(res.status(), 409);
    let v = json(res).await;
    assert_eq!(v["type"], "urn:wijkbrug:problem:conflict");
    assert!(
        v["errors"][0]["rule"]
            .as_str()
            .unwrap()
            .contains("cannot become cancelled"),
        "{v}"
    );
    assert_eq!(app.counts().await, after_cancel);

    // Once retention erased the cancelled referral's payload, a status update finds no
    // referral (its metadata stays, but nothing more happens to it through the gateway).
    let now = chrono::Utc::now();
    let erased = app
        .running
        .state
        .store
        .erase_payloads(now + chrono::Duration::seconds(1), now, 10)
        .await
        .unwrap();
    assert_eq!(erased, 1);
    let after_erasure = app.counts().await;
    let res = app
        .post_message("woonstad-noord", "application/json", status("cancelled"))
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(json(res).await["type"], "urn:wijkbrug:problem:not-found");
    assert_eq!(app.counts().await, after_erasure);
    app.stop().await;
}

#[tokio::test]
async fn a_partner_cannot_read_another_partners_referral() {
    let app = TestApp::spawn().await;
    let signal = rent_arrears_signal();
    let id = referral_id(
        &json(
            app.post_message("woonstad-noord", "application/json", signal)
                .await,
        )
        .await,
    );
    for (reader, id) in [
        ("thuiszorg-oost", id.to_string()),
        ("werkplein", id.to_string()),
        ("woonstad-noord", "not-an-id".into()),
        (
            "woonstad-noord",
            ReferralId::from_parts(1, [0; 10]).to_string(),
        ),
    ] {
        let res = app.get_referral(reader, &id).await;
        assert_eq!(res.status(), 404, "{reader} {id}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
    let res = app
        .http
        .get(format!("{}/v1/referrals/{id}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn every_bad_input_gets_its_status_and_problem_type_and_changes_nothing() {
    let app = TestApp::spawn_with(
        |dir| {
            // No rule for the housing sector: a referral to it cannot be routed.
            let routing = std::fs::read_to_string(dir.join("routing.toml")).unwrap();
            let without_housing: String = routing
                .split("[[rule]]")
                .filter(|r| !r.contains("\"housing\""))
                .collect::<Vec<_>>()
                .join("[[rule]]");
            std::fs::write(dir.join("routing.toml"), without_housing).unwrap();
        },
        &[("WIJKBRUG__SERVER__BODY_LIMIT_BYTES", "65536")],
    )
    .await;
    let signal = rent_arrears_signal();
    let bad_bsn = String::from_utf8(signal.clone())
        .unwrap()
        .replace("999900006", "999900007");
    let no_route = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-3",
            "999900006",
            Target::Sector(Sector::Housing),
            false,
        ),
    );
    let before = app.counts().await;
    // (partner in the path, token, content type, body, expected status, expected problem type)
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "woonstad-noord",
            None,
            "application/json",
            signal.clone(),
            401,
            "unauthorized",
        ),
        (
            "woonstad-noord",
            Some("wbt_wrong"),
            "application/json",
            signal.clone(),
            401,
            "unauthorized",
        ),
        (
            "no-such-partner",
            Some("wbt_wrong"),
            "application/json",
            signal.clone(),
            401,
            "unauthorized",
        ),
        (
            "woonstad-noord",
            Some("own"),
            "text/csv",
            signal.clone(),
            415,
            "unsupported-media-type",
        ),
        (
            "woonstad-noord",
            Some("own"),
            "application/json; charset=latin1",
            signal.clone(),
            415,
            "unsupported-media-type",
        ),
        (
            "woonstad-noord",
            Some("own"),
            "application/json",
            vec![b' '; 70_000],
            413,
            "payload-too-large",
        ),
        (
            "woonstad-noord",
            Some("own"),
            "application/json",
            b"{not json".to_vec(),
            400,
            "invalid-message",
        ),
        (
            "woonstad-noord",
            Some("own"),
            "application/json",
            vec![0xff, 0xfe, 0x00],
            400,
            "invalid-message",
        ),
        (
            "woonstad-noord",
            Some("own"),
            "application/json",
            bad_bsn.into_bytes(),
            422,
            "invalid-message",
        ),
        (
            "werkplein",
            Some("own"),
            "text/csv",
            no_route,
            422,
            "no-route",
        ),
    ];
    for (partner, token, ct, body, status, kind) in cases {
        let mut req = app
            .http
            .post(format!("{}/v1/partners/{partner}/messages", app.base))
            .header("content-type", ct)
            .body(body);
        match token {
            Some("own") => req = req.bearer_auth(app.token(partner)),
            Some(t) => req = req.bearer_auth(t),
            None => {}
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{partner} {ct} {kind}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{kind}"
        );
        let text = res.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], format!("urn:wijkbrug:problem:{kind}"), "{text}");
        for word in PERSONAL {
            assert!(!text.contains(word), "{kind}: {word} leaked: {text}");
        }
    }
    assert_eq!(
        app.counts().await,
        before,
        "refused requests change nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bad_bsn_is_named_by_its_json_pointer() {
    let app = TestApp::spawn().await;
    let signal = String::from_utf8(rent_arrears_signal())
        .unwrap()
        .replace("999900006", "999900007");
    let v = json(
        app.post_message("woonstad-noord", "application/json", signal)
            .await,
    )
    .await;
    assert_eq!(v["errors"][0]["location"], "/client/Burgerservicenummer");
    assert!(v["errors"][0]["rule"]
        .as_str()
        .unwrap()
        .contains("11-proef"));
    app.stop().await;
}

#[tokio::test]
async fn a_partner_over_its_rate_is_told_when_to_retry() {
    let app = TestApp::spawn_with(
        |dir| {
            let file = dir.join("partners/woonstad-noord.toml");
            let text = std::fs::read_to_string(&file).unwrap();
            let limited = text.replace("[inbound_rate]", "[inbound_rate]\n# test: tiny quota\n");
            let limited = regex_lite_replace(&limited, "per_second", "1");
            let limited = regex_lite_replace(&limited, "burst", "1");
            std::fs::write(file, limited).unwrap();
        },
        &[],
    )
    .await;
    let mut limited = None;
    for _ in 0..5 {
        let res = app
            .post_message("woonstad-noord", "application/json", "{}")
            .await;
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("a burst of 5 over a quota of 1 a second is limited");
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(json(res).await["type"], "urn:wijkbrug:problem:rate-limited");
    // Other partners are not affected.
    let res = app.post_message("werkplein", "text/csv", "x").await;
    assert_ne!(res.status(), 429);
    app.stop().await;
}

/// Sets every `key = <number>` line in the [inbound_rate] table of a partner file.
fn regex_lite_replace(text: &str, key: &str, value: &str) -> String {
    let mut in_inbound = false;
    text.lines()
        .map(|l| {
            if l.starts_with('[') {
                in_inbound = l.trim() == "[inbound_rate]";
            }
            if in_inbound && l.trim_start().starts_with(key) {
                format!("{key} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn consents_recorded_through_the_api_open_the_gate() {
    let app = TestApp::spawn().await;
    let csv = |r: &str| {
        native(
            Format::EmploymentCsv,
            &request(
                "werkplein",
                r,
                "999900043",
                Target::Sector(Sector::Welfare),
                false,
            ),
        )
    };
    let v = json(
        app.post_message("werkplein", "text/csv", csv("WP-20"))
            .await,
    )
    .await;
    assert_eq!(v["accepted"][0]["status"], "consent_missing");
    let consent = serde_json::json!({"resident_bsn": "999900043", "grantee_sector": "welfare", "purpose": "referral",
        "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z", "evidence": "FORM-77"});
    let res = app
        .http
        .post(format!("{}/v1/consents", app.base))
        .bearer_auth(app.token("werkplein"))
        .json(&consent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert!(res.headers().contains_key("location"));
    let v = json(
        app.post_message("werkplein", "text/csv", csv("WP-21"))
            .await,
    )
    .await;
    assert_eq!(v["accepted"][0]["status"], "routed");
    // A bad consent names its fields and stores nothing.
    let before = app.counts().await;
    let bad = serde_json::json!({"resident_bsn": "999900007", "grantee_sector": "moon", "purpose": "referral",
        "categories": ["identity", "gossip"], "valid_from": "yesterday"});
    let res = app
        .http
        .post(format!("{}/v1/consents", app.base))
        .bearer_auth(app.token("werkplein"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    let text = res.text().await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let locations: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["location"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        locations,
        [
            "/resident_bsn",
            "/grantee_sector",
            "/categories/1",
            "/valid_from"
        ]
    );
    assert!(!text.contains("999900007"));
    assert_eq!(app.counts().await, before);
    app.stop().await;
}

#[tokio::test]
async fn health_readiness_and_the_openapi_description() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.http
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let doc: Value = app.openapi().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/partners/{partner}/messages",
        "/v1/referrals/{id}",
        "/v1/consents",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not described");
    }
    let res = app
        .http
        .get(format!("{}/nothing-here", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[tokio::test]
async fn shutdown_finishes_and_then_stops_taking_connections() {
    let app = TestApp::spawn().await;
    let base = app.base.clone();
    let http = app.http.clone();
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.stop().await;
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}

#[tokio::test]
async fn a_batch_is_accepted_or_refused_per_record() {
    let app = TestApp::spawn().await;
    let rows: Vec<Vec<u8>> = ["WP-B1", "WP-B2", "WP-B3"]
        .iter()
        .map(|r| {
            native(
                Format::EmploymentCsv,
                &request(
                    "werkplein",
                    r,
                    "999900006",
                    Target::Sector(Sector::Welfare),
                    false,
                ),
            )
        })
        .collect();
    // One header, three rows; the second row's BSN fails the 11-proef.
    let mut csv = String::from_utf8(rows[0].clone()).unwrap();
    for (i, row) in rows[1..].iter().enumerate() {
        let text = String::from_utf8(row.clone()).unwrap();
        let body = text.split_once("\r\n").unwrap().1;
        csv.push_str(&if i == 0 {
            body.replace("999900006", "999900007")
        } else {
            body.to_owned()
        });
    }
    let res = app.post_message("werkplein", "text/csv", csv).await;
    assert_eq!(res.status(), 202);
    let v = json(res).await;
    let accepted: Vec<_> = v["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(accepted, ["WP-B1", "WP-B3"]);
    let refused = &v["refused"][0];
    assert!(
        refused["location"].as_str().unwrap().starts_with("line 3:"),
        "{refused}"
    );
    assert!(refused["rule"].as_str().unwrap().contains("11-proef"));
    assert_eq!(refused["status"], 422);
    assert_eq!(app.counts().await.referrals, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_starts_is_finished() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let body = rent_arrears_signal();
    let mut conn = tokio::net::TcpStream::connect(app.running.addr)
        .await
        .unwrap();
    let head = format!(
        "POST /v1/partners/woonstad-noord/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        app.token("woonstad-noord"),
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let (first, rest) = body.split_at(body.len() / 2);
    conn.write_all(first).await.unwrap();
    conn.flush().await.unwrap();
    // Give the server the request head before shutdown starts.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    conn.write_all(rest).await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 202"), "{response}");
    stopping.await.unwrap();
}

#[tokio::test]
async fn readiness_lists_the_instances_that_share_the_store() {
    let app = TestApp::spawn_with(|_| {}, &[("WIJKBRUG__DELIVERY__WORKER_ID", "gw-test-1")]).await;
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    // This instance (with SQLite the only one; on PostgreSQL the only one on this database).
    let instances = ready["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{ready}");
    assert_eq!(instances[0]["id"], "gw-test-1");
    assert_eq!(instances[0]["version"], env!("CARGO_PKG_VERSION"));
    for time in ["started_at", "last_seen"] {
        let text = instances[0][time].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{time}: {text}"
        );
    }
    app.stop().await;
}
