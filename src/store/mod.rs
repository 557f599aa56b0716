//! The store: the only shared state of the gateway. One trait, two implementations: SQLite
//! (the embedded default, one instance, [`sqlite`]) and PostgreSQL (several gateway instances
//! on one database, [`postgres`]), chosen by the scheme of `[store] url` ([`open`]). Callers
//! hold an `Arc<dyn Store>` and never know which.
//!
//! Everything a sender is told was accepted is committed first: [`Store::intake`] writes the
//! referrals, their status history, their outbox rows and the idempotency key in one
//! transaction, and returns only after the commit is durable.

pub mod bench_seed;
pub mod dashboard;
pub mod postgres;
pub mod sqlite;
mod status_event;
mod writer_activity;
mod writer_queue;
mod writer_scheduling;

pub(crate) use writer_activity::WriterCounters;
pub use writer_activity::{BatchBuckets, WriterActivity, BATCH_BOUNDS};
pub use writer_queue::WriterQueue;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;
use wijkbrug_adapters::model::{
    Bsn, CategorySet, Consent, ExternalRef, PartnerId, Referral, ReferralId, ReferralRequest,
    StatusHistory, Transition, TransitionError,
};

/// A consent record's id (UUID v7, minted by the gateway).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ConsentId(pub Uuid);

impl std::fmt::Display for ConsentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// What the store could not do. Never carries personal data.
#[derive(Clone, Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or answered with an error.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The database's disk is full or failing (SQLite's SQLITE_FULL or an I/O error;
    /// PostgreSQL's class 53 "insufficient resources"): nothing of the write was kept, and it
    /// can be tried again once there is room.
    #[error("store's disk is full or failing: {0}")]
    Full(String),
    /// A stored row could not be read back into the model (a bug or a tampered database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
}

/// The current time at the precision the store keeps (microseconds, as PostgreSQL's
/// `timestamptz`). Timestamps are stored truncated to microseconds, so mint the times that go
/// into a history with this (or truncate them) and a referral reads back exactly as written.
pub fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(6)
}

/// The copy of a referral that a receiving partner may see: minimised to what the consent
/// covers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SharedCopy {
    pub receiver: PartnerId,
    pub request: ReferralRequest,
    /// The categories kept (a subset of the consent's).
    pub categories: CategorySet,
    /// The categories removed by minimisation.
    pub removed: CategorySet,
    /// The consent it was shared under.
    pub consent: Option<ConsentId>,
}

/// What the outbox row asks the delivery worker to send.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OutboxKind {
    /// The shared copy of the referral, to its receiver.
    Referral,
    /// The status change at this index of the referral's history, to the partner that did
    /// not report it (usually the sender).
    Status { transition: u32 },
}

/// One thing to deliver.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxItem {
    pub referral: ReferralId,
    pub recipient: PartnerId,
    pub kind: OutboxKind,
}

/// A referral ready to be stored at intake.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewReferral {
    /// Its id, the request as received (full), and its history so far (received, then
    /// routed or consent_missing).
    pub referral: Referral,
    /// The routed receiver's copy, when there is one (routed with consent).
    pub shared: Option<SharedCopy>,
    /// The deliveries (or the notice to the sender) to queue with it.
    pub outbox: Vec<OutboxItem>,
    /// Consents that came with the message, stored in the same transaction.
    pub consents: Vec<(ConsentId, Consent)>,
}

/// What became of one referral at intake.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IntakeOutcome {
    /// Stored now.
    Created(ReferralId),
    /// The sender had already sent a referral with this reference (or this Idempotency-Key):
    /// nothing was stored, and this is the first one's id.
    Duplicate(ReferralId),
}

impl IntakeOutcome {
    pub fn id(self) -> ReferralId {
        match self {
            Self::Created(id) | Self::Duplicate(id) => id,
        }
    }
}

/// One intake request: every accepted referral of one message, stored together.
#[derive(Clone, Debug)]
pub struct Intake {
    pub sender: PartnerId,
    /// The `Idempotency-Key` header, if the sender gave one: a repeat with the same key
    /// answers the first request's ids and stores nothing.
    pub idempotency_key: Option<String>,
    pub referrals: Vec<NewReferral>,
}

