//! Round trips of the housing-signal adapter: `decode(encode(x)) == project(x)` for referrals,
//! and `decode(encode(u)) == u` for status updates.

mod common;

use chrono::NaiveTime;
use common::{ctx, directory, finance, referral_id, request, sample_request, status_update};
use proptest::prelude::*;
use wijkbrug_adapters::housing::codes::{self, SignalFacts};
use wijkbrug_adapters::model::*;
use wijkbrug_adapters::{
    adapter_for, EncodeError, Format, IncomingReferral, OutgoingReferral, OutgoingStatus, Record,
};

/// What the housing signal carries of a referral (the losses listed in the module docs).
fn project(x: &ReferralRequest, id: ReferralId) -> IncomingReferral {
    let finance = x
        .finance
        .as_ref()
        .expect("encodable referrals carry finance");
    let signalled_on = finance
        .signalled_on
        .unwrap_or_else(|| x.requested_at.date_naive());
    let facts = SignalFacts {
        crisis: x.urgency == Urgency::Crisis,
        warm_handover: x.urgency == Urgency::Asap,
        arrears: finance.arrears,
        arrears_since: finance.arrears_since,
        signalled_on,
        arrangement: None,
    };
    let identity = x.resident.identity.as_ref().map(|i| Identity {
        bsn: i.bsn,
        name: PersonName {
            given_names: None,
            initials: i.name.initials.clone(),
            prefix: i.name.prefix.clone(),
            family_name: i.name.family_name.clone(),
        },
        birth_date: i.birth_date,
        gender: None,
    });
    let address = x
        .resident
        .contact
        .as_ref()
        .and_then(|c| c.address.clone())
        .map(|mut a| {
            // A lone one-letter addition reads back as the house letter.
            if a.house_letter.is_none() {
                if let Some(x) = a.house_number_addition.as_deref() {
                    if let Ok(letter) = Address::parse_house_letter(x) {
                        a.house_letter = Some(letter);
                        a.house_number_addition = None;
                    }
                }
            }
            a
        });
    IncomingReferral {
        gateway_id: Some(id),
        request: ReferralRequest {
            source: x.source.clone(),
            target: x.target.clone(),
            urgency: codes::derived_urgency(&facts),
            requested_at: signalled_on.and_time(NaiveTime::MIN).and_utc(),
            resident: Resident {
                identity,
                contact: address.map(|a| Contact {
                    address: Some(a),
                    phone: None,
                    email: None,
                }),
            },
            needs: x
                .needs
                .iter()
                .map(|n| Need::new(n.domain, n.severity))
                .collect(),
            note: None,
            finance: Some(FinancialSituation {
                arrears: finance.arrears,
                arrears_since: finance.arrears_since,
                signalled_on: Some(signalled_on),
            }),
        },
        consent: None,
    }
}

fn roundtrip(x: &ReferralRequest, id: ReferralId) -> Result<Vec<Record>, String> {
    let adapter = adapter_for(Format::HousingSignal);
    let bytes = adapter
        .encode_referral(OutgoingReferral { id, request: x }, &directory())
        .map_err(|e| e.to_string())?;
    let c = ctx(x.source.partner.as_str());
    adapter
        .decode(&bytes, &c)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e}\n{}", String::from_utf8_lossy(&bytes)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_referral_round_trips_onto_what_the_signal_carries(
        mut x in request(),
        f in finance(),
        id in referral_id(),
    ) {
        x.finance = Some(f);
        let records = roundtrip(&x, id).map_err(TestCaseError::fail)?;
        prop_assert_eq!(records, vec![Record::Referral(Box::new(project(&x, id)))]);
    }

    #[test]
    fn a_status_update_round_trips_through_the_callback(u in status_update()) {
        let adapter = adapter_for(Format::HousingSignal);
        let ReferralRef::Id(id) = u.referral.clone() else { unreachable!() };
        let request = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
        let bytes = adapter
            .encode_status(OutgoingStatus { id, request: &request, update: &u }, &directory())
            .unwrap();
        let c = ctx("woonstad-noord");
        let records: Vec<_> = adapter.decode(&bytes, &c).collect();
        prop_assert_eq!(records, vec![Ok(Record::Status(u))]);
    }
}

