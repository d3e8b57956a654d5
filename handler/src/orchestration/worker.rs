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
use std::time::Instant as StdInstant;

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
        if matches!(
            r.outcome,
            RunOutcome::Succeeded | RunOutcome::Partial
        ) || (r.outcome == RunOutcome::Failed && r.finished_at.is_some() && !r.parked && r.error.as_deref().is_some_and(|e| !e.starts_with("transient")))
        {
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
    let result = run_leased(o, &tenant, &item, existing, dequeue_count).await;
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
    existing: Option<RunRecord>,
    dequeue_count: u32,
) -> Result<FunctionOutput, InvokeError> {
    let started = StdInstant::now();
    let now = Utc::now();
    let mut run = existing.unwrap_or(RunRecord {
        run_id: item.run_id,
        job: item.job,
        source_tenant_id: tenant.tenant_id,
        started_at: now,
        finished_at: None,
        outcome: RunOutcome::Running,
        counts: Default::default(),
        error: None,
        dry_run: false,
        parked: false,
    });
    run.outcome = RunOutcome::Running;
    run.finished_at = None;
    run.error = None;
    o.store
        .put_run(&run)
        .await
        .map_err(|e| store_err("cannot record the run", e))?;
    let deadline = tokio::time::Instant::now() + o.job_budget;
    let res = o
        .jobs
        .run(tenant, item.job, item.run_id, item.cursor.clone(), deadline)
        .await;
    let elapsed = started.elapsed().as_millis();
    match res {
        Ok(slice) => {
            run.counts.add(&slice.counts);
            let mut out = FunctionOutput::default();
            if let Some(cursor) = slice.cursor {
                run.outcome = RunOutcome::Continued;
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
            } else {
                run.outcome = if run.counts.failed > 0 || slice.warning.is_some() {
                    RunOutcome::Partial
                } else {
                    RunOutcome::Succeeded
                };
                run.finished_at = Some(Utc::now());
                run.error = slice.warning;
            }
            o.store
                .put_run(&run)
                .await
                .map_err(|e| store_err("cannot record the run", e))?;
            if run.finished_at.is_some() {
                log_run_summary(&run, elapsed);
            }
            Ok(out)
        }
        Err(JobError::Transient(m)) => {
            run.outcome = RunOutcome::Failed;
            run.error = Some(format!(
                "transient: {m} (delivery {dequeue_count}; the host retries)"
            ));
            if let Err(e) = o.store.put_run(&run).await {
                tracing::warn!(run_id = %run.run_id, error = %e, "could not record the transient failure");
            }
            Err(InvokeError::Transient(m))
        }
        Err(JobError::Permanent(m)) => {
            run.outcome = RunOutcome::Failed;
            run.finished_at = Some(Utc::now());
            run.error = Some(m.clone());
            o.store
                .put_run(&run)
                .await
                .map_err(|e| store_err("cannot record the run", e))?;
            log_run_summary(&run, elapsed);
            Err(InvokeError::Permanent(m))
        }
    }
}
