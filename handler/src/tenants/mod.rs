//! Onboarding and managing source tenants: the library behind
//! `guest-sync tenant …` (the CLI only parses arguments and prints).
//!
//! - [`validate_input`]: every field of `tenant add` checked, all problems
//!   reported at once.
//! - [`add_tenant`]: tests the connection with the given (or stored) secret,
//!   writes the secret to the secret source, registers the tenant. Nothing
//!   is written anywhere when the test fails (unless `skip_test`).
//! - [`test_tenant`], [`set_enabled`], [`remove_tenant`],
//!   [`confirm_deprovision`], [`update_secret`], [`tenant_overview`].
//! - [`probe`]: the connection test itself.
//! - [`cross_tenant`]: the host's cross-tenant access settings per tenant
//!   (automatic redemption, inbound B2B), read with the host app.
pub mod cross_tenant;
pub mod guests;
mod overview;
pub mod probe;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::domain::{
    GuardHold, GuestState, Guid, SecretName, SourceTenant, TenantCredential, TenantOptions,
};
use crate::secrets::{SecretError, SecretSource, SecretString};
use crate::store::{Store, StoreError};

pub use guests::release_guest;
pub use overview::{cross_tenant_reasons, tenant_overview, HealthLevel, LastRun, TenantRow};
pub use probe::{ConnectionProblem, ConnectionReport, SourceProbe};

/// Why an onboarding operation failed. Messages name the bad input and say
/// what to do; none carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    /// One or more fields are invalid (each line names its field).
    #[error("invalid input:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    #[error(
        "tenant {0} is already registered: use `guest-sync tenant test {0}`, or remove it first"
    )]
    AlreadyRegistered(Guid),
    #[error("tenant {0} is not registered (see `guest-sync tenant list`)")]
    NotRegistered(Guid),
    #[error("connection test failed, nothing was registered: {0}")]
    Connection(ConnectionProblem),
    #[error("no admin consent in tenant {tenant_id} after {waited_secs} s, nothing was registered: a Global Administrator of tenant {tenant_id} opens {consent_url} and accepts; then run the same `guest-sync tenant add --secretless` again (or wait longer with --consent-timeout SECS)")]
    ConsentTimeout {
        tenant_id: Guid,
        waited_secs: u64,
        consent_url: String,
    },
    #[error("{0}")]
    Setup(String),
    #[error("connection test of tenant {tenant_id} failed: {problem}")]
    TestFailed {
        tenant_id: Guid,
        problem: ConnectionProblem,
    },
    #[error("{0}")]
    Secret(SecretError),
    #[error("no client secret given and none stored: {0}; pass the secret with --secret-stdin")]
    NoSecret(SecretError),
    #[error("store: {0}")]
    Store(StoreError),
    #[error("tenant {0} has no deletion guard holding removals back; nothing to confirm")]
    NoGuardHold(Guid),
    #[error("source user {user} of tenant {tenant} has no guest record (see guest-sync report)")]
    NoGuest { tenant: Guid, user: Guid },
    #[error("the guest of source user {user} is not held by the host (state {state}); nothing to release")]
    NotHeld { user: Guid, state: &'static str },
    #[error("the host tenant blocks inbound B2B collaboration for tenant {tenant} ({whose}): its users could never sign in as guests, so nothing was registered; {fix}")]
    B2bBlocked {
        tenant: Guid,
        whose: &'static str,
        fix: &'static str,
    },
}

// Manual `From`s: the wrapped error is part of the message, not a
// `source()`, so `{:#}` chains do not print it twice.
impl From<ConnectionProblem> for OnboardingError {
    fn from(e: ConnectionProblem) -> Self {
        OnboardingError::Connection(e)
    }
}
impl From<SecretError> for OnboardingError {
    fn from(e: SecretError) -> Self {
        OnboardingError::Secret(e)
    }
}
impl From<StoreError> for OnboardingError {
    fn from(e: StoreError) -> Self {
        OnboardingError::Store(e)
    }
}

