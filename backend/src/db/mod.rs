//! Storage on SQLite or Postgres: the pool, migrations, one module of queries per table, and the message writer.
//!
//! Every function here takes `&mut DbConnection` and blocks; async code reaches them through
//! [`Database::run`], which moves the call onto the blocking pool.

pub mod jobs;
pub mod messages;
pub mod rooms;
pub mod schema;
pub mod search;
pub mod uploads;
pub mod users;
pub mod writer;

use crate::config::DatabaseUrl;
use crate::error::{ApiError, ApiResult};
use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A connection to either engine. Queries written once with diesel's DSL run on both; the few
/// that differ (upserts, job claims, write locks) match on the variant, see [`each_backend`].
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

pub type DbPool = Pool<Manager>;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

/// Runs one expression against the connection's own engine: the expression is compiled once
/// per engine, with `$c` bound to the concrete connection. For the few statements diesel
/// cannot build for both engines at once (`ON CONFLICT`, engine-specific SQL).
#[macro_export]
macro_rules! each_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgres($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub use each_backend;

/// How long a connection waits for another writer's lock before giving up, and a handler
/// for its turn at a connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many database calls run at once when the setting leaves it open: the pool size of
/// before turns. Four gave searches a shorter tail, but a burst's joins then waited past the
/// 5 s a turn may take (docs/BENCHMARKS.md, S8); searches have turns of their own instead
/// ([`default_searches`]).
pub fn default_connections() -> u32 {
    16
}

/// How many of those calls may be searches at once when the setting leaves it open: twice
/// the cores, at least 2 and at most `connections`. A search is the one call that reads
/// thousands of rows; with the database on the same machine, more at once only share the
/// cores more thinly and stretch the slowest (docs/BENCHMARKS.md, S8).
pub fn default_searches(connections: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    u32::try_from(cores * 2)
        .unwrap_or(u32::MAX)
        .max(2)
        .min(connections)
}

/// How much database work runs at once (0 in either: its default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Concurrency {
    /// Handlers' database calls at once, each on a pooled connection of its own.
    pub connections: u32,
    /// How many of those may be searches.
    pub searches: u32,
}

/// Turns at something scarce, given first come first served. A caller that waits longer
/// than [`BUSY_TIMEOUT`] is answered 503 `busy` with a time to try again.
#[derive(Clone)]
struct Turns {
    semaphore: std::sync::Arc<tokio::sync::Semaphore>,
    what: &'static str,
}

impl Turns {
    fn new(count: u32, what: &'static str) -> Self {
        Self {
            semaphore: std::sync::Arc::new(tokio::sync::Semaphore::new(count as usize)),
            what,
        }
    }

    /// Waits for a turn; it is handed back when the permit is dropped.
    async fn take(&self) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        tokio::time::timeout(BUSY_TIMEOUT, self.semaphore.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::busy(self.what, Duration::from_secs(1)))?
            .map_err(ApiError::internal)
    }
}

/// Settings every SQLite connection gets, pooled or not. `synchronous = FULL` makes a commit
/// durable before it returns: an acknowledged message survives a power cut, not only a crash.
/// (Postgres commits durably by default.)
fn configure(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(conn) => conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;",
            BUSY_TIMEOUT.as_millis()
        )),
        DbConnection::Postgres(_) => Ok(()),
    }
}

/// Makes pooled connections to the engine the URL names (diesel's own manager would try
/// each engine in turn with any string).
#[derive(Debug, Clone)]
pub struct Manager {
    url: DatabaseUrl,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        let mut conn = establish(&self.url).map_err(diesel::r2d2::Error::ConnectionError)?;
        configure(&mut conn).map_err(diesel::r2d2::Error::QueryError)?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

fn establish(url: &DatabaseUrl) -> ConnectionResult<DbConnection> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => DbConnection::Sqlite(diesel::SqliteConnection::establish(
            &path.to_string_lossy(),
        )?),
        DatabaseUrl::Postgres(url) => DbConnection::Postgres(diesel::PgConnection::establish(url)?),
    })
}

