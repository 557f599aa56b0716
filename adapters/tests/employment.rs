//! The employment CSV adapter: fixtures in, records or located errors out; round trips.

mod common;

use chrono::NaiveDate;
use common::*;
use proptest::prelude::*;
use wijkbrug_adapters::employment::{
    carried_referral, carried_status, codes, encode_referrals, EmploymentCsv, RowWriter,
};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{
    adapter_for, Adapter, DecodeError, Format, IncomingReferral, Location, OutgoingReferral,
    OutgoingStatus, Record,
};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("employment/{name}"))).unwrap()
}

fn decode_bytes(input: &[u8], sender: &str) -> Vec<Result<Record, DecodeError>> {
    let ctx = ctx(sender);
    EmploymentCsv.decode(input, &ctx).collect()
}

fn decode(name: &str) -> Vec<Result<Record, DecodeError>> {
    decode_bytes(&read(name), "werkplein")
}

fn referral(r: &Result<Record, DecodeError>) -> &IncomingReferral {
    match r {
        Ok(Record::Referral(r)) => r,
        other => panic!("expected a referral, got {other:?}"),
    }
}

fn status(r: &Result<Record, DecodeError>) -> &StatusUpdate {
    match r {
        Ok(Record::Status(s)) => s,
        other => panic!("expected a status update, got {other:?}"),
    }
}

/// (line, column number and name, rule) of an error.
fn at(r: &Result<Record, DecodeError>) -> (u64, Option<(usize, &str)>, &str) {
    match r {
        Err(DecodeError {
            location: Location::Csv { line, column },
            rule,
        }) => (
            *line,
            column.as_ref().map(|(n, name)| (*n, name.as_str())),
            rule.as_str(),
        ),
        other => panic!("expected a CSV error, got {other:?}"),
    }
}

fn id(s: &str) -> ReferralId {
    ReferralId::parse(s).unwrap()
}

fn outgoing_id() -> ReferralId {
    id("018f6b2e-7a10-7000-8000-00000000abcd")
}

#[test]
fn the_adapter_is_registered_under_its_format() {
    assert_eq!(
        adapter_for(Format::EmploymentCsv).format(),
        Format::EmploymentCsv
    );
    assert_eq!(Format::EmploymentCsv.code(), "employment-csv");
}

// ---- fixtures that decode --------------------------------------------------------------

#[test]
fn a_referral_with_a_bom_and_crlf_decodes_to_the_sample() {
    let out = decode("referral-bom.csv");
    assert_eq!(out.len(), 1);
    let r = referral(&out[0]);
    let sender = pid("werkplein");
    let sample = sample_request("werkplein", Target::Partner(pid("wijkteam-centrum")));
    assert_eq!(r.gateway_id, None);
    assert_eq!(r.consent, None);
    assert_eq!(r.request, carried_referral(&sample, &sender));
}

#[test]
fn a_referral_without_a_bom_with_few_columns_in_another_order_decodes() {
    let out = decode("referral-no-bom.csv");
    assert_eq!(out.len(), 1);
    let r = &referral(&out[0]).request;
    assert_eq!(r.source.partner, pid("werkplein"));
    assert_eq!(r.source.reference.as_str(), "WP-1");
    assert_eq!(r.target, Target::Sector(Sector::Employment));
    assert_eq!(r.urgency, Urgency::Routine);
    // 1 July 2026, midnight in summer time.
    assert_eq!(r.requested_at, ts(2026, 6, 30, 22, 0, 0));
    let identity = r.resident.identity.as_ref().unwrap();
    assert_eq!(identity.bsn.as_str(), "999900018");
    assert_eq!(identity.name.family_name.as_str(), "Jansen");
    assert_eq!(identity.name.given_names, None);
    assert_eq!(r.resident.contact, None);
    assert_eq!(
        r.needs,
        [Need::new(
            LifeDomain::WorkAndEducation,
            Severity::new(3).unwrap()
        )]
    );
    assert_eq!((&r.note, &r.finance), (&None, &None));
}

