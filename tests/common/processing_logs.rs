//! The processing log is complete: every audit event that carries a resident's pseudonym is
//! in that resident's processing log. The per-resident index holds only the events about no
//! referral and each referral's intake (migration 0013 / 1006); the log finds the other events
//! about a referral through the referral, so this holds only while an event about a referral
//! carries the resident of the referral's intake (or none).

use std::collections::{BTreeMap, BTreeSet};

use wijkbrug::audit::AuditEvent;
use wijkbrug::store::Store;

/// Checks every resident among `events` (all of the chain); returns how many residents and
/// events about them were checked.
pub async fn assert_every_event_of_a_resident_is_in_their_log(
    store: &dyn Store,
    events: &[AuditEvent],
) -> (usize, usize) {
    let mut by_resident: BTreeMap<String, Vec<&AuditEvent>> = BTreeMap::new();
    for e in events {
        if let Some(r) = &e.resident {
            by_resident
                .entry(r.as_str().to_owned())
                .or_default()
                .push(e);
        }
    }
    let mut checked = 0;
    for (resident, about) in &by_resident {
        let log: BTreeSet<u64> = store
            .processing_log(resident, "-")
            .await
            .unwrap()
            .iter()
            .map(|entry| entry.seq)
            .collect();
        for e in about {
            assert!(
                log.contains(&e.seq),
                "event {} ({}, referral {:?}) carries the resident but is not in their processing log",
                e.seq,
                e.action,
                e.referral
            );
            checked += 1;
        }
    }
    (by_resident.len(), checked)
}
