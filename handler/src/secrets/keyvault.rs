//! Azure Key Vault backend of [`SecretSource`], through Microsoft's official
//! crates (`azure_security_keyvault_secrets`, `azure_identity`,
//! `azure_core`).
//!
//! The credential is chosen explicitly, never by a chain that silently tries
//! everything ([`choose_credential`]):
//! - `IDENTITY_ENDPOINT` set (App Service / Functions): the managed identity,
//!   user-assigned when `AZURE_CLIENT_ID` is set;
//! - otherwise the developer's own sign-in (`az login` / `azd auth login`)
//!   through `DeveloperToolsCredential`.
//!
//! Values are cached for a short time ([`DEFAULT_CACHE_TTL`]) so a run that
//! reads the same secret for every page does not call the vault each time;
//! the expiry date (`attributes.exp`) is read with the value. Errors name the
//! vault and the secret, never the value.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RequestContent, RetryOptions};
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use azure_security_keyvault_secrets::models::{SecretAttributes, SetSecretParameters};
use azure_security_keyvault_secrets::{SecretClient, SecretClientOptions};
use chrono::{DateTime, Utc};
use tokio::sync::Mutex;

use super::{Secret, SecretError, SecretSource, SecretString};
use crate::domain::SecretName;

/// How long a value read from the vault is reused before it is read again.
/// Short, so a rotated secret is picked up within minutes.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// Which credential [`choose_credential`] picked (for the start-up log line:
/// it says *how* the app authenticates, never a token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// The function app's managed identity. `client_id` is the user-assigned
    /// identity's client id (`AZURE_CLIENT_ID`), None = system-assigned.
    ManagedIdentity { client_id: Option<String> },
    /// The developer's Azure CLI / Azure Developer CLI sign-in.
    DeveloperTools,
}

impl std::fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialKind::ManagedIdentity {
                client_id: Some(id),
            } => write!(f, "user-assigned managed identity {id}"),
            CredentialKind::ManagedIdentity { client_id: None } => {
                f.write_str("system-assigned managed identity")
            }
            CredentialKind::DeveloperTools => {
                f.write_str("developer sign-in (Azure CLI / Azure Developer CLI)")
            }
        }
    }
}

/// Picks the credential from the environment (read through `lookup`):
/// managed identity when `IDENTITY_ENDPOINT` is set (user-assigned with
/// `AZURE_CLIENT_ID`), else the developer tools credential.
///
/// `client_options` is used for the managed-identity token endpoint calls
/// (tests pass a transport that reaches a fake endpoint).
pub fn choose_credential(
    lookup: impl Fn(&str) -> Option<String>,
    client_options: ClientOptions,
) -> Result<(Arc<dyn TokenCredential>, CredentialKind), SecretError> {
    let set = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    if set("IDENTITY_ENDPOINT").is_some() {
        let client_id = set("AZURE_CLIENT_ID").map(|v| v.trim().to_string());
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
            client_options,
        };
        let cred = ManagedIdentityCredential::new(Some(options)).map_err(|e| {
            SecretError::Identity {
                source_name: "the managed identity".into(),
                detail: format!(
                    "IDENTITY_ENDPOINT is set but the managed identity credential could not be created: {}",
                    error_chain(&e)
                ),
            }
        })?;
        Ok((cred, CredentialKind::ManagedIdentity { client_id }))
    } else {
        let cred = DeveloperToolsCredential::new(None).map_err(|e| SecretError::Identity {
            source_name: "the developer credential".into(),
            detail: format!(
                "could not set up the Azure CLI / Azure Developer CLI credential: {}",
                error_chain(&e)
            ),
        })?;
        Ok((cred, CredentialKind::DeveloperTools))
    }
}

/// Options of a [`KeyVaultSource`].
#[derive(Clone)]
pub struct KeyVaultOptions {
    /// HTTP pipeline options: transport (tests trust a self-signed
    /// certificate through it), retries.
    pub client_options: ClientOptions,
    /// How long a read value is reused.
    pub cache_ttl: Duration,
    /// Check that the 401 challenge's resource matches the vault's domain
    /// (the SDK's default, keep it on outside exotic clouds).
    pub verify_challenge_resource: bool,
}

