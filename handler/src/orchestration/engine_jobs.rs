//! The sync engine behind [`super::TenantJobs`]: `tenant-worker` and
//! `provision` call [`crate::sync::run_job`] and
//! [`crate::sync::provision_user`] through this adapter, which maps the
//! engine's errors onto the host's retry policy.
use async_trait::async_trait;

use super::{JobError, JobSlice, TenantJobs};
use crate::domain::{Job, SourceTenant};
use crate::sync::{NoProgress, SyncContext, SyncError};

/// [`TenantJobs`] implemented by the sync engine.
pub struct EngineJobs {
    pub ctx: SyncContext,
}

fn job_error(e: SyncError) -> JobError {
    if e.is_transient() {
        JobError::Transient(e.to_string())
    } else {
        JobError::Permanent(e.to_string())
    }
}

#[async_trait]
impl TenantJobs for EngineJobs {
    async fn run(
        &self,
        tenant: &SourceTenant,
        job: Job,
        run_id: uuid::Uuid,
        cursor: Option<serde_json::Value>,
        deadline: tokio::time::Instant,
    ) -> Result<JobSlice, JobError> {
        let out = crate::sync::run_job(
            &self.ctx,
            tenant,
            job,
            run_id,
            cursor,
            deadline,
            &NoProgress,
        )
        .await
        .map_err(job_error)?;
        Ok(JobSlice {
            counts: out.counts,
            cursor: out.cursor,
            warning: out.guard.map(|g| {
                format!(
                    "deprovision guard tripped: {} removals wanted, limit {}; confirm with guest-sync tenant confirm-deprovision",
                    g.wanted, g.limit
                )
            }),
        })
    }

    async fn provision(
        &self,
        tenant: &SourceTenant,
        user: &str,
        preview: bool,
    ) -> Result<serde_json::Value, JobError> {
        match crate::sync::provision_user(&self.ctx, tenant, user, preview).await {
            Ok(p) => serde_json::to_value(&p)
                .map_err(|e| JobError::Permanent(format!("provision result encoding: {e}"))),
            Err(SyncError::UserNotFound(u)) => Err(JobError::Permanent(format!(
                "source user {u:?} was not found in source tenant {}",
                tenant.tenant_id
            ))),
            Err(e) => Err(job_error(e)),
        }
    }
}
