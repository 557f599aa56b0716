//! Decoding: a single signal, a delivery envelope or a status callback, to records.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Number, Value};

use crate::adapter::{DecodeContext, DecodeError, IncomingReferral, Record};
use crate::model::{
    Address, Bsn, Contact, ExternalRef, HouseNumber, Identity, ModelError, MoneyCents, Need,
    PartnerId, PersonName, PersonalText, Postcode, ReasonText, ReferralId, ReferralRef,
    ReferralRequest, Resident, Sector, Severity, Source, StatusUpdate, Target,
};

use super::codes::{self, SignalFacts};
use super::{CALLBACK_SCHEMA, MAX_EUROS, MAX_INPUT_BYTES};

type Out = Vec<Result<Record, DecodeError>>;
type Obj = Map<String, Value>;

/// The keys of one signal: the VNG v0.9 `vroegsignalen[]` item and this adapter's extensions.
pub const SIGNAL_KEYS: [&str; 14] = [
    "ID",
    "crisissignaal",
    "warmeOverdracht",
    "bedrag",
    "ontstaansdatum",
    "signaaldatum",
    "status",
    "signaalpartner",
    "client",
    "doelpartner",
    "doelsector",
    "leefgebieden",
    "betalingsregelingStatus",
    "verwijzingId",
];

/// The keys of the `client` block (VNG v0.9).
pub const CLIENT_KEYS: [&str; 10] = [
    "Burgerservicenummer",
    "Voorletters",
    "Voorvoegsel",
    "Achternaam",
    "Geboortedatum",
    "Straatnaam",
    "Postcode",
    "Huisnummer",
    "Huisnummertoevoeging",
    "Plaatsnaam",
];

/// The keys of a status callback.
pub const CALLBACK_KEYS: [&str; 7] = [
    "schema",
    "signaal_id",
    "referral_id",
    "status",
    "at",
    "reden",
    "reden_code",
];

const ENVELOPE_KEYS: [&str; 5] = [
    "codeGegevensleverancier",
    "leveringen",
    "aanleverdatumEnTijd",
    "startdatumLevering",
    "einddatumLevering",
];

pub(super) fn decode(input: &[u8], ctx: &DecodeContext) -> Out {
    let root = match parse_root(input) {
        Ok(root) => root,
        Err(e) => return vec![Err(e)],
    };
    if root.contains_key("schema") {
        return status_callback(&root);
    }
    if ENVELOPE_KEYS.iter().any(|k| root.contains_key(*k)) {
        return envelope(&root, ctx);
    }
    if ["ID", "client", "signaalpartner"]
        .iter()
        .any(|k| root.contains_key(*k))
    {
        let mut out = Vec::with_capacity(1);
        push_signal(&mut out, signal(&root, "", None, ctx));
        return out;
    }
    vec![Err(DecodeError::document(
        "must be a vroegsignaal (keys ID, signaalpartner, client), a delivery envelope \
         (keys codeGegevensleverancier, leveringen) or a status callback (key schema)",
    ))]
}

fn parse_root(input: &[u8]) -> Result<Obj, DecodeError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(DecodeError::document(format!(
            "must be at most {} MiB",
            MAX_INPUT_BYTES / (1024 * 1024)
        )));
    }
    let text = std::str::from_utf8(input).map_err(|e| {
        DecodeError::document(format!(
            "must be UTF-8: invalid byte sequence at byte {}",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(root)) => Ok(root),
        Ok(_) => Err(DecodeError::document(
            "must be a JSON object: a vroegsignaal, a delivery envelope or a status callback",
        )),
        Err(e) => Err(DecodeError::document(match e.classify() {
            // serde_json's syntax messages are fixed texts with a position; they never quote
            // the input.
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("must be well-formed JSON: {e}")
            }
            _ => format!(
                "must be well-formed JSON (error at line {} column {})",
                e.line(),
                e.column()
            ),
        })),
    }
}

fn push_signal(out: &mut Out, r: Result<IncomingReferral, Vec<DecodeError>>) {
    match r {
        Ok(referral) => out.push(Ok(Record::Referral(Box::new(referral)))),
        Err(errors) => out.extend(errors.into_iter().map(Err)),
    }
}

// ---- field access with error collection ----------------------------------------------------

