//! The PostgreSQL store: several gateway instances on one database.
//!
//! Chosen by `[store] url = "postgres://..."`. The semantics are the SQLite store's (its tests
//! are the specification and run against both); what changes is that nothing may assume it is
//! alone:
//!
//! - Each store handle has a writer task (`postgres/writer.rs`) that groups its instance's
//!   concurrent writes into shared transactions (group commit). Every write transaction first locks
//!   the audit chain's head row (`postgres/audit.rs`), so the writes of all instances run one after
//!   the other and the chain stays one chain.
//! - Claims and mailbox offers run outside the writer, one statement each, with `FOR UPDATE SKIP
//!   LOCKED` (`postgres/delivery.rs`); only the lease holder may finish a row, and an expired lease
//!   (an instance that stopped) is claimed by another instance.
//! - Reads go through the pool; a read of several statements is one repeatable-read transaction, so
//!   it sees one snapshot.
//! - Migrations (`migrations/postgres/`) are applied under sqlx's `pg_advisory_lock` on a session
//!   of their own ([`Store::migrate`]), so instances starting together apply each migration once.
//! - Instances register with a heartbeat (`postgres/instances.rs`), and partners' quotas (inbound
//!   requests, outbound deliveries) are token buckets in the database (`postgres/rate_limit.rs`),
//!   shared by every instance.

mod analytics;
mod audit;
mod bench_seed;
mod claim_statistics;
mod codec;
mod dashboard;
mod delivery;
mod histories;
mod instances;
mod intake;
#[cfg(test)]
mod list_plans;
mod operations;
mod processing_log;
mod rate_limit;
mod retention;
mod revoke;
mod sessions;
mod status_changes;
#[cfg(test)]
mod write_path_plans;
mod writer;

use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::sync::oneshot;
use uuid::Uuid;
use wijkbrug_adapters::model::{
    Bsn, Consent, ExternalRef, PartnerId, Purpose, Referral, ReferralId, Transition,
};

use self::codec::{corrupt, unavailable};
use self::delivery::{DeliveryJob, Pick, MAILBOX};
use self::writer::{Job, Stats, TransitionJob, Writer};
use super::writer_queue::{self, JobSender};
use super::{
    ConsentId, DeadLetter, InstanceInfo, InstanceSeen, Intake, IntakeOutcome, Lease, OutboxItem,
    RateBucket, RateDecision, ReferralMeta, RevokeOutcome, SharedCopy, Store, StoreCounts,
    StoreError, StoredConsent, StoredReferral, TransitionOutcome,
};
use crate::audit::{AuditEvent, PseudonymKey};
use crate::config::{RateLimit, StoreSettings};

/// The embedded migrations.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a request waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A session that sits inside a transaction this long without a statement is ended by the
/// server. The gateway's transactions never idle; a stalled instance (stopped, not killed)
/// must not hold the chain's head, and with it every instance's writes, for longer.
const IDLE_IN_TRANSACTION: &str = "10s";

pub use self::rate_limit::{
    lot_size as rate_lot_size, FAILURE_HOLD as RATE_FAILURE_HOLD, LOT_LIFETIME as RATE_LOT_LIFETIME,
};

/// Starts a read of several statements that sees one snapshot.
pub(crate) const SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    options: PgConnectOptions,
    jobs: JobSender<Job>,
    stats: Arc<Stats>,
    erased: retention::Erased,
    rate_lots: rate_limit::Lots,
    claim_statistics: claim_statistics::ClaimStatistics,
}

