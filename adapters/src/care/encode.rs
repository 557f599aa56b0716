//! The case model → FHIR R4 JSON, through borrowed `Serialize` structs (no intermediate
//! `serde_json::Value`). See the module docs of [`super`] for the mapping.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::codes;
use crate::adapter::{EncodeError, Format, OutgoingReferral, OutgoingStatus};
use crate::model::{
    Address, Gender, Identity, PartnerId, ReferralId, ReferralRequest, Resident, Target,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bundle<'a> {
    resource_type: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    entry: [Entry<'a>; 3],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry<'a> {
    full_url: String,
    resource: Resource<'a>,
    request: Request,
}

#[derive(Serialize)]
struct Request {
    method: &'static str,
    url: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Resource<'a> {
    Patient(Patient<'a>),
    ServiceRequest(Box<ServiceRequest<'a>>),
    Task(Box<Task<'a>>),
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Patient<'a> {
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    identifier: Vec<Identifier<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    name: Vec<HumanName<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    telecom: Vec<ContactPoint<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gender: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    address: Vec<FhirAddress<'a>>,
}

#[derive(Serialize)]
struct Identifier<'a> {
    system: Cow<'a, str>,
    value: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HumanName<'a> {
    #[serde(rename = "use")]
    use_: &'static str,
    family: Cow<'a, str>,
    #[serde(rename = "_family", skip_serializing_if = "Option::is_none")]
    family_ext: Option<Element<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    given: Vec<&'a str>,
    #[serde(rename = "_given", skip_serializing_if = "Vec::is_empty")]
    given_ext: Vec<Element<'a>>,
}

#[derive(Serialize)]
struct Element<'a> {
    extension: Vec<Extension<'a>>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Extension<'a> {
    url: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_string: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_integer: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_money: Option<Money>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
}

#[derive(Serialize)]
struct Money {
    value: serde_json::Number,
    currency: &'static str,
}

#[derive(Serialize)]
struct ContactPoint<'a> {
    system: &'static str,
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FhirAddress<'a> {
    #[serde(rename = "use")]
    use_: &'static str,
    line: [String; 1],
    #[serde(rename = "_line")]
    line_ext: [Element<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    postal_code: &'a str,
}

#[derive(Serialize, Default)]
struct Reference<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identifier: Option<Identifier<'a>>,
}

#[derive(Serialize)]
struct CodeableConcept<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    coding: Vec<Coding<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct Coding<'a> {
    system: &'static str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    display: Option<&'static str>,
}

#[derive(Serialize)]
struct Annotation<'a> {
    text: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceRequest<'a> {
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extension: Vec<Extension<'a>>,
    identifier: [Identifier<'a>; 2],
    status: &'static str,
    intent: &'static str,
    priority: &'static str,
    subject: Reference<'a>,
    authored_on: String,
    requester: Reference<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    performer_type: Option<CodeableConcept<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    performer: Vec<Reference<'a>>,
    reason_code: Vec<CodeableConcept<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    note: Vec<Annotation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Task<'a> {
    resource_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    based_on: Vec<Reference<'a>>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_reason: Option<CodeableConcept<'a>>,
    intent: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    focus: Option<Reference<'a>>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authored_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requester: Option<Reference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<Reference<'a>>,
}

/// The fullUrls of a referral's Bundle entries, derived from the referral id alone: the
/// ServiceRequest is `urn:uuid:<referral id>`; the Patient and the Task get the same UUID with
/// its version set to 8 (custom) and byte 9 flipped by 1 and 2 respectively.
pub fn full_urls(id: ReferralId) -> [String; 3] {
    let derived = |tag: u8| {
        let mut b = *id.as_uuid().as_bytes();
        b[6] = (b[6] & 0x0f) | 0x80;
        b[9] ^= tag;
        Uuid::from_bytes(b)
    };
    [
        format!("urn:uuid:{}", derived(1).hyphenated()),
        format!("urn:uuid:{}", id.as_uuid().hyphenated()),
        format!("urn:uuid:{}", derived(2).hyphenated()),
    ]
}

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn partner_ref(p: &PartnerId) -> Reference<'_> {
    Reference {
        reference: None,
        kind: Some("Organization"),
        identifier: Some(Identifier {
            system: Cow::Borrowed(codes::PARTNER_SYSTEM),
            value: Cow::Borrowed(p.as_str()),
        }),
    }
}

fn gender_code(g: Gender) -> &'static str {
    match g {
        Gender::Male => "male",
        Gender::Female => "female",
        Gender::Other => "other",
        Gender::Unknown => "unknown",
    }
}

