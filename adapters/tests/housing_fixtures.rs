//! The housing-signal adapter against the VNG examples and its own accepted fixtures.

mod common;

use chrono::NaiveDate;
use common::{ctx, fixture, standards, ts};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{adapter_for, DecodeError, Format, IncomingReferral, Location, Record};

fn decode(bytes: &[u8]) -> Vec<Result<Record, DecodeError>> {
    let c = ctx("woonstad-noord");
    adapter_for(Format::HousingSignal)
        .decode(bytes, &c)
        .collect()
}

fn decode_file(path: std::path::PathBuf) -> Vec<Result<Record, DecodeError>> {
    decode(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn referral(r: &Result<Record, DecodeError>) -> &IncomingReferral {
    match r {
        Ok(Record::Referral(r)) => r,
        other => panic!("expected a referral, got {other:?}"),
    }
}

fn pointer(e: &DecodeError) -> &str {
    match &e.location {
        Location::JsonPointer(p) => p,
        other => panic!("expected a JSON pointer, got {other}"),
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

// ---- the VNG examples -------------------------------------------------------------------------

/// Every signal in the VNG examples is refused: its BSN fails the 11-proef, and all but one
/// are not rent signals. Every problem of every signal is reported, with its pointer.
fn assert_vng_example_refused(file: &str, signals: &[(&str, Option<&str>)]) {
    let results = decode_file(standards(file));
    assert!(
        results.iter().all(Result::is_err),
        "{file}: a signal was accepted"
    );
    let errors: Vec<DecodeError> = results.into_iter().map(Result::unwrap_err).collect();
    let mut expected = Vec::new();
    for (base, kind) in signals {
        if let Some(kind) = kind {
            expected.push(format!(
                "{base}/signaalpartner/type: signaalpartner.type must be Huur for a housing signal; got {kind}"
            ));
        }
        expected.push(format!(
            "{base}/client/Burgerservicenummer: fails the 11-proef (BSN check digit)"
        ));
    }
    let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(got, expected, "{file}");
    for e in &errors {
        assert!(pointer(e).starts_with("/leveringen/"));
    }
}

#[test]
fn the_single_vng_example_is_refused_for_its_bsn_and_its_energy_type() {
    assert_vng_example_refused(
        "vroegsignalering/enkelvoudigVoorbeeld.json",
        &[("/leveringen/0/vroegsignalen/0", Some("Energie"))],
    );
}

#[test]
fn every_signal_of_the_multiple_vng_example_is_refused_with_its_pointer() {
    assert_vng_example_refused(
        "vroegsignalering/meervoudigVoorbeeld.json",
        &[
            ("/leveringen/0/vroegsignalen/0", Some("Energie")),
            ("/leveringen/0/vroegsignalen/1", Some("Water")),
            (
                "/leveringen/1/vroegsignalen/0",
                Some("CAK Zorgverzekeringen"),
            ),
            // The one rent signal: refused only for its BSN.
            ("/leveringen/1/vroegsignalen/1", None),
        ],
    );
}

#[test]
fn the_vng_examples_rules_never_quote_the_bsn() {
    for file in [
        "vroegsignalering/enkelvoudigVoorbeeld.json",
        "vroegsignalering/meervoudigVoorbeeld.json",
    ] {
        for e in decode_file(standards(file))
            .into_iter()
            .filter_map(Result::err)
        {
            for bsn in ["123456789", "987654321", "112233445", "556677889"] {
                assert!(!e.to_string().contains(bsn));
            }
        }
    }
}

#[test]
fn the_multiple_vng_example_with_valid_test_bsns_decodes_its_rent_signal() {
    // The same delivery with test BSNs: only the Huur signal is a housing signal.
    let text = std::fs::read_to_string(standards("vroegsignalering/meervoudigVoorbeeld.json"))
        .unwrap()
        .replace("123456789", "999900006")
        .replace("987654321", "999900018")
        .replace("112233445", "999900055")
        .replace("556677889", "999900043");
    let results = decode(text.as_bytes());
    assert_eq!(results.len(), 4);
    let ok: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(ok.len(), 1);
    let r = &referral(ok[0]).request;
    assert_eq!(r.source.reference.as_str(), "VS-2025-0102");
    assert_eq!(r.requested_at, ts(2025, 2, 5, 10, 30, 0));
    assert_eq!(r.finance.as_ref().unwrap().arrears.get(), 75_000);
    // 53 days in arrears, €750: routine, severity 3.
    assert_eq!(r.urgency, Urgency::Routine);
    assert_eq!(r.needs[0].severity.get(), 3);
}

// ---- own fixtures -----------------------------------------------------------------------------

#[test]
fn a_single_rent_signal_becomes_a_referral_to_welfare() {
    let results = decode_file(fixture("housing/accept/signal-single.json"));
    assert_eq!(results.len(), 1);
    let incoming = referral(&results[0]);
    assert_eq!(incoming.gateway_id, None);
    assert_eq!(incoming.consent, None);
    let r = &incoming.request;
    assert_eq!(r.source.partner.as_str(), "woonstad-noord");
    assert_eq!(r.source.reference.as_str(), "HUUR-2026-0042");
    assert_eq!(r.target, Target::Sector(Sector::Welfare));
    // €1,350.50 and 92 days in arrears: urgent, serious (severity 2; BEE does not soften).
    assert_eq!(r.urgency, Urgency::Urgent);
    assert_eq!(
        r.needs,
        vec![
            Need::new(LifeDomain::Finances, Severity::new(2).unwrap()),
            Need::new(LifeDomain::Housing, Severity::new(2).unwrap()),
        ]
    );
    assert_eq!(r.requested_at, ts(2026, 11, 1, 0, 0, 0));
    assert_eq!(
        r.finance,
        Some(FinancialSituation {
            arrears: MoneyCents::new(135_050).unwrap(),
            arrears_since: Some(date(2026, 8, 1)),
            signalled_on: Some(date(2026, 11, 1)),
        })
    );
    assert_eq!(r.note, None);
    let id = r.resident.identity.as_ref().unwrap();
    assert_eq!(id.bsn.as_str(), "999900006");
    assert_eq!(id.name.initials.as_ref().unwrap().as_str(), "A.M.");
    assert_eq!(id.name.prefix.as_ref().unwrap().as_str(), "van de");
    assert_eq!(id.name.family_name.as_str(), "Berg");
    assert_eq!(id.name.given_names, None);
    assert_eq!(id.birth_date, Some(date(1980, 4, 12)));
    let a = r
        .resident
        .contact
        .as_ref()
        .unwrap()
        .address
        .as_ref()
        .unwrap();
    assert_eq!(a.postcode.as_str(), "1234AB");
    assert_eq!(a.house_number.get(), 12);
    assert_eq!(a.house_letter, Some('a'));
    assert_eq!(a.house_number_addition.as_deref(), Some("2"));
    assert_eq!(a.street.as_ref().unwrap().as_str(), "Lindelaan");
    assert_eq!(a.town.as_ref().unwrap().as_str(), "Utrecht");
}

#[test]
fn a_crisis_signal_is_a_crisis_with_acute_needs_and_no_contact() {
    let results = decode_file(fixture("housing/accept/signal-minimal-crisis.json"));
    let r = &referral(&results[0]).request;
    assert_eq!(r.urgency, Urgency::Crisis);
    assert!(r.needs.iter().all(|n| n.severity.get() == 1));
    assert_eq!(r.resident.contact, None);
    let f = r.finance.as_ref().unwrap();
    assert_eq!((f.arrears.get(), f.arrears_since), (9_500, None));
}

#[test]
fn an_envelope_with_one_bad_signal_still_yields_the_good_ones() {
    let results = decode_file(fixture("housing/accept/envelope-three-one-bad.json"));
    assert_eq!(results.len(), 3);
    let first = &referral(&results[0]).request;
    assert_eq!(first.source.reference.as_str(), "HUUR-2026-0101");
    // aanleverdatumEnTijd 2026-11-02T08:15:00+01:00.
    assert_eq!(first.requested_at, ts(2026, 11, 2, 7, 15, 0));
    assert_eq!(first.urgency, Urgency::Asap, "warmeOverdracht");
    let a = first
        .resident
        .contact
        .as_ref()
        .unwrap()
        .address
        .as_ref()
        .unwrap();
    assert_eq!(
        (a.house_letter, a.house_number_addition.as_deref()),
        (None, Some("bis"))
    );

    let bad = results[1].as_ref().unwrap_err();
    assert_eq!(
        pointer(bad),
        "/leveringen/0/vroegsignalen/1/client/Burgerservicenummer"
    );
    assert_eq!(bad.rule, "fails the 11-proef (BSN check digit)");

    let third = &referral(&results[2]).request;
    assert_eq!(third.source.reference.as_str(), "HUUR-2026-0103");
    assert_eq!(third.finance.as_ref().unwrap().arrears.get(), 310_005);
    assert_eq!(
        third.target,
        Target::Partner(common::pid("wijkteam-centrum"))
    );
    // €3,100.05: serious (2), softened by an active arrangement (ACT) to 3.
    assert_eq!(third.urgency, Urgency::Urgent);
    assert!(third.needs.iter().all(|n| n.severity.get() == 3));
}

#[test]
fn a_status_callback_per_status_decodes() {
    let gateway_id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let cases = [
        (
            "accepted",
            ReferralStatus::Accepted,
            ts(2026, 11, 2, 10, 0, 0),
            None,
            None,
        ),
        (
            "declined",
            ReferralStatus::Declined,
            ts(2026, 11, 3, 14, 5, 0),
            Some("Inwoner is al bekend bij schuldhulpverlening"),
            Some("AL-BEKEND"),
        ),
        (
            "in_progress",
            ReferralStatus::InProgress,
            ts(2026, 11, 4, 8, 0, 0) + chrono::Duration::milliseconds(250),
            None,
            None,
        ),
        (
            "completed",
            ReferralStatus::Completed,
            ts(2027, 1, 15, 16, 30, 0),
            Some("Betalingsregeling getroffen"),
            None,
        ),
    ];
    for (name, status, at, reason, code) in cases {
        let results = decode_file(fixture(&format!("housing/accept/status-{name}.json")));
        let [Ok(Record::Status(u))] = results.as_slice() else {
            panic!("{name}: {results:?}")
        };
        assert_eq!(u.referral, ReferralRef::Id(gateway_id), "{name}");
        assert_eq!((u.status, u.at), (status, at), "{name}");
        assert_eq!(u.reason.as_ref().map(|r| r.as_str()), reason, "{name}");
        assert_eq!(u.reason_code.as_deref(), code, "{name}");
    }
}

#[test]
fn a_landlord_cancels_its_own_signal_by_its_id() {
    let results = decode_file(fixture("housing/accept/status-cancelled.json"));
    let [Ok(Record::Status(u))] = results.as_slice() else {
        panic!("{results:?}")
    };
    assert_eq!(
        u.referral,
        ReferralRef::External(ExternalRef::parse("HUUR-2026-0042").unwrap())
    );
    assert_eq!(u.status, ReferralStatus::Cancelled);
    assert_eq!(
        u.reason.as_ref().unwrap().as_str(),
        "Huurachterstand is voldaan"
    );
}

#[test]
fn amounts_are_exact_cents() {
    for (text, cents) in [
        ("0", 0),
        ("0.1", 10),
        ("0.29", 29),
        ("1.005e2", 10_050),
        ("100.0", 10_000),
        ("19.99", 1_999),
        ("1234567.89", 123_456_789),
        ("999999999999.99", 99_999_999_999_999),
        ("1000000000000", 100_000_000_000_000),
        ("-0.0", 0),
    ] {
        let json = format!(
            r#"{{"ID":"X","bedrag":{text},"signaaldatum":"2026-11-01","signaalpartner":{{"type":"Huur"}},"client":{{"Burgerservicenummer":"999900006","Achternaam":"Berg"}}}}"#
        );
        let results = decode(json.as_bytes());
        let r = &referral(&results[0]).request;
        assert_eq!(r.finance.as_ref().unwrap().arrears.get(), cents, "{text}");
    }
    for (text, rule) in [
        (
            "0.001",
            "must be a number of euros with at most 2 decimals, e.g. 450 or 450.25",
        ),
        (
            "1e-7",
            "must be a number of euros with at most 2 decimals, e.g. 450 or 450.25",
        ),
        ("1000000000000.01", "must be at most 1000000000000 euros"),
        ("1e300", "must be at most 1000000000000 euros"),
        ("-1", "must not be negative"),
        ("-0.01", "must not be negative"),
    ] {
        let json = format!(
            r#"{{"ID":"X","bedrag":{text},"signaaldatum":"2026-11-01","signaalpartner":{{"type":"Huur"}},"client":{{"Burgerservicenummer":"999900006","Achternaam":"Berg"}}}}"#
        );
        let results = decode(json.as_bytes());
        let e = results[0].as_ref().unwrap_err();
        assert_eq!((pointer(e), e.rule.as_str()), ("/bedrag", rule), "{text}");
    }
}

#[test]
fn a_bom_and_nulls_are_tolerated() {
    let json = "\u{feff}{\"ID\":\"X\",\"bedrag\":5,\"signaaldatum\":\"2026-11-01\",\"ontstaansdatum\":null,\"status\":null,\"signaalpartner\":{\"type\":\"Huur\"},\"client\":{\"Burgerservicenummer\":\"999900006\",\"Achternaam\":\"Berg\",\"Voorletters\":null}}";
    let results = decode(json.as_bytes());
    assert!(results[0].is_ok(), "{results:?}");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let json = format!("{{\"ID\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let results = decode(json.as_bytes());
    let [Err(e)] = results.as_slice() else {
        panic!()
    };
    assert_eq!(e.location, Location::Document);
}
