//! The sync engine: reads both sides, plans (the pure planner in
//! [`crate::domain::plan`]), applies with pacing, records.
//!
//! # Entry points
//!
//! ```text
//! let app = App::from_parts(settings, store, secrets, graph);   // crate::app
//! let driver = app.driver();
//! driver.run_slice(&work_item, &NoProgress).await   // tenant-worker: one slice under the lease
//! driver.run_to_end(tenant, job, &bars).await       // guest-sync sync, the demo
//! provision_user(&app.engine(), &tenant, "ann@contoso.com", preview).await
//! ```
//!
//! - [`driver::JobDriver`] is the one place that runs a tenant job: it takes
//!   the tenant's job lease (and renews it while the job runs), sets the
//!   deadline from `GUESTSYNC_JOB_BUDGET_SECS`, and follows continuations.
//! - [`run_job`] runs one slice of `reconcile` ([`reconcile`]), `photos`
//!   ([`photos`]) or `redemption` ([`redemption`]). It keeps the
//!   [`crate::domain::RunRecord`] of `(tenant, run_id)` up to date
//!   (continuations add their counts to the same run), stores guest records
//!   and one audit entry per write, emits [`crate::events::RUN_SUMMARY`] when
//!   the run finishes and [`crate::events::GUARD_TRIPPED`] when the deletion
//!   guard holds removals back. It does not take the lease (the driver does).
//! - The `deadline` is when to stop *launching* writes; writes in flight
//!   (at most [`SyncContext::concurrency`]) still finish.
//! - Cursors are typed per job ([`cursor::JobCursor`]). A reconcile that
//!   re-reads needs no position: because the planner compares actual
//!   state, whatever the last pass did is simply not planned again. A full
//!   read that stopped for time resumes instead from its snapshot
//!   ([`snapshot`]) at the first action it did not start.
//! - Dry run (`settings.dry_run` or [`SyncContext::dry_run`]): the plan is
//!   computed and audited with outcome `dry-run`; nothing is written to
//!   Graph and no guest record changes.
//! - [`lookup::lookup_user`] looks one user up in a source tenant, read-only
//!   (`guest-sync explain --live`): found or not, in the scope group now.
pub mod cursor;
pub mod delta;
pub mod driver;
pub mod execute;
pub mod lookup;
pub mod ownership;
pub mod photos;
pub mod provision;
pub mod read;
pub mod rebuild;
pub mod reconcile;
pub mod redemption;
pub mod relations;
pub mod run;
pub mod snapshot;
pub mod writer;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::plan::Plan;
use crate::domain::{GuestRecord, Guid, RunCounts, RunOutcome, SourceTenant};
use crate::graph::{GraphClient, GraphError};
use crate::secrets::{SecretError, SecretSource};
use crate::settings::Settings;
use crate::store::{Store, StoreError};

pub use cursor::JobCursor;
pub use driver::{JobDriver, RunEnd, Slice};
pub use provision::provision_user;
pub use rebuild::{rebuild_records, Rebuilt};
pub use reconcile::{compute_plan, ComputedPlan};
pub use run::{log_run_summary, run_job};

/// The time as the engine sees it (records, cool-downs, restore windows).
/// Tests and the simulator substitute their own.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Progress reporting for people (the CLI's bars). Phases are `read
/// source`, `read host`, `plan`, `apply`, `photos`, `redemption`.
pub trait Progress: Send + Sync {
    /// A new phase begins; `total` when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `n` more items of the current phase are done.
    fn inc(&self, n: u64);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn inc(&self, _: u64) {}
}

