//! A test world: the Graph simulator with one host tenant and any number of
//! source tenants, a SQLite store and a local secrets file in a temporary
//! directory, and the real orchestrator built from them exactly as the
//! handler builds it.
use std::sync::Arc;

use guest_sync::app::App;
use guest_sync::devtools::sim::{GenerateSpec, Generated, Sim, SimConfig};
use guest_sync::domain::{Guid, SecretName, SourceTenant, TenantOptions};
use guest_sync::graph::{GraphClient, GraphConfig};
use guest_sync::secrets::local::LocalFileSource;
use guest_sync::secrets::{SecretSource, SecretString};
use guest_sync::settings::Settings;
use guest_sync::store::Store;

pub const HOST_PERMS: &[&str] = &["User.Invite.All", "User.ReadWrite.All"];
pub const SOURCE_PERMS: &[&str] = &["GroupMember.Read.All", "User.Read.All"];

pub struct World {
    pub sim: Sim,
    pub host: Guid,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretSource>,
    pub settings: Arc<Settings>,
    /// Holds the SQLite store and the secrets file.
    _dir: tempfile::TempDir,
}

/// A registered source tenant and what the simulator generated for it.
pub struct Source {
    pub tenant: SourceTenant,
    pub generated: Generated,
}

impl World {
    /// A world on a simulator with `cfg`; `budget_secs` is the job budget.
    pub async fn new(cfg: SimConfig, budget_secs: u64) -> World {
        let sim = Sim::start(cfg).await.unwrap();
        let host = Guid::new_v4();
        let host_app = Guid::new_v4();
        sim.add_tenant(host, "Host", "host.onmicrosoft.com");
        sim.register_app(host, host_app, "host-secret-value-1", HOST_PERMS);
        let dir = tempfile::tempdir().unwrap();
        let url = sim.url().to_string();
        let vars = [
            ("GUESTSYNC_HOST_TENANT_ID", host.to_string()),
            ("GUESTSYNC_HOST_CLIENT_ID", host_app.to_string()),
            ("GUESTSYNC_HOST_SECRET_NAME", "host-secret".to_string()),
            (
                "GUESTSYNC_STORE",
                format!("sqlite:{}", dir.path().join("gs.db").display()),
            ),
            (
                "GUESTSYNC_LOCAL_SECRETS",
                dir.path().join("secrets.json").display().to_string(),
            ),
            ("GUESTSYNC_GRAPH_URL", url.clone()),
            ("GUESTSYNC_AUTHORITY_URL", url),
            ("GUESTSYNC_JOB_BUDGET_SECS", budget_secs.to_string()),
            ("GUESTSYNC_MAX_DEPROVISIONS", "50%".to_string()),
        ];
        let settings = Arc::new(
            Settings::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                .unwrap(),
        );
        let store = guest_sync::store::open(&settings.store).await.unwrap();
        let secrets: Arc<dyn SecretSource> =
            Arc::new(LocalFileSource::new(settings.local_secrets.clone()));
        secrets
            .set(
                &settings.host_secret_name,
                &SecretString::new("host-secret-value-1"),
                None,
            )
            .await
            .unwrap();
        World {
            sim,
            host,
            store,
            secrets,
            settings,
            _dir: dir,
        }
    }

    /// The Graph client as the handler builds it, at the simulator's scale.
    pub fn graph(&self) -> GraphClient {
        let mut cfg = GraphConfig::from_settings(&self.settings)
            .with_time_scale(self.sim.config().time_scale);
        cfg.max_retries = 3;
        GraphClient::new(cfg).unwrap()
    }

    /// The real app over this world, as the composition root builds it.
    pub fn app(&self) -> Arc<App> {
        Arc::new(App::from_parts(
            self.settings.clone(),
            self.store.clone(),
            self.secrets.clone(),
            self.graph(),
        ))
    }

    /// Generates and registers a source tenant. `secret` is what the
    /// secrets file holds for it (a wrong one makes the tenant fail).
    pub async fn add_source(&self, name: &str, spec: &GenerateSpec, secret: &str) -> Source {
        let tid = Guid::new_v4();
        let app = Guid::new_v4();
        let domain = format!("{}.onmicrosoft.com", name.to_lowercase());
        self.sim.add_tenant(tid, name, &domain);
        self.sim
            .register_app(tid, app, &format!("{name}-real-secret"), SOURCE_PERMS);
        let generated = self.sim.generate_source(tid, spec);
        let secret_name = SecretName::parse(&format!("{}-app", name.to_lowercase())).unwrap();
        self.secrets
            .set(&secret_name, &SecretString::new(secret), None)
            .await
            .unwrap();
        let tenant = SourceTenant {
            tenant_id: tid,
            display_name: name.to_string(),
            client_id: app,
            secret_name,
            group_id: generated.group_id,
            enabled: true,
            options: TenantOptions {
                photo_cooldown_secs: 0,
                ..TenantOptions::default()
            },
            created_at: chrono::Utc::now(),
            secret_expires_at: None,
            guard: None,
        };
        self.store.put_tenant(&tenant).await.unwrap();
        Source { tenant, generated }
    }

    /// The right secret for a source added with [`World::add_source`].
    pub fn secret_for(name: &str) -> String {
        format!("{name}-real-secret")
    }

    /// Host guests whose mail is one of the source's users' addresses.
    pub fn host_guests_of(&self, s: &Source) -> Vec<guest_sync::devtools::sim::SimUser> {
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
