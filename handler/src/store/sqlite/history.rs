//! Run history, the audit trail and their retention on SQLite (`runs` and
//! `audit` tables).
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

use super::{db_err, ts, write_tx, SqliteStore};
use crate::domain::{AuditEntry, Guid, RunRecord};
use crate::store::{codec, AuditLog, Pruned, Retention, RunStore, StoreResult};

#[async_trait]
impl RunStore for SqliteStore {
    async fn put_run(&self, r: &RunRecord) -> StoreResult<()> {
        let doc = codec::encode(r)?;
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
            doc.map(|d| codec::decode(&d)).transpose()
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
            docs.iter().map(|d| codec::decode(d)).collect()
        })
        .await
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let rows = entries
            .iter()
            .map(|a| Ok((a.source_tenant_id.to_string(), ts(a.at), codec::encode(a)?)))
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
            docs.iter().map(|d| codec::decode(d)).collect()
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
