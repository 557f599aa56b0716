//! The care adapter (FHIR R4): fixtures in, expected records or errors out; the standards'
//! consent samples; structural validity of what it writes; round trips.

mod common;

use std::fs;

use chrono::NaiveDate;
use common::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use wijkbrug_adapters::care::FhirR4;
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{
    collect_records, Adapter, DecodeError, IncomingReferral, Location, OutgoingReferral,
    OutgoingStatus, Record,
};

const SENDER: &str = "huisarts-de-linde";
const V7: &str = "019e7044-8800-7707-8707-070707070707";

fn decode_bytes(bytes: &[u8], sender: &str) -> Result<Vec<Record>, Vec<DecodeError>> {
    let ctx = ctx(sender);
    collect_records(FhirR4.decode(bytes, &ctx))
}

fn read(rel: &str) -> Vec<u8> {
    fs::read(fixture(&format!("care/{rel}"))).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn one_referral(bytes: &[u8], sender: &str) -> IncomingReferral {
    match decode_bytes(bytes, sender) {
        Ok(mut v) if v.len() == 1 => match v.remove(0) {
            Record::Referral(r) => *r,
            other => panic!("expected a referral, got {other:?}"),
        },
        other => panic!("expected one referral, got {other:?}"),
    }
}

fn one_status(bytes: &[u8]) -> StatusUpdate {
    match decode_bytes(bytes, SENDER) {
        Ok(mut v) if v.len() == 1 => match v.remove(0) {
            Record::Status(s) => s,
            other => panic!("expected a status, got {other:?}"),
        },
        other => panic!("expected one status, got {other:?}"),
    }
}

fn text(s: &str) -> PersonalText {
    PersonalText::parse(s).unwrap()
}

fn severity(n: u8) -> Severity {
    Severity::new(n).unwrap()
}

// ---- referrals ---------------------------------------------------------------------------

#[test]
fn a_referral_bundle_with_the_bsn_uri_system_decodes_in_full() {
    let r = one_referral(&read("referral-bsn-uri.json"), SENDER);
    assert_eq!(r.gateway_id, None);
    let q = &r.request;
    assert_eq!(q.source.partner, pid(SENDER));
    assert_eq!(q.source.reference.as_str(), "REF-2026-0042");
    assert_eq!(q.target, Target::Partner(pid("wijkteam-centrum")));
    assert_eq!(q.urgency, Urgency::Urgent);
    assert_eq!(q.requested_at, ts(2026, 11, 2, 9, 30, 0));
    let id = q.resident.identity.as_ref().unwrap();
    assert_eq!(id.bsn.as_str(), "999900006");
    assert_eq!(
        id.name,
        PersonName {
            given_names: Some(text("Anna Maria")),
            initials: Some(text("A.M.")),
            prefix: Some(text("van de")),
            family_name: text("Berg"),
        }
    );
    assert_eq!(id.birth_date, NaiveDate::from_ymd_opt(1980, 4, 12));
    assert_eq!(id.gender, Some(Gender::Female));
    let c = q.resident.contact.as_ref().unwrap();
    let a = c.address.as_ref().unwrap();
    assert_eq!(a.postcode.as_str(), "1234AB");
    assert_eq!(a.house_number.get(), 12);
    assert_eq!(a.house_letter, Some('a'));
    assert_eq!(a.house_number_addition.as_deref(), Some("2"));
    assert_eq!(a.street, Some(text("Lindelaan")));
    assert_eq!(a.town, Some(text("Utrecht")));
    assert_eq!(c.phone.as_ref().unwrap().as_str(), "06-12345678");
    assert_eq!(c.email.as_ref().unwrap().as_str(), "anna@example.nl");
    assert_eq!(
        q.needs,
        vec![
            Need {
                domain: LifeDomain::Finances,
                severity: severity(2),
                note: Some(Note::parse("Huurachterstand van drie maanden").unwrap()),
            },
            // No severity extension: the documented default, 3.
            Need::new(LifeDomain::MentalHealth, severity(3)),
            // From the Gravity SDOH category.
            Need::new(LifeDomain::Housing, severity(3)),
        ]
    );
    assert_eq!(
        q.note.as_ref().unwrap().as_str(),
        "Graag telefonisch contact in de ochtend"
    );
    assert_eq!(q.finance, None);
    let consent = r.consent.expect("consent");
    assert_eq!(
        consent,
        Consent {
            resident: Bsn::parse("999900006").unwrap(),
            grantee: Grantee::Partner(pid("wijkteam-centrum")),
            purpose: Purpose::Referral,
            effect: ConsentEffect::Permit,
            categories: [
                DataCategory::Identity,
                DataCategory::Contact,
                DataCategory::Needs,
                DataCategory::Health
            ]
            .into_iter()
            .collect(),
            valid_from: ts(2026, 11, 1, 0, 0, 0),
            valid_until: Some(ts(2027, 11, 1, 0, 0, 0)),
            recorded_by: pid(SENDER),
            evidence: Some(ExternalRef::parse("TOESTEMMING-7").unwrap()),
            revoked_at: None,
        }
    );
}

#[test]
fn a_referral_bundle_with_the_bsn_oid_system_decodes() {
    let r = one_referral(&read("referral-bsn-oid.json"), SENDER);
    let q = &r.request;
    let id = q.resident.identity.as_ref().unwrap();
    assert_eq!(id.bsn.as_str(), "999900018");
    assert_eq!(id.name, {
        let mut n = PersonName::family(text("Jansen"));
        n.given_names = Some(text("Piet"));
        n
    });
    // Own reference in the urn:wijkbrug:partner:<sender> system.
    assert_eq!(q.source.reference.as_str(), "HL-77");
    // The performer is an Organization entry with an AGB code the directory knows.
    assert_eq!(q.target, Target::Partner(pid("zorggroep-oost")));
    assert_eq!(q.urgency, Urgency::Crisis);
    // A date-only authoredOn is midnight UTC.
    assert_eq!(q.requested_at, ts(2026, 11, 2, 0, 0, 0));
    assert_eq!(q.needs, vec![Need::new(LifeDomain::Finances, severity(1))]);
    // The ADXP extensions win over the line text.
    let a = q
        .resident
        .contact
        .as_ref()
        .unwrap()
        .address
        .as_ref()
        .unwrap();
    assert_eq!(
        (
            a.house_number.get(),
            a.house_letter,
            a.house_number_addition.as_deref(),
            a.street.as_ref().map(PersonalText::as_str)
        ),
        (7, None, Some("bis"), Some("Kerkstraat"))
    );
    assert_eq!(r.consent, None);
}

#[test]
fn a_message_bundle_for_a_sector_carries_the_gateway_id() {
    let r = one_referral(&read("referral-sector-message.json"), SENDER);
    assert_eq!(r.gateway_id, Some(ReferralId::parse(V7).unwrap()));
    assert_eq!(r.request.target, Target::Sector(Sector::Care));
    // No priority: routine.
    assert_eq!(r.request.urgency, Urgency::Routine);
    assert_eq!(r.request.note, None);
}

// ---- status updates ----------------------------------------------------------------------

/// (fixture, status, referral, reason, reason code)
type Case = (
    &'static str,
    ReferralStatus,
    ReferralRef,
    Option<&'static str>,
    Option<&'static str>,
);

#[test]
fn a_task_per_status_decodes_per_the_gravity_lifecycle() {
    let id = ReferralRef::Id(ReferralId::parse(V7).unwrap());
    let at = ts(2026, 11, 3, 13, 0, 0);
    let cases: [Case; 7] = [
        ("accepted", ReferralStatus::Accepted, id.clone(), None, None),
        (
            "rejected",
            ReferralStatus::Declined,
            id.clone(),
            Some("Geen plek binnen drie maanden"),
            Some("no-capacity"),
        ),
        (
            "in-progress",
            ReferralStatus::InProgress,
            id.clone(),
            None,
            None,
        ),
        (
            "on-hold",
            ReferralStatus::InProgress,
            id.clone(),
            Some("Wachtlijst"),
            Some("on-hold"),
        ),
        (
            "completed",
            ReferralStatus::Completed,
            id.clone(),
            None,
            None,
        ),
        (
            "cancelled",
            ReferralStatus::Cancelled,
            ReferralRef::External(ExternalRef::parse("REF-2026-0042").unwrap()),
            Some("Cliënt verhuisd"),
            None,
        ),
        (
            "failed",
            ReferralStatus::Cancelled,
            ReferralRef::External(ExternalRef::parse("WT-9").unwrap()),
            Some("Cliënt niet bereikbaar"),
            Some("failed"),
        ),
    ];
    for (name, status, referral, reason, reason_code) in cases {
        let u = one_status(&read(&format!("task-{name}.json")));
        assert_eq!(u.status, status, "{name}");
        assert_eq!(u.referral, referral, "{name}");
        assert_eq!(u.reason.as_ref().map(ReasonText::as_str), reason, "{name}");
        assert_eq!(u.reason_code.as_deref(), reason_code, "{name}");
        let expected_at = if name == "completed" {
            ts(2026, 11, 20, 0, 0, 0)
        } else {
            at
        };
        assert_eq!(u.at, expected_at, "{name}");
    }
}

// ---- refusals ----------------------------------------------------------------------------

/// Every `refuse-*.json` fixture is refused with at least the errors its `.expect` file lists
/// (`pointer<TAB>start of the rule` per line), and no error quotes a value from the input.
#[test]
fn every_refusal_fixture_is_refused_at_the_expected_pointer() {
    let dir = fixture("care");
    let mut seen = 0;
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("refuse-") && n.ends_with(".json"))
        .collect();
    names.sort();
    for name in names {
        let expect = fs::read_to_string(dir.join(name.replace(".json", ".expect")))
            .unwrap_or_else(|_| panic!("{name} has no .expect file"));
        let errors = match decode_bytes(&read(&name), SENDER) {
            Ok(r) => panic!("{name} decoded: {r:?}"),
            Err(e) => e,
        };
        for line in expect.lines().filter(|l| !l.is_empty()) {
            let (pointer, rule) = line.split_once('\t').unwrap();
            assert!(
                errors
                    .iter()
                    .any(|e| e.location == Location::JsonPointer(pointer.to_owned())
                        && e.rule.starts_with(rule)),
                "{name}: expected {pointer}: {rule}\n got: {errors:#?}"
            );
        }
        for e in &errors {
            for personal in ["999900007", "123456789", "not an address", "Berg", "1980"] {
                assert!(!e.rule.contains(personal), "{name}: {e} leaks a value");
            }
        }
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} refusal fixtures");
}

