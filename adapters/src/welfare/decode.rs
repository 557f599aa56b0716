//! iWmo 3.2 XML to the case model: WMO315 to a referral; WMO301, 319, 305 and 307 to status
//! updates.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};

use super::codes::{
    category_codes, domain_for, gender_from_code, MessageKind, REDEN_AFWIJZING, REDEN_BEEINDIGING,
    REDEN_WIJZIGING,
};
use super::refs::referral_id_of;
use super::xml::{self, Doc, Ns};
use super::DEFAULT_SEVERITY;
use crate::adapter::{DecodeContext, DecodeError, IncomingReferral, Record};
use crate::model::{
    Bsn, ExternalRef, Identity, MunicipalityCode, Need, Note, PersonName, PersonalText, ReasonText,
    ReferralRef, ReferralRequest, ReferralStatus, Resident, Sector, Severity, Source, StatusUpdate,
    Target, Urgency,
};

type Errors = Vec<DecodeError>;

/// Decodes one document into its records (or the errors that stop it).
pub fn decode(input: &[u8], ctx: &DecodeContext) -> Vec<Result<Record, DecodeError>> {
    let doc = match xml::parse(input) {
        Ok(d) => d,
        Err(e) => return vec![Err(e)],
    };
    let mut errs = Vec::new();
    let header = header(&doc, &mut errs);
    match doc.kind {
        MessageKind::Wmo315 => match referral(&doc, &header, ctx, &mut errs) {
            Some(r) if errs.is_empty() => vec![Ok(Record::Referral(Box::new(r)))],
            _ => errs.into_iter().map(Err).collect(),
        },
        MessageKind::Wmo301 | MessageKind::Wmo305 | MessageKind::Wmo307 | MessageKind::Wmo319 => {
            let records = statuses(&doc, &header, &mut errs);
            if errs.is_empty() {
                records
            } else {
                errs.into_iter().map(Err).collect()
            }
        }
        MessageKind::Wmo317 | MessageKind::Wmo323 => match doc.kind.check_handled() {
            Ok(()) => Vec::new(),
            Err(e) => vec![Err(e)],
        },
    }
}

// ---- small helpers ------------------------------------------------------------------------

fn at(path: String, rule: impl std::fmt::Display) -> DecodeError {
    DecodeError::at_xml(path, rule)
}

/// A required child: reports `required` at `base/name` when the parent exists but the child
/// does not.
fn req(
    doc: &Doc<'_>,
    errs: &mut Errors,
    parent: Option<usize>,
    ns: Ns,
    name: &str,
    base: &str,
) -> Option<usize> {
    let p = parent?;
    let c = doc.child(p, ns, name);
    if c.is_none() {
        errs.push(at(format!("{base}/{name}"), "required"));
    }
    c
}

/// The text of a required leaf; `must not be empty` when it is blank.
fn req_text<'d>(
    doc: &'d Doc<'_>,
    errs: &mut Errors,
    parent: Option<usize>,
    ns: Ns,
    name: &str,
    base: &str,
) -> Option<&'d str> {
    let c = req(doc, errs, parent, ns, name, base)?;
    let t = doc.text(c);
    if t.is_empty() {
        errs.push(at(format!("{base}/{name}"), "must not be empty"));
        return None;
    }
    Some(t)
}

/// The text of an optional leaf (`None` when absent or blank).
fn opt_text<'d>(doc: &'d Doc<'_>, parent: Option<usize>, ns: Ns, name: &str) -> Option<&'d str> {
    let c = doc.child(parent?, ns, name)?;
    Some(doc.text(c)).filter(|t| !t.is_empty())
}

fn two(b: &[u8], i: usize) -> Option<u32> {
    let d = b.get(i..i + 2)?;
    if d.iter().all(u8::is_ascii_digit) {
        Some(u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0'))
    } else {
        None
    }
}

/// `LDT_Datum`: `jjjj-mm-dd` without a time zone.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let y = two(b, 0)? * 100 + two(b, 2)?;
    NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, two(b, 5)?, two(b, 8)?)
}

fn date_at(
    doc: &Doc<'_>,
    errs: &mut Errors,
    parent: Option<usize>,
    ns: Ns,
    name: &str,
    base: &str,
) -> Option<NaiveDate> {
    let t = req_text(doc, errs, parent, ns, name, base)?;
    let d = parse_date(t);
    if d.is_none() {
        errs.push(at(
            format!("{base}/{name}"),
            "must be a date jjjj-mm-dd (e.g. 2026-11-02)",
        ));
    }
    d
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(NaiveTime::MIN).and_utc()
}