impl PgStore {
    /// Connects to the database of `settings.url` (`postgres://...`), which must exist. Does
    /// not migrate: call [`Store::migrate`]. Resident pseudonyms in the audit log are keyed
    /// with the development key: for tests; the gateway opens with
    /// [`PgStore::open_with_key`].
    pub async fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        Self::open_with_key(settings, PseudonymKey::development()).await
    }

    /// [`PgStore::open`] with the key the audit log's resident pseudonyms are keyed with.
    pub async fn open_with_key(
        settings: &StoreSettings,
        pseudonym_key: PseudonymKey,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|_| {
                StoreError::Unavailable(
                    "the store url must be postgres://[user[:password]@]host[:port]/database"
                        .to_owned(),
                )
            })?
            .application_name("wijkbrug")
            .options([("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION)]);
        let pool = PgPoolOptions::new()
            // For claims and reads; the writer has a connection of its own besides.
            .max_connections(settings.max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let max_batch = settings.group_commit_max_batch.max(1);
        let (jobs, rx) = writer_queue::bounded(max_batch.saturating_mul(4).max(64));
        let stats = Arc::new(Stats::default());
        Writer {
            options: options.clone(),
            conn: None,
            rx,
            max_batch,
            max_wait: settings.group_commit_max_wait,
            stats: Arc::clone(&stats),
            key: pseudonym_key,
        }
        .spawn()?;
        Ok(Self {
            pool,
            options,
            jobs,
            stats,
            erased: retention::Erased::default(),
            rate_lots: rate_limit::Lots::default(),
            claim_statistics: claim_statistics::ClaimStatistics::default(),
        })
    }

    /// Keeps the planner's statistics of `outbox` near the backlog before a claim
    /// ([`claim_statistics`]).
    async fn refresh_claim_statistics(&self) {
        if let Err(e) = self.claim_statistics.refresh(&self.pool).await {
            // A claim works without it, only slower under a backlog.
            tracing::warn!(error = %e, "store: could not check the outbox's statistics");
        }
    }

    /// `(commits, intakes)`: how many write transactions were committed and how many intake
    /// calls they carried. Fewer commits than intakes means commits were shared.
    pub fn commit_stats(&self) -> (u64, u64) {
        (
            self.stats.writer.commits(),
            self.stats.intakes.load(Ordering::Relaxed),
        )
    }

    async fn write<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Job,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(job(reply))
            .await
            .map_err(|_| writer::closed())?;
        answer.await.map_err(|_| writer::closed())?
    }

    async fn delivery(&self, job: DeliveryJob) -> Result<bool, StoreError> {
        let job = Box::new(job);
        self.write(|reply| Job::Delivery(job, reply))
            .await
            .map(|answer| answer.0)
    }

    /// Refuses work after [`Store::close`] (claims and reads do not go through the writer).
    fn open_or_closed(&self) -> Result<(), StoreError> {
        if self.jobs.is_closed() || self.pool.is_closed() {
            Err(writer::closed())
        } else {
            Ok(())
        }
    }
}

/// A `referrals` row as `referral()` reads it, with its history's arrays
/// ([`codec::HISTORY_ARRAYS`]).
type ReferralRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Uuid>,
    DateTime<Utc>,
    Vec<String>,
    Vec<DateTime<Utc>>,
    Vec<String>,
    Vec<Option<String>>,
    Vec<Option<String>>,
);

/// A `consents` row.
type ConsentRow = (
    Uuid,
    String,
    String,
    String,
    String,
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    String,
    Option<String>,
    Option<DateTime<Utc>>,
);

