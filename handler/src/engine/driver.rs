//! The one job driver: runs a tenant job under the tenant's job lease,
//! within the time budget, following continuations.
//!
//! Three callers, one code path:
//! - `tenant-worker` runs one slice per work item ([`JobDriver::run_slice`])
//!   and enqueues the continuation item it returns;
//! - `guest-sync sync` and the demo run a job to the end
//!   ([`JobDriver::run_to_end`]), holding the lease across slices.
//!
//! Rules, in one place:
//! - The lease is short ([`LEASE_TTL`], 90 s) and renewed every third of
//!   that while the slice runs: a dead holder (a killed CLI, a recycled
//!   instance) frees the tenant within 90 s, whatever the budget. A slice
//!   whose lease is lost (not renewed before it expired) stops at once
//!   and fails transiently: someone else may hold the tenant now. Release
//!   uses the latest renewed lease.
//! - The lease is held in the name of the run: a redelivery of the same
//!   run's work item whose holder stopped renewing (its invocation died
//!   with the instance) takes the run's own lease over instead of waiting
//!   it out; a duplicate delivered while the holder lives is skipped.
//! - A lease this process held for a run and no longer runs (its slice
//!   ended but the release failed: the store was unreachable) is taken
//!   over at once by a redelivery of that run to this process; skipping
//!   it as "running elsewhere" would complete the work item and leave the
//!   run unfinished for good. Deliveries of one run in one process claim
//!   the run first (`LiveMark`), so the duplicate of a delivery still
//!   acquiring or running here is skipped, never mistaken for a leftover.
//! - One write budget for every process: the host tenant's Graph budget
//!   is shared by all jobs running anywhere (scaled-out instances, a CLI
//!   run). On taking and on each renewal of a lease, the driver counts the
//!   live leases in the store and sets this process's share of the budget
//!   to its jobs over all jobs ([`BudgetShare`]), so N processes together
//!   pace to one budget instead of N.
//! - A slice stops launching writes [`JobDriver::margin`] before the budget
//!   ends (1/16 of it, at most 30 s), so writes in flight and the run
//!   record finish inside it.
//! - A work item of an unknown tenant is recorded as a failed run (it shows
//!   in the report) and fails permanently; a disabled tenant, a finished
//!   run (a duplicate delivery) or a held lease skip the item.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tracing::Instrument;

use crate::domain::{Guid, Job, RunCounts, RunRecord, SourceTenant, WorkItem};
use crate::store::{Lease, Store, StoreError};

use super::{run_job, JobCursor, JobOutcome, Progress, SyncContext, SyncError};

/// How long a lease lives without renewal (renewed every third of it).
pub const LEASE_TTL: Duration = Duration::from_secs(90);

/// What one slice of a work item came to.
#[derive(Debug)]
pub enum Slice {
    /// Not run, and why (for the invocation's logs).
    Skipped(String),
    /// Ran; `next` is the continuation work item when the job is unfinished.
    Ran {
        outcome: Box<JobOutcome>,
        next: Option<WorkItem>,
    },
}

/// A job run to its end by [`JobDriver::run_to_end`].
#[derive(Debug)]
pub enum Driven {
    /// Not run (the job's lease is held elsewhere), and why.
    Skipped(String),
    Finished(Box<RunEnd>),
}

/// How a run ended.
#[derive(Debug)]
pub struct RunEnd {
    pub run_id: uuid::Uuid,
    /// The counts of every slice added up (the run record holds the same).
    pub counts: RunCounts,
    /// The last slice's outcome (its outcome and guard are the run's).
    pub last: JobOutcome,
    /// Slices it took (1 unless the budget ran out).
    pub slices: usize,
}

/// Runs tenant jobs: see the module docs.
#[derive(Clone)]
pub struct JobDriver {
    engine: SyncContext,
    holder: String,
    budget: Duration,
}

