//! Storage: the SQLite pool, migrations, one module of queries per table, and the message writer.
//!
//! Every function here takes `&mut DbConnection` and blocks; async code reaches them through
//! [`Database::run`], which moves the call onto the blocking pool.

pub mod jobs;
pub mod messages;
pub mod rooms;
pub mod schema;
pub mod users;
pub mod writer;

use crate::config::DatabaseUrl;
use crate::error::{ApiError, ApiResult};
use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub type DbConnection = SqliteConnection;
pub type DbPool = Pool<ConnectionManager<DbConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");

/// How long a connection waits for another writer's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_SIZE: u32 = 16;

/// Settings every connection gets, pooled or not. `synchronous = FULL` makes a commit
/// durable before it returns: an acknowledged message survives a power cut, not only a crash.
fn configure(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {};
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;",
        BUSY_TIMEOUT.as_millis()
    ))
}

#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<DbConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut DbConnection) -> Result<(), diesel::r2d2::Error> {
        configure(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The database: a pool for reads and small writes, and the file it lives in.
#[derive(Clone)]
pub struct Database {
    pool: DbPool,
    path: PathBuf,
    guard: FileGuard,
}

/// The database file this process opened, to notice when it is gone or replaced: SQLite
/// would go on writing to the open, unlinked file, and acknowledge messages nobody will
/// ever read. Checked before every use; a stat costs a microsecond.
#[derive(Debug, Clone)]
pub struct FileGuard {
    path: PathBuf,
    id: (u64, u64),
}

impl FileGuard {
    fn new(path: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            id: (meta.dev(), meta.ino()),
        })
    }

    /// `storage_unavailable` unless the file at the path is still the one opened.
    pub fn check(&self) -> ApiResult<()> {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.id => Ok(()),
            Ok(_) => Err(ApiError::unavailable(anyhow::anyhow!(
                "the database file {} was replaced",
                self.path.display()
            ))),
            Err(e) => Err(ApiError::unavailable(anyhow::anyhow!(
                "the database file {} is gone: {e}",
                self.path.display()
            ))),
        }
    }
}

impl Database {
    /// Opens (creating the file and its folder) and migrates the database. Blocks.
    pub fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let DatabaseUrl::Sqlite(path) = url;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the data folder {}", dir.display()))?;
        }
        let mut conn = connect(path)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("migrating {} failed: {e}", path.display()))?;
        for version in applied {
            tracing::info!(%version, "applied migration");
        }
        let manager = ConnectionManager::<DbConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(BUSY_TIMEOUT)
            .connection_customizer(Box::new(Pragmas))
            .build(manager)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            pool,
            path: path.clone(),
            guard: FileGuard::new(path)?,
        })
    }

    /// What tells whether the database file is still the one opened.
    pub fn guard(&self) -> FileGuard {
        self.guard.clone()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection of its own, outside the pool, for a long-lived thread such as the writer.
    pub fn dedicated_connection(&self) -> anyhow::Result<DbConnection> {
        connect(&self.path)
    }

    /// Runs `f` with a pooled connection on the blocking pool.
    pub async fn run<T, F>(&self, f: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        let guard = self.guard.clone();
        actix_web::web::block(move || {
            guard.check()?;
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(ApiError::from)?
    }

    /// Runs `f` with a pooled connection, here and now. For commands and startup, not handlers.
    pub fn run_blocking<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }
}

fn connect(path: &Path) -> anyhow::Result<DbConnection> {
    let mut conn = DbConnection::establish(&path.to_string_lossy())
        .with_context(|| format!("cannot open the database {}", path.display()))?;
    configure(&mut conn).with_context(|| format!("cannot configure {}", path.display()))?;
    Ok(conn)
}
