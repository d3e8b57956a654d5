//! The doctor's configuration checks: the four timer schedules (present
//! and valid NCRONTAB), the other settings, the store (opened and read),
//! the secret source, and the registry of source tenants to check.
use std::sync::Arc;

use chrono::Utc;

use super::{Check, Parts, Report};
use crate::domain::{Guid, SecretName, SourceTenant};
use crate::secrets::{SecretError, SecretSource};
use crate::settings::{
    is_loopback, validate_schedule, Settings, StoreSpec, DEFAULT_DELTA_SCHEDULE,
    DEFAULT_PHOTO_SCHEDULE, DEFAULT_REDEMPTION_SCHEDULE, DEFAULT_SYNC_SCHEDULE,
};
use crate::store::Store;

/// The timer schedule settings, their check ids and defaults.
const SCHEDULES: &[(&str, &str, &str)] = &[
    (
        "GUESTSYNC_SYNC_SCHEDULE",
        "schedule.sync",
        DEFAULT_SYNC_SCHEDULE,
    ),
    (
        "GUESTSYNC_PHOTO_SCHEDULE",
        "schedule.photo",
        DEFAULT_PHOTO_SCHEDULE,
    ),
    (
        "GUESTSYNC_REDEMPTION_SCHEDULE",
        "schedule.redemption",
        DEFAULT_REDEMPTION_SCHEDULE,
    ),
    (
        "GUESTSYNC_DELTA_SCHEDULE",
        "schedule.delta",
        DEFAULT_DELTA_SCHEDULE,
    ),
];

/// One check per schedule setting: set and a valid six-field NCRONTAB
/// expression. Unset is a warning: the CLI uses the default, but in Azure
/// the Functions host refuses to load a timer whose `%SETTING%` is missing.
pub fn schedules(lookup: &(dyn Fn(&str) -> Option<String> + Sync), r: &mut Report) {
    for (name, id, default) in SCHEDULES {
        let title = format!("schedule {name}");
        match lookup(name).filter(|v| !v.trim().is_empty()) {
            None => r.push(Check::warn(
                *id,
                title,
                "not set: the Functions host will not load the timer that uses it",
                format!("add the app setting {name} (default {default:?})"),
            )),
            Some(v) => match validate_schedule(name, &v) {
                Ok(v) => r.push(Check::ok(*id, title, format!("{v:?}"))),
                Err(e) => r.push(Check::fail(
                    *id,
                    title,
                    e.problem,
                    format!("set {name} to six NCRONTAB fields (second minute hour day month day-of-week), e.g. {default:?}"),
                )),
            },
        }
    }
}

/// Every other setting, validated as at start-up (the schedules are left
/// to [`schedules`]). None when a setting is bad: nothing else can run.
pub fn settings(
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
    r: &mut Report,
) -> Option<Settings> {
    let masked = |k: &str| {
        if SCHEDULES.iter().any(|(n, _, _)| *n == k) {
            None
        } else {
            lookup(k)
        }
    };
    match Settings::from_lookup(masked) {
        Ok(s) => {
            r.push(Check::ok(
                "settings",
                "settings",
                match s.host_credential {
                    crate::settings::HostCredential::Secret => format!(
                        "host tenant {}, app {}, Graph {}",
                        s.host_tenant_id, s.host_client_id, s.graph_url
                    ),
                    crate::settings::HostCredential::ManagedIdentity => format!(
                        "host tenant {} through the managed identity, Graph {}",
                        s.host_tenant_id, s.graph_url
                    ),
                },
            ));
            Some(s)
        }
        Err(e) => {
            r.push(Check::fail(
                "settings",
                "settings",
                e.to_string(),
                format!(
                    "set {} as the README's Settings table says; nothing else can be checked until then",
                    e.name
                ),
            ));
            None
        }
    }
}

