//! The store: guest-sync's memory and the administrator's record.
//!
//! The interface is split by capability ([`TenantRegistry`], [`GuestStore`],
//! [`RunStore`], [`AuditLog`], [`LeaseStore`], [`Retention`],
//! [`SnapshotStore`]); [`Store`] is all of them. Backends: SQLite (embedded default) and Azure Table Storage;
//! both pass one conformance suite. No backend detail leaks through these
//! traits: errors are [`StoreError`]. Both keep each record whole as one
//! JSON document, checked by [`validate`] and encoded by one codec
//! (`codec.rs`).
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{AuditEntry, GuestRecord, GuestState, Guid, Job, RunRecord, SourceTenant};

mod codec;
pub mod sqlite;
pub mod table;
pub mod validate;

pub use table::TABLE_NAMES;

/// Store failures, backend-neutral.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record failed validation; nothing was written.
    #[error("invalid record: {0}")]
    Invalid(String),
    /// Optimistic concurrency: the record changed since it was read.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// Network, throttling, busy database: worth retrying.
    #[error("store temporarily unavailable: {0}")]
    Unavailable(String),
    /// Stored data that cannot be read back (corruption, newer schema).
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A page of results and the token for the next one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque; pass back to get the next page. None = last page.
    pub continuation: Option<String>,
}

/// The tenant registry.
#[async_trait]
pub trait TenantRegistry: Send + Sync {
    /// Inserts or replaces a tenant.
    async fn put_tenant(&self, t: &SourceTenant) -> StoreResult<()>;
    async fn get_tenant(&self, id: Guid) -> StoreResult<Option<SourceTenant>>;
    /// All tenants, ordered by display name.
    async fn list_tenants(&self) -> StoreResult<Vec<SourceTenant>>;
    /// Removes the tenant record (not its guests, runs or audit).
    async fn delete_tenant(&self, id: Guid) -> StoreResult<()>;
}

/// One record per (source tenant, source user).
#[async_trait]
pub trait GuestStore: Send + Sync {
    async fn get_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<Option<GuestRecord>>;
    /// Inserts or replaces one record.
    async fn put_guest(&self, g: &GuestRecord) -> StoreResult<()>;
    /// Inserts or replaces many records of one tenant, atomically per
    /// backend batch (SQLite: one transaction; Tables: 100 per batch).
    async fn put_guests(&self, gs: &[GuestRecord]) -> StoreResult<()>;
    /// One page of a tenant's records, ordered by source user id.
    async fn list_guests_page(
        &self,
        tenant: Guid,
        continuation: Option<String>,
        limit: usize,
    ) -> StoreResult<Page<GuestRecord>>;
    /// Every record of a tenant (follows continuations).
    async fn list_guests(&self, tenant: Guid) -> StoreResult<Vec<GuestRecord>> {
        let mut out = Vec::new();
        let mut cont = None;
        loop {
            let p = self.list_guests_page(tenant, cont, 1000).await?;
            out.extend(p.items);
            match p.continuation {
                Some(c) => cont = Some(c),
                None => return Ok(out),
            }
        }
    }
    async fn delete_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<()>;

    /// A record with its version token, for [`GuestStore::put_guest_if`].
    ///
    /// The default reads the record and derives the token from its content;
    /// both real backends override it with their native version (row version,
    /// ETag).
    async fn get_guest_versioned(
        &self,
        tenant: Guid,
        source_user: Guid,
    ) -> StoreResult<Option<Versioned<GuestRecord>>> {
        Ok(self
            .get_guest(tenant, source_user)
            .await?
            .map(|g| Versioned {
                version: content_version(&g),
                record: g,
            }))
    }

