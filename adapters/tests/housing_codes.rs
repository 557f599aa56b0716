//! The housing-signal code tables against their sources: VERA `Referentiedata.csv` and the
//! VNG v0.9 JSON Schema.

mod common;

use common::standards;
use serde_json::Value;
use wijkbrug_adapters::housing::codes;
use wijkbrug_adapters::model::LifeDomain;

#[test]
fn the_payment_arrangement_table_matches_vera() {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_path(standards("vera/Referentiedata.csv"))
        .unwrap();
    let vera: Vec<(String, String)> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[0] == "BETALINGSREGELINGSTATUS")
        .map(|r| (r[1].to_owned(), r[2].to_owned()))
        .collect();
    let ours: Vec<(String, String)> = codes::PAYMENT_ARRANGEMENT_STATUSES
        .iter()
        .map(|s| (s.code.to_owned(), s.name.to_owned()))
        .collect();
    assert_eq!(ours, vera);
}

fn schema() -> Value {
    let text = std::fs::read_to_string(standards(
        "vroegsignalering/json_schema_Uitwisselmodel.json",
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn enumeration(schema: &Value, name: &str) -> Vec<String> {
    schema["$defs"][name]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_vng_enumerations_match_the_schema() {
    let s = schema();
    assert_eq!(
        enumeration(&s, "EnumSignaalpartner"),
        codes::SIGNAL_PARTNER_TYPES.map(String::from)
    );
    assert_eq!(
        enumeration(&s, "EnumSignaalstatus"),
        codes::SIGNAL_STATUSES.map(String::from)
    );
    assert!(codes::SIGNAL_PARTNER_TYPES.contains(&codes::HOUSING_PARTNER_TYPE));
    assert!(codes::SIGNAL_STATUSES.contains(&codes::NEW_SIGNAL_STATUS));
}

#[test]
fn the_signal_and_client_keys_are_the_schemas_plus_documented_extensions() {
    let s = schema();
    let signal = &s["properties"]["leveringen"]["items"]["properties"]["vroegsignalen"]["items"];
    let mut vng: Vec<&str> = signal["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let extensions = [
        "doelpartner",
        "doelsector",
        "leefgebieden",
        "betalingsregelingStatus",
        "verwijzingId",
    ];
    vng.extend(extensions);
    vng.sort_unstable();
    let mut ours = wijkbrug_adapters::housing::SIGNAL_KEYS.to_vec();
    ours.sort_unstable();
    assert_eq!(ours, vng);

    let mut client: Vec<&str> = signal["properties"]["client"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    client.sort_unstable();
    let mut ours = wijkbrug_adapters::housing::CLIENT_KEYS.to_vec();
    ours.sort_unstable();
    assert_eq!(ours, client);
}

#[test]
fn every_domain_encodes_and_decodes_with_a_unique_code() {
    let mut seen = Vec::new();
    for d in LifeDomain::ALL {
        let code = codes::domain_code(d);
        assert_eq!(codes::domain_from_code(code), Ok(d));
        assert!(!seen.contains(&code), "{code} twice");
        seen.push(code);
    }
    assert_eq!(codes::DOMAIN_CODES.len(), LifeDomain::ALL.len());
}
