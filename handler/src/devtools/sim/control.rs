//! The `/_sim` control interface: JSON endpoints mirroring the Rust API, for
//! demos and external tools (generate, mutate, inspect, counts, faults,
//! throttling, clock). Not authenticated: the simulator binds 127.0.0.1 only.
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::model::{NewUser, SimError};
use super::{Faults, GenerateSpec, Inner, Sim, SimPolicies};
use crate::domain::Guid;

type St = State<Arc<Inner>>;

pub(crate) fn router() -> Router<Arc<Inner>> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/counts", get(counts))
        .route("/counts/reset", post(reset_counts))
        .route("/faults", put(set_faults))
        .route("/throttling", put(set_throttling))
        .route("/clock/advance", post(advance))
        .route("/tenants", get(list_tenants).post(add_tenant))
        .route("/tenants/{t}/apps", post(register_app))
        .route("/tenants/{t}/identities", post(add_identity))
        .route("/tenants/{t}/federated-apps", post(add_federated_app))
        .route("/tenants/{t}/consents", post(grant_consent))
        .route("/tenants/{t}/consents/{a}", delete(revoke_consent))
        .route("/identity", get(identity_info))
        .route("/tenants/{t}/apps/{c}/expire-secret", post(expire_secret))
        .route("/tenants/{t}/restrict-invitations", put(restrict))
        .route("/tenants/{t}/delta/expire", post(expire_delta))
        .route("/tenants/{t}/policies", get(policies).put(set_policies))
        .route("/tenants/{t}/generate", post(generate))
        .route("/tenants/{t}/users", get(users).post(create_user))
        .route("/tenants/{t}/deleted-users", get(deleted_users))
        .route(
            "/tenants/{t}/users/{u}",
            get(user).patch(update_user).delete(delete_user),
        )
        .route(
            "/tenants/{t}/users/{u}/photo",
            put(set_photo).delete(remove_photo),
        )
        .route("/tenants/{t}/users/{u}/redeem", post(redeem))
        .route("/tenants/{t}/guests", post(create_guest))
        .route("/tenants/{t}/groups", post(create_group))
        .route(
            "/tenants/{t}/groups/{g}/members",
            get(members).post(add_member),
        )
        .route("/tenants/{t}/groups/{g}/members/{m}", delete(remove_member))
}

fn sim(inner: Arc<Inner>) -> Sim {
    Sim { inner }
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

fn sim_err(e: SimError) -> Response {
    err(StatusCode::NOT_FOUND, e.to_string())
}

/// Parses an id from the path; the error is the 400 answer (boxed: it is large).
fn id(s: &str, what: &'static str) -> Result<Guid, Box<Response>> {
    Guid::parse_named(s, what).map_err(|e| Box::new(err(StatusCode::BAD_REQUEST, e.to_string())))
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return *r,
        }
    };
}

async fn counts(State(i): St) -> Response {
    Json(sim(i).counts()).into_response()
}

async fn reset_counts(State(i): St) -> Response {
    sim(i).reset_counts();
    StatusCode::NO_CONTENT.into_response()
}