#[test]
fn the_sample_referral_encodes_as_a_vng_shaped_signal() {
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let x = sample_request(
        "woonstad-noord",
        Target::Partner(common::pid("wijkteam-centrum")),
    );
    let bytes = adapter_for(Format::HousingSignal)
        .encode_referral(OutgoingReferral { id, request: &x }, &directory())
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "ID": "REF-2026-0042",
            "crisissignaal": false,
            "warmeOverdracht": false,
            "bedrag": 1350,
            "ontstaansdatum": "2026-08-01",
            "signaaldatum": "2026-11-01",
            "status": "Nog niet opgepakt",
            "signaalpartner": { "type": "Huur" },
            "client": {
                "Burgerservicenummer": "999900006",
                "Voorletters": "A.M.",
                "Voorvoegsel": "van de",
                "Achternaam": "Berg",
                "Geboortedatum": "1980-04-12",
                "Straatnaam": "Lindelaan",
                "Postcode": "1234AB",
                "Huisnummer": "12",
                "Huisnummertoevoeging": "a-2",
                "Plaatsnaam": "Utrecht"
            },
            "doelpartner": "wijkteam-centrum",
            "leefgebieden": [
                { "leefgebied": "financien", "ernst": 2 },
                { "leefgebied": "geestelijke_gezondheid", "ernst": 3 }
            ],
            "verwijzingId": "01900000-0000-7000-8000-000000000001"
        })
    );
    let records = roundtrip(&x, id).unwrap();
    assert_eq!(records, vec![Record::Referral(Box::new(project(&x, id)))]);
}

#[test]
fn a_referral_without_identity_or_finance_is_not_encoded() {
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let adapter = adapter_for(Format::HousingSignal);
    let full = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    for (category, minimised) in [
        (
            DataCategory::Identity,
            full.minimise(
                CategorySet::all().difference([DataCategory::Identity].into_iter().collect()),
            )
            .0,
        ),
        (
            DataCategory::Finance,
            full.minimise(
                CategorySet::all().difference([DataCategory::Finance].into_iter().collect()),
            )
            .0,
        ),
    ] {
        let err = adapter
            .encode_referral(
                OutgoingReferral {
                    id,
                    request: &minimised,
                },
                &directory(),
            )
            .unwrap_err();
        assert!(
            matches!(err, EncodeError::MissingCategory { category: c, .. } if c == category),
            "{err}"
        );
    }
}

#[test]
fn a_status_the_callback_cannot_carry_is_unsupported() {
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let request = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let mut update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Accepted,
        common::ts(2026, 11, 2, 10, 0, 0),
    )
    .unwrap();
    update.status = ReferralStatus::Routed;
    let err = adapter_for(Format::HousingSignal)
        .encode_status(
            OutgoingStatus {
                id,
                request: &request,
                update: &update,
            },
            &directory(),
        )
        .unwrap_err();
    assert!(matches!(err, EncodeError::Unsupported { .. }), "{err}");
}

#[test]
fn the_status_callback_names_the_landlords_signal() {
    let id = ReferralId::parse("01900000-0000-7000-8000-000000000001").unwrap();
    let request = sample_request("woonstad-noord", Target::Sector(Sector::Welfare));
    let mut update = StatusUpdate::new(
        ReferralRef::Id(id),
        ReferralStatus::Declined,
        common::ts(2026, 11, 3, 14, 5, 0),
    )
    .unwrap();
    update.reason = Some(ReasonText::parse("Al bekend").unwrap());
    update.reason_code = Some("AL-BEKEND".into());
    let bytes = adapter_for(Format::HousingSignal)
        .encode_status(
            OutgoingStatus {
                id,
                request: &request,
                update: &update,
            },
            &directory(),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        r#"{"schema":"wijkbrug.housing-status/1","signaal_id":"REF-2026-0042","referral_id":"01900000-0000-7000-8000-000000000001","status":"declined","at":"2026-11-03T14:05:00Z","reden":"Al bekend","reden_code":"AL-BEKEND"}"#
    );
}