fn string_ext<'a>(url: &'static str, v: &'a str) -> Extension<'a> {
    Extension {
        url,
        value_string: Some(Cow::Borrowed(v)),
        ..Extension::default()
    }
}

fn qualifier(code: &'static str) -> Element<'static> {
    Element {
        extension: vec![Extension {
            url: codes::QUALIFIER_EXTENSION,
            value_code: Some(code),
            ..Extension::default()
        }],
    }
}

fn human_name(i: &Identity) -> HumanName<'_> {
    let n = &i.name;
    let (family, family_ext) = match &n.prefix {
        Some(prefix) => (
            Cow::Owned(format!("{} {}", prefix.as_str(), n.family_name.as_str())),
            Some(Element {
                extension: vec![
                    string_ext(codes::OWN_PREFIX_EXTENSION, prefix.as_str()),
                    string_ext(codes::OWN_NAME_EXTENSION, n.family_name.as_str()),
                ],
            }),
        ),
        None => (Cow::Borrowed(n.family_name.as_str()), None),
    };
    let mut given = Vec::with_capacity(2);
    let mut given_ext = Vec::with_capacity(2);
    if let Some(g) = &n.given_names {
        given.push(g.as_str());
        given_ext.push(qualifier("BR"));
    }
    if let Some(g) = &n.initials {
        given.push(g.as_str());
        given_ext.push(qualifier("IN"));
    }
    HumanName {
        use_: "official",
        family,
        family_ext,
        given,
        given_ext,
    }
}

fn address(a: &Address) -> FhirAddress<'_> {
    let mut suffix = String::new();
    if let Some(l) = a.house_letter {
        suffix.push(l);
    }
    if let Some(x) = &a.house_number_addition {
        suffix.push('-');
        suffix.push_str(x);
    }
    let number = a.house_number.get().to_string();
    let line = match &a.street {
        Some(s) => format!("{} {number}{suffix}", s.as_str()),
        None => format!("{number}{suffix}"),
    };
    let mut ext = Vec::with_capacity(3);
    if let Some(s) = &a.street {
        ext.push(string_ext(codes::STREET_EXTENSION, s.as_str()));
    }
    ext.push(Extension {
        url: codes::HOUSE_NUMBER_EXTENSION,
        value_string: Some(Cow::Owned(number)),
        ..Extension::default()
    });
    if !suffix.is_empty() {
        ext.push(Extension {
            url: codes::HOUSE_SUFFIX_EXTENSION,
            value_string: Some(Cow::Owned(suffix)),
            ..Extension::default()
        });
    }
    FhirAddress {
        use_: "home",
        line: [line],
        line_ext: [Element { extension: ext }],
        city: a.town.as_ref().map(|t| t.as_str()),
        postal_code: a.postcode.as_str(),
    }
}

fn patient(r: &Resident) -> Patient<'_> {
    let mut p = Patient {
        resource_type: "Patient",
        ..Patient::default()
    };
    if let Some(i) = &r.identity {
        p.identifier.push(Identifier {
            system: Cow::Borrowed(codes::BSN_SYSTEM),
            value: Cow::Borrowed(i.bsn.as_str()),
        });
        p.name.push(human_name(i));
        p.gender = i.gender.map(gender_code);
        p.birth_date = i.birth_date.map(|d| d.format("%Y-%m-%d").to_string());
    }
    if let Some(c) = &r.contact {
        if let Some(ph) = &c.phone {
            p.telecom.push(ContactPoint {
                system: "phone",
                value: ph.as_str(),
            });
        }
        if let Some(em) = &c.email {
            p.telecom.push(ContactPoint {
                system: "email",
                value: em.as_str(),
            });
        }
        if let Some(a) = &c.address {
            p.address.push(address(a));
        }
    }
    p
}