    /// Optimistic concurrency: writes `g` only if the stored record still has
    /// version `expected` (`None` = only if no record exists yet). Returns the
    /// new version; `Err(Conflict)` when someone else wrote in between.
    ///
    /// The default is a non-atomic check-then-write for simple fakes; both
    /// real backends override it atomically.
    async fn put_guest_if(&self, g: &GuestRecord, expected: Option<&str>) -> StoreResult<String> {
        let now = self
            .get_guest_versioned(g.source_tenant_id, g.source_user_id)
            .await?;
        if now.as_ref().map(|v| v.version.as_str()) != expected {
            return Err(StoreError::Conflict(format!(
                "guest {}/{} changed since it was read",
                g.source_tenant_id, g.source_user_id
            )));
        }
        self.put_guest(g).await?;
        Ok(content_version(g))
    }

    /// How many records of a tenant are in each state (the report's
    /// summary). States with no records are absent.
    async fn guest_counts(&self, tenant: Guid) -> StoreResult<BTreeMap<GuestState, u64>> {
        let mut out = BTreeMap::new();
        for g in self.list_guests(tenant).await? {
            *out.entry(g.state).or_insert(0) += 1;
        }
        Ok(out)
    }
}

/// A record read together with its version token (optimistic concurrency).
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub record: T,
    /// Opaque; pass to [`GuestStore::put_guest_if`].
    pub version: String,
}

/// A version token derived from a record's content (the trait defaults).
fn content_version(g: &GuestRecord) -> String {
    use sha2::Digest;
    let doc = serde_json::to_vec(g).unwrap_or_default();
    let d = sha2::Sha256::digest(&doc);
    d.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// Run history.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts or replaces a run (keyed by run id + job + tenant).
    async fn put_run(&self, r: &RunRecord) -> StoreResult<()>;
    async fn get_run(&self, tenant: Guid, run_id: uuid::Uuid) -> StoreResult<Option<RunRecord>>;
    /// Newest first; `tenant` None = all tenants.
    async fn list_runs(&self, tenant: Option<Guid>, limit: usize) -> StoreResult<Vec<RunRecord>>;
}

/// The audit trail: one entry per write made or attempted in Graph.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()>;
    /// Newest first; `tenant` None = all tenants.
    async fn list_audit(&self, tenant: Option<Guid>, limit: usize) -> StoreResult<Vec<AuditEntry>>;
}

/// A held lease: proof that this holder runs `job` for `tenant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub tenant: Guid,
    pub job: Job,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
    /// Backend token for renew/release (ETag, row version).
    pub token: String,
}

/// Per-tenant, per-job leases with expiry: two workers never run the same
/// tenant job at once, and a crashed holder's lease expires.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease if free or expired. `Ok(None)` = someone else holds it.
    async fn try_acquire(
        &self,
        tenant: Guid,
        job: Job,
        holder: &str,
        ttl: chrono::Duration,
    ) -> StoreResult<Option<Lease>>;
    /// Extends a held lease. `Err(Conflict)` = it was lost (expired and taken).
    async fn renew(&self, lease: &Lease, ttl: chrono::Duration) -> StoreResult<Lease>;
    /// Gives the lease back (no error if already expired or taken).
    async fn release(&self, lease: &Lease) -> StoreResult<()>;
    /// The current holder, if the lease is held and unexpired.
    async fn current_lease(&self, tenant: Guid, job: Job) -> StoreResult<Option<Lease>>;
    /// The holders of every unexpired lease, all tenants and jobs (how many
    /// jobs run right now, and where: the host's write budget is shared
    /// by them).
    async fn live_lease_holders(&self) -> StoreResult<Vec<String>>;
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: u64,
    pub audit: u64,
}

/// Retention of run history and audit.
#[async_trait]
pub trait Retention: Send + Sync {
    /// Removes runs finished and audit entries written before `before`.
    async fn prune(&self, before: DateTime<Utc>) -> StoreResult<Pruned>;
}

/// The largest snapshot chunk a store keeps: what one Table Storage
/// entity holds. Binary properties are at most 64 KiB and travel as base64
/// (4/3 of the bytes); the service counts an entity's 1 MiB by its bytes,
/// but Azurite counts the JSON request body, so 11 parts (about 940 KiB of
/// JSON) is the most that fits both; 14 would not fit Azurite.
pub const SNAPSHOT_CHUNK_MAX: usize = 11 * 64 * 1024;

