//! The consent registry through the API: who sees which consents of a resident, revocation
//! and its cascade (queued deliveries cancelled, earlier receivers told in their own format),
//! the audit chain, and FHIR R4 Consent resources from care partners.

mod common;

use std::time::Duration;

use common::network::{Network, WAIT};
use common::partner_server::{PartnerServer, Received, Reply};
use common::*;
use serde_json::{json, Value};
use wijkbrug::audit::{verify, AuditAction};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, DecodeContext, Format, Record};

/// Resident without standing consents in the demo configuration.
const NO_STANDING: &str = "999900043";
const OTHER: &str = "999900055";

async fn network() -> Network {
    common::network::start(&[]).await
}

async fn record(app: &TestApp, as_partner: &str, consent: Value) -> String {
    let res = app
        .http
        .post(format!("{}/v1/consents", app.base))
        .bearer_auth(app.token(as_partner))
        .json(&consent)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["consent_id"].as_str().unwrap().to_owned()
}

fn permit_for_partner(bsn: &str, partner: &str) -> Value {
    json!({"resident_bsn": bsn, "grantee_partner": partner, "purpose": "referral",
        "categories": ["identity", "contact", "needs"], "valid_from": "2026-01-01T00:00:00Z",
        "evidence": "FORM-0001"})
}

