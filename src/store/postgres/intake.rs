//! New referrals in the writer's transaction: the referrals of one intake, or of several that
//! follow one another in a batch, written in one statement ([`intakes_in`]).
//!
//! Each referral is its row, its history and its outbox rows; written one referral at a time
//! that was a statement and a round trip to the server each, on the writer's critical path (16
//! a batch on the full path). The referrals of a run of intakes go in one statement
//! ([`INSERT_REFERRALS`]), in their order: a referral whose sender already sent its source
//! reference (before, or earlier in the run) is not written, nor are its history and outbox
//! rows, and is answered with the first one's id, as one at a time. The audit events and the
//! consents that came with the messages follow, referral by referral, in the same order.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::audit::Chain;
use super::codec::{self, unavailable};
use super::writer::{consent_in, OutboxRows, TransitionRows};
use crate::store::status_event::intake_events;
use crate::store::{Intake, IntakeOutcome, NewReferral, StoreError};

/// The referrals of several intakes (`$1`–`$12`, one row each), their histories (`$13`–`$19`,
/// each row with its referral's id) and their outbox rows in their order (`$20`–`$24`, each
/// with the id of the referral it came with), written in one statement; what is written for
/// a referral is written with it or not at all (the history and outbox rows select from
/// `created`). Answers the ids of the referrals written: one whose sender already sent its
/// source reference, before or in an earlier row, is not. The foreign keys are checked at the
/// end of the statement, after it.
const INSERT_REFERRALS: &str = "WITH created AS (\
    INSERT INTO referrals (id, sender, source_ref, receiver, status, request, shared, \
     shared_categories, shared_removed, consent_id, received_at, updated_at) \
     SELECT r.id, r.sender, r.source_ref, r.receiver, r.status, r.request, r.shared, \
      r.shared_categories, r.shared_removed, r.consent_id, r.received_at, r.updated_at \
     FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
      $7::text[], $8::text[], $9::text[], $10::uuid[], $11::timestamptz[], $12::timestamptz[]) \
      WITH ORDINALITY AS r (id, sender, source_ref, receiver, status, request, shared, \
      shared_categories, shared_removed, consent_id, received_at, updated_at, n) \
     ORDER BY r.n \
     ON CONFLICT (sender, source_ref) DO NOTHING RETURNING id), \
   history AS (\
    INSERT INTO status_transitions (referral_id, seq, status, at, actor, reason, reason_code) \
     SELECT h.* FROM UNNEST($13::uuid[], $14::bigint[], $15::text[], $16::timestamptz[], \
      $17::text[], $18::text[], $19::text[]) AS h (referral_id, seq, status, at, actor, reason, \
      reason_code) \
     WHERE h.referral_id IN (SELECT id FROM created)), \
   queued AS (\
    INSERT INTO outbox (referral_id, recipient, kind, transition, created_at, state, attempts, \
     next_attempt_at) SELECT o.r, o.p, o.k, o.t, $25, 'pending', 0, $25 \
     FROM UNNEST($20::uuid[], $21::text[], $22::text[], $23::bigint[], $24::uuid[]) \
     WITH ORDINALITY AS o (r, p, k, t, owner, n) \
     WHERE o.owner IN (SELECT id FROM created) ORDER BY o.n) \
   SELECT id FROM created";

/// The columns of [`INSERT_REFERRALS`].
#[derive(Default)]
struct ReferralRows {
    ids: Vec<Uuid>,
    senders: Vec<String>,
    source_refs: Vec<String>,
    receivers: Vec<Option<String>>,
    statuses: Vec<&'static str>,
    requests: Vec<String>,
    shared: Vec<Option<String>>,
    shared_categories: Vec<Option<String>>,
    shared_removed: Vec<Option<String>>,
    consent_ids: Vec<Option<Uuid>>,
    received_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    /// The referral of each history row.
    history_referrals: Vec<Uuid>,
    history: TransitionRows,
    outbox: OutboxRows,
    /// The referral each outbox row came with.
    outbox_owners: Vec<Uuid>,
}

impl ReferralRows {
    fn push(&mut self, new: &NewReferral, now: DateTime<Utc>) -> Result<(), StoreError> {
        let referral = &new.referral;
        let source = &referral.request.source;
        let id = referral.id.as_uuid();
        let transitions = referral.history.transitions();
        self.ids.push(id);
        self.senders.push(source.partner.as_str().to_owned());
        self.source_refs.push(source.reference.as_str().to_owned());
        self.statuses.push(referral.history.current().code());
        self.requests
            .push(codec::request_to_json(referral.id, &referral.request)?);
        match &new.shared {
            Some(s) => {
                self.receivers.push(Some(s.receiver.as_str().to_owned()));
                self.shared
                    .push(Some(codec::request_to_json(referral.id, &s.request)?));
                self.shared_categories
                    .push(Some(codec::categories(s.categories)));
                self.shared_removed.push(Some(codec::categories(s.removed)));
                self.consent_ids.push(s.consent.map(|c| c.0));
            }
            None => {
                self.receivers.push(None);
                self.shared.push(None);
                self.shared_categories.push(None);
                self.shared_removed.push(None);
                self.consent_ids.push(None);
            }
        }
        self.received_at
            .push(transitions.first().map_or(now, |t| t.at));
        self.updated_at
            .push(transitions.last().map_or(now, |t| t.at));
        for (seq, transition) in transitions.iter().enumerate() {
            self.history_referrals.push(id);
            self.history.push(seq, transition)?;
        }
        for item in &new.outbox {
            self.outbox.push(item, item.kind);
            self.outbox_owners.push(id);
        }
        Ok(())
    }