#[test]
fn quoted_fields_keep_separators_quotes_and_line_breaks_and_lines_stay_physical() {
    let out = decode("quoted.csv");
    assert_eq!(out.len(), 4, "{out:?}");
    let first = &referral(&out[0]).request;
    assert_eq!(first.source.reference.as_str(), "WP;2");
    assert_eq!(
        first
            .resident
            .identity
            .as_ref()
            .unwrap()
            .name
            .family_name
            .as_str(),
        "de \"Vries\""
    );
    assert_eq!(
        first.note.as_ref().unwrap().as_str(),
        "Eerste regel; met puntkomma\ntweede regel met \"quotes\""
    );
    let s = status(&out[1]);
    assert_eq!(
        s.referral,
        ReferralRef::External(ExternalRef::parse("WP-1").unwrap())
    );
    assert_eq!(s.status, ReferralStatus::Declined);
    assert_eq!(s.at, ts(2026, 11, 3, 13, 15, 30));
    assert_eq!(
        s.reason.as_ref().unwrap().as_str(),
        "Geen capaciteit;\nprobeer later"
    );
    assert_eq!(
        referral(&out[2]).request.needs[0].domain,
        LifeDomain::DailyLiving
    );
    // The last row starts on physical line 7: the header is line 1 and two rows before it
    // span two lines each.
    let (line, column, rule) = at(&out[3]);
    assert_eq!((line, column), (7, Some((7, "leefgebieden"))));
    assert_eq!(
        rule,
        "item 1: the score must be from 1 to 5 (self-sufficiency matrix score)"
    );
}

#[test]
fn a_mixed_file_yields_referrals_and_status_updates_in_order() {
    let out = decode("mixed.csv");
    assert_eq!(out.len(), 5, "{out:?}");
    let a = &referral(&out[0]).request;
    assert_eq!(a.source.reference.as_str(), "WP-10");
    assert_eq!(a.target, Target::Partner(pid("wijkteam-centrum")));
    assert_eq!(a.requested_at, ts(2026, 11, 2, 9, 30, 0));

    let s = status(&out[1]);
    assert_eq!(
        s.referral,
        ReferralRef::Id(id("018f6b2e-7a10-7000-8000-000000000001"))
    );
    assert_eq!(s.status, ReferralStatus::Accepted);
    assert_eq!(s.reason.as_ref().unwrap().as_str(), "Intake gepland");
    assert_eq!(s.reason_code, None);

    let b = &referral(&out[2]).request;
    assert_eq!(b.target, Target::Sector(Sector::Care));
    assert_eq!(b.urgency, Urgency::Crisis);
    let identity = b.resident.identity.as_ref().unwrap();
    assert_eq!(identity.gender, Some(Gender::Male));
    assert_eq!(identity.birth_date, NaiveDate::from_ymd_opt(1970, 1, 1));
    let address = b
        .resident
        .contact
        .as_ref()
        .unwrap()
        .address
        .as_ref()
        .unwrap();
    assert_eq!(
        (address.postcode.as_str(), address.house_number.get()),
        ("1234AB", 7)
    );
    assert_eq!(address.street, None);
    assert_eq!(b.needs.len(), 2);
    assert_eq!(b.finance.as_ref().unwrap().arrears.get(), 25_000);

    let s = status(&out[3]);
    assert_eq!(
        s.referral,
        ReferralRef::External(ExternalRef::parse("WP-9").unwrap())
    );
    assert_eq!(s.status, ReferralStatus::InProgress);

    let s = status(&out[4]);
    // wijkbrug_id wins over referentie.
    assert_eq!(
        s.referral,
        ReferralRef::Id(id("018f6b2e-7a10-7000-8000-000000000002"))
    );
    assert_eq!(s.status, ReferralStatus::Completed);
    assert_eq!(s.reason_code.as_deref(), Some("AFR-01"));
    // Midnight, winter time.
    assert_eq!(s.at, ts(2026, 11, 5, 23, 0, 0));
}

#[test]
fn the_example_in_the_module_docs_decodes() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/employment/mod.rs"),
    )
    .unwrap();
    let example = read("example.csv");
    for line in String::from_utf8(example.clone()).unwrap().lines() {
        assert!(docs.contains(&format!("//! {line}\n")), "{line}");
    }
    let out = decode_bytes(&example, "werkplein");
    assert_eq!(out.len(), 2, "{out:?}");
    let r = &referral(&out[0]).request;
    assert_eq!(
        r.note.as_ref().unwrap().as_str(),
        "Graag bellen; liefst \"s ochtends\""
    );
    assert_eq!(status(&out[1]).status, ReferralStatus::Accepted);
}

