//! The store: guest-sync's memory and the administrator's record.
//!
//! The interface is split by capability ([`TenantRegistry`], [`GuestStore`],
//! [`RunStore`], [`AuditLog`], [`LeaseStore`], [`Retention`]); [`Store`] is
//! all of them. Backends: SQLite (embedded default) and Azure Table Storage;
//! both pass one conformance suite. No backend detail leaks through these
//! traits: errors are [`StoreError`].
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{AuditEntry, GuestRecord, Guid, Job, RunRecord, SourceTenant};

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

/// Everything the engine, the functions and the report need.
pub trait Store:
    TenantRegistry + GuestStore + RunStore + AuditLog + LeaseStore + Retention
{
}
impl<T: TenantRegistry + GuestStore + RunStore + AuditLog + LeaseStore + Retention> Store for T {}
pub mod bench;
