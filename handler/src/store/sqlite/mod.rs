//! The SQLite backend (`GUESTSYNC_STORE=sqlite:<path>`), the embedded
//! default for the CLI and local runs.
//!
//! - Versioned schema: `schema_version` holds the version; [`MIGRATIONS`] are
//!   applied in one transaction at open; a database written by a newer build
//!   is refused with [`StoreError::Corrupt`] naming both versions.
//! - WAL journal and a busy timeout, so two processes can share one file;
//!   every write transaction is `BEGIN IMMEDIATE` (takes the write lock up
//!   front, so the busy timeout applies instead of a deadlock on upgrade).
//! - One connection behind a mutex, used from `spawn_blocking`: tasks of one
//!   process are serialized, never block the async runtime.
//! - Records are stored as a JSON `doc` column plus the columns that are
//!   queried or indexed (state, times, keys).
//!
//! # Layout
//! - this file: [`SqliteStore`], opening, the connection and the helpers
//!   the capability files share.
//! - [`schema`]: [`MIGRATIONS`] and the migration run at open.
//! - [`registry`], [`guests`], [`history`] (runs, audit, retention),
//!   [`leases`], [`snapshots`]: one store capability each.
//!
//! Records go through the codec both backends share (`store/codec.rs`).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, TransactionBehavior};

use super::{StoreError, StoreResult};

mod guests;
mod history;
mod leases;
mod registry;
mod schema;
mod snapshots;

use schema::migrate;
pub use schema::{MIGRATIONS, SCHEMA_VERSION};

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQLite store. Cheap to clone (shares the connection).
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// For error messages only.
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SqliteStore({})", self.path.display())
    }
}

/// Canonical, fixed-width, lexically sortable timestamp text.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_ts(s: &str, what: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{what}: bad timestamp {s:?}: {e}")))
}

fn db_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!("sqlite database is busy: {e}"))
        }
        Some(ErrorCode::DatabaseCorrupt) | Some(ErrorCode::NotADatabase) => {
            StoreError::Corrupt(format!("sqlite: {e}"))
        }
        _ => StoreError::Other(format!("sqlite: {e}")),
    }
}

fn bad_token(tok: &str) -> StoreError {
    StoreError::Invalid(format!(
        "continuation token {tok:?} is not one this store issued"
    ))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates its
    /// schema to [`SCHEMA_VERSION`].
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let p = path.to_path_buf();
        let conn = tokio::task::spawn_blocking(move || Self::open_blocking(&p))
            .await
            .map_err(|e| StoreError::Other(format!("sqlite open task failed: {e}")))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.to_path_buf(),
        })
    }

    fn open_blocking(path: &Path) -> StoreResult<Connection> {
        let named = |e: rusqlite::Error| {
            StoreError::Other(format!(
                "cannot open sqlite database {}: {e}",
                path.display()
            ))
        };
        let mut conn = Connection::open(path).map_err(named)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(named)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(named)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "sqlite did not switch to WAL");
        }
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(named)?;
        migrate(&mut conn, path)?;
        Ok(conn)
    }

    /// The schema version stored in the database.
    pub async fn schema_version(&self) -> StoreResult<i64> {
        self.with_conn(|c| {
            c.query_row("SELECT MAX(version) FROM schema_version", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.unwrap_or(0))
            .map_err(db_err)
        })
        .await
    }

    async fn with_conn<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn
                .lock()
                .map_err(|_| StoreError::Other("sqlite connection lock poisoned".into()))?;
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Other(format!("sqlite task failed: {e}")))?
    }
}

fn write_tx(c: &mut Connection) -> StoreResult<rusqlite::Transaction<'_>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)
}
