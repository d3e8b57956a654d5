//! Client-credentials tokens, cached per (tenant, app).
//!
//! A token is refreshed before it expires (at 80% of its lifetime or
//! `token_refresh_margin` before expiry, whichever is first). Each key has
//! its own async mutex, so when many tasks need a token at once exactly one
//! request goes to the authority (single flight) and the others reuse its
//! answer. Token values and secrets are never logged.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::error::{scrub_addresses, transport_detail, AadstsCode, ErrorContext, GraphError};
use super::federated::{AzureTokens, Credential, CredentialIds};
use super::retry::{backoff, retry_after_from};
use super::stats::Counters;
use super::GraphConfig;
use crate::domain::Guid;
use crate::secrets::SecretString;

/// The operation named in the errors of token requests (their
/// [`ErrorContext::operation`]), as opposed to the Graph call that needed
/// the token.
pub const TOKEN_OPERATION: &str = "get token";

/// An app registration's credentials in one tenant. The secret never shows
/// in Debug output.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    pub tenant_id: Guid,
    pub client_id: Guid,
    pub secret: SecretString,
}

/// A cached access token.
#[derive(Clone)]
pub(crate) struct CachedToken {
    pub value: Arc<SecretString>,
    refresh_at: Instant,
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// The cache: one slot per (tenant, client id).
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<(Guid, Guid), Slot>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    expires_in: Option<f64>,
}

#[derive(Deserialize, Default)]
struct TokenErrorAnswer {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u32>,
}

impl TokenCache {
    fn slot(&self, key: (Guid, Guid)) -> Slot {
        let mut m = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(key).or_default().clone()
    }

    /// A valid token for `creds`, fetched if missing or due for refresh.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        cfg: &GraphConfig,
        counters: &Counters,
        creds: &AppCredentials,
    ) -> Result<Arc<SecretString>, GraphError> {
        let slot = self.slot((creds.tenant_id, creds.client_id));
        let mut g = slot.lock().await;
        if let Some(t) = g.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        let t = fetch(http, cfg, counters, creds).await?;
        let v = t.value.clone();
        *g = Some(t);
        Ok(v)
    }

    /// A valid token for any [`Credential`]: a secret's through the
    /// hand-written request, the others through `azure_identity`
    /// ([`AzureTokens`]); cached, refreshed and single-flight alike.
    pub async fn token_for(
        &self,
        http: &reqwest::Client,
        cfg: &GraphConfig,
        counters: &Counters,
        azure: &AzureTokens,
        cred: &Credential,
    ) -> Result<Arc<SecretString>, GraphError> {
        let creds = match cred {
            Credential::Secret(c) => return self.token(http, cfg, counters, c).await,
            other => other,
        };
        let slot = self.slot((creds.tenant_id(), creds.client_id()));
        let mut g = slot.lock().await;
        if let Some(t) = g.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        Counters::add(&counters.token_requests, 1);
        let scope = match creds {
            // The managed identity endpoint names Graph by its resource id
            // (App Service protocol); a local simulator stands in for the
            // public cloud's Graph.
            Credential::ManagedIdentity { .. } if crate::settings::is_loopback(&cfg.graph_url) => {
                PUBLIC_GRAPH_SCOPE.to_string()
            }
            _ => graph_scope(cfg),
        };
        let (token, lifetime) = azure.token(creds, &scope).await?;
        tracing::debug!(tenant_id = %creds.tenant_id(), credential = creds.kind(), "token request");
        let margin = cfg.real(cfg.token_refresh_margin);
        let t = CachedToken {
            value: Arc::new(token),
            refresh_at: Instant::now() + refresh_after(lifetime, margin),
        };
        let v = t.value.clone();
        *g = Some(t);
        Ok(v)
    }

    /// Forgets `used` (Graph refused it) unless a newer token replaced it.
    pub async fn invalidate_for(&self, cred: &Credential, used: &Arc<SecretString>) {
        let slot = self.slot((cred.tenant_id(), cred.client_id()));
        let mut g = slot.lock().await;
        if g.as_ref().is_some_and(|t| Arc::ptr_eq(&t.value, used)) {
            *g = None;
        }
    }
}

