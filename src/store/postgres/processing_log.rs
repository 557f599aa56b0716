//! One resident's processing log from the audit chain ("who saw what about me").

use sqlx::PgPool;

use super::audit::{event_from_row, EventRow, EVENT_COLUMNS};
use super::codec::unavailable;
use crate::audit::Pseudonym;
use crate::processing_log::{entries, ProcessingEntry};
use crate::store::StoreError;

pub(crate) async fn processing_log(
    pool: &PgPool,
    pseudonym: &str,
    retention: &str,
) -> Result<Vec<ProcessingEntry>, StoreError> {
    let Some(pseudonym) = Pseudonym::parse(pseudonym) else {
        return Ok(Vec::new());
    };
    // Every event about the resident, in seq order: those carrying the pseudonym, and every
    // event of the referrals first received about them (both by index).
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE resident = $1 OR referral_id IN \
         (SELECT referral_id FROM audit_events WHERE resident = $1 \
          AND action = 'message_received' AND referral_id IS NOT NULL) \
         ORDER BY seq"
    ))
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