fn code_in(errs: &mut Errors, code: &str, list: &[&str], path: impl FnOnce() -> String) -> bool {
    if list.contains(&code) {
        true
    } else {
        errs.push(at(
            path(),
            format!("unknown code; expected one of: {}", list.join(", ")),
        ));
        false
    }
}

fn bsn(doc: &Doc<'_>, errs: &mut Errors, client: Option<usize>) -> Option<Bsn> {
    let t = req_text(doc, errs, client, Ns::Msg, "Bsn", "/Bericht/Client")?;
    match Bsn::parse(t) {
        Ok(b) => Some(b),
        Err(e) => {
            errs.push(at("/Bericht/Client/Bsn".into(), e));
            None
        }
    }
}

// ---- header -------------------------------------------------------------------------------

pub struct Header<'d> {
    pub ontvanger: Option<&'d str>,
    pub dagtekening: Option<NaiveDate>,
}

fn header<'d>(doc: &'d Doc<'_>, errs: &mut Errors) -> Header<'d> {
    const B: &str = "/Bericht/Header";
    let h = req(doc, errs, Some(0), Ns::Msg, "Header", "/Bericht");
    if let Some(code) = req_text(doc, errs, h, Ns::Msg, "BerichtCode", B) {
        let kind = doc.kind;
        if code != kind.bericht_code() {
            let rule = match MessageKind::from_bericht_code(code) {
                Some(_) => format!(
                    "must be {} for a {} message (the root element's namespace)",
                    kind.bericht_code(),
                    kind.name()
                ),
                None => format!(
                    "unknown BerichtCode; this gateway accepts {}",
                    MessageKind::accepted_codes()
                ),
            };
            errs.push(at(format!("{B}/BerichtCode"), rule));
        }
    }
    if let Some(v) = req_text(doc, errs, h, Ns::Msg, "BerichtVersie", B) {
        if v != "3" {
            errs.push(at(format!("{B}/BerichtVersie"), "must be 3 (iWmo 3.2)"));
        }
    }
    if let Some(v) = req_text(doc, errs, h, Ns::Msg, "BerichtSubversie", B) {
        if v != "2" {
            errs.push(at(format!("{B}/BerichtSubversie"), "must be 2 (iWmo 3.2)"));
        }
    }
    let _afzender = req_text(doc, errs, h, Ns::Msg, "Afzender", B);
    let ontvanger = req_text(doc, errs, h, Ns::Msg, "Ontvanger", B);
    let id = req(doc, errs, h, Ns::Msg, "BerichtIdentificatie", B);
    const BI: &str = "/Bericht/Header/BerichtIdentificatie";
    let _identificatie = req_text(doc, errs, id, Ns::Basis, "Identificatie", BI);
    let dagtekening = date_at(doc, errs, id, Ns::Basis, "Dagtekening", BI);
    Header {
        ontvanger,
        dagtekening,
    }
}

// ---- WMO315 -------------------------------------------------------------------------------

fn personal(
    errs: &mut Errors,
    text: Option<&str>,
    path: impl FnOnce() -> String,
) -> Option<PersonalText> {
    match PersonalText::parse(text?) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(at(path(), e));
            None
        }
    }
}

fn note(errs: &mut Errors, text: Option<&str>, path: impl FnOnce() -> String) -> Option<Note> {
    match Note::parse(text?) {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(at(path(), e));
            None
        }
    }
}

/// `Voorletters` (letters only, e.g. `AM`) as the model's initials with a dot after each
/// letter (`A.M.`).
pub fn initials_from_voorletters(v: &str) -> Option<PersonalText> {
    let mut s = String::with_capacity(v.len() * 2);
    for c in v.chars().filter(|c| c.is_alphabetic()) {
        s.push(c);
        s.push('.');
    }
    PersonalText::parse(&s).ok()
}

