//! Welfare: iStandaarden iWmo 3.2 XML.
//!
//! # Messages
//!
//! | message | BerichtCode | direction in the gateway | case model |
//! |---|---|---|---|
//! | WMO315 verzoek om toewijzing | 444 | in and out | a referral |
//! | WMO301 toewijzing | 414 | in and out | status `accepted` |
//! | WMO319 antwoord | 482 | in and out | `VerzoekAntwoord` 1: `declined` (reason code = `RedenAfwijzingVerzoek`); 2: `in_progress` (in only) |
//! | WMO305 start | 418 | in and out | status `in_progress` |
//! | WMO307 stop | 420 | in and out | status `completed` (reason code = `RedenBeeindiging`) |
//! | WMO317, WMO323 | 480, 484 | refused | "message WMO317 is not handled by this gateway" |
//!
//! The root element's namespace decides the message (`http://www.istandaarden.nl/iwmo/3_2/
//! <wmoNNN>/schema`); its `BerichtCode` must agree. Messages written validate against the
//! official XSDs (tests run xmllint on every kind and on generated referrals).
//!
//! # Refused input
//!
//! Not UTF-8; not well-formed; any DOCTYPE (so no DTD, entity declaration or external
//! entity, refused before anything else is read); a root that is not `Bericht` in a handled
//! message namespace; an unknown or mismatching `BerichtCode`; a missing required element
//! (reported at its path, e.g. `/Bericht/Client/Bsn`; repeated elements carry a 1-based index,
//! `/Bericht/Client/AangevraagdeProducten/AangevraagdProduct[2]/Product/Categorie`); a BSN
//! failing the 11-proef; unknown codes (the error lists the accepted ones). Limits: 1 MiB a
//! document, nesting 32 deep, 20 000 elements, 16 KiB of text an element. Errors never quote
//! values from the input.
//!
//! # Referral (WMO315) mapping and what is lost
//!
//! Writing: `Afzender` = [`Directory::gateway_agb`] (the gateway acts as the requesting
//! provider); `Ontvanger` = the target partner's municipality code (for a sector target the
//! first welfare partner with one); `Identificatie` = the last 12 hex digits of the referral id
//! ([`message_identification`]); `Dagtekening` and every `ToewijzingIngangsdatum` = the
//! request date. One `AangevraagdProduct` per need, in order, with
//! `ReferentieAanbieder` = [`product_reference`] (the id itself for the first, `<32 hex>-NN`
//! for the others; [`referral_id_of`] maps each back), `Product/Categorie` from
//! [`codes::PRODUCT_CATEGORIES`] and the need's note as `Commentaar`; the referral's note is
//! the client's `Commentaar`. `Verwijzer` is required: a care partner with an AGB code is type
//! 02 with that code, anyone else type 01 (gemeente) named by partner id.
//!
//! Reading: source = the authenticated sender with reference = the first product's
//! `ReferentieAanbieder` (the key the iWmo answers refer to); `gateway_id` when that names a
//! gateway id; target = the partner whose municipality code is the `Ontvanger`, else the
//! welfare sector; requested at = `Dagtekening`, midnight UTC. Several products on one life
//! domain become one need (notes joined).
//!
//! Lost on the way through a WMO315 ([`project_referral`] is the exact projection):
//! - urgency (read back as `routine`) and each need's severity (read back as
//!   [`DEFAULT_SEVERITY`]): iWmo has no field for either, and misusing `Omvang` would mislead
//!   the municipality;
//! - the resident's contact details (WMO315 has no address, phone or e-mail) and the
//!   financial situation;
//! - the time of day of `requested_at` (`Dagtekening` is a date);
//! - the sender's own reference (the WMO315 carries the gateway id instead);
//! - gender `other` (no code; written as 0 "onbekend", read back as `unknown`, as is a missing
//!   gender);
//! - initials are written as letters only (`LDT_Voorletters`, 1–6 letters) and read back with a
//!   dot after each letter; initials that do not fit are dropped;
//! - a name prefix longer than 10 characters (`LDT_Voorvoegsel`) is written in front of the
//!   family name;
//! - a birth date is required (`EncodeError::MissingField` without one); `DatumGebruik` 3
//!   (date unknown) reads as no birth date.
//!
//! # Status mapping and what is lost
//!
//! Writing (to the referral's sender): accepted → WMO301 from the target's municipality to the
//! sender's AGB code, one `ToegewezenProduct` per need with `ToewijzingNummer` =
//! [`toewijzing_nummer`], `ReferentieAanbieder` = [`status_reference`], the time of the
//! update as `Toewijzingsdatum`/`Toewijzingstijd`, the reason as `Commentaar` and a reason code
//! that is an `LDT_RedenWijziging` as `RedenWijziging`; declined → WMO319 `VerzoekAntwoord` 1
//! with a reason code that is an `LDT_RedenAfwijzingVerzoek` (the reason text is lost: the
//! 319 has no free text); in progress → WMO305 and completed → WMO307 from the target's AGB
//! code (or the gateway's) to the sender's municipality code, one product per need
//! (`RedenBeeindiging` = the reason code when valid, else 19 "levering volgens plan
//! beeindigd"); cancelled → `EncodeError::Unsupported` (iWmo 3.2 has no withdrawal message).
//!
//! Reading: `referral` = `ReferralRef::Id` when `ReferentieAanbieder` names a gateway id, else
//! `External`; a WMO305/307 has no `ReferentieAanbieder`, so each product's `ToewijzingNummer`
//! becomes `External` (the gateway links it with [`toewijzing_nummer`]); one status update
//! per product with a distinct reference. `at` = `Toewijzingsdatum` + `Toewijzingstijd` (UTC)
//! for a 301, `Dagtekening` for a 319, `Begindatum`/`Einddatum` for a 305/307, at midnight UTC.
//! [`project_status`] is the exact projection.