// ---- fixtures with errors --------------------------------------------------------------

#[test]
fn bad_rows_are_reported_at_their_line_and_column_and_the_good_rows_still_decode() {
    let out = decode("bad-rows.csv");
    assert_eq!(out.len(), 5, "{out:?}");
    let refs: Vec<_> = [0, 2, 4]
        .iter()
        .map(|i| {
            referral(&out[*i])
                .request
                .source
                .reference
                .as_str()
                .to_owned()
        })
        .collect();
    assert_eq!(refs, ["WP-1", "WP-3", "WP-5"]);
    assert_eq!(
        at(&out[1]),
        (3, Some((5, "bsn")), "fails the 11-proef (BSN check digit)")
    );
    assert_eq!(
        at(&out[3]),
        (
            5,
            Some((3, "datum")),
            "must be a date dd-mm-jjjj, optionally followed by a time uu:mm or uu:mm:ss (Dutch local time)"
        )
    );
    assert_eq!(
        out[1].as_ref().unwrap_err().to_string(),
        "line 3:5 (bsn): fails the 11-proef (BSN check digit)"
    );
}

#[test]
fn every_problem_in_a_row_is_reported_without_echoing_the_values() {
    let out = decode("many-problems.csv");
    let got: Vec<_> = out.iter().map(at).collect();
    assert_eq!(
        got,
        [
            (2, Some((5, "bsn")), "must be 9 digits"),
            (2, Some((7, "postcode")), "must be a Dutch postcode: 4 digits (not starting with 0) and 2 letters, e.g. 1234AB"),
            (2, Some((9, "email")), "must be an e-mail address (local@domain)"),
            (2, Some((10, "leefgebieden")), "must not list the same life domain twice"),
            (2, Some((11, "urgentie")), "unknown code; expected one of: regulier, urgent, spoed, crisis, routine, asap, normaal, met_spoed"),
        ]
    );
    for r in &out {
        let text = r.as_ref().unwrap_err().to_string();
        for value in ["12345", "0123XY", "anna-at-example", "heel_snel", "Berg"] {
            assert!(!text.contains(value), "{text}");
        }
    }
}

#[test]
fn unknown_columns_are_refused_at_their_header_cell() {
    let out = decode("refuse-unknown-column.csv");
    assert_eq!(out.len(), 1, "{out:?}");
    let (line, column, rule) = at(&out[0]);
    assert_eq!((line, column), (1, Some((4, "?"))));
    assert!(rule.starts_with("unknown column; expected one of: soort, referentie,"));
    assert!(!rule.contains("achternam;") && !rule.contains("achternam,"));
}

#[test]
fn a_missing_required_column_is_refused_at_the_header() {
    let out = decode("refuse-missing-column.csv");
    assert_eq!(
        out.iter().map(at).collect::<Vec<_>>(),
        [(1, None, "the header must have the column datum")]
    );
}

#[test]
fn a_file_without_a_header_is_refused_once_without_echoing_its_data() {
    let out = decode("refuse-no-header.csv");
    assert_eq!(out.len(), 1);
    let (line, column, rule) = at(&out[0]);
    assert_eq!((line, column), (1, None));
    assert!(rule.starts_with("the first line must be the header row"));
    assert!(!rule.contains("999900006") && !rule.contains("Berg"));
}

#[test]
fn a_row_with_the_wrong_number_of_fields_is_refused_and_the_next_decodes() {
    let out = decode("refuse-field-count.csv");
    assert_eq!(out.len(), 2);
    assert_eq!(
        at(&out[0]),
        (2, None, "the row has 8 fields; the header has 7")
    );
    assert_eq!(referral(&out[1]).request.source.reference.as_str(), "WP-2");
}

#[test]
fn cells_of_the_other_row_kind_must_be_empty() {
    let out = decode("refuse-status-with-bsn.csv");
    assert_eq!(
        out.iter().map(at).collect::<Vec<_>>(),
        [(2, Some((4, "bsn")), "must be empty in a status row")]
    );
}