impl Default for KeyVaultOptions {
    fn default() -> Self {
        KeyVaultOptions {
            client_options: default_client_options(),
            cache_ttl: DEFAULT_CACHE_TTL,
            verify_challenge_resource: true,
        }
    }
}

/// The pipeline options used in production: the SDK's transport, a few
/// quick retries (a function run must not hang for a minute on a vault
/// that is down; the next run tries again).
pub fn default_client_options() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(250),
            max_retries: 3,
            max_total_elapsed: azure_core::time::Duration::seconds(10),
            max_delay: azure_core::time::Duration::seconds(4),
        }),
        ..Default::default()
    }
}

/// Secrets in one Azure Key Vault.
pub struct KeyVaultSource {
    client: SecretClient,
    vault: url::Url,
    cache_ttl: Duration,
    cache: Mutex<HashMap<SecretName, (Instant, Secret)>>,
    credential_kind: Option<CredentialKind>,
}

impl std::fmt::Debug for KeyVaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVaultSource")
            .field("vault", &self.vault.as_str())
            .field("credential", &self.credential_kind)
            .finish_non_exhaustive()
    }
}

impl KeyVaultSource {
    /// The vault at `vault_url` with the credential chosen from the process
    /// environment ([`choose_credential`]) and production options.
    pub fn from_env(vault_url: &url::Url) -> Result<Self, SecretError> {
        Self::from_env_with_options(vault_url, KeyVaultOptions::default())
    }

    /// Like [`Self::from_env`] with custom options (the same client options
    /// are used for the managed-identity endpoint and the vault).
    pub fn from_env_with_options(
        vault_url: &url::Url,
        options: KeyVaultOptions,
    ) -> Result<Self, SecretError> {
        let (cred, kind) =
            choose_credential(|k| std::env::var(k).ok(), options.client_options.clone())?;
        let mut s = Self::with_credential(vault_url, cred, options)?;
        tracing::info!(vault = %s.vault, credential = %kind, "Key Vault secret source ready");
        s.credential_kind = Some(kind);
        Ok(s)
    }

    /// The vault at `vault_url` reached with `credential`.
    pub fn with_credential(
        vault_url: &url::Url,
        credential: Arc<dyn TokenCredential>,
        options: KeyVaultOptions,
    ) -> Result<Self, SecretError> {
        let source_name = format!("Key Vault {vault_url}");
        if vault_url.scheme() != "https" {
            return Err(SecretError::Other {
                source_name,
                detail: "Key Vault is only reached over https".into(),
            });
        }
        let client = SecretClient::new(
            vault_url.as_str(),
            credential,
            Some(SecretClientOptions {
                client_options: options.client_options,
                verify_challenge_resource: Some(options.verify_challenge_resource),
                ..Default::default()
            }),
        )
        .map_err(|e| SecretError::Other {
            source_name,
            detail: format!("could not create the Key Vault client: {}", error_chain(&e)),
        })?;
        Ok(KeyVaultSource {
            client,
            vault: vault_url.clone(),
            cache_ttl: options.cache_ttl,
            cache: Mutex::new(HashMap::new()),
            credential_kind: None,
        })
    }

    /// The credential picked by [`Self::from_env`] (None when given by hand).
    pub fn credential_kind(&self) -> Option<&CredentialKind> {
        self.credential_kind.as_ref()
    }

    /// Forgets cached values (the next `get` reads the vault).
    pub async fn clear_cache(&self) {
        self.cache.lock().await.clear();
    }

    /// What an administrator should check when the credential fails.
    fn credential_hint(&self) -> String {
        match &self.credential_kind {
            Some(CredentialKind::ManagedIdentity { client_id: Some(id) }) => format!(
                "check that the user-assigned identity {id} (AZURE_CLIENT_ID) is assigned to the function app"
            ),
            Some(CredentialKind::ManagedIdentity { client_id: None }) => {
                "check that the function app has a system-assigned identity, or set AZURE_CLIENT_ID to its user-assigned identity".to_string()
            }
            Some(CredentialKind::DeveloperTools) => {
                "sign in with `az login` (or `azd auth login`) and try again".to_string()
            }
            None => "check the credential given to the Key Vault client".to_string(),
        }
    }

