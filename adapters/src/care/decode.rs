//! FHIR R4 JSON → the case model. See the module docs of [`super`] for the mapping.

use chrono::{DateTime, NaiveDate, Utc};

use super::codes::{self, TaskMeaning};
use super::json::{
    arr, as_obj, extension, get, opt_obj, opt_str, req_str, str_of, Errors, Map, Path, Value,
};
use crate::adapter::{DecodeContext, DecodeError, IncomingReferral, Record};
use crate::model::{
    Address, Bsn, CategorySet, Consent, ConsentEffect, Contact, DataCategory, Email, ExternalRef,
    FinancialSituation, Gender, Grantee, HouseNumber, Identity, LifeDomain, ModelError, MoneyCents,
    Need, Note, PartnerId, PersonName, PersonalText, Phone, Postcode, Purpose, ReasonText,
    ReferralId, ReferralRef, ReferralRequest, Resident, Severity, Source, StatusUpdate, Target,
    Urgency,
};

type Obj<'a> = Map<'a>;
type Out = Vec<Result<Record, DecodeError>>;

/// Inputs larger than this are refused before parsing.
pub const MAX_INPUT_BYTES: usize = 8 * 1024 * 1024;
/// Bundle types a referral or status may come in.
pub const BUNDLE_TYPES: [&str; 4] = ["collection", "transaction", "message", "document"];
const SR_STATUSES: [&str; 7] = [
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
];
const SR_INTENTS: [&str; 9] = [
    "proposal",
    "plan",
    "directive",
    "order",
    "original-order",
    "reflex-order",
    "filler-order",
    "instance-order",
    "option",
];
const GENDERS: [(&str, Gender); 4] = [
    ("male", Gender::Male),
    ("female", Gender::Female),
    ("other", Gender::Other),
    ("unknown", Gender::Unknown),
];
const CONTACT_SYSTEMS: [&str; 7] = ["phone", "fax", "email", "pager", "url", "sms", "other"];
/// Longest reason code carried into a status update.
const MAX_REASON_CODE: usize = 64;

/// The input as a JSON tree: size, UTF-8 (a BOM is skipped) and well-formedness checked.
fn parse_input(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(DecodeError::document(format_args!(
            "must be at most {MAX_INPUT_BYTES} bytes"
        )));
    }
    let text = std::str::from_utf8(input).map_err(|e| {
        DecodeError::document(format_args!(
            "must be UTF-8 (invalid byte sequence at offset {})",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // serde_json stops at 128 levels of nesting ("recursion limit exceeded").
    Value::parse(text)
        .map_err(|e| DecodeError::document(format_args!("must be well-formed JSON: {e}")))
}

pub(crate) fn decode(input: &[u8], ctx: &DecodeContext) -> Out {
    let root = match parse_input(input) {
        Ok(v) => v,
        Err(e) => return vec![Err(e)],
    };
    let Some(obj) = root.as_object() else {
        return vec![Err(DecodeError::document(
            "must be a JSON object (a FHIR Bundle or Task)",
        ))];
    };
    let at = Path::ROOT;
    match str_of(obj, "resourceType") {
        Some("Bundle") => bundle(obj, ctx),
        Some("Task") => flatten(task(obj, &at, ctx)),
        Some(other) => vec![Err(DecodeError::at_pointer(
            "/resourceType",
            codes::unknown(other, ["Bundle", "Task"].into_iter()),
        ))],
        None => vec![Err(DecodeError::at_pointer(
            "/resourceType",
            "required: Bundle or Task",
        ))],
    }
}

fn flatten(r: Result<Record, Errors>) -> Out {
    match r {
        Ok(rec) => vec![Ok(rec)],
        Err(e) => e.0.into_iter().map(Err).collect(),
    }
}

/// A resource in a Bundle entry.
#[derive(Clone, Copy)]
struct Res<'v> {
    index: usize,
    full_url: Option<&'v str>,
    obj: &'v Obj<'v>,
}

impl Res<'_> {
    /// Whether `reference` ("urn:uuid:…", "Patient/123", an absolute URL) points at this one.
    fn is(&self, reference: &str, kind: &str) -> bool {
        if self.full_url == Some(reference) {
            return true;
        }
        let Some(id) = str_of(self.obj, "id") else {
            return false;
        };
        reference
            .strip_suffix(id)
            .and_then(|r| r.strip_suffix('/'))
            .is_some_and(|r| r == kind || r.ends_with(&format!("/{kind}")))
    }
}

fn bundle(obj: &Obj, ctx: &DecodeContext) -> Out {
    let root = Path::ROOT;
    let mut e = Errors::default();
    match req_str(
        &mut e,
        obj,
        "type",
        &root,
        "collection, transaction, message or document",
    ) {
        Some(t) if BUNDLE_TYPES.contains(&t) => {}
        Some(t) => e.at(
            &root.key("type"),
            codes::unknown(t, BUNDLE_TYPES.into_iter()),
        ),
        None => {}
    }
    let entry_p = root.key("entry");
    let entries = arr(&mut e, obj, "entry", &root);
    let (mut patients, mut srs, mut consents, mut tasks, mut others) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (index, entry) in entries.iter().enumerate() {
        let ep = entry_p.idx(index);
        let Some(eo) = as_obj(&mut e, entry, &ep) else {
            continue;
        };
        let rp = ep.key("resource");
        let Some(r) = get(eo, "resource") else {
            e.at(&rp, "required: the entry's resource");
            continue;
        };
        let Some(ro) = as_obj(&mut e, r, &rp) else {
            continue;
        };
        let res = Res {
            index,
            full_url: str_of(eo, "fullUrl"),
            obj: ro,
        };
        match str_of(ro, "resourceType") {
            Some("Patient") => patients.push(res),
            Some("ServiceRequest") => srs.push(res),
            Some("Consent") => consents.push(res),
            Some("Task") => tasks.push(res),
            Some(_) => others.push(res),
            None => e.at(&rp.key("resourceType"), "required"),
        }
    }
    if let Some(sr) = srs.first() {
        for extra in srs.iter().skip(1) {
            e.at(
                &entry_p.idx(extra.index),
                "a Bundle holds at most one ServiceRequest (one referral)",
            );
        }
        let b = Bundle {
            patients: &patients,
            consents: &consents,
            others: &others,
        };
        let rec = referral(&mut e, *sr, &b, ctx);
        return match rec {
            Some(r) if e.is_empty() => vec![Ok(Record::Referral(Box::new(r)))],
            _ => e.0.into_iter().map(Err).collect(),
        };
    }
    if tasks.is_empty() {
        e.at(
            &entry_p,
            "must hold a ServiceRequest and its Patient (a referral) or a Task (a status update)",
        );
        if patients.is_empty() {
            e.at(&entry_p, "must hold a Patient (the resident)");
        }
        return e.0.into_iter().map(Err).collect();
    }
    if !e.is_empty() {
        return e.0.into_iter().map(Err).collect();
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in &tasks {
        let ep = entry_p.idx(t.index);
        let rp = ep.key("resource");
        out.extend(flatten(task(t.obj, &rp, ctx)));
    }
    out
}

struct Bundle<'b, 'v> {
    patients: &'b [Res<'v>],
    consents: &'b [Res<'v>],
    others: &'b [Res<'v>],
}