#[test]
fn several_problems_in_one_record_are_all_reported() {
    let errors = decode_bytes(&read("refuse-several-problems.json"), SENDER).unwrap_err();
    assert_eq!(errors.len(), 4, "{errors:#?}");
}

#[test]
fn input_that_is_not_a_fhir_json_document_is_refused_as_a_whole() {
    let refused = |bytes: &[u8]| -> DecodeError {
        let mut e = decode_bytes(bytes, SENDER).unwrap_err();
        assert_eq!(e.len(), 1);
        e.remove(0)
    };
    let e = refused(b"{\"resourceType\":\"Task\",\"status\":\"accepted\xff\"}");
    assert_eq!(e.location, Location::Document);
    assert!(e.rule.starts_with("must be UTF-8"), "{e}");
    assert!(refused(b"").rule.starts_with("must be well-formed JSON"));
    assert!(refused(b"[1,2]").rule.starts_with("must be a JSON object"));
    assert_eq!(
        refused(br#"{"type":"collection"}"#).location,
        Location::JsonPointer("/resourceType".into())
    );
    // A BOM is tolerated.
    assert!(decode_bytes(
        &[b"\xef\xbb\xbf".as_slice(), &read("task-accepted.json")].concat(),
        SENDER
    )
    .is_ok());
}

#[test]
fn deeply_nested_input_is_refused_without_blowing_the_stack() {
    let depth = 100_000;
    let mut s = String::from(r#"{"resourceType":"Bundle","type":"collection","entry":"#);
    s.push_str(&"[".repeat(depth));
    s.push_str(&"]".repeat(depth));
    s.push('}');
    let e = decode_bytes(s.as_bytes(), SENDER).unwrap_err();
    assert_eq!(e[0].location, Location::Document);
    assert!(e[0].rule.contains("recursion limit"), "{}", e[0]);
}

// ---- the standards' consent samples -------------------------------------------------------

fn bundle_with_consent(consent: Value, patient_id: &str, bsn: &str) -> Vec<u8> {
    let mut b: Value = serde_json::from_slice(&read("referral-bsn-uri.json")).unwrap();
    b["entry"][0]["resource"]["id"] = json!(patient_id);
    b["entry"][0]["resource"]["identifier"][0]["value"] = json!(bsn);
    b["entry"][2]["resource"] = consent;
    serde_json::to_vec(&b).unwrap()
}

fn standard(rel: &str) -> Value {
    serde_json::from_slice(&fs::read(standards(rel)).unwrap()).unwrap()
}

#[test]
fn the_valid_consent_example_decodes_for_the_referrals_target_without_health() {
    let c = standard("fhir-r4/consent-example-basic.json");
    let r = one_referral(&bundle_with_consent(c, "f001", "999900006"), SENDER);
    let consent = r.consent.expect("consent");
    // No actor: the consent is for the referral's target. No class: all but health.
    assert_eq!(consent.grantee, Grantee::Partner(pid("wijkteam-centrum")));
    assert_eq!(consent.effect, ConsentEffect::Permit);
    assert_eq!(consent.purpose, Purpose::Referral);
    let mut all_but_health = CategorySet::all();
    all_but_health.remove(DataCategory::Health);
    assert_eq!(consent.categories, all_but_health);
    assert!(!consent.covers_health());
    assert_eq!(consent.valid_from, ts(1964, 1, 1, 0, 0, 0));
    assert_eq!(consent.valid_until, Some(ts(2016, 1, 1, 0, 0, 0)));
    assert_eq!(consent.recorded_by, pid(SENDER));
    assert_eq!(consent.resident.as_str(), "999900006");
}

#[test]
fn the_consent_example_must_reference_the_bundles_patient() {
    let c = standard("fhir-r4/consent-example-basic.json");
    let e = decode_bytes(&bundle_with_consent(c, "other", "999900006"), SENDER).unwrap_err();
    assert!(
        e.iter()
            .any(|e| e.location
                == Location::JsonPointer("/entry/2/resource/patient/reference".into()))
    );
}

#[test]
fn consents_without_status_are_refused_in_a_bundle_and_alone() {
    for name in [
        "invalid-consent-missing-status.json",
        "invalid-consent-oid-bsn-missing-status.json",
    ] {
        let c = standard(&format!("fhir-r4/{name}"));
        // The OID sample names BSN 999999990: give the Patient that BSN.
        let errors = decode_bytes(&bundle_with_consent(c, "p1", "999999990"), SENDER).unwrap_err();
        assert!(
            errors.iter().any(|e| e.location
                == Location::JsonPointer("/entry/2/resource/status".into())
                && e.rule.starts_with("required: the consent's status")),
            "{name}: {errors:#?}"
        );
        let alone = decode_bytes(
            &fs::read(standards(&format!("fhir-r4/{name}"))).unwrap(),
            SENDER,
        )
        .unwrap_err();
        assert_eq!(
            alone[0].location,
            Location::JsonPointer("/resourceType".into())
        );
    }
}

#[test]
fn consent_statuses_map_as_documented() {
    let base: Value = serde_json::from_slice(&read("referral-bsn-uri.json")).unwrap();
    let with_status = |s: &str| {
        let mut b = base.clone();
        b["entry"][2]["resource"]["status"] = json!(s);
        one_referral(&serde_json::to_vec(&b).unwrap(), SENDER).consent
    };
    assert_eq!(with_status("active").unwrap().effect, ConsentEffect::Permit);
    assert_eq!(with_status("rejected").unwrap().effect, ConsentEffect::Deny);
    for none in ["inactive", "draft", "proposed", "entered-in-error"] {
        assert_eq!(with_status(none), None, "{none}");
    }
}

// ---- encoding ----------------------------------------------------------------------------

fn referral_id() -> ReferralId {
    ReferralId::parse(V7).unwrap()
}

fn encode(req: &ReferralRequest, id: ReferralId) -> Vec<u8> {
    FhirR4
        .encode_referral(OutgoingReferral { id, request: req }, &directory())
        .unwrap()
}

fn is_in(v: &Value, set: &[&str]) -> bool {
    v.as_str().is_some_and(|s| set.contains(&s))
}

/// The FHIR R4 rules the gateway's output must keep: required elements present, codes from
/// their required bindings, every entry addressed.
fn assert_valid_fhir(bundle: &Value) {
    assert_eq!(bundle["resourceType"], "Bundle");
    assert!(is_in(
        &bundle["type"],
        &[
            "document",
            "message",
            "transaction",
            "transaction-response",
            "batch",
            "batch-response",
            "history",
            "searchset",
            "collection"
        ]
    ));
    let entries = bundle["entry"].as_array().unwrap();
    let mut urls = Vec::new();
    for e in entries {
        let url = e["fullUrl"].as_str().expect("fullUrl");
        assert!(url.starts_with("urn:uuid:") && uuid_ok(&url[9..]), "{url}");
        urls.push(url);
        let r = &e["resource"];
        let kind = r["resourceType"].as_str().expect("resourceType");
        assert!(is_in(
            &e["request"]["method"],
            &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]
        ));
        assert_eq!(e["request"]["url"], kind);
        assert_valid_resource(r);
    }
    let mut dedup = urls.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), urls.len(), "fullUrls must be unique");
    // Every local reference resolves to an entry.
    let text = bundle.to_string();
    for part in text.split("\"reference\":\"").skip(1) {
        let reference = &part[..part.find('"').unwrap()];
        assert!(urls.contains(&reference), "dangling reference {reference}");
    }
}