#[async_trait]
impl Store for PgStore {
    /// Applies the embedded migrations on a session of its own, under sqlx's session-level
    /// `pg_advisory_lock` (keyed by the database's name): a second instance migrating at the
    /// same time waits, then finds everything applied. The session ends afterwards, which
    /// releases the lock even when a migration failed.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = PgConnection::connect_with(&self.options)
            .await
            .map_err(unavailable)?;
        let result = MIGRATOR
            .run_direct(&mut conn)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()));
        let _ = conn.close().await;
        result
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.open_or_closed()?;
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        conn.ping().await.map_err(unavailable)?;
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&mut *conn)
                .await
                .map_err(|_| StoreError::Migration("no migrations are applied".to_owned()))?;
        let missing = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .filter(|m| !applied.iter().any(|(v,)| *v == m.version))
            .count();
        if missing > 0 {
            return Err(StoreError::Migration(format!(
                "{missing} migrations are not applied"
            )));
        }
        Ok(())
    }

    async fn intake(&self, intake: Intake) -> Result<Vec<IntakeOutcome>, StoreError> {
        self.write(|reply| Job::Intake(intake, reply)).await
    }

    async fn referral(&self, id: ReferralId) -> Result<Option<StoredReferral>, StoreError> {
        self.open_or_closed()?;
        // One statement, so one snapshot: the row and its history aggregated beside it. An
        // erased referral reads as none (retention): its metadata is in `referral_meta`.
        static READ: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT r.request, r.receiver, r.shared, r.shared_categories, r.shared_removed, \
                 r.consent_id, r.received_at, h.* FROM referrals r, \
                 LATERAL (SELECT {} FROM status_transitions t WHERE t.referral_id = r.id) h \
                 WHERE r.id = $1 AND r.erased_at IS NULL",
                codec::HISTORY_ARRAYS
            )
        });
        let row: Option<ReferralRow> = sqlx::query_as(READ.as_str())
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        let Some((
            request,
            receiver,
            shared,
            categories,
            removed,
            consent,
            received_at,
            s,
            a,
            b,
            r,
            c,
        )) = row
        else {
            return Ok(None);
        };
        let history = codec::history_from_arrays((s, a, b, r, c), id)?
            .ok_or_else(|| corrupt(format_args!("referral {id} has no history")))?;

        let request = codec::request_from_json(&request, id, "referrals.request")?;
        let shared = match (receiver, shared, categories, removed) {
            (None, None, None, None) => None,
            (Some(receiver), Some(shared), Some(categories), Some(removed)) => Some(SharedCopy {
                receiver: codec::parse_partner(&receiver, "referrals.receiver")?,
                request: codec::request_from_json(&shared, id, "referrals.shared")?,
                categories: codec::parse_categories(&categories, "referrals.shared_categories")?,
                removed: codec::parse_categories(&removed, "referrals.shared_removed")?,
                consent: consent.map(codec::consent_id),
            }),
            _ => {
                return Err(corrupt(format_args!(
                    "the shared copy of referral {id} is incomplete"
                )))
            }
        };
        Ok(Some(StoredReferral {
            referral: Referral {
                id,
                request,
                history,
            },
            shared,
            received_at,
        }))
    }

    async fn referral_by_source(
        &self,
        sender: &PartnerId,
        reference: &ExternalRef,
    ) -> Result<Option<ReferralId>, StoreError> {
        self.open_or_closed()?;
        let row: Option<(Uuid,)> =
            sqlx::query_as("SELECT id FROM referrals WHERE sender = $1 AND source_ref = $2")
                .bind(sender.as_str())
                .bind(reference.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        row.map(|(id,)| codec::referral_id(id, "referrals.id"))
            .transpose()
    }

    async fn apply_transition(
        &self,
        id: ReferralId,
        transition: Transition,
        notify: Vec<OutboxItem>,
    ) -> Result<TransitionOutcome, StoreError> {
        let job = Box::new(TransitionJob {
            id,
            transition,
            notify,
        });
        self.write(|reply| Job::Transition(job, reply)).await
    }

    async fn insert_consent(&self, id: ConsentId, consent: &Consent) -> Result<(), StoreError> {
        let batch = Box::new(writer::ConsentBatch {
            consents: vec![(id, consent.clone())],
            imported_by: None,
        });
        self.write(|reply| Job::Consents(batch, reply)).await
    }

    async fn import_consents(
        &self,
        consents: Vec<(ConsentId, Consent)>,
        imported_by: &str,
    ) -> Result<(), StoreError> {
        let batch = Box::new(writer::ConsentBatch {
            consents,
            imported_by: Some(imported_by.to_owned()),
        });
        self.write(|reply| Job::Consents(batch, reply)).await
    }

    async fn record_read(
        &self,
        partner: &PartnerId,
        referral: ReferralId,
    ) -> Result<(), StoreError> {
        let partner = partner.clone();
        self.write(|reply| Job::Read(partner, referral, reply))
            .await
    }

    async fn audit_events(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.open_or_closed()?;
        audit::events(&self.pool, after_seq, limit).await
    }

    async fn processing_log(
        &self,
        pseudonym: &str,
        retention: &str,
    ) -> Result<Vec<crate::processing_log::ProcessingEntry>, StoreError> {
        self.open_or_closed()?;
        processing_log::processing_log(&self.pool, pseudonym, retention).await
    }

    async fn record_access_refused(
        &self,
        partner: &PartnerId,
        rule: &str,
        presented: &str,
    ) -> Result<(), StoreError> {
        let event =
            crate::audit::AuditDraft::access_refused(super::now(), partner, rule, presented);
        self.write(|reply| Job::Event(Box::new(event), reply)).await
    }

    async fn record_processing_log_read(
        &self,
        reader: &str,
        pseudonym: &crate::audit::Pseudonym,
        entries: usize,
    ) -> Result<(), StoreError> {
        let event =
            crate::audit::AuditDraft::processing_log_read(super::now(), pseudonym, reader, entries);
        self.write(|reply| Job::Event(Box::new(event), reply)).await
    }

    async fn revoke_consent(
        &self,
        id: ConsentId,
        by: &PartnerId,
        at: DateTime<Utc>,
    ) -> Result<Option<RevokeOutcome>, StoreError> {
        let job = Box::new(revoke::RevokeJob {
            id,
            by: by.clone(),
            at,
        });
        self.write(|reply| Job::Revoke(job, reply)).await
    }

    async fn consents_for(&self, resident: &Bsn) -> Result<Vec<StoredConsent>, StoreError> {
        self.open_or_closed()?;
        let rows: Vec<ConsentRow> = sqlx::query_as(
            "SELECT id, resident, grantee_kind, grantee, purpose, effect, categories, \
             valid_from, valid_until, recorded_by, evidence, revoked_at \
             FROM consents WHERE resident = $1 ORDER BY recorded_at, id",
        )
        .bind(resident.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter().map(consent_from_row).collect()
    }

    async fn outbox_for(&self, id: ReferralId) -> Result<Vec<OutboxItem>, StoreError> {
        self.open_or_closed()?;
        let rows: Vec<codec::OutboxRow> = sqlx::query_as(
            "SELECT referral_id, recipient, kind, transition FROM outbox \
             WHERE referral_id = $1 ORDER BY id",
        )
        .bind(id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter().map(codec::outbox_from_row).collect()
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
        self.open_or_closed()?;
        let (referrals, transitions, outbox, consents, idempotency_keys): (
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM referrals), (SELECT COUNT(*) FROM status_transitions), \
             (SELECT COUNT(*) FROM outbox), (SELECT COUNT(*) FROM consents), \
             (SELECT COUNT(*) FROM idempotency_keys)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(StoreCounts {
            referrals: n(referrals),
            transitions: n(transitions),
            outbox: n(outbox),
            consents: n(consents),
            idempotency_keys: n(idempotency_keys),
        })
    }

    async fn referral_meta(&self, id: ReferralId) -> Result<Option<ReferralMeta>, StoreError> {
        self.open_or_closed()?;
        retention::meta(&self.pool, id).await
    }

    async fn erase_payloads(
        &self,
        older_than: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let job = Box::new(retention::EraseJob {
            older_than,
            now,
            limit,
        });
        let erased = self.write(|reply| Job::Erase(job, reply)).await?;
        self.erased.add(erased);
        Ok(erased)
    }

    /// A plain `VACUUM` of the tables erasures changed, when this handle erased anything since
    /// its last call (see `store/postgres/retention.rs`): the space becomes reusable at once.
    /// Answers how many 8 KiB pages the tables' files shrank by, usually 0: PostgreSQL reuses
    /// freed space for new rows rather than returning it.
    async fn reclaim_space(&self) -> Result<u64, StoreError> {
        self.open_or_closed()?;
        retention::reclaim(&self.pool, &self.erased).await
    }

    async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.jobs.send(Job::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
        self.pool.close().await;
    }

    async fn claim_due(
        &self,
        worker: &str,
        recipients: &[PartnerId],
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        self.open_or_closed()?;
        self.refresh_claim_statistics().await;
        delivery::lease_rows(&self.pool, Pick::Due(recipients), worker, now, lease, limit).await
    }

    async fn complete(
        &self,
        row: i64,
        worker: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::Complete {
            row,
            worker: worker.to_owned(),
            now,
        })
        .await
    }

    async fn retry_later(
        &self,
        row: i64,
        worker: &str,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::RetryLater {
            row,
            worker: worker.to_owned(),
            next_attempt_at,
            error: error.to_owned(),
        })
        .await
    }

    async fn dead_letter(
        &self,
        row: i64,
        worker: &str,
        error: &str,
        now: DateTime<Utc>,
        notify: Vec<OutboxItem>,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::DeadLetter {
            row,
            worker: worker.to_owned(),
            error: error.to_owned(),
            now,
            notify,
        })
        .await
    }

    async fn cancel_delivery(
        &self,
        row: i64,
        worker: &str,
        transition: Transition,
        notify: Vec<OutboxItem>,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::Cancel {
            row,
            worker: worker.to_owned(),
            transition,
            notify,
        })
        .await
    }

    async fn dead_letters(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        self.open_or_closed()?;
        delivery::read::dead_letters(&self.pool, before, limit).await
    }

    async fn retry_dead_letter(
        &self,
        row: i64,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::RetryDead {
            row,
            operator: operator.to_owned(),
            now,
        })
        .await
    }

    async fn discard_dead_letter(
        &self,
        row: i64,
        operator: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::Discard {
            row,
            operator: operator.to_owned(),
            now,
        })
        .await
    }

    async fn mailbox_offer(
        &self,
        recipient: &PartnerId,
        after: Option<i64>,
        now: DateTime<Utc>,
        visibility: Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        self.open_or_closed()?;
        self.refresh_claim_statistics().await;
        delivery::lease_rows(
            &self.pool,
            Pick::Mailbox(recipient, after),
            MAILBOX,
            now,
            visibility,
            limit,
        )
        .await
    }

    async fn mailbox_ack(
        &self,
        recipient: &PartnerId,
        row: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.delivery(DeliveryJob::Ack {
            recipient: recipient.clone(),
            row,
            now,
        })
        .await
    }

    async fn heartbeat(&self, me: &InstanceInfo) -> Result<Option<InstanceSeen>, StoreError> {
        self.open_or_closed()?;
        instances::heartbeat(&self.pool, me).await
    }

    async fn instances(&self, within: Duration) -> Result<Vec<InstanceSeen>, StoreError> {
        self.open_or_closed()?;
        instances::seen_within(&self.pool, within).await
    }

    async fn retire_instance(&self, me: &InstanceInfo) -> Result<(), StoreError> {
        self.open_or_closed()?;
        instances::retire(&self.pool, me).await
    }

    fn shares_rate_limits(&self) -> bool {
        true
    }

    async fn take_rate_token(
        &self,
        bucket: &RateBucket,
        rate: RateLimit,
    ) -> Result<RateDecision, StoreError> {
        self.open_or_closed()?;
        rate_limit::take(&self.pool, &self.rate_lots, bucket, rate).await
    }

    async fn open_received(
        &self,
        receiver: &PartnerId,
        limit: u32,
    ) -> Result<Vec<ReferralId>, StoreError> {
        self.open_or_closed()?;
        operations::open_received(&self.pool, receiver, limit).await
    }

    fn writer_activity(&self) -> super::WriterActivity {
        self.stats.writer.snapshot()
    }

    fn writer_queue(&self) -> super::WriterQueue {
        self.jobs.queued()
    }

    async fn referral_counts(&self) -> Result<Vec<super::ReferralCount>, StoreError> {
        self.open_or_closed()?;
        operations::referral_counts(&self.pool).await
    }

    async fn outbox_backlog(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<super::OutboxBacklog>, StoreError> {
        self.open_or_closed()?;
        operations::outbox_backlog(&self.pool, now).await
    }

    async fn dead_letter_by_id(&self, row: i64) -> Result<Option<DeadLetter>, StoreError> {
        self.open_or_closed()?;
        delivery::read::dead_letter_by_id(&self.pool, row).await
    }

    async fn start_session(
        &self,
        key: &super::dashboard::SessionKey,
        session: &super::dashboard::StaffSession,
    ) -> Result<(), StoreError> {
        self.open_or_closed()?;
        sessions::start(&self.pool, key, session).await
    }

    async fn session(
        &self,
        key: &super::dashboard::SessionKey,
        now: DateTime<Utc>,
    ) -> Result<Option<super::dashboard::StaffSession>, StoreError> {
        self.open_or_closed()?;
        sessions::get(&self.pool, key, now).await
    }

    async fn touch_session(
        &self,
        key: &super::dashboard::SessionKey,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.open_or_closed()?;
        sessions::touch(&self.pool, key, seen_at, expires_at).await
    }

    async fn end_session(&self, key: &super::dashboard::SessionKey) -> Result<(), StoreError> {
        self.open_or_closed()?;
        sessions::end(&self.pool, key).await
    }

    async fn seed_benchmark_referrals(
        &self,
        plan: &crate::store::bench_seed::SeedPlan,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        bench_seed::seed(&self.pool, plan, now).await
    }

    async fn ops_overview(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<super::dashboard::OpsOverview, StoreError> {
        self.open_or_closed()?;
        dashboard::overview(&self.pool, since, now).await
    }

    async fn referral_page(
        &self,
        filter: &super::dashboard::ReferralFilter,
        start: super::dashboard::PageStart,
        limit: usize,
    ) -> Result<super::dashboard::ReferralPage, StoreError> {
        self.open_or_closed()?;
        dashboard::page(&self.pool, filter, start, limit).await
    }

    async fn referral_timeline(
        &self,
        id: ReferralId,
        max_events: usize,
    ) -> Result<Option<super::dashboard::ReferralTimeline>, StoreError> {
        self.open_or_closed()?;
        dashboard::timeline(&self.pool, id, max_events).await
    }

    async fn sector_flows(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::SectorFlow>, StoreError> {
        self.open_or_closed()?;
        analytics::sector_flows(
            &mut *analytics::connection(&self.pool).await?,
            window,
            sectors,
        )
        .await
    }

    async fn stage_durations(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::StageDurations>, StoreError> {
        self.open_or_closed()?;
        analytics::stage_durations(
            &mut *analytics::connection(&self.pool).await?,
            window,
            sectors,
        )
        .await
    }

    async fn consent_refusals(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::ConsentRefusals>, StoreError> {
        self.open_or_closed()?;
        analytics::consent_refusals(
            &mut *analytics::connection(&self.pool).await?,
            window,
            sectors,
        )
        .await
    }

    async fn delivery_outcomes(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::PartnerDeliveries>, StoreError> {
        self.open_or_closed()?;
        analytics::delivery_outcomes(
            &mut *analytics::connection(&self.pool).await?,
            window,
            sectors,
        )
        .await
    }

    async fn period_totals(
        &self,
        window: &crate::analytics::TimeWindow,
    ) -> Result<crate::analytics::PeriodTotals, StoreError> {
        self.open_or_closed()?;
        analytics::period_totals(&mut *analytics::connection(&self.pool).await?, window).await
    }

    async fn period_aggregates(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<crate::analytics::PeriodAggregates, StoreError> {
        self.open_or_closed()?;
        analytics::period_aggregates(&self.pool, window, sectors).await
    }
}

fn consent_from_row(row: ConsentRow) -> Result<StoredConsent, StoreError> {
    let (
        id,
        resident,
        grantee_kind,
        grantee,
        purpose,
        effect,
        categories,
        valid_from,
        valid_until,
        recorded_by,
        evidence,
        revoked_at,
    ) = row;
    Ok(StoredConsent {
        id: codec::consent_id(id),
        consent: Consent {
            resident: Bsn::parse(&resident)
                .map_err(|_| corrupt("consents.resident is not a BSN"))?,
            grantee: codec::parse_grantee(&grantee_kind, &grantee)?,
            purpose: Purpose::from_str(&purpose)
                .map_err(|_| corrupt("consents.purpose is not a purpose"))?,
            effect: codec::parse_effect(&effect)?,
            categories: codec::parse_categories(&categories, "consents.categories")?,
            valid_from,
            valid_until,
            recorded_by: codec::parse_partner(&recorded_by, "consents.recorded_by")?,
            evidence: codec::parse_evidence(evidence)?,
            revoked_at,
        },
    })
}
