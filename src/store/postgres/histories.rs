//! The status histories a write transaction of the writer works on, kept in memory for the
//! rest of the transaction.
//!
//! A status change is judged against the referral's whole history, so each one used to read
//! the history first: a round trip to the server per change, on the writer's critical path,
//! two per referral on the way through the gateway (delivered, then the receiver's answer).
//! The writer now reads the histories its batch's jobs name (the referrals of status changes,
//! and of the referral deliveries that finish) in one statement at the start of the
//! transaction ([`Histories::preload`]), after it has locked the chain's head, so they are
//! what every instance committed before. A change takes its referral's history out of memory
//! ([`Histories::take`]); a referral the batch did not name is read when it is needed, as
//! before. A change puts the history back ([`Histories::keep`]): unchanged when it was
//! refused, and when it was applied with its new entry as the server stores it (the time to
//! the microsecond), so a later job of the same batch about the same referral is judged
//! against what it would read, without reading it (the change may still be staged, not yet
//! written: [`super::status_changes`]).
//!
//! Only changes made through [`super::status_changes::StatusChanges`] keep to that; a job that changes
//! histories in another way (retention's erasure of reasons) must call [`Histories::forget`]
//! first.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use wijkbrug_adapters::model::{ReferralId, StatusHistory};

use super::codec::{self, unavailable};
use super::writer::load_history;
use crate::store::StoreError;

/// Histories read in this transaction, by referral.
#[derive(Default)]
pub(crate) struct Histories {
    known: HashMap<ReferralId, StatusHistory>,
}

/// A row of [`PRELOAD`]: the referral, then the columns of [`codec::HistoryArrays`].
type PreloadRow = (
    Uuid,
    Vec<String>,
    Vec<DateTime<Utc>>,
    Vec<String>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

/// The histories of the referrals `$1` and of the referrals that the referral deliveries in
/// the `outbox` rows `$2` carry, one row per referral that has a history.
static PRELOAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT referral_id, {} FROM status_transitions \
         WHERE referral_id IN (SELECT UNNEST($1::uuid[]) \
          UNION SELECT referral_id FROM outbox WHERE id = ANY($2::bigint[]) AND kind = 'referral') \
         GROUP BY referral_id",
        codec::HISTORY_ARRAYS
    )
});

/// The SQL of [`Histories::preload`] (for the plan test).
#[cfg(test)]
pub(crate) fn preload_sql() -> &'static str {
    PRELOAD.as_str()
}

impl Histories {
    /// Reads, in one statement, the histories of `referrals` and of the referrals whose
    /// delivery is the `outbox` row of one of `rows`. Nothing is read when both are empty.
    pub(crate) async fn preload(
        conn: &mut PgConnection,
        referrals: &[Uuid],
        rows: &[i64],
    ) -> Result<Self, StoreError> {
        let mut histories = Self::default();
        if referrals.is_empty() && rows.is_empty() {
            return Ok(histories);
        }
        let found: Vec<PreloadRow> = sqlx::query_as(PRELOAD.as_str())
            .bind(referrals)
            .bind(rows)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        for (id, status, at, actor, reason, code) in found {
            let arrays = (status, at, actor, reason, code);
            let id = codec::referral_id(id, "status_transitions.referral_id")?;
            if let Some(history) = codec::history_from_arrays(arrays, id)? {
                histories.known.insert(id, history);
            }
        }
        Ok(histories)
    }

    /// The history of `id` as this transaction has it (from memory, or read now), taken out of
    /// memory. `None`: no such referral.
    pub(crate) async fn take(
        &mut self,
        conn: &mut PgConnection,
        id: ReferralId,
    ) -> Result<Option<StatusHistory>, StoreError> {
        match self.known.remove(&id) {
            Some(history) => Ok(Some(history)),
            None => load_history(conn, id).await,
        }
    }

    /// `history` is what the transaction has stored for `id`, or staged to store, as the
    /// server will answer it when read.
    pub(crate) fn keep(&mut self, id: ReferralId, history: StatusHistory) {
        self.known.insert(id, history);
    }

    /// Forgets every history: the next use reads it again.
    pub(crate) fn forget(&mut self) {
        self.known.clear();
    }
}
