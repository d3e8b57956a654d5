//! Engine tests end to end: the real jobs (`run_job`, `provision_user`)
//! against the Graph simulator over HTTP, with a SQLite store in a temp
//! directory and an in-test secret source. Each scenario asserts the host's
//! final state (simulator inspection) and the store's records.
//!
//! - [`scenarios`]: every sync rule of `docs/design.md`, one scenario each.
//! - [`audit`]: what the audit trail names (the guest's host UPN).
//! - [`robustness`]: the same with faults on (5xx, throttling, eventual
//!   consistency), crash tests (the run dropped after k writes), and the
//!   requests-per-guest budget.
mod audit;
mod robustness;
mod scenarios;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use guest_sync::devtools::sim::{NewUser, Sim, SimConfig, SimUser};
use guest_sync::domain::{GuestRecord, Guid, Job, SecretName, SourceTenant, TenantOptions};
use guest_sync::engine::{run_job, Clock, JobOutcome, NoProgress, SyncContext};
use guest_sync::graph::{GraphClient, GraphConfig};
use guest_sync::secrets::{Secret, SecretError, SecretSource, SecretString};
use guest_sync::settings::Settings;
use guest_sync::store::Store;
use serde_json::{Map, Value};

/// Secrets held in memory (the engine only reads them).
pub struct MapSecrets(pub HashMap<String, String>);

#[async_trait]
impl SecretSource for MapSecrets {
    fn describe(&self) -> String {
        "test secrets".into()
    }
    async fn get(&self, name: &SecretName) -> Result<Secret, SecretError> {
        self.0
            .get(name.as_str())
            .map(|v| Secret {
                value: SecretString::new(v.clone()),
                expires_on: None,
            })
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_string(),
                source_name: self.describe(),
            })
    }
    async fn set(
        &self,
        _: &SecretName,
        _: &SecretString,
        _: Option<DateTime<Utc>>,
    ) -> Result<(), SecretError> {
        Ok(())
    }
}

/// The system clock plus an offset tests can move forward (cool-downs).
#[derive(Default)]
pub struct TestClock(Mutex<chrono::Duration>);

impl TestClock {
    pub fn advance_secs(&self, s: i64) {
        let mut d = self.0.lock().unwrap();
        *d += chrono::Duration::seconds(s);
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.0.lock().unwrap()
    }
}

pub const HOST_PERMS: &[&str] = &[
    "User.Invite.All",
    "User.ReadWrite.All",
    "GroupMember.ReadWrite.All",
];
pub const SOURCE_PERMS: &[&str] = &["GroupMember.Read.All", "User.Read.All"];

/// A simulator with a host and a source tenant, a store, and the engine's
/// context wired to them.
pub struct H {
    pub sim: Sim,
    pub host: Guid,
    pub src: Guid,
    pub group: Guid,
    pub store: Arc<dyn Store>,
    pub ctx: SyncContext,
    pub tenant: SourceTenant,
    pub clock: Arc<TestClock>,
    _dir: tempfile::TempDir,
}

impl H {
    /// Default simulator speed-up for tests: fast, no faults.
    pub async fn fast() -> H {
        H::start(SimConfig::fast(), &[], TenantOptions::default()).await
    }

    /// Starts everything; `env` adds or overrides GUESTSYNC_* settings.
    pub async fn start(cfg: SimConfig, env: &[(&str, &str)], options: TenantOptions) -> H {
        let scale = cfg.time_scale;
        let sim = Sim::start(cfg).await.unwrap();
        let host = Guid::new_v4();
        let host_app = Guid::new_v4();
        let src = Guid::new_v4();
        let src_app = Guid::new_v4();
        sim.add_tenant(host, "Host", "host.onmicrosoft.com");
        sim.register_app(host, host_app, "host-s3cret", HOST_PERMS);
        sim.add_tenant(src, "Contoso", "contoso.onmicrosoft.com");
        sim.register_app(src, src_app, "src-s3cret", SOURCE_PERMS);
        let group = sim.create_group(src, "Guests for Host");
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            guest_sync::store::sqlite::SqliteStore::open(&dir.path().join("gs.db"))
                .await
                .unwrap(),
        );
        let url = sim.url().to_string();
        let mut vars: HashMap<String, String> = HashMap::from([
            ("GUESTSYNC_HOST_TENANT_ID".into(), host.to_string()),
            ("GUESTSYNC_HOST_CLIENT_ID".into(), host_app.to_string()),
            ("GUESTSYNC_HOST_SECRET_NAME".into(), "host-secret".into()),
            ("GUESTSYNC_GRAPH_URL".into(), url.clone()),
            ("GUESTSYNC_AUTHORITY_URL".into(), url),
            ("GUESTSYNC_MAX_DEPROVISIONS".into(), "50%".into()),
        ]);
        for (k, v) in env {
            vars.insert(k.to_string(), v.to_string());
        }
        let settings = Settings::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let graph = GraphClient::new(
            GraphConfig::new(settings.graph_url.clone(), settings.authority_url.clone())
                .with_time_scale(scale),
        )
        .unwrap();
        let secrets = Arc::new(MapSecrets(HashMap::from([
            ("host-secret".to_string(), "host-s3cret".to_string()),
            ("contoso-secret".to_string(), "src-s3cret".to_string()),
        ])));
        let clock = Arc::new(TestClock::default());
        let mut ctx = SyncContext::new(store.clone(), graph, secrets, Arc::new(settings));
        ctx.clock = clock.clone();
        let tenant = SourceTenant {
            tenant_id: src,
            display_name: "Contoso".into(),
            client_id: src_app,
            secret_name: SecretName::parse("contoso-secret").unwrap(),
            group_id: group,
            enabled: true,
            options,
            created_at: Utc::now(),
            secret_expires_at: None,
            guard: None,
        };
        store.put_tenant(&tenant).await.unwrap();
        H {
            sim,
            host,
            src,
            group,
            store,
            ctx,
            tenant,
            clock,
            _dir: dir,
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

/// A string attribute of a simulator user.
pub fn s<'a>(u: &'a SimUser, k: &str) -> Option<&'a str> {
    u.attributes.get(k).and_then(Value::as_str)
}

/// A bool attribute of a simulator user.
pub fn b(u: &SimUser, k: &str) -> Option<bool> {
    u.attributes.get(k).and_then(Value::as_bool)
}
