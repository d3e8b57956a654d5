//! The secretless endpoints (`model/identity.rs` holds the model):
//! - `GET /msi/token`: the App Service managed-identity protocol
//!   (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, api-version 2019-08-01), as
//!   `azure_identity::ManagedIdentityCredential` speaks it: a Graph token
//!   for the identity itself (resource `https://graph.microsoft.com`), or an
//!   assertion for a token exchange (resource `api://AzureADTokenExchange`).
//! - `GET /{tenant}/adminconsent` and `/{tenant}/v2.0/adminconsent`: the
//!   admin-consent URL a source administrator opens. The simulator plays
//!   the administrator clicking *Accept*: the app's service principal
//!   appears in that tenant, then the browser is sent to `redirect_uri`
//!   with `admin_consent=True` (Entra's answer), or shown a short page.
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::model::{issuer, AssertionInfo, EXCHANGE_AUDIENCE};
use super::Inner;
use crate::domain::Guid;

/// The resources a managed identity can ask a Graph token for.
const GRAPH_RESOURCES: [&str; 3] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
];

fn msi_error(status: StatusCode, error: &str, text: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": text})),
    )
        .into_response()
}

/// `GET /msi/token?api-version=2019-08-01&resource=…[&client_id=…|&principal_id=…]`.
pub(crate) async fn msi_token(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let resp = issue(&inner, &q, &headers);
    let mut w = inner.world();
    w.counts.http_requests += 1;
    w.counts.record("msi", resp.status().as_u16());
    resp
}

fn issue(inner: &Inner, q: &HashMap<String, String>, headers: &HeaderMap) -> Response {
    let expected = inner.world().identity.header.clone();
    let given = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if given.is_empty() || given != expected {
        return msi_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request",
            "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
        );
    }
    let api = q.get("api-version").map(String::as_str).unwrap_or("");
    if api != "2019-08-01" {
        return msi_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("api-version '{api}' is not supported; use 2019-08-01."),
        );
    }
    let resource = q.get("resource").map(String::as_str).unwrap_or("");
    if resource.is_empty() {
        return msi_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The 'resource' parameter is required.",
        );
    }
    let id = {
        let w = inner.world();
        w.identity.find(
            q.get("client_id").map(String::as_str),
            q.get("principal_id")
                .or_else(|| q.get("object_id"))
                .map(String::as_str),
        )
    };
    let Some(id) = id else {
        return msi_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "No managed identity with the requested id is assigned to this resource.",
        );
    };
    let now = inner.clock.now();
    let lifetime = inner.cfg.token_lifetime_secs as f64;
    let real_secs = (lifetime / inner.clock.scale()).ceil().max(1.0) as i64;
    let expires_on = chrono::Utc::now().timestamp() + real_secs;
    let token = if resource.trim_end_matches('/') == EXCHANGE_AUDIENCE {
        let mut w = inner.world();
        let uti = w.hex(40);
        let info = AssertionInfo {
            issuer: issuer(id.tenant),
            subject: id.principal_id.to_string(),
            audience: EXCHANGE_AUDIENCE.to_string(),
            expires_at: now + lifetime,
        };
        let token = assertion_jwt(&info, &id.tenant, &id.client_id, &uti, expires_on);
        if w.identity.assertions.len() >= 10_000 {
            w.identity.assertions.retain(|_, a| a.expires_at > now);
        }
        w.identity.assertions.insert(token.clone(), info);
        token
    } else if GRAPH_RESOURCES.contains(&resource) {
        let perms = inner
            .world()
            .tenants
            .get(&id.tenant)
            .and_then(|t| t.apps.get(&id.client_id))
            .map(|a| a.permissions.clone())
            .unwrap_or_default();
        super::token::mint(inner, id.tenant, id.client_id, &perms).0
    } else {
        return msi_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            &format!("AADSTS500011: The resource principal named {resource} was not found in the tenant named {}.", id.tenant),
        );
    };
    (
        StatusCode::OK,
        Json(json!({
            "access_token": token,
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": id.client_id.to_string(),
        })),
    )
        .into_response()
}

/// A JWT-shaped assertion with the claims a federated credential is
/// matched on (`iss`, `sub`, `aud`); the signature is random.
fn assertion_jwt(
    info: &AssertionInfo,
    tenant: &Guid,
    client: &Guid,
    uti: &str,
    exp: i64,
) -> String {
    use base64::Engine;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "guest-sync-sim-mi"});
    let payload = json!({
        "aud": info.audience,
        "iss": info.issuer,
        "sub": info.subject,
        "oid": info.subject,
        "tid": tenant.to_string(),
        "appid": client.to_string(),
        "idtyp": "app",
        "exp": exp,
        "uti": uti,
    });
    format!("{}.{}.{}", b64(&header), b64(&payload), b64(&json!(uti)))
}

/// `GET /{tenant}/adminconsent` (v1 form).
pub(crate) async fn admin_consent_v1(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    admin_consent(&inner, &tenant, &q)
}

/// `GET /{tenant}/v2.0/adminconsent`.
pub(crate) async fn admin_consent_v2(
    State(inner): State<Arc<Inner>>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    admin_consent(&inner, &tenant, &q)
}

fn consent_page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p>{text}</p><p>(Graph simulator)</p></body></html>"
    );
    (status, Html(body)).into_response()
}

fn admin_consent(inner: &Inner, tenant_key: &str, q: &HashMap<String, String>) -> Response {
    let mut w = inner.world();
    w.counts.http_requests += 1;
    let Some(tenant) = w.find_tenant(tenant_key) else {
        w.counts.record("adminconsent", 400);
        return consent_page(
            StatusCode::BAD_REQUEST,
            "Sign-in error",
            &format!("AADSTS90002: Tenant '{tenant_key}' not found."),
        );
    };
    let client = q.get("client_id").map(String::as_str).unwrap_or("");
    // Entra checks the redirect URI before anything is granted.
    let redirect = match q.get("redirect_uri").filter(|r| !r.is_empty()) {
        Some(r) => match url::Url::parse(r) {
            Ok(u) => Some(u),
            Err(_) => {
                w.counts.record("adminconsent", 400);
                return consent_page(
                    StatusCode::BAD_REQUEST,
                    "Sign-in error",
                    "AADSTS50011: The redirect URI specified in the request is not valid.",
                );
            }
        },
        None => None,
    };
    let app = Guid::parse_named(client, "client_id").ok();
    let granted = match app {
        Some(a) => w.grant_admin_consent(tenant, a).is_ok(),
        None => false,
    };
    if !granted {
        w.counts.record("adminconsent", 400);
        return consent_page(
            StatusCode::BAD_REQUEST,
            "Sign-in error",
            &format!("AADSTS700016: Application with identifier '{client}' was not found in the directory '{tenant}'."),
        );
    }
    w.counts.record("adminconsent", 200);
    drop(w);
    match redirect {
        Some(mut u) => {
            {
                let mut p = u.query_pairs_mut();
                p.append_pair("admin_consent", "True");
                p.append_pair("tenant", &tenant.to_string());
                if let Some(s) = q.get("scope") {
                    p.append_pair("scope", s);
                }
                if let Some(s) = q.get("state") {
                    p.append_pair("state", s);
                }
            }
            (StatusCode::FOUND, [(header::LOCATION, u.to_string())]).into_response()
        }
        None => consent_page(
            StatusCode::OK,
            "Permissions granted",
            &format!("An administrator of tenant {tenant} consented to application {client}. You can close this page."),
        ),
    }
}