/// A stored referral with the copy that was shared.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredReferral {
    pub referral: Referral,
    pub shared: Option<SharedCopy>,
    pub received_at: DateTime<Utc>,
}

/// A stored consent.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredConsent {
    pub id: ConsentId,
    pub consent: Consent,
}

/// The reason code of the `consent_missing` transition a revocation makes.
pub const CONSENT_REVOKED_CODE: &str = "consent-revoked";

/// The reason text of the `consent_missing` transition a revocation makes.
pub const CONSENT_REVOKED_REASON: &str = "the resident revoked the consent";

/// What [`Store::revoke_consent`] did.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RevokeOutcome {
    /// Revoked now, with its cascade.
    Revoked(Revocation),
    /// It had been revoked before, at this time; nothing changed.
    AlreadyRevoked { revoked_at: DateTime<Utc> },
}

/// A revocation and its cascade.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Revocation {
    pub consent: ConsentId,
    pub revoked_at: DateTime<Utc>,
    /// Pending referral deliveries cancelled.
    pub cancelled_deliveries: u32,
    /// Notices queued: to the senders of cancelled deliveries and to the receivers of
    /// delivered referrals.
    pub notified: u32,
    /// Referrals under the consent whose status allowed no transition at the revocation:
    /// audited, not notified (none in practice: delivered ones become consent_missing,
    /// accepted and in-progress ones cancelled).
    pub not_notified: Vec<ReferralId>,
}

/// A referral's metadata: what is kept after its payload was erased (no resident data).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReferralMeta {
    pub id: ReferralId,
    pub sender: PartnerId,
    /// The routed receiver, when there is one.
    pub receiver: Option<PartnerId>,
    pub status: wijkbrug_adapters::model::ReferralStatus,
    pub received_at: DateTime<Utc>,
    /// The time of the last status change.
    pub updated_at: DateTime<Utc>,
    /// When retention erased its payload ([`Store::erase_payloads`]), if it did.
    pub erased_at: Option<DateTime<Utc>>,
}

/// The statuses whose referrals retention erases: nothing more happens to them through the
/// gateway (final, or a dead end an operator did not retry within the retention period).
pub const RETAINED_STATUSES: [wijkbrug_adapters::model::ReferralStatus; 5] = [
    wijkbrug_adapters::model::ReferralStatus::Completed,
    wijkbrug_adapters::model::ReferralStatus::Cancelled,
    wijkbrug_adapters::model::ReferralStatus::Declined,
    wijkbrug_adapters::model::ReferralStatus::Undeliverable,
    wijkbrug_adapters::model::ReferralStatus::ConsentMissing,
];

/// How many rows each table holds (for readiness, tests and the operations view).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct StoreCounts {
    pub referrals: u64,
    pub transitions: u64,
    pub outbox: u64,
    pub consents: u64,
    pub idempotency_keys: u64,
}

/// A gateway instance as it registers with the store.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InstanceInfo {
    /// Its name: `[delivery] worker_id`, the name on the leases it takes.
    pub id: String,
    /// The gateway's version.
    pub version: String,
    /// The machine it runs on (its host name; empty when the machine has none).
    pub host: String,
    /// When this start of it began.
    pub started_at: DateTime<Utc>,
}

/// An instance and its last heartbeat (by the store's clock).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct InstanceSeen {
    pub instance: InstanceInfo,
    pub last_seen: DateTime<Utc>,
    /// How long before the read the last heartbeat was, by the store's clock (so instances'
    /// clocks need not agree).
    pub seen_ago: std::time::Duration,
}

/// A partner's quota kept in the store: requests it may make to the gateway, or deliveries
/// the gateway may make to it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RateBucket {
    Inbound(PartnerId),
    Outbound(PartnerId),
}

impl RateBucket {
    /// The bucket's name in the store (`in:<partner>`, `out:<partner>`).
    pub fn key(&self) -> String {
        match self {
            Self::Inbound(p) => format!("in:{p}"),
            Self::Outbound(p) => format!("out:{p}"),
        }
    }
}

/// Whether a request (or a delivery) fits its partner's quota.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RateDecision {
    Allowed,
    /// Over the quota; a token will be there after `retry_after`.
    Limited {
        retry_after: std::time::Duration,
    },
}

/// Which implementation a store url selects.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    /// `sqlite://<path>` (or `sqlite:<path>`).
    Sqlite,
    /// `postgres://...` or `postgresql://...`.
    Postgres,
}