    async fn fetch(&self, name: &SecretName) -> Result<Secret, SecretError> {
        let rsp = self
            .client
            .get_secret(name.as_str(), None)
            .await
            .map_err(|e| self.map_error(&e, name, "reading"))?;
        let model = rsp
            .into_model()
            .map_err(|e| self.map_error(&e, name, "reading"))?;
        let attrs = model.attributes.unwrap_or_default();
        if attrs.enabled == Some(false) {
            return Err(SecretError::Disabled {
                name: name.to_string(),
                source_name: self.describe(),
            });
        }
        let expires_on = attrs.expires.and_then(offset_to_chrono);
        let value = model.value.ok_or_else(|| SecretError::Other {
            source_name: self.describe(),
            detail: format!("secret {name} came back without a value"),
        })?;
        Ok(Secret {
            value: SecretString::new(value),
            expires_on,
        })
    }

    /// Maps an SDK error to a [`SecretError`] naming the vault and the
    /// secret. The SDK's error text never carries a request body, so no
    /// value can leak through it.
    fn map_error(&self, e: &azure_core::Error, name: &SecretName, doing: &str) -> SecretError {
        let source_name = self.describe();
        match e.kind() {
            ErrorKind::HttpResponse {
                status,
                raw_response,
                ..
            } => {
                let status = u16::from(*status);
                let (code, inner, message) = raw_response
                    .as_ref()
                    .map(|r| parse_kv_error(r.body().as_ref()))
                    .unwrap_or_default();
                let what = format!(
                    "{doing} secret {name}: HTTP {status}{}{}",
                    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
                    message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                match status {
                    404 => SecretError::NotFound {
                        name: name.to_string(),
                        source_name,
                    },
                    403 if inner.as_deref() == Some("SecretDisabled") => SecretError::Disabled {
                        name: name.to_string(),
                        source_name,
                    },
                    // Key Vault refuses to read a secret past its expiry
                    // date with 403 and inner code SecretExpired (the
                    // date is not in the answer).
                    403 if inner.as_deref() == Some("SecretExpired") => SecretError::Expired {
                        name: name.to_string(),
                        source_name,
                        expired_on: None,
                    },
                    403 => SecretError::Forbidden {
                        source_name,
                        detail: what,
                    },
                    401 => SecretError::Identity {
                        source_name,
                        detail: format!(
                            "{what}; the vault did not accept the identity's token (is the vault in the same Entra tenant as the identity?)"
                        ),
                    },
                    408 | 429 | 500..=599 => SecretError::Unreachable {
                        source_name,
                        detail: what,
                    },
                    _ => SecretError::Other {
                        source_name,
                        detail: what,
                    },
                }
            }
            ErrorKind::Credential => SecretError::Identity {
                source_name,
                detail: format!(
                    "{doing} secret {name}: {}; {}",
                    error_chain(e),
                    self.credential_hint()
                ),
            },
            ErrorKind::Connection | ErrorKind::Io => SecretError::Unreachable {
                source_name,
                detail: format!("{doing} secret {name}: {}", error_chain(e)),
            },
            _ => SecretError::Other {
                source_name,
                detail: format!("{doing} secret {name}: {}", error_chain(e)),
            },
        }
    }
}

/// `(code, innererror.code, message)` of a Key Vault error body.
fn parse_kv_error(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None, None);
    };
    let err = &v["error"];
    let s = |x: &serde_json::Value| x.as_str().map(str::to_string);
    let inner = if err["innererror"].is_object() {
        &err["innererror"]
    } else {
        &err["innerError"]
    };
    (s(&err["code"]), s(&inner["code"]), s(&err["message"]))
}

/// An error and its sources on one line (the SDK's top message alone is
/// often "failed to execute request"; the cause is further down).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
        if parts.len() > 6 {
            break;
        }
    }
    parts.join(": ")
}

fn offset_to_chrono(t: azure_core::time::OffsetDateTime) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp(t.unix_timestamp(), 0)
}