/// The problems found in one record, each at `base` + a relative pointer.
struct Errors<'b> {
    base: &'b str,
    list: Vec<DecodeError>,
}

impl<'b> Errors<'b> {
    fn new(base: &'b str) -> Self {
        Self {
            base,
            list: Vec::new(),
        }
    }

    fn at(&mut self, rel: &str, rule: impl fmt::Display) {
        self.list
            .push(DecodeError::at_pointer(format!("{}{rel}", self.base), rule));
    }

    fn check<T>(&mut self, rel: &str, r: Result<T, ModelError>) -> Option<T> {
        r.map_err(|e| self.at(rel, e)).ok()
    }

    fn unknown_keys(&mut self, obj: &Obj, rel: &str, allowed: &[&str]) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                self.at(
                    &format!("{rel}/{}", escape_pointer(key)),
                    format_args!("unknown field; accepted: {}", allowed.join(", ")),
                );
            }
        }
    }
}

/// RFC 6901 escaping of one reference token.
fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The key a relative pointer ends in (our pointers name our own keys, without escapes).
fn key_of(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// A present, non-null value. `null` counts as absent for every field.
fn get<'v>(obj: &'v Obj, rel: &str) -> Option<&'v Value> {
    obj.get(key_of(rel)).filter(|v| !v.is_null())
}

fn opt_str<'v>(e: &mut Errors, obj: &'v Obj, rel: &str) -> Option<&'v str> {
    match get(obj, rel) {
        None => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            e.at(rel, "must be a string");
            None
        }
    }
}

fn req_str<'v>(e: &mut Errors, obj: &'v Obj, rel: &str) -> Option<&'v str> {
    if get(obj, rel).is_none() {
        e.at(rel, "required");
        return None;
    }
    opt_str(e, obj, rel)
}

fn opt_bool(e: &mut Errors, obj: &Obj, rel: &str) -> Option<bool> {
    match get(obj, rel) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            e.at(rel, "must be a boolean (true or false)");
            None
        }
    }
}

fn opt_obj<'v>(e: &mut Errors, obj: &'v Obj, rel: &str) -> Option<&'v Obj> {
    match get(obj, rel) {
        None => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => {
            e.at(rel, "must be an object");
            None
        }
    }
}

fn req_obj<'v>(e: &mut Errors, obj: &'v Obj, rel: &str) -> Option<&'v Obj> {
    if get(obj, rel).is_none() {
        e.at(rel, "required");
        return None;
    }
    opt_obj(e, obj, rel)
}

fn opt_array<'v>(e: &mut Errors, obj: &'v Obj, rel: &str) -> Option<&'v [Value]> {
    match get(obj, rel) {
        None => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => {
            e.at(rel, "must be an array");
            None
        }
    }
}

const DATE_RULE: &str = "must be a date yyyy-mm-dd, e.g. 2026-11-02";
const DATE_TIME_RULE: &str = "must be a date and time (RFC 3339), e.g. 2026-11-02T09:30:00Z";

/// Strictly `yyyy-mm-dd`, a real calendar date.
pub(super) fn parse_date(s: &str) -> Option<NaiveDate> {
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] = *s.as_bytes() else {
        return None;
    };
    let digits = [y0, y1, y2, y3, m0, m1, d0, d1];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |bs: &[u8]| {
        bs.iter()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'))
    };
    let year = i32::try_from(n(&[y0, y1, y2, y3])).ok()?;
    NaiveDate::from_ymd_opt(year, n(&[m0, m1]), n(&[d0, d1]))
}

fn opt_date(e: &mut Errors, obj: &Obj, rel: &str) -> Option<NaiveDate> {
    let d = match get(obj, rel)? {
        Value::String(s) => parse_date(s),
        _ => None,
    };
    if d.is_none() {
        e.at(rel, DATE_RULE);
    }
    d
}

fn req_date(e: &mut Errors, obj: &Obj, rel: &str) -> Option<NaiveDate> {
    if get(obj, rel).is_none() {
        e.at(rel, "required");
        return None;
    }
    opt_date(e, obj, rel)
}

fn req_date_time(e: &mut Errors, obj: &Obj, rel: &str) -> Option<DateTime<Utc>> {
    let Some(v) = get(obj, rel) else {
        e.at(rel, "required");
        return None;
    };
    let t = v
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    if t.is_none() {
        e.at(rel, DATE_TIME_RULE);
    }
    t
}

