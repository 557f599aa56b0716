//! The SQLite store (the embedded default).
//!
//! One database file under the data directory, in WAL mode with `synchronous = FULL`, so a commit
//! is on disk when it returns and readers never block the writer. Writes go through a single writer
//! with its own connection (`sqlite/writer.rs`), which gathers concurrent writes into shared
//! transactions (group commit). The writer is a thread of its own holding a direct SQLite
//! connection (`sqlite/direct.rs`): its statements run in place, where sqlx would hand each one to
//! the connection's thread and back. WAL checkpoints run beside the writer, on a thread of their
//! own (`sqlite/checkpointer.rs`). The writer's connection runs without triggers and keeps the
//! dashboard's counts itself (`sqlite/counts.rs`). The hot path's point reads run in place on
//! direct connections too (`sqlite/readers.rs`); the other reads go through sqlx's pool of
//! connections.
//!
//! The schema is in `migrations/sqlite/`, embedded in the binary and applied by
//! [`Store::migrate`].

pub(crate) mod analytics;
mod audit;
mod bench_seed;
mod checkpointer;
pub(crate) mod codec;
mod counts;
pub(crate) mod dashboard;
mod delivery;
mod direct;
mod metrics;
mod processing_log;
mod readers;
mod retention;
mod revoke;
mod sessions;
#[cfg(test)]
mod test_schema;
mod wal_gather;
#[cfg(test)]
mod write_path_plans;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection;
use tokio::sync::oneshot;
use wijkbrug_adapters::model::{
    Bsn, Consent, ExternalRef, PartnerId, Purpose, Referral, ReferralId, Transition,
};

use self::codec::{corrupt, unavailable};
use self::delivery::{DeliveryAnswer, DeliveryJob};
use self::writer::{Job, Stats, TransitionJob, Writer};
use super::writer_queue::{self, JobSender};
use super::{
    ConsentId, DeadLetter, Intake, IntakeOutcome, Lease, OutboxItem, ReferralMeta, RevokeOutcome,
    SharedCopy, Store, StoreCounts, StoreError, StoredConsent, StoredReferral, TransitionOutcome,
};
use crate::audit::{AuditEvent, PseudonymKey};
use crate::config::StoreSettings;

