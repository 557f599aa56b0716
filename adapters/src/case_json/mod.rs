//! `case-json`: the gateway's own JSON form of the case model, `"schema": "wijkbrug.case/1"`.
//!
//! Partners without a legacy format send and receive this. A document is a referral
//! (`"kind": "referral"`) or a status update (`"kind": "status"`); an array of documents is a
//! batch, each element its own record. The JSON Schema, generated from [`wire`], is checked in
//! at `adapters/schemas/wijkbrug.case-1.schema.json` ([`json_schema`] regenerates it).
//!
//! Decoding is two-step: the JSON is read into the [`wire`] shapes (unknown fields refused),
//! then every field is validated into the model, collecting every problem with its JSON
//! pointer. Messages never quote the input's values.
//!
//! The same form, with `id` and `history`, is how the gateway stores a referral:
//! [`encode_tracked`] / [`decode_tracked`].

pub mod wire;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::adapter::{
    Adapter, DecodeContext, DecodeError, Directory, EncodeError, Format, IncomingReferral,
    Location, OutgoingReferral, OutgoingStatus, Record, Records,
};
use crate::model::*;
use wire::*;

/// The schema tag of this version.
pub const SCHEMA: &str = "wijkbrug.case/1";
/// The most documents one batch may hold.
pub const MAX_BATCH: usize = 10_000;

/// The case-json adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct CaseJson;

impl Adapter for CaseJson {
    fn format(&self) -> Format {
        Format::CaseJson
    }

    fn decode<'a>(&'a self, input: &'a [u8], ctx: &'a DecodeContext) -> Records<'a> {
        let value: Value = match serde_json::from_slice(input) {
            Ok(v) => v,
            Err(e) => return Box::new(std::iter::once(Err(syntax_error(&e)))),
        };
        match value {
            Value::Array(items) if items.len() > MAX_BATCH => Box::new(std::iter::once(Err(
                DecodeError::at_pointer("", format!("a batch holds at most {MAX_BATCH} documents")),
            ))),
            Value::Array(items) if items.is_empty() => Box::new(std::iter::once(Err(
                DecodeError::at_pointer("", "a batch must hold at least one document"),
            ))),
            Value::Array(items) => Box::new(
                items
                    .into_iter()
                    .enumerate()
                    .flat_map(move |(i, v)| one_document(v, &format!("/{i}"), Some(ctx))),
            ),
            v => Box::new(one_document(v, "", Some(ctx)).into_iter()),
        }
    }

    fn encode_referral(
        &self,
        referral: OutgoingReferral<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        Ok(to_json(&CaseDocument::Referral(Box::new(wire_referral(
            Some(referral.id),
            referral.request,
            None,
        )))))
    }

    fn encode_status(
        &self,
        status: OutgoingStatus<'_>,
        _directory: &Directory,
    ) -> Result<Vec<u8>, EncodeError> {
        let u = status.update;
        let wire = WireStatus {
            schema: SchemaVersion::V1,
            kind: StatusKind::Status,
            referral_id: Some(status.id.to_string()),
            reference: Some(status.request.source.reference.as_str().to_owned()),
            status: match u.status {
                ReferralStatus::Accepted => WireReportable::Accepted,
                ReferralStatus::Declined => WireReportable::Declined,
                ReferralStatus::InProgress => WireReportable::InProgress,
                ReferralStatus::Completed => WireReportable::Completed,
                ReferralStatus::Cancelled => WireReportable::Cancelled,
                other => {
                    return Err(EncodeError::Unsupported {
                        format: Format::CaseJson,
                        what: format!("a status update to {other}"),
                    })
                }
            },
            at: u.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            reason: u.reason.as_ref().map(|r| r.as_str().to_owned()),
            reason_code: u.reason_code.clone(),
        };
        Ok(to_json(&CaseDocument::Status(wire)))
    }
}

