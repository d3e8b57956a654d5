//! The simulated tenants: a generated source tenant, a host tenant, each
//! with its app registration; and the churn applied before the third run.
use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use crate::devtools::sim::{
    GenerateSpec, Generated, NewUser, Sim, HOST_APP_ROLES, SOURCE_APP_ROLES,
};
use crate::domain::Guid;

/// The settings a benchmark's local deployment starts from: the host app
/// and its secret name, a SQLite store and a secrets file in `dir`, the
/// simulator as Graph and authority over plain http. Each benchmark adds
/// its own.
pub(crate) fn local_env(
    sim: &Sim,
    (host, host_app): (Guid, Guid),
    host_secret: &str,
    dir: &Path,
) -> BTreeMap<&'static str, String> {
    [
        ("GUESTSYNC_HOST_TENANT_ID", host.to_string()),
        ("GUESTSYNC_HOST_CLIENT_ID", host_app.to_string()),
        ("GUESTSYNC_HOST_SECRET_NAME", host_secret.to_string()),
        (
            "GUESTSYNC_STORE",
            format!("sqlite:{}", dir.join("store.db").display()),
        ),
        (
            "GUESTSYNC_LOCAL_SECRETS",
            dir.join("secrets.json").display().to_string(),
        ),
        ("GUESTSYNC_GRAPH_URL", sim.url().to_string()),
        ("GUESTSYNC_AUTHORITY_URL", sim.url().to_string()),
        ("GUESTSYNC_ALLOW_HTTP", "true".to_string()),
    ]
    .into_iter()
    .collect()
}

/// Opens the benchmark's app over `settings` (the client at `scale`),
/// stores the host's and the source's secrets, and registers `src` with
/// default options; returns the app and the registered tenant.
pub(crate) async fn register(
    settings: crate::settings::Settings,
    scale: f64,
    (host_secret, source_secret): (&str, &str),
    src: &Source,
    display_name: &str,
) -> anyhow::Result<(crate::app::App, crate::domain::SourceTenant)> {
    use anyhow::Context;
    let app = crate::app::App::open_with_graph(settings, |g| g.with_time_scale(scale))
        .await
        .context("opening the benchmark's store, secrets and Graph client")?;
    for name in [host_secret, source_secret] {
        app.secrets
            .set(
                &crate::domain::SecretName::parse(name).context("secret name")?,
                &crate::secrets::SecretString::new(name),
                None,
            )
            .await
            .context("storing a benchmark secret")?;
    }
    let tenant = crate::domain::SourceTenant {
        tenant_id: src.tenant,
        display_name: display_name.into(),
        client_id: src.app,
        secret_name: Some(crate::domain::SecretName::parse(source_secret).context("secret name")?),
        credential: Default::default(),
        group_id: src.generated.group_id,
        enabled: true,
        options: crate::domain::TenantOptions::default(),
        created_at: chrono::Utc::now(),
        secret_expires_at: None,
        guard: None,
        cross_tenant: None,
        delta: None,
    };
    app.store
        .put_tenant(&tenant)
        .await
        .context("registering the source tenant")?;
    Ok((app, tenant))
}

/// The simulator side of one source tenant.
pub(crate) struct Source {
    pub(crate) tenant: Guid,
    pub(crate) app: Guid,
    pub(crate) generated: Generated,
}

pub(crate) fn add_source(sim: &Sim, name: &str, secret: &str, spec: &GenerateSpec) -> Source {
    let tenant = Guid::new_v4();
    let app = Guid::new_v4();
    sim.add_tenant(
        tenant,
        name,
        &format!("{}.onmicrosoft.com", name.to_lowercase()),
    );
    sim.register_app(tenant, app, secret, &SOURCE_APP_ROLES);
    let generated = sim.generate_source(tenant, spec);
    Source {
        tenant,
        app,
        generated,
    }
}

pub(crate) fn add_host(sim: &Sim, name: &str, secret: &str) -> (Guid, Guid) {
    let tenant = Guid::new_v4();
    let app = Guid::new_v4();
    sim.add_tenant(
        tenant,
        name,
        &format!("{}.onmicrosoft.com", name.to_lowercase()),
    );
    sim.register_app(tenant, app, secret, &HOST_APP_ROLES);
    (tenant, app)
}

/// Applies churn to a source: joins (new users added to the scope group),
/// leaves (accounts deleted), renames (display name changed). Returns the
/// three counts.
pub(super) fn churn(sim: &Sim, src: &Source, share: f64, seed: u64) -> (usize, usize, usize) {
    let n = src.generated.user_ids.len();
    let k = ((n as f64) * share.clamp(0.0, 1.0)).round() as usize;
    let joins = k / 3;
    let leaves = k / 3;
    let renames = k - joins - leaves;
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xC4_u64);
    let picked = rand::seq::index::sample(&mut rng, n, (leaves + renames).min(n));
    let picked: Vec<Guid> = picked.iter().map(|i| src.generated.user_ids[i]).collect();
    let (leaving, renamed) = picked.split_at(leaves.min(picked.len()));
    for id in leaving {
        sim.delete_user(src.tenant, *id);
    }
    for id in renamed {
        let mut patch = Map::new();
        patch.insert(
            "displayName".into(),
            Value::String(format!("Renamed {}", rng.gen::<u32>())),
        );
        sim.update_user(src.tenant, *id, patch);
    }
    for i in 0..joins {
        let upn = format!("joiner{i}.{}@{}", rng.gen::<u32>(), "joiners.example");
        let id = sim.create_user(src.tenant, NewUser::simple(&format!("Joiner {i}"), &upn));
        sim.add_member(src.tenant, src.generated.group_id, id);
    }
    (joins, leaves, renamed.len())
}
