//! The case model to iWmo 3.2 XML: a referral as a WMO315; status updates as WMO301, 319,
//! 305 and 307. Every message written validates against its XSD (tested with xmllint).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use super::codes::{
    category_for, gender_code, MessageKind, DEFAULT_REDEN_BEEINDIGING, REDEN_AFWIJZING,
    REDEN_BEEINDIGING, REDEN_WIJZIGING,
};
use super::refs::{message_identification, product_reference, toewijzing_nummer};
use super::xml::Writer;
use crate::adapter::{Directory, EncodeError, Format, OutgoingReferral, OutgoingStatus};
use crate::model::{
    AgbCode, DataCategory, Identity, MunicipalityCode, PartnerId, ReferralId, ReferralRequest,
    ReferralStatus, Sector, Target,
};

const F: Format = Format::Iwmo32;

/// `LDT_Voorvoegsel` max length.
pub const MAX_VOORVOEGSEL: usize = 10;
/// `LDT_Naam` max length.
pub const MAX_NAAM: usize = 200;
/// `LDT_Referentie` max length.
pub const MAX_REFERENTIE: usize = 36;

fn missing_code(partner: impl Into<String>, code_kind: &'static str) -> EncodeError {
    EncodeError::MissingCode {
        format: F,
        partner: partner.into(),
        code_kind,
    }
}

/// The municipality a referral is addressed to: the target partner's municipality code, or
/// for a sector target the first welfare partner in the directory that has one.
pub fn target_municipality<'d>(
    request: &ReferralRequest,
    directory: &'d Directory,
) -> Result<&'d MunicipalityCode, EncodeError> {
    match &request.target {
        Target::Partner(p) => directory
            .partner(p)
            .and_then(|e| e.municipality.as_ref())
            .ok_or_else(|| missing_code(p.as_str(), "municipality code")),
        Target::Sector(s) => directory
            .entries
            .iter()
            .filter(|e| e.sector == Sector::Welfare)
            .find_map(|e| e.municipality.as_ref())
            .ok_or_else(|| missing_code(format!("sector {s}"), "municipality code")),
    }
}

fn gateway_agb(directory: &Directory) -> Result<&AgbCode, EncodeError> {
    directory
        .gateway_agb
        .as_ref()
        .ok_or_else(|| missing_code("wijkbrug (the gateway itself)", "AGB code"))
}

/// `Voorletters` (`LDT_Voorletters`: 1 to 6 letters) from the model's initials, if they fit.
pub fn voorletters(initials: &str) -> Option<String> {
    let ok = |c: char| c.is_ascii_alphabetic() || (('À'..='ỳ').contains(&c) && c.is_alphabetic());
    let v: String = initials.chars().filter(|c| ok(*c)).collect();
    let n = v.chars().count();
    if (1..=6).contains(&n) && initials.chars().all(|c| ok(c) || c == '.' || c == ' ') {
        Some(v)
    } else {
        None
    }
}

/// `Achternaam` and `Voorvoegsel`: a prefix longer than `LDT_Voorvoegsel` allows is written
/// in front of the family name instead.
pub fn name_parts(identity: &Identity) -> Result<(Cow<'_, str>, Option<&str>), EncodeError> {
    let family = identity.name.family_name.as_str();
    match identity.name.prefix.as_ref().map(|p| p.as_str()) {
        Some(p) if p.chars().count() > MAX_VOORVOEGSEL => {
            let joined = format!("{p} {family}");
            if joined.chars().count() > MAX_NAAM {
                return Err(EncodeError::Unsupported {
                    format: F,
                    what: format!(
                        "a name prefix longer than {MAX_VOORVOEGSEL} characters with a family name (together more than {MAX_NAAM})"
                    ),
                });
            }
            Ok((Cow::Owned(joined), None))
        }
        p => Ok((Cow::Borrowed(family), p)),
    }
}

fn identity(request: &ReferralRequest) -> Result<(&Identity, NaiveDate), EncodeError> {
    let id = request
        .resident
        .identity
        .as_ref()
        .ok_or(EncodeError::MissingCategory {
            format: F,
            field: "Client (Bsn, Naam, Geboortedatum)",
            category: DataCategory::Identity,
        })?;
    let birth = id.birth_date.ok_or(EncodeError::MissingField {
        format: F,
        field: "Client/Geboortedatum (the resident's birth date)",
    })?;
    Ok((id, birth))
}

