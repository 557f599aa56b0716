//! Who may use which route: every route of the API × every kind of caller (no token, the
//! owning partner, other partners, operations, privacy officer, admin) gets the answer the
//! role matrix says; the matrix covers every route of the OpenAPI description; operations and
//! admin tokens never receive resident data from any route over a full run; an admin's
//! consent import is all or nothing; the audit-chain route reports a tampered event.

mod common;

use std::collections::BTreeSet;

use common::network::{wait_for_status, Network, ADMIN_TOKEN, OPS_TOKEN, PRIVACY_TOKEN, WAIT};
use common::partner_server::Reply;
use common::{native, rent_arrears_signal, request, PERSONAL};
use reqwest::Method;
use serde_json::{json, Value};
use wijkbrug_adapters::model::{ReferralId, ReferralStatus, Sector, Target};
use wijkbrug_adapters::Format;

/// The callers, in the order each route is tried: refusals first, so a state-changing route's
/// one allowed call comes last.
const CALLERS: [&str; 8] = [
    "anonymous",
    "thuiszorg-oost",
    "werkplein",
    "wijkteam-centrum",
    "operations",
    "privacy_officer",
    "admin",
    "woonstad-noord",
];

fn token_of<'a>(n: &'a Network, caller: &str) -> Option<&'a str> {
    match caller {
        "anonymous" => None,
        "operations" => Some(OPS_TOKEN),
        "privacy_officer" => Some(PRIVACY_TOKEN),
        "admin" => Some(ADMIN_TOKEN),
        partner => Some(n.app.token(partner)),
    }
}

