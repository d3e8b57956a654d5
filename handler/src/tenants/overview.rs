//! `tenant list`'s overview: each registered tenant's health
//! ([`HealthLevel`]) with the reasons, guests, secret expiry and newest run
//! ([`TenantRow`]), built by [`tenant_overview`].
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{
    CrossTenantStatus, Guid, InboundB2b, RunOutcome, SecretName, TenantCredential,
};
use crate::secrets::expiry::{classify, ExpiryLevel};
use crate::secrets::{SecretError, SecretSource};
use crate::store::Store;

use super::probe::SourceProbe;
use super::{active_guests, OnboardingError};

/// How a tenant is doing, in one word plus reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthLevel {
    Ok,
    Warning,
    Error,
    Disabled,
    Offboarding,
}

impl HealthLevel {
    fn rank(self) -> u8 {
        match self {
            HealthLevel::Ok => 0,
            HealthLevel::Warning => 1,
            HealthLevel::Error => 2,
            HealthLevel::Disabled => 3,
            HealthLevel::Offboarding => 4,
        }
    }
}

/// Raises `health` to `h` when `h` is worse (disabled and offboarding
/// override the rest: they explain why nothing runs or what runs).
fn worsen(health: &mut HealthLevel, h: HealthLevel) {
    if h.rank() > health.rank() {
        *health = h;
    }
}

/// One line of `tenant list`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantRow {
    pub tenant_id: Guid,
    pub display_name: String,
    pub enabled: bool,
    pub health: HealthLevel,
    /// Why the health is not ok.
    pub reasons: Vec<String>,
    /// Source group members (only with a live check).
    pub member_count: Option<u64>,
    /// Guests present in the host and managed for this tenant.
    pub guests_managed: u64,
    /// How tokens are had: `secret` or `secretless`.
    pub credential: TenantCredential,
    /// None for a secretless tenant.
    pub secret_name: Option<SecretName>,
    pub secret_expires_at: Option<DateTime<Utc>>,
    pub secret_days_left: Option<i64>,
    /// The newest run: job, outcome, when it started.
    pub last_run: Option<LastRun>,
    /// The host's cross-tenant access settings for the tenant (automatic
    /// redemption, inbound B2B) as stored on the record; `tenant list`
    /// replaces it with a live read and adds [`cross_tenant_reasons`].
    pub cross_tenant: Option<CrossTenantStatus>,
}

/// The newest run of a tenant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub job: String,
    pub outcome: String,
    pub started_at: DateTime<Utc>,
    pub error: Option<String>,
}

