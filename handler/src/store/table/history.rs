//! Run history, the audit trail and their retention on Table Storage
//! (`GuestSyncRuns`, `GuestSyncAudit`: one partition per tenant).
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::client::{
    self, entity, odata_datetime, odata_str, put_datetime, BatchOp, Entity, Query,
};
use super::entities::{doc_of, inverted, keys_of, str_prop};
use super::{TableStore, AUDIT, RUNS};
use crate::domain::{AuditEntry, Guid, RunRecord};
use crate::store::{codec, AuditLog, Pruned, Retention, RunStore, StoreResult};

#[async_trait]
impl RunStore for TableStore {
    async fn put_run(&self, r: &RunRecord) -> StoreResult<()> {
        let doc = codec::encode(r)?;
        let mut e = entity(
            &r.source_tenant_id.to_string(),
            &format!("{}_{}", r.run_id, r.job),
        );
        str_prop(&mut e, "Job", r.job.as_str());
        str_prop(&mut e, "Outcome", r.outcome.as_str());
        put_datetime(&mut e, "StartedAt", r.started_at);
        if let Some(f) = r.finished_at {
            put_datetime(&mut e, "FinishedAt", f);
        }
        str_prop(&mut e, "Doc", &doc);
        self.client.put(RUNS, &e, None).await.map(drop)
    }

    async fn get_run(&self, tenant: Guid, run_id: uuid::Uuid) -> StoreResult<Option<RunRecord>> {
        // RowKeys of this run are "<run id>_<job>": a range scan in one partition.
        let q = Query {
            filter: Some(format!(
                "PartitionKey eq {} and RowKey gt {} and RowKey lt {}",
                odata_str(&tenant.to_string()),
                odata_str(&format!("{run_id}_")),
                odata_str(&format!("{run_id}`")),
            )),
            select: Some("Doc".into()),
            top: Some(1),
        };
        let found = self.client.query_all(RUNS, &q).await?;
        found.first().map(doc_of).transpose()
    }

    async fn list_runs(&self, tenant: Option<Guid>, limit: usize) -> StoreResult<Vec<RunRecord>> {
        let q = Query {
            filter: tenant.map(|t| format!("PartitionKey eq {}", odata_str(&t.to_string()))),
            select: Some("Doc".into()),
            top: None,
        };
        let mut runs = self
            .client
            .query_all(RUNS, &q)
            .await?
            .iter()
            .map(doc_of::<RunRecord>)
            .collect::<StoreResult<Vec<_>>>()?;
        runs.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then(b.run_id.to_string().cmp(&a.run_id.to_string()))
        });
        runs.truncate(limit);
        Ok(runs)
    }
}

#[async_trait]
impl AuditLog for TableStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let ops = entries
            .iter()
            .map(|a| {
                let doc = codec::encode(a)?;
                let mut e = entity(
                    &a.source_tenant_id.to_string(),
                    &format!("{}_{}", inverted(a.at), uuid::Uuid::new_v4()),
                );
                put_datetime(&mut e, "At", a.at);
                str_prop(&mut e, "Operation", &a.operation);
                str_prop(&mut e, "Outcome", &a.outcome);
                str_prop(&mut e, "Doc", &doc);
                client::check_entity(AUDIT, &e)?;
                Ok(BatchOp::Upsert(e))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        self.run_batches(AUDIT, ops).await
    }

    async fn list_audit(&self, tenant: Option<Guid>, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        match tenant {
            // Newest first is the partition's natural order.
            Some(t) => {
                let q = Query {
                    filter: Some(format!("PartitionKey eq {}", odata_str(&t.to_string()))),
                    select: Some("Doc".into()),
                    top: Some(limit.clamp(1, client::MAX_PAGE)),
                };
                let mut out = Vec::new();
                let mut cont = None;
                while out.len() < limit {
                    let (items, next) = self.client.query_page(AUDIT, &q, cont.as_ref()).await?;
                    for e in &items {
                        out.push(doc_of::<AuditEntry>(e)?);
                    }
                    match next {
                        Some(c) => cont = Some(c),
                        None => break,
                    }
                }
                out.truncate(limit);
                Ok(out)
            }
            // Across tenants: every partition is read and merged by RowKey
            // (inverted time). Retention keeps this bounded.
            None => {
                let q = Query {
                    filter: None,
                    select: Some("RowKey,Doc".into()),
                    top: None,
                };
                let mut all: Vec<(String, Entity)> = self
                    .client
                    .query_all(AUDIT, &q)
                    .await?
                    .into_iter()
                    .map(|e| (keys_of(&e).1, e))
                    .collect();
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all.iter().take(limit).map(|(_, e)| doc_of(e)).collect()
            }
        }
    }
}

#[async_trait]
impl Retention for TableStore {
    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<Pruned> {
        let runs_q = Query {
            filter: Some(format!("FinishedAt lt {}", odata_datetime(before))),
            select: Some("PartitionKey,RowKey".into()),
            top: None,
        };
        let runs = self.client.query_all(RUNS, &runs_q).await?;
        let runs = self
            .delete_all(RUNS, runs.iter().map(keys_of).collect())
            .await?;
        let audit_q = Query {
            filter: Some(format!("At lt {}", odata_datetime(before))),
            select: Some("PartitionKey,RowKey".into()),
            top: None,
        };
        let audit = self.client.query_all(AUDIT, &audit_q).await?;
        let audit = self
            .delete_all(AUDIT, audit.iter().map(keys_of).collect())
            .await?;
        Ok(Pruned { runs, audit })
    }
}
