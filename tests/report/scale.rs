//! 100,000 guests: [`Statistics::load`] counts them from pages the store
//! hands out one at a time (a generated store that never holds the records),
//! so the report's memory does not grow with the number of guests.
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use guest_sync::domain::{AuditEntry, GuestRecord, GuestState, Guid, Job, RunRecord, SourceTenant};
use guest_sync::report::Statistics;
use guest_sync::store::{
    AuditLog, GuestStore, Lease, LeaseStore, Page, Pruned, Retention, RunStore, StoreError,
    StoreResult, TenantRegistry,
};

use super::fixtures::*;

/// Guests per tenant in the generated store.
const PER_TENANT: u32 = 50_000;

/// A read-only store whose guests are generated page by page.
struct Generated {
    tenants: Vec<SourceTenant>,
    /// Largest page handed out, and pages served.
    largest_page: AtomicUsize,
    pages: AtomicUsize,
}

fn read_only() -> StoreError {
    StoreError::Other("the generated store is read-only".into())
}

#[async_trait]
impl TenantRegistry for Generated {
    async fn put_tenant(&self, _: &SourceTenant) -> StoreResult<()> {
        Err(read_only())
    }
    async fn get_tenant(&self, id: Guid) -> StoreResult<Option<SourceTenant>> {
        Ok(self.tenants.iter().find(|t| t.tenant_id == id).cloned())
    }
    async fn list_tenants(&self) -> StoreResult<Vec<SourceTenant>> {
        Ok(self.tenants.clone())
    }
    async fn delete_tenant(&self, _: Guid) -> StoreResult<()> {
        Err(read_only())
    }
}

#[async_trait]
impl GuestStore for Generated {
    async fn get_guest(&self, _: Guid, _: Guid) -> StoreResult<Option<GuestRecord>> {
        Ok(None)
    }
    async fn put_guest(&self, _: &GuestRecord) -> StoreResult<()> {
        Err(read_only())
    }
    async fn put_guests(&self, _: &[GuestRecord]) -> StoreResult<()> {
        Err(read_only())
    }
    async fn list_guests_page(
        &self,
        tenant: Guid,
        continuation: Option<String>,
        limit: usize,
    ) -> StoreResult<Page<GuestRecord>> {
        let t = self
            .tenants
            .iter()
            .find(|t| t.tenant_id == tenant)
            .ok_or_else(|| StoreError::NotFound(tenant.to_string()))?;
        let from: u32 = continuation.map_or(0, |c| c.parse().unwrap());
        let to = (from + limit as u32).min(PER_TENANT);
        let items: Vec<GuestRecord> = (from..to)
            .map(|n| guest(t, n, GuestState::ALL[n as usize % 5]))
            .collect();
        self.largest_page.fetch_max(items.len(), Ordering::SeqCst);
        self.pages.fetch_add(1, Ordering::SeqCst);
        Ok(Page {
            items,
            continuation: (to < PER_TENANT).then(|| to.to_string()),
        })
    }
    async fn delete_guest(&self, _: Guid, _: Guid) -> StoreResult<()> {
        Err(read_only())
    }
}

#[async_trait]
impl RunStore for Generated {
    async fn put_run(&self, _: &RunRecord) -> StoreResult<()> {
        Err(read_only())
    }
    async fn get_run(&self, _: Guid, _: uuid::Uuid) -> StoreResult<Option<RunRecord>> {
        Ok(None)
    }
    async fn list_runs(&self, _: Option<Guid>, _: usize) -> StoreResult<Vec<RunRecord>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl AuditLog for Generated {
    async fn append_audit(&self, _: &[AuditEntry]) -> StoreResult<()> {
        Err(read_only())
    }
    async fn list_audit(&self, _: Option<Guid>, _: usize) -> StoreResult<Vec<AuditEntry>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl LeaseStore for Generated {
    async fn try_acquire(
        &self,
        _: Guid,
        _: Job,
        _: &str,
        _: chrono::Duration,
    ) -> StoreResult<Option<Lease>> {
        Err(read_only())
    }
    async fn renew(&self, _: &Lease, _: chrono::Duration) -> StoreResult<Lease> {
        Err(read_only())
    }
    async fn release(&self, _: &Lease) -> StoreResult<()> {
        Err(read_only())
    }
    async fn current_lease(&self, _: Guid, _: Job) -> StoreResult<Option<Lease>> {
        Ok(None)
    }
    async fn live_lease_holders(&self) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }
}

// Keeps no snapshots (the trait's defaults).
#[async_trait]
impl guest_sync::store::SnapshotStore for Generated {}

#[async_trait]
impl Retention for Generated {
    async fn prune(&self, _: DateTime<Utc>) -> StoreResult<Pruned> {
        Err(read_only())
    }
}

/// Two tenants of 50,000 guests each are counted exactly, and the store was
/// read in pages of at most 1,000 records (never all at once).
#[tokio::test]
async fn a_hundred_thousand_guests_are_counted_from_pages() {
    let store = Generated {
        tenants: vec![
            tenant(1, "Big One", Some(100)),
            tenant(2, "Big Two", Some(100)),
        ],
        largest_page: AtomicUsize::new(0),
        pages: AtomicUsize::new(0),
    };
    let s = Statistics::load(&store, now()).await.unwrap();
    let per_state = u64::from(PER_TENANT / 5) * 2;
    let g = &s.totals.guests;
    assert_eq!(
        (g.invited, g.accepted, g.disabled, g.deprovisioned, g.failed),
        (per_state, per_state, per_state, per_state, per_state)
    );
    assert_eq!(g.managed, per_state * 4);
    assert!(store.largest_page.load(Ordering::SeqCst) <= 1000);
    assert_eq!(store.pages.load(Ordering::SeqCst), 100);
    let failed = s.attention.iter().filter_map(|a| a.count).sum::<u64>();
    assert_eq!(failed, per_state);
}