/// What the engine needs from the process: built once, shared by jobs.
#[derive(Clone)]
pub struct SyncContext {
    pub store: Arc<dyn Store>,
    /// One client for the process: its pacer holds the host's write budget
    /// across all tenants' jobs.
    pub graph: GraphClient,
    pub secrets: Arc<dyn SecretSource>,
    pub settings: Arc<Settings>,
    pub clock: Arc<dyn Clock>,
    /// Guest actions in flight at once (the pacer sets the rate; this only
    /// needs to be high enough to keep it busy).
    pub concurrency: usize,
    /// Plan and audit only; nothing is written to Graph.
    pub dry_run: bool,
    /// Every reconcile reads both sides whole (`guest-sync sync --full`),
    /// whatever the delta links say.
    pub force_full: bool,
    /// A full read's plan is cut into parts of about this many source
    /// users, planned and applied one after the other
    /// ([`crate::domain::plan::Part`]): memory holds one part's actions.
    pub plan_part_users: usize,
}

/// The default [`SyncContext::plan_part_users`].
pub const PLAN_PART_USERS: usize = 5_000;

impl SyncContext {
    /// A context with the system clock, 48 actions in flight, and dry run
    /// as `GUESTSYNC_DRY_RUN` says.
    pub fn new(
        store: Arc<dyn Store>,
        graph: GraphClient,
        secrets: Arc<dyn SecretSource>,
        settings: Arc<Settings>,
    ) -> Self {
        SyncContext {
            dry_run: settings.dry_run,
            store,
            graph,
            secrets,
            settings,
            clock: Arc::new(SystemClock),
            concurrency: 48,
            force_full: false,
            plan_part_users: PLAN_PART_USERS,
        }
    }
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// A client secret could not be had (missing, expired, vault down).
    #[error("client secret of {whose}: {source}")]
    Secret {
        whose: String,
        #[source]
        source: SecretError,
    },
    /// A Graph call failed; `doing` says what the engine was doing.
    #[error("{doing}: {source}")]
    Graph {
        doing: String,
        #[source]
        source: GraphError,
    },
    #[error("store: {0}")]
    Store(#[source] StoreError),
    /// The store failed while the driver was `doing` something (reading
    /// the registry, taking the lease): always worth retrying.
    #[error("store, {doing}: {source}")]
    StoreAccess {
        doing: &'static str,
        #[source]
        source: StoreError,
    },
    /// A work item names a tenant that is not in the registry.
    #[error("source tenant {0} is not registered (guest-sync tenant list)")]
    UnknownTenant(Guid),
    /// `provision`: the source user does not exist.
    #[error("source user {0:?} was not found in the source tenant")]
    UserNotFound(String),
    /// The tenant cannot be synced as registered.
    #[error("tenant {tenant}: {problem}")]
    Tenant { tenant: Guid, problem: String },
}

impl SyncError {
    pub(crate) fn graph(doing: &str, source: GraphError) -> Self {
        SyncError::Graph {
            doing: doing.to_string(),
            source,
        }
    }

    pub(crate) fn store(doing: &'static str, source: StoreError) -> Self {
        SyncError::StoreAccess { doing, source }
    }

    /// The message with every cause in the chain that it does not already
    /// spell out (what the invocation's logs and the run record show).
    pub fn describe(&self) -> String {
        let mut msg = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !msg.contains(&text) {
                msg.push_str(": ");
                msg.push_str(&text);
            }
            cause = c.source();
        }
        msg
    }

    /// Worth retrying the queue message later (network, throttling, a busy
    /// store) as opposed to needing an administrator (bad secret, missing
    /// permission, invitations restricted).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Secret { source, .. } => source.is_transient(),
            SyncError::Graph { source, .. } => source.is_transient(),
            SyncError::Store(e) => {
                matches!(e, StoreError::Unavailable(_) | StoreError::Conflict(_))
            }
            SyncError::StoreAccess { .. } => true,
            SyncError::UserNotFound(_) | SyncError::UnknownTenant(_) | SyncError::Tenant { .. } => {
                false
            }
        }
    }
}