/// The JSON Schema of `wijkbrug.case/1`, pretty-printed, as checked in.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(CaseDocument);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// A stored referral: the request with its id and status history.
pub fn encode_tracked(referral: &Referral) -> Vec<u8> {
    let history = referral
        .history
        .transitions()
        .iter()
        .map(|t| WireTransition {
            status: wire_status_code(t.to),
            at: rfc3339(t.at),
            by: match &t.by {
                Actor::Gateway => "gateway".to_owned(),
                Actor::Partner(p) => format!("partner:{p}"),
                Actor::Operator(o) => format!("operator:{o}"),
            },
            reason: t.reason.as_ref().map(|r| r.as_str().to_owned()),
            reason_code: t.reason_code.clone(),
        })
        .collect();
    to_json_compact(&wire_referral(
        Some(referral.id),
        &referral.request,
        Some(history),
    ))
}

/// Reads back what [`encode_tracked`] wrote. Requires `id` and `history`.
pub fn decode_tracked(input: &[u8]) -> Result<Referral, Vec<DecodeError>> {
    let wire = stored_wire(input)?;
    let mut p = Problems::new("");
    let id = match &wire.id {
        Some(id) => p.check("/id", ReferralId::parse(id)),
        None => {
            p.push("/id", "required in a stored referral");
            None
        }
    };
    let history = match &wire.history {
        Some(h) => history_from_wire(h, &mut p),
        None => {
            p.push("/history", "required in a stored referral");
            None
        }
    };
    let request = request_from_wire(&wire, None, &mut p);
    match (id, history, request, p.into_result()) {
        (Some(id), Some(history), Some(request), Ok(())) => Ok(Referral {
            id,
            request,
            history,
        }),
        (_, _, _, Err(errors)) => Err(errors),
        _ => Err(vec![DecodeError::document("incomplete stored referral")]),
    }
}

/// A referral request (with its id) in the compact stored form, without history: how the
/// gateway stores the copy it shared with a receiver.
pub fn encode_request(id: ReferralId, request: &ReferralRequest) -> Vec<u8> {
    to_json_compact(&wire_referral(Some(id), request, None))
}

/// Reads back what [`encode_request`] wrote. Unlike a partner's message, the source partner is
/// not checked against a sender.
pub fn decode_request(input: &[u8]) -> Result<(ReferralId, ReferralRequest), Vec<DecodeError>> {
    let wire = stored_wire(input)?;
    let mut p = Problems::new("");
    let id = match &wire.id {
        Some(id) => p.check("/id", ReferralId::parse(id)),
        None => {
            p.push("/id", "required in a stored referral");
            None
        }
    };
    let request = request_from_wire(&wire, None, &mut p);
    match (id, request, p.into_result()) {
        (Some(id), Some(request), Ok(())) => Ok((id, request)),
        (_, _, Err(errors)) => Err(errors),
        _ => Err(vec![DecodeError::document("incomplete stored referral")]),
    }
}

// ---- decoding ------------------------------------------------------------------------

/// A stored document in its wire shape: parsed straight into it, and only a document that
/// does not fit goes the slower way through a `Value`, whose error names the path. (What the
/// direct parse takes, the slower way takes too, into the same shape.)
fn stored_wire(input: &[u8]) -> Result<WireReferral, Vec<DecodeError>> {
    match serde_json::from_slice(input) {
        Ok(wire) => Ok(wire),
        Err(_) => {
            let value: Value = serde_json::from_slice(input).map_err(|e| vec![syntax_error(&e)])?;
            from_value(value, "").map_err(|e| vec![e])
        }
    }
}