mod codes;
mod decode;
mod encode;
mod refs;
mod xml;

use chrono::{NaiveTime, Timelike};

pub use codes::{category_for, domain_for, CategoryRow, MessageKind, PRODUCT_CATEGORIES};
pub use decode::initials_from_voorletters;
pub use encode::{status_reference, target_municipality, voorletters};
pub use refs::{message_identification, product_reference, referral_id_of, toewijzing_nummer};
pub use xml::{MAX_DEPTH, MAX_ELEMENTS, MAX_INPUT_BYTES, MAX_TEXT_BYTES};

use crate::adapter::{
    Adapter, DecodeContext, Directory, EncodeError, Format, OutgoingReferral, OutgoingStatus,
    Records,
};
use crate::model::{
    ExternalRef, Gender, Identity, Need, PartnerId, PersonName, PersonalText, ReferralRef,
    ReferralRequest, ReferralStatus, Resident, Severity, Source, StatusUpdate, Target, Urgency,
};

/// The severity a need read from iWmo gets (iWmo carries none): 3, "unstable" on the matrix.
pub const DEFAULT_SEVERITY: u8 = 3;

/// The iWmo 3.2 adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct Iwmo32;

impl Adapter for Iwmo32 {
    fn format(&self) -> Format {
        Format::Iwmo32
    }

    fn decode<'a>(&'a self, input: &'a [u8], ctx: &'a DecodeContext) -> Records<'a> {
        Box::new(decode::decode(input, ctx).into_iter())
    }

    fn encode_referral(
        &self,
        referral: OutgoingReferral<'_>,
        directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode::referral(referral, directory)
    }

    fn encode_status(
        &self,
        status: OutgoingStatus<'_>,
        directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        encode::status(status, directory)
    }
}