fn entry_path<'a>(entry_p: &'a Path<'a>, index: usize) -> Path<'a> {
    entry_p.idx(index)
}

fn referral(
    e: &mut Errors,
    sr: Res<'_>,
    b: &Bundle<'_, '_>,
    ctx: &DecodeContext,
) -> Option<IncomingReferral> {
    let root = Path::ROOT;
    let entry_p = root.key("entry");
    let ep = entry_path(&entry_p, sr.index);
    let at = ep.key("resource");
    let o = sr.obj;
    let before = e.len();

    match req_str(e, o, "status", &at, "the request's status (active)") {
        Some("active") | None => {}
        Some(s) if SR_STATUSES.contains(&s) => e.at(
            &at.key("status"),
            "must be active: a draft, on-hold, revoked, completed or unknown request is not a referral to act on",
        ),
        Some(s) => e.at(&at.key("status"), codes::unknown(s, SR_STATUSES.into_iter())),
    }
    match req_str(e, o, "intent", &at, "the request's intent (order)") {
        Some(i) if !SR_INTENTS.contains(&i) => {
            e.at(&at.key("intent"), codes::unknown(i, SR_INTENTS.into_iter()))
        }
        _ => {}
    }

    // Identifiers: the gateway's id and the sender's own reference.
    let mut gateway_id = None;
    let mut own_ref: Option<(usize, &str)> = None;
    let mut other_ref: Option<(usize, &str)> = None;
    let ids_p = at.key("identifier");
    for (i, id) in arr(e, o, "identifier", &at).iter().enumerate() {
        let ip = ids_p.idx(i);
        let Some(io) = as_obj(e, id, &ip) else {
            continue;
        };
        let system = str_of(io, "system").unwrap_or("");
        let Some(value) = req_str(e, io, "value", &ip, "the identifier's value") else {
            continue;
        };
        if system == codes::REFERRAL_SYSTEM {
            match ReferralId::parse(value) {
                Ok(id) if gateway_id.is_none() => gateway_id = Some(id),
                Ok(_) => e.at(&ip, "must not repeat the urn:wijkbrug:referral identifier"),
                Err(m) => e.at(&ip.key("value"), m),
            }
        } else if let Some(partner) = system.strip_prefix(codes::PARTNER_REF_PREFIX) {
            if partner == ctx.sender.as_str() && own_ref.is_none() {
                own_ref = Some((i, value));
            }
        } else if other_ref.is_none() && !system.starts_with("urn:wijkbrug:") {
            other_ref = Some((i, value));
        }
    }
    let reference = match own_ref.or(other_ref) {
        Some((i, v)) => ExternalRef::parse(v)
            .map_err(|m| e.at(&ids_p.idx(i).key("value"), m))
            .ok(),
        None => {
            e.at(
                &ids_p,
                "required: an identifier with the sender's own reference (system urn:wijkbrug:partner:<sender> or the sender's own system)",
            );
            None
        }
    };

    // Requester: if it names a partner, it must be the authenticated sender.
    if let Some(req) = opt_obj(e, o, "requester", &at) {
        let rp = at.key("requester");
        if let Some(p) = partner_of_reference(e, req, &rp, b.others, ctx, false) {
            if p != ctx.sender {
                e.at(
                    &rp,
                    "must be the sending partner (the requester is the authenticated sender)",
                );
            }
        }
    }

    let target = target(e, o, &at, b, ctx);
    let urgency = match opt_str(e, o, "priority", &at) {
        None => Some(Urgency::Routine),
        Some(p) => codes::urgency(p)
            .map_err(|m| e.at(&at.key("priority"), m))
            .ok(),
    };
    let requested_at =
        req_str(e, o, "authoredOn", &at, "when the referral was made").and_then(|s| {
            date_time(s)
                .map_err(|m| e.at(&at.key("authoredOn"), m))
                .ok()
        });
    let needs = needs(e, o, &at);
    let note = notes(e, o, &at);
    let finance = finance(e, o, &at);

    // The Patient the request is for.
    let subject = opt_obj(e, o, "subject", &at).and_then(|s| str_of(s, "reference"));
    let patient = match (subject, b.patients) {
        (_, []) => {
            e.at(&entry_p, "must hold a Patient (the resident)");
            None
        }
        (Some(r), ps) if ps.iter().any(|p| p.is(r, "Patient")) => {
            ps.iter().find(|p| p.is(r, "Patient")).copied()
        }
        (_, [p]) => Some(*p),
        (_, _) => {
            e.at(
                &at.key("subject"),
                "must reference one of the Bundle's Patients (by fullUrl or Patient/<id>)",
            );
            None
        }
    };
    let (identity, contact) = match patient {
        Some(p) => {
            let pe = entry_p.idx(p.index);
            let pp = pe.key("resource");
            patient_data(e, p.obj, &pp)
        }
        None => (None, None),
    };

    // An optional Consent.
    let mut consent = None;
    for (n, c) in b.consents.iter().enumerate() {
        let ce = entry_p.idx(c.index);
        let cp = ce.key("resource");
        if n > 0 {
            e.at(&ce, "a Bundle holds at most one Consent");
            continue;
        }
        consent = consent_resource(
            e,
            c.obj,
            &cp,
            Subject::InBundle(patient),
            identity.as_ref().map(|i| i.bsn),
            target.as_ref(),
            b.others,
            ctx,
        );
    }

    if e.len() > before {
        return None;
    }
    if let Err(m) = ReferralRequest::check_needs(&needs) {
        e.at(&at.key("reasonCode"), m);
        return None;
    }
    Some(IncomingReferral {
        gateway_id,
        request: ReferralRequest {
            source: Source {
                partner: ctx.sender.clone(),
                reference: reference?,
            },
            target: target?,
            urgency: urgency?,
            requested_at: requested_at?,
            resident: Resident {
                identity: Some(identity?),
                contact,
            },
            needs,
            note,
            finance,
        },
        consent,
    })
}

/// The partner an Organization reference names: an identifier with system
/// `urn:wijkbrug:partner`, or an AGB code the directory knows, on the reference itself or on
/// the Organization it points at in the Bundle. `required` reports a reference without one.
fn partner_of_reference(
    e: &mut Errors,
    r: &Obj,
    rp: &Path<'_>,
    others: &[Res<'_>],
    ctx: &DecodeContext,
    required: bool,
) -> Option<PartnerId> {
    let mut candidates: Vec<(&Obj, Path<'_>)> = Vec::new();
    let root = Path::ROOT;
    let entry_p = root.key("entry");
    let resolved: Option<Res<'_>> = str_of(r, "reference").and_then(|reference| {
        others
            .iter()
            .find(|x| x.is(reference, "Organization"))
            .copied()
    });
    if let Some(id) = opt_obj(e, r, "identifier", rp) {
        candidates.push((id, rp.key("identifier")));
    }
    // Paths into a resolved Organization: /entry/<n>/resource/identifier/<i>.
    let mut org_ids: Vec<(usize, &Obj)> = Vec::new();
    if let Some(org) = resolved {
        for (i, id) in org
            .obj
            .get("identifier")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            if let Some(io) = id.as_object() {
                org_ids.push((i, io));
            }
        }
    }
    for (id, ip) in &candidates {
        if let Some(p) = partner_of_identifier(e, id, ip, ctx) {
            return Some(p);
        }
    }
    if let Some(org) = resolved {
        let oe = entry_p.idx(org.index);
        let op = oe.key("resource");
        let oip = op.key("identifier");
        for (i, io) in &org_ids {
            let ip = oip.idx(*i);
            if let Some(p) = partner_of_identifier(e, io, &ip, ctx) {
                return Some(p);
            }
        }
    }
    if required {
        e.at(
            rp,
            "must identify the organisation: an identifier with system urn:wijkbrug:partner, or an AGB code (http://fhir.nl/fhir/NamingSystem/agb-z) the gateway's directory knows",
        );
    }
    None
}