fn one_document(
    value: Value,
    base: &str,
    ctx: Option<&DecodeContext>,
) -> Vec<Result<Record, DecodeError>> {
    let Some(obj) = value.as_object() else {
        return vec![Err(DecodeError::at_pointer(
            base,
            "must be a JSON object (a wijkbrug.case/1 document)",
        ))];
    };
    match obj.get("schema") {
        Some(Value::String(s)) if s == SCHEMA => {}
        Some(_) => {
            return vec![Err(DecodeError::at_pointer(
                format!("{base}/schema"),
                format!("must be \"{SCHEMA}\" (the version this gateway reads)"),
            ))]
        }
        None => {
            return vec![Err(DecodeError::at_pointer(
                format!("{base}/schema"),
                format!("required: \"{SCHEMA}\""),
            ))]
        }
    }
    let kind = obj.get("kind").and_then(Value::as_str).map(str::to_owned);
    match kind.as_deref() {
        Some("referral") => match from_value::<WireReferral>(value, base) {
            Err(e) => vec![Err(e)],
            Ok(w) => {
                let mut p = Problems::new(base);
                let incoming = incoming_from_wire(&w, ctx, &mut p);
                match (p.into_result(), incoming) {
                    (Ok(()), Some(i)) => vec![Ok(Record::Referral(Box::new(i)))],
                    (Err(errors), _) => errors.into_iter().map(Err).collect(),
                    (Ok(()), None) => vec![Err(DecodeError::at_pointer(
                        base,
                        "is not a valid referral",
                    ))],
                }
            }
        },
        Some("status") => {
            vec![from_value::<WireStatus>(value, base).and_then(|w| status_from_wire(&w, base))]
        }
        _ => vec![Err(DecodeError::at_pointer(
            format!("{base}/kind"),
            "required: \"referral\" or \"status\"",
        ))],
    }
}

fn from_value<T: serde::de::DeserializeOwned>(value: Value, base: &str) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut pointer = base.to_owned();
        for seg in e.path().iter() {
            use serde_path_to_error::Segment;
            match seg {
                Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
                Segment::Map { key } => {
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                }
                Segment::Enum { variant } => {
                    pointer.push('/');
                    pointer.push_str(variant);
                }
                Segment::Unknown => {}
            }
        }
        let message = e.inner().to_string();
        // serde reports a missing field at its parent: point at the field itself.
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            pointer.push('/');
            pointer.push_str(field);
        }
        DecodeError::at_pointer(pointer, sanitize(&message))
    })
}

/// Turns serde's message into a rule that does not quote the input.
fn sanitize(msg: &str) -> String {
    if msg.starts_with("missing field") {
        return msg
            .replace("missing field", "required field")
            .replace('`', "\"");
    }
    if let Some(rest) = msg.strip_prefix("unknown field") {
        let expected = rest.split_once(", expected").map_or("", |(_, e)| e).trim();
        return format!(
            "unknown field (not part of {SCHEMA}); expected {}",
            expected.replace('`', "\"")
        );
    }
    if let Some((_, expected)) = msg.split_once(", expected ") {
        return format!("must be {}", expected.replace('`', "\""));
    }
    if msg.contains('"') || msg.contains('`') {
        return "is not a valid value here".to_owned();
    }
    msg.to_owned()
}

fn syntax_error(e: &serde_json::Error) -> DecodeError {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "the JSON ends too early",
        serde_json::error::Category::Syntax => "the input is not well-formed JSON",
        serde_json::error::Category::Data => "the JSON holds a value that cannot be read",
        serde_json::error::Category::Io => "the input could not be read",
    };
    let detail = sanitize(&e.to_string());
    DecodeError::new(
        Location::Document,
        format!(
            "{what} (line {}, column {}): {detail}",
            e.line(),
            e.column()
        ),
    )
}

/// Collects problems with their pointers.
struct Problems {
    base: String,
    list: Vec<DecodeError>,
}