/// The embedded migrations.
static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// How long a connection waits for a lock before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Point reads on the hot path, in place (`sqlite/readers.rs`).
    readers: readers::Readers,
    jobs: JobSender<Job>,
    stats: Arc<Stats>,
    path: PathBuf,
    /// This process's registration: SQLite serves one instance, so it is kept in memory.
    instance: std::sync::Mutex<Option<super::InstanceSeen>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database of `settings.url`, `sqlite://<path>`; a
    /// relative path is under `settings.data_dir`, which is created if missing. Does not
    /// migrate: call [`Store::migrate`]. Resident pseudonyms in the audit log are keyed with
    /// the development key: for tests; the gateway opens with [`SqliteStore::open_with_key`].
    pub async fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        Self::open_with_key(settings, PseudonymKey::development()).await
    }

    /// For unit tests: a migrated store in `dir` (two connections, batches of eight, no wait).
    #[cfg(test)]
    pub(crate) async fn migrated_in(dir: &std::path::Path) -> Self {
        let store = Self::open(&StoreSettings {
            url: "sqlite://test.db".to_owned(),
            data_dir: dir.to_path_buf(),
            max_connections: 2,
            group_commit_max_batch: 8,
            group_commit_max_wait: Duration::ZERO,
        })
        .await
        .expect("a store in the test's folder");
        store.migrate().await.expect("the migrations");
        store
    }

    /// [`SqliteStore::open`] with the key the audit log's resident pseudonyms are keyed with.
    pub async fn open_with_key(
        settings: &StoreSettings,
        pseudonym_key: PseudonymKey,
    ) -> Result<Self, StoreError> {
        let path = database_path(&settings.url, &settings.data_dir)?;
        std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create the data directory: {e}"))
        })?;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Unavailable(format!("cannot create the database's directory: {e}"))
            })?;
        }
        // The database's lasting settings (WAL, incremental auto-vacuum) are made once, by a
        // first connection, before the pool and the writer open theirs. The pool's connections
        // only set what lasts as long as a connection: asking each new one to set WAL and
        // auto-vacuum again would have it wait for the database's write lock, which the busy
        // writer holds nearly all the time under load.
        let setup = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // Retention frees pages with `incremental_vacuum` (see `retention`).
            .auto_vacuum(SqliteAutoVacuum::Incremental);
        let mut conn = SqliteConnection::connect_with(&setup)
            .await
            .map_err(unavailable)?;
        retention::ensure_incremental_vacuum(&mut conn).await?;
        let _ = conn.close().await;

        let options = SqliteConnectOptions::new()
            .filename(&path)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections.max(1))
            .connect_with(options)
            .await
            .map_err(unavailable)?;

        // The writer's own connection, on the writer's own thread.
        let writer_path = path.clone();
        let conn = tokio::task::spawn_blocking(move || writer::connect(&writer_path, BUSY_TIMEOUT))
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open the writer: {e}")))??;
        let max_batch = settings.group_commit_max_batch.max(1);
        let (jobs, rx) = writer_queue::bounded(max_batch.saturating_mul(4).max(64));
        let stats = Arc::new(Stats::default());
        let checkpointer =
            checkpointer::Checkpointer::start(&path, BUSY_TIMEOUT, Arc::clone(&stats))?;
        let counts = counts::Counts::new();
        counts.attach(&conn)?;
        Writer {
            conn,
            path: path.clone(),
            rx,
            max_batch,
            max_wait: settings.group_commit_max_wait,
            stats: Arc::clone(&stats),
            chain: audit::Chain::new(pseudonym_key),
            checkpointer,
            counts,
        }
        .spawn()?;
        let readers = readers::Readers::new(
            path.clone(),
            BUSY_TIMEOUT,
            usize::try_from(settings.max_connections).unwrap_or(1),
        );
        Ok(Self {
            pool,
            readers,
            jobs,
            stats,
            path,
            instance: std::sync::Mutex::new(None),
        })
    }

    /// The database file `settings` name (whether or not it exists).
    pub fn database_file(settings: &StoreSettings) -> Result<PathBuf, StoreError> {
        database_path(&settings.url, &settings.data_dir)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
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

    async fn delivery(&self, job: DeliveryJob) -> Result<DeliveryAnswer, StoreError> {
        let job = Box::new(job);
        self.write(|reply| Job::Delivery(job, reply)).await
    }
}

/// The database file a `sqlite://` URL names.
fn database_path(url: &str, data_dir: &Path) -> Result<PathBuf, StoreError> {
    let bad = || {
        StoreError::Unavailable(
            "the store url must be sqlite://<path> (a file; relative paths are under the data \
             directory)"
                .to_owned(),
        )
    };
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(bad)?;
    let rest = rest.split('?').next().unwrap_or_default();
    if rest.is_empty() || rest == ":memory:" {
        return Err(bad());
    }
    let path = Path::new(rest);
    Ok(if path.is_absolute() {
        path.to_owned()
    } else {
        data_dir.join(path)
    })
}