impl Backend {
    /// The implementation `url` selects, if any.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// Opens the store `settings.url` names (SQLite or PostgreSQL), with the key of the audit
/// log's resident pseudonyms. Does not migrate: call [`Store::migrate`].
pub async fn open(
    settings: &crate::config::StoreSettings,
    pseudonym_key: crate::audit::PseudonymKey,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match Backend::of(&settings.url) {
        Some(Backend::Sqlite) => {
            Arc::new(sqlite::SqliteStore::open_with_key(settings, pseudonym_key).await?)
        }
        Some(Backend::Postgres) => {
            Arc::new(postgres::PgStore::open_with_key(settings, pseudonym_key).await?)
        }
        None => {
            return Err(StoreError::Unavailable(
                "the store url must be sqlite://<path> or postgres://...".to_owned(),
            ))
        }
    })
}

/// How many referrals have one status and one receiver ([`Store::referral_counts`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ReferralCount {
    pub status: wijkbrug_adapters::model::ReferralStatus,
    /// The routed receiver; `None` for referrals that were not shared with anyone (consent
    /// missing at intake).
    pub receiver: Option<PartnerId>,
    pub count: u64,
}

/// One recipient's deliveries waiting or given up ([`Store::outbox_backlog`]). Push and
/// mailbox recipients alike.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxBacklog {
    pub recipient: PartnerId,
    /// Pending rows: queued, leased, offered or waiting for a retry.
    pub pending: u64,
    /// Pending rows that are due (`next_attempt_at <= now`).
    pub due: u64,
    /// When the oldest due row was queued (its `created_at`), if any is due.
    pub oldest_due_queued_at: Option<DateTime<Utc>>,
    /// Dead letters awaiting an operator.
    pub dead: u64,
}