/// The raw fields of `tenant add`, as typed.
#[derive(Debug, Clone, Default)]
pub struct TenantInput {
    pub tenant_id: String,
    pub client_id: String,
    pub group_id: String,
    pub display_name: String,
    pub secret_name: String,
    /// `YYYY-MM-DD`, the client secret's expiry date.
    pub secret_expires: Option<String>,
    /// The tenant options as JSON (`--options-json FILE`'s content).
    pub options_json: Option<String>,
    /// `--secretless`: `client_id` is the host's multi-tenant app
    /// (`GUESTSYNC_FEDERATED_APP_ID`), no secret name or expiry.
    pub secretless: bool,
}

/// A validated `tenant add`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    pub tenant_id: Guid,
    pub client_id: Guid,
    pub group_id: Guid,
    pub display_name: String,
    /// None for a secretless tenant.
    pub secret_name: Option<SecretName>,
    pub secret_expires: Option<DateTime<Utc>>,
    pub options: TenantOptions,
    pub credential: TenantCredential,
}

/// Parses a secret expiry date `YYYY-MM-DD` (the date Entra shows under
/// "Expires"), as midnight UTC starting that day; it must lie in the future.
pub fn parse_expiry_date(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| {
        format!("--secret-expires: {s:?} is not a date like 2027-11-23 (YYYY-MM-DD)")
    })?;
    let t = d
        .and_hms_opt(0, 0, 0)
        .map(|n| n.and_utc())
        .ok_or_else(|| format!("--secret-expires: {s:?} is not a valid date"))?;
    if t <= now {
        return Err(format!(
            "--secret-expires: {s} is not in the future; an expired secret cannot be used"
        ));
    }
    Ok(t)
}

/// Parses and validates tenant options JSON (unknown fields are named).
pub fn parse_options(json: &str) -> Result<TenantOptions, String> {
    let o: TenantOptions =
        crate::domain::json::from_str(json).map_err(|e| format!("--options-json: {e}"))?;
    o.validate().map_err(|e| format!("--options-json: {e}"))?;
    if o.offboarding {
        return Err(
            "--options-json: offboarding is set by `tenant remove --guests deprovision`, not by hand"
                .into(),
        );
    }
    Ok(o)
}

/// Checks every field of `tenant add` and reports all problems at once.
/// `host_tenant`, when known, may not be registered as a source.
pub fn validate_input(
    input: &TenantInput,
    host_tenant: Option<Guid>,
    now: DateTime<Utc>,
) -> Result<NewTenant, OnboardingError> {
    let mut problems = Vec::new();
    let mut guid = |v: &str, flag: &'static str| match Guid::parse_named(v, flag) {
        Ok(g) => Some(g),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let tenant_id = guid(&input.tenant_id, "--tenant-id");
    let client_id = guid(&input.client_id, "--client-id");
    let group_id = guid(&input.group_id, "--group-id");
    if let (Some(t), Some(h)) = (tenant_id, host_tenant) {
        if t == h {
            problems.push(format!(
                "--tenant-id: {t} is the host tenant itself; register source tenants only"
            ));
        }
    }
    let name = input.display_name.trim();
    if name.is_empty() {
        problems.push("--name: the display name is empty".into());
    } else if name.chars().count() > 256 {
        problems.push("--name: the display name is longer than 256 characters".into());
    } else if name.chars().any(char::is_control) {
        problems.push("--name: the display name contains control characters".into());
    }
    let secret_name = if input.secretless {
        if !input.secret_name.trim().is_empty() {
            problems.push(
                "--secret-name: a secretless tenant has no secret; leave --secret-name (and --secret-stdin, --secret-expires) out"
                    .into(),
            );
        }
        if input.secret_expires.is_some() {
            problems.push("--secret-expires: a secretless tenant has no secret to expire".into());
        }
        Some(None)
    } else {
        match SecretName::parse(input.secret_name.trim()) {
            Ok(s) => Some(Some(s)),
            Err(e) => {
                problems.push(format!("--secret-name: {e}"));
                None
            }
        }
    };
    let secret_expires = match &input.secret_expires {
        Some(s) => match parse_expiry_date(s, now) {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(e);
                None
            }
        },
        None => None,
    };
    let options = match &input.options_json {
        Some(j) => match parse_options(j) {
            Ok(o) => Some(o),
            Err(e) => {
                problems.push(e);
                None
            }
        },
        None => Some(TenantOptions::default()),
    };
    match (tenant_id, client_id, group_id, secret_name, options) {
        (Some(tenant_id), Some(client_id), Some(group_id), Some(secret_name), Some(options))
            if problems.is_empty() =>
        {
            Ok(NewTenant {
                tenant_id,
                client_id,
                group_id,
                display_name: name.to_string(),
                secret_name,
                secret_expires,
                options,
                credential: if input.secretless {
                    TenantCredential::Secretless
                } else {
                    TenantCredential::Secret
                },
            })
        }
        _ => Err(OnboardingError::Invalid(problems)),
    }
}