fn header(
    w: &mut Writer,
    kind: MessageKind,
    afzender: &str,
    ontvanger: &str,
    id: ReferralId,
    day: NaiveDate,
) {
    w.open("Header");
    w.leaf("BerichtCode", kind.bericht_code());
    w.leaf("BerichtVersie", "3");
    w.leaf("BerichtSubversie", "2");
    w.leaf("Afzender", afzender);
    w.leaf("Ontvanger", ontvanger);
    w.open("BerichtIdentificatie");
    w.bleaf("Identificatie", &message_identification(id));
    w.bleaf_fmt("Dagtekening", format_args!("{}", day.format("%Y-%m-%d")));
    w.close("BerichtIdentificatie");
    w.open("XsdVersie");
    w.bleaf("BasisschemaXsdVersie", "1.0.0");
    w.bleaf("BerichtXsdVersie", "1.0.0");
    w.close("XsdVersie");
    w.close("Header");
}

fn date(w: &mut Writer, name: &str, d: NaiveDate) {
    w.leaf_fmt(name, format_args!("{}", d.format("%Y-%m-%d")));
}

/// Bsn, Geboortedatum, Geslacht and Naam, common to the client of 301, 305, 307 and 315.
/// `full` writes the 301's `CDT_VolledigeNaam` (with `NaamGebruik`).
fn client_identity(
    w: &mut Writer,
    id: &Identity,
    birth: NaiveDate,
    full: bool,
) -> Result<(), EncodeError> {
    w.leaf("Bsn", id.bsn.as_str());
    w.open("Geboortedatum");
    w.bleaf_fmt("Datum", format_args!("{}", birth.format("%Y-%m-%d")));
    w.close("Geboortedatum");
    w.leaf("Geslacht", gender_code(id.gender));
    let (family, prefix) = name_parts(id)?;
    w.open("Naam");
    w.bopen("Geslachtsnaam");
    w.bleaf("Achternaam", &family);
    if let Some(p) = prefix {
        w.bleaf("Voorvoegsel", p);
    }
    w.bclose("Geslachtsnaam");
    if let Some(g) = &id.name.given_names {
        w.bleaf("Voornamen", g.as_str());
    }
    if let Some(v) = id
        .name
        .initials
        .as_ref()
        .and_then(|i| voorletters(i.as_str()))
    {
        w.bleaf("Voorletters", &v);
    }
    if full {
        // 1: eigen naam.
        w.bleaf("NaamGebruik", "1");
    }
    w.close("Naam");
    Ok(())
}

/// `Verwijzer` of a WMO315: a care partner with an AGB code is written as type 02 (huisarts)
/// with its code; anyone else as type 01 (gemeente: the neighbourhood network the
/// municipality runs) with the partner id as the referrer's name.
fn verwijzer(w: &mut Writer, source: &PartnerId, directory: &Directory) {
    w.open("Verwijzer");
    match directory
        .partner(source)
        .filter(|e| e.sector == Sector::Care)
        .and_then(|e| e.agb.as_ref())
    {
        Some(agb) => {
            w.bleaf("Type", "02");
            w.bleaf("ZorgverlenerCode", agb.as_str());
        }
        None => {
            w.bleaf("Type", "01");
            w.bleaf("Naam", source.as_str());
        }
    }
    w.close("Verwijzer");
}

/// A referral as a WMO315 (request for an assignment).
pub fn referral(r: OutgoingReferral<'_>, directory: &Directory) -> Result<Vec<u8>, EncodeError> {
    let req = r.request;
    let afzender = gateway_agb(directory)?;
    let ontvanger = target_municipality(req, directory)?;
    let (id, birth) = identity(req)?;
    if req.needs.is_empty() {
        return Err(EncodeError::MissingField {
            format: F,
            field: "AangevraagdProduct (at least one need)",
        });
    }
    let day = req.requested_at.date_naive();
    let mut w = Writer::new(MessageKind::Wmo315);
    header(
        &mut w,
        MessageKind::Wmo315,
        afzender.as_str(),
        ontvanger.as_str(),
        r.id,
        day,
    );
    w.open("Client");
    client_identity(&mut w, id, birth, false)?;
    if let Some(n) = &req.note {
        w.leaf("Commentaar", n.as_str());
    }
    w.open("AangevraagdeProducten");
    for (i, need) in req.needs.iter().enumerate() {
        w.open("AangevraagdProduct");
        w.leaf("ReferentieAanbieder", &product_reference(r.id, i));
        w.open("Product");
        w.bleaf("Categorie", category_for(need.domain));
        w.close("Product");
        date(&mut w, "ToewijzingIngangsdatum", day);
        verwijzer(&mut w, &req.source.partner, directory);
        if let Some(n) = &need.note {
            w.leaf("Commentaar", n.as_str());
        }
        w.close("AangevraagdProduct");
    }
    w.close("AangevraagdeProducten");
    w.close("Client");
    Ok(w.finish())
}