fn referral(
    doc: &Doc<'_>,
    header: &Header<'_>,
    ctx: &DecodeContext,
    errs: &mut Errors,
) -> Option<IncomingReferral> {
    const C: &str = "/Bericht/Client";
    let client = req(doc, errs, Some(0), Ns::Msg, "Client", "/Bericht");
    let bsn = bsn(doc, errs, client);

    let geb = req(doc, errs, client, Ns::Msg, "Geboortedatum", C);
    let birth = date_at(
        doc,
        errs,
        geb,
        Ns::Basis,
        "Datum",
        "/Bericht/Client/Geboortedatum",
    );
    // DatumGebruik 3: "dag, maand en jaar onbekend" — the date is a placeholder.
    let birth_date = match opt_text(doc, geb, Ns::Basis, "DatumGebruik") {
        Some("3") => None,
        _ => birth,
    };

    let gender = req_text(doc, errs, client, Ns::Msg, "Geslacht", C).and_then(|g| {
        let r = gender_from_code(g);
        if r.is_none() {
            errs.push(at(
                format!("{C}/Geslacht"),
                "unknown code; expected one of: 0 (onbekend), 1 (man), 2 (vrouw)",
            ));
        }
        r
    });

    const N: &str = "/Bericht/Client/Naam";
    let naam = req(doc, errs, client, Ns::Msg, "Naam", C);
    let gn = req(doc, errs, naam, Ns::Basis, "Geslachtsnaam", N);
    const G: &str = "/Bericht/Client/Naam/Geslachtsnaam";
    let family = req_text(doc, errs, gn, Ns::Basis, "Achternaam", G);
    let family = personal(errs, family, || format!("{G}/Achternaam"));
    let prefix = personal(errs, opt_text(doc, gn, Ns::Basis, "Voorvoegsel"), || {
        format!("{G}/Voorvoegsel")
    });
    let given = personal(errs, opt_text(doc, naam, Ns::Basis, "Voornamen"), || {
        format!("{N}/Voornamen")
    });
    let initials = opt_text(doc, naam, Ns::Basis, "Voorletters").and_then(|v| {
        let r = initials_from_voorletters(v);
        if r.is_none() {
            errs.push(at(format!("{N}/Voorletters"), "must be 1 to 6 letters"));
        }
        r
    });

    let client_note = note(errs, opt_text(doc, client, Ns::Msg, "Commentaar"), || {
        format!("{C}/Commentaar")
    });

    const P: &str = "/Bericht/Client/AangevraagdeProducten";
    let producten = req(doc, errs, client, Ns::Msg, "AangevraagdeProducten", C);
    let mut needs: Vec<Need> = Vec::with_capacity(4);
    let severity = match Severity::new(DEFAULT_SEVERITY) {
        Ok(s) => s,
        Err(e) => {
            errs.push(DecodeError::document(e));
            return None;
        }
    };
    let mut first_ref: Option<&str> = None;
    let mut n = 0usize;
    if let Some(p) = producten {
        for c in doc.children(p) {
            if !doc.is(c, Ns::Msg, "AangevraagdProduct") {
                continue;
            }
            n += 1;
            let base = format!("{P}/AangevraagdProduct[{n}]");
            let r = req_text(doc, errs, Some(c), Ns::Msg, "ReferentieAanbieder", &base);
            if first_ref.is_none() {
                first_ref = r;
            }
            let product = req(doc, errs, Some(c), Ns::Msg, "Product", &base);
            let pbase = format!("{base}/Product");
            let domain =
                req_text(doc, errs, product, Ns::Basis, "Categorie", &pbase).and_then(|cat| {
                    let d = domain_for(cat);
                    if d.is_none() {
                        errs.push(at(
                            format!("{pbase}/Categorie"),
                            format!(
                                "unknown Wmo product category; expected one of: {}",
                                category_codes()
                            ),
                        ));
                    }
                    d
                });
            let need_note = note(errs, opt_text(doc, Some(c), Ns::Msg, "Commentaar"), || {
                format!("{base}/Commentaar")
            });
            if let Some(domain) = domain {
                merge_need(&mut needs, domain, severity, need_note);
            }
        }
        if n == 0 {
            errs.push(at(format!("{P}/AangevraagdProduct"), "required"));
        }
    }

    let ontvanger = header
        .ontvanger
        .and_then(|o| match MunicipalityCode::parse(o) {
            Ok(m) => Some(m),
            Err(e) => {
                errs.push(at("/Bericht/Header/Ontvanger".into(), e));
                None
            }
        });
    let reference = first_ref.and_then(|r| match ExternalRef::parse(r) {
        Ok(x) => Some(x),
        Err(e) => {
            errs.push(at(
                format!("{P}/AangevraagdProduct[1]/ReferentieAanbieder"),
                e,
            ));
            None
        }
    });
    if !needs.is_empty() {
        if let Err(e) = ReferralRequest::check_needs(&needs) {
            errs.push(at(P.into(), e));
        }
    }
    if !errs.is_empty() {
        return None;
    }
    let target = match ctx.directory.by_municipality(ontvanger?.as_str()) {
        Some(e) => Target::Partner(e.partner.clone()),
        None => Target::Sector(Sector::Welfare),
    };
    let reference = reference?;
    let gateway_id = referral_id_of(reference.as_str());
    Some(IncomingReferral {
        gateway_id,
        request: ReferralRequest {
            source: Source {
                partner: ctx.sender.clone(),
                reference,
            },
            target,
            urgency: Urgency::Routine,
            requested_at: midnight(header.dagtekening?),
            resident: Resident {
                identity: Some(Identity {
                    bsn: bsn?,
                    name: PersonName {
                        given_names: given,
                        initials,
                        prefix,
                        family_name: family?,
                    },
                    birth_date,
                    gender,
                }),
                contact: None,
            },
            needs,
            note: client_note,
            finance: None,
        },
        consent: None,
    })
}