fn opt_text(e: &mut Errors, obj: &Obj, rel: &str) -> Option<PersonalText> {
    let s = opt_str(e, obj, rel)?;
    e.check(rel, PersonalText::parse(s))
}

const AMOUNT_RULE: &str = "must be a number of euros with at most 2 decimals, e.g. 450 or 450.25";

/// Euro cents from a JSON number, exactly: whole numbers directly, decimals from the number's
/// shortest round-trip text (exact for the at most 14 significant digits allowed here).
pub(super) fn cents_of(n: &Number) -> Result<MoneyCents, String> {
    let too_large = || format!("must be at most {MAX_EUROS} euros");
    if let Some(euros) = n.as_u64() {
        if euros > MAX_EUROS {
            return Err(too_large());
        }
        let cents = i64::try_from(euros * 100).map_err(|_| too_large())?;
        return MoneyCents::new(cents).map_err(|e| e.to_string());
    }
    if n.as_i64().is_some() {
        return Err(ModelError::NegativeAmount.to_string());
    }
    let Some(f) = n.as_f64() else {
        return Err(AMOUNT_RULE.to_owned());
    };
    if f < 0.0 {
        return Err(ModelError::NegativeAmount.to_string());
    }
    if f > MAX_EUROS as f64 {
        return Err(too_large());
    }
    let text = n.to_string();
    let text = text.strip_prefix('-').unwrap_or(&text);
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 2 {
        return Err(AMOUNT_RULE.to_owned());
    }
    let whole: i64 = whole.parse().map_err(|_| AMOUNT_RULE.to_owned())?;
    let frac_cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| AMOUNT_RULE.to_owned())? * 10,
        _ => frac.parse::<i64>().map_err(|_| AMOUNT_RULE.to_owned())?,
    };
    MoneyCents::new(whole * 100 + frac_cents).map_err(|e| e.to_string())
}

// ---- one signal -----------------------------------------------------------------------------

/// Decodes one `vroegsignalen[]` item at pointer `base`. `delivered_at` is the envelope's
/// `aanleverdatumEnTijd`, which becomes `requested_at` when present.
fn signal(
    obj: &Obj,
    base: &str,
    delivered_at: Option<DateTime<Utc>>,
    ctx: &DecodeContext,
) -> Result<IncomingReferral, Vec<DecodeError>> {
    let mut e = Errors::new(base);
    e.unknown_keys(obj, "", &SIGNAL_KEYS);

    let reference = req_str(&mut e, obj, "/ID").and_then(|s| e.check("/ID", ExternalRef::parse(s)));
    let crisis = opt_bool(&mut e, obj, "/crisissignaal").unwrap_or(false);
    let warm_handover = opt_bool(&mut e, obj, "/warmeOverdracht").unwrap_or(false);
    let arrears = match get(obj, "/bedrag") {
        None => {
            e.at("/bedrag", "required");
            None
        }
        Some(Value::Number(n)) => cents_of(n).map_err(|rule| e.at("/bedrag", rule)).ok(),
        Some(_) => {
            e.at("/bedrag", AMOUNT_RULE);
            None
        }
    };
    let arrears_since = opt_date(&mut e, obj, "/ontstaansdatum");
    let signalled_on = req_date(&mut e, obj, "/signaaldatum");
    if let Some(s) = opt_str(&mut e, obj, "/status") {
        if !codes::SIGNAL_STATUSES.contains(&s) {
            e.at("/status", unknown_code(s, &codes::SIGNAL_STATUSES));
        }
    }
    signal_partner(&mut e, obj);
    let resident = client(&mut e, obj);
    let target = target(&mut e, obj, ctx);
    let arrangement = opt_str(&mut e, obj, "/betalingsregelingStatus").and_then(|s| {
        e.check(
            "/betalingsregelingStatus",
            codes::payment_arrangement_status(s),
        )
    });
    let listed_needs = leefgebieden(&mut e, obj);
    let gateway_id = opt_str(&mut e, obj, "/verwijzingId")
        .and_then(|s| e.check("/verwijzingId", ReferralId::parse(s)));

    let (Some(reference), Some(arrears), Some(signalled_on), Some(resident), Some(target)) =
        (reference, arrears, signalled_on, resident, target)
    else {
        return Err(incomplete(e));
    };
    if !e.list.is_empty() {
        return Err(e.list);
    }
    let facts = SignalFacts {
        crisis,
        warm_handover,
        arrears,
        arrears_since,
        signalled_on,
        arrangement,
    };
    let needs = match listed_needs {
        Some(needs) => needs,
        None => match codes::derived_needs(&facts) {
            Ok(needs) => needs,
            Err(err) => return Err(vec![DecodeError::at_pointer(base.to_owned(), err)]),
        },
    };
    let requested_at =
        delivered_at.unwrap_or_else(|| signalled_on.and_time(chrono::NaiveTime::MIN).and_utc());
    Ok(IncomingReferral {
        gateway_id,
        request: ReferralRequest {
            source: Source {
                partner: ctx.sender.clone(),
                reference,
            },
            target,
            urgency: codes::derived_urgency(&facts),
            requested_at,
            resident,
            needs,
            note: None,
            finance: Some(crate::model::FinancialSituation {
                arrears,
                arrears_since,
                signalled_on: Some(signalled_on),
            }),
        },
        consent: None,
    })
}