/// `ReferentieAanbieder` in the assignment and answer the gateway writes to a referral's
/// sender: the sender's own reference (what its WMO315 carried) when it fits
/// `LDT_Referentie`, else the gateway's id.
pub fn status_reference(id: ReferralId, request: &ReferralRequest) -> Cow<'_, str> {
    let r = request.source.reference.as_str();
    if r.chars().count() <= MAX_REFERENTIE && !r.trim().is_empty() {
        Cow::Borrowed(r)
    } else {
        Cow::Owned(id.to_string())
    }
}

fn time(at: DateTime<Utc>) -> String {
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}

/// A status update as the iWmo message that reports it to the referral's sender.
pub fn status(s: OutgoingStatus<'_>, directory: &Directory) -> Result<Vec<u8>, EncodeError> {
    let req = s.request;
    let u = s.update;
    let source = &req.source.partner;
    let day = u.at.date_naive();
    match u.status {
        ReferralStatus::Accepted | ReferralStatus::Declined => {
            // Municipality -> provider: from the target's municipality to the sender's AGB code.
            let afzender = target_municipality(req, directory)?;
            let ontvanger = directory
                .partner(source)
                .and_then(|e| e.agb.as_ref())
                .ok_or_else(|| missing_code(source.as_str(), "AGB code"))?;
            let reference = status_reference(s.id, req);
            if u.status == ReferralStatus::Declined {
                let mut w = Writer::new(MessageKind::Wmo319);
                header(
                    &mut w,
                    MessageKind::Wmo319,
                    afzender.as_str(),
                    ontvanger.as_str(),
                    s.id,
                    day,
                );
                w.open("Antwoord");
                w.leaf("ReferentieAanbieder", &reference);
                w.leaf("VerzoekAntwoord", "1");
                if let Some(c) = u
                    .reason_code
                    .as_deref()
                    .filter(|c| REDEN_AFWIJZING.contains(c))
                {
                    w.leaf("RedenAfwijzingVerzoek", c);
                }
                w.close("Antwoord");
                return Ok(w.finish());
            }
            let (id, birth) = identity(req)?;
            let mut w = Writer::new(MessageKind::Wmo301);
            header(
                &mut w,
                MessageKind::Wmo301,
                afzender.as_str(),
                ontvanger.as_str(),
                s.id,
                day,
            );
            w.open("Client");
            client_identity(&mut w, id, birth, true)?;
            contact(&mut w, req);
            w.open("ToegewezenProducten");
            let count = req.needs.len().max(1);
            let t = time(u.at);
            for i in 0..count {
                w.open("ToegewezenProduct");
                w.leaf_fmt(
                    "ToewijzingNummer",
                    format_args!("{}", toewijzing_nummer(s.id, i)),
                );
                w.leaf("ReferentieAanbieder", &reference);
                if let Some(need) = req.needs.get(i) {
                    w.open("Product");
                    w.bleaf("Categorie", category_for(need.domain));
                    w.close("Product");
                }
                date(&mut w, "Toewijzingsdatum", day);
                w.leaf("Toewijzingstijd", &t);
                date(&mut w, "Ingangsdatum", day);
                if i == 0 {
                    if let Some(c) = u
                        .reason_code
                        .as_deref()
                        .filter(|c| REDEN_WIJZIGING.contains(c))
                    {
                        w.leaf("RedenWijziging", c);
                    }
                    if let Some(r) = &u.reason {
                        w.leaf("Commentaar", r.as_str());
                    }
                }
                w.close("ToegewezenProduct");
            }
            w.close("ToegewezenProducten");
            w.close("Client");
            Ok(w.finish())
        }
        ReferralStatus::InProgress | ReferralStatus::Completed => {
            // Provider -> municipality: from the target's AGB code (or the gateway's) to the
            // sender's municipality.
            let afzender = match &req.target {
                Target::Partner(p) => directory.partner(p).and_then(|e| e.agb.as_ref()),
                Target::Sector(_) => None,
            };
            let afzender = match afzender {
                Some(a) => a,
                None => gateway_agb(directory)?,
            };
            let ontvanger = directory
                .partner(source)
                .and_then(|e| e.municipality.as_ref())
                .ok_or_else(|| missing_code(source.as_str(), "municipality code"))?;
            let (id, birth) = identity(req)?;
            let start = u.status == ReferralStatus::InProgress;
            let kind = if start {
                MessageKind::Wmo305
            } else {
                MessageKind::Wmo307
            };
            let (list, item) = if start {
                ("StartProducten", "StartProduct")
            } else {
                ("StopProducten", "StopProduct")
            };
            let mut w = Writer::new(kind);
            header(
                &mut w,
                kind,
                afzender.as_str(),
                ontvanger.as_str(),
                s.id,
                day,
            );
            w.open("Client");
            client_identity(&mut w, id, birth, false)?;
            w.open(list);
            let begin = req.requested_at.date_naive().min(day);
            let reden = u
                .reason_code
                .as_deref()
                .filter(|c| REDEN_BEEINDIGING.contains(c))
                .unwrap_or(DEFAULT_REDEN_BEEINDIGING);
            for i in 0..req.needs.len().max(1) {
                w.open(item);
                w.leaf_fmt(
                    "ToewijzingNummer",
                    format_args!("{}", toewijzing_nummer(s.id, i)),
                );
                if let Some(need) = req.needs.get(i) {
                    w.open("Product");
                    w.bleaf("Categorie", category_for(need.domain));
                    w.close("Product");
                }
                if start {
                    date(&mut w, "Begindatum", day);
                } else {
                    date(&mut w, "Begindatum", begin);
                    w.leaf("RedenBeeindiging", reden);
                    date(&mut w, "Einddatum", day);
                }
                // 1: eerste aanlevering.
                w.leaf("StatusAanlevering", "1");
                w.close(item);
            }
            w.close(list);
            w.close("Client");
            Ok(w.finish())
        }
        ReferralStatus::Cancelled => Err(EncodeError::Unsupported {
            format: F,
            what: "a cancellation (iWmo 3.2 has no message that withdraws a request)".into(),
        }),
        other => Err(EncodeError::Unsupported {
            format: F,
            what: format!("status {other} (only a partner's statuses are reported)"),
        }),
    }
}

