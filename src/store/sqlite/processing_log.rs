//! One resident's processing log from the audit chain ("who saw what about me").

use sqlx::SqlitePool;

use super::audit::{event_from_row, EventRow};
use super::codec::unavailable;
use crate::audit::Pseudonym;
use crate::processing_log::{entries, ProcessingEntry};
use crate::store::StoreError;

/// Every event about the resident `?1`, in seq order: those about no referral that carry the
/// pseudonym, and every event of the referrals first received about them (both by index:
/// `audit_by_resident` holds just these two kinds, migration 0013; an event about a referral
/// carries the resident of the referral's intake or none).
pub(super) const ABOUT: &str =
    "SELECT seq, at, action, partner, referral_id, resident, detail, prev_hash, \
     hash FROM audit_events \
     WHERE (resident = ?1 AND (referral_id IS NULL OR action = 'message_received')) \
     OR referral_id IN \
     (SELECT referral_id FROM audit_events WHERE resident = ?1 \
      AND action = 'message_received' AND referral_id IS NOT NULL) \
     ORDER BY seq";

pub(crate) async fn processing_log(
    pool: &SqlitePool,
    pseudonym: &str,
    retention: &str,
) -> Result<Vec<ProcessingEntry>, StoreError> {
    let Some(pseudonym) = Pseudonym::parse(pseudonym) else {
        return Ok(Vec::new());
    };
    let rows: Vec<EventRow> = sqlx::query_as(ABOUT)
        .bind(pseudonym.as_str())
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    let events = rows
        .into_iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(entries(&events, retention))
}