fn chrono_to_offset(t: DateTime<Utc>) -> Option<azure_core::time::OffsetDateTime> {
    azure_core::time::OffsetDateTime::from_unix_timestamp(t.timestamp()).ok()
}

/// A secret past its expiry is refused here: Key Vault itself still returns
/// expired secrets, but an expired client secret is useless against Entra
/// and the admin needs the clear message.
fn check_expiry(
    secret: Secret,
    name: &SecretName,
    source_name: String,
) -> Result<Secret, SecretError> {
    match secret.expires_on {
        Some(exp) if exp <= Utc::now() => Err(SecretError::Expired {
            name: name.to_string(),
            source_name,
            expired_on: Some(exp),
        }),
        _ => Ok(secret),
    }
}

#[async_trait]
impl SecretSource for KeyVaultSource {
    fn describe(&self) -> String {
        format!("Key Vault {}", self.vault)
    }

    async fn get(&self, name: &SecretName) -> Result<Secret, SecretError> {
        {
            let cache = self.cache.lock().await;
            if let Some((at, s)) = cache.get(name) {
                if at.elapsed() < self.cache_ttl {
                    return check_expiry(s.clone(), name, self.describe());
                }
            }
        }
        let secret = self.fetch(name).await?;
        tracing::debug!(vault = %self.vault, secret_name = %name, "secret read from Key Vault");
        self.cache
            .lock()
            .await
            .insert(name.clone(), (Instant::now(), secret.clone()));
        check_expiry(secret, name, self.describe())
    }

    async fn set(
        &self,
        name: &SecretName,
        value: &SecretString,
        expires_on: Option<DateTime<Utc>>,
    ) -> Result<(), SecretError> {
        let params = SetSecretParameters {
            value: Some(value.expose().to_string()),
            content_type: Some("client-secret".to_string()),
            secret_attributes: Some(SecretAttributes {
                enabled: Some(true),
                expires: expires_on.and_then(chrono_to_offset),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body: RequestContent<SetSecretParameters> =
            params
                .try_into()
                .map_err(|e: azure_core::Error| SecretError::Other {
                    source_name: self.describe(),
                    detail: format!("could not encode secret {name}: {}", e.kind()),
                })?;
        self.client
            .set_secret(name.as_str(), body, None)
            .await
            .map_err(|e| self.map_error(&e, name, "writing"))?;
        tracing::info!(vault = %self.vault, secret_name = %name, expires_on = ?expires_on, "secret written to Key Vault");
        self.cache.lock().await.insert(
            name.clone(),
            (
                Instant::now(),
                Secret {
                    value: value.clone(),
                    expires_on,
                },
            ),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Managed identity is chosen when IDENTITY_ENDPOINT is set, with the
    /// user-assigned client id; otherwise the developer credential.
    #[test]
    fn credential_choice_follows_the_environment() {
        let env = |k: &str| match k {
            "IDENTITY_ENDPOINT" => Some("http://127.0.0.1:1/msi/token".to_string()),
            "AZURE_CLIENT_ID" => Some("0f9e8d7c-0000-4000-8000-000000000001".to_string()),
            _ => None,
        };
        let (_, kind) = choose_credential(env, ClientOptions::default()).unwrap();
        assert_eq!(
            kind,
            CredentialKind::ManagedIdentity {
                client_id: Some("0f9e8d7c-0000-4000-8000-000000000001".into())
            }
        );
        let (_, kind) = choose_credential(|_| None, ClientOptions::default()).unwrap();
        assert_eq!(kind, CredentialKind::DeveloperTools);
    }

    /// Key Vault error bodies are read in both spellings of innererror.
    #[test]
    fn key_vault_error_bodies_are_parsed() {
        let b = br#"{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}"#;
        let (c, i, m) = parse_kv_error(b);
        assert_eq!(c.as_deref(), Some("Forbidden"));
        assert_eq!(i.as_deref(), Some("SecretDisabled"));
        assert!(m.unwrap().contains("disabled"));
        assert_eq!(parse_kv_error(b"not json"), (None, None, None));
    }
}
