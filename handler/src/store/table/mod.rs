//! The Azure Table Storage backend (`GUESTSYNC_STORE` = a table endpoint URL
//! or a storage connection string), on the REST client in [`client`].
//!
//! Tables and keys (docs/store.md has the full picture):
//!
//! | table | PartitionKey | RowKey | columns besides `Doc` |
//! |---|---|---|---|
//! | `GuestSyncTenants` | `tenant` | tenant id | DisplayName, Enabled |
//! | `GuestSyncGuests` | source tenant id `_` first two hex digits of the user id | source user id | State, HostUserId |
//! | `GuestSyncRuns` | source tenant id | run id `_` job | Job, Outcome, StartedAt, FinishedAt |
//! | `GuestSyncAudit` | source tenant id | inverted time `_` uuid (newest first) | At, Operation, Outcome |
//! | `GuestSyncLeases` | `tenant|job` | `lease` | Holder, ExpiresAt |
//!
//! Every record is kept whole as JSON in the `Doc` string property (exact
//! round trip, one place to evolve the shape); the other columns exist for
//! `$filter` and for an operator browsing the tables. Versions for
//! optimistic concurrency and lease tokens are the service's ETags.
pub mod auth;
pub mod client;

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

pub use client::TableClient;
use client::{
    encode_key, entity, odata_datetime, odata_str, put_datetime, BatchOp, Continuation, Entity,
    Query,
};

use super::{
    validate, AuditLog, GuestStore, Lease, LeaseStore, Page, Pruned, Retention, RunStore,
    StoreError, StoreResult, TenantRegistry, Versioned,
};
use crate::domain::{AuditEntry, GuestRecord, GuestState, Guid, Job, RunRecord, SourceTenant};

/// The registry table.
pub const TENANTS: &str = "GuestSyncTenants";
/// One entity per (source tenant, source user).
pub const GUESTS: &str = "GuestSyncGuests";
/// Run history.
pub const RUNS: &str = "GuestSyncRuns";
/// The audit trail.
pub const AUDIT: &str = "GuestSyncAudit";
/// Per-tenant, per-job leases.
pub const LEASES: &str = "GuestSyncLeases";
/// Every table the store uses. The infra template creates these; a mirror
/// test compares the two lists.
pub const TABLE_NAMES: &[&str] = &[TENANTS, GUESTS, RUNS, AUDIT, LEASES];

/// PartitionKey of the registry (all tenants in one partition).
const TENANT_PK: &str = "tenant";
/// RowKey of a lease entity.
const LEASE_RK: &str = "lease";
/// How many batches of one `put_guests` call are in flight at once.
const BATCH_PARALLELISM: usize = 8;
/// Prefix of guest-page continuation tokens (so foreign strings are refused).
const TOKEN_PREFIX: &str = "gs1.";

/// The Table Storage store.
#[derive(Debug, Clone)]
pub struct TableStore {
    client: TableClient,
}

fn doc_of<T: serde::de::DeserializeOwned>(what: &str, e: &Entity) -> StoreResult<T> {
    let doc = e
        .get("Doc")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("stored {what} has no Doc property")))?;
    serde_json::from_str(doc)
        .map_err(|err| StoreError::Corrupt(format!("stored {what} cannot be read: {err}")))
}

fn str_prop(e: &mut Entity, name: &str, v: &str) {
    e.insert(name.into(), Value::String(v.into()));
}

/// RowKey part that sorts newest first: 19 digits of `i64::MAX - nanos`.
fn inverted(t: DateTime<Utc>) -> String {
    let n = t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    format!("{:019}", i64::MAX - n.max(0))
}

/// PartitionKey of a guest: the tenant id and the first two hex digits of
/// the source user id (`<tenant>_<xx>`, 256 shards per tenant).
///
/// Why shards: one partition is served by one partition server (about
/// 2,000 entities/s), so a 100,000-guest first sync in one partition would
/// be throttled; and Azurite's per-entity cost grows with the partition's
/// size (a 100,000-entity partition takes hours to load). Listing a tenant
/// is one range query over its shards; because the shard is the id's prefix,
/// (PartitionKey, RowKey) order is source user id order.
fn guest_pk(tenant: Guid, user: Guid) -> String {
    let u = user.to_string();
    format!("{tenant}_{}", u.get(..2).unwrap_or("00"))
}

/// `$filter` selecting every shard of a tenant's guests.
fn guest_range(tenant: Guid) -> String {
    format!(
        "PartitionKey ge {} and PartitionKey lt {}",
        odata_str(&format!("{tenant}_")),
        odata_str(&format!("{tenant}`"))
    )
}

fn lease_pk(tenant: Guid, job: Job) -> String {
    encode_key(&format!("{tenant}|{job}"))
}