/// Takes the database's write lock for the rest of the transaction: SQLite's (`BEGIN
/// IMMEDIATE`), or on Postgres an advisory lock that every node's message writer shares. With
/// it, message ids rise in commit order on both engines, even with several nodes writing.
pub fn write_transaction<T, E: From<diesel::result::Error>>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    match conn {
        DbConnection::Sqlite(sqlite) => {
            // SQLite's `immediate_transaction`, spelled out so that `f` gets the enum back;
            // transactions inside it become savepoints as usual.
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
            match f(conn) {
                Ok(value) => {
                    <DbConnection as Connection>::TransactionManager::commit_transaction(conn)?;
                    Ok(value)
                }
                Err(e) => {
                    <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)?;
                    Err(e)
                }
            }
        }
        DbConnection::Postgres(_) => conn.transaction(|conn| {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(WRITE_LOCK)
                .execute(conn)?;
            f(conn)
        }),
    }
}

/// Whether `e` is Postgres giving up on a lock after `lock_timeout` (SQLSTATE 55P03).
pub fn is_lock_timeout(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info)
        if info.message().contains("lock timeout"))
}

/// A write that tells whether the database takes writes now, under the same lock as a batch
/// of messages: it fails on a full disk, a lock held too long or a dead connection.
pub fn probe_write(conn: &mut DbConnection) -> QueryResult<()> {
    write_transaction(conn, |conn| {
        diesel::sql_query(
            "INSERT INTO write_probe (id, probed_at) VALUES (1, CURRENT_TIMESTAMP) \
             ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
        )
        .execute(conn)
        .map(drop)
    })
}

/// Whether a connection that just failed is beyond use: broken, or not answering at all.
pub fn is_lost(conn: &mut DbConnection) -> bool {
    conn.is_broken() || conn.ping().is_err()
}

/// Opens a connection for a long-lived thread; called again whenever the last one broke.
pub type Connector = std::sync::Arc<dyn Fn() -> anyhow::Result<DbConnection> + Send + Sync>;

/// The advisory lock key of message writes on Postgres ("natter" in ASCII).
pub const WRITE_LOCK: i64 = 0x6e61_7474_6572;
fn versions(applied: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    applied.iter().map(ToString::to_string).collect()
}

/// The advisory lock key of migrations on Postgres ("natterm").
const MIGRATION_LOCK: i64 = 0x006e_6174_7465_726d;

/// Logs what the pool finds wrong with its connections: after a database restart every
/// pooled connection fails at once, which is one event, not sixteen lines.
#[derive(Debug)]
struct PoolErrors;

impl diesel::r2d2::HandleError<diesel::r2d2::Error> for PoolErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        static FAILURES: crate::telemetry::Throttled =
            crate::telemetry::Throttled::new(Duration::from_secs(10));
        if let Some(left_out) = FAILURES.admit() {
            tracing::warn!(%error, left_out, "a pooled database connection failed");
        }
    }
}

/// The database: a pool for reads and small writes, and where it lives.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    /// Turns at the pool's connections for [`Database::run`], given in the order asked for.
    turns: Turns,
    /// Turns for [`Database::run_search`], taken before a turn at a connection.
    searches: Turns,
    url: DatabaseUrl,
    guard: FileGuard,
}

/// The database file this process opened, to notice when it is gone or replaced: SQLite
/// would go on writing to the open, unlinked file, and acknowledge messages nobody will
/// ever read. Checked before every use; a stat costs a microsecond.
#[derive(Debug, Clone, Default)]
pub struct FileGuard {
    /// The file and its (device, inode); none on Postgres.
    file: Option<(PathBuf, (u64, u64))>,
}

impl FileGuard {
    fn new(path: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self {
            file: Some((path.to_path_buf(), (meta.dev(), meta.ino()))),
        })
    }

    /// `storage_unavailable` unless the file at the path is still the one opened.
    pub fn check(&self) -> ApiResult<()> {
        use std::os::unix::fs::MetadataExt;
        let Some((path, id)) = &self.file else {
            return Ok(());
        };
        match std::fs::metadata(path) {
            Ok(meta) if (meta.dev(), meta.ino()) == *id => Ok(()),
            Ok(_) => Err(ApiError::unavailable(anyhow::anyhow!(
                "the database file {} was replaced",
                path.display()
            ))),
            Err(e) => Err(ApiError::unavailable(anyhow::anyhow!(
                "the database file {} is gone: {e}",
                path.display()
            ))),
        }
    }
}