impl Problems {
    fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            list: Vec::new(),
        }
    }

    fn push(&mut self, pointer: &str, rule: impl std::fmt::Display) {
        self.list.push(DecodeError::at_pointer(
            format!("{}{}", self.base, pointer),
            rule,
        ));
    }

    fn check<T>(&mut self, pointer: &str, r: Result<T, ModelError>) -> Option<T> {
        r.map_err(|e| self.push(pointer, e)).ok()
    }

    fn opt<T>(
        &mut self,
        pointer: &str,
        v: Option<&String>,
        parse: impl Fn(&str) -> Result<T, ModelError>,
    ) -> Option<Option<T>> {
        match v {
            None => Some(None),
            Some(s) => self.check(pointer, parse(s)).map(Some),
        }
    }

    fn into_result(self) -> Result<(), Vec<DecodeError>> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(self.list)
        }
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 date-time with offset, e.g. 2026-11-02T09:30:00Z")
}

fn parse_date(s: &str) -> Result<NaiveDate, &'static str> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|_| s.len() == 10)
        .ok_or("must be a date yyyy-mm-dd, e.g. 1980-04-12")
}

fn time_at(p: &mut Problems, pointer: &str, s: &str) -> Option<DateTime<Utc>> {
    parse_time(s).map_err(|e| p.push(pointer, e)).ok()
}

fn date_at(p: &mut Problems, pointer: &str, s: Option<&String>) -> Option<Option<NaiveDate>> {
    match s {
        None => Some(None),
        Some(s) => parse_date(s).map(Some).map_err(|e| p.push(pointer, e)).ok(),
    }
}

fn incoming_from_wire(
    w: &WireReferral,
    ctx: Option<&DecodeContext>,
    p: &mut Problems,
) -> Option<IncomingReferral> {
    let gateway_id = match &w.id {
        Some(id) => p.check("/id", ReferralId::parse(id)).map(Some),
        None => Some(None),
    };
    let request = request_from_wire(w, ctx, p);
    let consent = match (&w.consent, &request) {
        (None, _) => Some(None),
        (Some(c), Some(r)) => match (&r.resident.identity, ctx) {
            (Some(identity), Some(ctx)) => {
                consent_from_wire(c, identity.bsn, &ctx.sender, p).map(Some)
            }
            (None, _) => {
                p.push(
                    "/consent",
                    "a consent needs the resident's identity (BSN) in /resident/identity",
                );
                None
            }
            (_, None) => Some(None),
        },
        (Some(_), None) => None,
    };
    Some(IncomingReferral {
        gateway_id: gateway_id?,
        request: request?,
        consent: consent?,
    })
}

fn request_from_wire(
    w: &WireReferral,
    ctx: Option<&DecodeContext>,
    p: &mut Problems,
) -> Option<ReferralRequest> {
    let partner = p.check("/source/partner", PartnerId::parse(&w.source.partner));
    if let (Some(partner), Some(ctx)) = (&partner, ctx) {
        if partner != &ctx.sender {
            p.push(
                "/source/partner",
                format!("must be the authenticated sender, {}", ctx.sender),
            );
        }
    }
    let reference = p.check("/source/reference", ExternalRef::parse(&w.source.reference));
    let target = match &w.target {
        WireTarget::Partner(id) => p
            .check("/target/partner", PartnerId::parse(id))
            .map(Target::Partner),
        WireTarget::Sector(s) => Some(Target::Sector(sector_from_wire(*s))),
    };
    let requested_at = time_at(p, "/requested_at", &w.requested_at);
    let identity = match &w.resident.identity {
        None => Some(None),
        Some(i) => identity_from_wire(i, p).map(Some),
    };
    let contact = match &w.resident.contact {
        None => Some(None),
        Some(c) => contact_from_wire(c, p).map(Some),
    };
    let mut needs = Vec::with_capacity(w.needs.len());
    let mut needs_ok = true;
    for (i, n) in w.needs.iter().enumerate() {
        let severity = p.check(&format!("/needs/{i}/severity"), Severity::new(n.severity));
        let note = p.opt(&format!("/needs/{i}/note"), n.note.as_ref(), Note::parse);
        match (severity, note) {
            (Some(severity), Some(note)) => needs.push(Need {
                domain: domain_from_wire(n.domain),
                severity,
                note,
            }),
            _ => needs_ok = false,
        }
    }
    // A partner's message must state a need; a stored, minimised copy may have none left.
    if needs_ok && ctx.is_some() {
        p.check("/needs", ReferralRequest::check_needs(&needs));
    }
    let note = p.opt("/note", w.note.as_ref(), Note::parse);
    let finance = match &w.finance {
        None => Some(None),
        Some(f) => {
            let arrears = p.check("/finance/arrears_cents", MoneyCents::new(f.arrears_cents));
            let since = date_at(p, "/finance/arrears_since", f.arrears_since.as_ref());
            let on = date_at(p, "/finance/signalled_on", f.signalled_on.as_ref());
            match (arrears, since, on) {
                (Some(arrears), Some(arrears_since), Some(signalled_on)) => {
                    Some(Some(FinancialSituation {
                        arrears,
                        arrears_since,
                        signalled_on,
                    }))
                }
                _ => None,
            }
        }
    };
    if !needs_ok {
        return None;
    }
    Some(ReferralRequest {
        source: Source {
            partner: partner?,
            reference: reference?,
        },
        target: target?,
        urgency: urgency_from_wire(w.urgency),
        requested_at: requested_at?,
        resident: Resident {
            identity: identity?,
            contact: contact?,
        },
        needs,
        note: note?,
        finance: finance?,
    })
}