fn partner_of_identifier(
    e: &mut Errors,
    id: &Obj,
    ip: &Path<'_>,
    ctx: &DecodeContext,
) -> Option<PartnerId> {
    let system = str_of(id, "system")?;
    let value_p = ip.key("value");
    if system == codes::PARTNER_SYSTEM {
        let v = req_str(e, id, "value", ip, "the partner id")?;
        return PartnerId::parse(v).map_err(|m| e.at(&value_p, m)).ok();
    }
    if codes::AGB_SYSTEMS.contains(&system) {
        let v = req_str(e, id, "value", ip, "the AGB code")?;
        return match ctx.directory.by_agb(v) {
            Some(entry) => Some(entry.partner.clone()),
            None => {
                e.at(
                    &value_p,
                    "no partner with this AGB code in the gateway's directory",
                );
                None
            }
        };
    }
    None
}

fn target(
    e: &mut Errors,
    o: &Obj,
    at: &Path<'_>,
    b: &Bundle<'_, '_>,
    ctx: &DecodeContext,
) -> Option<Target> {
    let performers = arr(e, o, "performer", at);
    let pp = at.key("performer");
    if let Some(first) = performers.first() {
        for i in 1..performers.len() {
            e.at(
                &pp.idx(i),
                "at most one performer (the partner the referral is for)",
            );
        }
        let fp = pp.idx(0);
        let fo = as_obj(e, first, &fp)?;
        return partner_of_reference(e, fo, &fp, b.others, ctx, true).map(Target::Partner);
    }
    if let Some(pt) = opt_obj(e, o, "performerType", at) {
        let tp = at.key("performerType");
        let cp = tp.key("coding");
        for (i, c) in arr(e, pt, "coding", &tp).iter().enumerate() {
            let Some(co) = c.as_object() else { continue };
            if str_of(co, "system") == Some(codes::SECTOR_SYSTEM) {
                let ip = cp.idx(i);
                let code = req_str(e, co, "code", &ip, "the sector")?;
                return codes::sector(code)
                    .map_err(|m| e.at(&ip.key("code"), m))
                    .ok()
                    .map(Target::Sector);
            }
        }
        e.at(
            &tp,
            "must hold a coding with system urn:wijkbrug:sector (housing, welfare, care, employment)",
        );
        return None;
    }
    e.at(
        &pp,
        "required: performer (an Organization with an urn:wijkbrug:partner identifier) or performerType (system urn:wijkbrug:sector)",
    );
    None
}

fn needs(e: &mut Errors, o: &Obj, at: &Path<'_>) -> Vec<Need> {
    let mut out: Vec<Need> = Vec::new();
    let mut seen = [false; LifeDomain::ALL.len()];
    for (key, is_reason) in [("reasonCode", true), ("category", false)] {
        let kp = at.key(key);
        for (i, cc) in arr(e, o, key, at).iter().enumerate() {
            let cp = kp.idx(i);
            let Some(co) = as_obj(e, cc, &cp) else {
                continue;
            };
            let codings_p = cp.key("coding");
            let mut domain = None;
            for (j, coding) in arr(e, co, "coding", &cp).iter().enumerate() {
                let jp = codings_p.idx(j);
                let Some(c) = as_obj(e, coding, &jp) else {
                    continue;
                };
                let (Some(system), Some(code)) = (str_of(c, "system"), str_of(c, "code")) else {
                    continue;
                };
                match codes::life_domain(system, code) {
                    None => {}
                    Some(Ok(d)) => {
                        domain.get_or_insert(d);
                    }
                    Some(Err(m)) => e.at(&jp.key("code"), m),
                }
            }
            let Some(domain) = domain else { continue };
            let slot = domain as usize;
            if seen.get(slot).copied().unwrap_or(false) {
                if is_reason {
                    e.at(&cp, ModelError::DuplicateDomain);
                }
                continue;
            }
            if let Some(s) = seen.get_mut(slot) {
                *s = true;
            }
            let ext_p = cp.key("extension");
            let mut severity = Severity::new(codes::DEFAULT_SEVERITY).ok();
            if let Some((k, x)) = extension(co, codes::SEVERITY_EXTENSION) {
                let vp = ext_p.idx(k);
                severity = match x.get("valueInteger").and_then(Value::as_u64) {
                    Some(n) => u8::try_from(n)
                        .map_err(|_| ModelError::Severity)
                        .and_then(Severity::new)
                        .map_err(|m| e.at(&vp.key("valueInteger"), m))
                        .ok(),
                    None => {
                        e.at(
                            &vp.key("valueInteger"),
                            "required: the severity as a whole number from 1 to 5",
                        );
                        None
                    }
                };
            }
            let mut note = None;
            if let Some((k, x)) = extension(co, codes::NEED_NOTE_EXTENSION) {
                let vp = ext_p.idx(k);
                note = match x.get("valueString").and_then(Value::as_str) {
                    Some(s) => Note::parse(s)
                        .map_err(|m| e.at(&vp.key("valueString"), m))
                        .ok(),
                    None => {
                        e.at(&vp.key("valueString"), "required: the note as a string");
                        None
                    }
                };
            }
            if let Some(severity) = severity {
                out.push(Need {
                    domain,
                    severity,
                    note,
                });
            }
        }
    }
    if out.is_empty() && e.is_empty() {
        e.at(
            &at.key("reasonCode"),
            format_args!(
                "required: at least one need, a reasonCode (or category) coded in {} or the HL7 Gravity SDOH categories",
                codes::LIFE_DOMAIN_SYSTEM
            ),
        );
    }
    out
}

fn notes(e: &mut Errors, o: &Obj, at: &Path<'_>) -> Option<Note> {
    let np = at.key("note");
    let mut texts: Vec<&str> = Vec::new();
    for (i, n) in arr(e, o, "note", at).iter().enumerate() {
        let ip = np.idx(i);
        let Some(no) = as_obj(e, n, &ip) else {
            continue;
        };
        if let Some(t) = req_str(e, no, "text", &ip, "the note's text") {
            texts.push(t);
        }
    }
    match texts.as_slice() {
        [] => None,
        [one] => Note::parse(one)
            .map_err(|m| e.at(&np.idx(0).key("text"), m))
            .ok(),
        many => Note::parse(&many.join("\n\n"))
            .map_err(|m| e.at(&np, m))
            .ok(),
    }
}

