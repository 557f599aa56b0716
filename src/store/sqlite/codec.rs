//! How model values are written into columns and read back (the PostgreSQL store uses the
//! same encodings for the values it keeps as text). Every reading error is
//! [`StoreError::Corrupt`] with a message that names the table and column, never the value.

use chrono::{DateTime, Utc};
use wijkbrug_adapters::case_json;
use wijkbrug_adapters::model::{
    Actor, CategorySet, ConsentEffect, DataCategory, ExternalRef, Grantee, PartnerId, ReasonText,
    ReferralId, ReferralRequest, ReferralStatus, Sector, StatusHistory, Transition,
};

use crate::store::{ConsentId, OutboxItem, OutboxKind, StoreError};

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// A referral's stored transitions, oldest first, as its history (both stores): `None` when
/// it has none (no such referral), corrupt when they do not make a legal history.
pub(crate) fn stored_history(
    transitions: Vec<Transition>,
    id: ReferralId,
) -> Result<Option<StatusHistory>, StoreError> {
    if transitions.is_empty() {
        return Ok(None);
    }
    StatusHistory::from_transitions(transitions)
        .map(Some)
        .map_err(|_| {
            corrupt(format_args!(
                "the stored history of referral {id} is illegal"
            ))
        })
}

pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    // sqlx's messages carry SQLite's text (constraint and column names), never bound values.
    if disk_trouble(&e) {
        return StoreError::Full(e.to_string());
    }
    StoreError::Unavailable(e.to_string())
}

/// SQLITE_FULL (13) or SQLITE_IOERR (10), in any of their extended codes (the low byte).
fn disk_trouble(e: &sqlx::Error) -> bool {
    const SQLITE_IOERR: i32 = 10;
    const SQLITE_FULL: i32 = 13;
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|c| c.parse::<i32>().ok())
        .is_some_and(|c| matches!(c & 0xff, SQLITE_IOERR | SQLITE_FULL))
}

/// A failure of the writer's direct connection ([`super::writer`]), as [`unavailable`] does
/// for sqlx's: SQLite's message (constraint and column names), never bound values; a full
/// disk or an I/O error is [`StoreError::Full`].
pub(crate) fn failed(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => StoreError::Full(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

/// Fixed-width UTC text with microseconds, so text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    crate::audit::timestamp(t)
}

pub(crate) fn parse_ts(s: &str, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| corrupt(format_args!("{what} is not a timestamp")))
}

pub(crate) fn parse_opt_ts(
    s: Option<&str>,
    what: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(s, what)).transpose()
}

pub(crate) fn parse_referral_id(s: &str, what: &str) -> Result<ReferralId, StoreError> {
    ReferralId::parse(s).map_err(|_| corrupt(format_args!("{what} is not a referral id")))
}

pub(crate) fn parse_partner(s: &str, what: &str) -> Result<PartnerId, StoreError> {
    PartnerId::parse(s).map_err(|_| corrupt(format_args!("{what} is not a partner id")))
}

pub(crate) fn parse_consent_id(s: &str, what: &str) -> Result<ConsentId, StoreError> {
    uuid::Uuid::try_parse(s)
        .map(ConsentId)
        .map_err(|_| corrupt(format_args!("{what} is not a consent id")))
}

pub(crate) fn categories(set: CategorySet) -> String {
    set.to_string()
}

pub(crate) fn parse_categories(s: &str, what: &str) -> Result<CategorySet, StoreError> {
    s.split(',')
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<DataCategory>()
                .map_err(|_| corrupt(format_args!("{what} holds an unknown data category")))
        })
        .collect()
}

pub(crate) fn actor(a: &Actor) -> String {
    match a {
        Actor::Gateway => "gateway".to_owned(),
        Actor::Partner(p) => format!("partner:{p}"),
        Actor::Operator(o) => format!("operator:{o}"),
    }
}

pub(crate) fn parse_actor(s: &str) -> Result<Actor, StoreError> {
    let bad = || corrupt("status_transitions.actor is not an actor");
    if s == "gateway" {
        Ok(Actor::Gateway)
    } else if let Some(p) = s.strip_prefix("partner:") {
        PartnerId::parse(p).map(Actor::Partner).map_err(|_| bad())
    } else if let Some(o) = s.strip_prefix("operator:") {
        Ok(Actor::Operator(o.to_owned()))
    } else {
        Err(bad())
    }
}

/// A `status_transitions` row: status, at, actor, reason, reason code.
pub(crate) type TransitionRow = (String, String, String, Option<String>, Option<String>);

