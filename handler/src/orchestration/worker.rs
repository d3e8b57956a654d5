//! `tenant-worker`: runs one slice of one tenant job per work item.
//!
//! Decodes the item and hands it to the job driver
//! ([`crate::engine::JobDriver::run_slice`]), which loads the tenant, skips
//! disabled tenants, duplicate deliveries and jobs running elsewhere, takes
//! and renews the lease, runs the job within the budget and records the
//! run. This function turns the answer into the host's terms: a
//! continuation work item when unfinished, log lines, and the error policy
//! of [`super::invoke_error`].
use std::sync::Arc;

use async_trait::async_trait;

use crate::app::App;
use crate::domain::WorkItem;
use crate::engine::{NoProgress, Slice};
use crate::protocol::{Function, FunctionOutput, Invocation, InvokeError, Trigger};

/// The `tenant-worker` function.
pub struct Worker {
    app: Arc<App>,
}

impl Worker {
    pub fn new(app: Arc<App>) -> Self {
        Worker { app }
    }
}

#[async_trait]
impl Function for Worker {
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        let Trigger::Queue(msg) = &inv.trigger else {
            return Err(InvokeError::BadInput(
                "tenant-worker is triggered by a queue message".into(),
            ));
        };
        let item = match msg.work_item() {
            Ok(i) => i,
            Err(e) => {
                return super::quarantine::quarantine(
                    &self.app,
                    crate::protocol::FunctionName::TenantWorker,
                    msg,
                    e,
                )
                .await;
            }
        };
        tracing::debug!(run_id = %item.run_id, dequeue_count = msg.dequeue_count, "work item received");
        run_work_item(&self.app, &item).await
    }
}

/// Runs one work item: the body of `tenant-worker`.
pub async fn run_work_item(app: &App, item: &WorkItem) -> Result<FunctionOutput, InvokeError> {
    let tid = item.source_tenant_id;
    match app.driver().run_slice(item, &NoProgress).await {
        Ok(Slice::Skipped(why)) => Ok(FunctionOutput {
            logs: vec![why],
            ..Default::default()
        }),
        Ok(Slice::Ran { outcome, next }) => {
            let mut out = FunctionOutput::default();
            if let Some(g) = outcome.guard {
                out.logs.push(format!(
                    "tenant {tid}: deprovision guard tripped: {} removals wanted, limit {}; confirm with guest-sync tenant confirm-deprovision",
                    g.wanted, g.limit
                ));
            }
            if let Some(problem) = &outcome.attention {
                out.logs
                    .push(format!("tenant {tid}: needs attention: {problem}"));
            }
            if let Some(w) = &outcome.warning {
                out.logs.push(format!("tenant {tid}: warning: {w}"));
            }
            if let Some(next) = next {
                out.queue_messages.push(
                    serde_json::to_value(&next)
                        .map_err(|e| InvokeError::Permanent(format!("work item encoding: {e}")))?,
                );
                out.logs.push(format!(
                    "tenant {tid}: {} continues in a new work item (time budget used)",
                    item.job
                ));
            }
            Ok(out)
        }
        Err(e) => Err(super::invoke_error(&e)),
    }
}
