//! Per-tenant, per-job leases on Table Storage (`GuestSyncLeases`): the
//! entity's ETag is the lease token; writes are conditional on it.
use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

use super::entities::{lease_entity, lease_expiry, lease_pk};
use super::{TableStore, LEASES, LEASE_RK};
use crate::domain::{Guid, Job};
use crate::store::{validate, Lease, LeaseStore, StoreError, StoreResult};

/// The expiry as the entity keeps it (`ExpiresAt` has microseconds): the
/// holder is told exactly what the other acquirers compare against, never a
/// later instant (which would let it believe it still holds a lease the
/// store already considers expired).
fn stored_expiry(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
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
        let expires_at = stored_expiry(now + ttl);
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
        let expires_at = stored_expiry(Utc::now() + ttl);
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

    async fn live_lease_holders(&self) -> StoreResult<Vec<String>> {
        let now = Utc::now();
        let all = self
            .client
            .query_all(LEASES, &super::client::Query::default())
            .await?;
        let mut out = Vec::new();
        for e in all {
            if lease_expiry(&e)? > now {
                if let Some(h) = e.get("Holder").and_then(Value::as_str) {
                    out.push(h.to_string());
                }
            }
        }
        Ok(out)
    }
}