/// The errors of a record some required part of which is missing; never empty.
fn incomplete(e: Errors) -> Vec<DecodeError> {
    if e.list.is_empty() {
        vec![DecodeError::at_pointer(e.base.to_owned(), "is incomplete")]
    } else {
        e.list
    }
}

fn unknown_code(code: &str, expected: &[&str]) -> ModelError {
    ModelError::UnknownCode {
        code: code.chars().take(40).collect(),
        expected: expected.join(", "),
    }
}

fn signal_partner(e: &mut Errors, obj: &Obj) {
    let Some(partner) = req_obj(e, obj, "/signaalpartner") else {
        return;
    };
    e.unknown_keys(partner, "/signaalpartner", &["type"]);
    match req_str(e, partner, "/signaalpartner/type") {
        Some(codes::HOUSING_PARTNER_TYPE) | None => {}
        Some(t) if codes::SIGNAL_PARTNER_TYPES.contains(&t) => e.at(
            "/signaalpartner/type",
            format_args!(
                "signaalpartner.type must be {} for a housing signal; got {t}",
                codes::HOUSING_PARTNER_TYPE
            ),
        ),
        Some(t) => e.at(
            "/signaalpartner/type",
            unknown_code(t, &codes::SIGNAL_PARTNER_TYPES),
        ),
    }
}

fn client(e: &mut Errors, obj: &Obj) -> Option<Resident> {
    let c = req_obj(e, obj, "/client")?;
    e.unknown_keys(c, "/client", &CLIENT_KEYS);

    let bsn = req_str(e, c, "/client/Burgerservicenummer")
        .and_then(|s| e.check("/client/Burgerservicenummer", Bsn::parse(s)));
    let initials = opt_text(e, c, "/client/Voorletters");
    let prefix = opt_text(e, c, "/client/Voorvoegsel");
    let family_name = req_str(e, c, "/client/Achternaam")
        .and_then(|s| e.check("/client/Achternaam", PersonalText::parse(s)));
    let birth_date = opt_date(e, c, "/client/Geboortedatum");

    let street = opt_text(e, c, "/client/Straatnaam");
    let town = opt_text(e, c, "/client/Plaatsnaam");
    let postcode = opt_str(e, c, "/client/Postcode");
    let number = opt_str(e, c, "/client/Huisnummer");
    let addition = opt_str(e, c, "/client/Huisnummertoevoeging");
    let any_address = street.is_some()
        || town.is_some()
        || postcode.is_some()
        || number.is_some()
        || addition.is_some();
    let mut address = None;
    if any_address {
        let postcode = match postcode {
            Some(p) => e.check("/client/Postcode", Postcode::parse(p)),
            None if get(c, "/client/Postcode").is_some() => None,
            None => {
                e.at("/client/Postcode", "required when an address is given");
                None
            }
        };
        let number = match number {
            Some(n) => e.check("/client/Huisnummer", HouseNumber::parse(n.trim())),
            None if get(c, "/client/Huisnummer").is_some() => None,
            None => {
                e.at("/client/Huisnummer", "required when an address is given");
                None
            }
        };
        let (letter, addition) = match addition.map(split_addition) {
            None => (None, None),
            Some(Ok(parts)) => parts,
            Some(Err(rule)) => {
                e.at("/client/Huisnummertoevoeging", rule);
                (None, None)
            }
        };
        if let (Some(postcode), Some(house_number)) = (postcode, number) {
            address = Some(Address {
                postcode,
                house_number,
                house_letter: letter,
                house_number_addition: addition,
                street,
                town,
            });
        }
    }
    let (bsn, family_name) = (bsn?, family_name?);
    Some(Resident {
        identity: Some(Identity {
            bsn,
            name: PersonName {
                given_names: None,
                initials,
                prefix,
                family_name,
            },
            birth_date,
            gender: None,
        }),
        contact: address.map(|a| Contact {
            address: Some(a),
            phone: None,
            email: None,
        }),
    })
}