fn need_concepts(r: &ReferralRequest) -> Vec<CodeableConcept<'_>> {
    r.needs
        .iter()
        .map(|n| {
            let (code, display) = codes::life_domain_code(n.domain);
            let mut extension = Vec::with_capacity(2);
            extension.push(Extension {
                url: codes::SEVERITY_EXTENSION,
                value_integer: Some(n.severity.get()),
                ..Extension::default()
            });
            if let Some(note) = &n.note {
                extension.push(string_ext(codes::NEED_NOTE_EXTENSION, note.as_str()));
            }
            CodeableConcept {
                extension,
                coding: vec![Coding {
                    system: codes::LIFE_DOMAIN_SYSTEM,
                    code,
                    display: Some(display),
                }],
                text: None,
            }
        })
        .collect()
}

/// The largest amount JSON numbers carry exactly (2^53 cents).
const MAX_EXACT_CENTS: i64 = 9_007_199_254_740_992;

fn finance(r: &ReferralRequest) -> Result<Vec<Extension<'_>>, EncodeError> {
    let Some(f) = &r.finance else {
        return Ok(Vec::new());
    };
    let cents = f.arrears.get();
    let value = if cents % 100 == 0 {
        serde_json::Number::from(cents / 100)
    } else if cents <= MAX_EXACT_CENTS {
        serde_json::Number::from_f64(cents as f64 / 100.0).ok_or_else(|| {
            EncodeError::Unsupported {
                format: Format::FhirR4,
                what: "this arrears amount".into(),
            }
        })?
    } else {
        return Err(EncodeError::Unsupported {
            format: Format::FhirR4,
            what: "an arrears amount above 2^53 cents with a cents part".into(),
        });
    };
    let mut sub = vec![Extension {
        url: "arrears",
        value_money: Some(Money {
            value,
            currency: "EUR",
        }),
        ..Extension::default()
    }];
    if let Some(d) = f.arrears_since {
        sub.push(Extension {
            url: "arrearsSince",
            value_date: Some(d.format("%Y-%m-%d").to_string()),
            ..Extension::default()
        });
    }
    if let Some(d) = f.signalled_on {
        sub.push(Extension {
            url: "signalledOn",
            value_date: Some(d.format("%Y-%m-%d").to_string()),
            ..Extension::default()
        });
    }
    Ok(vec![Extension {
        url: codes::FINANCE_EXTENSION,
        extension: sub,
        ..Extension::default()
    }])
}

fn referral_identifier(id: &str) -> Identifier<'_> {
    Identifier {
        system: Cow::Borrowed(codes::REFERRAL_SYSTEM),
        value: Cow::Borrowed(id),
    }
}

fn sender_identifier(r: &ReferralRequest) -> Identifier<'_> {
    Identifier {
        system: Cow::Owned(format!(
            "{}{}",
            codes::PARTNER_REF_PREFIX,
            r.source.partner.as_str()
        )),
        value: Cow::Borrowed(r.source.reference.as_str()),
    }
}

fn to_json(v: &impl Serialize) -> Result<Vec<u8>, EncodeError> {
    serde_json::to_vec(v).map_err(|_| EncodeError::Unsupported {
        format: Format::FhirR4,
        what: "this value in JSON".into(),
    })
}

