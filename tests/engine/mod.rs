//! Engine tests end to end: the real jobs (`run_job`, `provision_user`)
//! against the Graph simulator over HTTP, in the shared test world
//! (`support::world`: a SQLite store and a secrets file in a temporary
//! directory). Each scenario asserts the host's final state (simulator
//! inspection) and the store's records.
//!
//! - [`scenarios`]: every sync rule of `docs/design.md`, one scenario each.
//! - [`robustness`]: the same with faults on (5xx, throttling, eventual
//!   consistency), crash tests (the run dropped after k writes), and the
//!   requests-per-guest budget.
mod anchor;
mod delta;
mod driver;
mod ownership;
mod relations;
mod robustness;
mod scenarios;
mod snapshot;

use std::collections::HashMap;

use guest_sync::devtools::sim::{NewUser, SimConfig, SimUser};
use guest_sync::domain::{GuestRecord, Guid, Job, SourceTenant, TenantOptions};
use guest_sync::engine::{run_job, JobOutcome, NoProgress, SyncContext};
use serde_json::{Map, Value};

use crate::support::world::{SourceSpec, World};

/// The shared [`World`] with one source tenant, Contoso (an empty scope
/// group), and the engine's context from the world's app. Derefs to the
/// world (`h.sim`, `h.host`, `h.store`, `h.clock`).
pub struct H {
    pub world: World,
    pub src: Guid,
    pub group: Guid,
    pub ctx: SyncContext,
    pub tenant: SourceTenant,
}

impl std::ops::Deref for H {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl H {
    /// Default simulator speed-up for tests: fast, no faults.
    pub async fn fast() -> H {
        H::start(SimConfig::fast(), &[], TenantOptions::default()).await
    }

    /// Starts everything; `env` adds or overrides GUESTSYNC_* settings.
    pub async fn start(cfg: SimConfig, env: &[(&str, &str)], options: TenantOptions) -> H {
        let world = env
            .iter()
            .fold(World::builder().sim(cfg), |b, (k, v)| b.setting(k, v))
            .build()
            .await;
        let source = world
            .add_source(SourceSpec::new("Contoso").options(options))
            .await;
        H {
            src: source.tenant.tenant_id,
            group: source.generated.group_id,
            ctx: world.engine(),
            tenant: source.tenant,
            world,
        }
    }

    /// Source user `i` (UPN `user{i}@contoso.example`), created in the
    /// source tenant (not yet in any group).
    pub fn new_user(&self, i: usize) -> Guid {
        self.sim.create_user(
            self.src,
            NewUser {
                display_name: format!("User {i}"),
                upn: format!("user{i}@contoso.example"),
                mail: Some(format!("user{i}@contoso.example")),
                job_title: Some("Engineer".into()),
                department: Some("Sales".into()),
                company_name: Some("Contoso".into()),
                account_enabled: true,
                user_type: "Member".into(),
                extra: Map::new(),
            },
        )
    }

    /// Source users `0..n`, members of the scope group.
    pub fn members(&self, n: usize) -> Vec<Guid> {
        (0..n)
            .map(|i| {
                let id = self.new_user(i);
                self.sim.add_member(self.src, self.group, id);
                id
            })
            .collect()
    }

    /// The tenant as stored now (guard holds change it).
    pub async fn stored_tenant(&self) -> SourceTenant {
        self.store
            .get_tenant(self.src)
            .await
            .unwrap()
            .unwrap_or_else(|| self.tenant.clone())
    }

    /// Runs `job` to the end, following continuations.
    pub async fn run(&self, job: Job) -> JobOutcome {
        let run_id = uuid::Uuid::new_v4();
        let mut cursor = None;
        for _ in 0..10 {
            let t = self.stored_tenant().await;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
            let out = run_job(&self.ctx, &t, job, run_id, cursor, deadline, &NoProgress)
                .await
                .unwrap();
            if out.cursor.is_none() {
                return out;
            }
            cursor = out.cursor;
        }
        panic!("{job} did not finish in 10 continuations");
    }

    pub async fn reconcile(&self) -> JobOutcome {
        self.run(Job::Reconcile).await
    }

    /// The tenant's guest records, by source user id.
    pub async fn records(&self) -> HashMap<Guid, GuestRecord> {
        self.store
            .list_guests(self.src)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.source_user_id, r))
            .collect()
    }

    /// The record of a source user.
    pub async fn record(&self, user: Guid) -> GuestRecord {
        self.store.get_guest(self.src, user).await.unwrap().unwrap()
    }

    /// The live host guest of a source user (through its record).
    pub async fn guest(&self, user: Guid) -> SimUser {
        let id = self.record(user).await.host_user_id.unwrap();
        self.sim.user(self.host, id).unwrap()
    }

    /// Live host users with this mail address.
    pub fn host_users_with_mail(&self, mail: &str) -> Vec<SimUser> {
        self.sim
            .users(self.host)
            .into_iter()
            .filter(|u| u.str("mail").is_some_and(|m| m.eq_ignore_ascii_case(mail)))
            .collect()
    }
}

/// Runs `t`'s reconcile to its end through the job driver (the CLI's
/// path); a skipped run fails the test.
pub async fn reconcile_to_end(
    driver: &guest_sync::engine::JobDriver,
    t: &SourceTenant,
) -> guest_sync::domain::RunCounts {
    match driver
        .run_to_end(t, Job::Reconcile, &NoProgress)
        .await
        .unwrap()
    {
        guest_sync::engine::driver::Driven::Finished(end) => end.counts,
        guest_sync::engine::driver::Driven::Skipped(why) => panic!("skipped: {why}"),
    }
}

/// A string attribute of a simulator user.
pub fn s<'a>(u: &'a SimUser, k: &str) -> Option<&'a str> {
    u.attributes.get(k).and_then(Value::as_str)
}

/// A bool attribute of a simulator user.
pub fn b(u: &SimUser, k: &str) -> Option<bool> {
    u.attributes.get(k).and_then(Value::as_bool)
}