fn uuid_ok(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

fn assert_valid_resource(r: &Value) {
    match r["resourceType"].as_str().unwrap() {
        "Patient" => {
            if !r["gender"].is_null() {
                assert!(is_in(&r["gender"], &["male", "female", "other", "unknown"]));
            }
            for n in r["name"].as_array().into_iter().flatten() {
                assert!(is_in(
                    &n["use"],
                    &[
                        "usual",
                        "official",
                        "temp",
                        "nickname",
                        "anonymous",
                        "old",
                        "maiden"
                    ]
                ));
            }
            for t in r["telecom"].as_array().into_iter().flatten() {
                assert!(is_in(
                    &t["system"],
                    &["phone", "fax", "email", "pager", "url", "sms", "other"]
                ));
                assert!(t["value"].is_string());
            }
            for a in r["address"].as_array().into_iter().flatten() {
                assert!(is_in(
                    &a["use"],
                    &["home", "work", "temp", "old", "billing"]
                ));
            }
            if !r["birthDate"].is_null() {
                assert!(
                    NaiveDate::parse_from_str(r["birthDate"].as_str().unwrap(), "%Y-%m-%d").is_ok()
                );
            }
        }
        "ServiceRequest" => {
            assert!(is_in(
                &r["status"],
                &[
                    "draft",
                    "active",
                    "on-hold",
                    "revoked",
                    "completed",
                    "entered-in-error",
                    "unknown"
                ]
            ));
            assert!(is_in(
                &r["intent"],
                &[
                    "proposal",
                    "plan",
                    "directive",
                    "order",
                    "original-order",
                    "reflex-order",
                    "filler-order",
                    "instance-order",
                    "option"
                ]
            ));
            assert!(is_in(
                &r["priority"],
                &["routine", "urgent", "asap", "stat"]
            ));
            assert!(r["subject"]["reference"].is_string(), "subject is required");
            // Cardinalities: performerType 0..1, the rest 0..*.
            assert!(r["performerType"].is_null() || r["performerType"].is_object());
            for many in ["identifier", "performer", "reasonCode", "note", "extension"] {
                assert!(r[many].is_null() || r[many].is_array(), "{many}");
            }
            assert!(
                chrono::DateTime::parse_from_rfc3339(r["authoredOn"].as_str().unwrap()).is_ok()
            );
            for x in r["extension"].as_array().into_iter().flatten() {
                assert!(x["url"].is_string());
            }
            for c in r["reasonCode"].as_array().unwrap() {
                assert!(c["coding"][0]["system"].is_string() && c["coding"][0]["code"].is_string());
            }
        }
        "Task" => assert_valid_task(r),
        other => panic!("unexpected resource {other}"),
    }
}

fn assert_valid_task(r: &Value) {
    assert!(is_in(
        &r["status"],
        &[
            "draft",
            "requested",
            "received",
            "accepted",
            "rejected",
            "ready",
            "cancelled",
            "in-progress",
            "on-hold",
            "failed",
            "completed",
            "entered-in-error"
        ]
    ));
    assert!(is_in(
        &r["intent"],
        &[
            "unknown",
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option"
        ]
    ));
    if let Some(t) = r["lastModified"].as_str() {
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok());
    }
}