#[test]
fn status_rows_need_a_known_status_and_a_reference() {
    let out = decode("refuse-status.csv");
    let got: Vec<_> = out.iter().map(at).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], (2, Some((4, "status")), "required"));
    assert_eq!(got[1].0, 3);
    assert_eq!(got[1].1, Some((4, "status")));
    assert!(got[1].2.starts_with(
        "unknown code; expected one of: geaccepteerd, afgewezen, gestart, afgerond, geannuleerd"
    ));
    assert_eq!(
        got[2],
        (
            4,
            Some((2, "referentie")),
            "required in a status row when wijkbrug_id is empty"
        )
    );
}

#[test]
fn needs_and_targets_are_checked_against_the_code_tables() {
    let out = decode("refuse-needs.csv");
    let got: Vec<_> = out.iter().map(at).collect();
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!(got[0], (2, Some((7, "leefgebieden")), "required"));
    assert_eq!(got[1].0, 3);
    assert!(got[1]
        .2
        .starts_with("item 2: unknown life-domain code; expected one of: financien, werk,"));
    assert_eq!(
        got[2],
        (
            4,
            Some((7, "leefgebieden")),
            "item 1: the score must be from 1 to 5 (self-sufficiency matrix score)"
        )
    );
    assert_eq!(got[3].0, 5);
    assert_eq!(got[3].1, Some((4, "doel")));
    assert_eq!(
        got[3].2,
        "unknown sector code; expected sector: followed by one of: wonen, welzijn, zorg, werk"
    );
    assert_eq!(
        got[4],
        (
            5,
            Some((7, "leefgebieden")),
            "item 1 must be a life-domain code and a score, e.g. financien:2"
        )
    );
}

#[test]
fn a_referral_row_in_a_file_without_the_bsn_column_is_refused_at_the_row() {
    let out = decode("refuse-no-bsn-column.csv");
    let got: Vec<_> = out.iter().map(at).collect();
    assert_eq!(
        got,
        [
            (2, None, "required; the header has no column bsn"),
            (3, None, "required; the header has no column status"),
        ]
    );
}

#[test]
fn invalid_utf8_is_refused_at_its_cell_and_the_next_row_decodes() {
    let mut input = read("bad-rows.csv");
    let at_smit = input.windows(4).position(|w| w == b"Smit").unwrap();
    input[at_smit + 1] = 0xFF;
    let out = decode_bytes(&input, "werkplein");
    let (line, column, rule) = at(&out[1]);
    assert_eq!(
        (line, column, rule),
        (3, Some((6, "achternaam")), "must be UTF-8 text")
    );
    assert_eq!(referral(&out[2]).request.source.reference.as_str(), "WP-3");
}

#[test]
fn an_empty_input_is_refused() {
    for input in [&b""[..], b"\xef\xbb\xbf", b"\n\n"] {
        let out = decode_bytes(input, "werkplein");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].as_ref().unwrap_err().location, Location::Document);
    }
}

#[test]
fn a_header_only_file_has_no_records_and_blank_rows_are_skipped() {
    assert!(decode_bytes(b"soort;referentie;datum\r\n", "werkplein").is_empty());
    let out = decode_bytes(
        b"\r\nsoort;referentie;datum;status\r\n;;;\r\n\r\nstatus;WP-1;02-11-2026;gestart\r\n",
        "werkplein",
    );
    assert_eq!(out.len(), 1);
    assert_eq!(status(&out[0]).status, ReferralStatus::InProgress);
    // The status row is on line 5; prove it with a bad one.
    let out = decode_bytes(
        b"\r\nsoort;referentie;datum;status\r\n;;;\r\n\r\nstatus;WP-1;02-11-2026;open\r\n",
        "werkplein",
    );
    assert_eq!(at(&out[0]).0, 5);
}

