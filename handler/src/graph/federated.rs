//! Tokens without a secret, through Microsoft's `azure_identity` crate.
//!
//! - A **secretless source tenant**: the host's multi-tenant app
//!   (`GUESTSYNC_FEDERATED_APP_ID`), consented to in the source tenant,
//!   signs in there with a client assertion instead of a secret
//!   ([`ClientAssertionCredential`]). The assertion is a token of the
//!   function app's user-assigned managed identity for the audience
//!   `api://AzureADTokenExchange` ([`ManagedIdentityAssertion`]), which the
//!   app trusts as a federated identity credential.
//! - The **host tenant through the managed identity**
//!   (`GUESTSYNC_HOST_CREDENTIAL=managed-identity`): the identity's own
//!   Graph token ([`ManagedIdentityCredential`]).
//!
//! The managed identity is reached through the App Service protocol
//! (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, user-assigned with
//! `AZURE_CLIENT_ID`), read from the process environment by the crate.
//! The crate insists on an https authority; `GUESTSYNC_TLS_CA_FILE` lets it
//! trust the simulator's certificate (loopback only).
//!
//! The crate's errors are mapped to [`GraphError`]s with the AADSTS code
//! classified ([`map_azure_error`]), so the connection test and the engine
//! give the same advice as for secrets. Token values are never logged.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientMethodOptions, ClientOptions, ExponentialRetryOptions, RetryOptions};
use azure_identity::{
    ClientAssertion, ClientAssertionCredential, ClientAssertionCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
};

use super::auth::{AppCredentials, TOKEN_OPERATION};
use super::error::{scrub_addresses, AadstsCode, ErrorContext, GraphError};
use super::GraphConfig;
use crate::domain::Guid;
use crate::secrets::SecretString;

/// The audience of the managed identity's token that a federated identity
/// credential accepts (Microsoft's fixed value for Entra ID).
pub const TOKEN_EXCHANGE_SCOPE: &str = "api://AzureADTokenExchange/.default";

/// The operation named in errors of the managed identity's own token
/// request (as opposed to [`TOKEN_OPERATION`], the tenant's token).
pub const MANAGED_IDENTITY_OPERATION: &str = "get managed identity token";

/// True for the operations of token requests (the tenant's token, or the
/// managed identity's token it needs).
pub fn is_token_operation(op: &str) -> bool {
    op == TOKEN_OPERATION || op == MANAGED_IDENTITY_OPERATION
}

/// How a [`TenantGraph`](super::TenantGraph) gets its tokens.
#[derive(Debug, Clone)]
pub enum Credential {
    /// A client secret (the hand-written client-credentials request).
    Secret(AppCredentials),
    /// The host's multi-tenant app `app_id` in `tenant_id`, authenticated
    /// by the managed identity's assertion (no secret).
    Federated { tenant_id: Guid, app_id: Guid },
    /// The managed identity's own token (it is a service principal of the
    /// host tenant `tenant_id` holding Graph application roles).
    ManagedIdentity { tenant_id: Guid },
}

impl From<AppCredentials> for Credential {
    fn from(c: AppCredentials) -> Self {
        Credential::Secret(c)
    }
}

/// The ids an error message names: the tenant and the app signing in.
pub trait CredentialIds {
    /// The tenant the tokens are for.
    fn tenant_id(&self) -> Guid;
    /// The app (client) id signing in; nil for the managed identity (its
    /// client id is `AZURE_CLIENT_ID`, named in its own messages).
    fn client_id(&self) -> Guid;
}

impl CredentialIds for AppCredentials {
    fn tenant_id(&self) -> Guid {
        self.tenant_id
    }
    fn client_id(&self) -> Guid {
        self.client_id
    }
}