/// What onboarding works with.
pub struct Onboarding<'a> {
    pub store: &'a dyn Store,
    pub secrets: &'a dyn SecretSource,
    pub probe: &'a SourceProbe,
}

/// What `tenant add` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddReport {
    pub tenant: SourceTenant,
    /// None when the test was skipped.
    pub connection: Option<ConnectionReport>,
    /// True when the secret value was written to the secret source.
    pub secret_written: bool,
}

/// Refuses a tenant whose users the host blocks (inbound B2B collaboration
/// blocked for all users, in the partner entry or inherited from the
/// default): `tenant add` checks this before anything is written.
pub fn check_inbound(
    tenant: Guid,
    s: &crate::domain::CrossTenantStatus,
) -> Result<(), OnboardingError> {
    if s.inbound_b2b == crate::domain::InboundB2b::Blocked {
        return Err(OnboardingError::B2bBlocked {
            tenant,
            whose: match s.partner_entry {
                Some(true) => "in its partner entry, or in the default settings the entry inherits",
                _ => "in the default settings: the host has no partner entry for it",
            },
            fix: crate::domain::cross_tenant::B2B_BLOCKED_FIX,
        });
    }
    Ok(())
}

/// Registers a source tenant.
///
/// Order: the connection is tested first with the secret in hand (given on
/// stdin, or read from the secret source), then the given secret is written
/// to the secret source with its expiry, then the tenant is registered
/// (enabled). When the test fails nothing is written, neither to the vault
/// nor to the store, unless `skip_test`.
pub async fn add_tenant(
    ob: &Onboarding<'_>,
    t: NewTenant,
    secret: Option<SecretString>,
    skip_test: bool,
    now: DateTime<Utc>,
) -> Result<AddReport, OnboardingError> {
    let registered = ob.store.list_tenants().await?;
    if registered.iter().any(|r| r.tenant_id == t.tenant_id) {
        return Err(OnboardingError::AlreadyRegistered(t.tenant_id));
    }
    let Some(secret_name) = t.secret_name.clone() else {
        return Err(OnboardingError::Invalid(vec![
            "--secret-name: a tenant with a client secret needs the secret's name".into(),
        ]));
    };
    if let Some(other) = registered.iter().find(|r| r.secret() == Some(&secret_name)) {
        // Writing would replace the other tenant's client secret.
        return Err(OnboardingError::Invalid(vec![format!(
            "--secret-name: {} is already the secret of tenant {}; choose a name of its own (e.g. <tenant>-app-secret)",
            secret_name, other.tenant_id
        )]));
    }
    // The secret to test with and its expiry.
    let (value, expires) = match &secret {
        Some(v) => (Some(v.clone()), t.secret_expires),
        None => match ob.secrets.get(&secret_name).await {
            Ok(s) => (Some(s.value), t.secret_expires.or(s.expires_on)),
            Err(e) if skip_test => {
                tracing::warn!(tenant_id = %t.tenant_id, secret_name = %secret_name, error = %e, "secret not readable; registering anyway (--skip-test)");
                (None, t.secret_expires)
            }
            Err(e @ SecretError::NotFound { .. }) => return Err(OnboardingError::NoSecret(e)),
            Err(e) => return Err(OnboardingError::Secret(e)),
        },
    };
    let connection = match (&value, skip_test) {
        (Some(v), false) => Some(
            ob.probe
                .test(t.tenant_id, t.client_id, v, t.group_id)
                .await?,
        ),
        _ => None,
    };
    let mut secret_written = false;
    if let Some(v) = &secret {
        ob.secrets.set(&secret_name, v, expires).await?;
        secret_written = true;
    }
    let tenant = SourceTenant {
        tenant_id: t.tenant_id,
        display_name: t.display_name,
        client_id: t.client_id,
        secret_name: Some(secret_name),
        credential: TenantCredential::Secret,
        group_id: t.group_id,
        enabled: true,
        options: t.options,
        created_at: now,
        secret_expires_at: expires,
        guard: None,
        cross_tenant: None,
        delta: None,
    };
    ob.store.put_tenant(&tenant).await?;
    tracing::info!(tenant_id = %tenant.tenant_id, group_id = %tenant.group_id, tested = connection.is_some(), "source tenant registered");
    Ok(AddReport {
        tenant,
        connection,
        secret_written,
    })
}

