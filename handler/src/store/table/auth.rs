//! Authentication for the Table service REST API.
//!
//! - **Shared Key** (connection strings, Azurite): every request is signed
//!   with HMAC-SHA256 of the account key over the Table service's string to
//!   sign (`VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedResource`).
//! - **Entra bearer** (a table endpoint URL, managed identity in Azure): a
//!   [`TokenSource`] hands out tokens for `https://storage.azure.com/.default`.
//!   [`CredentialTokenSource`] adapts any `azure_core` `TokenCredential` and
//!   caches the token until five minutes before it expires;
//!   [`default_token_source`] picks the managed identity when
//!   `IDENTITY_ENDPOINT` is set (App Service / Functions), otherwise the
//!   developer tools' sign-in (Azure CLI, azd).
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::Mutex;

use crate::store::{StoreError, StoreResult};

/// The OAuth scope of Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Source of bearer tokens for [`STORAGE_SCOPE`].
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token (without the `Bearer ` prefix).
    async fn token(&self) -> StoreResult<String>;
}

/// The `Authorization` header value for a bearer token.
pub fn bearer_header(token: &str) -> String {
    format!("Bearer {token}")
}

/// A fixed token (tests, or a token obtained elsewhere).
pub struct StaticToken(pub String);

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> StoreResult<String> {
        Ok(self.0.clone())
    }
}

/// Adapts an `azure_core` credential, caching its token.
pub struct CredentialTokenSource {
    credential: Arc<dyn azure_core::credentials::TokenCredential>,
    /// The token and its expiry; refreshed five minutes early.
    cached: Mutex<Option<(String, chrono::DateTime<chrono::Utc>)>>,
}

impl CredentialTokenSource {
    pub fn new(credential: Arc<dyn azure_core::credentials::TokenCredential>) -> Self {
        CredentialTokenSource {
            credential,
            cached: Mutex::new(None),
        }
    }
}

#[async_trait]
impl TokenSource for CredentialTokenSource {
    async fn token(&self) -> StoreResult<String> {
        let mut cached = self.cached.lock().await;
        let now = chrono::Utc::now();
        if let Some((tok, exp)) = cached.as_ref() {
            if *exp - chrono::Duration::minutes(5) > now {
                return Ok(tok.clone());
            }
        }
        let t = self
            .credential
            .get_token(&[STORAGE_SCOPE], None)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot get a token for Azure Storage: {e}"))
            })?;
        let tok = t.token.secret().to_string();
        let exp = chrono::DateTime::from_timestamp(t.expires_on.unix_timestamp(), 0).unwrap_or(now);
        *cached = Some((tok.clone(), exp));
        Ok(tok)
    }
}

/// Managed identity when `IDENTITY_ENDPOINT` is set (a user-assigned one
/// named by `AZURE_CLIENT_ID`), else the developer tools' sign-in.
pub fn default_token_source() -> StoreResult<Arc<dyn TokenSource>> {
    use azure_identity::{
        DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
        UserAssignedId,
    };
    let err = |e: azure_core::Error| {
        StoreError::Other(format!(
            "cannot set up Entra credentials for Azure Storage: {e}"
        ))
    };
    let cred: Arc<dyn azure_core::credentials::TokenCredential> =
        if std::env::var_os("IDENTITY_ENDPOINT").is_some() {
            let user_assigned_id = std::env::var("AZURE_CLIENT_ID")
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(UserAssignedId::ClientId);
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id,
                ..Default::default()
            }))
            .map_err(err)?
        } else {
            DeveloperToolsCredential::new(None).map_err(err)?
        };
    Ok(Arc::new(CredentialTokenSource::new(cred)))
}

/// An account name and its key, for Shared Key signing. The key is never
/// printed.
#[derive(Clone)]
pub struct SharedKey {
    pub account: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedKey({}, key redacted)", self.account)
    }
}

impl SharedKey {
    /// `key_b64` is the account key as the portal shows it (base64).
    pub fn new(account: &str, key_b64: &str) -> StoreResult<Self> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(key_b64.trim())
            .map_err(|_| {
                StoreError::Other(format!(
                    "storage connection string: AccountKey of account {account:?} is not base64"
                ))
            })?;
        Ok(SharedKey {
            account: account.to_string(),
            key,
        })
    }

    /// The `Authorization` header for a request. `path` is the request URL's
    /// (percent-encoded) path, `comp` its `comp` query parameter if any,
    /// `date` the `x-ms-date` header.
    pub fn authorization(
        &self,
        verb: &str,
        content_type: &str,
        date: &str,
        path: &str,
        comp: Option<&str>,
    ) -> String {
        let mut resource = format!("/{}{}", self.account, path);
        if let Some(c) = comp {
            resource.push_str("?comp=");
            resource.push_str(c);
        }
        let to_sign = format!("{verb}\n\n{content_type}\n{date}\n{resource}");
        // HMAC accepts keys of any length, so this cannot fail.
        let sig = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mut mac) => {
                mac.update(to_sign.as_bytes());
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        };
        format!("SharedKey {}:{sig}", self.account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Shared Key signature matches one computed independently for the
    /// Azurite well-known account (HMAC-SHA256 over the Table string to sign).
    #[test]
    fn shared_key_signature_matches_the_reference() {
        let k = SharedKey::new(
            "devstoreaccount1",
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
        )
        .unwrap();
        let h = k.authorization(
            "GET",
            "",
            "Mon, 23 Nov 2026 01:00:00 GMT",
            "/devstoreaccount1/Tables",
            None,
        );
        // Reference: printf 'GET\n\n\nMon, 23 Nov 2026 01:00:00 GMT\n/devstoreaccount1/devstoreaccount1/Tables'
        //   | openssl dgst -sha256 -mac HMAC -macopt hexkey:<key as hex> -binary | base64
        assert_eq!(
            h,
            "SharedKey devstoreaccount1:REFERENCE".replace(
                "REFERENCE",
                include_str!("testdata/shared_key_reference.txt").trim()
            )
        );
    }

    /// A key that is not base64 is refused without echoing the key.
    #[test]
    fn a_non_base64_key_is_refused_without_echoing_it() {
        let e = SharedKey::new("acct", "not base64 !!")
            .unwrap_err()
            .to_string();
        assert!(e.contains("acct") && !e.contains("not base64 !!"), "{e}");
    }

    /// The bearer header carries the token after `Bearer `, and a static
    /// source hands the token back unchanged.
    #[tokio::test]
    async fn bearer_header_is_formed_from_the_token() {
        let src = StaticToken("eyJ0eXAi.abc.def".into());
        let t = src.token().await.unwrap();
        assert_eq!(bearer_header(&t), "Bearer eyJ0eXAi.abc.def");
    }
}