impl CredentialIds for Credential {
    fn tenant_id(&self) -> Guid {
        match self {
            Credential::Secret(c) => c.tenant_id,
            Credential::Federated { tenant_id, .. } | Credential::ManagedIdentity { tenant_id } => {
                *tenant_id
            }
        }
    }
    fn client_id(&self) -> Guid {
        match self {
            Credential::Secret(c) => c.client_id,
            Credential::Federated { app_id, .. } => *app_id,
            Credential::ManagedIdentity { .. } => Guid::from_uuid(uuid::Uuid::nil()),
        }
    }
}

impl Credential {
    /// `secret`, `secretless` or `managed identity` (for messages).
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Secret(_) => "secret",
            Credential::Federated { .. } => "secretless",
            Credential::ManagedIdentity { .. } => "managed identity",
        }
    }
}

/// Why the managed identity gave no token (carried inside the crate's
/// error so [`map_azure_error`] can tell it from the source tenant's
/// refusal).
#[derive(Debug, Clone)]
pub struct ManagedIdentityFailure {
    /// The identity endpoint's HTTP status, None when it was not reached.
    pub status: Option<u16>,
    /// What went wrong (no token, no header value).
    pub detail: String,
}

impl std::fmt::Display for ManagedIdentityFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for ManagedIdentityFailure {}

/// A [`ClientAssertion`] that is the managed identity's token for
/// [`TOKEN_EXCHANGE_SCOPE`].
#[derive(Debug)]
pub struct ManagedIdentityAssertion {
    identity: Arc<dyn TokenCredential>,
}

impl ManagedIdentityAssertion {
    pub fn new(identity: Arc<dyn TokenCredential>) -> Self {
        ManagedIdentityAssertion { identity }
    }
}

#[async_trait]
impl ClientAssertion for ManagedIdentityAssertion {
    async fn secret(
        &self,
        _options: Option<ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        match self.identity.get_token(&[TOKEN_EXCHANGE_SCOPE], None).await {
            Ok(t) => Ok(t.token.secret().to_string()),
            Err(e) => Err(azure_core::Error::new(
                ErrorKind::Credential,
                managed_identity_failure(&e),
            )),
        }
    }
}

/// The failure of a managed identity token request, described without
/// the endpoint's secret header.
fn managed_identity_failure(e: &azure_core::Error) -> ManagedIdentityFailure {
    let status = find_http_status(e);
    let detail = scrub_addresses(&chain_text(e));
    ManagedIdentityFailure { status, detail }
}

/// The HTTP status of the first HTTP answer in `e`'s chain.
fn find_http_status(e: &azure_core::Error) -> Option<u16> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(ae) = c.downcast_ref::<azure_core::Error>() {
            if let ErrorKind::HttpResponse { status, .. } = ae.kind() {
                return Some(u16::from(*status));
            }
        }
        cur = c.source();
    }
    None
}

/// The messages of an error and its causes, one line, de-duplicated.
fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        let s = c.to_string();
        let s = s
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.contains("aka.ms/azsdk"))
            .collect::<Vec<_>>()
            .join(" ");
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    parts.join(": ")
}

/// The `azure_identity` credentials of one [`GraphClient`](super::GraphClient):
/// the managed identity (created on first use from the process
/// environment) and one assertion credential per (tenant, app).
pub(crate) struct AzureTokens {
    options: ClientOptions,
    authority: url::Url,
    identity: OnceLock<Result<Arc<dyn TokenCredential>, String>>,
    federated: Mutex<HashMap<(Guid, Guid), Arc<dyn TokenCredential>>>,
}