fn finance(e: &mut Errors, o: &Obj, at: &Path<'_>) -> Option<FinancialSituation> {
    let (k, x) = extension(o, codes::FINANCE_EXTENSION)?;
    let ext_p = at.key("extension");
    let xp = ext_p.idx(k);
    let sub_p = xp.key("extension");
    let mut arrears = None;
    let mut arrears_since = None;
    let mut signalled_on = None;
    for (i, s) in x
        .get("extension")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let sp = sub_p.idx(i);
        let Some(so) = s.as_object() else { continue };
        match str_of(so, "url") {
            Some("arrears") => {
                let mp = sp.key("valueMoney");
                let Some(m) = opt_obj(e, so, "valueMoney", &sp) else {
                    e.at(&mp, "required: the amount in arrears as Money (EUR)");
                    continue;
                };
                if str_of(m, "currency").is_some_and(|c| c != "EUR") {
                    e.at(&mp.key("currency"), "must be EUR");
                }
                arrears = match m.get("value").and_then(cents) {
                    Some(c) => MoneyCents::new(c)
                        .map_err(|er| e.at(&mp.key("value"), er))
                        .ok(),
                    None => {
                        e.at(
                            &mp.key("value"),
                            "must be an amount in euro with at most 2 decimals, at most 90 trillion",
                        );
                        None
                    }
                };
            }
            Some(key @ ("arrearsSince" | "signalledOn")) => {
                let vp = sp.key("valueDate");
                let d = match so.get("valueDate").and_then(Value::as_str) {
                    Some(v) => date(v).map_err(|m| e.at(&vp, m)).ok(),
                    None => {
                        e.at(&vp, "required: a date (YYYY-MM-DD)");
                        None
                    }
                };
                if key == "arrearsSince" {
                    arrears_since = d;
                } else {
                    signalled_on = d;
                }
            }
            _ => e.at(
                &sp.key("url"),
                "must be one of: arrears, arrearsSince, signalledOn",
            ),
        }
    }
    match arrears {
        Some(arrears) => Some(FinancialSituation {
            arrears,
            arrears_since,
            signalled_on,
        }),
        None => {
            if e.is_empty() {
                e.at(&sub_p, "required: an arrears sub-extension");
            }
            None
        }
    }
}

/// Euro amount (a JSON number) → cents, exactly: at most 2 decimals, at most 2^53 cents.
fn cents(v: &Value) -> Option<i64> {
    const MAX: f64 = 9_007_199_254_740_992.0;
    if let Some(n) = v.as_i64() {
        return n.checked_mul(100).filter(|c| (*c as f64) <= MAX);
    }
    let f = v.as_f64()?;
    let c = (f * 100.0).round();
    if !f.is_finite() || !(0.0..=MAX).contains(&c.abs()) || ((f * 100.0) - c).abs() > 1e-6 {
        return None;
    }
    Some(c as i64)
}

fn patient_data(e: &mut Errors, p: &Obj, at: &Path<'_>) -> (Option<Identity>, Option<Contact>) {
    let before = e.len();
    let mut bsn: Option<Bsn> = None;
    let mut has_bsn_identifier = false;
    let ids_p = at.key("identifier");
    for (i, id) in arr(e, p, "identifier", at).iter().enumerate() {
        let ip = ids_p.idx(i);
        let Some(io) = as_obj(e, id, &ip) else {
            continue;
        };
        let system = str_of(io, "system");
        if !matches!(system, Some(codes::BSN_SYSTEM | codes::BSN_OID_SYSTEM)) {
            continue;
        }
        has_bsn_identifier = true;
        let Some(v) = req_str(e, io, "value", &ip, "the BSN") else {
            continue;
        };
        match Bsn::parse(v) {
            Ok(b) if bsn.is_none_or(|x| x == b) => bsn = Some(b),
            Ok(_) => e.at(&ip.key("value"), "must not name a second, different BSN"),
            Err(m) => e.at(&ip.key("value"), m),
        }
    }
    if !has_bsn_identifier {
        e.at(
            &ids_p,
            format_args!(
                "required: a BSN identifier (system {} or {})",
                codes::BSN_SYSTEM,
                codes::BSN_OID_SYSTEM
            ),
        );
    }

    let names_p = at.key("name");
    let names = arr(e, p, "name", at);
    let pick = names
        .iter()
        .position(|n| n.get("use").and_then(Value::as_str) == Some("official"))
        .unwrap_or(0);
    let name = match names.get(pick) {
        None => {
            e.at(&names_p, "required: a name with a family name");
            None
        }
        Some(n) => {
            let np = names_p.idx(pick);
            as_obj(e, n, &np).and_then(|no| person_name(e, no, &np))
        }
    };
    let birth_date = opt_str(e, p, "birthDate", at)
        .and_then(|s| date(s).map_err(|m| e.at(&at.key("birthDate"), m)).ok());
    let gender = opt_str(e, p, "gender", at).and_then(|g| {
        GENDERS
            .iter()
            .find(|(c, _)| *c == g)
            .map(|(_, x)| *x)
            .or_else(|| {
                e.at(
                    &at.key("gender"),
                    codes::unknown(g, GENDERS.iter().map(|(c, _)| *c)),
                );
                None
            })
    });

    // Contact: the home (or first) address, the first phone and e-mail.
    let addrs_p = at.key("address");
    let addrs = arr(e, p, "address", at);
    let pick = addrs
        .iter()
        .position(|a| a.get("use").and_then(Value::as_str) == Some("home"))
        .unwrap_or(0);
    let address = addrs.get(pick).and_then(|a| {
        let ap = addrs_p.idx(pick);
        as_obj(e, a, &ap).and_then(|ao| address(e, ao, &ap))
    });
    let (mut phone, mut email) = (None, None);
    let tp = at.key("telecom");
    for (i, t) in arr(e, p, "telecom", at).iter().enumerate() {
        let ip = tp.idx(i);
        let Some(to) = as_obj(e, t, &ip) else {
            continue;
        };
        let value = opt_str(e, to, "value", &ip);
        let vp = ip.key("value");
        match opt_str(e, to, "system", &ip) {
            Some("phone") if phone.is_none() => {
                phone = value.and_then(|v| Phone::parse(v).map_err(|m| e.at(&vp, m)).ok());
            }
            Some("email") if email.is_none() => {
                email = value.and_then(|v| Email::parse(v).map_err(|m| e.at(&vp, m)).ok());
            }
            Some(s) if CONTACT_SYSTEMS.contains(&s) => {}
            Some(s) => e.at(
                &ip.key("system"),
                codes::unknown(s, CONTACT_SYSTEMS.into_iter()),
            ),
            None if value.is_some() => e.at(
                &ip.key("system"),
                "required when a value is given (phone, email, ...)",
            ),
            None => {}
        }
    }
    let contact = Contact {
        address,
        phone,
        email,
    };
    let contact = (!contact.is_empty()).then_some(contact);
    if e.len() > before {
        return (None, None);
    }
    let identity = match (bsn, name) {
        (Some(bsn), Some(name)) => Some(Identity {
            bsn,
            name,
            birth_date,
            gender,
        }),
        _ => None,
    };
    (identity, contact)
}

