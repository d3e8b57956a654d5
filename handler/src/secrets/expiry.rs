//! Client-secret expiry monitoring (`docs/design.md`, rule 9). The redemption
//! timer's daily pass calls [`check_secret_expiry`]: every registered
//! tenant's secret and the host's are read from the secret source, their
//! expiry dates recorded on the tenant records
//! (`SourceTenant::secret_expires_at`, shown by `tenant list` and the
//! report), and a [`crate::events::SECRET_EXPIRY`] event is logged from
//! [`WARN_DAYS`] days before expiry (`level=warning`) and after it
//! (`level=expired`).
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{SecretError, SecretSource};
use crate::domain::{Guid, SecretName};
use crate::events;
use crate::settings::Settings;
use crate::store::TenantRegistry;

/// Warnings start this many days before a secret expires.
pub const WARN_DAYS: i64 = 30;

/// Whose secret a status is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "tenantId", rename_all = "lowercase")]
pub enum SecretOwner {
    /// The host app registration (`GUESTSYNC_HOST_SECRET_NAME`).
    Host,
    /// A source tenant's app registration.
    Tenant(Guid),
}

impl std::fmt::Display for SecretOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretOwner::Host => f.write_str("host"),
            SecretOwner::Tenant(id) => write!(f, "{id}"),
        }
    }
}

/// How close a secret is to its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpiryLevel {
    /// More than [`WARN_DAYS`] left.
    Ok,
    /// The secret has no expiry date recorded (Key Vault `exp` unset):
    /// Entra client secrets always expire, so the admin should set it.
    Unknown,
    /// Expires within [`WARN_DAYS`] days.
    Warning,
    /// Past its expiry date: the tenant's runs fail.
    Expired,
    /// The secret could not be read (missing, disabled, vault refused).
    Unreadable,
}

impl ExpiryLevel {
    /// Lower-case name (the `level` field of log events).
    pub fn as_str(&self) -> &'static str {
        match self {
            ExpiryLevel::Ok => "ok",
            ExpiryLevel::Unknown => "unknown",
            ExpiryLevel::Warning => "warning",
            ExpiryLevel::Expired => "expired",
            ExpiryLevel::Unreadable => "unreadable",
        }
    }
}

/// The result of checking one secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretExpiryStatus {
    pub owner: SecretOwner,
    pub secret_name: SecretName,
    pub expires_on: Option<DateTime<Utc>>,
    /// Whole days until expiry (negative once expired).
    pub days_left: Option<i64>,
    pub level: ExpiryLevel,
    /// Why the secret could not be read (`Unreadable`); never the value.
    pub error: Option<String>,
}

/// Whole days from `now` until `expires_at`, rounded down (floor, not
/// truncation toward zero): 29.5 days left is 29, and a secret that expired
/// 3 hours ago has -1, never 0. The one "days left" rule: the expiry check,
/// `guest-sync tenant list` and the report all use it.
pub fn days_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (expires_at - now).num_seconds().div_euclid(86_400)
}

