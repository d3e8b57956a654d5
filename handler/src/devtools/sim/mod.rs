//! A stateful Microsoft Graph + Entra token simulator.
//!
//! One axum server on 127.0.0.1 serves the token authority
//! (`POST /{tenant}/oauth2/v2.0/token`), Graph (`/v1.0/...`) and a control
//! interface (`/_sim/...`). It holds several tenants (sources and a host) in
//! memory and behaves like Graph does as described under "Graph facts" in
//! `docs/graph-client.md`: tokens bound
//! to their tenant and app, Graph's JSON and error shapes, paging by
//! `@odata.nextLink`, `$select`/`$filter`/`$batch`, throttling as real token
//! buckets, latency, eventual-consistency 404s, the photo cool-down and
//! injectable faults, all scaled by one time factor and deterministic for a
//! given seed. `docs/simulator.md` documents the behaviour and the Rust API
//! (its "Rust API" section lists the names tests and the demo rely on).
//!
//! # Layout
//! - [`model`]: the in-memory directory (tenants, apps, users, groups, deleted
//!   items, indexes, cached transitive closures) and the simulated clock.
//! - [`generate`]: source tenant generation ([`GenerateSpec`]).
//! - [`token`]: the token endpoint and its AADSTS errors (client secrets
//!   and federated `client_assertion`s).
//! - [`identity`]: the managed-identity endpoint and the admin-consent URL.
//! - [`tls`]: the optional https listener (same routes, a throw-away CA).
//! - [`http`]: the router, the request/answer types shared by plain calls and
//!   `$batch` sub-requests, Graph's error shape and common headers.
//! - [`graph`]: the Graph routes.
//! - [`query`]: `$select`, `$top`, `$filter` parsing and evaluation.
//! - [`batch`]: `POST /v1.0/$batch`.
//! - [`throttle`]: Graph's throttle budgets as token buckets.
//! - [`faults`]: latency and injected faults from a seeded RNG.
//! - [`counts`]: request counters ([`SimCounts`]).
//! - [`control`]: the `/_sim` HTTP control interface.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};

use crate::domain::Guid;

mod batch;
mod control;
mod counts;
mod faults;
mod generate;
mod graph;
mod http;
mod identity;
mod model;
mod query;
mod throttle;
mod tls;
mod token;

pub use counts::SimCounts;
pub use faults::{Faults, LatencyModel};
pub use generate::{GenerateSpec, Generated};
pub use model::{
    NewUser, SimCrossTenant, SimError, SimIdentity, SimPolicies, SimUser, HOST_APP_ROLES,
    SOURCE_APP_ROLES,
};

/// How the simulator behaves. Durations are *unscaled* (as Graph would show
/// them at `time_scale` 1.0); the simulator divides them by `time_scale`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seeds all randomness (generation, ids, tokens, faults, latency
    /// jitter): the same seed and the same request sequence give the same
    /// answers.
    pub seed: u64,
    /// 1.0 = real time; 10.0 = everything 10x faster (buckets, latency,
    /// cool-downs, token lifetime, consistency delay, `Retry-After`).
    pub time_scale: f64,
    /// Graph's budgets (`docs/graph-client.md`, "Throttling budgets") as
    /// real token buckets.
    pub throttling: bool,
    /// Per-request latency (unscaled).
    pub latency: LatencyModel,
    /// Injected faults on Graph calls.
    pub faults: Faults,
    /// Fresh objects answer 404 to reads/PATCH/photo calls this long after
    /// creation (unscaled milliseconds).
    pub consistency_window_ms: u64,
    /// `PUT photo` on a guest younger than this fails (unscaled seconds).
    pub photo_cooldown_secs: u64,
    /// Lifetime of issued tokens (unscaled seconds; `expires_in` is reported
    /// in scaled seconds, i.e. what the client's clock will see).
    pub token_lifetime_secs: u64,
}

impl Default for SimConfig {
    /// Realistic but test-friendly: throttling on, no faults, ~5 ms latency,
    /// real time, 2 s consistency window, 5 min photo cool-down.
    fn default() -> Self {
        SimConfig {
            seed: 42,
            time_scale: 1.0,
            throttling: true,
            latency: LatencyModel {
                base_ms: 5,
                jitter_ms: 3,
            },
            faults: Faults::default(),
            consistency_window_ms: 2_000,
            photo_cooldown_secs: 300,
            token_lifetime_secs: 3599,
        }
    }
}