#[test]
fn an_encoded_referral_is_a_valid_transaction_bundle() {
    let req = sample_request(SENDER, Target::Partner(pid("wijkteam-centrum")));
    let bytes = encode(&req, referral_id());
    let b: Value = serde_json::from_slice(&bytes).unwrap();
    assert_valid_fhir(&b);
    assert_eq!(b["type"], "transaction");
    let kinds: Vec<_> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Patient", "ServiceRequest", "Task"]);
    let p = &b["entry"][0]["resource"];
    assert_eq!(
        p["identifier"][0]["system"],
        "http://fhir.nl/fhir/NamingSystem/bsn"
    );
    assert_eq!(p["name"][0]["family"], "van de Berg");
    let sr = &b["entry"][1]["resource"];
    assert_eq!(sr["status"], "active");
    assert_eq!(sr["intent"], "order");
    assert_eq!(sr["priority"], "urgent");
    assert_eq!(sr["authoredOn"], "2026-11-02T09:30:00Z");
    assert_eq!(sr["identifier"][0]["system"], "urn:wijkbrug:referral");
    assert_eq!(sr["identifier"][0]["value"], V7);
    assert_eq!(
        sr["identifier"][1]["system"],
        "urn:wijkbrug:partner:huisarts-de-linde"
    );
    assert_eq!(sr["subject"]["reference"], b["entry"][0]["fullUrl"]);
    assert_eq!(sr["extension"][0]["url"], "urn:wijkbrug:fhir:finance");
    assert_eq!(
        sr["extension"][0]["extension"][0]["valueMoney"]["value"],
        1350
    );
    let t = &b["entry"][2]["resource"];
    assert_eq!(t["status"], "requested");
    assert_eq!(t["focus"]["reference"], b["entry"][1]["fullUrl"]);
    assert_eq!(t["for"]["reference"], b["entry"][0]["fullUrl"]);
    // The ServiceRequest's fullUrl is the referral id.
    assert_eq!(b["entry"][1]["fullUrl"], format!("urn:uuid:{V7}"));
}

