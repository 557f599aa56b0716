//! How the adapter derives iWmo references from the gateway's referral id, and maps them back.

use crate::model::ReferralId;

/// `ReferentieAanbieder` of the `index`-th (0-based) requested product of a referral the
/// gateway writes: the first is the id itself (36 characters, hyphenated); the others are the
/// id's 32 hex digits, a `-` and the 1-based product number in two digits (35 characters,
/// e.g. `0190a6c3e2b47c1d8e5f0a1b2c3d4e5f-02`), so each fits `LDT_Referentie` (max 36) and
/// [`referral_id_of`] maps every one of them back to the id.
pub fn product_reference(id: ReferralId, index: usize) -> String {
    if index == 0 {
        id.to_string()
    } else {
        format!("{}-{:02}", id.as_uuid().simple(), (index + 1).min(99))
    }
}

/// The gateway's referral id a `ReferentieAanbieder` names, if it is one of the forms
/// [`product_reference`] writes (or any form of a UUID v7).
pub fn referral_id_of(reference: &str) -> Option<ReferralId> {
    if let Ok(id) = ReferralId::parse(reference) {
        return Some(id);
    }
    let b = reference.as_bytes();
    if b.len() == 35
        && b.get(32) == Some(&b'-')
        && b.get(33..)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    {
        return reference.get(..32).and_then(|h| ReferralId::parse(h).ok());
    }
    None
}

/// `BerichtIdentificatie/Identificatie` (`LDT_IdentificatieBericht`, max 12 characters) of a
/// message the gateway writes about a referral: the last 12 hex digits of the id (its random
/// part).
pub fn message_identification(id: ReferralId) -> String {
    let simple = id.as_uuid().simple().to_string();
    simple.get(20..).unwrap_or("0").to_owned()
}

/// `ToewijzingNummer` (`LDT_Nummer`, at most 999999999) of the `index`-th (0-based) product
/// of a referral in the assignment, start and stop messages the gateway writes: 7 digits from
/// the id's random part followed by the 1-based product number in two digits. A WMO305/307
/// names the referral only by this number, so the gateway resolves such status updates
/// (`ReferralRef::External`) by computing it for its open referrals.
pub fn toewijzing_nummer(id: ReferralId, index: usize) -> u32 {
    let low = (id.as_uuid().as_u128() & u128::from(u64::MAX)) % 10_000_000;
    let product = (index as u128 + 1).min(99);
    u32::try_from(low * 100 + product).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_map_back_and_fit() {
        let id = ReferralId::from_parts(1_750_000_000_000, [9; 10]);
        for i in 0..12 {
            let r = product_reference(id, i);
            assert!(r.len() <= 36);
            assert_eq!(referral_id_of(&r), Some(id), "{r}");
        }
        assert_eq!(referral_id_of("9003"), None);
        assert_eq!(message_identification(id).len(), 12);
        assert!(toewijzing_nummer(id, 98) <= 999_999_999);
        assert_ne!(toewijzing_nummer(id, 0), toewijzing_nummer(id, 1));
    }
}