/// What one slice of a job did.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutcome {
    /// This invocation's counts (the run record holds the run's total).
    pub counts: RunCounts,
    /// Some = unfinished: enqueue a continuation work item with this cursor
    /// and the same run id.
    pub cursor: Option<JobCursor>,
    /// `Continued` (cursor set), `Succeeded`, or `Partial` (finished, some
    /// guests failed; see the audit).
    pub outcome: RunOutcome,
    /// Set when the deletion guard held removals back this invocation.
    pub guard: Option<crate::domain::plan::GuardTrip>,
    pub dry_run: bool,
    /// A problem an administrator must fix (a lost permission, an
    /// incomplete source read): kept as the run's error, shown in the
    /// report's attention list, and `guest-sync sync` exits non-zero.
    pub attention: Option<String>,
    /// Something degraded that did not stop the sync (the ownership
    /// anchor could not be written or read): shown and recorded, but the
    /// run is not a failure.
    pub warning: Option<String>,
}

/// What `provision_user` did (or, in preview, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionOutcome {
    pub source_user_id: Guid,
    /// Whether the user is a (transitive) member of the tenant's group and
    /// of a user type in scope. A user out of scope is not touched
    /// (on-demand provisioning never deprovisions).
    pub in_scope: bool,
    /// The steps planned for this user.
    pub plan: Plan,
    /// False for a preview (nothing written).
    pub applied: bool,
    pub counts: RunCounts,
    /// The guest record after the call (None in preview or if out of scope
    /// and never managed).
    pub record: Option<GuestRecord>,
}

/// The source tenant's credentials: its app's secret from the secret
/// source, or (secretless) the host's multi-tenant app signed in with the
/// managed identity's assertion.
pub(crate) async fn source_credentials(
    ctx: &SyncContext,
    tenant: &SourceTenant,
) -> Result<crate::graph::Credential, SyncError> {
    let Some(secret_name) = tenant.secret() else {
        return Ok(crate::graph::Credential::Federated {
            tenant_id: tenant.tenant_id,
            app_id: tenant.client_id,
        });
    };
    let s = ctx
        .secrets
        .get(secret_name)
        .await
        .map_err(|source| SyncError::Secret {
            whose: format!("source tenant {}", tenant.tenant_id),
            source,
        })?;
    check_expiry(secret_name, s.expires_on, ctx, &ctx.secrets.describe()).map_err(|source| {
        SyncError::Secret {
            whose: format!("source tenant {}", tenant.tenant_id),
            source,
        }
    })?;
    Ok(crate::graph::Credential::Secret(
        crate::graph::AppCredentials {
            tenant_id: tenant.tenant_id,
            client_id: tenant.client_id,
            secret: s.value,
        },
    ))
}

/// The host's credentials: the host app's secret (settings + secret
/// source), or the function app's managed identity
/// (`GUESTSYNC_HOST_CREDENTIAL=managed-identity`).
pub(crate) async fn host_credentials(
    ctx: &SyncContext,
) -> Result<crate::graph::Credential, SyncError> {
    let st = &ctx.settings;
    if st.host_credential == crate::settings::HostCredential::ManagedIdentity {
        return Ok(crate::graph::Credential::ManagedIdentity {
            tenant_id: st.host_tenant_id,
        });
    }
    let s = ctx
        .secrets
        .get(&st.host_secret_name)
        .await
        .map_err(|source| SyncError::Secret {
            whose: "the host app".into(),
            source,
        })?;
    check_expiry(
        &st.host_secret_name,
        s.expires_on,
        ctx,
        &ctx.secrets.describe(),
    )
    .map_err(|source| SyncError::Secret {
        whose: "the host app".into(),
        source,
    })?;
    Ok(crate::graph::Credential::Secret(
        crate::graph::AppCredentials {
            tenant_id: st.host_tenant_id,
            client_id: st.host_client_id,
            secret: s.value,
        },
    ))
}

/// Rule 9: after its expiry date a secret fails the run with a clear
/// message (instead of an opaque AADSTS7000222 from the authority).
fn check_expiry(
    name: &crate::domain::SecretName,
    expires_on: Option<DateTime<Utc>>,
    ctx: &SyncContext,
    source_name: &str,
) -> Result<(), SecretError> {
    match expires_on {
        Some(t) if t <= ctx.clock.now() => Err(SecretError::Expired {
            name: name.to_string(),
            source_name: source_name.to_string(),
            expired_on: Some(t),
        }),
        _ => Ok(()),
    }
}