/// What decoding the WMO315 written for `referral` gives back when `sender` delivers it:
/// the referral projected onto what iWmo carries (see the module docs). `None` when the
/// referral cannot be written (the encoder's errors).
pub fn project_referral(
    referral: OutgoingReferral<'_>,
    sender: &PartnerId,
    directory: &Directory,
) -> Option<ReferralRequest> {
    let r = referral.request;
    let municipality = target_municipality(r, directory).ok()?;
    let target = directory
        .by_municipality(municipality.as_str())
        .map(|e| Target::Partner(e.partner.clone()))?;
    let identity = r.resident.identity.as_ref()?;
    let (family, prefix) = encode::name_parts(identity).ok()?;
    let severity = Severity::new(DEFAULT_SEVERITY).ok()?;
    let mut needs: Vec<Need> = Vec::with_capacity(r.needs.len());
    for n in &r.needs {
        let domain = domain_for(category_for(n.domain))?;
        needs.push(Need {
            domain,
            severity,
            note: n.note.clone(),
        });
    }
    Some(ReferralRequest {
        source: Source {
            partner: sender.clone(),
            reference: ExternalRef::parse(&product_reference(referral.id, 0)).ok()?,
        },
        target,
        urgency: Urgency::Routine,
        requested_at: r
            .requested_at
            .date_naive()
            .and_time(NaiveTime::MIN)
            .and_utc(),
        resident: Resident {
            identity: Some(Identity {
                bsn: identity.bsn,
                name: PersonName {
                    given_names: identity.name.given_names.clone(),
                    initials: identity
                        .name
                        .initials
                        .as_ref()
                        .and_then(|i| voorletters(i.as_str()))
                        .and_then(|v| initials_from_voorletters(&v)),
                    prefix: prefix.map(PersonalText::parse).and_then(Result::ok),
                    family_name: PersonalText::parse(&family).ok()?,
                },
                birth_date: Some(identity.birth_date?),
                gender: Some(match identity.gender {
                    Some(Gender::Male) => Gender::Male,
                    Some(Gender::Female) => Gender::Female,
                    _ => Gender::Unknown,
                }),
            }),
            contact: None,
        },
        needs,
        note: r.note.clone(),
        finance: None,
    })
}

/// What decoding the message written for `status` gives back: the update projected onto
/// what the iWmo message carries (see the module docs), one per record. Empty when the
/// status cannot be written (a cancellation).
pub fn project_status(status: OutgoingStatus<'_>) -> Vec<StatusUpdate> {
    let u = status.update;
    let midnight = u.at.date_naive().and_time(NaiveTime::MIN).and_utc();
    let by_reference = |r: &str| match referral_id_of(r) {
        Some(id) => ReferralRef::Id(id),
        None => ExternalRef::parse(r)
            .map(ReferralRef::External)
            .unwrap_or(ReferralRef::Id(status.id)),
    };
    let make = |referral, at, reason, reason_code| StatusUpdate {
        referral,
        status: u.status,
        at,
        reason,
        reason_code,
    };
    let valid = |list: &[&str]| {
        u.reason_code
            .as_deref()
            .filter(|c| list.contains(c))
            .map(str::to_owned)
    };
    match u.status {
        ReferralStatus::Accepted => vec![make(
            by_reference(&status_reference(status.id, status.request)),
            u.at.with_nanosecond(0).unwrap_or(u.at),
            u.reason.clone(),
            valid(&codes::REDEN_WIJZIGING),
        )],
        ReferralStatus::Declined => vec![make(
            by_reference(&status_reference(status.id, status.request)),
            midnight,
            None,
            valid(&codes::REDEN_AFWIJZING),
        )],
        ReferralStatus::InProgress | ReferralStatus::Completed => {
            let code = if u.status == ReferralStatus::Completed {
                Some(
                    valid(&codes::REDEN_BEEINDIGING)
                        .unwrap_or_else(|| codes::DEFAULT_REDEN_BEEINDIGING.to_owned()),
                )
            } else {
                None
            };
            (0..status.request.needs.len().max(1))
                .filter_map(|i| {
                    let r =
                        ExternalRef::parse(&toewijzing_nummer(status.id, i).to_string()).ok()?;
                    Some(make(ReferralRef::External(r), midnight, None, code.clone()))
                })
                .collect()
        }
        _ => Vec::new(),
    }
}