/// How `tenant add --secretless` waits for the source admin's consent.
#[derive(Debug, Clone, Copy)]
pub struct ConsentWait {
    /// Give up after this long (0 = test once).
    pub timeout: std::time::Duration,
    /// Test again this often while consent is missing.
    pub interval: std::time::Duration,
}

/// Registers a secretless source tenant: the connection is tested with the
/// host's multi-tenant app signed in through the managed identity; while
/// the source admin has not granted consent yet, the test is repeated every
/// `wait.interval` until `wait.timeout`. `on_wait` is told each time
/// consent is still missing (with the seconds waited). Registered only
/// after a passing test; nothing is written otherwise (no secret exists).
pub async fn add_secretless_tenant(
    ob: &Onboarding<'_>,
    t: NewTenant,
    wait: ConsentWait,
    now: DateTime<Utc>,
    on_wait: &mut (dyn FnMut(u64) + Send),
) -> Result<AddReport, OnboardingError> {
    let registered = ob.store.list_tenants().await?;
    if registered.iter().any(|r| r.tenant_id == t.tenant_id) {
        return Err(OnboardingError::AlreadyRegistered(t.tenant_id));
    }
    let started = tokio::time::Instant::now();
    let report = loop {
        match ob
            .probe
            .test_secretless(t.tenant_id, t.client_id, t.group_id)
            .await
        {
            Ok(r) => break r,
            Err(ConnectionProblem::ConsentNotGranted { consent_url, .. }) => {
                let waited = started.elapsed();
                if waited + wait.interval > wait.timeout {
                    if wait.timeout.is_zero() {
                        return Err(OnboardingError::Connection(
                            ConnectionProblem::ConsentNotGranted {
                                tenant_id: t.tenant_id,
                                app_id: t.client_id,
                                code: "no consent yet".into(),
                                consent_url,
                            },
                        ));
                    }
                    return Err(OnboardingError::ConsentTimeout {
                        tenant_id: t.tenant_id,
                        waited_secs: waited.as_secs(),
                        consent_url,
                    });
                }
                on_wait(waited.as_secs());
                tokio::time::sleep(wait.interval).await;
            }
            Err(p) => return Err(OnboardingError::Connection(p)),
        }
    };
    let tenant = SourceTenant {
        tenant_id: t.tenant_id,
        display_name: t.display_name,
        client_id: t.client_id,
        secret_name: None,
        credential: TenantCredential::Secretless,
        group_id: t.group_id,
        enabled: true,
        options: t.options,
        created_at: now,
        secret_expires_at: None,
        guard: None,
        cross_tenant: None,
        delta: None,
    };
    ob.store.put_tenant(&tenant).await?;
    tracing::info!(tenant_id = %tenant.tenant_id, group_id = %tenant.group_id, "secretless source tenant registered");
    Ok(AddReport {
        tenant,
        connection: Some(report),
        secret_written: false,
    })
}