const ADDITION_RULE: &str = "must be a house letter (e.g. A), an addition of 1 to 4 letters or \
                             digits (e.g. bis), or a letter and an addition joined by '-' (e.g. A-2)";

/// `Huisnummertoevoeging` → (house letter, addition): one letter is a house letter, `X-YYYY`
/// is a letter and an addition, anything else (1–4 letters or digits) an addition.
pub(super) fn split_addition(s: &str) -> Result<(Option<char>, Option<String>), &'static str> {
    let s = s.trim();
    if let Ok(letter) = Address::parse_house_letter(s) {
        return Ok((Some(letter), None));
    }
    if let Some((l, a)) = s.split_once('-') {
        let letter = Address::parse_house_letter(l).map_err(|_| ADDITION_RULE)?;
        let addition = Address::parse_house_number_addition(a).map_err(|_| ADDITION_RULE)?;
        return Ok((Some(letter), Some(addition)));
    }
    Address::parse_house_number_addition(s)
        .map(|a| (None, Some(a)))
        .map_err(|_| ADDITION_RULE)
}

fn target(e: &mut Errors, obj: &Obj, ctx: &DecodeContext) -> Option<Target> {
    let partner = opt_str(e, obj, "/doelpartner");
    let sector = opt_str(e, obj, "/doelsector");
    match (partner, sector) {
        (Some(_), Some(_)) => {
            e.at("/doelsector", "must not be given together with doelpartner");
            None
        }
        (Some(p), None) => {
            let p = e.check("/doelpartner", PartnerId::parse(p))?;
            if ctx.directory.partner(&p).is_none() {
                e.at(
                    "/doelpartner",
                    "must be a partner in the gateway's directory",
                );
                return None;
            }
            Some(Target::Partner(p))
        }
        (None, Some(s)) => e
            .check("/doelsector", s.parse::<Sector>())
            .map(Target::Sector),
        (None, None) => Some(Target::Sector(Sector::Welfare)),
    }
}

/// The `leefgebieden` extension: `[{"leefgebied": code, "ernst": 1..5}]`.
fn leefgebieden(e: &mut Errors, obj: &Obj) -> Option<Vec<Need>> {
    let items = opt_array(e, obj, "/leefgebieden")?;
    let before = e.list.len();
    let mut needs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let rel = format!("/leefgebieden/{i}");
        let Value::Object(item) = item else {
            e.at(&rel, "must be an object");
            continue;
        };
        e.unknown_keys(item, &rel, &["leefgebied", "ernst"]);
        let domain = req_str(e, item, &format!("{rel}/leefgebied"))
            .and_then(|c| e.check(&format!("{rel}/leefgebied"), codes::domain_from_code(c)));
        let severity = match get(item, "ernst") {
            None => {
                e.at(&format!("{rel}/ernst"), "required");
                None
            }
            Some(Value::Number(n)) => {
                let s = n
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or(ModelError::Severity)
                    .and_then(Severity::new);
                e.check(&format!("{rel}/ernst"), s)
            }
            Some(_) => {
                e.at(&format!("{rel}/ernst"), "must be a number from 1 to 5");
                None
            }
        };
        if let (Some(domain), Some(severity)) = (domain, severity) {
            needs.push(Need::new(domain, severity));
        }
    }
    if e.list.len() > before {
        return None;
    }
    e.check("/leefgebieden", ReferralRequest::check_needs(&needs))?;
    Some(needs)
}

// ---- the delivery envelope ------------------------------------------------------------------

