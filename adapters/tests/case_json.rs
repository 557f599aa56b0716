//! case-json: the checked-in schema, round trips, and refusals that name the JSON pointer.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::json;
use wijkbrug_adapters::adapter::{collect_records, OutgoingReferral, OutgoingStatus};
use wijkbrug_adapters::case_json::{self, CaseJson};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{Adapter, Location, Record};

const SCHEMA_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schemas/wijkbrug.case-1.schema.json"
);

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(SCHEMA_FILE).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn decode(bytes: &[u8], sender: &str) -> Vec<Result<Record, wijkbrug_adapters::DecodeError>> {
    let c = ctx(sender);
    CaseJson.decode(bytes, &c).collect()
}

fn errors_of(doc: serde_json::Value) -> Vec<(String, String)> {
    decode(doc.to_string().as_bytes(), "woonstad-noord")
        .into_iter()
        .filter_map(Result::err)
        .map(|e| (e.location.to_string(), e.rule))
        .collect()
}

fn good_doc() -> serde_json::Value {
    json!({
        "schema": "wijkbrug.case/1",
        "kind": "referral",
        "source": {"partner": "woonstad-noord", "reference": "HUUR-77"},
        "target": {"sector": "welfare"},
        "urgency": "urgent",
        "requested_at": "2026-11-02T09:30:00+01:00",
        "resident": {
            "identity": {"bsn": "999900006", "name": {"family_name": "Berg", "prefix": "van den"}, "birth_date": "1980-04-12"},
            "contact": {"address": {"postcode": "1234 ab", "house_number": 12}}
        },
        "needs": [{"domain": "finances", "severity": 2}, {"domain": "housing", "severity": 3, "note": "Dreigende uitzetting"}],
        "finance": {"arrears_cents": 135000, "arrears_since": "2026-08-01"},
        "consent": {
            "grantee": {"sector": "welfare"}, "purpose": "referral", "effect": "permit",
            "categories": ["identity", "contact", "needs", "finance"],
            "valid_from": "2026-11-01T00:00:00Z", "evidence": "FORM-2026-118"
        }
    })
}

#[test]
fn the_checked_in_schema_is_what_the_types_generate() {
    let generated = case_json::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_FILE, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        checked_in == generated,
        "adapters/schemas/wijkbrug.case-1.schema.json is stale: run `UPDATE_SCHEMA=1 cargo test -p wijkbrug-adapters --test case_json` and commit it"
    );
}

#[test]
fn a_well_formed_referral_decodes_with_its_consent() {
    let recs = collect_records(Box::new(
        decode(good_doc().to_string().as_bytes(), "woonstad-noord").into_iter(),
    ))
    .unwrap();
    let [Record::Referral(r)] = recs.as_slice() else {
        panic!("one referral expected")
    };
    assert_eq!(r.gateway_id, None);
    assert_eq!(r.request.source.reference.as_str(), "HUUR-77");
    assert_eq!(
        r.request.requested_at,
        ts(2026, 11, 2, 8, 30, 0),
        "offsets are normalised to UTC"
    );
    let addr = r
        .request
        .resident
        .contact
        .as_ref()
        .unwrap()
        .address
        .as_ref()
        .unwrap();
    assert_eq!(addr.postcode.as_str(), "1234AB");
    assert_eq!(r.request.needs.len(), 2);
    assert_eq!(r.request.finance.as_ref().unwrap().arrears.get(), 135_000);
    let consent = r.consent.as_ref().unwrap();
    assert_eq!(consent.resident.as_str(), "999900006");
    assert_eq!(consent.recorded_by.as_str(), "woonstad-noord");
    assert!(!consent.covers_health());
    assert!(validator().is_valid(&good_doc()));
}

#[test]
fn every_problem_is_reported_with_its_pointer_and_never_the_value() {
    let mut doc = good_doc();
    doc["resident"]["identity"]["bsn"] = json!("123456789");
    doc["resident"]["contact"]["address"]["postcode"] = json!("0123XY");
    doc["needs"][1]["severity"] = json!(9);
    doc["requested_at"] = json!("02-11-2026");
    let errors = errors_of(doc);
    let pointers: Vec<_> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/requested_at",
            "/resident/identity/bsn",
            "/resident/contact/address/postcode",
            "/needs/1/severity"
        ]
    );
    assert!(errors[1].1.contains("11-proef"));
    for (_, rule) in &errors {
        assert!(
            !rule.contains("123456789") && !rule.contains("0123XY"),
            "{rule}"
        );
    }
}

