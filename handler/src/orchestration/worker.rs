//! `tenant-worker`: runs one slice of one tenant job per work item.
//!
//! Order of work: decode the item; load the tenant; take the tenant's lease
//! for this job (a duplicate delivery or a timer firing mid-run finds it
//! held and completes without running); record the run as running; run the
//! job until done or the time budget ends; record the outcome with the
//! counts of every slice so far; emit a continuation item when unfinished;
//! give the lease back.
//!
//! Error policy: a transient failure is recorded on the run and answered
//! non-2xx so the host redelivers the message (after `maxDequeueCount`
//! deliveries it is parked and `poison-watch` records it); a permanent one
//! is recorded and the message completes.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use super::{JobError, Orchestrator};
use crate::domain::{RunOutcome, RunRecord, SourceTenant, WorkItem};
use crate::events;
use crate::functions::{Function, FunctionOutput, Invocation, InvokeError, Trigger};

/// The `tenant-worker` function.
pub struct Worker {
    o: Arc<Orchestrator>,
}

impl Worker {
    pub fn new(o: Arc<Orchestrator>) -> Self {
        Worker { o }
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
        let item = msg.work_item()?;
        run_work_item(&self.o, item, msg.dequeue_count).await
    }
}

/// Emits the `run_summary` event of a finished (or failed) run.
pub fn log_run_summary(r: &RunRecord, duration_ms: u128) {
    let c = &r.counts;
    tracing::info!(
        event = events::RUN_SUMMARY,
        tenant_id = %r.source_tenant_id,
        job = %r.job,
        run_id = %r.run_id,
        outcome = r.outcome.as_str(),
        duration_ms = duration_ms as u64,
        dry_run = r.dry_run,
        created = c.created,
        adopted = c.adopted,
        updated = c.updated,
        deprovisioned = c.deprovisioned,
        restored = c.restored,
        disabled = c.disabled,
        enabled = c.enabled,
        photos_copied = c.photos_copied,
        photos_removed = c.photos_removed,
        redeemed = c.redeemed,
        unchanged = c.unchanged,
        failed = c.failed,
        throttled = c.throttled,
        held_back = c.held_back,
        "run finished"
    );
}

fn store_err(what: &str, e: impl std::fmt::Display) -> InvokeError {
    InvokeError::Transient(format!("{what}: {e}"))
}

/// Records a run that failed before it could start (unknown tenant, ...).
async fn record_failed_start(
    o: &Orchestrator,
    item: &WorkItem,
    error: String,
) -> Result<(), InvokeError> {
    let now = Utc::now();
    let r = RunRecord {
        run_id: item.run_id,
        job: item.job,
        source_tenant_id: item.source_tenant_id,
        started_at: now,
        finished_at: Some(now),
        outcome: RunOutcome::Failed,
        counts: Default::default(),
        error: Some(error),
        dry_run: false,
        parked: false,
    };
    o.store
        .put_run(&r)
        .await
        .map_err(|e| store_err("cannot record the run", e))?;
    log_run_summary(&r, 0);
    Ok(())
}

/// Runs one work item (the body of `tenant-worker`, also used by the CLI).
pub async fn run_work_item(
    o: &Orchestrator,
    item: WorkItem,
    dequeue_count: u32,
) -> Result<FunctionOutput, InvokeError> {
    tracing::debug!(run_id = %item.run_id, dequeue_count, "work item received");
    let tid = item.source_tenant_id;
    let tenant = match o.store.get_tenant(tid).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let msg = format!("source tenant {tid} is not registered (guest-sync tenant list)");
            record_failed_start(o, &item, msg.clone()).await?;
            return Err(InvokeError::Permanent(msg));
        }
        Err(e) => return Err(store_err("cannot read the tenant registry", e)),
    };
    if !tenant.enabled {
        return Ok(FunctionOutput {
            logs: vec![format!("tenant {tid} is disabled; {} skipped", item.job)],
            ..Default::default()
        });
    }
    let existing = o
        .store
        .get_run(tid, item.run_id)
        .await
        .map_err(|e| store_err("cannot read the run", e))?;
    if let Some(r) = &existing {
        // A finished run (new timer ticks get new run ids) means this is a
        // duplicate delivery of one of its items.
        if r.finished_at.is_some() && r.outcome != RunOutcome::Running {
            return Ok(FunctionOutput {
                logs: vec![format!(
                    "run {} of tenant {tid} already finished ({}); duplicate delivery ignored",
                    item.run_id,
                    r.outcome.as_str()
                )],
                ..Default::default()
            });
        }
    }
    let lease = match o
        .store
        .try_acquire(tid, item.job, &o.holder, o.lease_ttl())
        .await
    {
        Ok(Some(l)) => l,
        Ok(None) => {
            tracing::info!(tenant_id = %tid, job = %item.job, run_id = %item.run_id, "job already running elsewhere; work item completed without running");
            return Ok(FunctionOutput {
                logs: vec![format!(
                    "tenant {tid}: {} already running elsewhere; this work item was not run",
                    item.job
                )],
                ..Default::default()
            });
        }
        Err(e) => return Err(store_err("cannot take the tenant lease", e)),
    };
    let result = run_leased(o, &tenant, &item).await;
    if let Err(e) = o.store.release(&lease).await {
        // Not fatal: the lease expires by itself.
        tracing::warn!(tenant_id = %tid, job = %item.job, error = %e, "lease release failed; it will expire");
    }
    result
}

async fn run_leased(
    o: &Orchestrator,
    tenant: &SourceTenant,
    item: &WorkItem,
) -> Result<FunctionOutput, InvokeError> {
    // Stop launching writes a little before the budget ends, so in-flight
    // writes and the run record finish inside it.
    let margin = (o.job_budget / 16).min(std::time::Duration::from_secs(30));
    let deadline = tokio::time::Instant::now() + o.job_budget.saturating_sub(margin);
    // The engine keeps the run record (counts of every slice, outcome,
    // error) and emits the run summary; this function turns its answer into
    // the host's terms.
    match o
        .jobs
        .run(tenant, item.job, item.run_id, item.cursor.clone(), deadline)
        .await
    {
        Ok(slice) => {
            let mut out = FunctionOutput::default();
            if let Some(w) = slice.warning {
                out.logs.push(format!("tenant {}: {w}", tenant.tenant_id));
            }
            if let Some(cursor) = slice.cursor {
                let next = WorkItem {
                    job: item.job,
                    source_tenant_id: item.source_tenant_id,
                    run_id: item.run_id,
                    cursor: Some(cursor),
                    enqueued_at: Utc::now(),
                };
                out.queue_messages.push(
                    serde_json::to_value(&next)
                        .map_err(|e| InvokeError::Permanent(format!("work item encoding: {e}")))?,
                );
                out.logs.push(format!(
                    "tenant {}: {} continues in a new work item (time budget used)",
                    tenant.tenant_id, item.job
                ));
            }
            Ok(out)
        }
        Err(JobError::Transient(m)) => Err(InvokeError::Transient(m)),
        Err(JobError::Permanent(m)) => Err(InvokeError::Permanent(m)),
    }
}
