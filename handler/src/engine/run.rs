//! Run bookkeeping: [`run_job`] dispatches one slice of a job, keeps the
//! [`RunRecord`] of `(tenant, run_id)` up to date across continuations,
//! emits the `run_summary` event when a run ends, and builds the writer and
//! executor every job applies its plan with.
use std::sync::Arc;

use tracing::Instrument;

use crate::domain::{GuestRecord, Guid, Job, RunOutcome, RunRecord, SourceTenant};
use crate::events;
use crate::graph::TenantGraph;

use super::cursor::JobCursor;
use super::execute::{DryRunWriter, Executor, GraphWriter, HostWriter};
use super::{JobOutcome, Progress, SyncContext, SyncError};

/// Runs one slice of one job for one tenant: see the module docs of
/// [`crate::engine`] for the contract (cursor, deadline, run record,
/// errors). `cursor` is the one the previous slice returned (None: a fresh
/// run; a cursor of another job counts as none).
pub async fn run_job(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    job: Job,
    run_id: uuid::Uuid,
    cursor: Option<JobCursor>,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let span = tracing::info_span!("tenant_job", tenant_id = %tenant.tenant_id, job = %job, run_id = %run_id);
    let cursor = cursor.filter(|c| c.job() == job);
    run_job_in_span(ctx, tenant, job, run_id, cursor, deadline, progress)
        .instrument(span)
        .await
}

async fn run_job_in_span(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    job: Job,
    run_id: uuid::Uuid,
    cursor: Option<JobCursor>,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let mut run = match ctx
        .store
        .get_run(tenant.tenant_id, run_id)
        .await
        .map_err(SyncError::Store)?
    {
        Some(r) => r,
        None => RunRecord {
            dry_run: ctx.dry_run,
            ..RunRecord::started(run_id, job, tenant.tenant_id, ctx.clock.now())
        },
    };
    run.outcome = RunOutcome::Running;
    ctx.store.put_run(&run).await.map_err(SyncError::Store)?;
    let throttled_before = ctx.graph.stats().throttled;
    let res = match job {
        Job::Reconcile => {
            let pass = JobCursor::reconcile_pass(cursor);
            let resume = JobCursor::reconcile_resume(cursor);
            super::reconcile::reconcile(ctx, tenant, run_id, (pass, resume), deadline, progress)
                .await
        }
        Job::Photos => {
            let after = JobCursor::photos_after(cursor);
            super::photos::photos(ctx, tenant, run_id, after, deadline, progress).await
        }
        Job::Redemption => {
            super::redemption::redemption(ctx, tenant, run_id, deadline, progress).await
        }
    };
    let throttled = ctx.graph.stats().throttled.saturating_sub(throttled_before);
    let now = ctx.clock.now();
    match res {
        Ok(mut out) => {
            out.counts.throttled += throttled;
            run.counts.add(&out.counts);
            run.outcome = out.outcome;
            // A finished run keeps what needs an administrator as its error.
            run.error = out.attention.clone().or_else(|| out.warning.clone());
            if out.cursor.is_none() {
                run.finish(out.outcome, now);
            }
            ctx.store.put_run(&run).await.map_err(SyncError::Store)?;
            if out.cursor.is_none() {
                log_run_summary(&run);
            }
            Ok(out)
        }
        Err(e) => {
            run.counts.throttled += throttled;
            run.error = Some(e.describe());
            if !e.is_transient() {
                run.finish(RunOutcome::Failed, now);
                log_run_summary(&run);
            }
            if let Err(se) = ctx.store.put_run(&run).await {
                tracing::warn!(error = %se, "could not record the failed run");
            }
            Err(e)
        }
    }
}

/// The `run_summary` event: one per finished run, object ids and counts only.
pub fn log_run_summary(run: &RunRecord) {
    let c = &run.counts;
    let duration_ms = run
        .finished_at
        .map(|f| (f - run.started_at).num_milliseconds().max(0))
        .unwrap_or(0);
    tracing::info!(
        event = events::RUN_SUMMARY,
        tenant_id = %run.source_tenant_id,
        job = %run.job,
        run_id = %run.run_id,
        outcome = run.outcome.as_str(),
        duration_ms,
        dry_run = run.dry_run,
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
        sponsor_writes = c.sponsor_writes,
        manager_writes = c.manager_writes,
        "run finished"
    );
}

pub(super) fn writer(ctx: &SyncContext, host: &TenantGraph) -> Arc<dyn HostWriter> {
    if ctx.dry_run {
        Arc::new(DryRunWriter)
    } else {
        Arc::new(GraphWriter(host.clone()))
    }
}

pub(super) fn executor(
    ctx: &SyncContext,
    tenant: Guid,
    run_id: uuid::Uuid,
    writer: Arc<dyn HostWriter>,
    records: Arc<Vec<GuestRecord>>,
) -> Executor {
    Executor {
        tenant,
        run_id,
        writer,
        store: ctx.store.clone(),
        clock: ctx.clock.clone(),
        redirect_url: ctx.settings.invite_redirect_url.clone(),
        host_group: ctx.settings.host_group_id,
        before: super::execute::Before::new(records),
        concurrency: ctx.concurrency,
        anchor: ctx.settings.anchor_attribute.clone(),
        anchor_problem: std::sync::Mutex::new(None),
        launched: Default::default(),
    }
}