/// Builds `tenant list`'s rows from the store. The secret expiry comes from
/// the record (the daily check keeps it current); when none is recorded and
/// `secrets` is given, it is read live. With `probe`, each enabled tenant's
/// member count is read live too (one connection test each).
pub async fn tenant_overview(
    store: &dyn Store,
    secrets: Option<&dyn SecretSource>,
    probe: Option<&SourceProbe>,
    now: DateTime<Utc>,
) -> Result<Vec<TenantRow>, OnboardingError> {
    let mut rows = Vec::new();
    for t in store.list_tenants().await? {
        let mut reasons = Vec::new();
        let guests_managed = active_guests(store, t.tenant_id).await?;
        let mut expires = t.secret_expires_at;
        let mut secret_value = None;
        if let (Some(src), Some(secret_name)) = (secrets, t.secret()) {
            if expires.is_none() || probe.is_some() {
                match src.get(secret_name).await {
                    Ok(s) => {
                        expires = expires.or(s.expires_on);
                        secret_value = Some(s.value);
                    }
                    Err(SecretError::Expired { expired_on, .. }) => {
                        expires = expired_on.or(Some(chrono::Utc::now()))
                    }
                    Err(e) => reasons.push(format!("secret unreadable: {e}")),
                }
            }
        }
        let (days_left, level) = if t.is_secretless() {
            // Nothing expires.
            (None, ExpiryLevel::Ok)
        } else {
            classify(expires, now)
        };
        let mut health = HealthLevel::Ok;
        if !reasons.is_empty() {
            worsen(&mut health, HealthLevel::Error);
        }
        match level {
            ExpiryLevel::Expired => {
                reasons.push("client secret expired".into());
                worsen(&mut health, HealthLevel::Error);
            }
            ExpiryLevel::Warning => {
                reasons.push(format!(
                    "client secret expires in {} days",
                    days_left.unwrap_or_default()
                ));
                worsen(&mut health, HealthLevel::Warning);
            }
            ExpiryLevel::Unknown => reasons.push("client secret expiry unknown".into()),
            _ => {}
        }
        if let Some(g) = &t.guard {
            if !g.confirmed {
                reasons.push(format!(
                    "deletion guard holds {} removals (limit {}): `guest-sync tenant confirm-deprovision {}`",
                    g.wanted, g.limit, t.tenant_id
                ));
                worsen(&mut health, HealthLevel::Warning);
            }
        }
        let last_run = store
            .list_runs(Some(t.tenant_id), 1)
            .await?
            .into_iter()
            .next()
            .map(|r| {
                if matches!(r.outcome, RunOutcome::Failed) {
                    reasons.push(format!(
                        "last {} run failed{}",
                        r.job,
                        r.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    ));
                    worsen(&mut health, HealthLevel::Error);
                } else if matches!(r.outcome, RunOutcome::Partial) {
                    reasons.push(format!("last {} run was partial", r.job));
                    worsen(&mut health, HealthLevel::Warning);
                }
                LastRun {
                    job: r.job.to_string(),
                    outcome: r.outcome.as_str().to_string(),
                    started_at: r.started_at,
                    error: r.error,
                }
            });
        let mut member_count = None;
        let live = match (probe, &secret_value, t.enabled) {
            (Some(p), Some(v), true) => Some(p.test(t.tenant_id, t.client_id, v, t.group_id).await),
            (Some(p), None, true) if t.is_secretless() => Some(
                p.test_secretless(t.tenant_id, t.client_id, t.group_id)
                    .await,
            ),
            _ => None,
        };
        if let Some(tested) = live {
            match tested {
                Ok(r) => member_count = Some(r.member_count),
                Err(e) => {
                    reasons.push(format!("connection test failed: {e}"));
                    worsen(&mut health, HealthLevel::Error);
                }
            }
        }
        if !t.enabled {
            worsen(&mut health, HealthLevel::Disabled);
        }
        if t.options.offboarding {
            reasons.push(format!(
                "offboarding: {guests_managed} guests left to deprovision"
            ));
            worsen(&mut health, HealthLevel::Offboarding);
        }
        rows.push(TenantRow {
            tenant_id: t.tenant_id,
            display_name: t.display_name,
            enabled: t.enabled,
            health,
            reasons,
            member_count,
            guests_managed,
            credential: t.credential,
            secret_name: t.secret_name,
            secret_expires_at: expires,
            secret_days_left: days_left,
            last_run,
            cross_tenant: t.cross_tenant,
        });
    }
    Ok(rows)
}

/// What the host's cross-tenant settings add to a tenant's health: inbound
/// B2B blocked is an error (no guest of the tenant can sign in), limited a
/// warning. Automatic redemption off is not a health problem (guests then
/// see a consent prompt); `tenant list` shows it in its own column.
pub fn cross_tenant_reasons(
    c: &CrossTenantStatus,
    reasons: &mut Vec<String>,
    health: &mut HealthLevel,
) {
    match c.inbound_b2b {
        InboundB2b::Blocked => {
            reasons.push(format!(
                "inbound B2B collaboration is blocked for this tenant: {}",
                crate::domain::cross_tenant::B2B_BLOCKED_FIX
            ));
            worsen(health, HealthLevel::Error);
        }
        InboundB2b::Limited => {
            reasons.push("inbound B2B collaboration is limited to some users or groups: make sure the synced group is allowed (guest-sync doctor)".into());
            worsen(health, HealthLevel::Warning);
        }
        InboundB2b::Allowed | InboundB2b::Unknown => {}
    }
}