/// The level of a secret expiring at `expires_at`, seen at `now`: expired
/// from its expiry instant on, a warning within [`WARN_DAYS`] days (the
/// 30th day before included), ok before that.
pub fn expiry_level(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> ExpiryLevel {
    if expires_at <= now {
        ExpiryLevel::Expired
    } else if expires_at - now <= chrono::Duration::days(WARN_DAYS) {
        ExpiryLevel::Warning
    } else {
        ExpiryLevel::Ok
    }
}

/// Days left ([`days_left`]) and level ([`expiry_level`]) for a secret
/// expiring at `expires_on`, seen at `now`; `Unknown` without a date.
pub fn classify(
    expires_on: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Option<i64>, ExpiryLevel) {
    match expires_on {
        None => (None, ExpiryLevel::Unknown),
        Some(exp) => (Some(days_left(exp, now)), expiry_level(exp, now)),
    }
}

/// Reads one secret and classifies it.
async fn check_one(
    secrets: &dyn SecretSource,
    owner: SecretOwner,
    name: &SecretName,
    now: DateTime<Utc>,
) -> SecretExpiryStatus {
    let (expires_on, error) = match secrets.get(name).await {
        Ok(s) => (s.expires_on, None),
        Err(SecretError::Expired { expired_on, .. }) => (Some(expired_on.unwrap_or(now)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let (days_left, level) = match &error {
        Some(_) => (None, ExpiryLevel::Unreadable),
        None => classify(expires_on, now),
    };
    SecretExpiryStatus {
        owner,
        secret_name: name.clone(),
        expires_on,
        days_left,
        level,
        error,
    }
}

/// Logs the `secret_expiry` event for statuses that need attention.
fn log_status(s: &SecretExpiryStatus) {
    let owner = s.owner.to_string();
    let days = s.days_left.unwrap_or_default();
    match s.level {
        ExpiryLevel::Warning => tracing::warn!(
            event = events::SECRET_EXPIRY,
            tenant_id = %owner,
            secret_name = %s.secret_name,
            days_left = days,
            level = "warning",
            "client secret {} expires in {days} days: create a new one and store it under the same name",
            s.secret_name
        ),
        ExpiryLevel::Expired => tracing::error!(
            event = events::SECRET_EXPIRY,
            tenant_id = %owner,
            secret_name = %s.secret_name,
            days_left = days,
            level = "expired",
            "client secret {} has expired: runs fail until a new one is stored under the same name",
            s.secret_name
        ),
        ExpiryLevel::Unreadable => tracing::error!(
            tenant_id = %owner,
            secret_name = %s.secret_name,
            error = s.error.as_deref().unwrap_or(""),
            "client secret could not be read for the expiry check"
        ),
        ExpiryLevel::Unknown => tracing::info!(
            tenant_id = %owner,
            secret_name = %s.secret_name,
            "client secret has no expiry date recorded; set one so guest-sync can warn before it expires"
        ),
        ExpiryLevel::Ok => tracing::debug!(
            tenant_id = %owner,
            secret_name = %s.secret_name,
            days_left = days,
            "client secret expiry ok"
        ),
    }
}

/// Checks the host's secret and every registered tenant's, records each
/// tenant's expiry date (`secret_expires_at`, only when it changed and the
/// secret was readable), logs [`events::SECRET_EXPIRY`] events, and returns
/// one status per secret, the host's first. A store or vault failure for
/// one tenant does not stop the others.
pub async fn check_secret_expiry<S: TenantRegistry + ?Sized>(
    store: &S,
    secrets: &dyn SecretSource,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<SecretExpiryStatus> {
    let mut out = Vec::new();
    if settings.host_credential == crate::settings::HostCredential::Secret {
        let host = check_one(secrets, SecretOwner::Host, &settings.host_secret_name, now).await;
        log_status(&host);
        out.push(host);
    }

    let tenants = match store.list_tenants().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "secret expiry check: could not list tenants");
            return out;
        }
    };
    for t in tenants {
        // A secretless tenant has nothing that expires.
        let Some(secret_name) = t.secret() else {
            continue;
        };
        let status = check_one(secrets, SecretOwner::Tenant(t.tenant_id), secret_name, now).await;
        log_status(&status);
        if status.level != ExpiryLevel::Unreadable && status.expires_on != t.secret_expires_at {
            // Re-read right before writing so a concurrent `tenant enable`
            // is not overwritten with the stale copy.
            match store.get_tenant(t.tenant_id).await {
                Ok(Some(mut fresh)) => {
                    fresh.secret_expires_at = status.expires_on;
                    if let Err(e) = store.put_tenant(&fresh).await {
                        tracing::error!(tenant_id = %t.tenant_id, error = %e, "could not record the secret's expiry date");
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(tenant_id = %t.tenant_id, error = %e, "could not record the secret's expiry date")
                }
            }
        }
        out.push(status);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    /// The warning starts exactly 30 days before expiry; expiry day is expired.
    #[test]
    fn classification_boundaries() {
        let now = at(2026, 11, 23);
        assert_eq!(classify(None, now), (None, ExpiryLevel::Unknown));
        assert_eq!(
            classify(Some(at(2027, 1, 1)), now),
            (Some(39), ExpiryLevel::Ok)
        );
        assert_eq!(
            classify(Some(at(2026, 12, 23)), now),
            (Some(30), ExpiryLevel::Warning)
        );
        assert_eq!(
            classify(Some(at(2026, 12, 24)), now),
            (Some(31), ExpiryLevel::Ok)
        );
        assert_eq!(classify(Some(now), now), (Some(0), ExpiryLevel::Expired));
        assert_eq!(
            classify(Some(at(2026, 11, 20)), now),
            (Some(-3), ExpiryLevel::Expired)
        );
    }

    /// Days left round down: an expiry a few hours ago is -1 (truncation
    /// would say 0), 29.5 days is 29, half a day is 0.
    #[test]
    fn days_left_rounds_down() {
        let now = at(2026, 11, 23);
        let h = chrono::Duration::hours;
        assert_eq!(days_left(now - h(3), now), -1);
        assert_eq!(days_left(now - h(24), now), -1);
        assert_eq!(days_left(now - h(25), now), -2);
        assert_eq!(days_left(now + h(12), now), 0);
        assert_eq!(days_left(now + h(29 * 24 + 12), now), 29);
        assert_eq!(
            classify(Some(now - h(3)), now),
            (Some(-1), ExpiryLevel::Expired)
        );
    }
}
