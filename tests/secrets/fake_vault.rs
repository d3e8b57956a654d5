//! A local fake of Azure Key Vault's secrets REST API over TLS, plus a fake
//! App Service managed-identity token endpoint, so the real Microsoft SDK
//! (`azure_security_keyvault_secrets` + `azure_identity`) can be exercised
//! end to end without Azure.
//!
//! - The vault answers on `https://guestsync.vault.test:<port>` with a
//!   certificate signed by a throw-away CA; [`FakeVault::client_options`]
//!   gives an `azure_core` transport that trusts that CA and resolves the
//!   name to 127.0.0.1.
//! - Unauthenticated requests get Key Vault's 401 challenge
//!   (`WWW-Authenticate: Bearer authorization="…", resource="https://vault.test"`);
//!   the SDK's challenge policy requires the request host to end with
//!   `.` + the resource's host, which `guestsync.vault.test` satisfies.
//! - Implemented: `GET /secrets/{name}[/{version}]`, `PUT /secrets/{name}`
//!   (both need `api-version`); a disabled secret answers 403 with inner
//!   error `SecretDisabled`, an expired one 403 with `SecretExpired`, an
//!   unknown one 404 `SecretNotFound`, like Key Vault.
//! - The identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, API
//!   version 2019-08-01) issues tokens only for the vault resource, with the
//!   right header, and for the user-assigned client ids it knows.
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use guest_sync::devtools::tls::{ThrowawayCa, TlsListener};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// The host name the fake vault is reached under.
pub const VAULT_HOST: &str = "guestsync.vault.test";
/// The resource the challenge names (its host is a suffix of [`VAULT_HOST`]).
pub const VAULT_RESOURCE: &str = "https://vault.test";

/// One version of a secret.
#[derive(Clone, Debug)]
pub struct Version {
    pub version: String,
    pub value: String,
    pub enabled: bool,
    pub exp: Option<i64>,
    pub created: i64,
}

#[derive(Default)]
struct VaultState {
    secrets: HashMap<String, Vec<Version>>,
    tokens: HashSet<String>,
    /// Client ids of user-assigned identities the identity endpoint serves
    /// (None = a system-assigned identity only).
    known_client_ids: HashSet<String>,
    identity_header: String,
    /// Every request the vault saw: "METHOD path", with whether it carried
    /// a bearer token (for asserting the challenge flow).
    vault_requests: Vec<(String, bool)>,
    token_requests: usize,
    next_version: u64,
}

/// A running fake vault + identity endpoint.
pub struct FakeVault {
    pub vault_url: url::Url,
    pub identity_endpoint: String,
    pub identity_header: String,
    vault_addr: SocketAddr,
    ca_der: Vec<u8>,
    state: Arc<Mutex<VaultState>>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl FakeVault {
    /// Starts the vault (TLS) and the identity endpoint (plain http, as on
    /// App Service where it is a local sidecar).
    pub async fn start() -> FakeVault {
        // A throw-away CA and a leaf for the vault host.
        let ca = ThrowawayCa::new("guest-sync test CA", &[VAULT_HOST]).unwrap();

        let state = Arc::new(Mutex::new(VaultState {
            identity_header: format!("hdr-{}", uuid::Uuid::new_v4()),
            ..Default::default()
        }));

        let vault_app = Router::new()
            .fallback(vault_handler)
            .with_state(state.clone());
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let vault_addr = tcp.local_addr().unwrap();
        let listener = TlsListener::new(tcp, ca.server.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, vault_app).await;
        });

        let mi_app = Router::new()
            .route("/msi/token", get(identity_handler))
            .with_state(state.clone());
        let mi_tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mi_addr = mi_tcp.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(mi_tcp, mi_app).await;
        });

        let identity_header = state.lock().unwrap().identity_header.clone();
        FakeVault {
            vault_url: url::Url::parse(&format!("https://{VAULT_HOST}:{}", vault_addr.port()))
                .unwrap(),
            identity_endpoint: format!("http://{mi_addr}/msi/token"),
            identity_header,
            vault_addr,
            ca_der: ca.ca_der.clone(),
            state,
        }
    }

    /// A reqwest client that trusts the fake CA and resolves the vault host
    /// to the fake vault.
    pub fn http_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_der(&self.ca_der).unwrap()])
            .resolve(VAULT_HOST, self.vault_addr)
            .build()
            .unwrap()
    }

    /// `azure_core` options reaching the fake vault, without retries (so
    /// failure cases answer at once).
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            transport: Some(Transport::new(Arc::new(self.http_client()))),
            retry: RetryOptions::none(),
            ..Default::default()
        }
    }

    /// A vault URL on this host whose port nobody listens on.
    pub async fn unreachable_url() -> url::Url {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        url::Url::parse(&format!("https://{VAULT_HOST}:{port}")).unwrap()
    }

    /// Options whose transport resolves the vault host to `addr_port`.
    pub fn client_options_to_port(&self, port: u16) -> ClientOptions {
        let c = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_der(&self.ca_der).unwrap()])
            .resolve(VAULT_HOST, SocketAddr::from(([127, 0, 0, 1], port)))
            .build()
            .unwrap();
        ClientOptions {
            transport: Some(Transport::new(Arc::new(c))),
            retry: RetryOptions::none(),
            ..Default::default()
        }
    }

    /// Stores a secret version directly (as an admin would in the portal).
    pub fn put(&self, name: &str, value: &str, enabled: bool, exp: Option<i64>) {
        let mut st = self.state.lock().unwrap();
        st.next_version += 1;
        let v = Version {
            version: format!("{:032x}", st.next_version),
            value: value.to_string(),
            enabled,
            exp,
            created: now(),
        };
        st.secrets.entry(name.to_string()).or_default().push(v);
    }

    /// The newest version of a secret.
    pub fn latest(&self, name: &str) -> Option<Version> {
        self.state
            .lock()
            .unwrap()
            .secrets
            .get(name)
            .and_then(|v| v.last().cloned())
    }

    /// Lets the identity endpoint serve this user-assigned client id.
    pub fn allow_client_id(&self, id: &str) {
        self.state
            .lock()
            .unwrap()
            .known_client_ids
            .insert(id.to_string());
    }

    /// Requests the vault saw: ("GET /secrets/x/", had_bearer_token).
    pub fn vault_requests(&self) -> Vec<(String, bool)> {
        self.state.lock().unwrap().vault_requests.clone()
    }

    /// How many tokens the identity endpoint issued.
    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }
}