    /// Writes the rows; the ids of the referrals written.
    async fn insert(
        self,
        conn: &mut PgConnection,
        now: DateTime<Utc>,
    ) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        let created: Vec<(Uuid,)> = sqlx::query_as(INSERT_REFERRALS)
            .bind(self.ids)
            .bind(self.senders)
            .bind(self.source_refs)
            .bind(self.receivers)
            .bind(self.statuses)
            .bind(self.requests)
            .bind(self.shared)
            .bind(self.shared_categories)
            .bind(self.shared_removed)
            .bind(self.consent_ids)
            .bind(self.received_at)
            .bind(self.updated_at)
            .bind(self.history_referrals)
            .bind(self.history.seqs)
            .bind(self.history.statuses)
            .bind(self.history.ats)
            .bind(self.history.actors)
            .bind(self.history.reasons)
            .bind(self.history.codes)
            .bind(self.outbox.referrals)
            .bind(self.outbox.recipients)
            .bind(self.outbox.kinds)
            .bind(self.outbox.transitions)
            .bind(self.outbox_owners)
            .bind(now)
            .fetch_all(&mut *conn)
            .await
            .map_err(unavailable)?;
        Ok(created.into_iter().map(|(id,)| id).collect())
    }
}

/// Stores the referrals of `intakes` (one, or several that follow one another in a batch),
/// with the consents that came with them and their audit events; what became of each
/// referral, intake by intake.
///
/// An intake with an idempotency key is answered with the ids its key stored when the key
/// is known, and stores its key with its ids otherwise. A run of several holds no such intake
/// (two with the same key in one run would both miss the other's key).
pub(super) async fn intakes_in(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    intakes: &[&Intake],
    now: DateTime<Utc>,
) -> Result<Vec<Vec<IntakeOutcome>>, StoreError> {
    let mut answered: Vec<Option<Vec<IntakeOutcome>>> = Vec::with_capacity(intakes.len());
    for intake in intakes {
        answered.push(match &intake.idempotency_key {
            Some(key) => stored_for_key(conn, intake, key).await?,
            None => None,
        });
    }
    let mut rows = ReferralRows::default();
    // A referral sent twice in the run (the same message again) is written once.
    let mut named = std::collections::HashSet::new();
    for (intake, answer) in intakes.iter().zip(&answered) {
        if answer.is_none() {
            for new in &intake.referrals {
                if named.insert(new.referral.id) {
                    rows.push(new, now)?;
                }
            }
        }
    }
    let mut created = if rows.ids.is_empty() {
        std::collections::HashSet::new()
    } else {
        rows.insert(conn, now).await?
    };

    let mut outcomes = Vec::with_capacity(intakes.len());
    for (intake, answer) in intakes.iter().zip(answered) {
        if let Some(answer) = answer {
            outcomes.push(answer);
            continue;
        }
        let mut these = Vec::with_capacity(intake.referrals.len());
        for new in &intake.referrals {
            let id = new.referral.id;
            // Taken by the first referral with the id: the same message twice in the run is
            // written once, and its repeat is a duplicate.
            if created.remove(&id.as_uuid()) {
                received(conn, chain, new, now).await?;
                these.push(IntakeOutcome::Created(id));
            } else {
                these.push(IntakeOutcome::Duplicate(first_of(conn, new).await?));
            }
        }
        if let Some(key) = &intake.idempotency_key {
            let ids: Vec<Uuid> = these.iter().map(|o| o.id().as_uuid()).collect();
            sqlx::query(
                "INSERT INTO idempotency_keys (sender, key, referral_ids, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(intake.sender.as_str())
            .bind(key)
            .bind(ids)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(unavailable)?;
        }
        outcomes.push(these);
    }
    Ok(outcomes)
}

/// What the intake that first used `key` stored, as duplicates; `None` for a new key.
async fn stored_for_key(
    conn: &mut PgConnection,
    intake: &Intake,
    key: &str,
) -> Result<Option<Vec<IntakeOutcome>>, StoreError> {
    let stored: Option<(Vec<Uuid>,)> =
        sqlx::query_as("SELECT referral_ids FROM idempotency_keys WHERE sender = $1 AND key = $2")
            .bind(intake.sender.as_str())
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(unavailable)?;
    let Some((ids,)) = stored else {
        return Ok(None);
    };
    let outcomes = ids
        .into_iter()
        .map(|id| {
            codec::referral_id(id, "idempotency_keys.referral_ids").map(IntakeOutcome::Duplicate)
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(outcomes))
}

/// The id of the referral stored first with `new`'s sender and source reference.
async fn first_of(
    conn: &mut PgConnection,
    new: &NewReferral,
) -> Result<wijkbrug_adapters::model::ReferralId, StoreError> {
    let source = &new.referral.request.source;
    let (existing,): (Uuid,) =
        sqlx::query_as("SELECT id FROM referrals WHERE sender = $1 AND source_ref = $2")
            .bind(source.partner.as_str())
            .bind(source.reference.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(unavailable)?;
    codec::referral_id(existing, "referrals.id")
}

/// A stored new referral's audit events (received, and the consent decision with what was
/// kept and removed), with the consents that came with it stored between them.
async fn received(
    conn: &mut PgConnection,
    chain: &mut Chain<'_>,
    new: &NewReferral,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let at = new
        .referral
        .history
        .transitions()
        .first()
        .map_or(now, |t| t.at);
    let (received, decisions) = intake_events(new, |bsn| chain.pseudonym(bsn), at);
    chain.append(received);
    // Consents that came with the message are stored with the referral, or not at all.
    for (consent_id, consent) in &new.consents {
        consent_in(conn, chain, *consent_id, consent, None, now).await?;
    }
    for decision in decisions {
        chain.append(decision);
    }
    Ok(())
}