fn identity_from_wire(i: &WireIdentity, p: &mut Problems) -> Option<Identity> {
    let bsn = p.check("/resident/identity/bsn", Bsn::parse(&i.bsn));
    let given_names = p.opt(
        "/resident/identity/name/given_names",
        i.name.given_names.as_ref(),
        PersonalText::parse,
    );
    let initials = p.opt(
        "/resident/identity/name/initials",
        i.name.initials.as_ref(),
        PersonalText::parse,
    );
    let prefix = p.opt(
        "/resident/identity/name/prefix",
        i.name.prefix.as_ref(),
        PersonalText::parse,
    );
    let family_name = p.check(
        "/resident/identity/name/family_name",
        PersonalText::parse(&i.name.family_name),
    );
    let birth_date = date_at(p, "/resident/identity/birth_date", i.birth_date.as_ref());
    Some(Identity {
        bsn: bsn?,
        name: PersonName {
            given_names: given_names?,
            initials: initials?,
            prefix: prefix?,
            family_name: family_name?,
        },
        birth_date: birth_date?,
        gender: i.gender.map(gender_from_wire),
    })
}

fn contact_from_wire(c: &WireContact, p: &mut Problems) -> Option<Contact> {
    let address = match &c.address {
        None => Some(None),
        Some(a) => {
            let postcode = p.check(
                "/resident/contact/address/postcode",
                Postcode::parse(&a.postcode),
            );
            let house_number = p.check(
                "/resident/contact/address/house_number",
                HouseNumber::new(a.house_number),
            );
            let house_letter = p.opt(
                "/resident/contact/address/house_letter",
                a.house_letter.as_ref(),
                Address::parse_house_letter,
            );
            let addition = p.opt(
                "/resident/contact/address/house_number_addition",
                a.house_number_addition.as_ref(),
                Address::parse_house_number_addition,
            );
            let street = p.opt(
                "/resident/contact/address/street",
                a.street.as_ref(),
                PersonalText::parse,
            );
            let town = p.opt(
                "/resident/contact/address/town",
                a.town.as_ref(),
                PersonalText::parse,
            );
            (|| {
                Some(Some(Address {
                    postcode: postcode?,
                    house_number: house_number?,
                    house_letter: house_letter?,
                    house_number_addition: addition?,
                    street: street?,
                    town: town?,
                }))
            })()
        }
    };
    let phone = p.opt("/resident/contact/phone", c.phone.as_ref(), Phone::parse);
    let email = p.opt("/resident/contact/email", c.email.as_ref(), Email::parse);
    let contact = Contact {
        address: address?,
        phone: phone?,
        email: email?,
    };
    if contact.is_empty() {
        p.push(
            "/resident/contact",
            "must hold an address, a phone number or an e-mail address (or be left out)",
        );
        return None;
    }
    Some(contact)
}