#[test]
fn encoding_is_deterministic() {
    let req = sample_request(SENDER, Target::Sector(Sector::Welfare));
    assert_eq!(encode(&req, referral_id()), encode(&req, referral_id()));
    let other = ReferralId::from_parts(1_780_000_000_001, [9; 10]);
    assert_ne!(
        wijkbrug_adapters::care::full_urls(referral_id()),
        wijkbrug_adapters::care::full_urls(other)
    );
}

#[test]
fn a_minimised_referral_without_identity_gets_a_bare_patient() {
    let req = sample_request(SENDER, Target::Sector(Sector::Welfare));
    let only_needs: CategorySet = [DataCategory::Needs].into_iter().collect();
    let (min, _) = req.minimise(only_needs);
    let b: Value = serde_json::from_slice(&encode(&min, referral_id())).unwrap();
    assert_valid_fhir(&b);
    assert_eq!(
        b["entry"][0]["resource"],
        json!({"resourceType": "Patient"})
    );
    let sr = &b["entry"][1]["resource"];
    assert!(sr.get("note").is_none() && sr.get("extension").is_none());
    assert_eq!(sr["reasonCode"].as_array().unwrap().len(), 1);
    assert_eq!(sr["performerType"]["coding"][0]["code"], "welfare");
    assert!(b.to_string().find("999900006").is_none());
}