impl SimConfig {
    /// For tests: no latency, no faults, no consistency delay, no photo
    /// cool-down, throttling on, time_scale 1000. The token lifetime is set
    /// so that tokens live about an hour of *real* time.
    pub fn fast() -> Self {
        SimConfig {
            seed: 42,
            time_scale: 1000.0,
            throttling: true,
            latency: LatencyModel {
                base_ms: 0,
                jitter_ms: 0,
            },
            faults: Faults::default(),
            consistency_window_ms: 0,
            photo_cooldown_secs: 0,
            token_lifetime_secs: 3_600_000,
        }
    }
}

/// Settings that can change while the simulator runs.
#[derive(Debug, Clone)]
pub(crate) struct Dynamic {
    pub faults: Faults,
    pub throttling: bool,
    pub latency: LatencyModel,
    pub consistency_window_ms: u64,
    pub photo_cooldown_secs: u64,
    /// How long a delta token stays valid (simulated seconds; Graph: 7 days).
    pub delta_token_lifetime_secs: f64,
}

/// Graph's delta token lifetime for directory objects: seven days.
pub const DELTA_TOKEN_LIFETIME_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// Shared state behind every clone of [`Sim`] and every request handler.
pub(crate) struct Inner {
    pub cfg: SimConfig,
    pub dynamic: RwLock<Dynamic>,
    pub world: Mutex<model::World>,
    pub clock: model::Clock,
    pub url: url::Url,
    /// The https listener, once [`Sim::serve_tls`] started it.
    pub tls: tokio::sync::OnceCell<tls::TlsInfo>,
}

impl Inner {
    /// Locks the directory. A poisoned lock (a panic elsewhere) is taken
    /// over: the simulator keeps answering.
    pub fn world(&self) -> MutexGuard<'_, model::World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }
    pub fn dynamic(&self) -> Dynamic {
        self.dynamic
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A running simulator. Cheap to clone (an `Arc` inside); the server runs
/// until the tokio runtime that started it ends.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim").field("url", &self.inner.url).finish()
    }
}

/// Logs a failed control call on the infallible API (unknown tenant, user...).
fn logged<T>(r: Result<T, SimError>, fallback: T) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e.log_safe(), "simulator control call ignored");
            fallback
        }
    }
}

