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
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    validate, AuditLog, GuestStore, Lease, LeaseStore, Page, Pruned, Retention, RunStore,
    StoreError, StoreResult, TenantRegistry, Versioned,
};
use crate::domain::{AuditEntry, GuestRecord, GuestState, Guid, Job, RunRecord, SourceTenant};

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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

fn from_doc<T: serde::de::DeserializeOwned>(what: &str, doc: &str) -> StoreResult<T> {
    serde_json::from_str(doc)
        .map_err(|e| StoreError::Corrupt(format!("stored {what} cannot be read: {e}")))
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

fn migrate(conn: &mut Connection, path: &Path) -> StoreResult<()> {
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

fn write_tx(c: &mut Connection) -> StoreResult<rusqlite::Transaction<'_>> {
    c.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_err)
}

#[async_trait]
impl TenantRegistry for SqliteStore {
    async fn put_tenant(&self, t: &SourceTenant) -> StoreResult<()> {
        validate::tenant(t)?;
        let doc = validate::to_doc("tenant", t)?;
        let (id, name, enabled) = (t.tenant_id.to_string(), t.display_name.clone(), t.enabled);
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO tenants (tenant_id, display_name, enabled, doc) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name,
                   enabled = excluded.enabled, doc = excluded.doc",
                params![id, name, enabled, doc],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn get_tenant(&self, id: Guid) -> StoreResult<Option<SourceTenant>> {
        let id = id.to_string();
        self.with_conn(move |c| {
            let doc: Option<String> = c
                .query_row("SELECT doc FROM tenants WHERE tenant_id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err)?;
            doc.map(|d| from_doc("tenant", &d)).transpose()
        })
        .await
    }

    async fn list_tenants(&self) -> StoreResult<Vec<SourceTenant>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT doc FROM tenants ORDER BY display_name COLLATE NOCASE, tenant_id")
                .map_err(db_err)?;
            let docs = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| from_doc("tenant", d)).collect()
        })
        .await
    }

    async fn delete_tenant(&self, id: Guid) -> StoreResult<()> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.execute("DELETE FROM tenants WHERE tenant_id = ?1", [id])
                .map_err(db_err)
                .map(drop)
        })
        .await
    }
}

/// A guest prepared for writing: keys, indexed columns, JSON.
struct GuestRow {
    tenant: String,
    user: String,
    state: &'static str,
    doc: String,
}

fn guest_row(g: &GuestRecord) -> StoreResult<GuestRow> {
    validate::guest(g)?;
    Ok(GuestRow {
        tenant: g.source_tenant_id.to_string(),
        user: g.source_user_id.to_string(),
        state: g.state.as_str(),
        doc: validate::to_doc("guest", g)?,
    })
}

const UPSERT_GUEST: &str = "INSERT INTO guests (tenant_id, source_user_id, state, version, doc)
     VALUES (?1, ?2, ?3, 1, ?4)
     ON CONFLICT (tenant_id, source_user_id) DO UPDATE SET state = excluded.state,
       doc = excluded.doc, version = guests.version + 1";

#[async_trait]
impl GuestStore for SqliteStore {
    async fn get_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<Option<GuestRecord>> {
        Ok(self
            .get_guest_versioned(tenant, source_user)
            .await?
            .map(|v| v.record))
    }

    async fn put_guest(&self, g: &GuestRecord) -> StoreResult<()> {
        self.put_guests(std::slice::from_ref(g)).await
    }

