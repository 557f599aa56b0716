//! The closed loop with real partner systems on loopback: a referral reaches the receiver in
//! its own format, by push or mailbox, and the receiver's answer reaches the sender in the
//! sender's own format.

mod common;

use std::time::Duration;

use common::network::{wait_for_status as wait_status, Network, ADMIN_TOKEN, OPS_TOKEN, WAIT};
use common::partner_server::{point_partner_at, PartnerServer, Received};
use common::*;
use serde_json::Value;
use wijkbrug_adapters::adapter::OutgoingStatus;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, DecodeContext, Format, Record};

async fn network() -> Network {
    common::network::start(&[("WIJKBRUG__DELIVERY__MAILBOX_VISIBILITY_SECS", "1")]).await
}

/// Decodes what a partner received with that partner's own adapter, as its system would.
fn decode(format: Format, as_partner: &str, bytes: &[u8]) -> Record {
    let ctx = DecodeContext {
        sender: pid(as_partner),
        directory: Default::default(),
    };
    let mut records: Vec<_> = adapter_for(format).decode(bytes, &ctx).collect();
    assert_eq!(records.len(), 1, "{}", String::from_utf8_lossy(bytes));
    records
        .remove(0)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

async fn referral_id(res: reqwest::Response) -> ReferralId {
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["accepted"][0]["status"], "routed", "{v}");
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

/// The receiver answers in its own format, through intake.
async fn answer(
    n: &Network,
    receiver: &str,
    format: Format,
    id: ReferralId,
    status: ReferralStatus,
) {
    let stored = n
        .app
        .running
        .state
        .store
        .referral(id)
        .await
        .unwrap()
        .unwrap();
    let shared = stored.shared.unwrap();
    let mut seen = shared.request.clone();
    // An iWmo answer refers to the 315 the gateway sent: the gateway's id as reference.
    seen.source.reference = ExternalRef::parse(&id.to_string()).unwrap();
    if format == Format::Iwmo32 {
        seen.source.partner = pid("thuiszorg-oost");
    }
    let update = StatusUpdate::new(ReferralRef::Id(id), status, store_now()).unwrap();
    let body = adapter_for(format)
        .encode_status(
            OutgoingStatus {
                id,
                request: &seen,
                update: &update,
            },
            &n.app.running.state.directory,
        )
        .unwrap();
    let res = n
        .app
        .post_message(receiver, format.media_type(), body)
        .await;
    let code = res.status();
    assert_eq!(code, 200, "{receiver}: {}", res.text().await.unwrap());
}

fn store_now() -> chrono::DateTime<chrono::Utc> {
    wijkbrug::store::now()
}

fn only_for(received: &[Received], id: ReferralId) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.referral == id.to_string())
        .cloned()
        .collect()
}

#[tokio::test]
async fn housing_to_welfare_and_the_answer_back_to_housing() {
    let n = network().await;
    let signal = rent_arrears_signal();
    let id = referral_id(
        n.app
            .post_message("woonstad-noord", "application/json", signal)
            .await,
    )
    .await;
    // The municipality's desk receives an iWmo 315.
    let got = only_for(&n.wijkteam.wait_for(1, WAIT).await, id);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content_type, "application/xml");
    assert!(got[0].text().contains("wmo315:Bericht"));
    assert!(got[0].idempotency_key.starts_with(&id.to_string()));
    let Record::Referral(r) = decode(Format::Iwmo32, "wijkbrug-gateway", &got[0].body) else {
        panic!()
    };
    assert_eq!(
        r.request.resident.identity.unwrap().bsn.as_str(),
        "999900006"
    );
    // It becomes delivered (once the gateway has recorded the partner's answer), then the desk
    // accepts with a 301.
    wait_status(&n.app, id, ReferralStatus::Delivered).await;
    answer(
        &n,
        "wijkteam-centrum",
        Format::Iwmo32,
        id,
        ReferralStatus::Accepted,
    )
    .await;
    // The housing corporation gets its JSON status callback.
    let back = only_for(&n.woonstad.wait_for(1, WAIT).await, id);
    assert_eq!(back.len(), 1, "{back:?}");
    let v: Value = serde_json::from_slice(&back[0].body).unwrap();
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["signaal_id"], "HUUR-2026-0042");
    n.app.stop().await;
}