/// One route with a concrete path and body, and the status each caller gets (in
/// [`CALLERS`] order).
struct Case {
    method: Method,
    /// The templated path, as the OpenAPI description names it.
    template: &'static str,
    path: String,
    body: Option<(&'static str, Vec<u8>)>,
    expect: [u16; 8],
}

fn referral_id(v: &Value) -> ReferralId {
    ReferralId::parse(v["accepted"][0]["referral_id"].as_str().unwrap()).unwrap()
}

fn consent_body() -> Vec<u8> {
    json!({"resident_bsn": "999900006", "grantee_partner": "wijkteam-centrum",
        "purpose": "referral", "categories": ["identity", "needs"],
        "valid_from": "2026-01-01T00:00:00Z"})
    .to_string()
    .into_bytes()
}

fn import_body(bsn: &str) -> Vec<u8> {
    json!({"consents": [{"recorded_by": "woonstad-noord", "resident_bsn": bsn,
        "grantee_sector": "welfare", "purpose": "referral",
        "categories": ["identity", "contact", "needs"],
        "valid_from": "2026-01-01T00:00:00Z", "evidence": "PAPER-7"}]})
    .to_string()
    .into_bytes()
}

async fn send(
    n: &Network,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&(&str, Vec<u8>)>,
) -> reqwest::Response {
    let mut req = n.app.http.request(method, format!("{}{path}", n.app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some((content_type, bytes)) = body {
        req = req
            .header("content-type", *content_type)
            .body(bytes.clone());
    }
    req.send().await.unwrap()
}

/// A referral from woonstad-noord delivered to wijkteam-centrum, and a consent woonstad-noord
/// recorded; their ids.
async fn setup(n: &Network) -> (ReferralId, String) {
    let res = n
        .app
        .post_message("woonstad-noord", "application/json", rent_arrears_signal())
        .await;
    assert_eq!(res.status(), 202);
    let id = referral_id(&res.json().await.unwrap());
    wait_for_status(&n.app, id, ReferralStatus::Delivered).await;
    let res = send(
        n,
        Method::POST,
        "/v1/consents",
        token_of(n, "woonstad-noord"),
        Some(&("application/json", consent_body())),
    )
    .await;
    assert_eq!(res.status(), 201);
    let consent = res.json::<Value>().await.unwrap()["consent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, consent)
}

fn matrix(id: ReferralId, consent: &str) -> Vec<Case> {
    let json = "application/json";
    let case = |method: Method, template, path: String, body, expect| Case {
        method,
        template,
        path,
        body,
        expect,
    };
    //            anon thuisz werkp wijkt  ops  priv admin woonst
    vec![
        case(
            Method::POST,
            "/v1/partners/{partner}/messages",
            "/v1/partners/woonstad-noord/messages".into(),
            Some((json, rent_arrears_signal())),
            [401, 403, 403, 403, 403, 403, 403, 202],
        ),
        case(
            Method::GET,
            "/v1/referrals/{id}",
            format!("/v1/referrals/{id}"),
            None,
            [401, 404, 404, 200, 403, 403, 403, 200],
        ),
        case(
            Method::POST,
            "/v1/consents",
            "/v1/consents".into(),
            Some((json, consent_body())),
            [401, 201, 201, 201, 403, 403, 403, 201],
        ),
        case(
            Method::GET,
            "/v1/consents",
            "/v1/consents?resident=999900006".into(),
            None,
            [401, 200, 200, 200, 403, 403, 403, 200],
        ),
        case(
            Method::POST,
            "/v1/consents/{id}/revoke",
            format!("/v1/consents/{consent}/revoke"),
            None,
            [401, 404, 404, 404, 403, 403, 403, 200],
        ),
        case(
            Method::GET,
            "/v1/partners/{partner}/mailbox",
            "/v1/partners/werkplein/mailbox".into(),
            None,
            [401, 403, 200, 403, 403, 403, 403, 403],
        ),
        case(
            Method::POST,
            "/v1/partners/{partner}/mailbox/{item}/ack",
            "/v1/partners/werkplein/mailbox/999999/ack".into(),
            None,
            [401, 403, 404, 403, 403, 403, 403, 403],
        ),
        case(
            Method::GET,
            "/v1/ops/dead-letters",
            "/v1/ops/dead-letters".into(),
            None,
            [401, 403, 403, 403, 200, 403, 200, 403],
        ),
        case(
            Method::POST,
            "/v1/ops/dead-letters/{id}/retry",
            "/v1/ops/dead-letters/999999/retry".into(),
            None,
            [401, 403, 403, 403, 403, 403, 404, 403],
        ),
        case(
            Method::POST,
            "/v1/ops/dead-letters/{id}/discard",
            "/v1/ops/dead-letters/999999/discard".into(),
            None,
            [401, 403, 403, 403, 403, 403, 404, 403],
        ),
        case(
            Method::GET,
            "/v1/privacy/residents/{bsn}/processing-log",
            "/v1/privacy/residents/999900006/processing-log".into(),
            None,
            [401, 403, 403, 403, 403, 200, 403, 403],
        ),
        case(
            Method::GET,
            "/v1/audit/chain",
            "/v1/audit/chain".into(),
            None,
            [401, 403, 403, 403, 200, 200, 200, 403],
        ),
        case(
            Method::POST,
            "/v1/admin/consents",
            "/v1/admin/consents".into(),
            Some((json, import_body("999900043"))),
            [401, 403, 403, 403, 403, 403, 201, 403],
        ),
        case(Method::GET, "/healthz", "/healthz".into(), None, [200; 8]),
        case(Method::GET, "/readyz", "/readyz".into(), None, [200; 8]),
        case(Method::GET, "/metrics", "/metrics".into(), None, [200; 8]),
        case(
            Method::GET,
            "/openapi.json",
            "/openapi.json".into(),
            None,
            [200; 8],
        ),
    ]
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_role_matrix_says() {
    let n = common::network::start(&[]).await;
    let (id, consent) = setup(&n).await;
    let doc = openapi(&n).await;
    let mut wrong = Vec::new();
    let mut undocumented = Vec::new();
    for case in matrix(id, &consent) {
        for (caller, want) in CALLERS.iter().zip(case.expect) {
            let res = send(
                &n,
                case.method.clone(),
                &case.path,
                token_of(&n, caller),
                case.body.as_ref(),
            )
            .await;
            let got = res.status().as_u16();
            // Every answer a caller can get is in the OpenAPI description (the description
            // itself is not described in it).
            if case.template != "/openapi.json"
                && doc["paths"][case.template][case.method.as_str().to_lowercase()]["responses"]
                    [got.to_string()]
                .is_null()
            {
                undocumented.push(format!(
                    "{} {} as {caller}: {got}",
                    case.method, case.template
                ));
            }
            let content_type = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if got != want {
                wrong.push(format!(
                    "{} {} as {caller}: {got}, want {want}: {}",
                    case.method,
                    case.path,
                    res.text().await.unwrap_or_default()
                ));
            } else if got == 401 || got == 403 {
                assert_eq!(content_type, "application/problem+json", "{}", case.path);
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert!(
        undocumented.is_empty(),
        "not in the OpenAPI description: {undocumented:#?}"
    );
    n.app.stop().await;
}

async fn openapi(n: &Network) -> Value {
    n.app.openapi().await
}

/// Every (method, path) of the OpenAPI description.
async fn documented_routes(n: &Network) -> BTreeSet<(String, String)> {
    let doc = openapi(n).await;
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

#[tokio::test]
async fn the_matrix_covers_every_documented_route() {
    let n = common::network::start(&[]).await;
    let documented = documented_routes(&n).await;
    assert!(documented.len() >= 15, "{documented:?}");
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000000").unwrap();
    let mut documented = documented;
    // The description itself is not described in it.
    documented.insert(("GET".to_owned(), "/openapi.json".to_owned()));
    let in_matrix: BTreeSet<(String, String)> = matrix(id, "x")
        .into_iter()
        .map(|c| (c.method.to_string(), c.template.to_owned()))
        .collect();
    assert_eq!(documented, in_matrix);
    n.app.stop().await;
}

/// Fails naming the route if `text` carries any test resident's value.
fn assert_metadata_only(route: &str, text: &str) {
    for word in PERSONAL {
        assert!(!text.contains(word), "{route} gave staff `{word}`: {text}");
    }
}

#[tokio::test]
async fn operations_and_admin_tokens_never_receive_resident_data_from_any_route() {
    let n = common::network::start(&[]).await;
    // A full run: delivered, refused for want of consent, and a dead letter.
    let (delivered, consent) = setup(&n).await;
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-SWEEP",
            "999900043",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let res = n.app.post_message("werkplein", "text/csv", csv).await;
    let refused = referral_id(&res.json().await.unwrap());
    n.thuiszorg.script([Reply::Status(422)]);
    let fhir = native(
        Format::FhirR4,
        &request(
            "huisarts-de-linde",
            "GP-SWEEP",
            "999900018",
            Target::Sector(Sector::Care),
            true,
        ),
    );
    let res = n
        .app
        .post_message("huisarts-de-linde", "application/fhir+json", fhir)
        .await;
    let dead = referral_id(&res.json().await.unwrap());
    wait_for_status(&n.app, refused, ReferralStatus::ConsentMissing).await;
    wait_for_status(&n.app, dead, ReferralStatus::Undeliverable).await;

    let page: Value = send(
        &n,
        Method::GET,
        "/v1/ops/dead-letters",
        Some(OPS_TOKEN),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let dead_letter = page["items"][0]["id"].as_i64().unwrap();

    // Every documented route, with bodies and paths that carry resident data where the
    // route takes them: a refusal must not echo them.
    let mut cases = matrix(delivered, &consent);
    cases.push(Case {
        method: Method::POST,
        template: "/v1/ops/dead-letters/{id}/retry",
        path: format!("/v1/ops/dead-letters/{dead_letter}/retry"),
        body: None,
        expect: [0; 8],
    });
    cases.push(Case {
        method: Method::GET,
        template: "/v1/referrals/{id}",
        path: format!("/v1/referrals/{dead}"),
        body: None,
        expect: [0; 8],
    });
    let mut seen = 0;
    for token in [OPS_TOKEN, ADMIN_TOKEN] {
        for case in &cases {
            let res = send(
                &n,
                case.method.clone(),
                &case.path,
                Some(token),
                case.body.as_ref(),
            )
            .await;
            let route = format!("{} {}", case.method, case.path);
            for (name, value) in res.headers() {
                assert_metadata_only(&route, &format!("{name}: {value:?}"));
            }
            let text = res.text().await.unwrap();
            assert_metadata_only(&route, &text);
            seen += 1;
        }
    }
    assert_eq!(seen, 2 * cases.len());
    // The admin's retry went through; the list still names partners and ids only.
    let page = send(
        &n,
        Method::GET,
        "/v1/ops/dead-letters",
        Some(ADMIN_TOKEN),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert_metadata_only("GET /v1/ops/dead-letters", &page);
    n.app.stop().await;
}

#[tokio::test]
async fn an_admin_imports_consents_all_or_nothing_and_the_import_is_audited() {
    let n = common::network::start(&[]).await;
    let import = |body: Value| {
        let n = &n;
        async move {
            send(
                n,
                Method::POST,
                "/v1/admin/consents",
                Some(ADMIN_TOKEN),
                Some(&("application/json", body.to_string().into_bytes())),
            )
            .await
        }
    };
    let before = n.app.counts().await;
    // One bad entry refuses the whole import, naming each problem at its place.
    let res = import(json!({"consents": [
        {"recorded_by": "woonstad-noord", "resident_bsn": "999900043", "grantee_sector": "welfare",
         "purpose": "referral", "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z"},
        {"recorded_by": "no-such-partner", "resident_bsn": "999900044", "grantee_partner": "nobody-here",
         "purpose": "referral", "categories": ["identity", "gossip"], "valid_from": "yesterday"},
        {"resident_bsn": "999900043", "grantee_sector": "welfare", "purpose": "referral",
         "categories": ["needs"], "valid_from": "2026-01-01T00:00:00Z"},
        {"recorded_by": "woonstad-noord", "resident_bsn": "999900043", "grantee_partner": "nobody-here",
         "purpose": "referral", "categories": ["needs"], "valid_from": "2026-01-01T00:00:00Z"}
    ]}))
    .await;
    assert_eq!(res.status(), 422);
    let problem: Value = res.json().await.unwrap();
    let at: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["location"].as_str().unwrap())
        .collect();
    assert_eq!(
        at,
        [
            "/consents/1/recorded_by",
            "/consents/2/recorded_by",
            "/consents/3/grantee_partner"
        ],
        "{problem}"
    );
    assert!(!problem.to_string().contains("99990004"), "{problem}");
    assert_eq!(n.app.counts().await, before, "nothing was recorded");
    for bad in [
        json!([]),
        json!({"consents": []}),
        json!({"consents": [], "extra": 1}),
    ] {
        assert_eq!(import(bad).await.status(), 422);
    }
    // A BSN sent as a number is refused without being echoed.
    let res = import(json!({"consents": [
        {"recorded_by": "woonstad-noord", "resident_bsn": 999900043u64, "grantee_sector": "welfare",
         "purpose": "referral", "categories": ["needs"], "valid_from": "2026-01-01T00:00:00Z"}
    ]}))
    .await;
    assert_eq!(res.status(), 422);
    let text = res.text().await.unwrap();
    assert!(text.contains("/consents/0"), "{text}");
    assert!(!text.contains("999900043"), "{text}");
    let res = import(json!({"consents": [
        {"recorded_by": "woonstad-noord", "resident_bsn": "999900043", "grantee_sector": "welfare",
         "purpose": "referral", "categories": ["identity", "contact", "needs"],
         "valid_from": "2026-01-01T00:00:00Z", "evidence": "PAPER-1"},
        {"recorded_by": "woonstad-noord", "resident_bsn": "999900043",
         "grantee_partner": "wijkteam-centrum", "purpose": "referral",
         "categories": ["identity", "needs"], "valid_from": "2026-01-01T00:00:00Z"}
    ]}))
    .await;
    assert_eq!(res.status(), 201);
    let ids: Value = res.json().await.unwrap();
    assert_eq!(ids["consent_ids"].as_array().unwrap().len(), 2);

    // The recording partner sees them; the imported permit lets a referral through, the
    // more specific one (for wijkteam-centrum itself, without contact data) wins.
    let listed: Value = send(
        &n,
        Method::GET,
        "/v1/consents?resident=999900043",
        token_of(&n, "woonstad-noord"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(listed["consents"].as_array().unwrap().len(), 2, "{listed}");
    let csv = native(
        Format::EmploymentCsv,
        &request(
            "werkplein",
            "WP-IMPORTED",
            "999900043",
            Target::Sector(Sector::Welfare),
            false,
        ),
    );
    let res = n.app.post_message("werkplein", "text/csv", csv).await;
    let id = referral_id(&res.json().await.unwrap());
    wait_for_status(&n.app, id, ReferralStatus::Delivered).await;
    let got = n.wijkteam.wait_for(1, WAIT).await;
    let body = String::from_utf8_lossy(&got[0].body).to_string();
    assert!(body.contains("Berkhout"), "identity was shared");
    assert!(
        !body.contains("Lindelaan"),
        "contact was not: the specific consent wins"
    );

    let events = n
        .app
        .running
        .state
        .store
        .audit_events(0, 10_000)
        .await
        .unwrap();
    let imported: Vec<_> = events
        .iter()
        .filter(|e| e.detail.get("imported_by").map(String::as_str) == Some("demo-admin"))
        .collect();
    assert_eq!(imported.len(), 2);
    assert!(imported.iter().all(|e| e.resident.is_some()
        && e.partner.as_ref().map(|p| p.as_str()) == Some("woonstad-noord")));
    n.app.stop().await;
}

#[tokio::test]
async fn the_audit_chain_route_reports_intact_and_then_the_tampered_event() {
    let n = common::network::start(&[]).await;
    setup(&n).await;
    let chain = |token: &'static str| {
        let n = &n;
        async move {
            send(n, Method::GET, "/v1/audit/chain", Some(token), None)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let ok = chain(OPS_TOKEN).await;
    assert_eq!(ok["intact"], true, "{ok}");
    let events = ok["events"].as_u64().unwrap();
    assert!(events > 3, "{ok}");
    assert_eq!(ok["head_hash"].as_str().unwrap().len(), 64);
    assert_eq!(chain(PRIVACY_TOKEN).await["events"], events);

    let raw = n.app.raw().await;
    raw.execute(
        "UPDATE audit_events SET partner = 'werkplein' WHERE seq = 2",
        &[],
    )
    .await;
    raw.close().await;
    let broken = chain(ADMIN_TOKEN).await;
    assert_eq!(broken["intact"], false, "{broken}");
    assert_eq!(broken["broken_at"], 2, "{broken}");
    assert_eq!(broken["events"], 1, "{broken}");
    assert!(
        broken["reason"].as_str().unwrap().contains("altered"),
        "{broken}"
    );
    n.app.stop().await;
}

/// A query string that does not parse is a 422 problem naming the parameter and its rule, and
/// does not echo the value (axum's own answer was a plain-text 400); the caller's rights are
/// checked first.
#[tokio::test]
async fn a_bad_query_string_is_a_problem_naming_the_parameter() {
    let n = common::network::start(&[]).await;
    let cases = [
        ("/v1/ops/dead-letters?before=true", OPS_TOKEN, "before"),
        ("/v1/ops/dead-letters?limit=-1x", OPS_TOKEN, "limit"),
        (
            "/v1/partners/werkplein/mailbox?after=zzz7",
            n.app.token("werkplein"),
            "after",
        ),
        (
            "/v1/partners/werkplein/mailbox?limit=1.5",
            n.app.token("werkplein"),
            "limit",
        ),
    ];
    for (path, token, parameter) in cases {
        let res = n
            .app
            .http
            .get(format!("{}{path}", n.app.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["errors"].as_array().unwrap().len(), 1, "{path}: {v}");
        assert_eq!(v["errors"][0]["location"], parameter, "{path}: {v}");
        let text = v.to_string();
        for value in ["true", "-1x", "zzz7", "1.5"] {
            assert!(!text.contains(value), "{path} echoed {value}: {text}");
        }
    }
    // Without the right token the query is not looked at.
    let res = n
        .app
        .http
        .get(format!("{}/v1/ops/dead-letters?before=true", n.app.base))
        .bearer_auth(n.app.token("werkplein"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    n.app.stop().await;
}
