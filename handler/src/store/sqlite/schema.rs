//! The SQLite schema: one migration per version, applied in one
//! transaction at open; a database written by a newer build is refused.
use std::path::Path;

use rusqlite::{params, Connection, TransactionBehavior};

use super::db_err;
use crate::store::{StoreError, StoreResult};

/// The schema, one entry per version: `MIGRATIONS[i]` takes the database
/// from version `i` to `i + 1`. Append only; never edit a shipped entry.
pub const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE tenants (
        tenant_id TEXT PRIMARY KEY NOT NULL,
        display_name TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE TABLE guests (
        tenant_id TEXT NOT NULL,
        source_user_id TEXT NOT NULL,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, source_user_id)
    ) WITHOUT ROWID;
    CREATE INDEX guests_by_state ON guests (tenant_id, state);
    CREATE TABLE runs (
        tenant_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        job TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant_id, run_id, job)
    );
    CREATE INDEX runs_by_start ON runs (started_at);
    CREATE INDEX runs_by_tenant_start ON runs (tenant_id, started_at);
    CREATE INDEX runs_by_finish ON runs (finished_at);
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant_id TEXT NOT NULL,
        at TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX audit_by_at ON audit (at);
    CREATE INDEX audit_by_tenant_at ON audit (tenant_id, at);
    CREATE TABLE leases (
        tenant_id TEXT NOT NULL,
        job TEXT NOT NULL,
        holder TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        token TEXT NOT NULL,
        PRIMARY KEY (tenant_id, job)
    );",
    // v2: a running reconcile's snapshot (docs/store.md)
    "CREATE TABLE snapshots (
        tenant_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, run_id, idx)
    ) WITHOUT ROWID;",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);")
        .map_err(db_err)?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .map_err(db_err)?
        .unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "sqlite database {} has schema version {current}, newer than the {SCHEMA_VERSION} this build of guest-sync knows: upgrade guest-sync (or point GUESTSYNC_STORE at another file)",
            path.display()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql).map_err(db_err)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            params![i as i64 + 1],
        )
        .map_err(db_err)?;
        tracing::info!(version = i + 1, "sqlite schema migrated");
    }
    tx.commit().map_err(db_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A database written by a newer build is refused with a message naming
    /// both schema versions.
    #[tokio::test]
    async fn a_newer_schema_is_refused_with_both_versions_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = SqliteStore::open(&path).await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        drop(s);
        let c = Connection::open(&path).unwrap();
        c.execute("INSERT INTO schema_version (version) VALUES (99)", [])
            .unwrap();
        drop(c);
        let e = SqliteStore::open(&path).await.unwrap_err().to_string();
        assert!(
            e.contains("99") && e.contains(&SCHEMA_VERSION.to_string()),
            "{e}"
        );
    }

    /// Opening an existing database again keeps its data and its version.
    #[tokio::test]
    async fn reopening_keeps_the_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        SqliteStore::open(&path).await.unwrap();
        let s = SqliteStore::open(&path).await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
}