fn kv_error(status: StatusCode, code: &str, message: &str, inner: Option<&str>) -> Response {
    let mut err = json!({"code": code, "message": message});
    if let Some(i) = inner {
        err["innererror"] = json!({ "code": i });
    }
    (status, Json(json!({ "error": err }))).into_response()
}

fn bundle(vault: &str, name: &str, v: &Version) -> Value {
    let mut attrs = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.created,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": 90,
    });
    if let Some(e) = v.exp {
        attrs["exp"] = json!(e);
    }
    json!({
        "value": v.value,
        "id": format!("{vault}/secrets/{name}/{}", v.version),
        "attributes": attrs,
    })
}

async fn vault_handler(
    State(state): State<Arc<Mutex<VaultState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_string);
    let mut st = state.lock().unwrap();
    st.vault_requests
        .push((format!("{method} {}", uri.path()), token.is_some()));
    let authorised = token.as_ref().is_some_and(|t| st.tokens.contains(t));
    if !authorised {
        let challenge = format!(
            r#"Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="{VAULT_RESOURCE}""#
        );
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", challenge)],
            Json(json!({"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer or PoP token."}})),
        )
            .into_response();
    }
    let has_api_version = uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.starts_with("api-version="));
    if !has_api_version {
        return kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "The api-version query parameter is missing",
            None,
        );
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(VAULT_HOST);
    let vault = format!("https://{host}");
    let parts: Vec<&str> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (method, parts.as_slice()) {
        (Method::GET, ["secrets", name]) | (Method::GET, ["secrets", name, _]) => {
            let wanted = parts.get(2).copied();
            let Some(versions) = st.secrets.get(*name) else {
                return kv_error(
                    StatusCode::NOT_FOUND,
                    "SecretNotFound",
                    &format!("A secret with (name/id) {name} was not found in this key vault."),
                    None,
                );
            };
            let v = match wanted {
                Some(id) => versions.iter().find(|v| v.version == id),
                None => versions.last(),
            };
            let Some(v) = v else {
                return kv_error(
                    StatusCode::NOT_FOUND,
                    "SecretNotFound",
                    &format!("A secret with (name/id) {name} was not found in this key vault."),
                    None,
                );
            };
            if !v.enabled {
                return kv_error(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "Operation get is not allowed on a disabled secret.",
                    Some("SecretDisabled"),
                );
            }
            if v.exp.is_some_and(|e| e <= now()) {
                return kv_error(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    "Operation get is not allowed on an expired secret.",
                    Some("SecretExpired"),
                );
            }
            Json(bundle(&vault, name, v)).into_response()
        }
        (Method::PUT, ["secrets", name]) => {
            let Ok(b) = serde_json::from_slice::<Value>(&body) else {
                return kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "Request body is not JSON",
                    None,
                );
            };
            let Some(value) = b["value"].as_str() else {
                return kv_error(
                    StatusCode::BAD_REQUEST,
                    "BadParameter",
                    "Property value is required",
                    None,
                );
            };
            st.next_version += 1;
            let v = Version {
                version: format!("{:032x}", st.next_version),
                value: value.to_string(),
                enabled: b["attributes"]["enabled"].as_bool().unwrap_or(true),
                exp: b["attributes"]["exp"].as_i64(),
                created: now(),
            };
            let out = bundle(&vault, name, &v);
            st.secrets.entry(name.to_string()).or_default().push(v);
            Json(out).into_response()
        }
        _ => kv_error(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            "Operation not supported by the fake vault",
            None,
        ),
    }
}

async fn identity_handler(
    State(state): State<Arc<Mutex<VaultState>>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut st = state.lock().unwrap();
    let header_ok = headers
        .get("x-identity-header")
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h == st.identity_header);
    if !header_ok {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"statusCode":401,"message":"Unauthorized: missing or wrong X-IDENTITY-HEADER"})),
        )
            .into_response();
    }
    if q.get("api-version").map(String::as_str) != Some("2019-08-01") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"statusCode":400,"message":"Unsupported api-version"})),
        )
            .into_response();
    }
    if let Some(cid) = q.get("client_id") {
        if !st.known_client_ids.contains(cid) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"00000000-0000-0000-0000-000000000000"})),
            )
                .into_response();
        }
    }
    let resource = q.get("resource").cloned().unwrap_or_default();
    if resource != VAULT_RESOURCE {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"statusCode":400,"message":format!("resource {resource} is not served by this fake")})),
        )
            .into_response();
    }
    st.token_requests += 1;
    let token = format!("mi-token-{}", uuid::Uuid::new_v4());
    st.tokens.insert(token.clone());
    Json(json!({
        "access_token": token,
        "expires_on": (now() + 3600).to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": q.get("client_id").cloned().unwrap_or_default(),
    }))
    .into_response()
}
