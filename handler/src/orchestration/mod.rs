//! Orchestration: the behaviour behind every function of the app.
//!
//! - [`fanout`]: the three timers. Each lists the enabled source tenants and
//!   emits one work item per tenant (skipping a tenant whose job is already
//!   running, i.e. whose lease is held). The redemption timer also runs the
//!   daily checks (secret expiry, retention).
//! - [`worker`]: `tenant-worker`. Takes the per-tenant, per-job lease, runs
//!   the job within `GUESTSYNC_JOB_BUDGET_SECS`, records the run, and emits a
//!   continuation work item when the job is unfinished. Transient failures
//!   answer non-2xx (the host redelivers); permanent ones are recorded on the
//!   run and complete.
//! - [`poison`]: `poison-watch`. Records a parked work item as a failed run
//!   so it shows in the report and alerts.
//! - [`http`]: `report` (statistics as JSON or the HTML dashboard) and
//!   `provision` (provision or preview one source user now).
//!
//! The tenant jobs themselves are behind [`TenantJobs`] (the sync engine
//! implements it, see [`engine_jobs`]); the orchestration owns leases, run
//! records, continuations and the error policy.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{Job, RunCounts, SourceTenant};
use crate::functions::{FunctionName, FunctionSet};
use crate::store::Store;

pub mod build;
pub mod engine_jobs;
pub mod fanout;
pub mod http;
pub mod poison;
pub mod worker;

/// What one slice of a tenant job did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobSlice {
    pub counts: RunCounts,
    /// Some = unfinished: the continuation work item carries it.
    pub cursor: Option<serde_json::Value>,
    /// A problem the run finished with (e.g. the deprovision guard tripped,
    /// an incomplete source read): recorded on the run, not a failure of the
    /// invocation.
    pub warning: Option<String>,
}

/// Why a tenant job failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth retrying: Graph or the store is unavailable, throttled past the
    /// budget, a network error. The queue message is redelivered.
    #[error("{0}")]
    Transient(String),
    /// Needs an administrator (wrong or expired secret, missing permission,
    /// group gone): recorded on the run; the message completes.
    #[error("{0}")]
    Permanent(String),
}

/// The engine's entry points, as the orchestration calls them.
#[async_trait]
pub trait TenantJobs: Send + Sync {
    /// Runs one slice of `job` for `tenant` until done or until `deadline`.
    async fn run(
        &self,
        tenant: &SourceTenant,
        job: Job,
        run_id: uuid::Uuid,
        cursor: Option<serde_json::Value>,
        deadline: tokio::time::Instant,
    ) -> Result<JobSlice, JobError>;

    /// Provisions (or previews, writing nothing) one source user given by
    /// object id or UPN; returns a JSON description of what was (or would
    /// be) done.
    async fn provision(
        &self,
        tenant: &SourceTenant,
        user: &str,
        preview: bool,
    ) -> Result<serde_json::Value, JobError>;
}

/// Daily checks the redemption timer runs besides fanning out (secret
/// expiry, retention). Errors are logged, never fail the timer.
#[async_trait]
pub trait DailyChecks: Send + Sync {
    async fn run(&self, now: DateTime<Utc>) -> Vec<String>;
}

/// Everything the functions share.
pub struct Orchestrator {
    pub store: Arc<dyn Store>,
    pub jobs: Arc<dyn TenantJobs>,
    pub daily: Option<Arc<dyn DailyChecks>>,
    /// `GUESTSYNC_JOB_BUDGET_SECS`.
    pub job_budget: std::time::Duration,
    /// Identifies this process as a lease holder.
    pub holder: String,
}

impl Orchestrator {
    pub fn new(
        store: Arc<dyn Store>,
        jobs: Arc<dyn TenantJobs>,
        job_budget: std::time::Duration,
    ) -> Self {
        Orchestrator {
            store,
            jobs,
            daily: None,
            job_budget,
            holder: format!("{}-{}", hostname(), uuid::Uuid::new_v4()),
        }
    }

    pub fn with_daily_checks(mut self, d: Arc<dyn DailyChecks>) -> Self {
        self.daily = Some(d);
        self
    }

    /// A lease lives a little longer than one job slice, so that a crashed
    /// holder's lease expires soon after its budget would have.
    pub fn lease_ttl(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.job_budget + std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| chrono::Duration::minutes(10))
    }
}

fn hostname() -> String {
    std::env::var("WEBSITE_INSTANCE_ID")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|h| h.chars().take(16).collect())
        .unwrap_or_else(|_| "local".to_string())
}

/// The real behaviour of every function, ready to serve.
pub fn function_set(o: Arc<Orchestrator>) -> FunctionSet {
    FunctionSet::unconfigured()
        .with(
            FunctionName::SyncTimer,
            Arc::new(fanout::Fanout::new(o.clone(), Job::Reconcile)),
        )
        .with(
            FunctionName::PhotoTimer,
            Arc::new(fanout::Fanout::new(o.clone(), Job::Photos)),
        )
        .with(
            FunctionName::RedemptionTimer,
            Arc::new(fanout::Fanout::new(o.clone(), Job::Redemption)),
        )
        .with(
            FunctionName::TenantWorker,
            Arc::new(worker::Worker::new(o.clone())),
        )
        .with(
            FunctionName::PoisonWatch,
            Arc::new(poison::PoisonWatch::new(o.clone())),
        )
        .with(FunctionName::Report, Arc::new(http::Report::new(o.clone())))
        .with(FunctionName::Provision, Arc::new(http::Provision::new(o)))
}
