//! The one test world: the Graph simulator with a host tenant and its app,
//! a SQLite store and a local secrets file in a temporary directory, the
//! settings naming them, a Graph client at the simulator's time scale, and
//! the real [`App`] built from those parts by the composition root
//! (`App::from_parts`). Source tenants are added to it (generated in the
//! simulator, their secret in the secrets file, registered in the store).
//!
//! ```ignore
//! let w = World::builder().budget_secs(60).build().await;
//! let s = w.add_source(SourceSpec::new("Alpha").generate(spec)).await;
//! let app = w.app();          // for function_set(app)
//! let ctx = w.engine();       // for run_job(&ctx, ...)
//! ```
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use guest_sync::app::App;
use guest_sync::devtools::sim::{GenerateSpec, Generated, Sim, SimConfig, SimUser};
use guest_sync::domain::{Guid, SecretName, SourceTenant, TenantOptions};
use guest_sync::engine::{Clock, SyncContext};
use guest_sync::graph::{GraphClient, GraphConfig};
use guest_sync::secrets::local::LocalFileSource;
use guest_sync::secrets::{SecretSource, SecretString};
use guest_sync::settings::{Settings, StoreSpec};
use guest_sync::store::Store;

use super::perms::{HOST_PERMS, SOURCE_PERMS};

/// The host app's client secret (registered in the simulator and held in
/// the secrets file under [`HOST_SECRET_NAME`]).
pub const HOST_APP_SECRET: &str = "host-s3cret";
/// `GUESTSYNC_HOST_SECRET_NAME` of the world.
pub const HOST_SECRET_NAME: &str = "host-app-secret";

/// The SQLite file a test keeps in its temporary directory.
pub fn sqlite_path(dir: &Path) -> PathBuf {
    dir.join("gs.db")
}

/// Opens (creating it) the SQLite store at [`sqlite_path`] as the handler
/// opens a store: from its `sqlite:` spec.
pub async fn open_sqlite(dir: &Path) -> Arc<dyn Store> {
    let spec = StoreSpec::parse(&format!("sqlite:{}", sqlite_path(dir).display())).unwrap();
    guest_sync::store::open(&spec).await.unwrap()
}

/// The system clock plus an offset tests can move forward (cool-downs).
/// The world's app and engine run on it.
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

/// What differs between worlds. Defaults: [`SimConfig::fast`], the host app
/// granted [`HOST_PERMS`], `GUESTSYNC_MAX_DEPROVISIONS=50%`, the settings'
/// default job budget, the Graph client's default retries.
pub struct WorldBuilder {
    sim: SimConfig,
    host_perms: Vec<String>,
    settings: BTreeMap<String, String>,
    graph_retries: Option<u32>,
}

impl WorldBuilder {
    /// The simulator's configuration (time scale, throttling, latency,
    /// faults, consistency window).
    pub fn sim(mut self, cfg: SimConfig) -> Self {
        self.sim = cfg;
        self
    }