impl AzureTokens {
    /// Credentials reaching `cfg`'s authority through `http` (the Graph
    /// client's HTTP pool, which trusts `GUESTSYNC_TLS_CA_FILE`).
    pub fn new(cfg: &GraphConfig, http: reqwest::Client) -> Self {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = cfg.authority_url.as_str().trim_end_matches('/').to_string();
        let options = ClientOptions {
            transport: Some(azure_core::http::Transport::new(Arc::new(http))),
            cloud: Some(Arc::new(CloudConfiguration::Custom(custom))),
            retry: RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(250),
                max_retries: 3,
                max_total_elapsed: azure_core::time::Duration::seconds(15),
                max_delay: azure_core::time::Duration::seconds(4),
            }),
            ..Default::default()
        };
        AzureTokens {
            options,
            authority: cfg.authority_url.clone(),
            identity: OnceLock::new(),
            federated: Mutex::new(HashMap::new()),
        }
    }

    /// The managed identity (user-assigned when `AZURE_CLIENT_ID` is set).
    fn identity(&self) -> Result<Arc<dyn TokenCredential>, GraphError> {
        self.identity
            .get_or_init(|| {
                let set = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
                if set("IDENTITY_ENDPOINT").is_none() {
                    return Err("IDENTITY_ENDPOINT is not set: secretless tenants and GUESTSYNC_HOST_CREDENTIAL=managed-identity need the function app's managed identity (Azure sets IDENTITY_ENDPOINT and IDENTITY_HEADER; locally, `guest-sync sim serve` prints them)".to_string());
                }
                let options = ManagedIdentityCredentialOptions {
                    user_assigned_id: set("AZURE_CLIENT_ID")
                        .map(|v| UserAssignedId::ClientId(v.trim().to_string())),
                    client_options: self.options.clone(),
                };
                ManagedIdentityCredential::new(Some(options))
                    .map(|c| c as Arc<dyn TokenCredential>)
                    .map_err(|e| {
                        format!(
                            "the managed identity credential could not be created: {}",
                            chain_text(&e)
                        )
                    })
            })
            .clone()
            .map_err(|detail| GraphError::Permanent {
                detail,
                ctx: ctx(MANAGED_IDENTITY_OPERATION, None),
            })
    }

    /// The assertion credential of `app_id` in `tenant_id`.
    fn federated(
        &self,
        tenant_id: Guid,
        app_id: Guid,
    ) -> Result<Arc<dyn TokenCredential>, GraphError> {
        let mut m = self.federated.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = m.get(&(tenant_id, app_id)) {
            return Ok(c.clone());
        }
        if self.authority.scheme() != "https" {
            return Err(GraphError::Permanent {
                detail: format!(
                    "secretless tokens are requested by Microsoft's azure_identity crate, which only speaks https: GUESTSYNC_AUTHORITY_URL is {} (against the simulator, start it with --tls and set GUESTSYNC_TLS_CA_FILE)",
                    super::auth::redirect_target(self.authority.as_str())
                ),
                ctx: ctx(TOKEN_OPERATION, None),
            });
        }
        let identity = self.identity()?;
        let cred = ClientAssertionCredential::new(
            tenant_id.to_string(),
            app_id.to_string(),
            ManagedIdentityAssertion::new(identity),
            Some(ClientAssertionCredentialOptions {
                client_options: self.options.clone(),
            }),
        )
        .map_err(|e| GraphError::Permanent {
            detail: format!(
                "the client assertion credential could not be created: {}",
                chain_text(&e)
            ),
            ctx: ctx(TOKEN_OPERATION, None),
        })?;
        let cred: Arc<dyn TokenCredential> = cred;
        m.insert((tenant_id, app_id), cred.clone());
        Ok(cred)
    }

    /// A token for `cred` (not [`Credential::Secret`]) with `scope`, and
    /// its remaining lifetime.
    pub async fn token(
        &self,
        cred: &Credential,
        scope: &str,
    ) -> Result<(SecretString, Duration), GraphError> {
        let (source, on_behalf_of_identity) = match cred {
            Credential::Federated { tenant_id, app_id } => {
                (self.federated(*tenant_id, *app_id)?, false)
            }
            Credential::ManagedIdentity { .. } => (self.identity()?, true),
            Credential::Secret(_) => {
                return Err(GraphError::Permanent {
                    detail: "a client secret is not an azure_identity credential".into(),
                    ctx: ctx(TOKEN_OPERATION, None),
                })
            }
        };
        let t = source.get_token(&[scope], None).await.map_err(|e| {
            if on_behalf_of_identity {
                identity_error(&managed_identity_failure(&e))
            } else {
                map_azure_error(&e, cred)
            }
        })?;
        let left = t.expires_on - azure_core::time::OffsetDateTime::now_utc();
        let secs = left.as_seconds_f64().clamp(1.0, 86_400.0);
        Ok((
            SecretString::new(t.token.secret()),
            Duration::from_secs_f64(secs),
        ))
    }
}

