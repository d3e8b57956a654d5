//! `poison-watch`: a work item that failed `maxDequeueCount` deliveries is
//! moved by the host to `guestsync-work-poison`; this function records it
//! as a failed, parked run so that it shows in the report and raises the
//! poison-queue alert (`work_item_parked` event).
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use crate::app::App;
use crate::domain::RunRecord;
use crate::events;
use crate::protocol::{Function, FunctionOutput, Invocation, InvokeError, Trigger};

/// The `poison-watch` function.
pub struct PoisonWatch {
    app: Arc<App>,
}

impl PoisonWatch {
    pub fn new(app: Arc<App>) -> Self {
        PoisonWatch { app }
    }
}

#[async_trait]
impl Function for PoisonWatch {
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        let Trigger::Queue(msg) = &inv.trigger else {
            return Err(InvokeError::BadInput(
                "poison-watch is triggered by a queue message".into(),
            ));
        };
        let item = match msg.work_item() {
            Ok(i) => i,
            Err(e) => {
                // Not a work item at all: nothing to attribute it to, but it
                // must not vanish: quarantined with the reason.
                return crate::orchestration::quarantine::quarantine(
                    &self.app,
                    crate::protocol::FunctionName::PoisonWatch,
                    msg,
                    e,
                )
                .await;
            }
        };
        let now = Utc::now();
        let existing = self
            .app
            .store
            .get_run(item.source_tenant_id, item.run_id)
            .await
            .map_err(|e| InvokeError::Transient(format!("cannot read the run: {e}")))?;
        // A run that finished well meanwhile (a duplicate delivery of one
        // of its items got parked) is not turned into a failure.
        if let Some(done) = existing
            .as_ref()
            .filter(|r| r.is_finished() && r.outcome != crate::domain::RunOutcome::Failed)
        {
            let note = format!(
                "run {} ({} for tenant {}) already finished {}; its parked copy is a stale duplicate and is not recorded as a failure",
                item.run_id,
                item.job,
                item.source_tenant_id,
                done.outcome.as_str()
            );
            tracing::warn!(tenant_id = %item.source_tenant_id, run_id = %item.run_id, "{note}");
            return Ok(FunctionOutput {
                logs: vec![note],
                ..Default::default()
            });
        }
        let last_error = existing
            .as_ref()
            .and_then(|r| r.error.clone())
            .unwrap_or_else(|| "no error was recorded".into());
        let run = RunRecord::parked(
            existing,
            &item,
            now,
            format!(
                "work item parked in the poison queue after failing {} deliveries; last error: {last_error}",
                msg.dequeue_count.max(1)
            ),
        );
        self.app
            .store
            .put_run(&run)
            .await
            .map_err(|e| InvokeError::Transient(format!("cannot record the parked run: {e}")))?;
        tracing::error!(
            event = events::WORK_ITEM_PARKED,
            tenant_id = %item.source_tenant_id,
            job = %item.job,
            run_id = %item.run_id,
            dequeue_count = msg.dequeue_count,
            "work item parked"
        );
        Ok(FunctionOutput {
            logs: vec![format!(
                "run {} ({} for tenant {}) recorded as parked",
                item.run_id, item.job, item.source_tenant_id
            )],
            ..Default::default()
        })
    }
}