impl Sim {
    /// Starts the simulator on 127.0.0.1 with an OS-chosen port.
    pub async fn start(cfg: SimConfig) -> std::io::Result<Sim> {
        Self::start_on(cfg, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the simulator on the given address (`guest-sync sim serve`).
    pub async fn start_on(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let url = url::Url::parse(&format!("http://{local}"))
            .map_err(|e| std::io::Error::other(format!("bad listen address {local}: {e}")))?;
        let scale = if cfg.time_scale.is_finite() && cfg.time_scale > 0.0 {
            cfg.time_scale
        } else {
            1.0
        };
        let mut cfg = cfg;
        cfg.time_scale = scale;
        let inner = Arc::new(Inner {
            dynamic: RwLock::new(Dynamic {
                faults: cfg.faults.clone(),
                throttling: cfg.throttling,
                latency: cfg.latency.clone(),
                consistency_window_ms: cfg.consistency_window_ms,
                photo_cooldown_secs: cfg.photo_cooldown_secs,
                delta_token_lifetime_secs: DELTA_TOKEN_LIFETIME_SECS,
            }),
            world: Mutex::new(model::World::new(cfg.seed)),
            clock: model::Clock::new(scale),
            url,
            tls: tokio::sync::OnceCell::new(),
            cfg,
        });
        {
            let mut w = inner.world();
            let h = w.hex(32);
            w.identity.header = format!("sim-identity-{h}");
        }
        let app = http::router(inner.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        tracing::info!(port = local.port(), "graph simulator listening");
        Ok(Sim { inner })
    }

    /// `http://127.0.0.1:port`: the Graph base URL AND the authority URL.
    pub fn url(&self) -> url::Url {
        self.inner.url.clone()
    }

    /// The configuration the simulator started with.
    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, f: Faults) {
        if let Ok(mut d) = self.inner.dynamic.write() {
            d.faults = f;
        }
    }

    /// Turns throttling on or off.
    pub fn set_throttling(&self, on: bool) {
        if let Ok(mut d) = self.inner.dynamic.write() {
            d.throttling = on;
        }
    }

    /// Replaces the latency model.
    pub fn set_latency(&self, l: LatencyModel) {
        if let Ok(mut d) = self.inner.dynamic.write() {
            d.latency = l;
        }
    }

    /// Changes the consistency window (unscaled ms) for objects checked from now on.
    pub fn set_consistency_window_ms(&self, ms: u64) {
        if let Ok(mut d) = self.inner.dynamic.write() {
            d.consistency_window_ms = ms;
        }
    }

    /// Changes the photo cool-down (unscaled seconds).
    pub fn set_photo_cooldown_secs(&self, secs: u64) {
        if let Ok(mut d) = self.inner.dynamic.write() {
            d.photo_cooldown_secs = secs;
        }
    }

    /// Changes how long delta tokens stay valid (simulated seconds; the
    /// default is Graph's seven days). Older tokens answer 410 Gone
    /// `syncStateNotFound`.
    pub fn set_delta_token_lifetime_secs(&self, secs: f64) {
        if let Ok(mut d) = self.inner.dynamic.write() {
            d.delta_token_lifetime_secs = secs;
        }
    }

    /// Expires every delta token (nextLinks and deltaLinks) issued so far
    /// for `tenant_id`: their next use answers 410 Gone `syncStateNotFound`,
    /// as when Graph loses a tenant's sync state.
    pub fn expire_delta_tokens(&self, tenant_id: Guid) {
        let r = self
            .inner
            .world()
            .tenant_mut(tenant_id)
            .map(|t| t.changes.epoch += 1);
        logged(r, ())
    }

    /// Moves the simulated clock forward by `secs` simulated seconds (token
    /// expiry, buckets, cool-downs, consistency windows) without waiting.
    pub fn advance(&self, secs: f64) {
        self.inner.clock.advance(secs);
    }

    /// Places the simulated time line so that its start reads `t` on the
    /// simulator's wall clock (the times it stamps: `createdDateTime`,
    /// redemptions). The demo sets it in the past to simulate history.
    pub fn set_start_wall(&self, t: chrono::DateTime<chrono::Utc>) {
        self.inner.clock.set_start_wall(t);
    }

    /// The simulator's wall-clock time now (its start plus [`Sim::now_secs`]).
    pub fn wall_now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.wall(self.inner.clock.now())
    }

    /// Simulated seconds since start (scaled wall time plus [`Sim::advance`]).
    pub fn now_secs(&self) -> f64 {
        self.inner.clock.now()
    }

    // ---- tenants and apps

    /// Adds a tenant (`initial_domain` like `contoso.onmicrosoft.com`). Adding
    /// an existing tenant again updates its names.
    pub fn add_tenant(&self, tenant_id: Guid, display_name: &str, initial_domain: &str) {
        self.inner
            .world()
            .add_tenant(tenant_id, display_name, initial_domain);
    }

    /// Registers (or replaces) an app with one secret and the application
    /// permissions granted to it in that tenant.
    pub fn register_app(
        &self,
        tenant_id: Guid,
        client_id: Guid,
        secret: &str,
        permissions: &[&str],
    ) {
        let r = self
            .inner
            .world()
            .register_app(tenant_id, client_id, secret, permissions);
        logged(r, ())
    }

    /// Marks the app's secret expired: token requests answer AADSTS7000222.
    pub fn expire_app_secret(&self, tenant_id: Guid, client_id: Guid) {
        let r = self.inner.world().expire_app_secret(tenant_id, client_id);
        logged(r, ())
    }

    /// When on, photo-less users of this tenant answer the photo metadata
    /// with Graph's 1x1 placeholder (200, empty media ETag) instead of 404.
    pub fn photo_placeholders(&self, tenant_id: Guid, on: bool) {
        let r = self.inner.world().photo_placeholders(tenant_id, on);
        logged(r, ())
    }

    /// Registers a directory extension property (`extension_<appId>_<name>`)
    /// in this tenant, as `POST /applications/{id}/extensionProperties`
    /// does: until then PATCHing it is refused with 400, as in Graph.
    pub fn register_extension(&self, tenant_id: Guid, name: &str) {
        let r = self
            .inner
            .world()
            .register_extension(tenant_id, name, false);
        logged(r, ())
    }

    /// Registers a directory extension that can be read but not written
    /// (PATCH answers 400 read-only, as for attributes synced from
    /// on-premises).
    pub fn register_read_only_extension(&self, tenant_id: Guid, name: &str) {
        let r = self.inner.world().register_extension(tenant_id, name, true);
        logged(r, ())
    }

    /// Replaces the tenant's policies (authorization policy, photo update
    /// settings, cross-tenant access) that `guest-sync doctor` reads.
    pub fn set_policies(&self, tenant_id: Guid, p: SimPolicies) {
        let r = self
            .inner
            .world()
            .tenant_mut(tenant_id)
            .map(|t| t.policies = p);
        logged(r, ())
    }

    /// The tenant's policies (the default ones for an unknown tenant).
    pub fn policies(&self, tenant_id: Guid) -> SimPolicies {
        self.inner
            .world()
            .tenant(tenant_id)
            .map(|t| t.policies.clone())
            .unwrap_or_default()
    }

    /// When on, app-only invitations into this tenant are refused (403).
    pub fn restrict_invitations(&self, host_tenant: Guid, on: bool) {
        let r = self.inner.world().restrict_invitations(host_tenant, on);
        logged(r, ())
    }

    // ---- secretless sign-in (model/identity.rs, identity.rs, tls.rs)

    /// Starts (once) an https listener on 127.0.0.1 serving the same routes
    /// with a certificate from a throw-away CA ([`Sim::tls_ca_pem`]), for
    /// clients that insist on https (`azure_identity`'s credentials refuse
    /// an http authority). Returns its URL, `https://127.0.0.1:port`.
    pub async fn serve_tls(&self) -> std::io::Result<url::Url> {
        let inner = self.inner.clone();
        let info = self.inner.tls.get_or_try_init(|| tls::serve(inner)).await?;
        Ok(info.url.clone())
    }

    /// The https URL, once [`Sim::serve_tls`] started the listener.
    pub fn https_url(&self) -> Option<url::Url> {
        self.inner.tls.get().map(|t| t.url.clone())
    }

    /// The PEM of the CA that signed the https listener's certificate.
    pub fn tls_ca_pem(&self) -> Option<String> {
        self.inner.tls.get().map(|t| t.ca_pem.clone())
    }

    /// Creates the function app's user-assigned managed identity in `tenant`
    /// (the host); `roles` are the Graph application roles assigned to its
    /// service principal there, so its own Graph tokens carry them.
    pub fn add_managed_identity(&self, tenant: Guid, roles: &[&str]) -> SimIdentity {
        let r = self.inner.world().add_managed_identity(tenant, roles);
        let nil = Guid::from_uuid(uuid::Uuid::nil());
        logged(
            r,
            SimIdentity {
                tenant,
                client_id: nil,
                principal_id: nil,
            },
        )
    }

    /// `IDENTITY_ENDPOINT` for the managed identities (`{url}/msi/token`,
    /// plain http as on App Service, where it is a local endpoint).
    pub fn identity_endpoint(&self) -> String {
        format!(
            "{}/msi/token",
            self.inner.url.as_str().trim_end_matches('/')
        )
    }

    /// `IDENTITY_HEADER`: the value the identity endpoint requires in
    /// `X-IDENTITY-HEADER`.
    pub fn identity_header(&self) -> String {
        self.inner.world().identity.header.clone()
    }

    /// Registers the multi-tenant app of secretless source tenants in `host`
    /// (no secret; it requires GroupMember.Read.All and User.Read.All).
    /// `trusted_identity` (a managed identity's principal id) adds a
    /// federated identity credential trusting it; None = it trusts nobody.
    /// Returns the app (client) id.
    pub fn add_federated_app(&self, host: Guid, trusted_identity: Option<Guid>) -> Guid {
        let r = self.inner.world().add_federated_app(host, trusted_identity);
        logged(r, Guid::from_uuid(uuid::Uuid::nil()))
    }

    /// Adds a federated credential trusting the identity `principal_id` to
    /// the multi-tenant app `app_id`.
    pub fn trust_identity(&self, app_id: Guid, principal_id: Guid) {
        let r = self.inner.world().trust_identity(app_id, principal_id);
        logged(r, ())
    }

    /// An administrator of `tenant` grants admin consent to the
    /// multi-tenant app (as opening the admin-consent URL and accepting).
    pub fn grant_admin_consent(&self, tenant: Guid, app_id: Guid) {
        let r = self.inner.world().grant_admin_consent(tenant, app_id);
        logged(r, ())
    }

    /// Removes the app's service principal from `tenant` (consent revoked).
    pub fn revoke_consent(&self, tenant: Guid, app_id: Guid) {
        let r = self.inner.world().revoke_consent(tenant, app_id);
        logged(r, ())
    }

    /// Whether `tenant` has consented to `app_id` (its service principal
    /// exists there with permissions).
    pub fn has_consented(&self, tenant: Guid, app_id: Guid) -> bool {
        self.inner
            .world()
            .tenants
            .get(&tenant)
            .and_then(|t| t.apps.get(&app_id))
            .is_some_and(|a| !a.permissions.is_empty())
    }

    // ---- source generation and mutation

    /// Generates a source population under one new group (nested groups
    /// included). Creates the tenant if unknown (domain `<id8>.onmicrosoft.com`).
    pub fn generate_source(&self, tenant_id: Guid, spec: &GenerateSpec) -> Generated {
        let now = self.inner.clock.now();
        let mut w = self.inner.world();
        generate::generate(&mut w, tenant_id, spec, now)
    }

    /// Creates a user; returns its id (the nil id, logged, if the tenant is unknown or the UPN taken).
    pub fn create_user(&self, tenant_id: Guid, u: NewUser) -> Guid {
        let now = self.inner.clock.now();
        let wall = self.inner.clock.wall(now);
        let mut w = self.inner.world();
        let r = w.create_user(tenant_id, u, now);
        if let Ok(id) = r {
            w.stamp_created(tenant_id, id, wall);
        }
        logged(r, Guid::from_uuid(uuid::Uuid::nil()))
    }

    /// Creates a security group; returns its id.
    pub fn create_group(&self, tenant_id: Guid, display_name: &str) -> Guid {
        let now = self.inner.clock.now();
        let r = self
            .inner
            .world()
            .create_group(tenant_id, display_name, now);
        logged(r, Guid::from_uuid(uuid::Uuid::nil()))
    }

    /// Adds a user or group as a direct member (no-op if already a member).
    pub fn add_member(&self, tenant_id: Guid, group_id: Guid, member_id: Guid) {
        let r = self
            .inner
            .world()
            .add_member(tenant_id, group_id, member_id)
            .map(|_| ());
        logged(r, ())
    }

    /// Removes a direct member.
    pub fn remove_member(&self, tenant_id: Guid, group_id: Guid, member_id: Guid) {
        let r = self
            .inner
            .world()
            .remove_member(tenant_id, group_id, member_id)
            .map(|_| ());
        logged(r, ())
    }

    /// Merges `patch` into the user's attributes (a `null` removes one).
    pub fn update_user(
        &self,
        tenant_id: Guid,
        user_id: Guid,
        patch: serde_json::Map<String, serde_json::Value>,
    ) {
        let r = self.inner.world().update_user(tenant_id, user_id, patch);
        logged(r, ())
    }

    /// Sets the user's photo (JPEG assumed); a new media ETag each time.
    pub fn set_photo(&self, tenant_id: Guid, user_id: Guid, bytes: Vec<u8>) {
        let r = self
            .inner
            .world()
            .set_photo(tenant_id, user_id, bytes.into(), "image/jpeg");
        logged(r, ())
    }

    /// Sets a photo of another type (`image/png`, ...): Graph stores what
    /// Exchange or a user uploaded; only the host's PUT insists on JPEG.
    pub fn set_photo_as(&self, tenant_id: Guid, user_id: Guid, bytes: Vec<u8>, content_type: &str) {
        let r = self
            .inner
            .world()
            .set_photo(tenant_id, user_id, bytes.into(), content_type);
        logged(r, ())
    }

    /// Removes the user's photo.
    pub fn remove_photo(&self, tenant_id: Guid, user_id: Guid) {
        let r = self
            .inner
            .world()
            .remove_photo(tenant_id, user_id)
            .map(|_| ());
        logged(r, ())
    }

    /// Soft-deletes a user (to deleted items).
    pub fn delete_user(&self, tenant_id: Guid, user_id: Guid) {
        let now = self.inner.clock.now();
        let wall = self.inner.clock.wall(now);
        let r = self
            .inner
            .world()
            .delete_user(tenant_id, user_id, wall)
            .map(|_| ());
        logged(r, ())
    }

    /// Sets (Some) or clears (None) the user's `manager`.
    pub fn set_manager(&self, tenant_id: Guid, user_id: Guid, manager: Option<Guid>) {
        let mut w = self.inner.world();
        let r = w.tenant_mut(tenant_id).map(|t| {
            t.set_manager(user_id, manager);
        });
        logged(r, ())
    }

    /// Adds a sponsor to the user, as a host administrator would.
    pub fn add_sponsor(&self, tenant_id: Guid, user_id: Guid, sponsor: Guid) {
        let mut w = self.inner.world();
        let r = w.tenant_mut(tenant_id).map(|t| {
            t.sponsors.entry(user_id).or_default().insert(sponsor);
        });
        logged(r, ())
    }

    /// Makes `user_id` an owner of the group (no-op if already one).
    pub fn add_group_owner(&self, tenant_id: Guid, group_id: Guid, user_id: Guid) {
        let mut w = self.inner.world();
        let r = w.tenant_mut(tenant_id).map(|t| {
            t.owners.entry(group_id).or_default().insert(user_id);
        });
        logged(r, ())
    }

    /// Removes `user_id` from the group's owners.
    pub fn remove_group_owner(&self, tenant_id: Guid, group_id: Guid, user_id: Guid) {
        let mut w = self.inner.world();
        let r = w.tenant_mut(tenant_id).map(|t| {
            if let Some(o) = t.owners.get_mut(&group_id) {
                o.remove(&user_id);
            }
        });
        logged(r, ())
    }

    // ---- inspection and host mutation

    /// The user's `manager`, if set.
    pub fn manager(&self, tenant_id: Guid, user_id: Guid) -> Option<Guid> {
        let mut w = self.inner.world();
        w.tenant_mut(tenant_id)
            .ok()
            .and_then(|t| t.managers.get(&user_id).copied())
    }

    /// The user's `sponsors` (ids, ordered).
    pub fn sponsors(&self, tenant_id: Guid, user_id: Guid) -> Vec<Guid> {
        let mut w = self.inner.world();
        w.tenant_mut(tenant_id)
            .ok()
            .and_then(|t| t.sponsors.get(&user_id))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    /// One live user, with all attributes and the photo.
    pub fn user(&self, tenant_id: Guid, user_id: Guid) -> Option<SimUser> {
        self.inner.world().sim_user(tenant_id, user_id, false)
    }

    /// One soft-deleted user.
    pub fn deleted_user(&self, tenant_id: Guid, user_id: Guid) -> Option<SimUser> {
        self.inner.world().sim_user(tenant_id, user_id, true)
    }

    /// All live users of the tenant, ordered by id.
    pub fn users(&self, tenant_id: Guid) -> Vec<SimUser> {
        self.inner.world().sim_users(tenant_id, false)
    }

    /// All soft-deleted users of the tenant, ordered by id.
    pub fn deleted_users(&self, tenant_id: Guid) -> Vec<SimUser> {
        self.inner.world().sim_users(tenant_id, true)
    }

    /// Direct members (users and groups) of a group, ordered by id.
    pub fn group_members(&self, tenant_id: Guid, group_id: Guid) -> Vec<Guid> {
        self.inner.world().group_members(tenant_id, group_id)
    }

    /// Live user members of a group, transitively, ordered by id.
    pub fn transitive_user_members(&self, tenant_id: Guid, group_id: Guid) -> Vec<Guid> {
        let mut w = self.inner.world();
        match w.tenant_mut(tenant_id) {
            Ok(t) => t.closure(group_id).map(|c| c.to_vec()).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Redeems a guest's invitation: `externalUserState` Accepted with a
    /// change date, and the display name overwritten from the home profile
    /// (the source user with that address, else the address's local part).
    pub fn redeem(&self, host_tenant: Guid, user_id: Guid) {
        let now = self.inner.clock.now();
        let wall = self.inner.clock.wall(now);
        let r = self.inner.world().redeem(host_tenant, user_id, wall);
        logged(r, ())
    }

    /// Creates a pre-existing guest (for adoption tests) as an invitation
    /// would, still PendingAcceptance; it counts as old, so it is past the
    /// consistency window and the photo cool-down.
    pub fn create_guest(&self, host_tenant: Guid, mail: &str, display_name: &str) -> Guid {
        let r = self
            .inner
            .world()
            .create_guest(host_tenant, mail, display_name, f64::NEG_INFINITY);
        logged(r, Guid::from_uuid(uuid::Uuid::nil()))
    }

    // ---- counters

    /// A snapshot of the request counters.
    pub fn counts(&self) -> SimCounts {
        self.inner.world().counts.clone()
    }

    /// [`SimCounts::writes_ok`] without copying the counters.
    pub fn writes_ok(&self) -> u64 {
        self.inner.world().counts.writes_ok()
    }

    /// Zeroes the counters.
    pub fn reset_counts(&self) {
        self.inner.world().counts = SimCounts::default();
    }
}