fn ctx(operation: &'static str, status: Option<u16>) -> ErrorContext {
    ErrorContext {
        operation,
        status,
        client_request_id: uuid::Uuid::nil(),
        graph_code: None,
    }
}

/// The error for a managed identity that gave no token.
fn identity_error(f: &ManagedIdentityFailure) -> GraphError {
    let detail = format!(
        "the function app's managed identity gave no token ({}): check that IDENTITY_ENDPOINT is reachable and AZURE_CLIENT_ID names the user-assigned identity attached to the app",
        scrub_addresses(&f.detail)
    );
    match f.status {
        Some(s) if s == 429 || s >= 500 => GraphError::Transient {
            detail,
            ctx: ctx(MANAGED_IDENTITY_OPERATION, Some(s)),
        },
        Some(s) => GraphError::Permanent {
            detail,
            ctx: ctx(MANAGED_IDENTITY_OPERATION, Some(s)),
        },
        None => GraphError::Transient {
            detail,
            ctx: ctx(MANAGED_IDENTITY_OPERATION, None),
        },
    }
}

/// Maps an `azure_identity` token error for `cred` to a [`GraphError`]:
/// the managed identity's failure ([`MANAGED_IDENTITY_OPERATION`]), the
/// authority's refusal with its AADSTS code ([`GraphError::Auth`]), 429/5xx
/// and transport failures as transient.
pub fn map_azure_error(e: &azure_core::Error, cred: &Credential) -> GraphError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(f) = c.downcast_ref::<ManagedIdentityFailure>() {
            return identity_error(f);
        }
        if let Some(ae) = c.downcast_ref::<azure_core::Error>() {
            if let ErrorKind::HttpResponse {
                status, error_code, ..
            } = ae.kind()
            {
                let status = u16::from(*status);
                let description = ae.to_string();
                if status == 429 || status >= 500 {
                    return GraphError::Transient {
                        detail: format!("the token authority answered {status}"),
                        ctx: ctx(TOKEN_OPERATION, Some(status)),
                    };
                }
                return refusal(status, error_code.as_deref(), &description, cred);
            }
            if matches!(ae.kind(), ErrorKind::Io | ErrorKind::Connection) {
                return GraphError::Transient {
                    detail: scrub_addresses(&chain_text(ae)),
                    ctx: ctx(TOKEN_OPERATION, None),
                };
            }
        }
        cur = c.source();
    }
    GraphError::Permanent {
        detail: scrub_addresses(&chain_text(e)),
        ctx: ctx(TOKEN_OPERATION, None),
    }
}