/// The public cloud's Graph scope.
const PUBLIC_GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The scope of Graph tokens: `{graph}/.default`.
pub(crate) fn graph_scope(cfg: &GraphConfig) -> String {
    let mut g = cfg.graph_url.clone();
    g.set_path("/.default");
    g.set_query(None);
    g.to_string()
}

/// The first line of an Entra error description, without the trace and
/// correlation ids and timestamp that follow it.
fn short_description(d: &str) -> &str {
    let cut = d.find(" Trace ID:").unwrap_or(d.len());
    d[..cut].lines().next().unwrap_or_default().trim()
}

/// When to refresh a token living `lifetime` (wall clock).
/// A margin longer than half the lifetime (short-lived test tokens) is
/// ignored, so a token is always used for most of its life.
pub(crate) fn refresh_after(lifetime: Duration, margin: Duration) -> Duration {
    let at80 = lifetime.mul_f64(0.8);
    if lifetime > margin * 2 {
        at80.min(lifetime - margin)
    } else {
        at80
    }
}

async fn fetch(
    http: &reqwest::Client,
    cfg: &GraphConfig,
    counters: &Counters,
    creds: &AppCredentials,
) -> Result<CachedToken, GraphError> {
    let mut url = cfg.authority_url.clone();
    {
        let mut segs = url.path_segments_mut().map_err(|_| GraphError::Permanent {
            detail: "GUESTSYNC_AUTHORITY_URL cannot be a base URL".into(),
            ctx: ErrorContext {
                operation: TOKEN_OPERATION,
                status: None,
                client_request_id: uuid::Uuid::nil(),
                graph_code: None,
            },
        })?;
        segs.pop_if_empty();
        segs.push(&creds.tenant_id.to_string());
        segs.extend(["oauth2", "v2.0", "token"]);
    }
    let scope = graph_scope(cfg);
    let mut attempt = 0u32;
    loop {
        let rid = uuid::Uuid::new_v4();
        let ctx = |status: Option<u16>, code: Option<String>| ErrorContext {
            operation: TOKEN_OPERATION,
            status,
            client_request_id: rid,
            graph_code: code,
        };
        Counters::add(&counters.token_requests, 1);
        let client_id = creds.client_id.to_string();
        let form = [
            ("client_id", client_id.as_str()),
            ("client_secret", creds.secret.expose()),
            ("grant_type", "client_credentials"),
            ("scope", scope.as_str()),
        ];
        let sent = http
            .post(url.clone())
            .header("client-request-id", rid.to_string())
            .form(&form)
            .send()
            .await;
        let err = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after =
                    retry_after_from(|n| resp.headers().get(n).and_then(|v| v.to_str().ok()));
                let location = resp
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(redirect_target);
                let body = resp.bytes().await.unwrap_or_default();
                tracing::debug!(tenant_id = %creds.tenant_id, client_id = %creds.client_id, status, client_request_id = %rid, "token request");
                if (300..400).contains(&status) {
                    return Err(GraphError::Permanent {
                        detail: format!(
                            "the token endpoint {} answered a redirect ({status} to {}); the client secret is never sent after a redirect: check GUESTSYNC_AUTHORITY_URL",
                            redirect_target(url.as_str()),
                            location.unwrap_or_else(|| "nowhere".into())
                        ),
                        ctx: ctx(Some(status), None),
                    });
                }
                if (200..300).contains(&status) {
                    let (token, lifetime) =
                        decode_token_answer(&body).map_err(|what| GraphError::InvalidResponse {
                            what,
                            ctx: ctx(Some(status), None),
                        })?;
                    let margin = cfg.real(cfg.token_refresh_margin);
                    return Ok(CachedToken {
                        value: Arc::new(token),
                        refresh_at: Instant::now() + refresh_after(lifetime, margin),
                    });
                }
                if status == 429 || status >= 500 {
                    (
                        GraphError::Transient {
                            detail: format!("the token authority answered {status}"),
                            ctx: ctx(Some(status), None),
                        },
                        retry_after,
                    )
                } else {
                    return Err(decode_token_refusal(status, &body, creds, rid));
                }
            }
            Err(e) => (
                GraphError::Transient {
                    detail: if e.is_timeout() {
                        "the token request timed out".into()
                    } else {
                        transport_detail(&e)
                    },
                    ctx: ctx(None, None),
                },
                None,
            ),
        };
        let (e, retry_after) = err;
        Counters::add(&counters.transient_failures, 1);
        if attempt >= cfg.max_retries {
            return Err(e);
        }
        let wait = match retry_after {
            Some(ra) => ra,
            None => cfg.real(backoff(
                attempt,
                cfg.backoff_base,
                cfg.backoff_cap,
                &mut rand::thread_rng(),
            )),
        };
        attempt += 1;
        Counters::add(&counters.retries, 1);
        tokio::time::sleep(wait).await;
    }
}

