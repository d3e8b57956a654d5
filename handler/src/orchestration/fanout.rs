//! The four timers: one work item per enabled source tenant. `delta-timer`
//! fans out the same `reconcile` items as `sync-timer`, more often (the
//! reconcile job decides whether it reads changes or whole tenants).
//!
//! A tenant whose job is already running (its lease is held and unexpired)
//! is skipped: the running job, or its continuation, covers it. The
//! redemption timer also runs the daily checks (secret expiry, retention).
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use crate::app::App;
use crate::domain::{Job, WorkItem};
use crate::protocol::{Function, FunctionOutput, Invocation, InvokeError};

/// A timer function fanning out one job.
pub struct Fanout {
    app: Arc<App>,
    job: Job,
}

impl Fanout {
    pub fn new(app: Arc<App>, job: Job) -> Self {
        Fanout { app, job }
    }
}

/// The work items for one timer tick, and what was skipped and why (for the
/// invocation's logs).
#[tracing::instrument(name = "fanout", skip_all, fields(job = %job))]
pub async fn plan_fanout(app: &App, job: Job) -> Result<(Vec<WorkItem>, Vec<String>), InvokeError> {
    let tenants = app
        .store
        .list_tenants()
        .await
        .map_err(|e| InvokeError::Transient(format!("cannot list tenants: {e}")))?;
    let now = Utc::now();
    let mut items = Vec::new();
    let mut logs = Vec::new();
    for t in tenants {
        if !t.enabled {
            continue;
        }
        match app.store.current_lease(t.tenant_id, job).await {
            Ok(Some(l)) => {
                logs.push(format!(
                    "tenant {}: {job} skipped, already running (lease held until {})",
                    t.tenant_id,
                    l.expires_at.to_rfc3339()
                ));
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                // Fanning out anyway is safe: the worker takes the lease.
                logs.push(format!(
                    "tenant {}: lease check failed ({e}); enqueued anyway",
                    t.tenant_id
                ));
            }
        }
        items.push(WorkItem {
            job,
            source_tenant_id: t.tenant_id,
            run_id: uuid::Uuid::new_v4(),
            cursor: None,
            enqueued_at: now,
        });
    }
    Ok((items, logs))
}

#[async_trait]
impl Function for Fanout {
    async fn invoke(&self, _inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        let mut logs = Vec::new();
        if self.job == Job::Redemption {
            logs.extend(super::daily::run(&self.app, Utc::now()).await);
        }
        let (items, skipped) = plan_fanout(&self.app, self.job).await?;
        logs.extend(skipped);
        logs.push(format!(
            "{} {} work item(s) enqueued",
            items.len(),
            self.job
        ));
        tracing::info!(job = %self.job, work_items = items.len(), "fan-out");
        let mut messages = Vec::with_capacity(items.len());
        for i in &items {
            messages.push(
                serde_json::to_value(i)
                    .map_err(|e| InvokeError::Permanent(format!("work item encoding: {e}")))?,
            );
        }
        Ok(FunctionOutput {
            queue_messages: messages,
            logs,
            ..Default::default()
        })
    }
}
