//! The database a test runs on: a SQLite file in a temporary directory, or, when
//! `WIJKBRUG_TEST_STORE=postgres`, a database of its own on the PostgreSQL server at
//! 127.0.0.1:5432 (user postgres, trust auth; `WIJKBRUG_TEST_PG` names another server),
//! created with a random name that starts with [`PREFIX`] and dropped when the test ends, also
//! when it fails (a `Drop` guard). `.ci/run` sweeps databases with the prefix that a killed run
//! left behind.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Connection, FromRow, PgConnection, PgPool, SqlitePool};
use tempfile::TempDir;
use wijkbrug::config::StoreSettings;
use wijkbrug::store::postgres::PgStore;
use wijkbrug::store::sqlite::SqliteStore;
use wijkbrug::store::Store;

/// Every test database's name starts with this.
pub const PREFIX: &str = "wijkbrug_test_";

/// The PostgreSQL server the tests use (without a database).
pub fn pg_server() -> String {
    std::env::var("WIJKBRUG_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// Whether this run puts the integration tests on PostgreSQL (`WIJKBRUG_TEST_STORE=postgres`).
pub fn postgres() -> bool {
    std::env::var("WIJKBRUG_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// For a test about something only SQLite has (its file, WAL, incremental vacuum): true, with
/// a note, when this run is on PostgreSQL, and the test returns at once.
pub fn sqlite_only(what: &str) -> bool {
    if postgres() {
        eprintln!("SQLite only ({what}): not run on PostgreSQL");
    }
    postgres()
}

/// A PostgreSQL database of one test, dropped on drop.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let name = format!(
            "{PREFIX}{}_{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let mut admin = admin().await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = admin.close().await;
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("{}/{}", pg_server(), self.name)
    }
}

async fn admin() -> PgConnection {
    let url = format!("{}/postgres", pg_server());
    PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "the PostgreSQL tests need a server at {} (user postgres, trust auth; `bash .ci/run` \
             starts it): {e}",
            pg_server()
        )
    })
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread with a
        // runtime of its own drops the database (FORCE ends the sessions the test left open).
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                let url = format!("{}/postgres", pg_server());
                let mut admin = PgConnection::connect(&url).await.ok()?;
                let done = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok();
                let _ = admin.close().await;
                done
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!(
                "could not drop the test database {} (.ci/run sweeps it)",
                self.name
            );
        }
    }
}

/// Where a test's store lives: a temporary directory (config, data, the SQLite file) and, on
/// PostgreSQL, the test's database.
pub struct TestDb {
    pub dir: TempDir,
    pub pg: Option<PgDatabase>,
    /// The url of another test's PostgreSQL database this one uses too (a second gateway
    /// instance on it; that test drops the database).
    pub shared: Option<String>,
}

impl TestDb {
    /// The store this run is on (see [`postgres`]).
    pub async fn new() -> Self {
        if postgres() {
            Self::postgres().await
        } else {
            Self::sqlite()
        }
    }

    pub fn sqlite() -> Self {
        Self {
            dir: TempDir::new().unwrap(),
            pg: None,
            shared: None,
        }
    }

    /// A PostgreSQL database whatever the run (for the PostgreSQL store's own tests).
    pub async fn postgres() -> Self {
        Self {
            dir: TempDir::new().unwrap(),
            pg: Some(PgDatabase::create().await),
            shared: None,
        }
    }

    /// A temporary directory of its own on `other`'s PostgreSQL database (which `other`
    /// drops).
    pub fn beside(other: &TestDb) -> Self {
        assert!(
            other.is_postgres(),
            "several instances share a PostgreSQL store only"
        );
        Self {
            dir: TempDir::new().unwrap(),
            pg: None,
            shared: Some(other.url()),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some() || self.shared.is_some()
    }

    /// The data directory (the SQLite file is `wijkbrug.db` in it).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `[store] url` for this database (a SQLite url is relative to the data directory).
    pub fn url(&self) -> String {
        match (&self.pg, &self.shared) {
            (Some(pg), _) => pg.url(),
            (None, Some(url)) => url.clone(),
            (None, None) => "sqlite://wijkbrug.db".to_owned(),
        }
    }

    /// Settings for this database: 4 connections, commits without waiting for company.
    pub fn settings(&self) -> StoreSettings {
        self.settings_with(64, Duration::ZERO)
    }

    /// Settings with this group commit.
    pub fn settings_with(&self, max_batch: usize, max_wait: Duration) -> StoreSettings {
        StoreSettings {
            url: self.url(),
            data_dir: self.data_dir(),
            max_connections: 4,
            group_commit_max_batch: max_batch,
            group_commit_max_wait: max_wait,
        }
    }

    /// The store, opened and migrated.
    pub async fn open(&self) -> TestStore {
        self.open_with(&self.settings()).await
    }

    /// The store with `settings`, opened and migrated.
    pub async fn open_with(&self, settings: &StoreSettings) -> TestStore {
        let store = self.open_unmigrated(settings).await;
        store.migrate().await.unwrap();
        store
    }

    /// The store with `settings`, opened, not migrated.
    pub async fn open_unmigrated(&self, settings: &StoreSettings) -> TestStore {
        if self.is_postgres() {
            TestStore::postgres(PgStore::open(settings).await.unwrap())
        } else {
            TestStore::sqlite(SqliteStore::open(settings).await.unwrap())
        }
    }

    /// A connection pool of its own to the database, for looking behind the store's back.
    pub async fn raw(&self) -> Raw {
        match self.is_postgres() {
            true => Raw::Postgres(PgPool::connect(&self.url()).await.unwrap()),
            false => Raw::Sqlite(
                SqlitePool::connect(&format!(
                    "sqlite://{}",
                    self.data_dir().join("wijkbrug.db").display()
                ))
                .await
                .unwrap(),
            ),
        }
    }
}

/// An open store of either kind.
pub struct TestStore {
    store: Arc<dyn Store>,
    kind: Kind,
}

enum Kind {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

impl TestStore {
    pub fn sqlite(store: SqliteStore) -> Self {
        let store = Arc::new(store);
        Self {
            store: store.clone(),
            kind: Kind::Sqlite(store),
        }
    }