/// Secretless sign-ins (secretless source tenants, the host through the
/// managed identity) need the managed identity endpoint, and secretless
/// tenants the host's multi-tenant app. One check, only when something
/// uses them.
pub fn secretless(
    lookup: &(dyn Fn(&str) -> Option<String> + Sync),
    settings: &Settings,
    tenants: &[SourceTenant],
    r: &mut Report,
) {
    const ID: &str = "config.secretless";
    let secretless = tenants.iter().filter(|t| t.is_secretless()).count();
    let host_mi = settings.host_credential == crate::settings::HostCredential::ManagedIdentity;
    if secretless == 0 && !host_mi {
        return;
    }
    let title = "secretless sign-in";
    let set = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    if set("IDENTITY_ENDPOINT").is_none() {
        r.push(Check::fail(
            ID,
            title,
            format!("{secretless} secretless tenant(s){} but IDENTITY_ENDPOINT is not set", if host_mi { " and GUESTSYNC_HOST_CREDENTIAL=managed-identity" } else { "" }),
            "run in the function app (Azure sets IDENTITY_ENDPOINT and IDENTITY_HEADER for its managed identity) and set AZURE_CLIENT_ID to the user-assigned identity's client id; locally, use the values `guest-sync sim serve --tls` prints",
        ));
        return;
    }
    if secretless > 0 && settings.federated_app_id.is_none() {
        r.push(Check::fail(
            ID,
            title,
            format!("{secretless} secretless tenant(s) but GUESTSYNC_FEDERATED_APP_ID is not set"),
            "set GUESTSYNC_FEDERATED_APP_ID to the host's multi-tenant app (infra/secretless.sh creates it and prints its id; the deployment's federatedAppId parameter sets the app setting)",
        ));
        return;
    }
    if settings.authority_url.scheme() != "https" {
        r.push(Check::fail(
            ID,
            title,
            "GUESTSYNC_AUTHORITY_URL is not https: azure_identity refuses it",
            "use the https authority (against the simulator: `sim serve --tls` and GUESTSYNC_TLS_CA_FILE)",
        ));
        return;
    }
    r.push(Check::ok(
        ID,
        title,
        format!(
            "managed identity endpoint set{}, {secretless} secretless tenant(s){}",
            set("AZURE_CLIENT_ID")
                .map(|c| format!(" (user-assigned {c})"))
                .unwrap_or_default(),
            if host_mi {
                ", host through the managed identity"
            } else {
                ""
            }
        ),
    ));
}

/// The store: opened and read (the tenant registry). A SQLite file that
/// does not exist is a failure, not created: the doctor writes nothing.
pub async fn store(settings: &Settings, r: &mut Report) -> Option<Arc<dyn Store>> {
    const ID: &str = "store";
    let title = format!("store {}", settings.store);
    if let StoreSpec::Sqlite(p) = &settings.store {
        if !p.is_file() {
            r.push(Check::fail(
                ID,
                title,
                format!("{} does not exist", p.display()),
                "check GUESTSYNC_STORE (sqlite:<path of the existing store>); the doctor does not create a store",
            ));
            return None;
        }
    }
    let store = match crate::store::open(&settings.store).await {
        Ok(s) => s,
        Err(e) => {
            r.push(Check::fail(
                ID,
                title,
                format!("cannot be opened: {e}"),
                "check GUESTSYNC_STORE and that this identity may read it (Storage Table Data Contributor on the account for a table endpoint)",
            ));
            return None;
        }
    };
    match store.list_tenants().await {
        Ok(ts) => {
            r.push(Check::ok(
                ID,
                title,
                format!("reachable, {} source tenant(s) registered", ts.len()),
            ));
            Some(store)
        }
        Err(e) => {
            r.push(Check::fail(
                ID,
                title,
                format!("opened but the tenant registry cannot be read: {e}"),
                "check GUESTSYNC_STORE and that this identity may read it",
            ));
            None
        }
    }
}

/// The secret source (Key Vault, or the local file for development).
pub async fn secret_source(settings: &Settings, r: &mut Report) -> Option<Arc<dyn SecretSource>> {
    const ID: &str = "vault";
    match crate::secrets::secret_source(settings).await {
        Err(e) => {
            r.push(Check::fail(
                ID,
                "secret source",
                e.to_string(),
                "check GUESTSYNC_KEYVAULT_URL and the identity's access (Key Vault Secrets User)",
            ));
            None
        }
        Ok(s) => {
            let detail = s.describe();
            if settings.keyvault_url.is_none() && !is_loopback(&settings.graph_url) {
                r.push(Check::warn(
                    ID,
                    "secret source",
                    format!("{detail}: GUESTSYNC_KEYVAULT_URL is not set"),
                    "set GUESTSYNC_KEYVAULT_URL: the local secrets file is for development only",
                ));
            } else {
                r.push(Check::ok(ID, "secret source", detail));
            }
            Some(s)
        }
    }
}