#[test]
fn an_encoded_status_is_a_valid_task_per_status() {
    let req = sample_request(SENDER, Target::Partner(pid("wijkteam-centrum")));
    for (status, code, task_status) in [
        (ReferralStatus::Accepted, None, "accepted"),
        (ReferralStatus::Declined, Some("no-capacity"), "rejected"),
        (ReferralStatus::InProgress, None, "in-progress"),
        (ReferralStatus::InProgress, Some("on-hold"), "on-hold"),
        (ReferralStatus::Completed, None, "completed"),
        (ReferralStatus::Cancelled, None, "cancelled"),
        (ReferralStatus::Cancelled, Some("failed"), "failed"),
    ] {
        let mut u = StatusUpdate::new(
            ReferralRef::Id(referral_id()),
            status,
            ts(2026, 11, 3, 13, 0, 0),
        )
        .unwrap();
        u.reason = Some(ReasonText::parse("Toelichting").unwrap());
        u.reason_code = code.map(str::to_owned);
        let bytes = FhirR4
            .encode_status(
                OutgoingStatus {
                    id: referral_id(),
                    request: &req,
                    update: &u,
                },
                &directory(),
            )
            .unwrap();
        let t: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(t["resourceType"], "Task");
        assert_valid_task(&t);
        assert_eq!(t["status"], task_status);
        assert_eq!(t["lastModified"], "2026-11-03T13:00:00Z");
        assert_eq!(
            t["basedOn"][0]["identifier"]["system"],
            "urn:wijkbrug:referral"
        );
        assert_eq!(t["basedOn"][0]["identifier"]["value"], V7);
        assert_eq!(t["statusReason"]["text"], "Toelichting");
        // And back.
        assert_eq!(one_status(&bytes), u, "{task_status}");
    }
}