pub(crate) fn encode_referral(out: OutgoingReferral<'_>) -> Result<Vec<u8>, EncodeError> {
    let r = out.request;
    let id = out.id.to_string();
    let [patient_url, sr_url, task_url] = full_urls(out.id);
    let (performer, performer_type) = match &r.target {
        Target::Partner(p) => (vec![partner_ref(p)], None),
        Target::Sector(s) => (
            Vec::new(),
            Some(CodeableConcept {
                extension: Vec::new(),
                coding: vec![Coding {
                    system: codes::SECTOR_SYSTEM,
                    code: codes::sector_code(*s),
                    display: None,
                }],
                text: None,
            }),
        ),
    };
    let owner = match &r.target {
        Target::Partner(p) => Some(partner_ref(p)),
        Target::Sector(_) => None,
    };
    let authored_on = rfc3339(r.requested_at);
    let sr = ServiceRequest {
        resource_type: "ServiceRequest",
        extension: finance(r)?,
        identifier: [referral_identifier(&id), sender_identifier(r)],
        status: "active",
        intent: "order",
        priority: codes::priority_code(r.urgency),
        subject: Reference {
            reference: Some(&patient_url),
            ..Reference::default()
        },
        authored_on: authored_on.clone(),
        requester: partner_ref(&r.source.partner),
        performer_type,
        performer,
        reason_code: need_concepts(r),
        note: r
            .note
            .iter()
            .map(|n| Annotation { text: n.as_str() })
            .collect(),
    };
    let task = Task {
        resource_type: "Task",
        based_on: vec![Reference {
            reference: Some(&sr_url),
            kind: Some("ServiceRequest"),
            identifier: None,
        }],
        status: "requested",
        status_reason: None,
        intent: "order",
        focus: Some(Reference {
            reference: Some(&sr_url),
            kind: Some("ServiceRequest"),
            identifier: None,
        }),
        for_: Some(Reference {
            reference: Some(&patient_url),
            kind: Some("Patient"),
            identifier: None,
        }),
        authored_on: Some(authored_on),
        last_modified: None,
        requester: Some(partner_ref(&r.source.partner)),
        owner,
    };
    let bundle = Bundle {
        resource_type: "Bundle",
        kind: "transaction",
        entry: [
            Entry {
                full_url: patient_url.clone(),
                resource: Resource::Patient(patient(&r.resident)),
                request: Request {
                    method: "POST",
                    url: "Patient",
                },
            },
            Entry {
                full_url: sr_url.clone(),
                resource: Resource::ServiceRequest(Box::new(sr)),
                request: Request {
                    method: "POST",
                    url: "ServiceRequest",
                },
            },
            Entry {
                full_url: task_url,
                resource: Resource::Task(Box::new(task)),
                request: Request {
                    method: "POST",
                    url: "Task",
                },
            },
        ],
    };
    to_json(&bundle)
}

pub(crate) fn encode_status(out: OutgoingStatus<'_>) -> Result<Vec<u8>, EncodeError> {
    let u = out.update;
    let status = codes::task_status_code(u.status, u.reason_code.as_deref()).ok_or_else(|| {
        EncodeError::Unsupported {
            format: Format::FhirR4,
            what: format!("the status {} as a Task status", u.status),
        }
    })?;
    let id = out.id.to_string();
    let implied = matches!(status, "failed" | "on-hold");
    let coding = match u.reason_code.as_deref() {
        Some(code) if !implied => vec![Coding {
            system: codes::STATUS_REASON_SYSTEM,
            code,
            display: None,
        }],
        _ => Vec::new(),
    };
    let status_reason = (!coding.is_empty() || u.reason.is_some()).then(|| CodeableConcept {
        extension: Vec::new(),
        coding,
        text: u.reason.as_ref().map(|r| r.as_str()),
    });
    let task = Task {
        resource_type: "Task",
        based_on: vec![
            Reference {
                reference: None,
                kind: Some("ServiceRequest"),
                identifier: Some(referral_identifier(&id)),
            },
            Reference {
                reference: None,
                kind: Some("ServiceRequest"),
                identifier: Some(sender_identifier(out.request)),
            },
        ],
        status,
        status_reason,
        intent: "order",
        focus: Some(Reference {
            reference: None,
            kind: Some("ServiceRequest"),
            identifier: Some(referral_identifier(&id)),
        }),
        for_: None,
        authored_on: None,
        last_modified: Some(rfc3339(u.at)),
        requester: None,
        owner: None,
    };
    to_json(&task)
}