#[tokio::test]
async fn care_to_care_and_the_task_back() {
    let n = network().await;
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-9",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    let id = referral_id(
        n.app
            .post_message("huisarts-de-linde", "application/fhir+json", fhir)
            .await,
    )
    .await;
    let got = only_for(&n.thuiszorg.wait_for(1, WAIT).await, id);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content_type, "application/fhir+json");
    let bundle: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "transaction");
    // Delivered once the gateway stored the acknowledgement; the answer follows.
    wait_status(&n.app, id, ReferralStatus::Delivered).await;
    answer(
        &n,
        "thuiszorg-oost",
        Format::FhirR4,
        id,
        ReferralStatus::Accepted,
    )
    .await;
    let back = only_for(&n.huisarts.wait_for(1, WAIT).await, id);
    assert_eq!(back.len(), 1);
    let task: Value = serde_json::from_slice(&back[0].body).unwrap();
    assert_eq!(task["resourceType"], "Task");
    assert_eq!(task["status"], "accepted");
    n.app.stop().await;
}

#[tokio::test]
async fn employment_by_mailbox_to_welfare_and_the_decline_back_in_the_mailbox() {
    let n = network().await;
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-40",
            "999900006",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let id = referral_id(n.app.post_message("werkplein", "text/csv", csv).await).await;
    let got = only_for(&n.wijkteam.wait_for(1, WAIT).await, id);
    assert_eq!(got.len(), 1);
    wait_status(&n.app, id, ReferralStatus::Delivered).await;
    answer(
        &n,
        "wijkteam-centrum",
        Format::Iwmo32,
        id,
        ReferralStatus::Declined,
    )
    .await;
    // The Werkplein pulls its answer as a CSV row.
    let mut rows = Vec::new();
    for _ in 0..100 {
        let page: Value = n
            .app
            .http
            .get(format!("{}/v1/partners/werkplein/mailbox", n.app.base))
            .bearer_auth(n.app.token("werkplein"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rows = page["items"].as_array().unwrap().clone();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rows.len(), 1, "one status row for the Werkplein");
    assert_eq!(rows[0]["kind"], "status");
    assert_eq!(rows[0]["content_type"], "text/csv");
    let Record::Status(u) = decode(
        Format::EmploymentCsv,
        "werkplein",
        rows[0]["content"].as_str().unwrap().as_bytes(),
    ) else {
        panic!()
    };
    assert_eq!(u.status, ReferralStatus::Declined);
    n.app.stop().await;
}

#[tokio::test]
async fn the_mailbox_offers_hides_and_offers_again_until_acknowledged() {
    let n = network().await;
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-M",
            "999900006",
            Target::Partner(pid("werkplein")),
            false,
        ),
    );
    let id = referral_id(
        n.app
            .post_message("huisarts-de-linde", "application/fhir+json", fhir)
            .await,
    )
    .await;
    let get = || async {
        let res = n
            .app
            .http
            .get(format!("{}/v1/partners/werkplein/mailbox", n.app.base))
            .bearer_auth(n.app.token("werkplein"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let v: Value = res.json().await.unwrap();
        v["items"].as_array().unwrap().clone()
    };
    let first = get().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["referral_id"], id.to_string());
    assert_eq!(first[0]["content_type"], "text/csv");
    let Record::Referral(r) = decode(
        Format::EmploymentCsv,
        "werkplein",
        first[0]["content"].as_str().unwrap().as_bytes(),
    ) else {
        panic!()
    };
    assert!(
        r.request.note.is_none(),
        "notes were not consented to the Werkplein"
    );
    assert!(get().await.is_empty(), "hidden while offered");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = get().await;
    assert_eq!(again.len(), 1, "offered again after the visibility timeout");
    assert_eq!(again[0]["idempotency_key"], first[0]["idempotency_key"]);
    let item = again[0]["id"].as_i64().unwrap();
    // Another partner cannot acknowledge it.
    let res = n
        .app
        .http
        .post(format!(
            "{}/v1/partners/woonstad-noord/mailbox/{item}/ack",
            n.app.base
        ))
        .bearer_auth(n.app.token("woonstad-noord"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let res = n
        .app
        .http
        .post(format!(
            "{}/v1/partners/werkplein/mailbox/{item}/ack",
            n.app.base
        ))
        .bearer_auth(n.app.token("werkplein"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        get().await.is_empty(),
        "acknowledged items are not offered again"
    );
    assert_eq!(
        n.app
            .running
            .state
            .store
            .referral(id)
            .await
            .unwrap()
            .unwrap()
            .referral
            .status(),
        ReferralStatus::Delivered
    );
    // A push partner has no mailbox.
    let res = n
        .app
        .http
        .get(format!("{}/v1/partners/woonstad-noord/mailbox", n.app.base))
        .bearer_auth(n.app.token("woonstad-noord"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    n.app.stop().await;
}

#[tokio::test]
async fn a_revoked_consent_stops_a_queued_delivery() {
    let n = network().await;
    // Record a consent through the API, queue a referral under it while the receiver is
    // down, then record the resident's objection: the next attempt is cancelled instead.
    let consent = serde_json::json!({"resident_bsn": "999900043", "grantee_partner": "wijkteam-centrum", "purpose": "referral",
        "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z"});
    let res = n
        .app
        .http
        .post(format!("{}/v1/consents", n.app.base))
        .bearer_auth(n.app.token("werkplein"))
        .json(&consent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The receiver is down for as long as this test lasts.
    n.wijkteam
        .script((0..100_000).map(|_| common::partner_server::Reply::Status(503)));
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-R",
            "999900043",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let id = referral_id(n.app.post_message("werkplein", "text/csv", csv).await).await;
    n.wijkteam.wait_for(1, WAIT).await;
    let objection = serde_json::json!({"resident_bsn": "999900043", "grantee_sector": "welfare", "purpose": "referral", "effect": "deny",
        "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z"});
    let res = n
        .app
        .http
        .post(format!("{}/v1/consents", n.app.base))
        .bearer_auth(n.app.token("werkplein"))
        .json(&objection)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let status = n
            .app
            .running
            .state
            .store
            .referral(id)
            .await
            .unwrap()
            .unwrap()
            .referral
            .status();
        if status == ReferralStatus::ConsentMissing {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing is attempted after the cancellation.
    let attempts = only_for(&n.wijkteam.received(), id).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(only_for(&n.wijkteam.received(), id).len(), attempts);
    let outbox = n.app.running.state.store.outbox_for(id).await.unwrap();
    assert!(
        outbox.iter().any(|o| o.recipient.as_str() == "werkplein"),
        "the sender is told"
    );
    n.app.stop().await;
}

#[tokio::test]
async fn a_dead_letter_is_retried_by_operations_after_the_partner_is_fixed() {
    use common::partner_server::Reply;
    let n = network().await;
    n.wijkteam.script([Reply::Status(400), Reply::Status(400)]);
    let signal = rent_arrears_signal();
    let id = referral_id(
        n.app
            .post_message("woonstad-noord", "application/json", signal)
            .await,
    )
    .await;
    wait_status(&n.app, id, ReferralStatus::Undeliverable).await;
    assert_eq!(
        only_for(&n.wijkteam.received(), id).len(),
        1,
        "a 400 is not retried"
    );
    // The sender is told, in its own format.
    let notice = only_for(&n.woonstad.wait_for(1, WAIT).await, id);
    let v: Value = serde_json::from_slice(&notice[0].body).unwrap();
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["reden_code"], "undeliverable");

    let ops = |path: &str| n.app.http.get(format!("{}{path}", n.app.base));
    assert_eq!(
        ops("/v1/ops/dead-letters").send().await.unwrap().status(),
        401
    );
    assert_eq!(
        ops("/v1/ops/dead-letters")
            .bearer_auth(n.app.token("woonstad-noord"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let page: Value = ops("/v1/ops/dead-letters")
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["referral_id"], id.to_string());
    assert_eq!(items[0]["recipient"], "wijkteam-centrum");
    assert!(
        items[0]["last_error"].as_str().unwrap().contains("400"),
        "{page}"
    );
    let text = page.to_string();
    assert!(
        !text.contains("999900006") && !text.contains("Berg"),
        "metadata only: {text}"
    );
    let dead = items[0]["id"].as_i64().unwrap();

    // The partner is fixed (it answers 400 once more, then 200): retry from the API.
    let post = |path: String| {
        n.app
            .http
            .post(format!("{}{path}", n.app.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    // Operations staff see dead letters; only an admin acts on them.
    let as_ops = n
        .app
        .http
        .post(format!("{}/v1/ops/dead-letters/{dead}/retry", n.app.base))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(as_ops.status(), 403);
    assert_eq!(
        post(format!("/v1/ops/dead-letters/{dead}/retry"))
            .await
            .unwrap()
            .status(),
        204
    );
    wait_status(&n.app, id, ReferralStatus::Undeliverable).await;
    let dead_again = {
        let page: Value = ops("/v1/ops/dead-letters")
            .bearer_auth(OPS_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["items"][0]["id"].as_i64().unwrap()
    };
    assert_eq!(
        post(format!("/v1/ops/dead-letters/{dead_again}/retry"))
            .await
            .unwrap()
            .status(),
        204
    );
    wait_status(&n.app, id, ReferralStatus::Delivered).await;
    assert_eq!(only_for(&n.wijkteam.received(), id).len(), 3);
    let history = n
        .app
        .running
        .state
        .store
        .referral(id)
        .await
        .unwrap()
        .unwrap()
        .referral
        .history;
    assert!(
        history
            .transitions()
            .iter()
            .any(|t| matches!(&t.by, Actor::Operator(o) if o == "demo-admin")),
        "the operator's action is recorded"
    );
    // Not a dead letter any more: retry and discard are 404.
    assert_eq!(
        post(format!("/v1/ops/dead-letters/{dead}/retry"))
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        post(format!("/v1/ops/dead-letters/{dead}/discard"))
            .await
            .unwrap()
            .status(),
        404
    );
    n.app.stop().await;
}

#[tokio::test]
async fn a_discarded_dead_letter_cancels_its_referral() {
    use common::partner_server::Reply;
    let n = network().await;
    n.thuiszorg.script([Reply::Status(422)]);
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-D",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    let id = referral_id(
        n.app
            .post_message("huisarts-de-linde", "application/fhir+json", fhir)
            .await,
    )
    .await;
    wait_status(&n.app, id, ReferralStatus::Undeliverable).await;
    let page: Value = n
        .app
        .http
        .get(format!("{}/v1/ops/dead-letters", n.app.base))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dead = page["items"][0]["id"].as_i64().unwrap();
    let res = n
        .app
        .http
        .post(format!("{}/v1/ops/dead-letters/{dead}/discard", n.app.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    wait_status(&n.app, id, ReferralStatus::Cancelled).await;
    let page: Value = n
        .app
        .http
        .get(format!("{}/v1/ops/dead-letters", n.app.base))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(page["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["id"] != dead));
    n.app.stop().await;
}

#[tokio::test]
async fn a_burst_for_one_partner_keeps_to_its_outbound_quota() {
    let wijkteam = PartnerServer::start().await;
    let url = wijkteam.url();
    let app = TestApp::spawn_with(
        |dir| {
            point_partner_at(dir, "wijkteam-centrum", &url);
            // 4 deliveries a second, bursts of 1.
            let file = dir.join("partners/wijkteam-centrum.toml");
            let text = std::fs::read_to_string(&file).unwrap();
            let mut in_outbound = false;
            let changed: Vec<String> = text
                .lines()
                .map(|l| {
                    if l.starts_with('[') {
                        in_outbound = l.trim() == "[outbound_rate]";
                    }
                    match l.split('=').next().map(str::trim) {
                        Some("per_second") if in_outbound => "per_second = 4".to_owned(),
                        Some("burst") if in_outbound => "burst = 1".to_owned(),
                        _ => l.to_owned(),
                    }
                })
                .collect();
            std::fs::write(&file, changed.join("\n") + "\n").unwrap();
        },
        &[("WIJKBRUG__DELIVERY__POLL_INTERVAL_MS", "20")],
    )
    .await;
    let n = 9;
    for i in 0..n {
        let csv = native(
            Format::EmploymentCsv,
            &request(
                "werkplein",
                &format!("WP-Q{i}"),
                "999900006",
                Target::Sector(Sector::Welfare),
                false,
            ),
        );
        assert_eq!(
            app.post_message("werkplein", "text/csv", csv)
                .await
                .status(),
            202
        );
    }
    let got = wijkteam.wait_for(n, WAIT).await;
    assert_eq!(got.len(), n);
    // With a burst of 1 and 4 a second, the gateway sends 9 deliveries over at least 2
    // seconds; the partner's own receive times show it. A lower bound (a slow machine only
    // makes it longer), less two of the limiter's intervals: the first delivery may reach the
    // partner late (a new connection on a busy machine) while the later ones do not, which
    // shortens the span the partner sees by that delay. Without the limit the 9 arrive
    // within a few hundred milliseconds.
    let span = got[n - 1].at.duration_since(got[0].at);
    assert!(
        span >= Duration::from_millis(1500),
        "9 deliveries in {span:?} exceed 4 a second"
    );
    app.stop().await;
}

/// The municipality's desk answers the WMO315 the gateway relayed with a WMO301 (accepted),
/// then a WMO305 (started) and a WMO307 (stopped), as its own system writes them: the 305 and
/// 307 name the referral only by each product's `ToewijzingNummer`, which the gateway links
/// back to the referral. The housing corporation hears of every step.
#[tokio::test]
async fn welfare_reports_assignment_start_and_stop_in_iwmo() {
    use wijkbrug_adapters::adapter::OutgoingStatus;
    use wijkbrug_adapters::DirectoryEntry;

    let n = network().await;
    let signal = rent_arrears_signal();
    let id = referral_id(
        n.app
            .post_message("woonstad-noord", "application/json", signal)
            .await,
    )
    .await;
    let got = only_for(&n.wijkteam.wait_for(1, WAIT).await, id);
    assert_eq!(got.len(), 1);
    wait_status(&n.app, id, ReferralStatus::Delivered).await;
    // The desk's system knows the gateway by its AGB code, as the requesting provider.
    let mut directory = n.app.running.state.directory.clone();
    let gateway = DirectoryEntry {
        partner: pid("wijkbrug"),
        sector: Sector::Welfare,
        agb: directory.gateway_agb.clone(),
        municipality: Some(MunicipalityCode::parse("0384").unwrap()),
    };
    directory.entries.push(gateway);
    let ctx = DecodeContext {
        sender: pid("wijkbrug"),
        directory: directory.clone(),
    };
    let mut records: Vec<_> = adapter_for(Format::Iwmo32)
        .decode(&got[0].body, &ctx)
        .collect();
    let Ok(Record::Referral(received)) = records.remove(0) else {
        panic!("a WMO315")
    };
    assert_eq!(received.gateway_id, Some(id));
    assert!(
        received.request.needs.len() > 1,
        "several products, so the 305 and 307 list several"
    );
    let mut told = 0;
    for (status, kind) in [
        (ReferralStatus::Accepted, "wmo301"),
        (ReferralStatus::InProgress, "wmo305"),
        (ReferralStatus::Completed, "wmo307"),
    ] {
        let update = StatusUpdate::new(ReferralRef::Id(id), status, store_now()).unwrap();
        let body = adapter_for(Format::Iwmo32)
            .encode_status(
                OutgoingStatus {
                    id,
                    request: &received.request,
                    update: &update,
                },
                &directory,
            )
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains(kind));
        let res = n
            .app
            .post_message("wijkteam-centrum", "application/xml", body)
            .await;
        assert_eq!(res.status(), 200, "{kind}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["applied"].as_array().unwrap().len(), 1, "{kind}: {v}");
        assert_eq!(v["applied"][0]["referral_id"], id.to_string());
        assert!(v["refused"].as_array().unwrap().is_empty(), "{kind}: {v}");
        wait_status(&n.app, id, status).await;
        told += 1;
        let back = only_for(&n.woonstad.wait_for(told, WAIT).await, id);
        assert_eq!(back.len(), told);
        let callback: Value = serde_json::from_slice(&back[told - 1].body).unwrap();
        assert_eq!(callback["status"], status.code());
    }
    // The 305 and 307 carry dates only (midnight): the history keeps its order, each change
    // at the time it was reported.
    let history = n
        .app
        .running
        .state
        .store
        .referral(id)
        .await
        .unwrap()
        .unwrap()
        .referral
        .history;
    let times: Vec<_> = history.transitions().iter().map(|t| t.at).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "in order: {times:?}"
    );
    n.app.stop().await;
}
