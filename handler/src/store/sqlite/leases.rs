//! Per-tenant, per-job leases on SQLite (`leases` table): a random token
//! per holder; renew and release match it.
use async_trait::async_trait;
use chrono::Utc;
use rusqlite::{params, OptionalExtension};

use super::{db_err, parse_ts, ts, write_tx, SqliteStore};
use crate::domain::{Guid, Job};
use crate::store::{validate, Lease, LeaseStore, StoreError, StoreResult};

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

    async fn live_lease_holders(&self) -> StoreResult<Vec<String>> {
        self.with_conn(move |c| {
            let mut st = c
                .prepare("SELECT holder, expires_at FROM leases")
                .map_err(db_err)?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(db_err)?;
            let now = Utc::now();
            let mut out = Vec::new();
            for row in rows {
                let (h, e) = row.map_err(db_err)?;
                if parse_ts(&e, "leases.expires_at")? > now {
                    out.push(h);
                }
            }
            Ok(out)
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