    async fn put_guests(&self, gs: &[GuestRecord]) -> StoreResult<()> {
        // Validate and serialize everything first: one bad record writes none.
        let mut rows = gs.iter().map(guest_row).collect::<StoreResult<Vec<_>>>()?;
        // Inserting in key order keeps B-tree writes local (much faster for
        // large batches of random GUIDs).
        rows.sort_by(|a, b| (&a.tenant, &a.user).cmp(&(&b.tenant, &b.user)));
        if rows.is_empty() {
            return Ok(());
        }
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            {
                let mut st = tx.prepare_cached(UPSERT_GUEST).map_err(db_err)?;
                for r in &rows {
                    st.execute(params![r.tenant, r.user, r.state, r.doc])
                        .map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_guests_page(
        &self,
        tenant: Guid,
        continuation: Option<String>,
        limit: usize,
    ) -> StoreResult<Page<GuestRecord>> {
        let after = match &continuation {
            None => String::new(),
            Some(tok) => Guid::parse_named(tok, "continuation token")
                .map_err(|_| bad_token(tok))?
                .to_string(),
        };
        let limit = limit.clamp(1, 10_000);
        let tenant = tenant.to_string();
        self.with_conn(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT source_user_id, doc FROM guests WHERE tenant_id = ?1 AND source_user_id > ?2
                     ORDER BY source_user_id LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(params![tenant, after, limit as i64 + 1], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            let more = rows.len() > limit;
            let mut items = Vec::with_capacity(rows.len().min(limit));
            let mut last = None;
            for (id, doc) in rows.into_iter().take(limit) {
                items.push(from_doc::<GuestRecord>("guest", &doc)?);
                last = Some(id);
            }
            Ok(Page {
                items,
                continuation: if more { last } else { None },
            })
        })
        .await
    }

    async fn delete_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<()> {
        let (t, u) = (tenant.to_string(), source_user.to_string());
        self.with_conn(move |c| {
            c.execute(
                "DELETE FROM guests WHERE tenant_id = ?1 AND source_user_id = ?2",
                params![t, u],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn get_guest_versioned(
        &self,
        tenant: Guid,
        source_user: Guid,
    ) -> StoreResult<Option<Versioned<GuestRecord>>> {
        let (t, u) = (tenant.to_string(), source_user.to_string());
        self.with_conn(move |c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT version, doc FROM guests WHERE tenant_id = ?1 AND source_user_id = ?2",
                    params![t, u],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            row.map(|(v, d)| {
                Ok(Versioned {
                    record: from_doc("guest", &d)?,
                    version: v.to_string(),
                })
            })
            .transpose()
        })
        .await
    }

    async fn put_guest_if(&self, g: &GuestRecord, expected: Option<&str>) -> StoreResult<String> {
        let row = guest_row(g)?;
        let expected = match expected {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                StoreError::Conflict(format!("version {v:?} is not current for this record"))
            })?),
        };
        let what = format!("guest {}/{}", row.tenant, row.user);
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM guests WHERE tenant_id = ?1 AND source_user_id = ?2",
                    params![row.tenant, row.user],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if current != expected {
                return Err(StoreError::Conflict(format!(
                    "{what} changed since it was read"
                )));
            }
            let next = current.unwrap_or(0) + 1;
            tx.execute(
                "INSERT INTO guests (tenant_id, source_user_id, state, version, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, source_user_id) DO UPDATE SET state = excluded.state,
                   doc = excluded.doc, version = excluded.version",
                params![row.tenant, row.user, row.state, next, row.doc],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(next.to_string())
        })
        .await
    }

    async fn guest_counts(&self, tenant: Guid) -> StoreResult<BTreeMap<GuestState, u64>> {
        let t = tenant.to_string();
        self.with_conn(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT state, COUNT(*) FROM guests WHERE tenant_id = ?1 GROUP BY state",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map([t], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            rows.into_iter()
                .map(|(s, n)| {
                    let st = s
                        .parse::<GuestState>()
                        .map_err(|e| StoreError::Corrupt(format!("guests.state: {e}")))?;
                    Ok((st, n.max(0) as u64))
                })
                .collect()
        })
        .await
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn put_run(&self, r: &RunRecord) -> StoreResult<()> {
        validate::run(r)?;
        let doc = validate::to_doc("run", r)?;
        let vals = (
            r.source_tenant_id.to_string(),
            r.run_id.to_string(),
            r.job.as_str(),
            ts(r.started_at),
            r.finished_at.map(ts),
            r.outcome.as_str(),
        );
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO runs (tenant_id, run_id, job, started_at, finished_at, outcome, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant_id, run_id, job) DO UPDATE SET started_at = excluded.started_at,
                   finished_at = excluded.finished_at, outcome = excluded.outcome, doc = excluded.doc",
                params![vals.0, vals.1, vals.2, vals.3, vals.4, vals.5, doc],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn get_run(&self, tenant: Guid, run_id: uuid::Uuid) -> StoreResult<Option<RunRecord>> {
        let (t, r) = (tenant.to_string(), run_id.to_string());
        self.with_conn(move |c| {
            let doc: Option<String> = c
                .query_row(
                    "SELECT doc FROM runs WHERE tenant_id = ?1 AND run_id = ?2 ORDER BY job LIMIT 1",
                    params![t, r],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            doc.map(|d| from_doc("run", &d)).transpose()
        })
        .await
    }

    async fn list_runs(&self, tenant: Option<Guid>, limit: usize) -> StoreResult<Vec<RunRecord>> {
        let t = tenant.map(|t| t.to_string());
        let limit = limit.min(i64::MAX as usize) as i64;
        self.with_conn(move |c| {
            let docs = match t {
                Some(t) => {
                    let mut st = c
                        .prepare_cached(
                            "SELECT doc FROM runs WHERE tenant_id = ?1
                             ORDER BY started_at DESC, run_id DESC LIMIT ?2",
                        )
                        .map_err(db_err)?;
                    let v = st
                        .query_map(params![t, limit], |r| r.get::<_, String>(0))
                        .map_err(db_err)?
                        .collect::<Result<Vec<_>, _>>();
                    v
                }
                None => {
                    let mut st = c
                        .prepare_cached(
                            "SELECT doc FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?1",
                        )
                        .map_err(db_err)?;
                    let v = st
                        .query_map(params![limit], |r| r.get::<_, String>(0))
                        .map_err(db_err)?
                        .collect::<Result<Vec<_>, _>>();
                    v
                }
            }
            .map_err(db_err)?;
            docs.iter().map(|d| from_doc("run", d)).collect()
        })
        .await
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let rows = entries
            .iter()
            .map(|a| {
                validate::audit(a)?;
                Ok((
                    a.source_tenant_id.to_string(),
                    ts(a.at),
                    validate::to_doc("audit", a)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        if rows.is_empty() {
            return Ok(());
        }
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            {
                let mut st = tx
                    .prepare_cached("INSERT INTO audit (tenant_id, at, doc) VALUES (?1, ?2, ?3)")
                    .map_err(db_err)?;
                for (t, at, doc) in &rows {
                    st.execute(params![t, at, doc]).map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_audit(&self, tenant: Option<Guid>, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        let t = tenant.map(|t| t.to_string());
        let limit = limit.min(i64::MAX as usize) as i64;
        self.with_conn(move |c| {
            let docs = match t {
                Some(t) => {
                    let mut st = c
                        .prepare_cached(
                            "SELECT doc FROM audit WHERE tenant_id = ?1 ORDER BY at DESC, seq DESC LIMIT ?2",
                        )
                        .map_err(db_err)?;
                    let v = st
                        .query_map(params![t, limit], |r| r.get::<_, String>(0))
                        .map_err(db_err)?
                        .collect::<Result<Vec<_>, _>>();
                    v
                }
                None => {
                    let mut st = c
                        .prepare_cached("SELECT doc FROM audit ORDER BY at DESC, seq DESC LIMIT ?1")
                        .map_err(db_err)?;
                    let v = st
                        .query_map(params![limit], |r| r.get::<_, String>(0))
                        .map_err(db_err)?
                        .collect::<Result<Vec<_>, _>>();
                    v
                }
            }
            .map_err(db_err)?;
            docs.iter().map(|d| from_doc("audit", d)).collect()
        })
        .await
    }
}

fn lease_from_row(
    tenant: Guid,
    job: Job,
    holder: String,
    expires: &str,
    token: String,
) -> StoreResult<Lease> {
    Ok(Lease {
        tenant,
        job,
        holder,
        expires_at: parse_ts(expires, "leases.expires_at")?,
        token,
    })
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn try_acquire(
        &self,
        tenant: Guid,
        job: Job,
        holder: &str,
        ttl: chrono::Duration,
    ) -> StoreResult<Option<Lease>> {
        validate::holder(holder)?;
        let holder = holder.to_string();
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            let now = Utc::now();
            let (t, j) = (tenant.to_string(), job.as_str());
            let current: Option<String> = tx
                .query_row(
                    "SELECT expires_at FROM leases WHERE tenant_id = ?1 AND job = ?2",
                    params![t, j],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if let Some(exp) = current {
                if parse_ts(&exp, "leases.expires_at")? > now {
                    return Ok(None);
                }
            }
            let lease = Lease {
                tenant,
                job,
                holder,
                expires_at: now + ttl,
                token: uuid::Uuid::new_v4().to_string(),
            };
            tx.execute(
                "INSERT INTO leases (tenant_id, job, holder, expires_at, token) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, job) DO UPDATE SET holder = excluded.holder,
                   expires_at = excluded.expires_at, token = excluded.token",
                params![t, j, lease.holder, ts(lease.expires_at), lease.token],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(Some(lease))
        })
        .await
    }

    async fn renew(&self, lease: &Lease, ttl: chrono::Duration) -> StoreResult<Lease> {
        let mut next = lease.clone();
        self.with_conn(move |c| {
            next.expires_at = Utc::now() + ttl;
            let old = std::mem::replace(&mut next.token, uuid::Uuid::new_v4().to_string());
            let n = c
                .execute(
                    "UPDATE leases SET expires_at = ?1, token = ?2
                     WHERE tenant_id = ?3 AND job = ?4 AND token = ?5",
                    params![
                        ts(next.expires_at),
                        next.token,
                        next.tenant.to_string(),
                        next.job.as_str(),
                        old
                    ],
                )
                .map_err(db_err)?;
            if n == 1 {
                Ok(next)
            } else {
                Err(StoreError::Conflict(format!(
                    "lease {}|{} was lost: it expired and another holder took it",
                    next.tenant, next.job
                )))
            }
        })
        .await
    }

    async fn release(&self, lease: &Lease) -> StoreResult<()> {
        let (t, j, tok) = (
            lease.tenant.to_string(),
            lease.job.as_str(),
            lease.token.clone(),
        );
        self.with_conn(move |c| {
            c.execute(
                "DELETE FROM leases WHERE tenant_id = ?1 AND job = ?2 AND token = ?3",
                params![t, j, tok],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn current_lease(&self, tenant: Guid, job: Job) -> StoreResult<Option<Lease>> {
        self.with_conn(move |c| {
            let row: Option<(String, String, String)> = c
                .query_row(
                    "SELECT holder, expires_at, token FROM leases WHERE tenant_id = ?1 AND job = ?2",
                    params![tenant.to_string(), job.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db_err)?;
            match row {
                None => Ok(None),
                Some((h, e, tok)) => {
                    let l = lease_from_row(tenant, job, h, &e, tok)?;
                    Ok((l.expires_at > Utc::now()).then_some(l))
                }
            }
        })
        .await
    }
}

#[async_trait]
impl Retention for SqliteStore {
    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<Pruned> {
        let b = ts(before);
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            let runs = tx
                .execute(
                    "DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?1",
                    [&b],
                )
                .map_err(db_err)?;
            let audit = tx
                .execute("DELETE FROM audit WHERE at < ?1", [&b])
                .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(Pruned {
                runs: runs as u64,
                audit: audit as u64,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