fn person_name(e: &mut Errors, n: &Obj, at: &Path<'_>) -> Option<PersonName> {
    let fam_ext_p = at.key("_family");
    let ext_p = fam_ext_p.key("extension");
    let fam_ext = n.get("_family").and_then(Value::as_object);
    let ext_string = |e: &mut Errors, url: &str| -> Option<PersonalText> {
        let (k, x) = fam_ext.and_then(|f| extension(f, url))?;
        let vp = ext_p.idx(k);
        let vp = vp.key("valueString");
        match x.get("valueString").and_then(Value::as_str) {
            Some(s) => PersonalText::parse(s).map_err(|m| e.at(&vp, m)).ok(),
            None => {
                e.at(&vp, "required: a string");
                None
            }
        }
    };
    let prefix = ext_string(e, codes::OWN_PREFIX_EXTENSION);
    let own_name = ext_string(e, codes::OWN_NAME_EXTENSION);
    let family = opt_str(e, n, "family", at);
    let family_name = match (own_name, family) {
        (Some(own), _) => Some(own),
        (None, Some(f)) => {
            let stripped = prefix
                .as_ref()
                .and_then(|p| f.strip_prefix(p.as_str()))
                .and_then(|rest| rest.strip_prefix(' '))
                .unwrap_or(f);
            PersonalText::parse(stripped)
                .map_err(|m| e.at(&at.key("family"), m))
                .ok()
        }
        (None, None) => {
            e.at(&at.key("family"), "required: the family name");
            None
        }
    };

    let given_p = at.key("given");
    let qualifiers = n.get("_given").and_then(Value::as_array);
    let mut names: Vec<(usize, &str)> = Vec::new();
    let mut initials: Vec<(usize, &str)> = Vec::new();
    for (i, g) in arr(e, n, "given", at).iter().enumerate() {
        let Some(s) = g.as_str() else {
            e.at(&given_p.idx(i), "must be a string");
            continue;
        };
        let is_initial = qualifiers
            .and_then(|q| q.get(i))
            .and_then(Value::as_object)
            .and_then(|q| extension(q, codes::QUALIFIER_EXTENSION))
            .and_then(|(_, x)| str_of(x, "valueCode"))
            == Some("IN");
        if is_initial {
            initials.push((i, s));
        } else {
            names.push((i, s));
        }
    }
    let mut joined = |parts: &[(usize, &str)], sep: &str| -> Option<PersonalText> {
        let (text, path) = match parts {
            [] => return None,
            [(i, one)] => (std::borrow::Cow::Borrowed(*one), given_p.idx(*i)),
            many => (
                std::borrow::Cow::Owned(many.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(sep)),
                given_p,
            ),
        };
        PersonalText::parse(&text).map_err(|m| e.at(&path, m)).ok()
    };
    let given_names = joined(&names, " ");
    let initials = joined(&initials, "");
    Some(PersonName {
        given_names,
        initials,
        prefix,
        family_name: family_name?,
    })
}

fn address(e: &mut Errors, a: &Obj, at: &Path<'_>) -> Option<Address> {
    let postcode = req_str(e, a, "postalCode", at, "the postcode").and_then(|s| {
        Postcode::parse(s)
            .map_err(|m| e.at(&at.key("postalCode"), m))
            .ok()
    });
    let town = opt_str(e, a, "city", at).and_then(|s| {
        PersonalText::parse(s)
            .map_err(|m| e.at(&at.key("city"), m))
            .ok()
    });
    let line_p = at.key("line");
    let line0 = match arr(e, a, "line", at).first() {
        None => None,
        Some(Value::String(s)) => Some(s.as_ref()),
        Some(_) => {
            e.at(&line_p.idx(0), "must be a string");
            None
        }
    };
    let line_ext = a
        .get("_line")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(Value::as_object);
    let ext_p = at.key("_line");
    let ext_p = ext_p.idx(0);
    let ext_p = ext_p.key("extension");
    let ext_value = |url: &str| -> Option<(usize, Option<&str>)> {
        line_ext
            .and_then(|l| extension(l, url))
            .map(|(k, x)| (k, str_of(x, "valueString")))
    };
    let (street, number, suffix, number_p): (Option<&str>, Option<&str>, &str, Path<'_>);
    let line0_p = line_p.idx(0);
    if let Some((k, v)) = ext_value(codes::HOUSE_NUMBER_EXTENSION) {
        street = ext_value(codes::STREET_EXTENSION).and_then(|(_, v)| v);
        number = v;
        suffix = ext_value(codes::HOUSE_SUFFIX_EXTENSION)
            .and_then(|(_, v)| v)
            .unwrap_or("");
        number_p = ext_p.idx(k);
    } else if let Some(line) = line0 {
        match split_street_line(line) {
            Some((s, rest)) => {
                let (digits, sfx) = split_number(rest);
                street = s;
                number = Some(digits);
                suffix = sfx;
            }
            None => {
                street = None;
                number = None;
                suffix = "";
            }
        }
        number_p = line0_p;
    } else {
        e.at(
            &line_p,
            "required: a line with street and house number (or the iso21090-ADXP-houseNumber extension)",
        );
        return None;
    }
    let house_number = match number {
        Some(n) => HouseNumber::parse(n).map_err(|m| e.at(&number_p, m)).ok(),
        None => {
            e.at(
                &number_p,
                "must hold a street and house number, e.g. \"Lindelaan 12a-2\" (or use the iso21090-ADXP-houseNumber extension)",
            );
            None
        }
    };
    let street = street.and_then(|s| PersonalText::parse(s).map_err(|m| e.at(&number_p, m)).ok());
    let (house_letter, house_number_addition) = match parse_suffix(suffix) {
        Ok(x) => x,
        Err(m) => {
            e.at(&number_p, m);
            (None, None)
        }
    };
    Some(Address {
        postcode: postcode?,
        house_number: house_number?,
        house_letter,
        house_number_addition,
        street,
        town,
    })
}

/// "Lindelaan 12a-2" → (Some("Lindelaan"), "12a-2"); "12a" → (None, "12a"). The number part
/// starts at the last space followed by a digit.
pub(crate) fn split_street_line(line: &str) -> Option<(Option<&str>, &str)> {
    let line = line.trim();
    let bytes = line.as_bytes();
    if bytes.first()?.is_ascii_digit() {
        return Some((None, line));
    }
    let pos = (1..bytes.len()).rev().find(|&i| {
        bytes.get(i).is_some_and(u8::is_ascii_digit) && bytes.get(i - 1) == Some(&b' ')
    })?;
    // Both bytes are ASCII, so `pos` is a char boundary.
    let street = line.get(..pos)?.trim_end();
    Some(((!street.is_empty()).then_some(street), line.get(pos..)?))
}

fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    (s.get(..end).unwrap_or(""), s.get(end..).unwrap_or(""))
}

/// A house number suffix: a letter, optionally followed by '-' or ' ' and an addition
/// ("a", "a-2", "A 3"); or, starting with '-' (or longer than one letter), an addition only
/// ("-2", "-bis", "bis").
pub(crate) fn parse_suffix(s: &str) -> Result<(Option<char>, Option<String>), ModelError> {
    let s = s.trim();
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return Ok((None, None));
    };
    let rest = chars.as_str();
    if first.is_ascii_alphabetic() && (rest.is_empty() || rest.starts_with(['-', ' '])) {
        let addition = rest.trim_start_matches(['-', ' ']);
        let addition = if addition.is_empty() {
            None
        } else {
            Some(Address::parse_house_number_addition(addition)?)
        };
        return Ok((Some(first), addition));
    }
    let addition = s.trim_start_matches(['-', ' ']);
    Ok((None, Some(Address::parse_house_number_addition(addition)?)))
}

