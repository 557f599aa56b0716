//! The demo's residents: test BSNs only (999900006–999999990, passing the 11-proef), with
//! obviously made-up names and addresses, and which sectors each consented to share with.
//!
//! The same residents come out on every run (a fixed seed), so a restarted demo on the same
//! data directory finds the consents it imported before. About one in ten residents gave no
//! consent at all (999900043 is always one of them, as in `config/consents/demo.toml`); the
//! others consented per sector, and now and then left one out, so some referrals are refused
//! for lack of consent, as in a real neighbourhood.

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use wijkbrug_adapters::model::{
    Address, Bsn, Contact, Gender, HouseNumber, Identity, PersonName, PersonalText, Postcode,
    Resident as ModelResident, Sector,
};

/// How many residents the demo's referrals are about.
pub const RESIDENTS: usize = 80;

/// The share of residents who gave no consent at all.
pub const NO_CONSENT_SHARE: f64 = 0.10;

/// The share of consenting residents who consented to a given sector.
pub const SECTOR_SHARE: f64 = 0.95;

/// The resident without any consent that `config/consents/demo.toml` names.
pub const WITHOUT_CONSENT: &str = "999900043";

/// Residents with standing consents in `config/consents/demo.toml`: left out, so the demo's
/// consents are the only ones about its residents.
const CONFIGURED: [&str; 2] = ["999900006", "999900018"];

const SEED: u64 = 0x7769_6a6b_6272_7567;

/// Given names, with the gender recorded for them.
pub const GIVEN: [(&str, Gender); 20] = [
    ("Anna", Gender::Female),
    ("Bram", Gender::Male),
    ("Chaima", Gender::Female),
    ("Daan", Gender::Male),
    ("Eva", Gender::Female),
    ("Fatma", Gender::Female),
    ("Gerrit", Gender::Male),
    ("Hanna", Gender::Female),
    ("Ilias", Gender::Male),
    ("Joke", Gender::Female),
    ("Kees", Gender::Male),
    ("Lotte", Gender::Female),
    ("Mo", Gender::Other),
    ("Noor", Gender::Female),
    ("Omar", Gender::Male),
    ("Petra", Gender::Female),
    ("Rik", Gender::Male),
    ("Sanne", Gender::Female),
    ("Tijn", Gender::Male),
    ("Yara", Gender::Female),
];

/// Family names no one has, with their prefixes.
pub const FAMILY: [(Option<&str>, &str); 16] = [
    (None, "Proefmans"),
    (Some("de"), "Testmaker"),
    (Some("van"), "Oefenhoven"),
    (None, "Voorbeeldt"),
    (None, "Demokaan"),
    (None, "Fictiefsma"),
    (Some("van der"), "Verzinsel"),
    (None, "Nepperman"),
    (Some("de"), "Schijnvries"),
    (None, "Probeersteeg"),
    (Some("van"), "Nietbestaan"),
    (None, "Bedachtink"),
    (Some("ter"), "Oefenwold"),
    (None, "Testerveld"),
    (Some("van den"), "Verzonnenbosch"),
    (None, "Proefsma"),
];

/// The streets of the demo's town.
pub const STREETS: [&str; 6] = [
    "Proefstraat",
    "Voorbeeldlaan",
    "Oefenweg",
    "Testplein",
    "Demokade",
    "Verzinselhof",
];

/// The town every demo resident lives in.
pub const TOWN: &str = "Demodorp";

/// A resident of the demo.
#[derive(Clone, Debug)]
pub struct Resident {
    pub bsn: Bsn,
    pub given_name: &'static str,
    pub gender: Gender,
    pub prefix: Option<&'static str>,
    pub family_name: &'static str,
    pub birth_date: NaiveDate,
    pub postcode: String,
    pub house_number: u32,
    pub street: &'static str,
    /// The sectors the resident consented to share referrals with.
    pub consents: Vec<Sector>,
}

impl Resident {
    /// Whether the resident consented to share with `sector`.
    pub fn consented_to(&self, sector: Sector) -> bool {
        self.consents.contains(&sector)
    }

    /// The resident as the case model holds them: identity and contact.
    pub fn model(&self) -> ModelResident {
        let text = |s: &str| PersonalText::parse(s).ok();
        let initials = self.given_name.chars().next().map(|c| format!("{c}."));
        let identity = text(self.family_name).map(|family_name| Identity {
            bsn: self.bsn,
            name: PersonName {
                given_names: text(self.given_name),
                initials: initials.as_deref().and_then(text),
                prefix: self.prefix.and_then(text),
                family_name,
            },
            birth_date: Some(self.birth_date),
            gender: Some(self.gender),
        });
        let address = match (
            Postcode::parse(&self.postcode),
            HouseNumber::new(self.house_number),
        ) {
            (Ok(postcode), Ok(house_number)) => Some(Address {
                postcode,
                house_number,
                house_letter: None,
                house_number_addition: None,
                street: text(self.street),
                town: text(TOWN),
            }),
            _ => None,
        };
        ModelResident {
            identity,
            contact: Some(Contact {
                address,
                phone: None,
                email: None,
            }),
        }
    }
}

/// Test BSNs in order: 999900006 up to 999999990, each passing the 11-proef.
pub fn test_bsns() -> impl Iterator<Item = Bsn> {
    (999_900_006u32..=999_999_990)
        .filter_map(|n| Bsn::parse(&n.to_string()).ok())
        .filter(Bsn::is_test_number)
}

/// The demo's residents.
#[derive(Clone, Debug)]
pub struct Residents {
    pub list: Vec<Resident>,
}