// ---- round trips -------------------------------------------------------------------------

/// What the format carries of a referral, as the receiver decodes it: the source partner
/// becomes the authenticated sender; everything else in `request()` is carried exactly.
fn carried(x: &ReferralRequest, sender: &PartnerId) -> ReferralRequest {
    let mut y = x.clone();
    y.source.partner = sender.clone();
    y
}

/// A status update comes back naming the referral by the gateway id it was written with.
fn carried_status(u: &StatusUpdate, id: ReferralId) -> StatusUpdate {
    let mut v = u.clone();
    v.referral = ReferralRef::Id(id);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn referrals_round_trip(req in request(), id in common::referral_id()) {
        let bytes = encode(&req, id);
        let b: Value = serde_json::from_slice(&bytes).unwrap();
        assert_valid_fhir(&b);
        let sender = req.source.partner.clone();
        let back = one_referral(&bytes, sender.as_str());
        prop_assert_eq!(back.gateway_id, Some(id));
        prop_assert_eq!(back.consent, None);
        prop_assert_eq!(back.request, carried(&req, &sender));
    }

    #[test]
    fn status_updates_round_trip(u in status_update(), id in common::referral_id()) {
        let req = sample_request(SENDER, Target::Sector(Sector::Care));
        let bytes = FhirR4
            .encode_status(OutgoingStatus { id, request: &req, update: &u }, &directory())
            .unwrap();
        prop_assert_eq!(one_status(&bytes), carried_status(&u, id));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_bytes(&bytes, SENDER);
    }
}