/// A `referrals` row as `referral()` reads it.
type ReferralRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// A `consents` row.
type ConsentRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        conn.ping().await.map_err(unavailable)?;
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = 1")
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
        let encoded = Box::new(writer::EncodedIntake::new(intake)?);
        self.write(|reply| Job::Intake(encoded, reply)).await
    }

    async fn referral(&self, id: ReferralId) -> Result<Option<StoredReferral>, StoreError> {
        // One read transaction: the row and its history from the same snapshot. An erased
        // referral reads as none (retention): its metadata is in `referral_meta`.
        // BEGIN and COMMIT as cached statements (rusqlite's `transaction()` prepares them
        // afresh each time). A connection an error leaves inside the transaction is not
        // reused (`sqlite/readers.rs`).
        let read = self.readers.read(|conn| {
            direct::execute(conn, "BEGIN", [])?;
            let row: Option<ReferralRow> = direct::optional(
                conn,
                "SELECT request, receiver, shared, shared_categories, shared_removed, \
                 consent_id, received_at FROM referrals WHERE id = ? AND erased_at IS NULL",
                [id.to_string()],
            )?;
            let read = match row {
                Some(row) => {
                    let history = writer::history_in(conn, id)?
                        .ok_or_else(|| corrupt(format_args!("referral {id} has no history")))?;
                    Some((row, history))
                }
                None => None,
            };
            direct::execute(conn, "COMMIT", [])?;
            Ok(read)
        })?;
        let Some(((request, receiver, shared, categories, removed, consent, received_at), history)) =
            read
        else {
            return Ok(None);
        };

        let request = codec::request_from_json(&request, id, "referrals.request")?;
        let shared = match (receiver, shared, categories, removed) {
            (None, None, None, None) => None,
            (Some(receiver), Some(shared), Some(categories), Some(removed)) => Some(SharedCopy {
                receiver: codec::parse_partner(&receiver, "referrals.receiver")?,
                request: codec::request_from_json(&shared, id, "referrals.shared")?,
                categories: codec::parse_categories(&categories, "referrals.shared_categories")?,
                removed: codec::parse_categories(&removed, "referrals.shared_removed")?,
                consent: consent
                    .map(|c| codec::parse_consent_id(&c, "referrals.consent_id"))
                    .transpose()?,
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
            received_at: codec::parse_ts(&received_at, "referrals.received_at")?,
        }))
    }

    async fn referral_by_source(
        &self,
        sender: &PartnerId,
        reference: &ExternalRef,
    ) -> Result<Option<ReferralId>, StoreError> {
        let row: Option<(String,)> = self.readers.read(|conn| {
            direct::optional(
                conn,
                "SELECT id FROM referrals WHERE sender = ? AND source_ref = ?",
                [sender.as_str(), reference.as_str()],
            )
        })?;
        row.map(|(id,)| codec::parse_referral_id(&id, "referrals.id"))
            .transpose()
    }

    async fn open_received(
        &self,
        receiver: &PartnerId,
        limit: u32,
    ) -> Result<Vec<ReferralId>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM referrals WHERE receiver = ? \
             AND status IN ('delivered', 'accepted', 'in_progress') \
             ORDER BY received_at DESC LIMIT ?",
        )
        .bind(receiver.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|(id,)| codec::parse_referral_id(id, "referrals.id"))
            .collect()
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
        audit::events(&self.pool, after_seq, limit).await
    }

    async fn processing_log(
        &self,
        pseudonym: &str,
        retention: &str,
    ) -> Result<Vec<crate::processing_log::ProcessingEntry>, StoreError> {
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
        let rows: Vec<ConsentRow> = self.readers.read(|conn| {
            direct::all(
                conn,
                "SELECT id, resident, grantee_kind, grantee, purpose, effect, categories, \
                 valid_from, valid_until, recorded_by, evidence, revoked_at \
                 FROM consents WHERE resident = ? ORDER BY recorded_at, id",
                [resident.as_str()],
            )
        })?;
        rows.into_iter().map(consent_from_row).collect()
    }

    async fn outbox_for(&self, id: ReferralId) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<codec::OutboxRow> = sqlx::query_as(
            "SELECT referral_id, recipient, kind, transition FROM outbox \
             WHERE referral_id = ? ORDER BY id",
        )
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.into_iter().map(codec::outbox_from_row).collect()
    }

    async fn counts(&self) -> Result<StoreCounts, StoreError> {
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

    fn writer_activity(&self) -> super::WriterActivity {
        self.stats.writer.snapshot()
    }

    fn writer_queue(&self) -> super::WriterQueue {
        self.jobs.queued()
    }

    async fn referral_counts(&self) -> Result<Vec<super::ReferralCount>, StoreError> {
        metrics::referral_counts(&self.pool).await
    }

    async fn outbox_backlog(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<super::OutboxBacklog>, StoreError> {
        metrics::outbox_backlog(&self.pool, now).await
    }

    async fn referral_meta(&self, id: ReferralId) -> Result<Option<ReferralMeta>, StoreError> {
        self.readers.read(|conn| retention::meta(conn, id))
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
        self.write(|reply| Job::Erase(job, reply)).await
    }

    async fn reclaim_space(&self) -> Result<u64, StoreError> {
        retention::reclaim(&self.pool).await
    }

    async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.jobs.send(Job::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
        self.readers.close();
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
        self.delivery(DeliveryJob::Claim {
            worker: worker.to_owned(),
            recipients: recipients.to_vec(),
            now,
            lease,
            limit,
        })
        .await?
        .leases()
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
        .await?
        .changed()
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
        .await?
        .changed()
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
        .await?
        .changed()
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
        .await?
        .changed()
    }

    async fn dead_letters(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
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
        .await?
        .changed()
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
        .await?
        .changed()
    }

    async fn sector_flows(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<Vec<crate::analytics::SectorFlow>, StoreError> {
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
        analytics::delivery_outcomes(
            &mut *analytics::connection(&self.pool).await?,
            window,
            sectors,
        )
        .await
    }

    async fn period_aggregates(
        &self,
        window: &crate::analytics::TimeWindow,
        sectors: &crate::analytics::PartnerSectors,
    ) -> Result<crate::analytics::PeriodAggregates, StoreError> {
        analytics::period_aggregates(&self.pool, window, sectors).await
    }

    async fn period_totals(
        &self,
        window: &crate::analytics::TimeWindow,
    ) -> Result<crate::analytics::PeriodTotals, StoreError> {
        analytics::period_totals(&mut *analytics::connection(&self.pool).await?, window).await
    }

    async fn mailbox_offer(
        &self,
        recipient: &PartnerId,
        after: Option<i64>,
        now: DateTime<Utc>,
        visibility: Duration,
        limit: usize,
    ) -> Result<Vec<Lease>, StoreError> {
        self.delivery(DeliveryJob::Offer {
            recipient: recipient.clone(),
            after,
            now,
            visibility,
            limit,
        })
        .await?
        .leases()
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
        .await?
        .changed()
    }

    async fn heartbeat(
        &self,
        me: &super::InstanceInfo,
    ) -> Result<Option<super::InstanceSeen>, StoreError> {
        let seen = super::InstanceSeen {
            instance: me.clone(),
            last_seen: super::now(),
            seen_ago: Duration::ZERO,
        };
        let mut slot = self
            .instance
            .lock()
            .map_err(|_| corrupt("the instance registration lock is poisoned"))?;
        let before = slot.replace(seen);
        Ok(before.filter(|b| b.instance != *me))
    }

    async fn instances(&self, within: Duration) -> Result<Vec<super::InstanceSeen>, StoreError> {
        let slot = self
            .instance
            .lock()
            .map_err(|_| corrupt("the instance registration lock is poisoned"))?;
        let since = chrono::Duration::from_std(within)
            .ok()
            .and_then(|w| super::now().checked_sub_signed(w));
        let now = super::now();
        Ok(slot
            .iter()
            .filter(|s| since.is_none_or(|since| s.last_seen >= since))
            .map(|s| super::InstanceSeen {
                seen_ago: (now - s.last_seen).to_std().unwrap_or_default(),
                ..s.clone()
            })
            .collect())
    }

    async fn retire_instance(&self, me: &super::InstanceInfo) -> Result<(), StoreError> {
        let mut slot = self
            .instance
            .lock()
            .map_err(|_| corrupt("the instance registration lock is poisoned"))?;
        if slot.as_ref().is_some_and(|s| s.instance == *me) {
            *slot = None;
        }
        Ok(())
    }

    async fn start_session(
        &self,
        key: &super::dashboard::SessionKey,
        session: &super::dashboard::StaffSession,
    ) -> Result<(), StoreError> {
        sessions::start(&self.pool, key, session).await
    }

    async fn session(
        &self,
        key: &super::dashboard::SessionKey,
        now: DateTime<Utc>,
    ) -> Result<Option<super::dashboard::StaffSession>, StoreError> {
        sessions::get(&self.pool, key, now).await
    }

    async fn touch_session(
        &self,
        key: &super::dashboard::SessionKey,
        seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sessions::touch(&self.pool, key, seen_at, expires_at).await
    }

    async fn end_session(&self, key: &super::dashboard::SessionKey) -> Result<(), StoreError> {
        sessions::end(&self.pool, key).await
    }

    async fn ops_overview(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<crate::store::dashboard::OpsOverview, StoreError> {
        dashboard::overview(&self.pool, since, now).await
    }

    async fn referral_page(
        &self,
        filter: &crate::store::dashboard::ReferralFilter,
        start: crate::store::dashboard::PageStart,
        limit: usize,
    ) -> Result<crate::store::dashboard::ReferralPage, StoreError> {
        dashboard::page(&self.pool, filter, start, limit).await
    }

    async fn referral_timeline(
        &self,
        id: ReferralId,
        max_events: usize,
    ) -> Result<Option<crate::store::dashboard::ReferralTimeline>, StoreError> {
        dashboard::timeline(&self.pool, id, max_events).await
    }

    async fn dead_letter_by_id(&self, row: i64) -> Result<Option<DeadLetter>, StoreError> {
        delivery::read::dead_letter_by_id(&self.pool, row).await
    }

    async fn seed_benchmark_referrals(
        &self,
        plan: &crate::store::bench_seed::SeedPlan,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        bench_seed::seed(&self.pool, plan, now).await
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
        id: codec::parse_consent_id(&id, "consents.id")?,
        consent: Consent {
            resident: Bsn::parse(&resident)
                .map_err(|_| corrupt("consents.resident is not a BSN"))?,
            grantee: codec::parse_grantee(&grantee_kind, &grantee)?,
            purpose: Purpose::from_str(&purpose)
                .map_err(|_| corrupt("consents.purpose is not a purpose"))?,
            effect: codec::parse_effect(&effect)?,
            categories: codec::parse_categories(&categories, "consents.categories")?,
            valid_from: codec::parse_ts(&valid_from, "consents.valid_from")?,
            valid_until: codec::parse_opt_ts(valid_until.as_deref(), "consents.valid_until")?,
            recorded_by: codec::parse_partner(&recorded_by, "consents.recorded_by")?,
            evidence: codec::parse_evidence(evidence)?,
            revoked_at: codec::parse_opt_ts(revoked_at.as_deref(), "consents.revoked_at")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_file_under_the_data_directory_unless_absolute() {
        let dir = Path::new("/var/lib/wijkbrug");
        assert_eq!(
            database_path("sqlite://wijkbrug.db", dir).unwrap(),
            dir.join("wijkbrug.db")
        );
        assert_eq!(
            database_path("sqlite:///tmp/x.db", dir).unwrap(),
            PathBuf::from("/tmp/x.db")
        );
        assert_eq!(
            database_path("sqlite:db/w.db?mode=rwc", dir).unwrap(),
            dir.join("db/w.db")
        );
        assert!(database_path("sqlite::memory:", dir).is_err());
        assert!(database_path("postgres://localhost/w", dir).is_err());
        assert!(database_path("sqlite://", dir).is_err());
    }

    #[tokio::test]
    async fn connections_are_durable_wal_with_foreign_keys() {
        let dir = tempfile::TempDir::new().unwrap();
        let store = SqliteStore::open(&StoreSettings {
            url: "sqlite://w.db".to_owned(),
            data_dir: dir.path().join("data"),
            max_connections: 2,
            group_commit_max_batch: 8,
            group_commit_max_wait: Duration::ZERO,
        })
        .await
        .unwrap();
        let pragma = |name: &'static str| {
            let pool = store.pool.clone();
            async move {
                let sql = format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}");
                let (value,): (String,) = sqlx::query_as(&sql).fetch_one(&pool).await.unwrap();
                value
            }
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        assert_eq!(pragma("synchronous").await, "2", "FULL");
        assert_eq!(pragma("foreign_keys").await, "1");
        assert_eq!(store.path(), dir.path().join("data/w.db"));
        store.close().await;
    }
}