/// `Contactgegevens` of a WMO301 (required): one BRP address contact with the resident's
/// address and e-mail where the schema's lengths allow.
fn contact(w: &mut Writer, req: &ReferralRequest) {
    w.open("Contactgegevens");
    w.open("Contact");
    w.leaf("Soort", "01");
    let c = req.resident.contact.as_ref();
    if let Some(a) = c.and_then(|c| c.address.as_ref()) {
        w.open("Adres");
        w.bopen("Huis");
        w.bleaf_fmt("Huisnummer", format_args!("{}", a.house_number.get()));
        if let Some(l) = a.house_letter {
            let mut b = [0u8; 4];
            w.bleaf("Huisletter", l.encode_utf8(&mut b));
        }
        if let Some(t) = &a.house_number_addition {
            w.bleaf("HuisnummerToevoeging", t);
        }
        w.bclose("Huis");
        w.bleaf("Postcode", a.postcode.as_str());
        if let Some(s) = a
            .street
            .as_ref()
            .filter(|s| s.as_str().chars().count() <= 24)
        {
            w.bleaf("Straatnaam", s.as_str());
        }
        if let Some(t) = a.town.as_ref().filter(|t| t.as_str().chars().count() <= 80) {
            w.bleaf("Plaatsnaam", t.as_str());
        }
        w.close("Adres");
    }
    if let Some(e) = c
        .and_then(|c| c.email.as_ref())
        .filter(|e| e.as_str().chars().count() <= 80)
    {
        w.leaf("Emailadres", e.as_str());
    }
    w.close("Contact");
    w.close("Contactgegevens");
}
