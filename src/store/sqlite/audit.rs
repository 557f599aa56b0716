//! The audit chain in SQLite: appended by the single writer inside the transaction of the
//! change it records, read in pages by anyone.
//!
//! The writer keeps the last event's seq and hash in memory ([`Chain`]), loaded from the last
//! row on its first append; when a transaction fails, the writer forgets them
//! ([`Chain::forget`]) and the next append loads them again, so a rolled-back event never
//! leaves a hole or a stale link.

use std::collections::BTreeMap;

use sqlx::SqlitePool;
use wijkbrug_adapters::model::Bsn;

use super::codec::{self, corrupt, unavailable};
use super::direct;
use crate::audit::{
    AuditAction, AuditDraft, AuditEvent, HexDigest, Pseudonym, PseudonymKey, GENESIS,
};
use crate::store::StoreError;

/// The writer's end of the chain.
pub(crate) struct Chain {
    key: PseudonymKey,
    /// The last event's seq and hash, when known.
    last: Option<(u64, [u8; 32])>,
}

impl Chain {
    pub(crate) fn new(key: PseudonymKey) -> Self {
        Self { key, last: None }
    }

    pub(crate) fn pseudonym(&self, bsn: &Bsn) -> Pseudonym {
        self.key.pseudonym(bsn)
    }

    /// Forgets the last link (after a rolled-back transaction).
    pub(crate) fn forget(&mut self) {
        self.last = None;
    }

    /// Appends `draft` as the next event, in the caller's transaction.
    pub(crate) fn append(
        &mut self,
        conn: &rusqlite::Connection,
        draft: AuditDraft,
    ) -> Result<(), StoreError> {
        let (last_seq, last_hash) = match self.last {
            Some(last) => last,
            None => load_last(conn)?,
        };
        let event = draft.chain(last_seq + 1, last_hash);
        let seq = i64::try_from(event.seq).map_err(|_| corrupt("the audit chain is too long"))?;
        let detail = serde_json::to_string(&event.detail)
            .map_err(|_| corrupt("an audit event's detail as JSON"))?;
        direct::execute(
            conn,
            "INSERT INTO audit_events (seq, at, action, partner, referral_id, resident, detail, \
             prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rusqlite::params![
                seq,
                codec::ts(event.at),
                event.action.code(),
                event.partner.as_ref().map(|p| p.as_str()),
                event.referral.map(|r| r.to_string()),
                event.resident.as_ref().map(|r| r.as_str()),
                detail,
                HexDigest::of(&event.prev_hash).as_str(),
                HexDigest::of(&event.hash).as_str(),
            ],
        )?;
        self.last = Some((event.seq, event.hash));
        Ok(())
    }
}

fn load_last(conn: &rusqlite::Connection) -> Result<(u64, [u8; 32]), StoreError> {
    let row: Option<(i64, String)> = direct::optional(
        conn,
        "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
        [],
    )?;
    match row {
        None => Ok((0, GENESIS)),
        Some((seq, hash)) => Ok((
            u64::try_from(seq).map_err(|_| corrupt("audit_events.seq is negative"))?,
            parse_hash(&hash, "audit_events.hash")?,
        )),
    }
}

fn parse_hash(s: &str, what: &str) -> Result<[u8; 32], StoreError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| corrupt(format_args!("{what} is not a SHA-256 hash")))?;
    Ok(out)
}

/// An `audit_events` row.
pub(crate) type EventRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
);

/// Up to `limit` events with seq greater than `after`, in seq order.
pub(crate) async fn events(
    pool: &SqlitePool,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT seq, at, action, partner, referral_id, resident, detail, prev_hash, hash \
         FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
    )
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.into_iter().map(event_from_row).collect()
}

pub(crate) fn event_from_row(row: EventRow) -> Result<AuditEvent, StoreError> {
    let (seq, at, action, partner, referral, resident, detail, prev_hash, hash) = row;
    let detail: BTreeMap<String, String> = serde_json::from_str(&detail)
        .map_err(|_| corrupt("audit_events.detail is not an object of strings"))?;
    Ok(AuditEvent {
        seq: u64::try_from(seq).map_err(|_| corrupt("audit_events.seq is negative"))?,
        at: codec::parse_ts(&at, "audit_events.at")?,
        action: action
            .parse::<AuditAction>()
            .map_err(|_| corrupt("audit_events.action is not an action"))?,
        partner: partner
            .map(|p| codec::parse_partner(&p, "audit_events.partner"))
            .transpose()?,
        referral: referral
            .map(|r| codec::parse_referral_id(&r, "audit_events.referral_id"))
            .transpose()?,
        resident: resident
            .map(|r| {
                Pseudonym::parse(&r)
                    .ok_or_else(|| corrupt("audit_events.resident is not a pseudonym"))
            })
            .transpose()?,
        detail,
        prev_hash: parse_hash(&prev_hash, "audit_events.prev_hash")?,
        hash: parse_hash(&hash, "audit_events.hash")?,
    })
}