async fn get_registered(store: &dyn Store, id: Guid) -> Result<SourceTenant, OnboardingError> {
    store
        .get_tenant(id)
        .await?
        .ok_or(OnboardingError::NotRegistered(id))
}

/// Tests a registered tenant's connection with its stored secret.
pub async fn test_tenant(
    ob: &Onboarding<'_>,
    id: Guid,
) -> Result<ConnectionReport, OnboardingError> {
    let t = get_registered(ob.store, id).await?;
    let tested = match t.secret() {
        Some(name) => {
            let secret = ob.secrets.get(name).await?;
            ob.probe
                .test(t.tenant_id, t.client_id, &secret.value, t.group_id)
                .await
        }
        None => {
            ob.probe
                .test_secretless(t.tenant_id, t.client_id, t.group_id)
                .await
        }
    };
    tested.map_err(|problem| OnboardingError::TestFailed {
        tenant_id: id,
        problem,
    })
}

/// Stores a new client secret for a registered tenant (after testing it,
/// unless `skip_test`) and records its expiry.
pub async fn update_secret(
    ob: &Onboarding<'_>,
    id: Guid,
    secret: SecretString,
    expires: Option<DateTime<Utc>>,
    skip_test: bool,
) -> Result<Option<ConnectionReport>, OnboardingError> {
    let mut t = get_registered(ob.store, id).await?;
    let Some(secret_name) = t.secret().cloned() else {
        return Err(OnboardingError::Invalid(vec![format!(
            "tenant {id} is secretless: it has no client secret to update"
        )]));
    };
    let report = if skip_test {
        None
    } else {
        Some(
            ob.probe
                .test(t.tenant_id, t.client_id, &secret, t.group_id)
                .await
                .map_err(|problem| OnboardingError::TestFailed {
                    tenant_id: id,
                    problem,
                })?,
        )
    };
    ob.secrets.set(&secret_name, &secret, expires).await?;
    t.secret_expires_at = expires;
    ob.store.put_tenant(&t).await?;
    tracing::info!(tenant_id = %id, "client secret updated");
    Ok(report)
}

/// Enables or disables a tenant's runs.
pub async fn set_enabled(
    store: &dyn Store,
    id: Guid,
    enabled: bool,
) -> Result<SourceTenant, OnboardingError> {
    let mut t = get_registered(store, id).await?;
    t.enabled = enabled;
    store.put_tenant(&t).await?;
    tracing::info!(tenant_id = %id, enabled, "tenant enabled flag changed");
    Ok(t)
}

/// What to do with a removed tenant's guests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GuestDisposition {
    /// Leave the guests in the host tenant, unmanaged.
    Keep,
    /// Have the engine deprovision them first.
    Deprovision,
}

/// What `tenant remove` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "result")]
pub enum RemoveOutcome {
    /// The tenant record is gone. `guests_left` guests stay in the host,
    /// unmanaged; their records are kept for the report and history (a
    /// re-added tenant picks them up again).
    Removed { guests_left: u64 },
    /// The tenant is marked for offboarding (`options.offboarding`, enabled
    /// so the engine runs it): the next reconcile deprovisions these guests
    /// (the deletion guard still applies). Run `tenant remove` again once
    /// `tenant list` shows 0 guests to delete the record.
    Offboarding { guests_to_deprovision: u64 },
}

/// Guests of a tenant that are still present in the host.
async fn active_guests(store: &dyn Store, id: Guid) -> Result<u64, OnboardingError> {
    Ok(store
        .list_guests(id)
        .await?
        .iter()
        .filter(|g| g.state != GuestState::Deprovisioned)
        .count() as u64)
}