async fn set_faults(State(i): St, Json(f): Json<Faults>) -> Response {
    sim(i).set_faults(f);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct On {
    on: bool,
}

async fn set_throttling(State(i): St, Json(b): Json<On>) -> Response {
    sim(i).set_throttling(b.on);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Advance {
    secs: f64,
}

async fn advance(State(i): St, Json(b): Json<Advance>) -> Response {
    let s = sim(i);
    s.advance(b.secs);
    Json(json!({"nowSecs": s.now_secs()})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewTenant {
    tenant_id: Guid,
    display_name: String,
    initial_domain: String,
}

async fn list_tenants(State(i): St) -> Response {
    let w = i.world();
    let v: Vec<Value> = w
        .tenants
        .values()
        .map(|t| {
            json!({"tenantId": t.id, "displayName": t.display_name, "initialDomain": t.initial_domain,
                   "users": t.users.len(), "deletedUsers": t.deleted.len(), "groups": t.groups.len(),
                   "apps": t.apps.keys().collect::<Vec<_>>(), "restrictInvitations": t.restrict_invitations})
        })
        .collect();
    Json(v).into_response()
}

async fn add_tenant(State(i): St, Json(b): Json<NewTenant>) -> Response {
    sim(i).add_tenant(b.tenant_id, &b.display_name, &b.initial_domain);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewApp {
    client_id: Guid,
    secret: String,
    #[serde(default)]
    permissions: Vec<String>,
}

async fn register_app(State(i): St, Path(t): Path<String>, Json(b): Json<NewApp>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let perms: Vec<&str> = b.permissions.iter().map(String::as_str).collect();
    match i.world().register_app(t, b.client_id, &b.secret, &perms) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn expire_secret(State(i): St, Path((t, c)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let c = tri!(id(&c, "client id"));
    match i.world().expire_app_secret(t, c) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

/// Expires every delta token of the tenant (their next use: 410 Gone).
async fn expire_delta(State(i): St, Path(t): Path<String>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    match i.world().tenant_mut(t) {
        Ok(tn) => {
            tn.changes.epoch += 1;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => sim_err(e),
    }
}

async fn restrict(State(i): St, Path(t): Path<String>, Json(b): Json<On>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    match i.world().restrict_invitations(t, b.on) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn generate(State(i): St, Path(t): Path<String>, body: Bytes) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let spec: GenerateSpec = if body.is_empty() {
        GenerateSpec::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(s) => s,
            Err(e) => return err(StatusCode::BAD_REQUEST, format!("bad GenerateSpec: {e}")),
        }
    };
    Json(sim(i).generate_source(t, &spec)).into_response()
}

async fn users(State(i): St, Path(t): Path<String>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    Json(sim(i).users(t)).into_response()
}

async fn deleted_users(State(i): St, Path(t): Path<String>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    Json(sim(i).deleted_users(t)).into_response()
}

async fn create_user(State(i): St, Path(t): Path<String>, Json(u): Json<NewUser>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let now = i.clock.now();
    let r = i.world().create_user(t, u, now);
    match r {
        Ok(uid) => (StatusCode::CREATED, Json(json!({"id": uid}))).into_response(),
        Err(e @ SimError::DuplicateUpn { .. }) => err(StatusCode::CONFLICT, e.to_string()),
        Err(e) => sim_err(e),
    }
}

async fn user(State(i): St, Path((t, u)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let u = tri!(id(&u, "user id"));
    let s = sim(i);
    match s.user(t, u).or_else(|| s.deleted_user(t, u)) {
        Some(u) => {
            let mut v = serde_json::to_value(&u).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                m.insert(
                    "photoEtag".into(),
                    u.photo.as_ref().map(|p| json!(p.0)).unwrap_or(Value::Null),
                );
            }
            Json(v).into_response()
        }
        None => err(StatusCode::NOT_FOUND, format!("user {u} not found in {t}")),
    }
}

async fn update_user(
    State(i): St,
    Path((t, u)): Path<(String, String)>,
    Json(p): Json<Map<String, Value>>,
) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let u = tri!(id(&u, "user id"));
    match i.world().update_user(t, u, p) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn delete_user(State(i): St, Path((t, u)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let u = tri!(id(&u, "user id"));
    let wall = i.clock.wall(i.clock.now());
    match i.world().delete_user(t, u, wall) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn set_photo(State(i): St, Path((t, u)): Path<(String, String)>, body: Bytes) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let u = tri!(id(&u, "user id"));
    match i.world().set_photo(t, u, body, "image/jpeg") {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn remove_photo(State(i): St, Path((t, u)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let u = tri!(id(&u, "user id"));
    match i.world().remove_photo(t, u) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn redeem(State(i): St, Path((t, u)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let u = tri!(id(&u, "user id"));
    let wall = i.clock.wall(i.clock.now());
    match i.world().redeem(t, u, wall) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGuest {
    mail: String,
    display_name: String,
}

async fn create_guest(State(i): St, Path(t): Path<String>, Json(b): Json<NewGuest>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let r = i
        .world()
        .create_guest(t, &b.mail, &b.display_name, f64::NEG_INFINITY);
    match r {
        Ok(uid) => (StatusCode::CREATED, Json(json!({"id": uid}))).into_response(),
        Err(e) => sim_err(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewGroup {
    display_name: String,
}

async fn create_group(State(i): St, Path(t): Path<String>, Json(b): Json<NewGroup>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let now = i.clock.now();
    let r = i.world().create_group(t, &b.display_name, now);
    match r {
        Ok(gid) => (StatusCode::CREATED, Json(json!({"id": gid}))).into_response(),
        Err(e) => sim_err(e),
    }
}

async fn members(State(i): St, Path((t, g)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let g = tri!(id(&g, "group id"));
    let s = sim(i);
    Json(json!({"direct": s.group_members(t, g), "transitiveUsers": s.transitive_user_members(t, g)}))
        .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewMember {
    member_id: Guid,
}

async fn add_member(
    State(i): St,
    Path((t, g)): Path<(String, String)>,
    Json(b): Json<NewMember>,
) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let g = tri!(id(&g, "group id"));
    match i.world().add_member(t, g, b.member_id) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn remove_member(State(i): St, Path((t, g, m)): Path<(String, String, String)>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let g = tri!(id(&g, "group id"));
    let m = tri!(id(&m, "member id"));
    match i.world().remove_member(t, g, m) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

async fn policies(State(i): St, Path(t): Path<String>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let r = i.world().tenant(t).map(|x| x.policies.clone());
    match r {
        Ok(p) => Json(p).into_response(),
        Err(e) => sim_err(e),
    }
}

async fn set_policies(State(i): St, Path(t): Path<String>, Json(p): Json<SimPolicies>) -> Response {
    let t = tri!(id(&t, "tenant id"));
    let r = i.world().tenant_mut(t).map(|x| x.policies = p);
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

// ---- secretless sign-in

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewIdentity {
    #[serde(default)]
    roles: Vec<String>,
}

/// `POST /_sim/tenants/{t}/identities {"roles":[…]}`: a user-assigned
/// managed identity in the tenant, its service principal holding the roles.
async fn add_identity(State(i): St, Path(t): Path<String>, Json(b): Json<NewIdentity>) -> Response {
    let t = tri!(id(&t, "tenant"));
    let roles: Vec<&str> = b.roles.iter().map(String::as_str).collect();
    match i.world().add_managed_identity(t, &roles) {
        Ok(idn) => (StatusCode::CREATED, Json(idn)).into_response(),
        Err(e) => sim_err(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewFederatedApp {
    #[serde(default)]
    trusted_identity: Option<Guid>,
}

/// `POST /_sim/tenants/{t}/federated-apps {"trustedIdentity":"<principal id>"}`.
async fn add_federated_app(
    State(i): St,
    Path(t): Path<String>,
    Json(b): Json<NewFederatedApp>,
) -> Response {
    let t = tri!(id(&t, "tenant"));
    match i.world().add_federated_app(t, b.trusted_identity) {
        Ok(app) => (StatusCode::CREATED, Json(json!({"appId": app}))).into_response(),
        Err(e) => sim_err(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Consent {
    app_id: Guid,
}

/// `POST /_sim/tenants/{t}/consents {"appId":"…"}`: admin consent.
async fn grant_consent(State(i): St, Path(t): Path<String>, Json(b): Json<Consent>) -> Response {
    let t = tri!(id(&t, "tenant"));
    match i.world().grant_admin_consent(t, b.app_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

/// `DELETE /_sim/tenants/{t}/consents/{app}`: the service principal removed.
async fn revoke_consent(State(i): St, Path((t, a)): Path<(String, String)>) -> Response {
    let t = tri!(id(&t, "tenant"));
    let a = tri!(id(&a, "app"));
    match i.world().revoke_consent(t, a) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => sim_err(e),
    }
}

/// `GET /_sim/identity`: what a process needs to use the managed
/// identities (`IDENTITY_ENDPOINT`, `IDENTITY_HEADER`), the identities, and
/// the https URL when the listener runs.
async fn identity_info(State(i): St) -> Response {
    let s = sim(i);
    let ids = s.inner.world().identity.identities.clone();
    Json(json!({
        "identityEndpoint": s.identity_endpoint(),
        "identityHeader": s.identity_header(),
        "identities": ids,
        "httpsUrl": s.https_url().map(|u| u.to_string()),
    }))
    .into_response()
}