/// Decodes the token endpoint's 2xx answer: the access token and its
/// lifetime (`expires_in`, wall-clock seconds, clamped to 1 s..1 day; the
/// simulator scales it). The error names the field, never the token.
pub fn decode_token_answer(body: &[u8]) -> Result<(SecretString, Duration), String> {
    const WHAT: &str = "token answer is not the documented JSON {\"access_token\": \"...\", \"expires_in\": seconds}";
    let a: TokenAnswer = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(body),
    )
    .map_err(|e| {
        // Only the field and serde's category: its message could quote
        // the answer (which carries the token).
        let at = crate::domain::json::path_of(&e)
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        let inner = e.inner();
        format!(
            "{WHAT} ({at}{} at line {}, column {})",
            crate::domain::json::problem(inner),
            inner.line(),
            inner.column()
        )
    })?;
    if a.access_token.trim().is_empty() {
        return Err(format!("{WHAT} (access_token is empty)"));
    }
    let lifetime = Duration::from_secs_f64(a.expires_in.unwrap_or(3599.0).clamp(1.0, 86_400.0));
    Ok((SecretString::new(a.access_token), lifetime))
}

/// The application roles (`roles` claim) of an access token: its payload
/// decoded, the signature not checked (the token came straight from the
/// authority over TLS; this only reads what it grants). `None` when the
/// token is not a JWT (an opaque token says nothing about its roles); an
/// empty list when the claim is absent (no application permission
/// granted). Never logs the token.
pub fn token_roles(token: &str) -> Option<Vec<String>> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    if !v.is_object() {
        return None;
    }
    Some(
        v.get("roles")
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(serde_json::Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// The error for a token endpoint's refusal (a non-2xx answer that is not
/// retried): Entra's error code and description decoded from `body`
/// (anything else is tolerated), addresses scrubbed.
pub fn decode_token_refusal(
    status: u16,
    body: &[u8],
    creds: &AppCredentials,
    client_request_id: uuid::Uuid,
) -> GraphError {
    let e: TokenErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
    let desc = e.error_description.unwrap_or_default();
    let code = AadstsCode::from_answer(&e.error_codes, &desc);
    let first_line = desc.lines().next().unwrap_or_default();
    GraphError::Auth {
        code,
        message: format!(
            "{} (authority said: {})",
            code.admin_message(creds.tenant_id, creds.client_id),
            scrub_addresses(first_line)
        ),
        detail: scrub_addresses(short_description(&desc)),
        ctx: ErrorContext {
            operation: TOKEN_OPERATION,
            status: Some(status),
            client_request_id,
            graph_code: e.error.map(|c| scrub_addresses(&c)),
        },
    }
}

/// Where a URL points, for an error message: scheme, host and port only
/// (never a path or query that could carry a tenant's details).
pub(crate) fn redirect_target(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "an unparsable location".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `roles` claim is read from a JWT's payload (padded or not); a
    /// token without the claim has no roles; an opaque token says nothing.
    #[test]
    fn roles_are_read_from_the_token_payload() {
        use base64::Engine;
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = |payload: &str| format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(payload));
        assert_eq!(
            token_roles(&jwt(
                r#"{"roles":["User.Invite.All","User.ReadWrite.All"]}"#
            )),
            Some(vec![
                "User.Invite.All".to_string(),
                "User.ReadWrite.All".to_string()
            ])
        );
        assert_eq!(token_roles(&jwt(r#"{"tid":"x"}"#)), Some(vec![]));
        assert_eq!(token_roles("opaque-token"), None);
        assert_eq!(token_roles("a.!!!.c"), None);
        assert_eq!(token_roles(&jwt("[1]")), None);
    }

    /// A refusal's `error` code holding an address is scrubbed like its
    /// description (found by the full fuzz run).
    #[test]
    fn refusal_codes_lose_addresses() {
        let creds = AppCredentials {
            tenant_id: Guid::new_v4(),
            client_id: Guid::new_v4(),
            secret: SecretString::new("s3cret-value"),
        };
        let body =
            br#"{"error":"x@y","error_codes":[7000215],"error_description":"AADSTS7000215: bad"}"#;
        let e = decode_token_refusal(400, body, &creds, uuid::Uuid::nil());
        assert!(!e.to_string().contains("x@y"), "{e}");
        assert!(e.graph_code().is_some_and(|c| !c.contains("x@y")));
    }

    /// An Entra description is cut to its first line, without trace ids.
    #[test]
    fn descriptions_lose_trace_ids_and_following_lines() {
        assert_eq!(
            short_description("AADSTS1: Bad thing. Trace ID: 1 Correlation ID: 2"),
            "AADSTS1: Bad thing."
        );
        assert_eq!(
            short_description("AADSTS2: Other.\r\nTrace ID: 1\r\nCorrelation ID: 2"),
            "AADSTS2: Other."
        );
        assert_eq!(short_description(""), "");
    }

    /// Tokens are refreshed at 80% of their life or 5 minutes early,
    /// whichever comes first; short-lived tokens at 80%.
    #[test]
    fn refresh_point_is_the_earlier_of_80_percent_and_margin() {
        let m = Duration::from_secs(300);
        assert_eq!(
            refresh_after(Duration::from_secs(3600), m),
            Duration::from_secs(2880)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(1200), m),
            Duration::from_secs(900)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(10), m),
            Duration::from_secs(8)
        );
    }

    /// A token answer is read, an empty token refused, and an error names
    /// the field without quoting the answer (found by the reliability
    /// fuzzing: serde's messages named no field).
    #[test]
    fn token_answers_are_checked_without_quoting_them() {
        let (t, life) =
            decode_token_answer(br#"{"access_token":"eyJabc","expires_in":3599}"#).unwrap();
        assert_eq!(t.expose(), "eyJabc");
        assert_eq!(life, Duration::from_secs(3599));
        let e = decode_token_answer(br#"{"access_token":"","expires_in":1}"#).unwrap_err();
        assert!(e.contains("access_token is empty"), "{e}");
        let e = decode_token_answer(br#"{"access_token":"eyJsecret","expires_in":"soon"}"#)
            .unwrap_err();
        assert!(e.contains("expires_in"), "{e}");
        assert!(!e.contains("eyJsecret") && !e.contains("soon"), "{e}");
        let e = decode_token_answer(br#"{"expires_in":1}"#).unwrap_err();
        assert!(e.contains("access_token"), "{e}");
    }
}