/// Reads one secret (its value stays inside [`SecretString`]): ok, warn
/// within [`crate::secrets::expiry::WARN_DAYS`] of its expiry, fail when
/// missing, disabled, expired or unreadable. The secret when usable.
pub async fn secret(
    source: &dyn SecretSource,
    name: &SecretName,
    id: String,
    whose: &str,
    r: &mut Report,
) -> Option<crate::secrets::SecretString> {
    let title = format!("secret {name} ({whose})");
    let store_it = format!(
        "store {whose}'s client secret under {name} in {}",
        source.describe()
    );
    match source.get(name).await {
        Ok(s) => {
            let now = Utc::now();
            match s.expires_on {
                Some(t) if t <= now => {
                    r.push(Check::fail(
                        id,
                        title,
                        format!("expired on {}", t.date_naive()),
                        format!("create a new client secret and {store_it}"),
                    ));
                    None
                }
                Some(t) if t - now <= chrono::Duration::days(crate::secrets::expiry::WARN_DAYS) => {
                    r.push(Check::warn(
                        id,
                        title,
                        format!("readable, expires on {}", t.date_naive()),
                        format!("before then, create a new client secret and {store_it}"),
                    ));
                    Some(s.value)
                }
                Some(t) => {
                    r.push(Check::ok(
                        id,
                        title,
                        format!("readable, expires on {}", t.date_naive()),
                    ));
                    Some(s.value)
                }
                None => {
                    r.push(Check::ok(id, title, "readable, no expiry date recorded"));
                    Some(s.value)
                }
            }
        }
        Err(e) => {
            let fix = match &e {
                SecretError::NotFound { .. } | SecretError::Expired { .. } => store_it,
                SecretError::Disabled { .. } => format!("enable secret {name}, or {store_it}"),
                SecretError::Forbidden { .. } => {
                    "grant this identity the Key Vault Secrets User role on the vault".into()
                }
                SecretError::Identity { .. } => {
                    "the app's identity got no token for the vault: check the function app's managed identity (AZURE_CLIENT_ID for a user-assigned one) and that the vault is in its Entra tenant".into()
                }
                _ => "check GUESTSYNC_KEYVAULT_URL and the network path to the vault".into(),
            };
            r.push(Check::fail(id, title, e.to_string(), fix));
            None
        }
    }
}

/// The source tenants to check: every registered one, or only `only` (a
/// failed check when it is not registered).
pub async fn tenants(parts: &Parts, only: Option<Guid>, r: &mut Report) -> Vec<SourceTenant> {
    let Some(store) = &parts.store else {
        return Vec::new();
    };
    let all = match store.list_tenants().await {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    match only {
        Some(id) => {
            let found: Vec<SourceTenant> = all.into_iter().filter(|t| t.tenant_id == id).collect();
            if found.is_empty() {
                r.push(Check::fail(
                    format!("source.{id}"),
                    format!("source tenant {id}"),
                    "not registered",
                    "check the id (guest-sync tenant list), or register it with guest-sync tenant add",
                ));
            }
            found
        }
        None => {
            if all.is_empty() {
                r.push(Check::warn(
                    "tenants",
                    "source tenants",
                    "none registered: a sync has nothing to do",
                    "register one with guest-sync tenant add (docs/onboarding.md)",
                ));
            }
            all
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FunctionName;

    /// Every timer's schedule setting has its doctor check, and nothing else does.
    #[test]
    fn every_timer_schedule_is_checked() {
        let timers: Vec<&str> = FunctionName::ALL
            .iter()
            .filter_map(|f| f.schedule_setting())
            .collect();
        let checked: Vec<&str> = SCHEDULES.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(checked, timers);
    }
}