fn consent_from_wire(
    c: &WireConsent,
    resident: Bsn,
    recorded_by: &PartnerId,
    p: &mut Problems,
) -> Option<Consent> {
    let grantee = match &c.grantee {
        WireTarget::Partner(id) => p
            .check("/consent/grantee/partner", PartnerId::parse(id))
            .map(Grantee::Partner),
        WireTarget::Sector(s) => Some(Grantee::Sector(sector_from_wire(*s))),
    };
    let valid_from = time_at(p, "/consent/valid_from", &c.valid_from);
    let valid_until = match &c.valid_until {
        None => Some(None),
        Some(s) => time_at(p, "/consent/valid_until", s).map(Some),
    };
    let evidence = p.opt("/consent/evidence", c.evidence.as_ref(), ExternalRef::parse);
    let consent = Consent {
        resident,
        grantee: grantee?,
        purpose: match c.purpose {
            WirePurpose::Referral => Purpose::Referral,
            WirePurpose::Coordination => Purpose::Coordination,
        },
        effect: match c.effect {
            WireEffect::Permit => ConsentEffect::Permit,
            WireEffect::Deny => ConsentEffect::Deny,
        },
        categories: c
            .categories
            .iter()
            .map(|c| category_from_wire(*c))
            .collect(),
        valid_from: valid_from?,
        valid_until: valid_until?,
        recorded_by: recorded_by.clone(),
        evidence: evidence?,
        revoked_at: None,
    };
    match consent.check() {
        Ok(()) => Some(consent),
        Err(ModelError::NoCategories) => {
            p.push("/consent/categories", ModelError::NoCategories);
            None
        }
        Err(e) => {
            p.push("/consent/valid_until", e);
            None
        }
    }
}

fn status_from_wire(w: &WireStatus, base: &str) -> Result<Record, DecodeError> {
    let mut p = Problems::new(base);
    let referral = match (&w.referral_id, &w.reference) {
        (Some(id), _) => p
            .check("/referral_id", ReferralId::parse(id))
            .map(ReferralRef::Id),
        (None, Some(r)) => p
            .check("/reference", ExternalRef::parse(r))
            .map(ReferralRef::External),
        (None, None) => {
            p.push(
                "/referral_id",
                "required: name the referral by referral_id or by your reference",
            );
            None
        }
    };
    let at = time_at(&mut p, "/at", &w.at);
    let reason = p.opt("/reason", w.reason.as_ref(), ReasonText::parse);
    let reason_code = match &w.reason_code {
        Some(c) if c.is_empty() || c.len() > 64 || c.chars().any(char::is_control) => {
            p.push("/reason_code", "must be 1 to 64 printable characters");
            None
        }
        other => Some(other.clone()),
    };
    let status = match w.status {
        WireReportable::Accepted => ReferralStatus::Accepted,
        WireReportable::Declined => ReferralStatus::Declined,
        WireReportable::InProgress => ReferralStatus::InProgress,
        WireReportable::Completed => ReferralStatus::Completed,
        WireReportable::Cancelled => ReferralStatus::Cancelled,
    };
    let first_error = p.list.first().cloned();
    match (referral, at, reason, reason_code) {
        (Some(referral), Some(at), Some(reason), Some(reason_code)) => {
            let mut u = StatusUpdate::new(referral, status, at)
                .map_err(|e| DecodeError::at_pointer(format!("{base}/status"), e))?;
            u.reason = reason;
            u.reason_code = reason_code;
            Ok(Record::Status(u))
        }
        _ => Err(first_error.unwrap_or_else(|| DecodeError::document("invalid status update"))),
    }
}