/// The SQLite file and its WAL and shared-memory files readable by the owner alone: they
/// hold password hashes, phone numbers and direct messages. A missing file is created so
/// (SQLite gives its WAL and shared-memory files the database file's mode); an existing one
/// is narrowed to 0600.
#[cfg(unix)]
fn make_private(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the database file {}", path.display()))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = std::path::PathBuf::from(file);
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).with_context(
                || format!("cannot make {} private (chmod 600 it)", file.display()),
            )?;
            tracing::info!(file = %file.display(), "made private (mode 0600)");
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_: &std::path::Path) -> anyhow::Result<()> {
    Ok(())
}

/// Gives every user and room name the uniqueness key of today's rules (the look-alike
/// skeleton), for rows written under older rules. A name whose new key is taken by another
/// keeps its old key and is logged: the operator decides (rename or deactivate it).
fn rekey_names(conn: &mut DbConnection) -> anyhow::Result<usize> {
    use schema::{rooms, users};
    let people: Vec<(i64, String, String)> = users::table
        .select((users::id, users::username, users::username_key))
        .load(conn)?;
    let people = people
        .into_iter()
        .map(|(id, name, key)| (id, name, Some(key)));
    let mut changed = rekey(conn, "username", people, |conn, id, key| {
        diesel::update(users::table.find(id))
            .set(users::username_key.eq(key))
            .execute(conn)
    })?;
    let named: Vec<(i64, Option<String>, Option<String>)> = rooms::table
        .filter(rooms::name.is_not_null())
        .select((rooms::id, rooms::name, rooms::name_key))
        .load(conn)?;
    let named = named
        .into_iter()
        .filter_map(|(id, name, key)| Some((id, name?, key)));
    changed += rekey(conn, "room name", named, |conn, id, key| {
        diesel::update(rooms::table.find(id))
            .set(rooms::name_key.eq(key))
            .execute(conn)
    })?;
    Ok(changed)
}