/// Removes a tenant, with an explicit choice about its guests.
pub async fn remove_tenant(
    store: &dyn Store,
    id: Guid,
    guests: GuestDisposition,
) -> Result<RemoveOutcome, OnboardingError> {
    let mut t = get_registered(store, id).await?;
    let active = active_guests(store, id).await?;
    match guests {
        GuestDisposition::Deprovision if active > 0 => {
            t.options.offboarding = true;
            t.enabled = true;
            store.put_tenant(&t).await?;
            tracing::info!(tenant_id = %id, guests = active, "tenant marked for offboarding");
            Ok(RemoveOutcome::Offboarding {
                guests_to_deprovision: active,
            })
        }
        _ => {
            store.delete_tenant(id).await?;
            // A reconcile cut short may have left its snapshot: nothing
            // will resume from it now.
            if let Err(e) = store.delete_snapshots(id).await {
                tracing::warn!(tenant_id = %id, error = %e, "could not remove the tenant's reconcile snapshot");
            }
            tracing::info!(tenant_id = %id, guests_left = active, "tenant removed");
            Ok(RemoveOutcome::Removed {
                guests_left: active,
            })
        }
    }
}

/// Confirms a tripped deletion guard: the next run may remove up to the
/// number of guests it wanted to.
pub async fn confirm_deprovision(
    store: &dyn Store,
    id: Guid,
) -> Result<GuardHold, OnboardingError> {
    let mut t = get_registered(store, id).await?;
    let Some(mut g) = t.guard.clone() else {
        return Err(OnboardingError::NoGuardHold(id));
    };
    g.confirmed = true;
    t.guard = Some(g.clone());
    store.put_tenant(&t).await?;
    tracing::info!(tenant_id = %id, wanted = g.wanted, limit = g.limit, "deletion guard confirmed");
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
    }

    fn good() -> TenantInput {
        TenantInput {
            tenant_id: "2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b".into(),
            client_id: "6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e".into(),
            group_id: "a1b2c3d4-0000-4000-8000-00000000000f".into(),
            display_name: "Contoso".into(),
            secret_name: "contoso-app-secret".into(),
            secret_expires: Some("2027-11-23".into()),
            options_json: None,
            secretless: false,
        }
    }

    /// A well-formed input validates, with the expiry at midnight UTC.
    #[test]
    fn good_input_validates() {
        let t = validate_input(&good(), None, now()).unwrap();
        assert_eq!(t.display_name, "Contoso");
        assert_eq!(
            t.secret_expires,
            Some(Utc.with_ymd_and_hms(2027, 11, 23, 0, 0, 0).unwrap())
        );
        assert_eq!(t.options, TenantOptions::default());
    }

    /// Every bad field is reported at once, each naming its flag.
    #[test]
    fn all_bad_fields_are_reported_together() {
        let bad = TenantInput {
            tenant_id: "contoso.onmicrosoft.com".into(),
            client_id: "6f1c2d3e".into(),
            group_id: "".into(),
            display_name: "  ".into(),
            secret_name: "has space".into(),
            secret_expires: Some("2020-01-01".into()),
            options_json: Some(r#"{"inviteAdress":"mail"}"#.into()),
            secretless: false,
        };
        let e = validate_input(&bad, None, now()).unwrap_err().to_string();
        for flag in [
            "--tenant-id",
            "--client-id",
            "--group-id",
            "--name",
            "--secret-name",
            "--secret-expires",
            "--options-json",
        ] {
            assert!(e.contains(flag), "{flag} missing in: {e}");
        }
        assert!(e.contains("inviteAdress"), "{e}");
    }

    /// The host tenant cannot be registered as a source.
    #[test]
    fn host_tenant_is_refused_as_source() {
        let host = Guid::parse_named(&good().tenant_id, "t").unwrap();
        let e = validate_input(&good(), Some(host), now()).unwrap_err();
        assert!(e.to_string().contains("host tenant"), "{e}");
    }

    /// Options cannot switch on offboarding by hand.
    #[test]
    fn options_cannot_set_offboarding() {
        assert!(parse_options(r#"{"offboarding":true}"#).is_err());
        assert!(parse_options(r#"{"inviteAddress":"mail"}"#).is_ok());
    }
}