impl Residents {
    /// The same `RESIDENTS` residents on every run.
    pub fn generate() -> Self {
        let mut rng = StdRng::seed_from_u64(SEED);
        let bsns = test_bsns().filter(|b| !CONFIGURED.contains(&b.as_str()));
        let list = bsns
            .take(RESIDENTS)
            .map(|bsn| {
                let (given_name, gender) = GIVEN[rng.random_range(0..GIVEN.len())];
                let (prefix, family_name) = FAMILY[rng.random_range(0..FAMILY.len())];
                let birth_date = NaiveDate::from_ymd_opt(
                    rng.random_range(1940..=2005),
                    rng.random_range(1..=12),
                    rng.random_range(1..=28),
                )
                .unwrap_or_default();
                let letters: String = (0..2)
                    .map(|_| char::from(b'A' + rng.random_range(0..26u8)))
                    .collect();
                let postcode = format!("{}{letters}", rng.random_range(1011..=1099));
                let street = STREETS[rng.random_range(0..STREETS.len())];
                let house_number = rng.random_range(1..=220);
                let none = bsn.as_str() == WITHOUT_CONSENT || rng.random_bool(NO_CONSENT_SHARE);
                let consents = Sector::ALL
                    .into_iter()
                    .filter(|_| rng.random_bool(SECTOR_SHARE))
                    .filter(|_| !none)
                    .collect();
                Resident {
                    bsn,
                    given_name,
                    gender,
                    prefix,
                    family_name,
                    birth_date,
                    postcode,
                    house_number,
                    street,
                    consents,
                }
            })
            .collect();
        Self { list }
    }

    /// A random resident; with `sector`, one who consented to it.
    pub fn pick(&self, consenting_to: Option<Sector>) -> Option<&Resident> {
        let candidates: Vec<&Resident> = self
            .list
            .iter()
            .filter(|r| consenting_to.is_none_or(|s| r.consented_to(s)))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        candidates
            .get(rand::random_range(0..candidates.len()))
            .copied()
    }

    /// The residents' consents as an import for `POST /v1/admin/consents`: the signed forms
    /// the neighbourhood team (`recorded_by`) collected, one consent per resident and sector.
    pub fn consent_import(&self, recorded_by: &str) -> Value {
        let consents: Vec<Value> = self
            .list
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.consents.iter().map(move |s| {
                    json!({
                        "recorded_by": recorded_by,
                        "resident_bsn": r.bsn.as_str(),
                        "grantee_sector": s.code(),
                        "purpose": "referral",
                        "categories": categories(*s),
                        "valid_from": "2025-01-01T00:00:00Z",
                        "evidence": format!("DEMO-FORM-{:04}", i + 1),
                    })
                })
            })
            .collect();
        json!({ "consents": consents })
    }
}

/// What a resident lets each sector see: health only to care, finance to welfare and housing
/// (a rent-arrears signal cannot be written without the amount), notes not to employment.
pub fn categories(sector: Sector) -> &'static [&'static str] {
    match sector {
        Sector::Welfare => &["identity", "contact", "needs", "notes", "finance"],
        Sector::Care => &["identity", "contact", "needs", "notes", "health"],
        Sector::Employment => &["identity", "contact", "needs"],
        Sector::Housing => &["identity", "contact", "needs", "finance"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn residents_are_test_numbers_and_the_same_every_run() {
        let a = Residents::generate();
        let b = Residents::generate();
        assert_eq!(a.list.len(), RESIDENTS);
        for (x, y) in a.list.iter().zip(&b.list) {
            assert!(x.bsn.is_test_number());
            assert_eq!(x.bsn, y.bsn);
            assert_eq!(x.consents, y.consents);
            assert!(x.model().identity.is_some(), "every field is valid");
            assert!(x
                .model()
                .contact
                .and_then(|c| c.address)
                .is_some_and(|a| a.town.is_some()));
        }
        let mut bsns: Vec<_> = a.list.iter().map(|r| r.bsn.as_str().to_owned()).collect();
        bsns.sort();
        bsns.dedup();
        assert_eq!(bsns.len(), RESIDENTS, "each resident once");
        assert!(!bsns.iter().any(|b| CONFIGURED.contains(&b.as_str())));
    }

    #[test]
    fn a_realistic_share_gave_no_consent() {
        let residents = Residents::generate();
        let without = residents
            .list
            .iter()
            .filter(|r| r.consents.is_empty())
            .count();
        assert!(residents
            .list
            .iter()
            .any(|r| r.bsn.as_str() == WITHOUT_CONSENT && r.consents.is_empty()));
        // Between 3 and 25 of 80: refusals show, but most referrals go through.
        assert!((3..=25).contains(&without), "{without} without consent");
        assert!(residents.pick(Some(Sector::Welfare)).is_some());
    }

    #[test]
    fn the_consent_import_names_each_consent() {
        let residents = Residents::generate();
        let import = residents.consent_import("wijkteam-centrum");
        let items = import["consents"].as_array().unwrap();
        let expected: usize = residents.list.iter().map(|r| r.consents.len()).sum();
        assert_eq!(items.len(), expected);
        assert!(items.iter().all(|i| i["recorded_by"] == "wijkteam-centrum"));
        assert!(items
            .iter()
            .filter(|i| i["grantee_sector"] == "care")
            .all(|i| i["categories"].to_string().contains("health")));
    }

    #[test]
    fn test_bsns_pass_the_11_proef() {
        let first: Vec<String> = test_bsns().take(4).map(|b| b.as_str().to_owned()).collect();
        assert_eq!(first[0], "999900006");
        assert_eq!(first[1], "999900018");
        assert!(first.contains(&WITHOUT_CONSENT.to_owned()));
    }
}