#[test]
fn structural_errors_name_the_pointer() {
    let cases = [
        (json!({"kind": "referral"}), "/schema", "required"),
        (
            json!({"schema": "wijkbrug.case/2", "kind": "referral"}),
            "/schema",
            "must be \"wijkbrug.case/1\"",
        ),
        (
            json!({"schema": "wijkbrug.case/1", "kind": "memo"}),
            "/kind",
            "\"referral\" or \"status\"",
        ),
        (json!([]), "/", "at least one"),
        (json!("text"), "/", "must be a JSON object"),
    ];
    for (doc, pointer, rule) in cases {
        let errors = errors_of(doc.clone());
        assert_eq!(errors.len(), 1, "{doc}");
        assert_eq!(errors[0].0, pointer, "{doc}");
        assert!(errors[0].1.contains(rule), "{doc}: {}", errors[0].1);
    }
    let mut doc = good_doc();
    doc["resident"]["identity"]["name"]["family_name"] = json!(42);
    assert_eq!(
        errors_of(doc)[0],
        (
            "/resident/identity/name/family_name".into(),
            "must be a string".into()
        )
    );
    let mut doc = good_doc();
    doc["needs"][0]["domain"] = json!("Jansen");
    let (p, rule) = &errors_of(doc)[0];
    assert_eq!(p, "/needs/0/domain");
    assert!(
        rule.contains("finances") && !rule.contains("Jansen"),
        "{rule}"
    );
    let mut doc = good_doc();
    doc["resident"]["identity"]["shoe_size"] = json!(43);
    let (p, rule) = &errors_of(doc)[0];
    assert_eq!(p, "/resident/identity/shoe_size");
    assert!(rule.starts_with("unknown field"), "{rule}");
    let mut doc = good_doc();
    doc.as_object_mut().unwrap().remove("needs");
    assert_eq!(
        errors_of(doc)[0],
        ("/needs".into(), "required field \"needs\"".into())
    );
}