/// Sets the key of each `(id, name, key)` whose key is not today's; how many changed.
fn rekey(
    conn: &mut DbConnection,
    what: &str,
    rows: impl Iterator<Item = (i64, String, Option<String>)>,
    set: impl Fn(&mut DbConnection, i64, &str) -> QueryResult<usize>,
) -> anyhow::Result<usize> {
    let mut changed = 0;
    for (id, name, key) in rows {
        let want = natter_shared::names::name_key(&name);
        if Some(&want) == key.as_ref() {
            continue;
        }
        match set(conn, id, &want) {
            Ok(_) => changed += 1,
            Err(e) if crate::error::is_unique_violation(&e) => tracing::warn!(
                id,
                %name,
                "this {what} looks like another and keeps its old key: rename or deactivate one"
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(changed)
}

impl Database {
    /// Opens (creating the file and its folder) and migrates the database, with the default
    /// [`Concurrency`]. Blocks.
    pub fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        Self::open_with(url, Concurrency::default())
    }

    /// Opens and migrates the database, with as many turns as `at_once` says (0:
    /// [`default_connections`], [`default_searches`]). Blocks.
    pub fn open_with(url: &DatabaseUrl, at_once: Concurrency) -> anyhow::Result<Self> {
        let connections = match at_once.connections {
            0 => default_connections(),
            n => n,
        };
        let searches = match at_once.searches {
            0 => default_searches(connections),
            n => n.min(connections),
        };
        if let DatabaseUrl::Sqlite(path) = url
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        }
        if let DatabaseUrl::Sqlite(path) = url {
            make_private(path)?;
        }
        let mut conn = connect(url)?;
        // Nodes started together would race to create the same tables: one at a time, and
        // one of them builds the search index.
        let postgres = matches!(conn, DbConnection::Postgres(_));
        if postgres {
            migration_lock(&mut conn, "pg_advisory_lock")
                .with_context(|| format!("cannot lock {url} for migrating"))?;
        }
        let migrated = match &mut conn {
            DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(versions),
            DbConnection::Postgres(c) => {
                c.run_pending_migrations(POSTGRES_MIGRATIONS).map(versions)
            }
        }
        .map_err(|e| anyhow::anyhow!("migrating {url} failed: {e}"))
        .and_then(|applied| {
            for version in &applied {
                tracing::info!(%version, "applied migration");
            }
            search::backfill(&mut conn)
                .with_context(|| format!("cannot index the messages of {url} for search"))
        });
        if postgres {
            migration_lock(&mut conn, "pg_advisory_unlock")
                .with_context(|| format!("cannot unlock {url} after migrating"))?;
        }
        migrated?;
        let rekeyed = rekey_names(&mut conn).context("cannot update the keys of names")?;
        if rekeyed > 0 {
            tracing::info!(rekeyed, "names given their look-alike keys");
        }
        // One connection more than turns: for the work that is no handler's (read markers,
        // startup, commands), so that it never takes a connection a turn was given for.
        let pool = Pool::builder()
            .max_size(connections + 1)
            .connection_timeout(BUSY_TIMEOUT)
            .error_handler(Box::new(PoolErrors))
            .build(Manager { url: url.clone() })
            .with_context(|| format!("cannot open {url}"))?;
        let guard = match url {
            DatabaseUrl::Sqlite(path) => FileGuard::new(path)?,
            DatabaseUrl::Postgres(_) => FileGuard::default(),
        };
        Ok(Self {
            pool,
            turns: Turns::new(connections, "database work"),
            searches: Turns::new(searches, "searches"),
            url: url.clone(),
            guard,
        })
    }

    /// What tells whether the database file is still the one opened.
    pub fn guard(&self) -> FileGuard {
        self.guard.clone()
    }

    /// The database, for logs: the SQLite file, or the Postgres URL without its password.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// What opens the message writer's connection, now and again after it breaks. On
    /// Postgres its wait for the cluster's write lock is bounded by `lock_timeout`, and a
    /// transaction left idle that long (its node paused or cut off from the database) is
    /// ended by the server, which frees the lock for every other node.
    pub fn writer_connector(&self, lock_timeout: Duration) -> Connector {
        let url = self.url.clone();
        std::sync::Arc::new(move || {
            let mut conn = connect(&url)?;
            if let DbConnection::Postgres(pg) = &mut conn {
                let ms = lock_timeout.as_millis().max(1);
                pg.batch_execute(&format!(
                    "SET lock_timeout = {ms}; SET idle_in_transaction_session_timeout = {ms};"
                ))
                .with_context(|| format!("cannot configure the writer's connection to {url}"))?;
            }
            Ok(conn)
        })
    }

    /// What opens a plain connection of its own, now and again after it breaks.
    pub fn connector(&self) -> Connector {
        let url = self.url.clone();
        std::sync::Arc::new(move || connect(&url))
    }

    /// Runs `f` with a pooled connection on the blocking pool, once a connection is free:
    /// calls wait for one here, in the order they came (the pool itself lets a newcomer take
    /// a connection before a caller that was woken for it), and not on a blocking thread.
    /// A call that waits longer than 5 s is answered 503 `busy`.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let turn = self.turns.take().await?;
        let pool = self.pool.clone();
        let guard = self.guard.clone();
        // The turn is handed back when `f` is done, even if the request was dropped meanwhile.
        actix_web::web::block(move || {
            let _turn = turn;
            guard.check()?;
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(ApiError::from)?
    }

    /// [`Database::run`] for a search: it waits first for one of the turns searches have of
    /// their own, and holds it until the search is done.
    pub async fn run_search<T, F>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let search = self.searches.take().await?;
        self.run(move |conn| {
            let _search = search;
            f(conn)
        })
        .await
    }

    /// Runs `f` with a pooled connection, here and now, without a turn. For commands, startup
    /// and the server's own background work, not handlers.
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }
}

/// Takes or releases (`function`) the lock that Postgres nodes migrate under.
fn migration_lock(conn: &mut DbConnection, function: &str) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT {function}($1)"))
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(conn)
        .map(drop)
}

