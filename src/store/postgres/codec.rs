//! How model values are written into PostgreSQL columns and read back. Values kept as text
//! (partners, categories, actors, requests, grantees) use the SQLite store's encodings
//! ([`crate::store::sqlite::codec`]); ids are `uuid`, times `timestamptz`. Every reading error
//! is [`StoreError::Corrupt`] with a message that names the table and column, never the value.

use chrono::{DateTime, Utc};
use uuid::Uuid;
use wijkbrug_adapters::model::{ReferralId, ReferralStatus, StatusHistory, Transition};

use crate::store::sqlite::codec::{actor as actor_text, parse_actor};
pub(crate) use crate::store::sqlite::codec::{
    categories, corrupt, effect, grantee, outbox_kind, parse_categories, parse_effect,
    parse_evidence, parse_grantee, parse_partner, request_from_json, request_to_json,
    stored_history,
};
use crate::store::{ConsentId, OutboxItem, OutboxKind, StoreError};

/// A database error as a store error. PostgreSQL's primary message names constraints, columns
/// and types; the values of a row are only in its DETAIL field, which is left out.
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let text = match db.code() {
                Some(code) => format!("{} (SQLSTATE {code})", db.message()),
                None => db.message().to_owned(),
            };
            // Class 53, insufficient resources: disk full (53100), out of memory, too many
            // connections.
            if db.code().is_some_and(|c| c.starts_with("53")) {
                StoreError::Full(text)
            } else {
                StoreError::Unavailable(text)
            }
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

pub(crate) fn actor(a: &wijkbrug_adapters::model::Actor) -> String {
    actor_text(a)
}

pub(crate) fn referral_id(id: Uuid, what: &str) -> Result<ReferralId, StoreError> {
    ReferralId::from_uuid(id).map_err(|_| corrupt(format_args!("{what} is not a referral id")))
}

pub(crate) fn consent_id(id: Uuid) -> ConsentId {
    ConsentId(id)
}

/// A `status_transitions` row: status, at, actor, reason, reason code.
pub(crate) type TransitionRow = (
    String,
    DateTime<Utc>,
    String,
    Option<String>,
    Option<String>,
);

pub(crate) fn transition_from_row(row: TransitionRow) -> Result<Transition, StoreError> {
    let (status, at, by, reason, reason_code) = row;
    Ok(Transition {
        to: status
            .parse::<ReferralStatus>()
            .map_err(|_| corrupt("status_transitions.status is not a status"))?,
        at,
        by: parse_actor(&by)?,
        reason: reason
            .map(|r| wijkbrug_adapters::model::ReasonText::parse(&r))
            .transpose()
            .map_err(|_| corrupt("status_transitions.reason is not a reason text"))?,
        reason_code,
    })
}

/// A referral's history read in one row: each column of `status_transitions` aggregated in
/// `seq` order (empty when the referral has none). Selected from `status_transitions` filtered
/// to one referral; [`history_from_arrays`] reads it.
pub(crate) const HISTORY_ARRAYS: &str = "\
    COALESCE(array_agg(status ORDER BY seq), '{}'), \
    COALESCE(array_agg(at ORDER BY seq), '{}'), \
    COALESCE(array_agg(actor ORDER BY seq), '{}'), \
    COALESCE(array_agg(reason ORDER BY seq), '{}'), \
    COALESCE(array_agg(reason_code ORDER BY seq), '{}')";

/// The columns of [`HISTORY_ARRAYS`].
pub(crate) type HistoryArrays = (
    Vec<String>,
    Vec<DateTime<Utc>>,
    Vec<String>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

/// The history of [`HISTORY_ARRAYS`]; `None` when the referral has no transitions (no such
/// referral).
pub(crate) fn history_from_arrays(
    arrays: HistoryArrays,
    id: ReferralId,
) -> Result<Option<StatusHistory>, StoreError> {
    let (status, at, actor, reason, reason_code) = arrays;
    let n = status.len();
    if [at.len(), actor.len(), reason.len(), reason_code.len()] != [n; 4] {
        return Err(corrupt(format_args!(
            "the history arrays of referral {id} differ in length"
        )));
    }
    let transitions = status
        .into_iter()
        .zip(at)
        .zip(actor)
        .zip(reason)
        .zip(reason_code)
        .map(|((((status, at), by), reason), code)| {
            transition_from_row((status, at, by, reason, code))
        })
        .collect::<Result<Vec<_>, _>>()?;
    stored_history(transitions, id)
}

/// An `outbox` row: referral id, recipient, kind, transition.
pub(crate) type OutboxRow = (Uuid, String, String, Option<i64>);

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
        referral: referral_id(referral, "outbox.referral_id")?,
        recipient: parse_partner(&recipient, "outbox.recipient")?,
        kind,
    })
}

/// A count or index as the `bigint` it is stored as.
pub(crate) fn bigint(n: usize, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| corrupt(format_args!("{what} is out of range")))
}

/// A `LIMIT` from a caller's limit (clamped: a limit beyond `i64` is no limit).
pub(crate) fn limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `now + d`, or a corrupt-input error when it is out of range.
pub(crate) fn later(
    now: DateTime<Utc>,
    d: std::time::Duration,
) -> Result<DateTime<Utc>, StoreError> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .ok_or_else(|| corrupt("a lease or visibility timeout out of range"))
}
