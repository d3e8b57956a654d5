//! Client secrets: where they come from and the type that carries them.
//!
//! [`SecretString`] cannot be printed or logged: its `Debug` and `Display`
//! show `[redacted]`; the value is reached only through
//! [`SecretString::expose`], at the one place that sends it (the token
//! request, the vault write).
//!
//! [`SecretSource`] is the interface; backends: Azure Key Vault (official
//! SDK) and a local file for development (never used when
//! `GUESTSYNC_KEYVAULT_URL` is set).
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::SecretName;
use crate::settings::Settings;

pub mod expiry;
pub mod keyvault;
pub mod local;

/// A secret value. Never printed: Debug and Display are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(v: impl Into<String>) -> Self {
        SecretString(v.into())
    }
    /// The value itself, for the one call that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A secret with what the vault knows about it.
#[derive(Debug, Clone)]
pub struct Secret {
    pub value: SecretString,
    /// The secret's expiry date (`attributes.exp`), when set.
    pub expires_on: Option<DateTime<Utc>>,
}

/// Why a secret could not be had. Messages name the secret and the vault,
/// never the value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name} was not found in {source_name}")]
    NotFound { name: String, source_name: String },
    #[error("secret {name} in {source_name} is disabled")]
    Disabled { name: String, source_name: String },
    #[error("secret {name} in {source_name} expired{}; create a new client secret and store it under the same name", expired_when(.expired_on))]
    Expired {
        name: String,
        source_name: String,
        /// When, if the source says (Key Vault's 403 `SecretExpired`
        /// does not).
        expired_on: Option<DateTime<Utc>>,
    },
    #[error("access to {source_name} was refused ({detail}); the identity needs the Key Vault Secrets User role")]
    Forbidden { source_name: String, detail: String },
    #[error("could not get a token for {source_name}: {detail}")]
    Identity { source_name: String, detail: String },
    #[error("{source_name} is unreachable: {detail}")]
    Unreachable { source_name: String, detail: String },
    #[error("{source_name}: {detail}")]
    Other { source_name: String, detail: String },
}

impl SecretError {
    /// Worth retrying later (network, throttling) as opposed to needing an
    /// administrator.
    pub fn is_transient(&self) -> bool {
        matches!(self, SecretError::Unreachable { .. })
    }
}

/// Where client secrets come from.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// A human name for errors and logs ("Key Vault https://x.vault.azure.net").
    fn describe(&self) -> String;
    /// Reads a secret (cached for a short time by implementations).
    async fn get(&self, name: &SecretName) -> Result<Secret, SecretError>;
    /// Writes (a new version of) a secret, with its expiry date.
    async fn set(
        &self,
        name: &SecretName,
        value: &SecretString,
        expires_on: Option<DateTime<Utc>>,
    ) -> Result<(), SecretError>;
}

/// The secret source the settings ask for: Azure Key Vault when
/// `GUESTSYNC_KEYVAULT_URL` is set (never the local file then), else the
/// local file `GUESTSYNC_LOCAL_SECRETS` (development only; a warning is
/// logged).
pub async fn secret_source(settings: &Settings) -> Result<Arc<dyn SecretSource>, SecretError> {
    match &settings.keyvault_url {
        Some(url) => Ok(Arc::new(keyvault::KeyVaultSource::from_env(url)?)),
        None => {
            tracing::warn!(
                file = %settings.local_secrets.display(),
                "GUESTSYNC_KEYVAULT_URL is not set: using the local secrets file (development only)"
            );
            Ok(Arc::new(local::LocalFileSource::new(
                settings.local_secrets.clone(),
            )))
        }
    }
}

/// " on <date>" when the expiry date is known.
fn expired_when(on: &Option<DateTime<Utc>>) -> String {
    on.map(|d| format!(" on {d}")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither Debug nor Display shows a secret's value.
    #[test]
    fn secret_string_never_prints() {
        let s = SecretString::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!("{s:?}").contains("hunter2"));
        let sec = Secret {
            value: s,
            expires_on: None,
        };
        assert!(!format!("{sec:?}").contains("hunter2"));
    }
}