#[test]
fn a_real_foreign_semicolon_csv_is_refused_at_the_header() {
    // Aedes VERA reference data: `;`-separated, a `Soort` column, but not our format.
    let input = std::fs::read(standards("vera/Referentiedata.csv")).unwrap();
    let out = decode_bytes(&input, "werkplein");
    let got: Vec<_> = out.iter().map(at).collect();
    assert_eq!(got.len(), 9, "{got:?}");
    for (i, (line, column, rule)) in got[..7].iter().enumerate() {
        assert_eq!((*line, *column), (1, Some((i + 2, "?"))));
        assert!(rule.starts_with("unknown column"));
    }
    assert_eq!(
        got[7],
        (1, None, "the header must have the column referentie")
    );
    assert_eq!(got[8], (1, None, "the header must have the column datum"));
}

// ---- encoding --------------------------------------------------------------------------

#[test]
fn the_sample_referral_encodes_to_the_expected_file() {
    let sample = sample_request("werkplein", Target::Partner(pid("wijkteam-centrum")));
    let out = EmploymentCsv
        .encode_referral(
            OutgoingReferral {
                id: outgoing_id(),
                request: &sample,
            },
            &directory(),
        )
        .unwrap();
    let expected = String::from_utf8(read("referral-bom.csv")).unwrap();
    let expected = expected
        .trim_start_matches('\u{feff}')
        .replace(";;02-11-2026", &format!(";{};02-11-2026", outgoing_id()));
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn a_referral_without_identity_encodes_with_an_empty_bsn_but_does_not_decode() {
    let sample = sample_request("werkplein", Target::Sector(Sector::Welfare));
    let all_but_identity =
        CategorySet::all().difference([DataCategory::Identity].into_iter().collect());
    let (minimised, _) = sample.minimise(all_but_identity);
    let out = EmploymentCsv
        .encode_referral(
            OutgoingReferral {
                id: outgoing_id(),
                request: &minimised,
            },
            &directory(),
        )
        .unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    let row = text.lines().nth(1).unwrap();
    assert!(row.starts_with("verwijzing;REF-2026-0042;"));
    assert!(row.contains(";sector:welzijn;urgent;;;;;;;;"), "{row}");
    assert!(!text.contains("999900006"));
    let got: Vec<_> = decode_bytes(&out, "werkplein")
        .iter()
        .map(|r| (at(r).0, at(r).1.map(|c| c.1.to_owned()), at(r).2.to_owned()))
        .collect();
    assert_eq!(
        got,
        [
            (2, Some("bsn".to_owned()), "required".to_owned()),
            (2, Some("achternaam".to_owned()), "required".to_owned()),
        ]
    );
}

#[test]
fn status_updates_encode_with_the_same_header_and_both_references() {
    let sample = sample_request("werkplein", Target::Partner(pid("wijkteam-centrum")));
    let mut update = StatusUpdate::new(
        ReferralRef::Id(outgoing_id()),
        ReferralStatus::Declined,
        ts(2026, 7, 1, 8, 30, 5),
    )
    .unwrap();
    update.reason = Some(ReasonText::parse("Geen plek; \"wachtlijst\"\nbel later").unwrap());
    update.reason_code = Some("WL".to_owned());
    let out = EmploymentCsv
        .encode_status(
            OutgoingStatus {
                id: outgoing_id(),
                request: &sample,
                update: &update,
            },
            &directory(),
        )
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let header = String::from_utf8(read("referral-bom.csv")).unwrap();
    let header = header
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap();
    assert_eq!(
        text,
        format!(
            "{header}\r\nstatus;REF-2026-0042;{};01-07-2026 10:30:05;{}afgewezen;\"Geen plek; \"\"wachtlijst\"\"\nbel later\";WL\r\n",
            outgoing_id(),
            ";".repeat(22)
        )
    );
}

#[test]
fn statuses_a_partner_cannot_report_and_bad_reason_codes_are_not_encoded() {
    let sample = sample_request("werkplein", Target::Sector(Sector::Welfare));
    let mut update = StatusUpdate::new(
        ReferralRef::Id(outgoing_id()),
        ReferralStatus::Accepted,
        ts(2026, 7, 1, 8, 30, 5),
    )
    .unwrap();
    update.status = ReferralStatus::Routed;
    let out = |u: &StatusUpdate| {
        EmploymentCsv.encode_status(
            OutgoingStatus {
                id: outgoing_id(),
                request: &sample,
                update: u,
            },
            &directory(),
        )
    };
    assert!(out(&update).is_err());
    update.status = ReferralStatus::Accepted;
    update.reason_code = Some("x".repeat(65));
    assert!(out(&update).is_err());
}

#[test]
fn many_referrals_and_statuses_share_one_header() {
    let a = sample_request("werkplein", Target::Sector(Sector::Welfare));
    let mut b = a.clone();
    b.source.reference = ExternalRef::parse("REF-2").unwrap();
    let out = encode_referrals([
        OutgoingReferral {
            id: outgoing_id(),
            request: &a,
        },
        OutgoingReferral {
            id: outgoing_id(),
            request: &b,
        },
    ])
    .unwrap();
    assert_eq!(
        String::from_utf8(out.clone())
            .unwrap()
            .matches("soort;")
            .count(),
        1
    );
    assert_eq!(decode_bytes(&out, "werkplein").len(), 2);

    let update = StatusUpdate::new(
        ReferralRef::Id(outgoing_id()),
        ReferralStatus::Completed,
        ts(2026, 1, 1, 12, 0, 0),
    )
    .unwrap();
    let mut w = RowWriter::new();
    w.referral(OutgoingReferral {
        id: outgoing_id(),
        request: &a,
    })
    .unwrap();
    w.status(OutgoingStatus {
        id: outgoing_id(),
        request: &a,
        update: &update,
    })
    .unwrap();
    let out = decode_bytes(&w.finish().unwrap(), "werkplein");
    assert!(matches!(out[0], Ok(Record::Referral(_))));
    assert_eq!(status(&out[1]).status, ReferralStatus::Completed);
    assert_eq!(
        RowWriter::new()
            .finish()
            .unwrap()
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
        1
    );
}

// ---- the code table --------------------------------------------------------------------

#[test]
fn every_life_domain_has_a_code_that_decodes_back() {
    for d in LifeDomain::ALL {
        let code = codes::domain_code(d);
        assert_eq!(codes::decode(&codes::LIFE_DOMAINS, code), Some(d), "{d:?}");
        // And through a file.
        let input = format!(
            "soort;referentie;datum;doel;bsn;achternaam;leefgebieden\nverwijzing;R;01-01-2026;werkplein;999900006;Berg;{}:4\n",
            code.to_uppercase()
        );
        let out = decode_bytes(input.as_bytes(), "werkplein");
        assert_eq!(referral(&out[0]).request.needs[0].domain, d);
    }
    for (code, d) in codes::LIFE_DOMAINS {
        assert_eq!(codes::decode(&codes::LIFE_DOMAINS, code), Some(d));
    }
}

// ---- round trips -----------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn referrals_round_trip(request in request(), rid in referral_id()) {
        let out = EmploymentCsv.encode_referral(
            OutgoingReferral { id: rid, request: &request },
            &directory(),
        ).unwrap();
        let decoded = decode_bytes(&out, request.source.partner.as_str());
        prop_assert_eq!(decoded.len(), 1);
        let r = referral(&decoded[0]);
        prop_assert_eq!(r.gateway_id, Some(rid));
        prop_assert_eq!(&r.request, &carried_referral(&request, &request.source.partner));
    }

    #[test]
    fn status_updates_round_trip(update in status_update(), rid in referral_id(), request in request()) {
        let outgoing = OutgoingStatus { id: rid, request: &request, update: &update };
        let out = EmploymentCsv.encode_status(outgoing, &directory()).unwrap();
        let decoded = decode_bytes(&out, "werkplein");
        prop_assert_eq!(decoded.len(), 1);
        prop_assert_eq!(status(&decoded[0]), &carried_status(&outgoing));
    }

    #[test]
    fn a_batch_of_referrals_round_trips(requests in proptest::collection::vec(request(), 1..5), rid in referral_id()) {
        let sender = pid("werkplein");
        let out = encode_referrals(requests.iter().map(|r| OutgoingReferral { id: rid, request: r })).unwrap();
        let decoded = decode_bytes(&out, sender.as_str());
        prop_assert_eq!(decoded.len(), requests.len());
        for (d, r) in decoded.iter().zip(&requests) {
            prop_assert_eq!(&referral(d).request, &carried_referral(r, &sender));
        }
    }
}
