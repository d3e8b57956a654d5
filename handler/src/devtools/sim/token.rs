//! The Entra token endpoint: `POST /{tenant}/oauth2/v2.0/token` with client
//! credentials. Issues bearer tokens bound to tenant + app, shaped as JWTs
//! whose payload carries the app's granted permissions in the `roles` claim
//! (as Entra's do; the signature is random, nothing verifies it), and answers
//! the AADSTS errors `docs/graph-client.md` lists ("Tokens") in Entra's
//! error shape.
use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;

use super::model::{graph_time, TokenInfo};
use super::Inner;

/// An Entra error answer.
fn aad_error(inner: &Inner, status: StatusCode, error: &str, code: u32, text: String) -> Response {
    let (trace, corr) = {
        let mut w = inner.world();
        (w.new_id(), w.new_id())
    };
    let now = inner.clock.wall(inner.clock.now());
    let ts = graph_time(now);
    let body = json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace.to_string(),
        "correlation_id": corr.to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    (status, Json(body)).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token(
    State(inner): State<Arc<Inner>>,
    Path(tenant_key): Path<String>,
    body: Bytes,
) -> Response {
    let dynamic = inner.dynamic();
    let delay = {
        let mut w = inner.world();
        super::faults::decide(
            &mut w.fault_rng,
            &super::Faults::default(),
            &dynamic.latency,
            inner.clock.scale(),
        )
        .delay
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let resp = issue(&inner, &tenant_key, &body);
    let status = resp.status().as_u16();
    {
        let mut w = inner.world();
        w.counts.http_requests += 1;
        w.counts.record("token", status);
    }
    resp
}

fn issue(inner: &Inner, tenant_key: &str, body: &[u8]) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    for k in ["client_id", "grant_type"] {
        if field(k).is_empty() {
            return aad_error(
                inner,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                format!("The request body must contain the following parameter: '{k}'."),
            );
        }
    }
    if field("grant_type") != "client_credentials" {
        return aad_error(
            inner,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!(
                "The app requested an unsupported grant type '{}'.",
                field("grant_type")
            ),
        );
    }
    let scope = field("scope");
    if !scope.ends_with("/.default") {
        return aad_error(
            inner,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    }
    let now = inner.clock.now();
    let w = inner.world();
    let Some(tenant) = w.find_tenant(tenant_key) else {
        drop(w);
        return aad_error(
            inner,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!("Tenant '{tenant_key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        );
    };
    let client = field("client_id");
    let app = crate::domain::Guid::parse_named(client, "client_id")
        .ok()
        .and_then(|c| {
            w.tenants
                .get(&tenant)
                .and_then(|t| t.apps.get(&c))
                .map(|a| (c, a.clone()))
        });
    let Some((client_id, app)) = app else {
        drop(w);
        return aad_error(
            inner,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        );
    };
    let assertion_type = field("client_assertion_type");
    if !assertion_type.is_empty() || !field("client_assertion").is_empty() {
        let checked = check_assertion(&w, tenant, client_id, &app, &form, now);
        drop(w);
        if let Err((status, error, code, text)) = checked {
            return aad_error(inner, status, error, code, text);
        }
    } else {
        drop(w);
        if field("client_secret").is_empty() {
            return aad_error(
                inner,
                StatusCode::BAD_REQUEST,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.".into(),
            );
        }
        if app.expired {
            return aad_error(
                inner,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000222,
                format!("The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."),
            );
        }
        // An app without a secret (a managed identity, a secretless app, a
        // consented service principal) never matches one.
        if app.secret.is_empty() || field("client_secret") != app.secret {
            return aad_error(
                inner,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7000215,
                format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
            );
        }
    }
    let (token, expires_in) = mint(inner, tenant, client_id, &app.permissions);
    (
        StatusCode::OK,
        Json(json!({
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": token,
        })),
    )
        .into_response()
}

/// An Entra refusal: status, `error`, AADSTS code, description.
type Refusal = (StatusCode, &'static str, u32, String);

/// Checks a `client_assertion` sign-in (a federated credential): the
/// assertion must be one the identity endpoint issued, unexpired, and match
/// a federated identity credential of the app registration.
fn check_assertion(
    w: &super::model::World,
    tenant: crate::domain::Guid,
    client_id: crate::domain::Guid,
    app: &super::model::App,
    form: &HashMap<String, String>,
    now: f64,
) -> Result<(), Refusal> {
    const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let bad = |code: u32, text: String| -> Refusal {
        (StatusCode::BAD_REQUEST, "invalid_client", code, text)
    };
    if field("client_assertion_type") != JWT_BEARER {
        return Err((
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            format!(
                "Invalid client_assertion_type '{}'; expected '{JWT_BEARER}'.",
                field("client_assertion_type")
            ),
        ));
    }
    let assertion = field("client_assertion");
    if assertion.split('.').count() != 3 {
        return Err(bad(50027, "JWT token is invalid or malformed.".into()));
    }
    let Some(info) = w.identity.assertions.get(assertion) else {
        return Err(bad(
            700027,
            "Client assertion failed signature validation.".into(),
        ));
    };
    if info.expires_at <= now {
        return Err(bad(
            700024,
            "Client assertion is not within its valid time range.".into(),
        ));
    }
    if !w.assertion_trusted(tenant, client_id, app, info) {
        return Err(bad(
            70021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{}'. Assertion Subject: '{}'. Assertion Audience: '{}'.",
                info.issuer, info.subject, info.audience
            ),
        ));
    }
    Ok(())
}

/// Issues a Graph token for `client_id` in `tenant` carrying `permissions`
/// as roles; returns it with its `expires_in` (scaled seconds).
pub(crate) fn mint(
    inner: &Inner,
    tenant: crate::domain::Guid,
    client_id: crate::domain::Guid,
    permissions: &std::collections::HashSet<String>,
) -> (String, u64) {
    let now = inner.clock.now();
    let mut w = inner.world();
    // Forget expired tokens now and then so a long run does not grow forever.
    if w.tokens.len() >= 10_000 {
        w.tokens.retain(|_, t| t.expires_at > now);
    }
    let uti = w.hex(40);
    let token = jwt(
        &tenant,
        &client_id,
        permissions,
        uti,
        inner.clock.wall(now + lifetime_secs(inner)),
    );
    let lifetime = inner.cfg.token_lifetime_secs as f64;
    w.tokens.insert(
        token.clone(),
        TokenInfo {
            tenant,
            app: client_id,
            expires_at: now + lifetime,
        },
    );
    let expires_in = (lifetime / inner.clock.scale()).ceil().max(1.0) as u64;
    (token, expires_in)
}

/// The token lifetime in simulated seconds.
fn lifetime_secs(inner: &Inner) -> f64 {
    inner.cfg.token_lifetime_secs as f64
}

/// A JWT-shaped token: header, a payload with Entra's app-only claims
/// (`tid`, `appid`, `roles`, `exp`, a unique `uti`) and a random
/// signature. The `uti` keeps every token distinct.
fn jwt(
    tenant: &crate::domain::Guid,
    app: &crate::domain::Guid,
    permissions: &std::collections::HashSet<String>,
    uti: String,
    expires: chrono::DateTime<chrono::Utc>,
) -> String {
    use base64::Engine;
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let mut roles: Vec<&String> = permissions.iter().collect();
    roles.sort();
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "guest-sync-sim"});
    let payload = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{tenant}/"),
        "tid": tenant.to_string(),
        "appid": app.to_string(),
        "idtyp": "app",
        "roles": roles,
        "exp": expires.timestamp(),
        "uti": uti,
    });
    format!("{}.{}.{}", b64(&header), b64(&payload), b64(&json!(uti)))
}