/// Several products on one life domain become one need; their notes are joined with a line
/// break while they fit a [`Note`].
fn merge_need(
    needs: &mut Vec<Need>,
    domain: crate::model::LifeDomain,
    severity: Severity,
    note: Option<Note>,
) {
    if let Some(existing) = needs.iter_mut().find(|n| n.domain == domain) {
        existing.note = match (existing.note.take(), note) {
            (Some(a), Some(b)) => {
                let joined = format!("{}\n{}", a.as_str(), b.as_str());
                Some(Note::parse(&joined).unwrap_or(a))
            }
            (a, b) => a.or(b),
        };
        return;
    }
    needs.push(Need {
        domain,
        severity,
        note,
    });
}

// ---- status messages ----------------------------------------------------------------------

fn reason_text(s: Option<&str>) -> Option<ReasonText> {
    let s = s?;
    let cut: String = s.chars().take(ReasonText::MAX).collect();
    ReasonText::parse(&cut).ok()
}

fn external(errs: &mut Errors, s: &str, path: impl FnOnce() -> String) -> Option<ReferralRef> {
    if let Some(id) = referral_id_of(s) {
        return Some(ReferralRef::Id(id));
    }
    match ExternalRef::parse(s) {
        Ok(r) => Some(ReferralRef::External(r)),
        Err(e) => {
            errs.push(at(path(), e));
            None
        }
    }
}

fn update(
    referral: ReferralRef,
    status: ReferralStatus,
    at_: DateTime<Utc>,
) -> Result<StatusUpdate, DecodeError> {
    StatusUpdate::new(referral, status, at_).map_err(DecodeError::document)
}