/// Snapshots of a running reconcile: what a full read saw of both sides,
/// kept in opaque chunks of at most [`SNAPSHOT_CHUNK_MAX`] bytes per
/// (tenant, run) until the run ends, so that its continuation slices
/// resume without reading again (`docs/engine.md`, "Continuations resume
/// from a snapshot").
///
/// The defaults are a store that keeps no snapshots (a continuation then
/// reads both sides again, as before snapshots existed); both real
/// backends keep them.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// Stores chunk `index` of run `run`'s snapshot, replacing it.
    /// `Err(Invalid)` for a chunk larger than [`SNAPSHOT_CHUNK_MAX`].
    async fn put_snapshot_chunk(
        &self,
        tenant: Guid,
        run: uuid::Uuid,
        index: u32,
        data: &[u8],
    ) -> StoreResult<()> {
        let _ = (tenant, run, index, data);
        Err(StoreError::Other(
            "this store keeps no snapshots".to_string(),
        ))
    }
    /// Chunk `index` of run `run`'s snapshot; None when it is not kept.
    async fn get_snapshot_chunk(
        &self,
        tenant: Guid,
        run: uuid::Uuid,
        index: u32,
    ) -> StoreResult<Option<Vec<u8>>> {
        let _ = (tenant, run, index);
        Ok(None)
    }
    /// Removes every snapshot chunk of the tenant (all runs); returns how
    /// many were removed.
    async fn delete_snapshots(&self, tenant: Guid) -> StoreResult<u64> {
        let _ = tenant;
        Ok(0)
    }
}

/// Checks a chunk against [`SNAPSHOT_CHUNK_MAX`] (both backends).
pub(crate) fn check_snapshot_chunk(data: &[u8]) -> StoreResult<()> {
    if data.len() > SNAPSHOT_CHUNK_MAX {
        return Err(StoreError::Invalid(format!(
            "snapshot chunk of {} bytes is larger than the {SNAPSHOT_CHUNK_MAX} a store keeps",
            data.len()
        )));
    }
    Ok(())
}

/// Everything the engine, the functions and the report need.
pub trait Store:
    TenantRegistry + GuestStore + RunStore + AuditLog + LeaseStore + Retention + SnapshotStore
{
}
impl<
        T: TenantRegistry + GuestStore + RunStore + AuditLog + LeaseStore + Retention + SnapshotStore,
    > Store for T
{
}

/// Opens the store `GUESTSYNC_STORE` names: a SQLite file (schema migrated
/// on open), or Azure Table Storage through a connection string (Shared Key)
/// or a table endpoint URL (Entra credentials: managed identity when
/// `IDENTITY_ENDPOINT` is set, else the developer tools' sign-in). Tables
/// are created when missing.
pub async fn open(spec: &crate::settings::StoreSpec) -> Result<Arc<dyn Store>, StoreError> {
    use crate::settings::StoreSpec;
    match spec {
        StoreSpec::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open(path).await?)),
        StoreSpec::ConnectionString(cs) => {
            let client = table::TableClient::from_connection_string(cs)?;
            Ok(Arc::new(table::TableStore::open(client).await?))
        }
        StoreSpec::TableEndpoint(url) => {
            let tokens = table::auth::default_token_source()?;
            open_with_credential(url, tokens).await
        }
    }
}

/// Opens Azure Table Storage at a table endpoint URL with bearer tokens from
/// `tokens` (scope `https://storage.azure.com/.default`).
pub async fn open_with_credential(
    endpoint: &url::Url,
    tokens: Arc<dyn table::auth::TokenSource>,
) -> Result<Arc<dyn Store>, StoreError> {
    let client = table::TableClient::with_bearer(endpoint.clone(), tokens)?;
    Ok(Arc::new(table::TableStore::open(client).await?))
}
