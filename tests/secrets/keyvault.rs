//! The Key Vault secret source with the real SDK and the real
//! `ManagedIdentityCredential`, against [`FakeVault`].
use std::time::Duration;

use chrono::{TimeZone, Utc};
use guest_sync::domain::SecretName;
use guest_sync::secrets::keyvault::{CredentialKind, KeyVaultOptions, KeyVaultSource};
use guest_sync::secrets::{SecretError, SecretSource, SecretString};

use super::fake_vault::FakeVault;
use super::EnvGuard;

const UAMI: &str = "5b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";

fn name(s: &str) -> SecretName {
    SecretName::parse(s).unwrap()
}

/// Sets the App Service identity variables for `vault` (user-assigned id
/// `client_id`) and builds the source exactly as production does.
async fn source_for(
    vault: &FakeVault,
    url: &url::Url,
    client_id: Option<&str>,
    options: azure_core::http::ClientOptions,
) -> (KeyVaultSource, EnvGuard) {
    let guard = EnvGuard::set(&[
        ("IDENTITY_ENDPOINT", Some(&vault.identity_endpoint)),
        ("IDENTITY_HEADER", Some(&vault.identity_header)),
        ("AZURE_CLIENT_ID", client_id),
        ("IDENTITY_SERVER_THUMBPRINT", None),
        ("IMDS_ENDPOINT", None),
        ("MSI_ENDPOINT", None),
    ])
    .await;
    let src = KeyVaultSource::from_env_with_options(
        url,
        KeyVaultOptions {
            client_options: options,
            cache_ttl: Duration::from_secs(300),
            verify_challenge_resource: true,
        },
    )
    .unwrap();
    (src, guard)
}

/// A secret is read through the 401 challenge and a managed-identity token,
/// with its expiry date; a second read within the TTL is served from cache.
#[tokio::test]
async fn secret_is_read_with_expiry_through_the_challenge_and_managed_identity() {
    let vault = FakeVault::start().await;
    vault.allow_client_id(UAMI);
    let exp = Utc.with_ymd_and_hms(2031, 5, 1, 0, 0, 0).unwrap();
    vault.put("contoso-app", "s3cr3t-value-A", true, Some(exp.timestamp()));
    let (src, _env) =
        source_for(&vault, &vault.vault_url, Some(UAMI), vault.client_options()).await;
    assert_eq!(
        src.credential_kind(),
        Some(&CredentialKind::ManagedIdentity {
            client_id: Some(UAMI.to_string())
        })
    );

    let s = src.get(&name("contoso-app")).await.unwrap();
    assert_eq!(s.value.expose(), "s3cr3t-value-A");
    assert_eq!(s.expires_on, Some(exp));
    let reqs = vault.vault_requests();
    assert_eq!(reqs.len(), 2, "challenge then authorised request: {reqs:?}");
    assert!(!reqs[0].1 && reqs[1].1, "{reqs:?}");
    assert_eq!(vault.token_requests(), 1);

    let again = src.get(&name("contoso-app")).await.unwrap();
    assert_eq!(again.value.expose(), "s3cr3t-value-A");
    assert_eq!(
        vault.vault_requests().len(),
        2,
        "second read came from the cache"
    );
}

