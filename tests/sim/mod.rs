//! Simulator tests over real HTTP: fidelity of answers to Graph's documented
//! shapes (pinned fixtures), tokens bound to their tenant, paging, `$batch`,
//! throttling, faults and determinism, consistency window, photo cool-down,
//! host writes and redemption.
use guest_sync::devtools::sim::SimConfig;
use guest_sync::domain::Guid;
use serde_json::Value;

use crate::support::world::{World, HOST_APP_SECRET};

mod auth;
mod batch;
mod consistency;
mod control;
mod delta;
mod faults;
mod fidelity;
mod paging;
mod policies;
mod relations;
mod secretless;
mod throttling;
mod writes;

pub const HOST_SECRET: &str = HOST_APP_SECRET;
pub const SRC_SECRET: &str = "source-secret";

/// The test world (host app granted [`HOST_PERMS`]) plus a source tenant
/// "Source" (app granted `SOURCE_PERMS`), spoken to over raw HTTP. Derefs to
/// the world (`e.sim`, `e.host`, `e.host_app`).
///
/// [`HOST_PERMS`]: crate::support::perms::HOST_PERMS
pub struct Env {
    pub world: World,
    pub http: reqwest::Client,
    pub src: Guid,
    pub src_app: Guid,
}

impl std::ops::Deref for Env {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

pub async fn env(cfg: SimConfig) -> Env {
    let world = World::builder().sim(cfg).build().await;
    let src = world.source_app("Source", SRC_SECRET);
    Env {
        world,
        http: reqwest::Client::new(),
        src: src.tenant,
        src_app: src.app,
    }
}

impl Env {
    pub fn base(&self) -> String {
        self.sim.url().as_str().trim_end_matches('/').to_string()
    }

    /// The raw token answer.
    pub async fn token_response(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base()))
            .form(&[
                ("client_id", client_id),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn token(&self, tenant: Guid, app: Guid, secret: &str) -> String {
        let r = self
            .token_response(&tenant.to_string(), &app.to_string(), secret)
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    pub async fn host_token(&self) -> String {
        self.token(self.host, self.host_app, HOST_SECRET).await
    }
    pub async fn src_token(&self) -> String {
        self.token(self.src, self.src_app, SRC_SECRET).await
    }

    /// A request to `{base}/v1.0/{path}` (or a full URL) with the token.
    pub fn req(&self, method: reqwest::Method, tok: &str, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/v1.0/{path}", self.base())
        };
        self.http
            .request(method, url)
            .bearer_auth(tok)
            .header("ConsistencyLevel", "eventual")
    }

    pub async fn get(&self, tok: &str, path: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::GET, tok, path)
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn invite(&self, tok: &str, address: &str) -> (u16, Value) {
        let r = self
            .req(reqwest::Method::POST, tok, "invitations")
            .json(&serde_json::json!({
                "invitedUserEmailAddress": address,
                "inviteRedirectUrl": "https://myapplications.microsoft.com",
                "invitedUserDisplayName": "Invited Person",
                "sendInvitationMessage": false,
                "invitedUserType": "Guest"
            }))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, r.json().await.unwrap_or(Value::Null))
    }
}

/// Loads a pinned fixture from tests/fixtures/graph.
pub fn fixture(name: &str) -> Value {
    let p = format!("{}/tests/fixtures/graph/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Compares shapes: same object keys, same JSON types, recursively (arrays
/// by their first element). A `null` in the fixture accepts anything.
pub fn assert_same_shape(fixture: &Value, actual: &Value, path: &str) {
    match (fixture, actual) {
        (Value::Null, _) => {}
        (Value::Object(f), Value::Object(a)) => {
            let fk: std::collections::BTreeSet<_> = f.keys().collect();
            let ak: std::collections::BTreeSet<_> = a.keys().collect();
            assert_eq!(fk, ak, "keys differ at {path}");
            for (k, v) in f {
                assert_same_shape(v, &a[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(f), Value::Array(a)) => {
            if let (Some(x), Some(y)) = (f.first(), a.first()) {
                assert_same_shape(x, y, &format!("{path}[0]"));
            }
        }
        (Value::String(_), Value::String(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        (f, a) => panic!("type differs at {path}: fixture {f} vs actual {a}"),
    }
}