/// The authority's refusal: `error_codes` as the crate joined them
/// (`"700016"` or `"700016,…"`) and the description.
pub fn refusal(
    status: u16,
    error_codes: Option<&str>,
    description: &str,
    cred: &Credential,
) -> GraphError {
    let codes: Vec<u32> = error_codes
        .unwrap_or_default()
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let code = AadstsCode::from_answer(&codes, description);
    let first = description.lines().next().unwrap_or_default();
    let cut = first.find(" Trace ID:").unwrap_or(first.len());
    let detail = scrub_addresses(first[..cut].trim());
    let message = match cred {
        Credential::Federated { tenant_id, app_id } => code.secretless_message(*tenant_id, *app_id),
        _ => code.admin_message(cred.tenant_id(), cred.client_id()),
    };
    GraphError::Auth {
        code,
        message: format!("{message} (authority said: {detail})"),
        detail,
        ctx: ErrorContext {
            operation: TOKEN_OPERATION,
            status: Some(status),
            client_request_id: uuid::Uuid::nil(),
            graph_code: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed() -> (Guid, Guid, Credential) {
        let t = Guid::new_v4();
        let a = Guid::new_v4();
        (
            t,
            a,
            Credential::Federated {
                tenant_id: t,
                app_id: a,
            },
        )
    }

    /// The AADSTS codes of a secretless sign-in map to their advice:
    /// consent, trust, tenant.
    #[test]
    fn secretless_refusals_name_the_fix() {
        let (t, a, c) = fed();
        let e = refusal(
            400,
            Some("700016"),
            "AADSTS700016: Application with identifier 'x' was not found in the directory 'y'. Trace ID: 1",
            &c,
        );
        let GraphError::Auth { code, message, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*code, AadstsCode::AppNotFound);
        assert!(
            message.contains("admin consent") && message.contains(&t.to_string()),
            "{message}"
        );
        assert!(!message.contains("Trace ID"), "{message}");
        for n in ["7000229", "65001"] {
            let e = refusal(400, Some(n), "", &c);
            assert!(
                matches!(
                    e,
                    GraphError::Auth {
                        code: AadstsCode::ConsentNotGranted(_),
                        ..
                    }
                ),
                "{e:?}"
            );
            assert!(e.to_string().contains("admin consent"), "{e}");
        }
        let e = refusal(
            400,
            Some("70021"),
            "AADSTS70021: No matching federated identity record found",
            &c,
        );
        assert!(matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::IdentityNotTrusted,
                ..
            }
        ));
        assert!(
            e.to_string().contains("federated identity credential"),
            "{e}"
        );
        assert!(e.to_string().contains(&a.to_string()), "{e}");
        let e = refusal(400, None, "AADSTS90002: Tenant 'x' not found.", &c);
        assert!(matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::TenantNotFound,
                ..
            }
        ));
        let e = refusal(400, Some("700024,1"), "", &c);
        assert!(matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::AssertionRejected(700024),
                ..
            }
        ));
        let e = refusal(401, Some("50027"), "", &c);
        assert!(matches!(
            e,
            GraphError::Auth {
                code: AadstsCode::AssertionRejected(50027),
                ..
            }
        ));
    }

    /// A failure of the managed identity inside the assertion is told
    /// apart from the authority's refusal; addresses are scrubbed.
    #[test]
    fn managed_identity_failures_are_their_own_operation() {
        let (_, _, c) = fed();
        let inner = azure_core::Error::new(
            ErrorKind::Credential,
            ManagedIdentityFailure {
                status: None,
                detail: "could not connect to a@b".into(),
            },
        );
        let outer = azure_core::Error::with_error(
            ErrorKind::Credential,
            inner,
            "ClientAssertionCredential authentication failed.",
        );
        let e = map_azure_error(&outer, &c);
        assert_eq!(e.context().operation, MANAGED_IDENTITY_OPERATION);
        assert!(e.is_transient());
        assert!(!e.to_string().contains("a@b"), "{e}");
        assert!(e.to_string().contains("IDENTITY_ENDPOINT"), "{e}");
        assert!(is_token_operation(e.context().operation));
    }

    /// An error chain reads as one line without the SDK's troubleshooting link.
    #[test]
    fn chains_are_one_line() {
        let inner = azure_core::Error::with_message(ErrorKind::Io, "connection refused");
        let outer = azure_core::Error::with_error(
            ErrorKind::Credential,
            inner,
            "X authentication failed.\nTo troubleshoot, visit https://aka.ms/azsdk/rust/identity/troubleshoot",
        );
        assert_eq!(
            chain_text(&outer),
            "X authentication failed.: connection refused"
        );
        let e = map_azure_error(&outer, &fed().2);
        assert!(e.is_transient() && e.status().is_none(), "{e:?}");
    }
}