#[test]
fn cross_field_rules_are_refused() {
    let mut doc = good_doc();
    doc["needs"] = json!([]);
    assert_eq!(
        errors_of(doc)[0],
        ("/needs".into(), "must list at least one need".into())
    );
    let mut doc = good_doc();
    doc["needs"] =
        json!([{"domain": "housing", "severity": 1}, {"domain": "housing", "severity": 2}]);
    assert_eq!(
        errors_of(doc)[0].1,
        "must not list the same life domain twice"
    );
    let mut doc = good_doc();
    doc["source"]["partner"] = json!("werkplein");
    assert_eq!(
        errors_of(doc)[0],
        (
            "/source/partner".into(),
            "must be the authenticated sender, woonstad-noord".into()
        )
    );
    let mut doc = good_doc();
    doc["consent"]["categories"] = json!([]);
    assert_eq!(errors_of(doc)[0].0, "/consent/categories");
    let mut doc = good_doc();
    doc["consent"]["valid_until"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(
        errors_of(doc)[0],
        (
            "/consent/valid_until".into(),
            "must not end before it starts".into()
        )
    );
}

#[test]
fn broken_json_is_a_document_error() {
    for bad in [&b"{\"schema\": "[..], b"not json", b"{\"a\":\xff}", b""] {
        let errs: Vec<_> = decode(bad, "werkplein").into_iter().collect();
        assert_eq!(errs.len(), 1);
        let e = errs[0].as_ref().unwrap_err();
        assert_eq!(e.location, Location::Document);
        assert!(e.rule.contains("line"), "{}", e.rule);
    }
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let errs: Vec<_> = decode(deep.as_bytes(), "werkplein");
    assert!(errs[0].is_err());
}

#[test]
fn a_batch_reports_each_document_separately() {
    let mut bad = good_doc();
    bad["resident"]["identity"]["bsn"] = json!("999900007");
    let batch = json!([good_doc(), bad, good_doc()]);
    let out = decode(batch.to_string().as_bytes(), "woonstad-noord");
    assert_eq!(out.len(), 3);
    assert!(out[0].is_ok() && out[2].is_ok());
    assert_eq!(
        out[1].as_ref().unwrap_err().location.to_string(),
        "/1/resident/identity/bsn"
    );
}

#[test]
fn status_updates_decode_by_id_or_reference() {
    let id = ReferralId::from_parts(1_760_000_000_000, [1; 10]);
    let doc = json!({"schema": "wijkbrug.case/1", "kind": "status", "referral_id": id.to_string(),
                     "status": "declined", "at": "2026-11-03T10:00:00Z", "reason": "Geen capaciteit", "reason_code": "capacity"});
    let out = decode(doc.to_string().as_bytes(), "werkplein");
    let Ok(Record::Status(u)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(u.referral, ReferralRef::Id(id));
    assert_eq!(u.status, ReferralStatus::Declined);
    assert_eq!(u.reason_code.as_deref(), Some("capacity"));
    assert!(validator().is_valid(&doc));
    let doc = json!({"schema": "wijkbrug.case/1", "kind": "status", "reference": "HUUR-77", "status": "cancelled", "at": "2026-11-03T10:00:00Z"});
    let Ok(Record::Status(u)) = &decode(doc.to_string().as_bytes(), "werkplein")[0] else {
        panic!()
    };
    assert_eq!(
        u.referral,
        ReferralRef::External(ExternalRef::parse("HUUR-77").unwrap())
    );
    let doc = json!({"schema": "wijkbrug.case/1", "kind": "status", "status": "routed", "at": "2026-11-03T10:00:00Z", "reference": "x"});
    let e = decode(doc.to_string().as_bytes(), "werkplein")[0]
        .clone()
        .unwrap_err();
    assert_eq!(e.location.to_string(), "/status");
    let doc = json!({"schema": "wijkbrug.case/1", "kind": "status", "status": "accepted", "at": "2026-11-03T10:00:00Z"});
    assert_eq!(
        decode(doc.to_string().as_bytes(), "werkplein")[0]
            .clone()
            .unwrap_err()
            .location
            .to_string(),
        "/referral_id"
    );
}

#[test]
fn stored_referrals_round_trip_with_their_history() {
    let request = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let mut history = StatusHistory::received(
        ts(2026, 11, 2, 9, 30, 0),
        Actor::Partner(pid("woonstad-noord")),
    );
    history
        .apply(Transition {
            to: ReferralStatus::Routed,
            at: ts(2026, 11, 2, 9, 30, 1),
            by: Actor::Gateway,
            reason: None,
            reason_code: None,
        })
        .unwrap();
    let referral = Referral {
        id: ReferralId::from_parts(1_760_000_000_000, [9; 10]),
        request,
        history,
    };
    let bytes = case_json::encode_tracked(&referral);
    assert_eq!(case_json::decode_tracked(&bytes).unwrap(), referral);
    // A history with an illegal step is refused.
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["history"][1]["status"] = json!("completed");
    let errs = case_json::decode_tracked(v.to_string().as_bytes()).unwrap_err();
    assert_eq!(errs[0].location.to_string(), "/history");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn referrals_round_trip_and_validate_against_the_schema(id in referral_id(), r in request()) {
        let bytes = CaseJson.encode_referral(OutgoingReferral { id, request: &r }, &directory()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert!(validator().is_valid(&value), "{}", value);
        let c = ctx(r.source.partner.as_str());
        let recs = collect_records(CaseJson.decode(&bytes, &c)).unwrap();
        let [Record::Referral(back)] = recs.as_slice() else { panic!() };
        prop_assert_eq!(back.gateway_id, Some(id));
        prop_assert_eq!(&back.request, &r);
    }

    #[test]
    fn minimised_referrals_round_trip(id in referral_id(), r in request(), bits in 0u8..64) {
        let allowed: CategorySet = DataCategory::ALL.into_iter().enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0).map(|(_, c)| c).collect();
        let (m, _) = r.minimise(allowed.union([DataCategory::Needs, DataCategory::Health].into_iter().collect()));
        let bytes = CaseJson.encode_referral(OutgoingReferral { id, request: &m }, &directory()).unwrap();
        let c = ctx(r.source.partner.as_str());
        let recs = collect_records(CaseJson.decode(&bytes, &c)).unwrap();
        let [Record::Referral(back)] = recs.as_slice() else { panic!() };
        prop_assert_eq!(&back.request, &m);
    }

    #[test]
    fn status_updates_round_trip(u in status_update(), r in request()) {
        let ReferralRef::Id(id) = u.referral.clone() else { unreachable!() };
        let bytes = CaseJson.encode_status(OutgoingStatus { id, request: &r, update: &u }, &directory()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert!(validator().is_valid(&value), "{}", value);
        let recs = collect_records(CaseJson.decode(&bytes, &ctx("werkplein"))).unwrap();
        prop_assert_eq!(&recs[0], &Record::Status(u));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes, "werkplein");
    }
}

#[test]
fn stored_requests_round_trip_including_minimised_ones() {
    let request = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let id = ReferralId::from_parts(1_760_000_000_000, [4; 10]);
    for allowed in [
        CategorySet::all(),
        CategorySet::empty(),
        [DataCategory::Needs].into_iter().collect(),
    ] {
        let (m, _) = request.minimise(allowed);
        let bytes = case_json::encode_request(id, &m);
        assert_eq!(case_json::decode_request(&bytes).unwrap(), (id, m));
    }
}

#[test]
fn a_stored_request_that_does_not_fit_names_the_field() {
    let request = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let id = ReferralId::from_parts(1_760_000_000_000, [5; 10]);
    let mut v: serde_json::Value =
        serde_json::from_slice(&case_json::encode_request(id, &request)).unwrap();
    v["id"] = json!(17);
    let errs = case_json::decode_request(v.to_string().as_bytes()).unwrap_err();
    assert_eq!(errs[0].location.to_string(), "/id", "{errs:?}");
    let errs = case_json::decode_request(b"{\"id\": ").unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
}