    /// Graph time runs `scale` times faster (the client follows it).
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.sim.time_scale = scale;
        self
    }

    /// The simulator's throttling (Graph's budgets as token buckets).
    pub fn throttling(mut self, on: bool) -> Self {
        self.sim.throttling = on;
        self
    }

    /// `GUESTSYNC_JOB_BUDGET_SECS`.
    pub fn budget_secs(self, secs: u64) -> Self {
        self.setting("GUESTSYNC_JOB_BUDGET_SECS", &secs.to_string())
    }

    /// `GUESTSYNC_MAX_DEPROVISIONS` (a count or a percentage).
    pub fn max_deprovisions(self, limit: &str) -> Self {
        self.setting("GUESTSYNC_MAX_DEPROVISIONS", limit)
    }

    /// Sets (or overrides) any `GUESTSYNC_*` setting.
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.insert(name.to_string(), value.to_string());
        self
    }

    /// The host app's permissions instead of [`HOST_PERMS`].
    pub fn host_perms(mut self, perms: &[&str]) -> Self {
        self.host_perms = perms.iter().map(|p| p.to_string()).collect();
        self
    }

    /// The Graph client's retries per request instead of its default.
    pub fn graph_retries(mut self, n: u32) -> Self {
        self.graph_retries = Some(n);
        self
    }

    /// Starts the simulator and builds everything.
    pub async fn build(self) -> World {
        let sim = Sim::start(self.sim).await.unwrap();
        let scale = sim.config().time_scale;
        let host = Guid::new_v4();
        let host_app = Guid::new_v4();
        sim.add_tenant(host, "Host", "host.onmicrosoft.com");
        let perms: Vec<&str> = self.host_perms.iter().map(String::as_str).collect();
        sim.register_app(host, host_app, HOST_APP_SECRET, &perms);

        let dir = tempfile::tempdir().unwrap();
        let url = sim.url().to_string();
        let mut vars: BTreeMap<String, String> = [
            ("GUESTSYNC_HOST_TENANT_ID", host.to_string()),
            ("GUESTSYNC_HOST_CLIENT_ID", host_app.to_string()),
            ("GUESTSYNC_HOST_SECRET_NAME", HOST_SECRET_NAME.to_string()),
            (
                "GUESTSYNC_STORE",
                format!("sqlite:{}", sqlite_path(dir.path()).display()),
            ),
            (
                "GUESTSYNC_LOCAL_SECRETS",
                dir.path().join("secrets.json").display().to_string(),
            ),
            ("GUESTSYNC_GRAPH_URL", url.clone()),
            ("GUESTSYNC_ALLOW_HTTP", "true".to_string()),
            ("GUESTSYNC_AUTHORITY_URL", url),
            ("GUESTSYNC_MAX_DEPROVISIONS", "50%".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        vars.extend(self.settings);
        let settings = Arc::new(Settings::from_lookup(|k| vars.get(k).cloned()).unwrap());

        let store = guest_sync::store::open(&settings.store).await.unwrap();
        let secrets: Arc<dyn SecretSource> =
            Arc::new(LocalFileSource::new(settings.local_secrets.clone()));
        secrets
            .set(
                &settings.host_secret_name,
                &SecretString::new(HOST_APP_SECRET),
                None,
            )
            .await
            .unwrap();
        let mut cfg = GraphConfig::from_settings(&settings).with_time_scale(scale);
        if let Some(n) = self.graph_retries {
            cfg.max_retries = n;
        }
        let graph = GraphClient::new(cfg).unwrap();
        let clock = Arc::new(TestClock::default());
        let app = Arc::new(
            App::from_parts(
                settings.clone(),
                store.clone(),
                secrets.clone(),
                graph.clone(),
            )
            .with_clock(clock.clone()),
        );
        World {
            sim,
            host,
            host_app,
            store,
            secrets,
            settings,
            graph,
            clock,
            app,
            dir,
            env: vars,
        }
    }
}

/// A running world; everything is dropped with it (the simulator stops, the
/// temporary directory goes).
pub struct World {
    pub sim: Sim,
    /// The host tenant and its app.
    pub host: Guid,
    pub host_app: Guid,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretSource>,
    pub settings: Arc<Settings>,
    /// The app's Graph client (one per world, at the simulator's scale).
    pub graph: GraphClient,
    /// The app's clock.
    pub clock: Arc<TestClock>,
    app: Arc<App>,
    /// Holds the SQLite store and the secrets file.
    pub dir: tempfile::TempDir,
    /// The settings as environment variables (to run the real binary).
    pub env: BTreeMap<String, String>,
}

/// A source tenant's app in the simulator.
pub struct SourceApp {
    pub tenant: Guid,
    pub app: Guid,
}

/// A source tenant to add: its members (generated, or an empty scope
/// group), what the secrets file holds for it, its options.
pub struct SourceSpec {
    name: String,
    generate: Option<GenerateSpec>,
    secret: Option<String>,
    options: TenantOptions,
}

impl SourceSpec {
    /// A tenant called `name` (domain `<name>.onmicrosoft.com`) with an
    /// empty scope group, the right secret and default options.
    pub fn new(name: &str) -> SourceSpec {
        SourceSpec {
            name: name.to_string(),
            generate: None,
            secret: None,
            options: TenantOptions::default(),
        }
    }

    /// Members generated by the simulator.
    pub fn generate(mut self, spec: GenerateSpec) -> Self {
        self.generate = Some(spec);
        self
    }

    /// The secrets file holds `secret` instead of the app's real secret
    /// (the tenant then fails to authenticate).
    pub fn stored_secret(mut self, secret: &str) -> Self {
        self.secret = Some(secret.to_string());
        self
    }

    pub fn options(mut self, options: TenantOptions) -> Self {
        self.options = options;
        self
    }
}

/// A registered source tenant and what the simulator made for it (for an
/// empty group: its id and no users).
pub struct Source {
    pub tenant: SourceTenant,
    pub generated: Generated,
}

impl World {
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            sim: SimConfig::fast(),
            host_perms: HOST_PERMS.iter().map(|p| p.to_string()).collect(),
            settings: BTreeMap::new(),
            graph_retries: None,
        }
    }

    /// A world with the defaults.
    pub async fn fast() -> World {
        World::builder().build().await
    }

    /// The real app over this world, as the composition root built it.
    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// The engine's context from the app (its clock is [`World::clock`]).
    pub fn engine(&self) -> SyncContext {
        self.app.engine()
    }

    /// The real client secret of a source's app added with
    /// [`World::add_source`].
    pub fn source_secret(name: &str) -> String {
        format!("{name}-real-secret")
    }

    /// A tenant `name` (domain `<name>.onmicrosoft.com`) with an app granted
    /// [`SOURCE_PERMS`] whose secret is `secret`; simulator only.
    pub fn source_app(&self, name: &str, secret: &str) -> SourceApp {
        let tenant = Guid::new_v4();
        let app = Guid::new_v4();
        let domain = format!("{}.onmicrosoft.com", name.to_lowercase());
        self.sim.add_tenant(tenant, name, &domain);
        self.sim.register_app(tenant, app, secret, SOURCE_PERMS);
        SourceApp { tenant, app }
    }

    /// Adds a source tenant: its app ([`World::source_secret`]), its scope
    /// group, its secret (`<name>-app`) in the secrets file, and its record
    /// in the store.
    pub async fn add_source(&self, spec: SourceSpec) -> Source {
        let real = World::source_secret(&spec.name);
        let src = self.source_app(&spec.name, &real);
        let generated = match &spec.generate {
            Some(g) => self.sim.generate_source(src.tenant, g),
            None => Generated {
                group_id: self.sim.create_group(src.tenant, "Guests for Host"),
                user_ids: Vec::new(),
                nested_group_ids: Vec::new(),
                guest_ids: Vec::new(),
            },
        };
        let secret_name = SecretName::parse(&format!("{}-app", spec.name.to_lowercase())).unwrap();
        self.secrets
            .set(
                &secret_name,
                &SecretString::new(spec.secret.unwrap_or(real)),
                None,
            )
            .await
            .unwrap();
        let tenant = SourceTenant {
            tenant_id: src.tenant,
            display_name: spec.name,
            client_id: src.app,
            secret_name: Some(secret_name),
            credential: Default::default(),
            group_id: generated.group_id,
            enabled: true,
            options: spec.options,
            created_at: Utc::now(),
            secret_expires_at: None,
            guard: None,
            cross_tenant: None,
            delta: None,
        };
        self.store.put_tenant(&tenant).await.unwrap();
        Source { tenant, generated }
    }

    /// Host guests whose mail is at the source's domain.
    pub fn host_guests_of(&self, s: &Source) -> Vec<SimUser> {
        let domain = format!("@{}.onmicrosoft.com", s.tenant.display_name.to_lowercase());
        self.sim
            .users(self.host)
            .into_iter()
            .filter(|u| {
                u.str("mail")
                    .is_some_and(|m| m.to_lowercase().ends_with(&domain))
            })
            .collect()
    }
}