pub(crate) fn transition_from_row(row: TransitionRow) -> Result<Transition, StoreError> {
    let (status, at, by, reason, reason_code) = row;
    Ok(Transition {
        to: status
            .parse::<ReferralStatus>()
            .map_err(|_| corrupt("status_transitions.status is not a status"))?,
        at: parse_ts(&at, "status_transitions.at")?,
        by: parse_actor(&by)?,
        reason: reason
            .map(|r| ReasonText::parse(&r))
            .transpose()
            .map_err(|_| corrupt("status_transitions.reason is not a reason text"))?,
        reason_code,
    })
}

/// `outbox.kind` and `outbox.transition` of a kind.
pub(crate) fn outbox_kind(kind: OutboxKind) -> (&'static str, Option<i64>) {
    match kind {
        OutboxKind::Referral => ("referral", None),
        OutboxKind::Status { transition } => ("status", Some(i64::from(transition))),
    }
}

/// An `outbox` row: referral id, recipient, kind, transition.
pub(crate) type OutboxRow = (String, String, String, Option<i64>);

pub(crate) fn outbox_from_row(row: OutboxRow) -> Result<OutboxItem, StoreError> {
    let (referral, recipient, kind, transition) = row;
    let kind = match (kind.as_str(), transition) {
        ("referral", None) => OutboxKind::Referral,
        ("status", Some(t)) => OutboxKind::Status {
            transition: u32::try_from(t)
                .map_err(|_| corrupt("outbox.transition is out of range"))?,
        },
        _ => return Err(corrupt("outbox.kind and outbox.transition do not agree")),
    };
    Ok(OutboxItem {
        referral: parse_referral_id(&referral, "outbox.referral_id")?,
        recipient: parse_partner(&recipient, "outbox.recipient")?,
        kind,
    })
}

/// A stored request document, checked to belong to the referral it is stored with.
pub(crate) fn request_from_json(
    json: &str,
    id: ReferralId,
    what: &str,
) -> Result<ReferralRequest, StoreError> {
    match case_json::decode_request(json.as_bytes()) {
        Ok((stored_id, request)) if stored_id == id => Ok(request),
        Ok(_) => Err(corrupt(format_args!(
            "{what} of referral {id} names another referral"
        ))),
        Err(problems) => Err(corrupt(format_args!(
            "{what} of referral {id} does not decode ({} problems)",
            problems.len()
        ))),
    }
}

pub(crate) fn request_to_json(
    id: ReferralId,
    request: &ReferralRequest,
) -> Result<String, StoreError> {
    String::from_utf8(case_json::encode_request(id, request))
        .map_err(|_| StoreError::Corrupt("a request encoded to invalid UTF-8".to_owned()))
}

pub(crate) fn grantee(g: &Grantee) -> (&'static str, String) {
    match g {
        Grantee::Partner(p) => ("partner", p.as_str().to_owned()),
        Grantee::Sector(s) => ("sector", s.code().to_owned()),
    }
}

pub(crate) fn parse_grantee(kind: &str, value: &str) -> Result<Grantee, StoreError> {
    let bad = || corrupt("consents.grantee is not a grantee");
    match kind {
        "partner" => PartnerId::parse(value)
            .map(Grantee::Partner)
            .map_err(|_| bad()),
        "sector" => value
            .parse::<Sector>()
            .map(Grantee::Sector)
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

pub(crate) fn effect(e: ConsentEffect) -> &'static str {
    match e {
        ConsentEffect::Permit => "permit",
        ConsentEffect::Deny => "deny",
    }
}

pub(crate) fn parse_effect(s: &str) -> Result<ConsentEffect, StoreError> {
    match s {
        "permit" => Ok(ConsentEffect::Permit),
        "deny" => Ok(ConsentEffect::Deny),
        _ => Err(corrupt("consents.effect is not an effect")),
    }
}

pub(crate) fn parse_evidence(s: Option<String>) -> Result<Option<ExternalRef>, StoreError> {
    s.map(|e| ExternalRef::parse(&e))
        .transpose()
        .map_err(|_| corrupt("consents.evidence is not a reference"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_are_fixed_width_and_sort_as_text() {
        let a = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let b = a + chrono::Duration::microseconds(500_000);
        assert_eq!(ts(a), "2026-01-02T03:04:05.000000Z");
        assert_eq!(ts(b), "2026-01-02T03:04:05.500000Z");
        assert!(ts(a) < ts(b));
        assert_eq!(parse_ts(&ts(b), "x").unwrap(), b);
    }

    #[test]
    fn actors_and_categories_round_trip() {
        for a in [
            Actor::Gateway,
            Actor::Partner(PartnerId::parse("wijkteam").unwrap()),
            Actor::Operator("ops:desk 1".to_owned()),
        ] {
            assert_eq!(parse_actor(&actor(&a)).unwrap(), a);
        }
        for set in [CategorySet::empty(), CategorySet::all()] {
            assert_eq!(parse_categories(&categories(set), "x").unwrap(), set);
        }
    }
}