/// A standalone FHIR R4 **Consent** resource (not in a Bundle), as a care partner records a
/// resident's consent with the gateway (`POST /v1/consents` with `application/fhir+json`).
///
/// The mapping is the Bundle's (see the module docs of [`super`]), with three differences,
/// because there is no referral and no Patient entry to lean on:
/// * `patient.identifier` with a BSN system (`http://fhir.nl/fhir/NamingSystem/bsn` or
///   `urn:oid:2.16.840.1.113883.2.4.6.3`) is **required**: a `patient.reference` alone (such
///   as `Patient/f001` in the standard's `consent-example-basic.json`) cannot be tied to a
///   resident, and is refused at `/patient/identifier`.
/// * `provision.actor` is **required** (one Organization naming a partner): there is no
///   referral whose target it could default to.
/// * `status` must be `active` (a consent) or `rejected` (an objection); `inactive`, `draft`,
///   `proposed` and `entered-in-error` are refused at `/status`: a consent is withdrawn by
///   revoking it, not by sending it again.
///
/// `recorded_by` is `ctx.sender`. Every problem is reported, each with its JSON pointer;
/// none quotes a value from the input.
pub fn decode_consent(input: &[u8], ctx: &DecodeContext) -> Result<Consent, Vec<DecodeError>> {
    let root = parse_input(input).map_err(|e| vec![e])?;
    let Some(obj) = root.as_object() else {
        return Err(vec![DecodeError::document(
            "must be a JSON object (a FHIR Consent)",
        )]);
    };
    match str_of(obj, "resourceType") {
        Some("Consent") => {}
        Some(other) => {
            return Err(vec![DecodeError::at_pointer(
                "/resourceType",
                codes::unknown(other, ["Consent"].into_iter()),
            )])
        }
        None => {
            return Err(vec![DecodeError::at_pointer(
                "/resourceType",
                "required: Consent",
            )])
        }
    }
    let mut e = Errors::default();
    let consent = consent_resource(
        &mut e,
        obj,
        &Path::ROOT,
        Subject::Standalone,
        None,
        None,
        &[],
        ctx,
    );
    match consent {
        Some(c) if e.is_empty() => Ok(c),
        _ if !e.is_empty() => Err(e.0),
        _ => Err(vec![DecodeError::document("does not hold a consent")]),
    }
}

/// Where a Consent's resident comes from.
#[derive(Clone, Copy)]
enum Subject<'v> {
    /// In a referral's Bundle: its Patient (when found), whose BSN is passed separately.
    InBundle(Option<Res<'v>>),
    /// A Consent on its own: the BSN must be on `patient.identifier`.
    Standalone,
}