fn encode_token(tenant: &str, c: &Continuation) -> String {
    let raw = format!(
        "{tenant}\n{}\n{}",
        c.next_pk,
        c.next_rk.as_deref().unwrap_or("")
    );
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

fn decode_token(tok: &str, tenant: &str) -> StoreResult<Continuation> {
    let bad = || {
        StoreError::Invalid(format!(
            "continuation token {tok:?} is not one this store issued"
        ))
    };
    let b64 = tok.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.splitn(3, '\n');
    let (Some(t), Some(pk), Some(rk)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    // A token is only valid for the tenant whose listing issued it.
    if t != tenant {
        return Err(bad());
    }
    Ok(Continuation {
        next_pk: pk.to_string(),
        next_rk: (!rk.is_empty()).then(|| rk.to_string()),
    })
}

impl TableStore {
    /// Wraps a client, creating the tables that are missing.
    pub async fn open(client: TableClient) -> StoreResult<Self> {
        for t in TABLE_NAMES {
            client.create_table_if_missing(t).await?;
        }
        Ok(TableStore { client })
    }

    /// The underlying REST client.
    pub fn client(&self) -> &TableClient {
        &self.client
    }

    fn guest_entity(g: &GuestRecord) -> StoreResult<Entity> {
        validate::guest(g)?;
        let mut e = entity(
            &guest_pk(g.source_tenant_id, g.source_user_id),
            &g.source_user_id.to_string(),
        );
        str_prop(&mut e, "State", g.state.as_str());
        if let Some(h) = g.host_user_id {
            str_prop(&mut e, "HostUserId", &h.to_string());
        }
        str_prop(&mut e, "Doc", &validate::to_doc("guest", g)?);
        client::check_entity(GUESTS, &e)?;
        Ok(e)
    }

    async fn run_batches(&self, table: &'static str, ops: Vec<BatchOp>) -> StoreResult<()> {
        let batches = client::split_batches(ops);
        futures::stream::iter(batches)
            .map(|b| async move { self.client.batch(table, &b).await })
            .buffer_unordered(BATCH_PARALLELISM)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    /// Deletes entities (by keys), tolerating ones already gone. Returns how
    /// many were deleted.
    async fn delete_all(
        &self,
        table: &'static str,
        keys: Vec<(String, String)>,
    ) -> StoreResult<u64> {
        let n = keys.len() as u64;
        let ops: Vec<_> = keys
            .into_iter()
            .map(|(pk, rk)| BatchOp::Delete { pk, rk })
            .collect();
        for b in client::split_batches(ops) {
            match self.client.batch(table, &b).await {
                Ok(()) => {}
                // Someone deleted one meanwhile: fall back to one by one.
                Err(StoreError::NotFound(_)) => {
                    for op in b {
                        if let BatchOp::Delete { pk, rk } = op {
                            match self.client.delete(table, &pk, &rk, None).await {
                                Ok(()) | Err(StoreError::NotFound(_)) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

fn keys_of(e: &Entity) -> (String, String) {
    let g = |n: &str| {
        e.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (g("PartitionKey"), g("RowKey"))
}

#[async_trait]
impl TenantRegistry for TableStore {
    async fn put_tenant(&self, t: &SourceTenant) -> StoreResult<()> {
        validate::tenant(t)?;
        let mut e = entity(TENANT_PK, &t.tenant_id.to_string());
        str_prop(&mut e, "DisplayName", &t.display_name);
        e.insert("Enabled".into(), Value::Bool(t.enabled));
        str_prop(&mut e, "Doc", &validate::to_doc("tenant", t)?);
        self.client.put(TENANTS, &e, None).await.map(drop)
    }

    async fn get_tenant(&self, id: Guid) -> StoreResult<Option<SourceTenant>> {
        match self.client.get(TENANTS, TENANT_PK, &id.to_string()).await? {
            Some((e, _)) => Ok(Some(doc_of("tenant", &e)?)),
            None => Ok(None),
        }
    }

    async fn list_tenants(&self) -> StoreResult<Vec<SourceTenant>> {
        let q = Query {
            filter: Some(format!("PartitionKey eq {}", odata_str(TENANT_PK))),
            select: Some("Doc".into()),
            top: None,
        };
        let mut out = self
            .client
            .query_all(TENANTS, &q)
            .await?
            .iter()
            .map(|e| doc_of::<SourceTenant>("tenant", e))
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| {
            a.display_name
                .to_ascii_lowercase()
                .cmp(&b.display_name.to_ascii_lowercase())
                .then(a.tenant_id.to_string().cmp(&b.tenant_id.to_string()))
        });
        Ok(out)
    }

    async fn delete_tenant(&self, id: Guid) -> StoreResult<()> {
        match self
            .client
            .delete(TENANTS, TENANT_PK, &id.to_string(), None)
            .await
        {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl GuestStore for TableStore {
    async fn get_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<Option<GuestRecord>> {
        Ok(self
            .get_guest_versioned(tenant, source_user)
            .await?
            .map(|v| v.record))
    }

    async fn put_guest(&self, g: &GuestRecord) -> StoreResult<()> {
        let e = Self::guest_entity(g)?;
        self.client.put(GUESTS, &e, None).await.map(drop)
    }

    async fn put_guests(&self, gs: &[GuestRecord]) -> StoreResult<()> {
        // Validate everything first: one bad record writes none.
        let ops = gs
            .iter()
            .map(|g| Self::guest_entity(g).map(BatchOp::Upsert))
            .collect::<StoreResult<Vec<_>>>()?;
        self.run_batches(GUESTS, ops).await
    }

    async fn list_guests_page(
        &self,
        tenant: Guid,
        continuation: Option<String>,
        limit: usize,
    ) -> StoreResult<Page<GuestRecord>> {
        let t = tenant.to_string();
        let cont = continuation
            .as_deref()
            .map(|c| decode_token(c, &t))
            .transpose()?;
        let q = Query {
            filter: Some(guest_range(tenant)),
            select: Some("Doc".into()),
            top: Some(limit.clamp(1, client::MAX_PAGE)),
        };
        let (items, next) = self.client.query_page(GUESTS, &q, cont.as_ref()).await?;
        let items = items
            .iter()
            .map(|e| doc_of::<GuestRecord>("guest", e))
            .collect::<StoreResult<Vec<_>>>()?;
        // The service's NextPartitionKey is opaque (Azurite encodes it), so
        // it is passed back untouched; the filter keeps us in the tenant.
        Ok(Page {
            items,
            continuation: next.as_ref().map(|c| encode_token(&t, c)),
        })
    }

    async fn delete_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<()> {
        match self
            .client
            .delete(
                GUESTS,
                &guest_pk(tenant, source_user),
                &source_user.to_string(),
                None,
            )
            .await
        {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn get_guest_versioned(
        &self,
        tenant: Guid,
        source_user: Guid,
    ) -> StoreResult<Option<Versioned<GuestRecord>>> {
        match self
            .client
            .get(
                GUESTS,
                &guest_pk(tenant, source_user),
                &source_user.to_string(),
            )
            .await?
        {
            Some((e, etag)) => Ok(Some(Versioned {
                record: doc_of("guest", &e)?,
                version: etag,
            })),
            None => Ok(None),
        }
    }

    async fn put_guest_if(&self, g: &GuestRecord, expected: Option<&str>) -> StoreResult<String> {
        let e = Self::guest_entity(g)?;
        let r = match expected {
            None => self.client.insert(GUESTS, &e).await,
            Some(tag) => self.client.put(GUESTS, &e, Some(tag)).await,
        };
        r.map_err(|err| match err {
            StoreError::Conflict(_) | StoreError::NotFound(_) => StoreError::Conflict(format!(
                "guest {}/{} changed since it was read",
                g.source_tenant_id, g.source_user_id
            )),
            other => other,
        })
    }

    async fn guest_counts(&self, tenant: Guid) -> StoreResult<BTreeMap<GuestState, u64>> {
        let q = Query {
            filter: Some(guest_range(tenant)),
            select: Some("State".into()),
            top: None,
        };
        let mut out = BTreeMap::new();
        for e in self.client.query_all(GUESTS, &q).await? {
            let s = e.get("State").and_then(Value::as_str).unwrap_or_default();
            let st = s
                .parse::<GuestState>()
                .map_err(|err| StoreError::Corrupt(format!("{GUESTS}.State: {err}")))?;
            *out.entry(st).or_insert(0) += 1;
        }
        Ok(out)
    }
}

#[async_trait]
impl RunStore for TableStore {
    async fn put_run(&self, r: &RunRecord) -> StoreResult<()> {
        validate::run(r)?;
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
        str_prop(&mut e, "Doc", &validate::to_doc("run", r)?);
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
        found.first().map(|e| doc_of("run", e)).transpose()
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
            .map(|e| doc_of::<RunRecord>("run", e))
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
                validate::audit(a)?;
                let mut e = entity(
                    &a.source_tenant_id.to_string(),
                    &format!("{}_{}", inverted(a.at), uuid::Uuid::new_v4()),
                );
                put_datetime(&mut e, "At", a.at);
                str_prop(&mut e, "Operation", &a.operation);
                str_prop(&mut e, "Outcome", &a.outcome);
                str_prop(&mut e, "Doc", &validate::to_doc("audit", a)?);
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
                        out.push(doc_of::<AuditEntry>("audit", e)?);
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
                all.iter()
                    .take(limit)
                    .map(|(_, e)| doc_of("audit", e))
                    .collect()
            }
        }
    }
}

fn lease_entity(tenant: Guid, job: Job, holder: &str, expires: DateTime<Utc>) -> Entity {
    let mut e = entity(&lease_pk(tenant, job), LEASE_RK);
    str_prop(&mut e, "Holder", holder);
    put_datetime(&mut e, "ExpiresAt", expires);
    e
}

fn lease_expiry(e: &Entity) -> StoreResult<DateTime<Utc>> {
    let s = e
        .get("ExpiresAt")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("{LEASES}: lease without ExpiresAt")))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| StoreError::Corrupt(format!("{LEASES}.ExpiresAt {s:?}: {err}")))
}

#[async_trait]
impl LeaseStore for TableStore {
    async fn try_acquire(
        &self,
        tenant: Guid,
        job: Job,
        holder: &str,
        ttl: chrono::Duration,
    ) -> StoreResult<Option<Lease>> {
        validate::holder(holder)?;
        let pk = lease_pk(tenant, job);
        let existing = self.client.get(LEASES, &pk, LEASE_RK).await?;
        let now = Utc::now();
        let expires_at = now + ttl;
        let e = lease_entity(tenant, job, holder, expires_at);
        let written = match existing {
            // Free: insert; a 409 means another acquirer was faster.
            None => self.client.insert(LEASES, &e).await,
            Some((cur, etag)) => {
                if lease_expiry(&cur)? > now {
                    return Ok(None);
                }
                // Expired: replace only that exact expired version.
                self.client.put(LEASES, &e, Some(&etag)).await
            }
        };
        match written {
            Ok(token) => Ok(Some(Lease {
                tenant,
                job,
                holder: holder.to_string(),
                expires_at,
                token,
            })),
            Err(StoreError::Conflict(_)) | Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn renew(&self, lease: &Lease, ttl: chrono::Duration) -> StoreResult<Lease> {
        let expires_at = Utc::now() + ttl;
        let e = lease_entity(lease.tenant, lease.job, &lease.holder, expires_at);
        match self.client.put(LEASES, &e, Some(&lease.token)).await {
            Ok(token) => Ok(Lease {
                expires_at,
                token,
                ..lease.clone()
            }),
            Err(StoreError::Conflict(_)) | Err(StoreError::NotFound(_)) => {
                Err(StoreError::Conflict(format!(
                    "lease {}|{} was lost: it expired and another holder took it",
                    lease.tenant, lease.job
                )))
            }
            Err(e) => Err(e),
        }
    }

    async fn release(&self, lease: &Lease) -> StoreResult<()> {
        let pk = lease_pk(lease.tenant, lease.job);
        match self
            .client
            .delete(LEASES, &pk, LEASE_RK, Some(&lease.token))
            .await
        {
            Ok(()) | Err(StoreError::Conflict(_)) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn current_lease(&self, tenant: Guid, job: Job) -> StoreResult<Option<Lease>> {
        let Some((e, etag)) = self
            .client
            .get(LEASES, &lease_pk(tenant, job), LEASE_RK)
            .await?
        else {
            return Ok(None);
        };
        let expires_at = lease_expiry(&e)?;
        if expires_at <= Utc::now() {
            return Ok(None);
        }
        Ok(Some(Lease {
            tenant,
            job,
            holder: e
                .get("Holder")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            expires_at,
            token: etag,
        }))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Newer times give smaller RowKey prefixes, so a partition lists newest
    /// first; the prefix has a fixed width.
    #[test]
    fn inverted_time_sorts_newest_first() {
        let old = inverted(Utc::now() - chrono::Duration::days(1));
        let new = inverted(Utc::now());
        assert!(new < old);
        assert_eq!(new.len(), 19);
        assert_eq!(old.len(), 19);
    }

    /// Continuation tokens round-trip, and tokens of another tenant or
    /// foreign strings are refused.
    #[test]
    fn continuation_tokens_are_checked() {
        let c = Continuation {
            next_pk: "t1".into(),
            next_rk: Some("r9".into()),
        };
        let tok = encode_token("t1", &c);
        assert_eq!(decode_token(&tok, "t1").unwrap(), c);
        assert!(decode_token(&tok, "t2").is_err());
        assert!(decode_token("not-a-token", "t1").is_err());
    }

    /// The exported table names are valid Table service names and distinct.
    #[test]
    fn table_names_are_valid() {
        let mut seen = std::collections::HashSet::new();
        for t in TABLE_NAMES {
            assert!((3..=63).contains(&t.len()));
            assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(t.chars().next().unwrap().is_ascii_alphabetic());
            assert!(seen.insert(*t));
        }
    }
}