/// A missing secret is NotFound, naming the secret and the vault.
#[tokio::test]
async fn missing_secret_is_not_found_naming_secret_and_vault() {
    let vault = FakeVault::start().await;
    let (src, _env) = source_for(&vault, &vault.vault_url, None, vault.client_options()).await;
    let e = src.get(&name("nobody-home")).await.unwrap_err();
    assert!(matches!(e, SecretError::NotFound { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("nobody-home") && msg.contains("guestsync.vault.test"),
        "{msg}"
    );
}

/// A disabled secret (Key Vault's 403 SecretDisabled) is Disabled.
#[tokio::test]
async fn disabled_secret_is_reported_disabled() {
    let vault = FakeVault::start().await;
    vault.put("off-secret", "disabled-value-B", false, None);
    let (src, _env) = source_for(&vault, &vault.vault_url, None, vault.client_options()).await;
    let e = src.get(&name("off-secret")).await.unwrap_err();
    assert!(matches!(e, SecretError::Disabled { .. }), "{e:?}");
    assert!(e.to_string().contains("off-secret"));
    assert!(!e.to_string().contains("disabled-value-B"));
}

/// A secret past its expiry: Key Vault refuses the read with 403 and
/// inner code SecretExpired; that is Expired (not "access refused"), with
/// the fix in the message.
#[tokio::test]
async fn expired_secret_is_reported_expired() {
    let vault = FakeVault::start().await;
    let exp = Utc.with_ymd_and_hms(2024, 1, 31, 0, 0, 0).unwrap();
    vault.put("old-secret", "expired-value-C", true, Some(exp.timestamp()));
    let (src, _env) = source_for(&vault, &vault.vault_url, None, vault.client_options()).await;
    let e = src.get(&name("old-secret")).await.unwrap_err();
    match &e {
        SecretError::Expired { expired_on, .. } => assert_eq!(*expired_on, None),
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(
        e.to_string().contains("old-secret in") && e.to_string().contains(" expired;"),
        "{e}"
    );
    assert!(e.to_string().contains("create a new client secret"), "{e}");
    assert!(!e.to_string().contains("expired-value-C"));
}

/// A vault nobody answers for is Unreachable, a transient error.
#[tokio::test]
async fn unreachable_vault_is_transient_and_named() {
    let vault = FakeVault::start().await;
    let url = FakeVault::unreachable_url().await;
    let port = url.port().unwrap();
    let (src, _env) = source_for(&vault, &url, None, vault.client_options_to_port(port)).await;
    let e = src.get(&name("any-secret")).await.unwrap_err();
    assert!(matches!(e, SecretError::Unreachable { .. }), "{e:?}");
    assert!(e.is_transient());
    let msg = e.to_string();
    assert!(
        msg.contains("any-secret") && msg.contains(&port.to_string()),
        "{msg}"
    );
}

/// When the identity endpoint refuses the identity (unknown user-assigned
/// client id), the error is an Identity error that says so.
#[tokio::test]
async fn refused_identity_is_an_identity_error() {
    let vault = FakeVault::start().await;
    vault.put("contoso-app", "never-seen-value-D", true, None);
    let (src, _env) = source_for(
        &vault,
        &vault.vault_url,
        Some("00000000-0000-4000-8000-00000000dead"),
        vault.client_options(),
    )
    .await;
    let e = src.get(&name("contoso-app")).await.unwrap_err();
    assert!(matches!(e, SecretError::Identity { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("contoso-app"), "{msg}");
    assert!(
        msg.contains("Managed Identity") || msg.contains("identity"),
        "{msg}"
    );
    assert!(!msg.contains("never-seen-value-D"));
    assert_eq!(vault.token_requests(), 0);
}

/// `set` writes a new version with its expiry; a fresh source reads it back.
#[tokio::test]
async fn set_writes_value_and_expiry() {
    let vault = FakeVault::start().await;
    let exp = Utc.with_ymd_and_hms(2030, 12, 24, 0, 0, 0).unwrap();
    let (src, _env) = source_for(&vault, &vault.vault_url, None, vault.client_options()).await;
    src.set(
        &name("new-secret"),
        &SecretString::new("written-value-E"),
        Some(exp),
    )
    .await
    .unwrap();
    let stored = vault.latest("new-secret").unwrap();
    assert_eq!(stored.value, "written-value-E");
    assert_eq!(stored.exp, Some(exp.timestamp()));
    src.clear_cache().await;
    let back = src.get(&name("new-secret")).await.unwrap();
    assert_eq!(back.value.expose(), "written-value-E");
    assert_eq!(back.expires_on, Some(exp));
}

/// `secret_source` picks Key Vault whenever GUESTSYNC_KEYVAULT_URL is set,
/// even if a local secrets file exists; the local file otherwise.
#[tokio::test]
async fn secret_source_prefers_key_vault_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.json");
    std::fs::write(&local, "{}").unwrap();
    let base = |kv: Option<&str>| {
        let local = local.display().to_string();
        let kv = kv.map(str::to_string);
        guest_sync::settings::Settings::from_lookup(move |k| match k {
            "GUESTSYNC_HOST_TENANT_ID" => Some("11111111-1111-4111-8111-111111111111".into()),
            "GUESTSYNC_HOST_CLIENT_ID" => Some("22222222-2222-4222-8222-222222222222".into()),
            "GUESTSYNC_HOST_SECRET_NAME" => Some("host-app-secret".into()),
            "GUESTSYNC_LOCAL_SECRETS" => Some(local.clone()),
            "GUESTSYNC_KEYVAULT_URL" => kv.clone(),
            _ => None,
        })
        .unwrap()
    };
    let _env = EnvGuard::set(&[("IDENTITY_ENDPOINT", None), ("MSI_ENDPOINT", None)]).await;
    let kv = guest_sync::secrets::secret_source(&base(Some("https://contoso-gs.vault.azure.net")))
        .await
        .unwrap();
    assert!(
        kv.describe()
            .starts_with("Key Vault https://contoso-gs.vault.azure.net"),
        "{}",
        kv.describe()
    );
    let lf = guest_sync::secrets::secret_source(&base(None))
        .await
        .unwrap();
    assert!(lf.describe().contains("local.json"), "{}", lf.describe());
}

/// After the cache TTL a read goes to the vault again, so a rotated secret
/// is picked up.
#[tokio::test]
async fn a_rotated_secret_is_picked_up_after_the_cache_ttl() {
    let vault = FakeVault::start().await;
    vault.put("rotating", "first-value-F", true, None);
    let _env = EnvGuard::set(&[
        ("IDENTITY_ENDPOINT", Some(&vault.identity_endpoint)),
        ("IDENTITY_HEADER", Some(&vault.identity_header)),
        ("AZURE_CLIENT_ID", None),
    ])
    .await;
    let src = KeyVaultSource::from_env_with_options(
        &vault.vault_url,
        KeyVaultOptions {
            client_options: vault.client_options(),
            cache_ttl: Duration::ZERO,
            verify_challenge_resource: true,
        },
    )
    .unwrap();
    assert_eq!(
        src.get(&name("rotating")).await.unwrap().value.expose(),
        "first-value-F"
    );
    vault.put("rotating", "second-value-G", true, None);
    assert_eq!(
        src.get(&name("rotating")).await.unwrap().value.expose(),
        "second-value-G"
    );
}
