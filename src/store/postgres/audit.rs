//! The audit chain in PostgreSQL: one chain, several writers (gateway instances).
//!
//! Every write transaction of the store's writer starts by locking the one row of
//! `audit_head` (`SELECT ... FOR UPDATE`), which holds the last event's seq and hash
//! ([`Chain::lock`]). Events are chained after that head in memory and inserted just before
//! the commit by one statement, which also moves the head ([`Chain::finish`]). A second
//! instance's transaction waits on the row lock until the first commits, and then reads the
//! head the first left: appends are serialised across instances and no event is ever chained
//! to a stale head. A transaction that fails writes neither events nor head.
//!
//! Taking the head first, before any other row, also serialises the writes themselves (as
//! SQLite's `BEGIN IMMEDIATE` does), so writes from several instances cannot deadlock on each
//! other and see each other's committed rows: a duplicate sent to two instances at once is
//! recognised by whichever writes second.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use wijkbrug_adapters::model::Bsn;

use super::codec::{corrupt, parse_partner, referral_id, unavailable};
use crate::audit::{AuditAction, AuditDraft, AuditEvent, Pseudonym, PseudonymKey};
use crate::store::StoreError;

/// The chain's end inside one write transaction.
pub(crate) struct Chain<'k> {
    key: &'k PseudonymKey,
    /// The head as locked at the start of the transaction.
    locked: (u64, [u8; 32]),
    /// The last event chained so far in this transaction.
    last: (u64, [u8; 32]),
    /// Events chained in this transaction, not yet inserted.
    pending: Vec<AuditEvent>,
}

impl<'k> Chain<'k> {
    /// Locks the head for the rest of the transaction and reads it.
    pub(crate) async fn lock(
        conn: &mut PgConnection,
        key: &'k PseudonymKey,
    ) -> Result<Chain<'k>, StoreError> {
        let (seq, hash): (i64, Vec<u8>) =
            sqlx::query_as("SELECT seq, hash FROM audit_head FOR UPDATE")
                .fetch_one(&mut *conn)
                .await
                .map_err(unavailable)?;
        let head = (
            u64::try_from(seq).map_err(|_| corrupt("audit_head.seq is negative"))?,
            hash_of(hash, "audit_head.hash")?,
        );
        Ok(Chain {
            key,
            locked: head,
            last: head,
            pending: Vec::new(),
        })
    }

    pub(crate) fn pseudonym(&self, bsn: &Bsn) -> Pseudonym {
        self.key.pseudonym(bsn)
    }

    /// Chains `draft` as the next event; it is written by [`Chain::finish`].
    pub(crate) fn append(&mut self, draft: AuditDraft) {
        let (seq, hash) = self.last;
        let event = draft.chain(seq + 1, hash);
        self.last = (event.seq, event.hash);
        self.pending.push(event);
    }

    /// Inserts the events chained in this transaction and moves the head after them.
    pub(crate) async fn finish(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let n = self.pending.len();
        let mut seqs = Vec::with_capacity(n);
        let mut ats: Vec<DateTime<Utc>> = Vec::with_capacity(n);
        let mut actions = Vec::with_capacity(n);
        let mut partners = Vec::with_capacity(n);
        let mut referrals: Vec<Option<Uuid>> = Vec::with_capacity(n);
        let mut residents = Vec::with_capacity(n);
        let mut details = Vec::with_capacity(n);
        let mut prevs = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for e in self.pending {
            seqs.push(i64::try_from(e.seq).map_err(|_| corrupt("the audit chain is too long"))?);
            ats.push(e.at);
            actions.push(e.action.code().to_owned());
            partners.push(e.partner.map(|p| p.as_str().to_owned()));
            referrals.push(e.referral.map(|r| r.as_uuid()));
            residents.push(e.resident.map(|r| r.as_str().to_owned()));
            details.push(
                serde_json::to_string(&e.detail)
                    .map_err(|_| corrupt("an audit event's detail as JSON"))?,
            );
            prevs.push(e.prev_hash.to_vec());
            hashes.push(e.hash.to_vec());
        }
        // The events and the head's move in one statement: its count is the head's row.
        let (seq, hash) = self.last;
        let moved = sqlx::query(
            "WITH appended AS (INSERT INTO audit_events (seq, at, action, partner, referral_id, \
             resident, detail, prev_hash, hash) SELECT * FROM UNNEST($1::bigint[], \
             $2::timestamptz[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[], \
             $8::bytea[], $9::bytea[])) \
             UPDATE audit_head SET seq = $10, hash = $11 WHERE seq = $12",
        )
        .bind(seqs)
        .bind(ats)
        .bind(actions)
        .bind(partners)
        .bind(referrals)
        .bind(residents)
        .bind(details)
        .bind(prevs)
        .bind(hashes)
        .bind(i64::try_from(seq).map_err(|_| corrupt("the audit chain is too long"))?)
        .bind(hash.to_vec())
        .bind(i64::try_from(self.locked.0).map_err(|_| corrupt("audit_head.seq"))?)
        .execute(&mut *conn)
        .await
        .map_err(unavailable)?
        .rows_affected();
        if moved != 1 {
            return Err(corrupt("audit_head moved while it was locked"));
        }
        Ok(())
    }
}

fn hash_of(bytes: Vec<u8>, what: &str) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| corrupt(format_args!("{what} is not a SHA-256 hash")))
}

/// An `audit_events` row.
pub(crate) type EventRow = (
    i64,
    DateTime<Utc>,
    String,
    Option<String>,
    Option<Uuid>,
    Option<String>,
    String,
    Vec<u8>,
    Vec<u8>,
);

/// The columns of an [`EventRow`].
pub(crate) const EVENT_COLUMNS: &str =
    "seq, at, action, partner, referral_id, resident, detail, prev_hash, hash";

/// Up to `limit` events with seq greater than `after`, in seq order.
pub(crate) async fn events(
    pool: &PgPool,
    after: u64,
    limit: usize,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(i64::try_from(after).unwrap_or(i64::MAX))
    .bind(super::codec::limit(limit))
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
        at,
        action: action
            .parse::<AuditAction>()
            .map_err(|_| corrupt("audit_events.action is not an action"))?,
        partner: partner
            .map(|p| parse_partner(&p, "audit_events.partner"))
            .transpose()?,
        referral: referral
            .map(|r| referral_id(r, "audit_events.referral_id"))
            .transpose()?,
        resident: resident
            .map(|r| {
                Pseudonym::parse(&r)
                    .ok_or_else(|| corrupt("audit_events.resident is not a pseudonym"))
            })
            .transpose()?,
        detail,
        prev_hash: hash_of(prev_hash, "audit_events.prev_hash")?,
        hash: hash_of(hash, "audit_events.hash")?,
    })
}