fn connect(url: &DatabaseUrl) -> anyhow::Result<DbConnection> {
    let mut conn = establish(url).with_context(|| format!("cannot open the database {url}"))?;
    configure(&mut conn).with_context(|| format!("cannot configure {url}"))?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// A database in a temporary folder, with `connections` and `searches` turns.
    fn opened(connections: u32, searches: u32) -> (tempfile::TempDir, Database) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = DatabaseUrl::Sqlite(dir.path().join("natter.db"));
        let at_once = Concurrency {
            connections,
            searches,
        };
        let db = Database::open_with(&url, at_once).expect("the database opens");
        (dir, db)
    }

    /// A call (a search when `search`) that holds its turn until the sender is used or
    /// dropped, once it runs: the sender, and the call's answer to come.
    async fn held_turn(
        db: &Database,
        search: bool,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<ApiResult<&'static str>>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (taken, is_taken) = tokio::sync::oneshot::channel::<()>();
        let db = db.clone();
        let holder = actix_web::rt::spawn(async move {
            let hold = move |_: &mut DbConnection| {
                let _ = taken.send(());
                let _ = held.recv();
                Ok("first")
            };
            if search {
                db.run_search(hold).await
            } else {
                db.run(hold).await
            }
        });
        is_taken.await.expect("the holding call runs");
        (release, holder)
    }

    /// More calls than connections: never more at once than the connections, every call
    /// done, and the turns given in the order the calls asked (give or take the calls that
    /// start together).
    #[actix_web::test]
    async fn calls_past_the_connections_wait_their_turn_in_order() {
        let (_dir, db) = opened(2, 0);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(Mutex::new(Vec::new()));
        let calls = (0..12).map(|i| {
            let (running, most, started) = (running.clone(), most.clone(), started.clone());
            db.run(move |conn| {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                started.lock().expect("not poisoned").push(i);
                // Work that holds the connection for a while, as a slow query would.
                diesel::sql_query("SELECT 1").execute(conn)?;
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(i)
            })
        });
        let done: Vec<usize> = futures::future::try_join_all(calls)
            .await
            .expect("every call is done");
        assert_eq!(done, (0..12).collect::<Vec<_>>());
        assert_eq!(
            most.load(Ordering::SeqCst),
            2,
            "two connections, two at once"
        );
        let started = started.lock().expect("not poisoned").clone();
        for (at, call) in started.iter().enumerate() {
            assert!(call.abs_diff(at) <= 1, "turns out of order: {started:?}");
        }
    }

    /// Searches past their own turns wait, in order, while the other calls go on: a hostile
    /// run of searches cannot take every connection.
    #[actix_web::test]
    async fn searches_past_their_turns_wait_while_other_calls_go_on() {
        let (_dir, db) = opened(2, 1);
        let (release, holder) = held_turn(&db, true).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let mut second = Box::pin(db.run_search(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok("second")
        }));
        assert!(
            futures::poll!(&mut second).is_pending(),
            "the second search waits in line"
        );
        // The other connection is free, and a call that is no search takes it at once.
        let other = tokio::time::timeout(
            BUSY_TIMEOUT,
            db.run(|conn| {
                diesel::sql_query("SELECT 1").execute(conn)?;
                Ok("other")
            }),
        )
        .await
        .expect("not kept waiting by the searches")
        .expect("the call is done");
        assert_eq!(other, "other");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "the second search waits for the first"
        );
        release.send(()).expect("the first search waits");
        let first = holder.await.expect("the first search finishes");
        let second = tokio::time::timeout(BUSY_TIMEOUT, second)
            .await
            .expect("the second search has its turn");
        assert_eq!((first.ok(), second.ok()), (Some("first"), Some("second")));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }

    /// A call that finds every turn taken for longer than the wait is answered `busy` (503,
    /// with a time to try again), does nothing, and leaves the turns as they were.
    #[actix_web::test]
    async fn a_call_that_waits_too_long_for_a_turn_is_busy() {
        let (_dir, db) = opened(1, 0);
        // The one turn, held until the second call has its answer.
        let (release, holder) = held_turn(&db, false).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let second = db.run(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        let second = tokio::time::timeout(BUSY_TIMEOUT * 4, second)
            .await
            .expect("answered after the wait, not held for ever");
        let refused = second.expect_err("no turn came in time");
        assert_eq!(refused.body().error, natter_shared::ErrorKind::Busy);
        assert!(refused.retry_after().is_some(), "a time to try again");
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "the refused call did nothing"
        );
        release.send(()).expect("the holder waits");
        holder
            .await
            .expect("the holder finishes")
            .expect("the holder's call is done");
        db.run(|_| Ok(())).await.expect("the turn is free again");
    }
}