fn statuses(
    doc: &Doc<'_>,
    header: &Header<'_>,
    errs: &mut Errors,
) -> Vec<Result<Record, DecodeError>> {
    let mut out: Vec<Result<Record, DecodeError>> = Vec::with_capacity(2);
    let push = |u: StatusUpdate, out: &mut Vec<Result<Record, DecodeError>>| {
        let dup = out.iter().any(|r| {
            matches!(r, Ok(Record::Status(s)) if s.referral == u.referral && s.status == u.status)
        });
        if !dup {
            out.push(Ok(Record::Status(u)));
        }
    };
    match doc.kind {
        MessageKind::Wmo319 => {
            const A: &str = "/Bericht/Antwoord";
            let a = req(doc, errs, Some(0), Ns::Msg, "Antwoord", "/Bericht");
            let r = req_text(doc, errs, a, Ns::Msg, "ReferentieAanbieder", A)
                .and_then(|r| external(errs, r, || format!("{A}/ReferentieAanbieder")));
            let answer = req_text(doc, errs, a, Ns::Msg, "VerzoekAntwoord", A).and_then(|v| match v {
                "1" => Some(ReferralStatus::Declined),
                "2" => Some(ReferralStatus::InProgress),
                _ => {
                    errs.push(at(
                        format!("{A}/VerzoekAntwoord"),
                        "unknown code; expected one of: 1 (verzoek afgewezen), 2 (aanvraag in onderzoek)",
                    ));
                    None
                }
            });
            let reason_code = opt_text(doc, a, Ns::Msg, "RedenAfwijzingVerzoek").filter(|c| {
                code_in(errs, c, &REDEN_AFWIJZING, || {
                    format!("{A}/RedenAfwijzingVerzoek")
                })
            });
            if let (Some(r), Some(s), Some(d), true) =
                (r, answer, header.dagtekening, errs.is_empty())
            {
                match update(r, s, midnight(d)) {
                    Ok(mut u) => {
                        if s == ReferralStatus::Declined {
                            u.reason_code = reason_code.map(str::to_owned);
                        }
                        push(u, &mut out);
                    }
                    Err(e) => errs.push(e),
                }
            }
        }
        MessageKind::Wmo301 => {
            let client = req(doc, errs, Some(0), Ns::Msg, "Client", "/Bericht");
            let _ = bsn(doc, errs, client);
            const T: &str = "/Bericht/Client/ToegewezenProducten";
            let list = req(
                doc,
                errs,
                client,
                Ns::Msg,
                "ToegewezenProducten",
                "/Bericht/Client",
            );
            let mut n = 0;
            for c in list.into_iter().flat_map(|l| doc.children(l)) {
                if !doc.is(c, Ns::Msg, "ToegewezenProduct") {
                    continue;
                }
                n += 1;
                let base = format!("{T}/ToegewezenProduct[{n}]");
                let nummer = req_text(doc, errs, Some(c), Ns::Msg, "ToewijzingNummer", &base);
                let referral = match opt_text(doc, Some(c), Ns::Msg, "ReferentieAanbieder") {
                    Some(r) => external(errs, r, || format!("{base}/ReferentieAanbieder")),
                    None => nummer
                        .and_then(|t| external(errs, t, || format!("{base}/ToewijzingNummer"))),
                };
                let date = date_at(doc, errs, Some(c), Ns::Msg, "Toewijzingsdatum", &base);
                let time = req_text(doc, errs, Some(c), Ns::Msg, "Toewijzingstijd", &base)
                    .and_then(|t| {
                        let r = NaiveTime::parse_from_str(t, "%H:%M:%S%.f").ok();
                        if r.is_none() {
                            errs.push(at(
                                format!("{base}/Toewijzingstijd"),
                                "must be a time uu:mm:ss",
                            ));
                        }
                        r
                    });
                let reason_code = opt_text(doc, Some(c), Ns::Msg, "RedenWijziging").filter(|x| {
                    code_in(errs, x, &REDEN_WIJZIGING, || {
                        format!("{base}/RedenWijziging")
                    })
                });
                let reason = reason_text(opt_text(doc, Some(c), Ns::Msg, "Commentaar"));
                if let (Some(r), Some(d), Some(t), true) = (referral, date, time, errs.is_empty()) {
                    match update(r, ReferralStatus::Accepted, d.and_time(t).and_utc()) {
                        Ok(mut u) => {
                            u.reason = reason;
                            u.reason_code = reason_code.map(str::to_owned);
                            push(u, &mut out);
                        }
                        Err(e) => errs.push(e),
                    }
                }
            }
            if list.is_some() && n == 0 {
                errs.push(at(format!("{T}/ToegewezenProduct"), "required"));
            }
        }
        MessageKind::Wmo305 | MessageKind::Wmo307 => {
            let start = doc.kind == MessageKind::Wmo305;
            let (list_name, item, date_name) = if start {
                ("StartProducten", "StartProduct", "Begindatum")
            } else {
                ("StopProducten", "StopProduct", "Einddatum")
            };
            let client = req(doc, errs, Some(0), Ns::Msg, "Client", "/Bericht");
            let _ = bsn(doc, errs, client);
            let list = req(doc, errs, client, Ns::Msg, list_name, "/Bericht/Client");
            let mut n = 0;
            for c in list.into_iter().flat_map(|l| doc.children(l)) {
                if !doc.is(c, Ns::Msg, item) {
                    continue;
                }
                n += 1;
                let base = format!("/Bericht/Client/{list_name}/{item}[{n}]");
                // Optional in the XSD, but the only link from a start or stop to a referral.
                let referral = req_text(doc, errs, Some(c), Ns::Msg, "ToewijzingNummer", &base)
                    .and_then(|t| external(errs, t, || format!("{base}/ToewijzingNummer")));
                let date = date_at(doc, errs, Some(c), Ns::Msg, date_name, &base);
                let reason_code = if start {
                    None
                } else {
                    req_text(doc, errs, Some(c), Ns::Msg, "RedenBeeindiging", &base).filter(|x| {
                        code_in(errs, x, &REDEN_BEEINDIGING, || {
                            format!("{base}/RedenBeeindiging")
                        })
                    })
                };
                let status = if start {
                    ReferralStatus::InProgress
                } else {
                    ReferralStatus::Completed
                };
                if let (Some(r), Some(d), true) = (referral, date, errs.is_empty()) {
                    match update(r, status, midnight(d)) {
                        Ok(mut u) => {
                            u.reason_code = reason_code.map(str::to_owned);
                            push(u, &mut out);
                        }
                        Err(e) => errs.push(e),
                    }
                }
            }
            if list.is_some() && n == 0 {
                errs.push(at(
                    format!("/Bericht/Client/{list_name}/{item}"),
                    "required",
                ));
            }
        }
        MessageKind::Wmo315 | MessageKind::Wmo317 | MessageKind::Wmo323 => {}
    }
    out
}