    pub fn postgres(store: PgStore) -> Self {
        let store = Arc::new(store);
        Self {
            store: store.clone(),
            kind: Kind::Postgres(store),
        }
    }

    /// `(commits, intakes)` of the store's writer.
    pub fn commit_stats(&self) -> (u64, u64) {
        match &self.kind {
            Kind::Sqlite(s) => s.commit_stats(),
            Kind::Postgres(s) => s.commit_stats(),
        }
    }

    /// The store as the gateway holds it.
    pub fn shared(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl Deref for TestStore {
    type Target = dyn Store;

    fn deref(&self) -> &Self::Target {
        self.store.as_ref()
    }
}

/// A value bound to a raw statement.
#[derive(Clone, Debug)]
pub enum Value {
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

/// A raw connection pool to a test's database. Statements are written with `?` placeholders
/// (numbered `$1, $2, ...` for PostgreSQL here) and in SQL both databases speak; ids are
/// compared and read as text (`CAST(id AS TEXT)`: a `uuid` on PostgreSQL).
pub enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// `?` placeholders as `$1, $2, ...`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

impl Raw {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Runs a statement; the rows it changed.
    pub async fn execute(&self, sql: &str, binds: &[Value]) -> u64 {
        match self {
            Self::Sqlite(pool) => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = match b {
                        Value::Int(v) => q.bind(*v),
                        Value::Text(v) => q.bind(v.clone()),
                    };
                }
                q.execute(pool).await.unwrap().rows_affected()
            }
            Self::Postgres(pool) => {
                let sql = numbered(sql);
                let mut q = sqlx::query(&sql);
                for b in binds {
                    q = match b {
                        Value::Int(v) => q.bind(*v),
                        Value::Text(v) => q.bind(v.clone()),
                    };
                }
                q.execute(pool).await.unwrap().rows_affected()
            }
        }
    }

    /// Every row of a query.
    pub async fn fetch_all<T>(&self, sql: &str, binds: &[Value]) -> Vec<T>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        match self {
            Self::Sqlite(pool) => {
                let mut q = sqlx::query_as::<_, T>(sql);
                for b in binds {
                    q = match b {
                        Value::Int(v) => q.bind(*v),
                        Value::Text(v) => q.bind(v.clone()),
                    };
                }
                q.fetch_all(pool).await.unwrap()
            }
            Self::Postgres(pool) => {
                let sql = numbered(sql);
                let mut q = sqlx::query_as::<_, T>(&sql);
                for b in binds {
                    q = match b {
                        Value::Int(v) => q.bind(*v),
                        Value::Text(v) => q.bind(v.clone()),
                    };
                }
                q.fetch_all(pool).await.unwrap()
            }
        }
    }

    /// The one row of a query.
    pub async fn fetch_one<T>(&self, sql: &str, binds: &[Value]) -> T
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut rows = self.fetch_all(sql, binds).await;
        assert_eq!(rows.len(), 1, "{sql}");
        rows.remove(0)
    }

    pub async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }

    /// Takes what the store's writer needs before it can write (SQLite: the database's write
    /// lock; PostgreSQL: the audit chain's head, which every write transaction locks first),
    /// so the writer stops at its next batch until [`WriterHold::release`].
    pub async fn hold_writer(&self) -> WriterHold {
        match self {
            Self::Sqlite(pool) => {
                let mut conn = pool.acquire().await.unwrap();
                sqlx::raw_sql("BEGIN IMMEDIATE")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                WriterHold::Sqlite(conn)
            }
            Self::Postgres(pool) => {
                let mut conn = pool.acquire().await.unwrap();
                sqlx::raw_sql("BEGIN; SELECT seq FROM audit_head FOR UPDATE")
                    .execute(&mut *conn)
                    .await
                    .unwrap();
                WriterHold::Postgres(conn)
            }
        }
    }
}

/// A transaction holding the store's writer back ([`Raw::hold_writer`]).
pub enum WriterHold {
    Sqlite(PoolConnection<sqlx::Sqlite>),
    Postgres(PoolConnection<sqlx::Postgres>),
}

impl WriterHold {
    /// Ends the transaction (it changed nothing); the writer goes on.
    pub async fn release(self) {
        match self {
            Self::Sqlite(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.unwrap();
            }
            Self::Postgres(mut conn) => {
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.unwrap();
            }
        }
    }
}
