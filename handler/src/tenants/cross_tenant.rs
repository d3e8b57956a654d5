//! The host's cross-tenant access settings for source tenants, as
//! `tenant add`, `tenant test`, `tenant list` and the daily job read them:
//! with the host app's own token (its secret from the secret source), one
//! partner entry per tenant plus the default once. A read that cannot be
//! made gives `unknown` with the reason, never an error: only a policy
//! that blocks inbound B2B collaboration stops `tenant add`.
use chrono::{DateTime, Utc};

use crate::domain::{CrossTenantStatus, Guid, SourceTenant};
use crate::graph::cross_tenant::{inbound_status, DefaultPolicy};
use crate::graph::{AppCredentials, Credential, GraphClient, GraphConfig, GraphError, TenantGraph};
use crate::secrets::SecretSource;
use crate::settings::{HostCredential, Settings};
use crate::store::Store;

/// Retries of one policy read: an administrator may be waiting.
const MAX_RETRIES: u32 = 2;

/// Reads the host's settings for several tenants with one token and one
/// read of the default configuration.
pub struct HostPolicyReader {
    host: Result<TenantGraph, String>,
    default: DefaultPolicy,
}

impl HostPolicyReader {
    /// A reader with the host app of `settings` (None: the host settings
    /// are not set, so every status is unknown), through `client` or a
    /// client of its own.
    pub async fn new(
        settings: Option<&Settings>,
        secrets: &dyn SecretSource,
        client: Option<&GraphClient>,
    ) -> HostPolicyReader {
        HostPolicyReader {
            host: host_graph(settings, secrets, client).await,
            default: None,
        }
    }

    /// The settings the host applies to `partner`.
    pub async fn status(&mut self, partner: Guid, now: DateTime<Utc>) -> CrossTenantStatus {
        match &self.host {
            Ok(h) => inbound_status(h, partner, &mut self.default, now).await,
            Err(why) => CrossTenantStatus::unknown(why.clone(), now),
        }
    }
}

async fn host_graph(
    settings: Option<&Settings>,
    secrets: &dyn SecretSource,
    client: Option<&GraphClient>,
) -> Result<TenantGraph, String> {
    let Some(st) = settings else {
        return Err(
            "the host settings (GUESTSYNC_HOST_TENANT_ID, GUESTSYNC_HOST_CLIENT_ID, GUESTSYNC_HOST_SECRET_NAME) are not set, so the host's policy cannot be read".into(),
        );
    };
    let creds: Credential = if st.host_credential == HostCredential::ManagedIdentity {
        Credential::ManagedIdentity {
            tenant_id: st.host_tenant_id,
        }
    } else {
        let secret = secrets.get(&st.host_secret_name).await.map_err(|e| {
            format!(
                "the host app's secret could not be read, so the host's policy cannot be read: {e}"
            )
        })?;
        Credential::Secret(AppCredentials {
            tenant_id: st.host_tenant_id,
            client_id: st.host_client_id,
            secret: secret.value,
        })
    };
    let client = match client {
        Some(c) => c.clone(),
        None => {
            let mut cfg = GraphConfig::from_settings(st);
            cfg.max_retries = cfg.max_retries.min(MAX_RETRIES);
            GraphClient::new(cfg).map_err(|e| format!("Graph client: {e}"))?
        }
    };
    client.check(&creds).await.map_err(|e| match e {
        GraphError::Auth { .. } => {
            format!("the host could not sign in ({e}); `guest-sync doctor` says why")
        }
        e => format!("the host's Graph could not be reached: {e}"),
    })?;
    Ok(client.tenant(creds))
}

/// Reads and stores the status of every registered tenant (the daily job).
/// Returns one line per tenant for the logs; a failed store write is a
/// line too.
pub async fn refresh_all(
    store: &dyn Store,
    settings: &Settings,
    secrets: &dyn SecretSource,
    client: &GraphClient,
    now: DateTime<Utc>,
) -> Vec<String> {
    let tenants = match store.list_tenants().await {
        Ok(t) => t,
        Err(e) => return vec![format!("cross-tenant settings: store: {e}")],
    };
    if tenants.is_empty() {
        return Vec::new();
    }
    let mut reader = HostPolicyReader::new(Some(settings), secrets, Some(client)).await;
    let mut lines = Vec::new();
    for t in tenants {
        let s = reader.status(t.tenant_id, now).await;
        lines.push(format!(
            "cross-tenant settings of {}: {}",
            t.tenant_id,
            s.summary()
        ));
        if let Err(e) = store_status(store, t.tenant_id, s).await {
            lines.push(format!(
                "cross-tenant settings of {}: store: {e}",
                t.tenant_id
            ));
        }
    }
    lines
}

/// Writes `s` on the tenant's record (re-read first, so nothing else on
/// the record is lost). A tenant removed meanwhile is left alone.
pub async fn store_status(
    store: &dyn Store,
    tenant: Guid,
    s: CrossTenantStatus,
) -> Result<(), crate::store::StoreError> {
    if let Some(mut t) = store.get_tenant(tenant).await? {
        t.cross_tenant = Some(s);
        store.put_tenant(&t).await?;
    }
    Ok(())
}

/// The line `tenant list` and the report show for a tenant.
pub fn describe(t: &SourceTenant) -> String {
    match &t.cross_tenant {
        Some(s) => s.summary(),
        None => "automatic redemption unknown: not read yet (`guest-sync tenant test` reads it)"
            .to_string(),
    }
}
