//! The code tables of the employment CSV: Dutch codes to and from the case model.
//!
//! Each table is a `const` array. The first entry for a model value is the code the encoder
//! writes; the decoder accepts every entry, compared case-insensitively.

use crate::model::{Gender, LifeDomain, ReferralStatus, Sector, Urgency};

/// The employment sector's codes for the life domains (`leefgebieden`), in the language of
/// the Participatiewet intake: one code per domain of the Self-Sufficiency Matrix, plus
/// spelling variants accepted on input.
pub const LIFE_DOMAINS: [(&str, LifeDomain); 13] = [
    ("financien", LifeDomain::Finances),
    ("werk", LifeDomain::WorkAndEducation),
    ("huisvesting", LifeDomain::Housing),
    ("huiselijke_relaties", LifeDomain::DomesticRelations),
    ("geestelijke_gezondheid", LifeDomain::MentalHealth),
    ("lichamelijke_gezondheid", LifeDomain::PhysicalHealth),
    ("verslaving", LifeDomain::Addiction),
    ("adl", LifeDomain::DailyLiving),
    ("sociaal_netwerk", LifeDomain::SocialNetwork),
    ("participatie", LifeDomain::CommunityParticipation),
    ("justitie", LifeDomain::Justice),
    // Accepted on input only.
    ("financiën", LifeDomain::Finances),
    ("werk_en_opleiding", LifeDomain::WorkAndEducation),
];

/// `urgentie`: how soon the resident needs help.
pub const URGENCIES: [(&str, Urgency); 8] = [
    ("regulier", Urgency::Routine),
    ("urgent", Urgency::Urgent),
    ("spoed", Urgency::Asap),
    ("crisis", Urgency::Crisis),
    // Accepted on input only: the model's own codes.
    ("routine", Urgency::Routine),
    ("asap", Urgency::Asap),
    ("normaal", Urgency::Routine),
    ("met_spoed", Urgency::Asap),
];

/// `geslacht`: administrative gender, as the BRP letters (X for "anders").
pub const GENDERS: [(&str, Gender); 8] = [
    ("M", Gender::Male),
    ("V", Gender::Female),
    ("X", Gender::Other),
    ("O", Gender::Unknown),
    // Accepted on input only.
    ("man", Gender::Male),
    ("vrouw", Gender::Female),
    ("anders", Gender::Other),
    ("onbekend", Gender::Unknown),
];

/// `status`: the statuses a partner may report.
pub const STATUSES: [(&str, ReferralStatus); 7] = [
    ("geaccepteerd", ReferralStatus::Accepted),
    ("afgewezen", ReferralStatus::Declined),
    ("gestart", ReferralStatus::InProgress),
    ("afgerond", ReferralStatus::Completed),
    ("geannuleerd", ReferralStatus::Cancelled),
    // Accepted on input only.
    ("in_behandeling", ReferralStatus::InProgress),
    ("ingetrokken", ReferralStatus::Cancelled),
];

/// Sectors in `doel`, written `sector:<code>` (a partner id can never contain ':').
pub const SECTORS: [(&str, Sector); 4] = [
    ("wonen", Sector::Housing),
    ("welzijn", Sector::Welfare),
    ("zorg", Sector::Care),
    ("werk", Sector::Employment),
];

/// `soort`: the kind of row.
pub const ROW_KINDS: [&str; 2] = ["verwijzing", "status"];

/// Looks a code up case-insensitively.
pub fn decode<T: Copy>(table: &[(&str, T)], code: &str) -> Option<T> {
    table
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, v)| *v)
}

/// The code the encoder writes for a value: its first entry.
pub fn encode<T: Copy + PartialEq>(table: &[(&'static str, T)], value: T) -> Option<&'static str> {
    table.iter().find(|(_, v)| *v == value).map(|(c, _)| *c)
}

/// The codes a table accepts, for error messages.
pub fn accepted<T>(table: &[(&str, T)]) -> String {
    let mut out = String::new();
    for (i, (c, _)) in table.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(c);
    }
    out
}

pub fn domain_code(d: LifeDomain) -> &'static str {
    encode(&LIFE_DOMAINS, d).unwrap_or("")
}

pub fn urgency_code(u: Urgency) -> &'static str {
    encode(&URGENCIES, u).unwrap_or("")
}

pub fn gender_code(g: Gender) -> &'static str {
    encode(&GENDERS, g).unwrap_or("")
}

pub fn status_code(s: ReferralStatus) -> Option<&'static str> {
    encode(&STATUSES, s)
}

pub fn sector_code(s: Sector) -> &'static str {
    encode(&SECTORS, s).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_encodes_and_decodes() {
        for d in LifeDomain::ALL {
            let code = domain_code(d);
            assert!(!code.is_empty(), "{d:?} has no code");
            assert_eq!(decode(&LIFE_DOMAINS, code), Some(d));
            assert_eq!(decode(&LIFE_DOMAINS, &code.to_uppercase()), Some(d));
        }
        for (code, d) in LIFE_DOMAINS {
            assert_eq!(decode(&LIFE_DOMAINS, code), Some(d), "{code}");
        }
    }

    #[test]
    fn every_urgency_gender_sector_and_reportable_status_round_trips() {
        for u in Urgency::ALL {
            assert_eq!(decode(&URGENCIES, urgency_code(u)), Some(u));
        }
        for g in [Gender::Male, Gender::Female, Gender::Other, Gender::Unknown] {
            assert_eq!(decode(&GENDERS, gender_code(g)), Some(g));
        }
        for s in Sector::ALL {
            assert_eq!(decode(&SECTORS, sector_code(s)), Some(s));
        }
        for s in ReferralStatus::ALL {
            match status_code(s) {
                Some(code) => assert_eq!(decode(&STATUSES, code), Some(s)),
                None => assert!(!s.is_reportable(), "{s} is reportable but has no code"),
            }
        }
        assert_eq!(
            decode(&STATUSES, "Afgerond"),
            Some(ReferralStatus::Completed)
        );
        assert_eq!(decode(&URGENCIES, "onbekend"), None);
    }
}
