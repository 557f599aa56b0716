//! Encoding: a referral as one signal, a status update as a status callback.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::adapter::{EncodeError, Format, OutgoingReferral, OutgoingStatus};
use crate::model::{DataCategory, Sector, Target, Urgency};

use super::codes;
use super::{CALLBACK_SCHEMA, MAX_EUROS};

const FORMAT: Format = Format::HousingSignal;

/// A `bedrag`: whole euros as an integer, otherwise euros with two decimals.
enum Amount {
    Euros(u64),
    /// Euro cents that are not a whole number of euros, below `MAX_EUROS` euros.
    Decimal(f64),
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Euros(n) => s.serialize_u64(*n),
            // cents < 2^53 are exact as f64 and the division is correctly rounded, so the
            // shortest round-trip text of the result is the decimal amount itself.
            Self::Decimal(f) => s.serialize_f64(*f),
        }
    }
}

/// A date written as `yyyy-mm-dd`.
struct Date(NaiveDate);

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.format("%Y-%m-%d"))
    }
}

fn date(d: NaiveDate, what: &str) -> Result<Date, EncodeError> {
    if (1..=9999).contains(&d.year()) {
        Ok(Date(d))
    } else {
        Err(EncodeError::Unsupported {
            format: FORMAT,
            what: format!("a {what} outside the years 1 to 9999"),
        })
    }
}

#[derive(Serialize)]
struct SignalOut<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    crisissignaal: bool,
    #[serde(rename = "warmeOverdracht")]
    warme_overdracht: bool,
    bedrag: Amount,
    #[serde(skip_serializing_if = "Option::is_none")]
    ontstaansdatum: Option<Date>,
    signaaldatum: Date,
    status: &'static str,
    signaalpartner: PartnerOut,
    client: ClientOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doelpartner: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doelsector: Option<&'static str>,
    leefgebieden: Vec<DomainOut>,
    #[serde(rename = "verwijzingId")]
    verwijzing_id: String,
}

#[derive(Serialize)]
struct PartnerOut {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct DomainOut {
    leefgebied: &'static str,
    ernst: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientOut<'a> {
    burgerservicenummer: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    voorletters: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    voorvoegsel: Option<&'a str>,
    achternaam: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    geboortedatum: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    straatnaam: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    postcode: Option<&'a str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "house_number_string"
    )]
    huisnummer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    huisnummertoevoeging: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaatsnaam: Option<&'a str>,
}

/// `Huisnummer` is a string in the VNG model.
fn house_number_string<S: Serializer>(n: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Some(n) => s.collect_str(n),
        None => s.serialize_none(),
    }
}

pub(super) fn referral(r: OutgoingReferral<'_>) -> Result<Vec<u8>, EncodeError> {
    let req = r.request;
    let identity = req
        .resident
        .identity
        .as_ref()
        .ok_or(EncodeError::MissingCategory {
            format: FORMAT,
            field: "client.Burgerservicenummer",
            category: DataCategory::Identity,
        })?;
    let finance = req.finance.as_ref().ok_or(EncodeError::MissingCategory {
        format: FORMAT,
        field: "bedrag",
        category: DataCategory::Finance,
    })?;
    let cents = finance.arrears.get();
    let bedrag = if cents % 100 == 0 {
        Amount::Euros(u64::try_from(cents / 100).unwrap_or(0))
    } else if cents < MAX_EUROS_CENTS {
        Amount::Decimal(cents as f64 / 100.0)
    } else {
        return Err(EncodeError::Unsupported {
            format: FORMAT,
            what: format!("an amount of {MAX_EUROS} euros or more with cents"),
        });
    };
    let signalled_on = finance
        .signalled_on
        .unwrap_or_else(|| req.requested_at.date_naive());
    let address = req
        .resident
        .contact
        .as_ref()
        .and_then(|c| c.address.as_ref());
    let (doelpartner, doelsector) = match &req.target {
        Target::Partner(p) => (Some(p.as_str()), None),
        Target::Sector(Sector::Welfare) => (None, None),
        Target::Sector(s) => (None, Some(s.code())),
    };
    let out = SignalOut {
        id: req.source.reference.as_str(),
        crisissignaal: req.urgency == Urgency::Crisis,
        warme_overdracht: req.urgency == Urgency::Asap,
        bedrag,
        ontstaansdatum: finance
            .arrears_since
            .map(|d| date(d, "ontstaansdatum"))
            .transpose()?,
        signaaldatum: date(signalled_on, "signaaldatum")?,
        status: codes::NEW_SIGNAL_STATUS,
        signaalpartner: PartnerOut {
            kind: codes::HOUSING_PARTNER_TYPE,
        },
        client: ClientOut {
            burgerservicenummer: identity.bsn.as_str(),
            voorletters: identity.name.initials.as_ref().map(|t| t.as_str()),
            voorvoegsel: identity.name.prefix.as_ref().map(|t| t.as_str()),
            achternaam: identity.name.family_name.as_str(),
            geboortedatum: identity
                .birth_date
                .map(|d| date(d, "Geboortedatum"))
                .transpose()?,
            straatnaam: address.and_then(|a| a.street.as_ref()).map(|t| t.as_str()),
            postcode: address.map(|a| a.postcode.as_str()),
            huisnummer: address.map(|a| a.house_number.get()),
            huisnummertoevoeging: address.and_then(|a| {
                match (a.house_letter, a.house_number_addition.as_deref()) {
                    (None, None) => None,
                    (Some(l), None) => Some(l.to_string()),
                    (None, Some(x)) => Some(x.to_owned()),
                    (Some(l), Some(x)) => Some(format!("{l}-{x}")),
                }
            }),
            plaatsnaam: address.and_then(|a| a.town.as_ref()).map(|t| t.as_str()),
        },
        doelpartner,
        doelsector,
        leefgebieden: req
            .needs
            .iter()
            .map(|n| DomainOut {
                leefgebied: codes::domain_code(n.domain),
                ernst: n.severity.get(),
            })
            .collect(),
        verwijzing_id: r.id.to_string(),
    };
    to_vec(&out)
}

const MAX_EUROS_CENTS: i64 = MAX_EUROS as i64 * 100;

#[derive(Serialize)]
struct CallbackOut<'a> {
    schema: &'static str,
    signaal_id: &'a str,
    referral_id: String,
    status: &'static str,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reden: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reden_code: Option<&'a str>,
}

pub(super) fn status(s: OutgoingStatus<'_>) -> Result<Vec<u8>, EncodeError> {
    let status =
        codes::callback_status_code(s.update.status).ok_or_else(|| EncodeError::Unsupported {
            format: FORMAT,
            what: format!("the status {}", s.update.status),
        })?;
    let out = CallbackOut {
        schema: CALLBACK_SCHEMA,
        signaal_id: s.request.source.reference.as_str(),
        referral_id: s.id.to_string(),
        status,
        at: rfc3339(s.update.at),
        reden: s.update.reason.as_ref().map(|r| r.as_str()),
        reden_code: s.update.reason_code.as_deref(),
    };
    to_vec(&out)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn to_vec<T: Serialize>(v: &T) -> Result<Vec<u8>, EncodeError> {
    let mut buf = Vec::with_capacity(768);
    serde_json::to_writer(&mut buf, v).map_err(|_| EncodeError::Unsupported {
        format: FORMAT,
        what: "this value in JSON".into(),
    })?;
    Ok(buf)
}