/// Result of applying a status transition.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TransitionOutcome {
    /// Appended; the history as it now is.
    Applied(StatusHistory),
    /// Illegal from the current status; nothing changed.
    Refused(TransitionError),
    /// No such referral.
    NotFound,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies the embedded migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Whether the store answers and its schema is current.
    async fn ready(&self) -> Result<(), StoreError>;

    /// Stores every referral of one intake request, their outbox rows and the idempotency
    /// key, in one transaction; returns after the commit is durable. Concurrent calls share
    /// commits (group commit). Per referral, a repeat of (sender, source reference) is a
    /// `Duplicate` of the first.
    async fn intake(&self, intake: Intake) -> Result<Vec<IntakeOutcome>, StoreError>;

    /// A referral by id. `None` also for a referral whose payload retention erased: no caller
    /// can show data that is gone (the API answers 404); its metadata is in
    /// [`Store::referral_meta`].
    async fn referral(&self, id: ReferralId) -> Result<Option<StoredReferral>, StoreError>;

    /// The id of the referral a sender sent with its own reference.
    async fn referral_by_source(
        &self,
        sender: &PartnerId,
        reference: &ExternalRef,
    ) -> Result<Option<ReferralId>, StoreError>;

    /// The open referrals shared with `receiver` (delivered, accepted or in progress), newest
    /// first, at most `limit`: the candidates for a status update that names its referral only
    /// by a number the receiver's format derives from the id (an iWmo `ToewijzingNummer` in a
    /// WMO305 or WMO307).
    async fn open_received(
        &self,
        receiver: &PartnerId,
        limit: u32,
    ) -> Result<Vec<ReferralId>, StoreError>;

    /// Appends a transition if it is legal from the referral's current status, and queues
    /// `notify` with it, in one transaction. A `notify` item of kind
    /// [`OutboxKind::Status`] is stored with the index of the transition appended here,
    /// whatever index the caller put in it (the caller cannot know it for certain).
    async fn apply_transition(
        &self,
        id: ReferralId,
        transition: Transition,
        notify: Vec<OutboxItem>,
    ) -> Result<TransitionOutcome, StoreError>;

    /// Records a consent.
    async fn insert_consent(&self, id: ConsentId, consent: &Consent) -> Result<(), StoreError>;

    /// Records consents imported by the staff account `imported_by` (on their recording
    /// partners' behalf), all in one transaction: all of them or none. Each gets its
    /// `consent_recorded` audit event naming the importer.
    async fn import_consents(
        &self,
        consents: Vec<(ConsentId, Consent)>,
        imported_by: &str,
    ) -> Result<(), StoreError>;

    /// Audits that `partner` read `referral` through the API (a `referral_read` event).
    async fn record_read(
        &self,
        partner: &PartnerId,
        referral: ReferralId,
    ) -> Result<(), StoreError>;

    /// Audits that a valid token of `partner` was refused under `rule` (an
    /// `access_refused` event; `presented` says what the connection offered, never the token).
    async fn record_access_refused(
        &self,
        partner: &PartnerId,
        rule: &str,
        presented: &str,
    ) -> Result<(), StoreError>;

    /// Up to `limit` audit events with seq greater than `after_seq`, in seq order (pages for
    /// [`crate::audit::Verifier`]).
    async fn audit_events(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<crate::audit::AuditEvent>, StoreError>;

    /// Every audit event about one resident, as a processing log in seq order: the events
    /// carrying the pseudonym `pseudonym` (see [`crate::audit::PseudonymKey::pseudonym`]) and
    /// every event of the referrals first received about them (linked through the referral
    /// id). Each entry's retention reads `retention` (see
    /// [`crate::processing_log::retention_text`]). Empty for an unknown or malformed pseudonym.
    async fn processing_log(
        &self,
        pseudonym: &str,
        retention: &str,
    ) -> Result<Vec<crate::processing_log::ProcessingEntry>, StoreError>;

    /// Audits that `reader` (a privacy officer's account name) read the
    /// processing log of the resident `pseudonym`, `entries` entries long (a
    /// `processing_log_read` event carrying the pseudonym).
    async fn record_processing_log_read(
        &self,
        reader: &str,
        pseudonym: &crate::audit::Pseudonym,
        entries: usize,
    ) -> Result<(), StoreError>;

    /// Revokes the consent `id`, if `by` recorded it, at `at`, in one transaction with its
    /// cascade:
    /// - every pending outbox row of kind referral whose referral's shared copy rests on this
    ///   consent is cancelled; the referral becomes `consent_missing` (reason code
    ///   [`CONSENT_REVOKED_CODE`]) and its sender gets a status notice;
    /// - every referral shared under it that was already `delivered` becomes
    ///   `consent_missing` and its receiver gets a status notice;
    /// - a referral already `accepted` or `in_progress` is `cancelled` (reason code
    ///   [`CONSENT_REVOKED_CODE`]): the withdrawal ends the work done under it; the receiver
    ///   and the sender each get a status notice;
    /// - should a status allow neither, nothing is queued and a `consent_revoked` audit event
    ///   names the referral;
    /// - a `consent_revoked` audit event with the counts.
    ///
    /// `None` when there is no such consent or `by` did not record it (the caller cannot tell
    /// the two apart); [`RevokeOutcome::AlreadyRevoked`] when it was revoked before (nothing
    /// changes).
    async fn revoke_consent(
        &self,
        id: ConsentId,
        by: &PartnerId,
        at: DateTime<Utc>,
    ) -> Result<Option<RevokeOutcome>, StoreError>;

    /// Every consent recorded for a resident (in force or not).
    async fn consents_for(&self, resident: &Bsn) -> Result<Vec<StoredConsent>, StoreError>;

    /// The outbox rows queued for a referral (oldest first).
    async fn outbox_for(&self, id: ReferralId) -> Result<Vec<OutboxItem>, StoreError>;

    /// Row counts per table.
    async fn counts(&self) -> Result<StoreCounts, StoreError>;

    // ---- metrics ----------------------------------------------------------------------------

    /// Every referral counted by status and routed receiver (one entry per pair that has any),
    /// for `/metrics` and the dashboard; erased referrals included (their metadata stays).
    /// One pass over an index on (status, receiver).
    async fn referral_counts(&self) -> Result<Vec<ReferralCount>, StoreError>;

    /// What this instance's writer has done since it started (for `/metrics`): commits, the
    /// writes they carried, and its time working and committing. Read from memory.
    fn writer_activity(&self) -> WriterActivity;

    /// The writes waiting for this instance's writer now, by lane (for `/metrics`). Read from
    /// memory.
    fn writer_queue(&self) -> WriterQueue;

    /// The outbox per recipient at `now`: pending rows, due rows and when the oldest due one
    /// was queued, and dead letters. Only recipients with a pending row or a dead letter.
    async fn outbox_backlog(&self, now: DateTime<Utc>) -> Result<Vec<OutboxBacklog>, StoreError>;

    // ---- retention --------------------------------------------------------------------------

    /// A referral's metadata, erased or not (`None`: no such referral).
    async fn referral_meta(&self, id: ReferralId) -> Result<Option<ReferralMeta>, StoreError>;

    /// A referral's metadata unless retention erased it (`None`: no such referral, or its
    /// payload is gone): who sent it, to whom, its status, without reading the payload.
    async fn live_referral_meta(&self, id: ReferralId) -> Result<Option<ReferralMeta>, StoreError> {
        Ok(self
            .referral_meta(id)
            .await?
            .filter(|m| m.erased_at.is_none()))
    }

    /// Erases the payloads of up to `limit` referrals in one of [`RETAINED_STATUSES`] whose
    /// last status change is older than `older_than`, oldest first, in one transaction:
    /// the request and the shared copy are gone, the transitions lose their reason texts
    /// (their codes stay), pending outbox rows are cancelled and dead letters discarded (there
    /// is nothing left to deliver), and a `payload_erased` audit event is appended for each.
    /// Metadata, outbox rows, consents and audit events stay. Afterwards
    /// [`Store::referral`] answers `None` for them (see [`Store::referral_meta`]).
    /// `now` is the erasure time. Returns how many were erased (less than `limit`: none left).
    async fn erase_payloads(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError>;

    /// Gives the space freed by erasures back (SQLite: `PRAGMA incremental_vacuum`, to the
    /// file system; PostgreSQL: a plain `VACUUM` of the erased tables after erasures, which
    /// makes the space reusable and returns only empty pages at a table's end). Returns the
    /// pages freed (returned to the file system).
    async fn reclaim_space(&self) -> Result<u64, StoreError>;

    /// Finishes the writes in flight and closes the store; later calls answer
    /// [`StoreError::Unavailable`]. Dropping the store without closing loses nothing that was
    /// answered as stored.
    async fn close(&self) {}

    // ---- delivery (the outbox worker) ---------------------------------------------------

    /// Claims up to `limit` due rows for push delivery: state pending, `next_attempt_at <=
    /// now`, recipient among `recipients`, not leased (or the lease expired), and no older
    /// pending row for the same referral and recipient (updates go out in order). Each claimed
    /// row gets `locked_by = worker`, `locked_until = now + lease`, and one more attempt.
    async fn claim_due(
        &self,
        worker: &str,
        recipients: &[PartnerId],
        now: DateTime<Utc>,
        lease: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError>;

    /// The row was delivered. Accepted only from the lease holder (false otherwise, and
    /// nothing changes). For a referral row, the referral becomes `delivered` in the same
    /// transaction.
    async fn complete(
        &self,
        row: i64,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The attempt failed and will be retried at `next_attempt_at`; the lease is released.
    /// Only the lease holder may; `error` is a short reason without payload.
    async fn retry_later(
        &self,
        row: i64,
        worker: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError>;

    /// The delivery failed for good: the row becomes a dead letter with `error`; for a
    /// referral row the referral becomes `undeliverable` (a transition by the gateway, with
    /// `error` as reason) and `notify` rows (the sender's notice) are queued. Lease holder
    /// only.
    async fn dead_letter(
        &self,
        row: i64,
        worker: &str,
        error: &str,
        now: DateTime<Utc>,
        notify: Vec<OutboxItem>,
    ) -> Result<bool, StoreError>;

    /// The delivery must not happen (consent revoked or expired): the row is cancelled, the
    /// referral takes `transition` (consent_missing) if legal, and `notify` rows are queued.
    /// Lease holder only.
    async fn cancel_delivery(
        &self,
        row: i64,
        worker: &str,
        transition: Transition,
        notify: Vec<OutboxItem>,
    ) -> Result<bool, StoreError>;

    /// Dead letters, newest first, after the cursor `before` (a row id) if given.
    async fn dead_letters(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError>;

    /// Puts a dead letter back in the queue, due now, with its attempts reset; an undeliverable
    /// referral goes back to `routed` (a transition by `operator`). False if no such dead
    /// letter.
    async fn retry_dead_letter(
        &self,
        row: i64,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Discards a dead letter for good: the row is `discarded`; an undeliverable referral
    /// becomes `cancelled` (by `operator`). False if no such dead letter.
    async fn discard_dead_letter(
        &self,
        row: i64,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    // ---- analytics (aggregates over the referrals received in a window) --------------------
    //
    // Counts only: residents are counted distinct inside the query (by the keyed pseudonym of
    // the intake's audit event) and never leave the store. Sectors come from `sectors`; a
    // partner not in it counts as [`SectorKey::Unknown`](crate::analytics::SectorKey).

    /// Referrals received in `window` that were routed to a receiver, by the sender's sector
    /// and the receiver's sector, with their distinct residents; in sector order.
    async fn sector_flows(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::SectorFlow>, StoreError>;

    /// For the referrals received in `window` that were routed, per receiving sector and
    /// [`Stage`](crate::analytics::Stage): the time from receipt to the transition to that
    /// stage's status (for those that reached it by now; rounded to the second under an hour,
    /// the minute under a day, ten minutes under a week, the hour beyond), and their distinct
    /// residents.
    async fn stage_durations(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::StageDurations>, StoreError>;

    /// Referrals received in `window` that ever became `consent_missing`, per sender, with
    /// their distinct residents; in sector, then sender order.
    async fn consent_refusals(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::ConsentRefusals>, StoreError>;

    /// The deliveries (outbox rows) queued in `window`, per recipient, by what became of them;
    /// in sector, then partner order.
    async fn delivery_outcomes(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::PartnerDeliveries>, StoreError>;

    /// The totals of the referrals received in `window` (the tables' totals, with distinct
    /// residents, which the rows cannot give: a resident may be in several rows).
    async fn period_totals(
        &self,
        window: &crate::analytics::TimeWindow,
    ) -> Result<crate::analytics::PeriodTotals, StoreError>;

    /// Every analytics aggregate of `window` at once. An implementation reads them from one
    /// snapshot (SQLite: one read transaction), so a table's total agrees with its rows while
    /// the gateway keeps writing; the default reads them one after the other.
    async fn period_aggregates(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<crate::analytics::PeriodAggregates, StoreError> {
        Ok(crate::analytics::PeriodAggregates {
            window: *window,
            totals: self.period_totals(window).await?,
            flows: self.sector_flows(window, sectors).await?,
            durations: self.stage_durations(window, sectors).await?,
            refusals: self.consent_refusals(window, sectors).await?,
            deliveries: self.delivery_outcomes(window, sectors).await?,
        })
    }

    // ---- mailbox (partners that pull) -----------------------------------------------------

    /// Offers up to `limit` pending rows of `recipient` with id greater than `after`: rows not
    /// offered (or whose offer expired), oldest first, one per referral at a time (order).
    /// Each offered row is hidden from the next call until `now + visibility`
    /// (`locked_by = "mailbox"`).
    async fn mailbox_offer(
        &self,
        recipient: &PartnerId,
        after: Option<i64>,
        now: DateTime<Utc>,
        visibility: std::time::Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError>;

    /// The partner acknowledged an offered row: delivered (a referral row makes the referral
    /// `delivered`). False if it is not this recipient's pending row.
    async fn mailbox_ack(
        &self,
        recipient: &PartnerId,
        row: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    // ---- instances (several gateways on one store) ----------------------------------------

    /// Registers `me`, or refreshes its heartbeat: its `last_seen` becomes the store's current
    /// time. Answers the registration this replaced when that was another start under the
    /// same id (this instance's previous run, or, when it was seen recently, another process
    /// configured with the same worker id: a mistake the caller warns about).
    async fn heartbeat(&self, me: &InstanceInfo) -> Result<Option<InstanceSeen>, StoreError>;

    /// The instances whose last heartbeat is at most `within` old, by the store's clock,
    /// most recently started first. (SQLite: this process, the only instance.)
    async fn instances(&self, within: std::time::Duration)
        -> Result<Vec<InstanceSeen>, StoreError>;

    /// Removes `me`'s registration at a clean stop (if it is still this start's). A stopped
    /// instance's leases are not released here: they expire and are claimed by others.
    async fn retire_instance(&self, me: &InstanceInfo) -> Result<(), StoreError>;

    // ---- partners' rate limits ------------------------------------------------------------

    /// Whether the store keeps partners' quotas (inbound and outbound) for every instance on
    /// it ([`Store::take_rate_token`]). `false` (the default, for a store of one instance): the
    /// gateway limits in-process.
    fn shares_rate_limits(&self) -> bool {
        false
    }

    /// Takes one request (or delivery) from a partner's quota `bucket` (`rate`: sustained per
    /// second, burst), shared by every instance on this store. A store that does not share
    /// quotas answers [`RateDecision::Allowed`].
    async fn take_rate_token(
        &self,
        bucket: &RateBucket,
        rate: crate::config::RateLimit,
    ) -> Result<RateDecision, StoreError> {
        let _ = (bucket, rate);
        Ok(RateDecision::Allowed)
    }
    // ---- the operations dashboard (metadata only, see [`dashboard`]) ----------------------

    /// The overview's figures, read in one snapshot: referrals per status; referrals received
    /// at or after `since`, and how many of those are `consent_missing`; pending, retrying and
    /// dead outbox rows; the oldest due row at `now`; and per recipient, the rows delivered
    /// at or after `since` and those pending, retrying and dead.
    async fn ops_overview(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<dashboard::OpsOverview, StoreError>;

    /// Up to `limit` referrals matching `filter` from `start`, newest first by
    /// `(received_at, id)`, with whether more match on either side. Keyset paging: the cost
    /// of a page does not grow with how far into the list it is.
    async fn referral_page(
        &self,
        filter: &dashboard::ReferralFilter,
        start: dashboard::PageStart,
        limit: usize,
    ) -> Result<dashboard::ReferralPage, StoreError>;

    /// A referral's metadata, status history (without reason texts), outbox rows and up to
    /// `max_events` of its audit events (with only [`dashboard::TIMELINE_DETAIL_KEYS`] of
    /// their detail); erased referrals included. `None`: no such referral.
    async fn referral_timeline(
        &self,
        id: ReferralId,
        max_events: usize,
    ) -> Result<Option<dashboard::ReferralTimeline>, StoreError>;

    /// The dead letter with this outbox row id (`None` if that row is not a dead letter).
    async fn dead_letter_by_id(&self, row: i64) -> Result<Option<DeadLetter>, StoreError>;

    // ---- the dashboard's sign-in sessions (every instance on the store knows them) --------

    /// Stores a new session under `key` (the SHA-256 of its id), and removes the sessions
    /// that ended by its `started_at`.
    async fn start_session(
        &self,
        key: &dashboard::SessionKey,
        session: &dashboard::StaffSession,
    ) -> Result<(), StoreError>;

    /// The session under `key` if it has not ended at `now`.
    async fn session(
        &self,
        key: &dashboard::SessionKey,
        now: DateTime<Utc>,
    ) -> Result<Option<dashboard::StaffSession>, StoreError>;

    /// Marks the session under `key` seen at `seen_at`, ending at `expires_at` now.
    async fn touch_session(
        &self,
        key: &dashboard::SessionKey,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Ends the session under `key` (sign-out), if there is one.
    async fn end_session(&self, key: &dashboard::SessionKey) -> Result<(), StoreError>;

    // ---- benchmarks only ------------------------------------------------------------------

    /// FOR BENCHMARKS ONLY (the load generator's growth runs; the gateway never calls it):
    /// writes `plan.count` finished referrals in one transaction with plain SQL, metadata
    /// only, each with its first transition and a delivered (or dead) outbox row. No audit
    /// events, consents or payloads: a store seeded so is for measuring, never for use.
    async fn seed_benchmark_referrals(
        &self,
        plan: &bench_seed::SeedPlan,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// A claimed (leased) outbox row.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Lease {
    /// The outbox row id; also the attempt-independent delivery key.
    pub row: i64,
    pub item: OutboxItem,
    /// Attempts so far, this one included.
    pub attempts: u32,
    /// When the row was queued (for the maximum age).
    pub created_at: DateTime<Utc>,
}

/// A delivery that failed for good.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DeadLetter {
    pub row: i64,
    pub item: OutboxItem,
    pub attempts: u32,
    /// Status code and a short reason; never payload.
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub failed_at: DateTime<Utc>,
}
