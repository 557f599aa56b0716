//! One resident's processing log from the audit chain ("who saw what about me").

use sqlx::PgPool;

use super::audit::{event_from_row, EventRow, EVENT_COLUMNS};
use super::codec::unavailable;
use crate::audit::Pseudonym;
use crate::processing_log::{entries, ProcessingEntry};
use crate::store::StoreError;

/// Every event about the resident `$1`, in seq order: those about no referral that carry the
/// pseudonym, and every event of the referrals first received about them (`audit_by_resident`
/// holds just these two kinds, migration 1006; an event about a referral carries the resident
/// of the referral's intake or none). Each part by index (`audit_by_resident`;
/// `audit_intake_resident`, then `audit_by_referral`), their seqs joined: the same conditions
/// joined by OR would make PostgreSQL test every event of the chain (an OR with a subquery is
/// not split into index scans).
pub(crate) fn about_sql() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq IN (\
           SELECT seq FROM audit_events WHERE resident = $1 \
             AND (referral_id IS NULL OR action = 'message_received') \
           UNION \
           SELECT seq FROM audit_events WHERE referral_id IN \
             (SELECT referral_id FROM audit_events WHERE resident = $1 \
              AND action = 'message_received' AND referral_id IS NOT NULL)) \
         ORDER BY seq"
    )
}

pub(crate) async fn processing_log(
    pool: &PgPool,
    pseudonym: &str,
    retention: &str,
) -> Result<Vec<ProcessingEntry>, StoreError> {
    let Some(pseudonym) = Pseudonym::parse(pseudonym) else {
        return Ok(Vec::new());
    };
    let rows: Vec<EventRow> = sqlx::query_as(&about_sql())
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