async fn list(app: &TestApp, as_partner: &str, query: &str) -> (u16, String) {
    let res = app
        .http
        .get(format!("{}/v1/consents?{query}", app.base))
        .bearer_auth(app.token(as_partner))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn ids_seen(app: &TestApp, as_partner: &str, bsn: &str) -> Vec<String> {
    let (status, body) = list(app, as_partner, &format!("resident={bsn}")).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let mut ids: Vec<String> = v["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

async fn revoke(app: &TestApp, as_partner: &str, id: &str) -> (u16, Value) {
    let res = app
        .http
        .post(format!("{}/v1/consents/{id}/revoke", app.base))
        .bearer_auth(app.token(as_partner))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn referral_id(res: reqwest::Response) -> ReferralId {
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"][0]["status"], "routed", "{v}");
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

/// The housing corporation's signal about `bsn`, to the welfare sector.
async fn send_housing_referral(app: &TestApp, bsn: &str) -> ReferralId {
    let signal = std::fs::read_to_string(
        root().join("adapters/tests/fixtures/housing/accept/signal-single.json"),
    )
    .unwrap()
    .replace("999900006", bsn);
    referral_id(
        app.post_message("woonstad-noord", "application/json", signal)
            .await,
    )
    .await
}

async fn status_of(app: &TestApp, id: ReferralId) -> ReferralStatus {
    app.running
        .state
        .store
        .referral(id)
        .await
        .unwrap()
        .unwrap()
        .referral
        .status()
}

async fn wait_for_status(app: &TestApp, id: ReferralId, want: ReferralStatus) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = status_of(app, id).await;
        if status == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {status}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

fn only_for(received: &[Received], id: ReferralId) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.referral == id.to_string())
        .cloned()
        .collect()
}

async fn wait_for_n(server: &PartnerServer, id: ReferralId, n: usize) -> Vec<Received> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let got = only_for(&server.received(), id);
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_no_personal_data(body: &str) {
    for word in PERSONAL
        .iter()
        .chain(["999900055", "999900030", "999999990"].iter())
    {
        assert!(!body.contains(word), "{word} in {body}");
    }
}

async fn audit_events(app: &TestApp) -> Vec<wijkbrug::audit::AuditEvent> {
    app.running
        .state
        .store
        .audit_events(0, 100_000)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_partner_sees_the_consents_it_recorded_or_was_granted_and_no_others() {
    let n = network().await;
    let app = &n.app;
    let to_wijkteam = record(
        app,
        "woonstad-noord",
        permit_for_partner(NO_STANDING, "wijkteam-centrum"),
    )
    .await;
    let to_care = record(
        app,
        "werkplein",
        json!({"resident_bsn": NO_STANDING, "grantee_sector": "care", "purpose": "referral",
            "effect": "deny", "categories": ["health"], "valid_from": "2026-01-01T00:00:00Z"}),
    )
    .await;

    assert_eq!(
        ids_seen(app, "woonstad-noord", NO_STANDING).await,
        vec![to_wijkteam.clone()]
    );
    assert_eq!(
        ids_seen(app, "wijkteam-centrum", NO_STANDING).await,
        vec![to_wijkteam.clone()]
    );
    assert_eq!(
        ids_seen(app, "huisarts-de-linde", NO_STANDING).await,
        vec![to_care.clone()]
    );
    assert_eq!(
        ids_seen(app, "thuiszorg-oost", NO_STANDING).await,
        vec![to_care.clone()]
    );
    assert_eq!(
        ids_seen(app, "werkplein", NO_STANDING).await,
        vec![to_care.clone()]
    );
    // Another resident's list is empty, not forbidden.
    assert!(ids_seen(app, "huisarts-de-linde", OTHER).await.is_empty());

    // The record as the recorder sees it.
    let (_, body) = list(app, "woonstad-noord", &format!("resident={NO_STANDING}")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let c = &v["consents"][0];
    assert_eq!(c["grantee"], "partner:wijkteam-centrum");
    assert_eq!(c["purpose"], "referral");
    assert_eq!(c["effect"], "permit");
    assert_eq!(c["categories"], json!(["identity", "contact", "needs"]));
    assert_eq!(c["recorded_by"], "woonstad-noord");
    assert_eq!(c["evidence"], "FORM-0001");
    assert_eq!(c["revoked_at"], Value::Null);
    assert_eq!(c["status"], "active");
    assert!(!body.contains(NO_STANDING), "the BSN is not echoed: {body}");
    n.app.stop().await;
}

#[tokio::test]
async fn a_consent_reads_as_expired_not_yet_valid_or_revoked() {
    let n = network().await;
    let app = &n.app;
    let mut expired = permit_for_partner(OTHER, "wijkteam-centrum");
    expired["valid_from"] = json!("2024-01-01T00:00:00Z");
    expired["valid_until"] = json!("2025-01-01T00:00:00Z");
    let expired = record(app, "woonstad-noord", expired).await;
    let mut later = permit_for_partner(OTHER, "wijkteam-centrum");
    later["valid_from"] = json!("2099-01-01T00:00:00Z");
    let later = record(app, "woonstad-noord", later).await;
    let revoked = record(
        app,
        "woonstad-noord",
        permit_for_partner(OTHER, "wijkteam-centrum"),
    )
    .await;
    assert_eq!(revoke(app, "woonstad-noord", &revoked).await.0, 200);

    let (_, body) = list(app, "wijkteam-centrum", &format!("resident={OTHER}")).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let status = |id: &str| {
        v["consents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(&expired), "expired");
    assert_eq!(status(&later), "not-yet-valid");
    assert_eq!(status(&revoked), "revoked");
    n.app.stop().await;
}

#[tokio::test]
async fn a_bad_or_missing_resident_is_refused_without_echoing_it() {
    let n = network().await;
    for query in ["resident=999900030", "resident=12", "", "resident=abc%ZZ"] {
        let (status, body) = list(&n.app, "woonstad-noord", query).await;
        assert_eq!(status, 422, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errors"][0]["location"], "resident", "{body}");
        assert_no_personal_data(&body);
    }
    let res = n
        .app
        .http
        .get(format!("{}/v1/consents?resident={NO_STANDING}", n.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    n.app.stop().await;
}

#[tokio::test]
async fn only_the_recorder_may_revoke_and_only_once() {
    let n = network().await;
    let app = &n.app;
    let id = record(
        app,
        "woonstad-noord",
        permit_for_partner(OTHER, "wijkteam-centrum"),
    )
    .await;
    // The grantee, another partner, an unknown id and a malformed one: not found.
    for (partner, consent) in [
        ("wijkteam-centrum", id.as_str()),
        ("huisarts-de-linde", id.as_str()),
        ("woonstad-noord", "0192f0c0-0000-7000-8000-000000000000"),
        ("woonstad-noord", "not-a-consent"),
    ] {
        let (status, body) = revoke(app, partner, consent).await;
        assert_eq!(status, 404, "{partner} {consent}: {body}");
    }
    let (status, body) = revoke(app, "woonstad-noord", &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["consent_id"], id.as_str());
    assert_eq!(body["cancelled_deliveries"], 0);
    assert_eq!(body["notified"], 0);
    assert!(body["revoked_at"].is_string());
    let (status, body) = revoke(app, "woonstad-noord", &id).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["type"], "urn:wijkbrug:problem:conflict");
    n.app.stop().await;
}

#[tokio::test]
async fn revoking_cancels_a_queued_delivery_and_tells_the_sender() {
    let n = network().await;
    let app = &n.app;
    let consent = record(
        app,
        "woonstad-noord",
        permit_for_partner(NO_STANDING, "wijkteam-centrum"),
    )
    .await;
    // The receiver is down for as long as this test lasts: the delivery stays queued.
    n.wijkteam.script((0..100_000).map(|_| Reply::Status(503)));
    let id = send_housing_referral(app, NO_STANDING).await;
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    assert_eq!(
        stored.shared.unwrap().consent.map(|c| c.to_string()),
        Some(consent.clone()),
        "shared under the recorded consent"
    );
    assert!(!wait_for_n(&n.wijkteam, id, 1).await.is_empty());

    let (status, body) = revoke(app, "woonstad-noord", &consent).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cancelled_deliveries"], 1);
    assert_eq!(body["notified"], 1);

    // The referral is consent_missing at once, with the reason.
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    let last = stored
        .referral
        .history
        .transitions()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last.to, ReferralStatus::ConsentMissing);
    assert_eq!(last.reason_code.as_deref(), Some("consent-revoked"));
    assert_eq!(
        last.reason
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .as_deref(),
        Some("the resident revoked the consent")
    );
    // The sender's system receives the notice in its own format.
    let back = wait_for_n(&n.woonstad, id, 1).await;
    assert_eq!(back.len(), 1, "the sender is told");
    let v: Value = serde_json::from_slice(&back[0].body).unwrap();
    assert_eq!(v["status"], "cancelled", "{v}");
    // Nothing more is attempted at the receiver.
    let attempts = only_for(&n.wijkteam.received(), id).len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(only_for(&n.wijkteam.received(), id).len(), attempts);

    // The audit chain holds the revocation and verifies.
    let events = audit_events(app).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    // Each resident's processing log holds every event that carries them.
    common::processing_logs::assert_every_event_of_a_resident_is_in_their_log(
        app.running.state.store.as_ref(),
        &events,
    )
    .await;
    let revoked = events
        .iter()
        .find(|e| e.action == AuditAction::ConsentRevoked && e.referral.is_none())
        .expect("a consent_revoked event");
    assert_eq!(revoked.detail["consent_id"], consent);
    assert_eq!(revoked.detail["cancelled_deliveries"], "1");
    assert_eq!(revoked.detail["notified"], "1");
    assert_eq!(
        revoked.partner.as_ref().map(|p| p.as_str()),
        Some("woonstad-noord")
    );
    assert!(revoked.resident.is_some());
    assert!(events
        .iter()
        .any(|e| e.action == AuditAction::DeliveryAttempt
            && e.referral == Some(id)
            && e.detail.get("result").map(String::as_str) == Some("cancelled")));
    for e in &events {
        let text = format!("{:?}", e.detail);
        assert_no_personal_data(&text);
    }
    n.app.stop().await;
}

#[tokio::test]
async fn revoking_after_delivery_tells_the_receiver_in_its_own_format() {
    let n = network().await;
    let app = &n.app;
    // Home care refers a resident to the GP, under a consent home care recorded.
    let consent = record(
        app,
        "thuiszorg-oost",
        permit_for_partner(OTHER, "huisarts-de-linde"),
    )
    .await;
    let bundle = native(
        Format::FhirR4,
        &request(
            "thuiszorg-oost",
            "TZO-REVOKE-2",
            OTHER,
            Target::Partner(pid("huisarts-de-linde")),
            false,
        ),
    );
    let id = referral_id(
        app.post_message("thuiszorg-oost", "application/fhir+json", bundle)
            .await,
    )
    .await;
    wait_for_status(app, id, ReferralStatus::Delivered).await;
    assert_eq!(wait_for_n(&n.huisarts, id, 1).await.len(), 1);

    let (status, body) = revoke(app, "thuiszorg-oost", &consent).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cancelled_deliveries"], 0);
    assert_eq!(body["notified"], 1);
    assert_eq!(status_of(app, id).await, ReferralStatus::ConsentMissing);
    let outbox = app.running.state.store.outbox_for(id).await.unwrap();
    assert!(outbox
        .iter()
        .any(|o| o.recipient.as_str() == "huisarts-de-linde"
            && matches!(o.kind, wijkbrug::store::OutboxKind::Status { .. })));

    // The GP's system receives a FHIR Task: the referral is cancelled.
    let got = wait_for_n(&n.huisarts, id, 2).await;
    let dead = app
        .running
        .state
        .store
        .dead_letters(None, 10)
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "the receiver is told; dead letters: {dead:?}");
    assert_eq!(got[1].content_type, "application/fhir+json");
    let ctx = DecodeContext {
        sender: pid("wijkbrug-gateway"),
        directory: Default::default(),
    };
    let records: Vec<_> = adapter_for(Format::FhirR4)
        .decode(&got[1].body, &ctx)
        .collect();
    match records.as_slice() {
        [Ok(Record::Status(update))] => {
            assert_eq!(update.status, ReferralStatus::Cancelled);
            assert_eq!(update.reason_code.as_deref(), Some("consent-revoked"));
        }
        other => panic!("{other:?}: {}", got[1].text()),
    }
    let events = audit_events(app).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    // Each resident's processing log holds every event that carries them.
    common::processing_logs::assert_every_event_of_a_resident_is_in_their_log(
        app.running.state.store.as_ref(),
        &events,
    )
    .await;
    assert!(events
        .iter()
        .any(|e| e.action == AuditAction::ConsentRevoked));
    n.app.stop().await;
}

fn fhir_fixture() -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/fhir-consent-valid.json")).unwrap()
}

async fn post_fhir(app: &TestApp, as_partner: &str, body: Vec<u8>) -> (u16, String) {
    let res = app
        .http
        .post(format!("{}/v1/consents", app.base))
        .bearer_auth(app.token(as_partner))
        .header("content-type", "application/fhir+json")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn a_fhir_consent_from_a_care_partner_is_recorded_with_either_bsn_system() {
    let n = network().await;
    let app = &n.app;
    let (status, body) = post_fhir(app, "huisarts-de-linde", fhir_fixture()).await;
    assert_eq!(status, 201, "{body}");
    let mut oid: Value = serde_json::from_slice(&fhir_fixture()).unwrap();
    oid["patient"]["identifier"]["system"] = json!("urn:oid:2.16.840.1.113883.2.4.6.3");
    let (status, body) =
        post_fhir(app, "huisarts-de-linde", serde_json::to_vec(&oid).unwrap()).await;
    assert_eq!(status, 201, "{body}");

    let (_, body) = list(app, "thuiszorg-oost", "resident=999900018").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    let mine: Vec<&Value> = v["consents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["recorded_by"] == "huisarts-de-linde")
        .collect();
    assert_eq!(mine.len(), 2, "{body}");
    assert_eq!(mine[0]["grantee"], "partner:thuiszorg-oost");
    assert_eq!(mine[0]["effect"], "permit");
    assert_eq!(
        mine[0]["categories"],
        json!(["identity", "needs", "health"])
    );
    assert_eq!(mine[0]["evidence"], "HDL-TOESTEMMING-0042");
    assert_eq!(mine[0]["valid_until"], "2036-10-01T00:00:00Z");
    n.app.stop().await;
}

#[tokio::test]
async fn the_standards_invalid_consents_are_refused_at_status() {
    let n = network().await;
    let dir = std::path::Path::new("/work/shared/standards/fhir-r4");
    let dir = if dir.exists() {
        dir.to_path_buf()
    } else {
        root().join("../shared/standards/fhir-r4")
    };
    for name in [
        "invalid-consent-missing-status.json",
        "invalid-consent-oid-bsn-missing-status.json",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let before = n.app.counts().await.consents;
        let (status, body) = post_fhir(&n.app, "huisarts-de-linde", bytes).await;
        assert_eq!(status, 422, "{name}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["location"] == "/status"),
            "{name}: {body}"
        );
        assert_no_personal_data(&body);
        assert_eq!(n.app.counts().await.consents, before, "nothing stored");
    }
    // The standard's valid example has no BSN, only a reference: it cannot be tied to a
    // resident and is refused, naming the field.
    let bytes = std::fs::read(dir.join("consent-example-basic.json")).unwrap();
    let (status, body) = post_fhir(&n.app, "huisarts-de-linde", bytes).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("/patient/identifier"), "{body}");
    assert!(!body.contains("van de Heuvel"), "{body}");
    n.app.stop().await;
}

#[tokio::test]
async fn a_fhir_consent_is_taken_only_from_a_fhir_partner_and_only_when_valid() {
    let n = network().await;
    let (status, body) = post_fhir(&n.app, "woonstad-noord", fhir_fixture()).await;
    assert_eq!(status, 415, "{body}");
    let mut inactive: Value = serde_json::from_slice(&fhir_fixture()).unwrap();
    inactive["status"] = json!("inactive");
    let (status, body) = post_fhir(
        &n.app,
        "huisarts-de-linde",
        serde_json::to_vec(&inactive).unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"/status\""), "{body}");
    let mut bad_bsn: Value = serde_json::from_slice(&fhir_fixture()).unwrap();
    bad_bsn["patient"]["identifier"]["value"] = json!("999900030");
    let (status, body) = post_fhir(
        &n.app,
        "huisarts-de-linde",
        serde_json::to_vec(&bad_bsn).unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("/patient/identifier/value"), "{body}");
    assert_no_personal_data(&body);
    let mut no_actor: Value = serde_json::from_slice(&fhir_fixture()).unwrap();
    no_actor["provision"]
        .as_object_mut()
        .unwrap()
        .remove("actor");
    let (status, body) = post_fhir(
        &n.app,
        "huisarts-de-linde",
        serde_json::to_vec(&no_actor).unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("/provision/actor"), "{body}");
    n.app.stop().await;
}

#[tokio::test]
async fn a_referral_already_accepted_is_cancelled_and_both_partners_are_told() {
    let n = network().await;
    let app = &n.app;
    let consent = record(
        app,
        "thuiszorg-oost",
        permit_for_partner(OTHER, "huisarts-de-linde"),
    )
    .await;
    let bundle = native(
        Format::FhirR4,
        &request(
            "thuiszorg-oost",
            "TZO-REVOKE-3",
            OTHER,
            Target::Partner(pid("huisarts-de-linde")),
            false,
        ),
    );
    let id = referral_id(
        app.post_message("thuiszorg-oost", "application/fhir+json", bundle)
            .await,
    )
    .await;
    wait_for_status(app, id, ReferralStatus::Delivered).await;
    // The GP accepts, in its own format.
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    let seen = stored.shared.unwrap().request;
    let update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        wijkbrug::store::now(),
    )
    .unwrap();
    let task = adapter_for(Format::FhirR4)
        .encode_status(
            wijkbrug_adapters::adapter::OutgoingStatus {
                id,
                request: &seen,
                update: &update,
            },
            &app.running.state.directory,
        )
        .unwrap();
    let res = app
        .post_message("huisarts-de-linde", "application/fhir+json", task)
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(status_of(app, id).await, ReferralStatus::Accepted);
    let (status, body) = revoke(app, "thuiszorg-oost", &consent).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["cancelled_deliveries"], 0);
    assert_eq!(body["notified"], 1);
    // The withdrawal ends the work: the referral is cancelled and the GP (receiver) and the
    // nursing provider (sender) each get a cancelled Task in FHIR.
    assert_eq!(status_of(app, id).await, ReferralStatus::Cancelled);
    let stored = app.running.state.store.referral(id).await.unwrap().unwrap();
    let last = stored
        .referral
        .history
        .transitions()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last.reason_code.as_deref(), Some("consent-revoked"));
    for server in [&n.huisarts, &n.thuiszorg] {
        // The GP got the referral, the sender the GP's acceptance; then each a notice.
        let notices: Vec<_> = wait_for_n(server, id, 2)
            .await
            .into_iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("\"cancelled\""))
            .collect();
        assert_eq!(notices.len(), 1, "one cancelled Task");
        let task: serde_json::Value = serde_json::from_slice(&notices[0].body).unwrap();
        assert_eq!(task["resourceType"], "Task");
        assert_eq!(task["status"], "cancelled");
    }
    let events = audit_events(app).await;
    assert_eq!(verify(&events), Ok(events.len() as u64));
    // Each resident's processing log holds every event that carries them.
    common::processing_logs::assert_every_event_of_a_resident_is_in_their_log(
        app.running.state.store.as_ref(),
        &events,
    )
    .await;
    let summary = events
        .iter()
        .find(|e| e.action == AuditAction::ConsentRevoked && e.referral.is_none())
        .unwrap();
    assert_eq!(summary.detail["notified"], "1");
    assert_eq!(summary.detail["not_notified"], "0");
    n.app.stop().await;
}