fn history_from_wire(h: &[WireTransition], p: &mut Problems) -> Option<StatusHistory> {
    let mut transitions = Vec::with_capacity(h.len());
    for (i, t) in h.iter().enumerate() {
        let at = time_at(p, &format!("/history/{i}/at"), &t.at)?;
        let by = if t.by == "gateway" {
            Actor::Gateway
        } else if let Some(id) = t.by.strip_prefix("partner:") {
            Actor::Partner(p.check(&format!("/history/{i}/by"), PartnerId::parse(id))?)
        } else if let Some(name) = t.by.strip_prefix("operator:") {
            Actor::Operator(name.to_owned())
        } else {
            p.push(
                &format!("/history/{i}/by"),
                "must be gateway, partner:<id> or operator:<name>",
            );
            return None;
        };
        let reason = p.opt(
            &format!("/history/{i}/reason"),
            t.reason.as_ref(),
            ReasonText::parse,
        )?;
        transitions.push(Transition {
            to: status_from_code(t.status),
            at,
            by,
            reason,
            reason_code: t.reason_code.clone(),
        });
    }
    StatusHistory::from_transitions(transitions)
        .map_err(|e| p.push("/history", e))
        .ok()
}

// ---- encoding ------------------------------------------------------------------------

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail: no maps with non-string keys, no I/O.
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn to_json_compact<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn text(t: &PersonalText) -> String {
    t.as_str().to_owned()
}

fn wire_referral(
    id: Option<ReferralId>,
    r: &ReferralRequest,
    history: Option<Vec<WireTransition>>,
) -> WireReferral {
    WireReferral {
        schema: SchemaVersion::V1,
        kind: ReferralKind::Referral,
        id: id.map(|i| i.to_string()),
        source: WireSource {
            partner: r.source.partner.to_string(),
            reference: r.source.reference.to_string(),
        },
        target: match &r.target {
            Target::Partner(p) => WireTarget::Partner(p.to_string()),
            Target::Sector(s) => WireTarget::Sector(sector_to_wire(*s)),
        },
        urgency: match r.urgency {
            Urgency::Routine => WireUrgency::Routine,
            Urgency::Urgent => WireUrgency::Urgent,
            Urgency::Asap => WireUrgency::Asap,
            Urgency::Crisis => WireUrgency::Crisis,
        },
        requested_at: rfc3339(r.requested_at),
        resident: WireResident {
            identity: r.resident.identity.as_ref().map(|i| WireIdentity {
                bsn: i.bsn.to_string(),
                name: WireName {
                    given_names: i.name.given_names.as_ref().map(text),
                    initials: i.name.initials.as_ref().map(text),
                    prefix: i.name.prefix.as_ref().map(text),
                    family_name: text(&i.name.family_name),
                },
                birth_date: i.birth_date.map(|d| d.format("%Y-%m-%d").to_string()),
                gender: i.gender.map(gender_to_wire),
            }),
            contact: r.resident.contact.as_ref().map(|c| WireContact {
                address: c.address.as_ref().map(|a| WireAddress {
                    postcode: a.postcode.to_string(),
                    house_number: a.house_number.get(),
                    house_letter: a.house_letter.map(String::from),
                    house_number_addition: a.house_number_addition.clone(),
                    street: a.street.as_ref().map(text),
                    town: a.town.as_ref().map(text),
                }),
                phone: c.phone.as_ref().map(|p| p.as_str().to_owned()),
                email: c.email.as_ref().map(|e| e.as_str().to_owned()),
            }),
        },
        needs: r
            .needs
            .iter()
            .map(|n| WireNeed {
                domain: domain_to_wire(n.domain),
                severity: n.severity.get(),
                note: n.note.as_ref().map(|t| t.as_str().to_owned()),
            })
            .collect(),
        note: r.note.as_ref().map(|t| t.as_str().to_owned()),
        finance: r.finance.as_ref().map(|f| WireFinance {
            arrears_cents: f.arrears.get(),
            arrears_since: f.arrears_since.map(|d| d.format("%Y-%m-%d").to_string()),
            signalled_on: f.signalled_on.map(|d| d.format("%Y-%m-%d").to_string()),
        }),
        consent: None,
        history,
    }
}