fn envelope(root: &Obj, ctx: &DecodeContext) -> Out {
    let mut head = Errors::new("");
    let _ = req_str(&mut head, root, "/codeGegevensleverancier");
    let _ = req_date(&mut head, root, "/startdatumLevering");
    let _ = req_date(&mut head, root, "/einddatumLevering");
    let delivered_at = req_date_time(&mut head, root, "/aanleverdatumEnTijd");

    let mut out = Out::new();
    let mut signals = 0usize;
    match get(root, "/leveringen") {
        None => head.at("/leveringen", "required"),
        Some(Value::Array(leveringen)) => {
            for (i, levering) in leveringen.iter().enumerate() {
                let rel = format!("/leveringen/{i}");
                let Value::Object(levering) = levering else {
                    head.at(&rel, "must be an object");
                    continue;
                };
                match get(levering, "teller") {
                    None => head.at(&format!("{rel}/teller"), "required"),
                    Some(v) if v.is_u64() || v.is_i64() => {}
                    Some(_) => head.at(&format!("{rel}/teller"), "must be an integer"),
                }
                let _ = req_str(&mut head, levering, &format!("{rel}/gemeentecode"));
                let _ = req_obj(
                    &mut head,
                    levering,
                    &format!("{rel}/aanleverende_organisatie"),
                );
                let Some(items) = opt_array(&mut head, levering, &format!("{rel}/vroegsignalen"))
                else {
                    continue;
                };
                for (j, item) in items.iter().enumerate() {
                    signals += 1;
                    let base = format!("{rel}/vroegsignalen/{j}");
                    match item {
                        Value::Object(s) => {
                            push_signal(&mut out, signal(s, &base, delivered_at, ctx))
                        }
                        _ => out.push(Err(DecodeError::at_pointer(base, "must be an object"))),
                    }
                }
            }
        }
        Some(_) => head.at("/leveringen", "must be an array"),
    }
    if signals == 0 && head.list.is_empty() {
        head.at("/leveringen", "must contain at least one vroegsignaal");
    }
    if head.list.is_empty() {
        return out;
    }
    // A malformed envelope refuses the whole delivery: its own problems, then every problem
    // of its signals, and no records.
    let mut refused: Out = head.list.into_iter().map(Err).collect();
    refused.extend(out.into_iter().filter(Result::is_err));
    refused
}

// ---- the status callback --------------------------------------------------------------------

fn status_callback(obj: &Obj) -> Out {
    let mut e = Errors::new("");
    e.unknown_keys(obj, "", &CALLBACK_KEYS);
    match req_str(&mut e, obj, "/schema") {
        Some(CALLBACK_SCHEMA) | None => {}
        Some(_) => e.at("/schema", format_args!("must be {CALLBACK_SCHEMA}")),
    }
    let signal_id = opt_str(&mut e, obj, "/signaal_id")
        .and_then(|s| e.check("/signaal_id", ExternalRef::parse(s)));
    let referral_id = opt_str(&mut e, obj, "/referral_id")
        .and_then(|s| e.check("/referral_id", ReferralId::parse(s)));
    if get(obj, "/signaal_id").is_none() && get(obj, "/referral_id").is_none() {
        e.at("/signaal_id", "required when referral_id is absent");
    }
    let status =
        req_str(&mut e, obj, "/status").and_then(|s| e.check("/status", codes::callback_status(s)));
    let at = req_date_time(&mut e, obj, "/at");
    let reason =
        opt_str(&mut e, obj, "/reden").and_then(|s| e.check("/reden", ReasonText::parse(s)));
    let reason_code = opt_str(&mut e, obj, "/reden_code")
        .and_then(|s| e.check("/reden_code", ExternalRef::parse(s)));

    let referral = referral_id
        .map(ReferralRef::Id)
        .or(signal_id.map(ReferralRef::External));
    let (Some(referral), Some(status), Some(at)) = (referral, status, at) else {
        return incomplete(e).into_iter().map(Err).collect();
    };
    if !e.list.is_empty() {
        return e.list.into_iter().map(Err).collect();
    }
    match StatusUpdate::new(referral, status, at) {
        Ok(mut update) => {
            update.reason = reason;
            update.reason_code = reason_code.map(|c| c.as_str().to_owned());
            vec![Ok(Record::Status(update))]
        }
        Err(err) => vec![Err(DecodeError::at_pointer("/status", err))],
    }
}