#[allow(clippy::too_many_arguments)]
fn consent_resource(
    e: &mut Errors,
    c: &Obj,
    at: &Path<'_>,
    subject: Subject<'_>,
    bsn: Option<Bsn>,
    target: Option<&Target>,
    others: &[Res<'_>],
    ctx: &DecodeContext,
) -> Option<Consent> {
    let before = e.len();
    let status = match get(c, "status") {
        None => {
            e.at(
                &at.key("status"),
                format_args!(
                    "required: the consent's status ({})",
                    codes::CONSENT_STATUSES.join(", ")
                ),
            );
            None
        }
        Some(_) => opt_str(e, c, "status", at).and_then(|s| {
            codes::CONSENT_STATUSES
                .contains(&s)
                .then_some(s)
                .or_else(|| {
                    e.at(
                        &at.key("status"),
                        codes::unknown(s, codes::CONSENT_STATUSES.into_iter()),
                    );
                    None
                })
        }),
    };

    // The patient: in a Bundle, a reference to its Patient or a BSN identifier equal to its
    // BSN; standalone, a BSN identifier (a reference cannot be tied to a resident).
    let standalone = matches!(subject, Subject::Standalone);
    let mut bsn = bsn;
    let pp = at.key("patient");
    match opt_obj(e, c, "patient", at) {
        None => e.at(&pp, "required: the Patient the consent is about"),
        Some(po) => {
            let mut named = false;
            if let (Some(r), Subject::InBundle(patient)) = (str_of(po, "reference"), subject) {
                named = true;
                if !patient.is_some_and(|p| p.is(r, "Patient")) {
                    e.at(
                        &pp.key("reference"),
                        "must reference the Bundle's Patient (by fullUrl or Patient/<id>)",
                    );
                }
            }
            if let Some(id) = opt_obj(e, po, "identifier", &pp) {
                let ip = pp.key("identifier");
                if matches!(
                    str_of(id, "system"),
                    Some(codes::BSN_SYSTEM | codes::BSN_OID_SYSTEM)
                ) {
                    named = true;
                    if let Some(v) = req_str(e, id, "value", &ip, "the BSN") {
                        match Bsn::parse(v) {
                            Ok(b) if standalone => bsn = Some(b),
                            Ok(b) if bsn.is_none_or(|x| x == b) => {}
                            Ok(_) => {
                                e.at(&ip.key("value"), "must be the BSN of the Bundle's Patient")
                            }
                            Err(m) => e.at(&ip.key("value"), m),
                        }
                    }
                }
            }
            if !named && standalone {
                e.at(
                    &pp.key("identifier"),
                    format_args!(
                        "required: the resident's BSN identifier (system {} or {}); a reference alone cannot be tied to a resident",
                        codes::BSN_SYSTEM,
                        codes::BSN_OID_SYSTEM
                    ),
                );
            } else if !named {
                e.at(
                    &pp,
                    "must reference the Bundle's Patient or carry its BSN identifier",
                );
            }
        }
    }

    let prov_p = at.key("provision");
    let empty = Map::new();
    let prov = opt_obj(e, c, "provision", at).unwrap_or(&empty);
    if !arr(e, prov, "provision", &prov_p).is_empty() {
        e.at(
            &prov_p.key("provision"),
            "nested provisions are not supported: put type, actor, purpose, class and period on the top-level provision",
        );
    }

    // Period: provision.period, else the consent's dateTime as its start.
    let period_p = prov_p.key("period");
    let period = opt_obj(e, prov, "period", &prov_p);
    let start =
        period.and_then(|p| opt_str(e, p, "start", &period_p).map(|s| (s, period_p.key("start"))));
    let valid_from = match start {
        Some((s, sp)) => date_time(s).map_err(|m| e.at(&sp, m)).ok(),
        None => match opt_str(e, c, "dateTime", at) {
            Some(s) => date_time(s).map_err(|m| e.at(&at.key("dateTime"), m)).ok(),
            None => {
                e.at(
                    &period_p.key("start"),
                    "required: when the consent starts (provision.period.start, or dateTime)",
                );
                None
            }
        },
    };
    let valid_until = period
        .and_then(|p| opt_str(e, p, "end", &period_p))
        .and_then(|s| date_time(s).map_err(|m| e.at(&period_p.key("end"), m)).ok());

    // Effect: provision.type, else policyRule OPTIN/OPTOUT, else permit; a rejected consent denies.
    let effect = match opt_str(e, prov, "type", &prov_p) {
        Some("permit") => Some(ConsentEffect::Permit),
        Some("deny") => Some(ConsentEffect::Deny),
        Some(t) => {
            e.at(
                &prov_p.key("type"),
                codes::unknown(t, ["deny", "permit"].into_iter()),
            );
            None
        }
        None => {
            let rule = c
                .get("policyRule")
                .and_then(|p| p.get("coding"))
                .and_then(Value::as_array)
                .and_then(|cs| {
                    cs.iter().find_map(|x| {
                        (x.get("system").and_then(Value::as_str) == Some(codes::ACT_CODE_SYSTEM))
                            .then(|| x.get("code").and_then(Value::as_str))
                            .flatten()
                    })
                });
            Some(if rule == Some("OPTOUT") {
                ConsentEffect::Deny
            } else {
                ConsentEffect::Permit
            })
        }
    };
    let effect = if status == Some("rejected") {
        Some(ConsentEffect::Deny)
    } else {
        effect
    };

    // Grantee: the one actor, else whoever the referral is for.
    let actor_p = prov_p.key("actor");
    let actors = arr(e, prov, "actor", &prov_p);
    for i in 1..actors.len() {
        e.at(
            &actor_p.idx(i),
            "at most one actor: the gateway records one grantee per consent",
        );
    }
    let grantee = match actors.first() {
        Some(a) => {
            let ap = actor_p.idx(0);
            let rp = ap.key("reference");
            as_obj(e, a, &ap)
                .and_then(|ao| match opt_obj(e, ao, "reference", &ap) {
                    Some(r) => partner_of_reference(e, r, &rp, others, ctx, true),
                    None => {
                        e.at(&rp, "required: the organisation the consent is for");
                        None
                    }
                })
                .map(Grantee::Partner)
        }
        None if standalone => {
            e.at(
                &actor_p,
                "required: the organisation the consent is for (a standalone Consent has no referral to take it from)",
            );
            None
        }
        None => target.map(|t| match t {
            Target::Partner(p) => Grantee::Partner(p.clone()),
            Target::Sector(s) => Grantee::Sector(*s),
        }),
    };

    // Purpose: the first coding, else referral.
    let purpose_p = prov_p.key("purpose");
    let mut purpose = Some(Purpose::Referral);
    if let Some(first) = arr(e, prov, "purpose", &prov_p).first() {
        let fp = purpose_p.idx(0);
        purpose = as_obj(e, first, &fp).and_then(|po| {
            let system = str_of(po, "system").unwrap_or("");
            let code = str_of(po, "code").unwrap_or("");
            codes::purpose(system, code).map_err(|m| e.at(&fp, m)).ok()
        });
    }

    // Categories: class and securityLabel codes; none given: a permit covers every category
    // but health (which must be named), a deny covers all.
    let mut categories = CategorySet::empty();
    let mut named_any = false;
    for key in ["class", "securityLabel"] {
        let kp = prov_p.key(key);
        for (i, x) in arr(e, prov, key, &prov_p).iter().enumerate() {
            let xp = kp.idx(i);
            let Some(xo) = as_obj(e, x, &xp) else {
                continue;
            };
            named_any = true;
            let system = str_of(xo, "system").unwrap_or("");
            let code = str_of(xo, "code").unwrap_or("");
            match codes::consent_class(system, code) {
                Ok(cats) => cats.iter().for_each(|c| categories.insert(*c)),
                Err(m) => e.at(&xp, m),
            }
        }
    }
    if !named_any {
        categories = CategorySet::all();
        if effect == Some(ConsentEffect::Permit) {
            categories.remove(DataCategory::Health);
        }
    }

    let evidence = c
        .get("identifier")
        .and_then(Value::as_array)
        .and_then(|ids| ids.first())
        .and_then(|id| id.get("value"))
        .and_then(Value::as_str)
        .and_then(|v| {
            let vp = at.key("identifier");
            let vp = vp.idx(0);
            ExternalRef::parse(v)
                .map_err(|m| e.at(&vp.key("value"), m))
                .ok()
        });

    if standalone && status.is_some_and(|s| !matches!(s, "active" | "rejected")) {
        e.at(
            &at.key("status"),
            "must be active (a consent) or rejected (an objection); a recorded consent is withdrawn by revoking it",
        );
    }
    if e.len() > before {
        return None;
    }
    // Only an active (or rejected, i.e. denied) consent is a consent in force; the other
    // statuses carry none.
    if !matches!(status, Some("active" | "rejected")) {
        return None;
    }
    let consent = Consent {
        resident: bsn?,
        grantee: grantee?,
        purpose: purpose?,
        effect: effect?,
        categories,
        valid_from: valid_from?,
        valid_until,
        recorded_by: ctx.sender.clone(),
        evidence,
        revoked_at: None,
    };
    if let Err(m) = consent.check() {
        e.at(&period_p, m);
        return None;
    }
    Some(consent)
}

fn task(t: &Obj, at: &Path<'_>, ctx: &DecodeContext) -> Result<Record, Errors> {
    let mut e = Errors::default();
    let meaning = req_str(&mut e, t, "status", at, "the task's status").and_then(|s| {
        match codes::task_meaning(s) {
            Ok(TaskMeaning::Report(status, implied)) => Some((status, implied)),
            Ok(TaskMeaning::NotReportable) => {
                e.at(
                    &at.key("status"),
                    "is not a status update: draft, requested, received, ready and entered-in-error are not reported; expected one of: accepted, rejected, in-progress, on-hold, completed, cancelled, failed",
                );
                None
            }
            Err(m) => {
                e.at(&at.key("status"), m);
                None
            }
        }
    });
    let referral = referral_ref(&mut e, t, at, ctx);
    let when = match (get(t, "lastModified"), get(t, "authoredOn")) {
        (Some(_), _) => Some("lastModified"),
        (None, Some(_)) => Some("authoredOn"),
        (None, None) => {
            e.at(
                &at.key("lastModified"),
                "required: when the status changed (lastModified, or authoredOn)",
            );
            None
        }
    };
    let at_time = when.and_then(|k| {
        opt_str(&mut e, t, k, at).and_then(|s| date_time(s).map_err(|m| e.at(&at.key(k), m)).ok())
    });
    let (mut reason, mut reason_code) = (None, None);
    let rp = at.key("statusReason");
    if let Some(r) = opt_obj(&mut e, t, "statusReason", at) {
        reason = opt_str(&mut e, r, "text", &rp).and_then(|s| {
            ReasonText::parse(s)
                .map_err(|m| e.at(&rp.key("text"), m))
                .ok()
        });
        let cp = rp.key("coding");
        if let Some((i, code)) = arr(&mut e, r, "coding", &rp)
            .iter()
            .enumerate()
            .find_map(|(i, c)| c.get("code").and_then(Value::as_str).map(|s| (i, s)))
        {
            let ok = !code.trim().is_empty()
                && code.chars().count() <= MAX_REASON_CODE
                && !code.chars().any(char::is_control);
            if ok {
                reason_code = Some(code.to_owned());
            } else {
                let ip = cp.idx(i);
                e.at(
                    &ip.key("code"),
                    "must be 1 to 64 characters without control characters",
                );
            }
        }
    }
    if !e.is_empty() {
        return Err(e);
    }
    let (Some((status, implied)), Some(referral), Some(at_time)) = (meaning, referral, at_time)
    else {
        e.at(at, "not a complete status update");
        return Err(e);
    };
    match implied {
        Some(codes::FAILED) => reason_code = Some(codes::FAILED.to_owned()),
        Some(other) if reason_code.is_none() => reason_code = Some(other.to_owned()),
        _ => {}
    }
    match StatusUpdate::new(referral, status, at_time) {
        Ok(mut u) => {
            u.reason = reason;
            u.reason_code = reason_code;
            Ok(Record::Status(u))
        }
        Err(m) => {
            e.at(&at.key("status"), m);
            Err(e)
        }
    }
}

enum Cand {
    Id(ReferralId),
    External(ExternalRef),
}

/// Which referral a Task is about: a basedOn/focus identifier with system
/// urn:wijkbrug:referral or a reference `urn:uuid:<id>` / `ServiceRequest/<id>` (the gateway
/// id); else a basedOn/focus identifier with system urn:wijkbrug:partner:<sender>, or the
/// Task's own first identifier (the reporting partner's reference).
fn referral_ref(
    e: &mut Errors,
    t: &Obj,
    at: &Path<'_>,
    ctx: &DecodeContext,
) -> Option<ReferralRef> {
    let mut external: Option<ExternalRef> = None;
    let based_p = at.key("basedOn");
    let based = arr(e, t, "basedOn", at);
    for (i, r) in based.iter().enumerate() {
        let rp = based_p.idx(i);
        let Some(ro) = as_obj(e, r, &rp) else {
            continue;
        };
        match ref_candidate(e, ro, &rp, ctx) {
            Some(Cand::Id(id)) => return Some(ReferralRef::Id(id)),
            Some(Cand::External(x)) => {
                external.get_or_insert(x);
            }
            None => {}
        }
    }
    let fp = at.key("focus");
    if let Some(fo) = opt_obj(e, t, "focus", at) {
        match ref_candidate(e, fo, &fp, ctx) {
            Some(Cand::Id(id)) => return Some(ReferralRef::Id(id)),
            Some(Cand::External(x)) => {
                external.get_or_insert(x);
            }
            None => {}
        }
    }
    if let Some(x) = external {
        return Some(ReferralRef::External(x));
    }
    let ids_p = at.key("identifier");
    if let Some(first) = arr(e, t, "identifier", at).first() {
        let ip = ids_p.idx(0);
        let v = as_obj(e, first, &ip)
            .and_then(|io| req_str(e, io, "value", &ip, "the task's identifier value"))?;
        return ExternalRef::parse(v)
            .map_err(|m| e.at(&ip.key("value"), m))
            .ok()
            .map(ReferralRef::External);
    }
    if e.is_empty() {
        e.at(
            &based_p,
            "required: basedOn the ServiceRequest (identifier with system urn:wijkbrug:referral), or an identifier with your own reference",
        );
    }
    None
}

fn ref_candidate(e: &mut Errors, r: &Obj, rp: &Path<'_>, ctx: &DecodeContext) -> Option<Cand> {
    if let Some(id) = opt_obj(e, r, "identifier", rp) {
        let ip = rp.key("identifier");
        let system = str_of(id, "system").unwrap_or("");
        if system == codes::REFERRAL_SYSTEM {
            let v = req_str(e, id, "value", &ip, "the referral id")?;
            return ReferralId::parse(v)
                .map_err(|m| e.at(&ip.key("value"), m))
                .ok()
                .map(Cand::Id);
        }
        if system.strip_prefix(codes::PARTNER_REF_PREFIX) == Some(ctx.sender.as_str()) {
            let v = req_str(e, id, "value", &ip, "your reference")?;
            return ExternalRef::parse(v)
                .map_err(|m| e.at(&ip.key("value"), m))
                .ok()
                .map(Cand::External);
        }
    }
    let reference = str_of(r, "reference")?;
    let tail = reference
        .strip_prefix("urn:uuid:")
        .or_else(|| reference.rsplit_once("ServiceRequest/").map(|(_, t)| t))?;
    ReferralId::parse(tail).ok().map(Cand::Id)
}

/// A FHIR date (YYYY-MM-DD only: partial dates are refused).
pub(crate) fn date(s: &str) -> Result<NaiveDate, &'static str> {
    const RULE: &str = "must be a full date (YYYY-MM-DD)";
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shape {
        return Err(RULE);
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<u32>().ok());
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(y), Some(m), Some(d)) => {
            NaiveDate::from_ymd_opt(i32::try_from(y).map_err(|_| RULE)?, m, d).ok_or(RULE)
        }
        _ => Err(RULE),
    }
}