// ---- code mappings (the wire enums spell the model's codes) ----------------------------

macro_rules! bimap {
    ($to:ident, $from:ident, $model:ty, $wire:ty, [$($v:ident),* $(,)?]) => {
        fn $to(v: $model) -> $wire {
            match v { $(<$model>::$v => <$wire>::$v),* }
        }
        fn $from(v: $wire) -> $model {
            match v { $(<$wire>::$v => <$model>::$v),* }
        }
    };
}

bimap!(
    sector_to_wire,
    sector_from_wire,
    Sector,
    WireSector,
    [Housing, Welfare, Care, Employment]
);
bimap!(
    gender_to_wire,
    gender_from_wire,
    Gender,
    WireGender,
    [Male, Female, Other, Unknown]
);
bimap!(
    domain_to_wire,
    domain_from_wire,
    LifeDomain,
    WireDomain,
    [
        Finances,
        WorkAndEducation,
        Housing,
        DomesticRelations,
        MentalHealth,
        PhysicalHealth,
        Addiction,
        DailyLiving,
        SocialNetwork,
        CommunityParticipation,
        Justice,
    ]
);
bimap!(
    wire_status_code,
    status_from_code,
    ReferralStatus,
    WireStatusCode,
    [
        Received,
        Routed,
        Delivered,
        Accepted,
        Declined,
        InProgress,
        Completed,
        Cancelled,
        ConsentMissing,
        Undeliverable,
    ]
);

fn urgency_from_wire(u: WireUrgency) -> Urgency {
    match u {
        WireUrgency::Routine => Urgency::Routine,
        WireUrgency::Urgent => Urgency::Urgent,
        WireUrgency::Asap => Urgency::Asap,
        WireUrgency::Crisis => Urgency::Crisis,
    }
}

fn category_from_wire(c: WireCategory) -> DataCategory {
    match c {
        WireCategory::Identity => DataCategory::Identity,
        WireCategory::Contact => DataCategory::Contact,
        WireCategory::Needs => DataCategory::Needs,
        WireCategory::Notes => DataCategory::Notes,
        WireCategory::Health => DataCategory::Health,
        WireCategory::Finance => DataCategory::Finance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_enums_spell_the_model_codes() {
        for d in LifeDomain::ALL {
            assert_eq!(serde_json::to_value(domain_to_wire(d)).unwrap(), d.code());
        }
        for s in ReferralStatus::ALL {
            assert_eq!(serde_json::to_value(wire_status_code(s)).unwrap(), s.code());
        }
        for s in Sector::ALL {
            assert_eq!(serde_json::to_value(sector_to_wire(s)).unwrap(), s.code());
        }
        for c in DataCategory::ALL {
            let w: WireCategory = serde_json::from_value(c.code().into()).unwrap();
            assert_eq!(category_from_wire(w), c);
        }
        for u in Urgency::ALL {
            let w: WireUrgency = serde_json::from_value(u.code().into()).unwrap();
            assert_eq!(urgency_from_wire(w), u);
        }
    }

    #[test]
    fn sanitised_messages_do_not_quote_the_input() {
        let m = sanitize("invalid type: string \"999900006\", expected u8");
        assert_eq!(m, "must be u8");
        let m = sanitize("unknown variant `Jansen`, expected one of `a`, `b`");
        assert!(!m.contains("Jansen"));
        assert_eq!(
            sanitize("something \"secret\""),
            "is not a valid value here"
        );
    }
}