impl JobDriver {
    /// A driver for `engine`; `holder` names this process in leases;
    /// `budget` is one slice's time (`GUESTSYNC_JOB_BUDGET_SECS`).
    pub fn new(engine: SyncContext, holder: String, budget: Duration) -> Self {
        JobDriver {
            engine,
            holder,
            budget,
        }
    }

    pub fn engine(&self) -> &SyncContext {
        &self.engine
    }

    fn store(&self) -> &dyn Store {
        self.engine.store.as_ref()
    }

    /// How long a lease lives without renewal.
    pub fn lease_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(LEASE_TTL).unwrap_or_else(|_| chrono::Duration::seconds(90))
    }

    /// The lease holder of one run: this process and the run, so that a
    /// redelivery of the run can take its own lease over.
    fn holder_of(&self, run_id: uuid::Uuid) -> String {
        format!("{} run {run_id}", self.holder)
    }

    /// How long before the budget ends a slice stops launching writes.
    pub fn margin(&self) -> Duration {
        (self.budget / 16).min(Duration::from_secs(30))
    }

    /// Runs one slice of `item` (the body of `tenant-worker`).
    pub async fn run_slice(
        &self,
        item: &WorkItem,
        progress: &dyn Progress,
    ) -> Result<Slice, SyncError> {
        let span = tracing::info_span!("work_item", tenant_id = %item.source_tenant_id, job = %item.job, run_id = %item.run_id);
        self.run_slice_in_span(item, progress)
            .instrument(span)
            .await
    }

    async fn run_slice_in_span(
        &self,
        item: &WorkItem,
        progress: &dyn Progress,
    ) -> Result<Slice, SyncError> {
        let tid = item.source_tenant_id;
        let tenant = self.registered(item).await?;
        if !tenant.enabled {
            return Ok(Slice::Skipped(format!(
                "tenant {tid} is disabled; {} skipped",
                item.job
            )));
        }
        if let Some(skip) = self.finished_already(item).await? {
            return Ok(skip);
        }
        let Some(lease) = self.acquire(tid, item.job, item.run_id).await? else {
            tracing::info!("job already running elsewhere; work item completed without running");
            return Ok(Slice::Skipped(format!(
                "tenant {tid}: {} already running elsewhere; this work item was not run",
                item.job
            )));
        };
        // Again under the lease: a duplicate that read the record before
        // the holder finished and released would otherwise run the whole
        // run a second time (the holder writes the finished record before
        // it releases, so this read is decisive).
        match self.finished_already(item).await {
            Ok(None) => {}
            Ok(Some(skip)) => {
                lease.release().await;
                return Ok(skip);
            }
            Err(e) => {
                lease.release().await;
                return Err(e);
            }
        }
        let res = lease.guard(self.slice(&tenant, item, progress)).await;
        lease.release().await;
        let (outcome, next) = res?;
        Ok(Slice::Ran {
            outcome: Box::new(outcome),
            next,
        })
    }

    /// Runs `job` for `tenant` to the end in this process (`guest-sync
    /// sync`, the demo): the same slices as the worker, the lease held
    /// across them. The caller chose the tenant, so `enabled` is not
    /// looked at.
    pub async fn run_to_end(
        &self,
        tenant: &SourceTenant,
        job: Job,
        progress: &dyn Progress,
    ) -> Result<Driven, SyncError> {
        let tid = tenant.tenant_id;
        let item = WorkItem {
            job,
            source_tenant_id: tid,
            run_id: uuid::Uuid::new_v4(),
            cursor: None,
            enqueued_at: Utc::now(),
        };
        let span =
            tracing::info_span!("job_to_end", tenant_id = %tid, job = %job, run_id = %item.run_id);
        self.to_end_in_span(tenant, item, progress)
            .instrument(span)
            .await
    }

    async fn to_end_in_span(
        &self,
        tenant: &SourceTenant,
        mut item: WorkItem,
        progress: &dyn Progress,
    ) -> Result<Driven, SyncError> {
        let (tid, job) = (item.source_tenant_id, item.job);
        let Some(lease) = self.acquire(tid, job, item.run_id).await? else {
            return Ok(Driven::Skipped(format!("a {job} job is already running")));
        };
        let mut counts = RunCounts::default();
        let mut slices = 0;
        let res = loop {
            slices += 1;
            // Re-read between slices: an administrator may have confirmed
            // the guard or changed options meanwhile.
            let fresh = match self.store().get_tenant(tid).await {
                Ok(t) => t.unwrap_or_else(|| tenant.clone()),
                Err(e) => break Err(SyncError::store("reading the tenant registry", e)),
            };
            match lease.guard(self.slice(&fresh, &item, progress)).await {
                Ok((out, next)) => {
                    counts.add(&out.counts);
                    match next {
                        Some(n) => item = n,
                        None => break Ok(out),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        lease.release().await;
        Ok(Driven::Finished(Box::new(RunEnd {
            run_id: item.run_id,
            counts,
            last: res?,
            slices,
        })))
    }

    /// A skip when `item`'s run has already finished (new timer ticks get
    /// new run ids: this is a duplicate delivery).
    async fn finished_already(&self, item: &WorkItem) -> Result<Option<Slice>, SyncError> {
        let tid = item.source_tenant_id;
        let existing = self
            .store()
            .get_run(tid, item.run_id)
            .await
            .map_err(|e| SyncError::store("reading the run", e))?;
        Ok(existing.filter(RunRecord::is_finished).map(|r| {
            Slice::Skipped(format!(
                "run {} of tenant {tid} already finished ({}); duplicate delivery ignored",
                item.run_id,
                r.outcome.as_str()
            ))
        }))
    }

    /// The tenant of `item`; an unknown one is recorded as a failed run.
    async fn registered(&self, item: &WorkItem) -> Result<SourceTenant, SyncError> {
        let tid = item.source_tenant_id;
        match self.store().get_tenant(tid).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => {
                let e = SyncError::UnknownTenant(tid);
                let r = RunRecord::failed_to_start(item, Utc::now(), e.to_string());
                self.store()
                    .put_run(&r)
                    .await
                    .map_err(|e| SyncError::store("recording the run", e))?;
                super::log_run_summary(&r);
                Err(e)
            }
            Err(e) => Err(SyncError::store("reading the tenant registry", e)),
        }
    }

    /// Takes the tenant's job lease for `run_id`: free or expired, or
    /// still held by the same run (a redelivery after its invocation died:
    /// the run takes its own lease over rather than waiting it out).
    async fn acquire(
        &self,
        tenant: Guid,
        job: Job,
        run_id: uuid::Uuid,
    ) -> Result<Option<HeldLease>, SyncError> {
        let ttl = self.lease_ttl();
        let holder = self.holder_of(run_id);
        // One delivery of a run at a time in this process: another one
        // acquiring or running it here makes this one a duplicate.
        let Some(claim) = LiveMark::claim(&holder) else {
            return Ok(None);
        };
        let err = |e| SyncError::store("taking the tenant lease", e);
        let mut lease = self
            .store()
            .try_acquire(tenant, job, &holder, ttl)
            .await
            .map_err(err)?;
        if lease.is_none() {
            let run_suffix = format!(" run {run_id}");
            // Only a holder that stopped renewing: a live one renews every
            // third of the TTL, so its lease never has less than two
            // thirds left; a concurrent duplicate delivery of the same run
            // is still skipped.
            let stale = ttl - ttl / 3 - chrono::Duration::seconds(5);
            // Or this process's own, for a slice that ended here (its
            // release failed): this delivery holds the claim on the run
            // in this process, so nobody here runs it.
            let left_here = |l: &Lease| l.holder == holder;
            if let Some(own) = self
                .store()
                .current_lease(tenant, job)
                .await
                .map_err(err)?
                .filter(|l| {
                    l.holder.ends_with(&run_suffix)
                        && (l.expires_at - Utc::now() < stale || left_here(l))
                })
            {
                match self.store().renew(&own, ttl).await {
                    Ok(l) => {
                        tracing::info!(previous_holder = %own.holder, "took over the lease of this run from a holder that stopped");
                        lease = Some(l);
                    }
                    // Changed meanwhile: somebody holds it.
                    Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(err(e)),
                }
            }
        }
        let scale = self.engine.graph.config().time_scale;
        let share = BudgetShare {
            // Every 5 s of Graph time: a job starting elsewhere takes its
            // part of the budget within seconds, not at the next renewal.
            every: Duration::from_secs(5)
                .div_f64(if scale.is_finite() && scale > 0.0 {
                    scale
                } else {
                    1.0
                })
                .max(Duration::from_millis(50)),
            store: self.engine.store.clone(),
            budget: self
                .engine
                .graph
                .budget(self.engine.settings.host_tenant_id),
            mine: format!("{} run ", self.holder),
        };
        match lease {
            Some(l) => {
                share.update().await;
                Ok(Some(HeldLease::hold(
                    self.engine.store.clone(),
                    l,
                    ttl,
                    Some(share),
                    claim,
                )))
            }
            None => Ok(None),
        }
    }

    /// One slice under a held lease: the engine within the budget, and the
    /// continuation item if unfinished.
    async fn slice(
        &self,
        tenant: &SourceTenant,
        item: &WorkItem,
        progress: &dyn Progress,
    ) -> Result<(JobOutcome, Option<WorkItem>), SyncError> {
        let deadline = tokio::time::Instant::now() + self.budget.saturating_sub(self.margin());
        let cursor = JobCursor::parse(item.job, item.cursor.as_ref());
        let out = run_job(
            &self.engine,
            tenant,
            item.job,
            item.run_id,
            cursor,
            deadline,
            progress,
        )
        .await?;
        let next = out.cursor.map(|c| WorkItem {
            job: item.job,
            source_tenant_id: item.source_tenant_id,
            run_id: item.run_id,
            cursor: Some(c.to_value()),
            enqueued_at: Utc::now(),
        });
        Ok((out, next))
    }
}

/// This process's share of the host tenant's Graph budget, from the live
/// leases: its jobs over all jobs running anywhere.
#[derive(Clone)]
struct BudgetShare {
    /// How often the share is recounted while the lease is held.
    every: Duration,
    store: Arc<dyn Store>,
    budget: Arc<crate::graph::TenantBudget>,
    /// The holder prefix of this process's leases.
    mine: String,
}

impl BudgetShare {
    async fn update(&self) {
        match self.store.live_lease_holders().await {
            Ok(holders) => {
                let total = holders.len().max(1);
                let mine = holders
                    .iter()
                    .filter(|h| h.starts_with(&self.mine))
                    .count()
                    .max(1);
                let share = mine as f64 / total.max(mine) as f64;
                if (share - self.budget.share()).abs() > 1e-9 {
                    tracing::info!(
                        jobs_here = mine,
                        jobs_everywhere = total,
                        share,
                        "host write budget share changed"
                    );
                }
                self.budget.set_share(share);
            }
            // Keep the last share; the next renewal tries again (429s and
            // Retry-After still protect Graph meanwhile).
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the live leases; keeping the budget share")
            }
        }
    }
}

/// The lease holders (runs) a delivery in this process is acquiring or
/// running right now: claimed before the lease is taken, given back when
/// it is released.
static LIVE_HOLDERS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A claim on a holder name in this process until dropped.
struct LiveMark(String);

impl LiveMark {
    /// The claim, or `None` when another delivery here holds it.
    fn claim(holder: &str) -> Option<Self> {
        let mut live = LIVE_HOLDERS.lock().unwrap_or_else(|p| p.into_inner());
        if live.iter().any(|h| h == holder) {
            return None;
        }
        live.push(holder.to_string());
        Some(LiveMark(holder.to_string()))
    }
}

impl Drop for LiveMark {
    fn drop(&mut self) {
        let mut live = LIVE_HOLDERS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = live.iter().position(|h| *h == self.0) {
            live.swap_remove(i);
        }
    }
}

/// A lease renewed in the background while held.
struct HeldLease {
    /// This process runs the lease's slice while this lives.
    _live: LiveMark,
    store: Arc<dyn Store>,
    current: Arc<Mutex<Lease>>,
    renewer: tokio::task::JoinHandle<()>,
    /// Recounts the budget share while held.
    sharer: Option<tokio::task::JoinHandle<()>>,
    /// Becomes true when the lease is lost (taken, or expired unrenewed).
    lost: tokio::sync::watch::Receiver<bool>,
}

impl HeldLease {
    fn hold(
        store: Arc<dyn Store>,
        lease: Lease,
        ttl: chrono::Duration,
        share: Option<BudgetShare>,
        live: LiveMark,
    ) -> Self {
        let current = Arc::new(Mutex::new(lease));
        let every = ttl.to_std().unwrap_or(Duration::from_secs(90)) / 3;
        let (lost_tx, lost) = tokio::sync::watch::channel(false);
        // The share is recounted on its own, shorter tick.
        let sharer = share.clone().map(|s| {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(s.every).await;
                    s.update().await;
                }
            })
        });
        let renewer = tokio::spawn({
            let store = store.clone();
            let current = current.clone();
            async move {
                let mut wait = every;
                loop {
                    tokio::time::sleep(wait).await;
                    let held = match current.lock() {
                        Ok(l) => l.clone(),
                        Err(_) => return,
                    };
                    match store.renew(&held, ttl).await {
                        Ok(l) => {
                            wait = every;
                            if let Ok(mut c) = current.lock() {
                                *c = l;
                            }
                        }
                        Err(StoreError::Conflict(_)) => {
                            tracing::warn!(tenant_id = %held.tenant, job = %held.job, "lease lost (expired and taken by another holder); stopping the slice");
                            let _ = lost_tx.send(true);
                            return;
                        }
                        Err(e) if Utc::now() >= held.expires_at => {
                            tracing::warn!(tenant_id = %held.tenant, job = %held.job, error = %e, "lease expired unrenewed (the store is unreachable); stopping the slice");
                            let _ = lost_tx.send(true);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(tenant_id = %held.tenant, job = %held.job, error = %e, "lease renewal failed; retrying");
                            wait = Duration::from_secs(2).min(every);
                        }
                    }
                }
            }
        });
        HeldLease {
            _live: live,
            store,
            current,
            renewer,
            sharer,
            lost,
        }
    }

    /// Runs `work` while the lease is held; a lost lease ends it at once
    /// with a transient error (the work is crash-safe at any await point,
    /// and someone else may be running the tenant now).
    async fn guard<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        let mut lost = self.lost.clone();
        tokio::select! {
            r = work => r,
            _ = async {
                // A renewer that ended without losing the lease is no loss.
                if lost.wait_for(|l| *l).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => Err(SyncError::store(
                "holding the tenant lease",
                StoreError::Conflict("the tenant's job lease was lost before the slice ended".into()),
            )),
        }
    }

    /// Stops renewing and gives the lease back (a failure is logged: the
    /// lease expires by itself).
    async fn release(self) {
        if let Some(s) = &self.sharer {
            s.abort();
        }
        self.renewer.abort();
        let _ = self.renewer.await;
        let lease = match self.current.lock() {
            Ok(l) => l.clone(),
            Err(_) => return,
        };
        if let Err(e) = self.store.release(&lease).await {
            tracing::warn!(tenant_id = %lease.tenant, job = %lease.job, error = %e, "lease release failed; it will expire");
        }
    }
}