/// A FHIR dateTime with a time zone offset, or a date (midnight UTC).
pub(crate) fn date_time(s: &str) -> Result<DateTime<Utc>, &'static str> {
    const RULE: &str = "must be a date (YYYY-MM-DD, read as midnight UTC) or a date-time with a time zone offset, e.g. 2026-11-02T09:30:00+01:00";
    if s.len() == 10 {
        return date(s)
            .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
            .map_err(|_| RULE);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| RULE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn street_lines_split_into_street_number_and_suffix() {
        assert_eq!(
            split_street_line("Lindelaan 12a-2"),
            Some((Some("Lindelaan"), "12a-2"))
        );
        assert_eq!(
            split_street_line("Laan van 40-45 3"),
            Some((Some("Laan van 40-45"), "3"))
        );
        assert_eq!(split_street_line("12"), Some((None, "12")));
        assert_eq!(split_street_line("Lindelaan"), None);
        assert_eq!(split_street_line(""), None);
        assert_eq!(split_number("12a-2"), ("12", "a-2"));
        assert_eq!(parse_suffix(""), Ok((None, None)));
        assert_eq!(parse_suffix("a"), Ok((Some('a'), None)));
        assert_eq!(parse_suffix("a-2"), Ok((Some('a'), Some("2".into()))));
        assert_eq!(parse_suffix("A 3"), Ok((Some('A'), Some("3".into()))));
        assert_eq!(parse_suffix("-b"), Ok((None, Some("b".into()))));
        assert_eq!(parse_suffix("bis"), Ok((None, Some("bis".into()))));
        assert!(parse_suffix("a-toolong").is_err());
    }

    #[test]
    fn dates_and_date_times() {
        assert!(date("2026-11-02").is_ok());
        for bad in [
            "2026-11",
            "2026",
            "2026-13-01",
            "2026-1-02",
            "２０２６-11-02",
        ] {
            assert!(date(bad).is_err(), "{bad}");
        }
        assert_eq!(
            date_time("2026-11-02").unwrap().to_rfc3339(),
            "2026-11-02T00:00:00+00:00"
        );
        assert_eq!(
            date_time("2026-11-02T10:30:00+01:00").unwrap().to_rfc3339(),
            "2026-11-02T09:30:00+00:00"
        );
        assert!(date_time("2026-11-02T10:30:00").is_err());
    }

    #[test]
    fn euro_amounts_become_exact_cents() {
        assert_eq!(cents(&Value::parse("1350").unwrap()), Some(135_000));
        assert_eq!(cents(&Value::parse("12.34").unwrap()), Some(1234));
        assert_eq!(cents(&Value::parse("0.1").unwrap()), Some(10));
        assert_eq!(cents(&Value::parse("1.234").unwrap()), None);
        assert_eq!(cents(&Value::parse("\"12\"").unwrap()), None);
    }
}
