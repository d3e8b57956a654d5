//! Typed settings, read from the environment (Azure app settings) once at
//! start and validated. A bad value stops start-up with an error naming the
//! setting; secrets (a storage connection string's key) are never printed.
use std::fmt;
use std::path::PathBuf;

use crate::domain::{AnchorAttribute, DeprovisionMode, Guid, SecretName};

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingError {
    pub name: &'static str,
    pub problem: String,
}

fn bad(name: &'static str, problem: impl Into<String>) -> SettingError {
    SettingError {
        name,
        problem: problem.into(),
    }
}

/// Where the store lives (`GUESTSYNC_STORE`).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// `sqlite:<path>`: the embedded default.
    Sqlite(PathBuf),
    /// `https://<account>.table.core.windows.net` (or any table endpoint URL):
    /// reached with Entra credentials (managed identity in Azure).
    TableEndpoint(url::Url),
    /// A storage connection string (`UseDevelopmentStorage=true`, Azurite's
    /// `DefaultEndpointsProtocol=http;AccountName=...;AccountKey=...;TableEndpoint=...`).
    /// Holds a key: never printed.
    ConnectionString(String),
}

impl fmt::Debug for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            StoreSpec::TableEndpoint(u) => write!(f, "table endpoint {u}"),
            StoreSpec::ConnectionString(_) => f.write_str("storage connection string (redacted)"),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl StoreSpec {
    pub fn parse(s: &str) -> Result<Self, SettingError> {
        const N: &str = "GUESTSYNC_STORE";
        let s = s.trim();
        if let Some(p) = s.strip_prefix("sqlite:") {
            if p.is_empty() {
                return Err(bad(
                    N,
                    "sqlite: needs a file path, e.g. sqlite:guest-sync.db",
                ));
            }
            return Ok(StoreSpec::Sqlite(PathBuf::from(p)));
        }
        if s.starts_with("https://") || s.starts_with("http://") {
            let u = url::Url::parse(s)
                .map_err(|e| bad(N, format!("not a valid table endpoint URL: {e}")))?;
            return Ok(StoreSpec::TableEndpoint(u));
        }
        if s.eq_ignore_ascii_case("UseDevelopmentStorage=true")
            || s.contains("AccountName=")
            || s.contains("TableEndpoint=")
        {
            return Ok(StoreSpec::ConnectionString(s.to_string()));
        }
        Err(bad(
            N,
            "expected sqlite:<path>, a table endpoint URL (https://<account>.table.core.windows.net) or a storage connection string",
        ))
    }
}

pub use crate::domain::policy::MaxDeprovisions;

/// `GUESTSYNC_MAX_DEPROVISIONS` (the type is a domain rule; reading it is
/// a setting's business).
impl MaxDeprovisions {
    pub fn parse(s: &str) -> Result<Self, SettingError> {
        const N: &str = "GUESTSYNC_MAX_DEPROVISIONS";
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| bad(N, format!("{s:?} is not a percentage like 10%")))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(bad(N, format!("{s:?}: a percentage must be 0-100")));
            }
            Ok(MaxDeprovisions::Percent(v))
        } else {
            s.parse::<u64>().map(MaxDeprovisions::Count).map_err(|_| {
                bad(
                    N,
                    format!("{s:?} is neither a count (e.g. 50) nor a percentage (e.g. 10%)"),
                )
            })
        }
    }
}

/// Default of `GUESTSYNC_MAX_DEPROVISIONS`: 10% of a tenant's managed guests.
pub const DEFAULT_MAX_DEPROVISIONS: &str = "10%";
pub const DEFAULT_SYNC_SCHEDULE: &str = "0 */30 * * * *";
pub const DEFAULT_PHOTO_SCHEDULE: &str = "0 0 3 * * *";
pub const DEFAULT_REDEMPTION_SCHEDULE: &str = "0 15 */4 * * *";
/// Default of `GUESTSYNC_DELTA_SCHEDULE`: every 2 minutes.
pub const DEFAULT_DELTA_SCHEDULE: &str = "0 */2 * * * *";
/// Default of `GUESTSYNC_FULL_RECONCILE_HOURS`: a full read once a day.
pub const DEFAULT_FULL_RECONCILE_HOURS: u64 = 24;
pub const DEFAULT_JOB_BUDGET_SECS: u64 = 480;
pub const DEFAULT_RETENTION_DAYS: u64 = 90;
pub const DEFAULT_LOCAL_SECRETS: &str = "guest-sync.secrets.json";

/// Every setting of the README's Settings table (`docs/design.md`,
/// "Settings", says how they are grouped); the operational ones (log format,
/// port) are read elsewhere. Built by [`Settings::from_lookup`] (the environment) or by
/// hand (tests, the demo).
#[derive(Debug, Clone)]
pub struct Settings {
    pub host_tenant_id: Guid,
    pub host_client_id: Guid,
    pub host_secret_name: SecretName,
    /// None = the local secret source (development only).
    pub keyvault_url: Option<url::Url>,
    /// File of the local secret source (`GUESTSYNC_LOCAL_SECRETS`).
    pub local_secrets: PathBuf,
    pub store: StoreSpec,
    pub graph_url: url::Url,
    pub authority_url: url::Url,
    pub invite_redirect_url: String,
    pub host_group_id: Option<Guid>,
    pub deprovision: DeprovisionMode,
    pub max_deprovisions: MaxDeprovisions,
    pub dry_run: bool,
    pub sync_schedule: String,
    pub photo_schedule: String,
    pub redemption_schedule: String,
    /// `GUESTSYNC_DELTA_SCHEDULE`: the `delta-timer`'s schedule.
    pub delta_schedule: String,
    /// `GUESTSYNC_FULL_RECONCILE_HOURS`: a reconcile reads both sides whole
    /// when the last full read is this old; in between it reads changes
    /// (delta queries). 0 = always read whole (delta off).
    pub full_reconcile_hours: u64,
    pub job_budget_secs: u64,
    /// Audit and run history older than this many days are pruned.
    pub retention_days: u64,
    /// Where the ownership anchor is written on guests we create
    /// (`GUESTSYNC_ANCHOR_ATTRIBUTE`; None = `none`, no anchors).
    pub anchor_attribute: Option<AnchorAttribute>,
    /// `GUESTSYNC_ALLOW_HTTP`: plain-http Graph and authority URLs are
    /// accepted (development against the simulator only).
    pub allow_http: bool,
    /// `GUESTSYNC_FEDERATED_APP_ID`: the host's multi-tenant app that
    /// secretless source tenants consent to (trusts the managed identity as
    /// a federated identity credential). None = no secretless tenants.
    pub federated_app_id: Option<Guid>,
    /// `GUESTSYNC_HOST_CREDENTIAL`: how the engine signs in to the host.
    pub host_credential: HostCredential,
    /// `GUESTSYNC_TLS_CA_FILE`'s content (development only, loopback URLs
    /// only): the CA the Graph and authority clients trust instead of the
    /// public roots (the simulator's https listener).
    pub tls_ca_pem: Option<String>,
}

/// `GUESTSYNC_HOST_CREDENTIAL`: how the engine gets host tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostCredential {
    /// The host app's client secret (`GUESTSYNC_HOST_CLIENT_ID` +
    /// `GUESTSYNC_HOST_SECRET_NAME`), the default.
    #[default]
    Secret,
    /// The function app's managed identity, which holds the Graph
    /// application roles in the host tenant (no secret).
    ManagedIdentity,
}

impl HostCredential {
    pub fn as_str(&self) -> &'static str {
        match self {
            HostCredential::Secret => "secret",
            HostCredential::ManagedIdentity => "managed-identity",
        }
    }
}

/// The client id recorded for the host when `GUESTSYNC_HOST_CREDENTIAL` is
/// `managed-identity` and `GUESTSYNC_HOST_CLIENT_ID` is unset (nil).
pub const HOST_MI_CLIENT_ID: &str = "00000000-0000-0000-0000-000000000000";
/// The secret name recorded for the host when it signs in with the managed
/// identity and `GUESTSYNC_HOST_SECRET_NAME` is unset (never read).
pub const HOST_MI_SECRET_NAME: &str = "guest-sync-host-managed-identity";

/// All setting names the handler reads (the infra mirror check uses this).
pub const SETTING_NAMES: &[&str] = &[
    "GUESTSYNC_HOST_TENANT_ID",
    "GUESTSYNC_HOST_CLIENT_ID",
    "GUESTSYNC_HOST_SECRET_NAME",
    "GUESTSYNC_KEYVAULT_URL",
    "GUESTSYNC_LOCAL_SECRETS",
    "GUESTSYNC_STORE",
    "GUESTSYNC_GRAPH_URL",
    "GUESTSYNC_AUTHORITY_URL",
    "GUESTSYNC_INVITE_REDIRECT_URL",
    "GUESTSYNC_HOST_GROUP_ID",
    "GUESTSYNC_DEPROVISION",
    "GUESTSYNC_MAX_DEPROVISIONS",
    "GUESTSYNC_DRY_RUN",
    "GUESTSYNC_SYNC_SCHEDULE",
    "GUESTSYNC_PHOTO_SCHEDULE",
    "GUESTSYNC_REDEMPTION_SCHEDULE",
    "GUESTSYNC_DELTA_SCHEDULE",
    "GUESTSYNC_FULL_RECONCILE_HOURS",
    "GUESTSYNC_JOB_BUDGET_SECS",
    "GUESTSYNC_RETENTION_DAYS",
    "GUESTSYNC_ANCHOR_ATTRIBUTE",
    "GUESTSYNC_ALLOW_HTTP",
    "GUESTSYNC_FEDERATED_APP_ID",
    "GUESTSYNC_HOST_CREDENTIAL",
    "GUESTSYNC_TLS_CA_FILE",
];

/// Settings the handler cannot start without.
pub const REQUIRED_SETTINGS: &[&str] = &[
    "GUESTSYNC_HOST_TENANT_ID",
    "GUESTSYNC_HOST_CLIENT_ID",
    "GUESTSYNC_HOST_SECRET_NAME",
];

fn parse_bool(name: &'static str, v: &str) -> Result<bool, SettingError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        other => Err(bad(name, format!("expected true or false, got {other:?}"))),
    }
}

fn parse_url(name: &'static str, v: &str) -> Result<url::Url, SettingError> {
    let u = url::Url::parse(v.trim()).map_err(|e| bad(name, format!("not a URL ({e})")))?;
    if u.scheme() != "https" && u.scheme() != "http" {
        return Err(bad(
            name,
            format!("expected an http(s) URL, got scheme {:?}", u.scheme()),
        ));
    }
    Ok(u)
}

/// True when `u` points at this machine's loopback address (127.0.0.0/8,
/// ::1, localhost): traffic to it never leaves the machine.
pub fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// An endpoint that receives tokens or client secrets: https only, unless
/// it is this machine's loopback address (a local simulator or fake: the
/// traffic never leaves the machine) or `GUESTSYNC_ALLOW_HTTP=true`.
fn endpoint_url(name: &'static str, v: &str, allow_http: bool) -> Result<url::Url, SettingError> {
    let u = parse_url(name, v)?;
    if u.scheme() != "https" && !allow_http && !is_loopback(&u) {
        // Without a user name or password the URL may carry.
        let mut shown = u.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(bad(
            name,
            format!(
                "{shown} is not https: credentials and tokens would travel in clear (plain http is accepted only on this machine's loopback address, or with GUESTSYNC_ALLOW_HTTP=true for development)"
            ),
        ));
    }
    Ok(u)
}

/// Validates an NCRONTAB expression (six fields: second minute hour day
/// month day-of-week) or a `%SETTING%` reference.
pub fn validate_schedule(name: &'static str, v: &str) -> Result<String, SettingError> {
    let v = v.trim();
    let fields: Vec<&str> = v.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(bad(
            name,
            format!("{v:?} is not an NCRONTAB expression: expected 6 fields (second minute hour day month day-of-week), got {}", fields.len()),
        ));
    }
    for f in &fields {
        if !f
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | '/' | ',' | '-'))
        {
            return Err(bad(
                name,
                format!("{v:?}: field {f:?} has characters NCRONTAB does not allow"),
            ));
        }
    }
    Ok(fields.join(" "))
}

/// Checks `GUESTSYNC_JOB_BUDGET_SECS` against the function app's
/// `host.json` (`functionTimeout`, `hh:mm:ss` or `d.hh:mm:ss`; `-1` or
/// absent = no limit): a slice must end, its run record written, a
/// minute before the host stops the invocation, or the host kills it
/// mid-write and redelivers it again and again.
pub fn check_job_budget(budget_secs: u64, host_json: &str) -> Result<(), SettingError> {
    const N: &str = "GUESTSYNC_JOB_BUDGET_SECS";
    let v: serde_json::Value = serde_json::from_str(host_json)
        .map_err(|e| bad(N, format!("cannot check it: host.json is not JSON ({e})")))?;
    let Some(t) = v.get("functionTimeout").and_then(|t| t.as_str()) else {
        return Ok(());
    };
    let t = t.trim();
    if t == "-1" {
        return Ok(());
    }
    let (days, hms) = match t.split_once('.') {
        Some((d, rest)) if !d.contains(':') => (d.parse::<u64>().ok(), rest),
        _ => (Some(0), t),
    };
    let parts: Vec<Option<u64>> = hms.split(':').map(|p| p.parse::<u64>().ok()).collect();
    let timeout = match (days, parts.as_slice()) {
        (Some(d), [Some(h), Some(m), Some(s)]) => d * 86_400 + h * 3600 + m * 60 + s,
        _ => {
            return Err(bad(
                N,
                format!("cannot check it: host.json functionTimeout {t:?} is not hh:mm:ss"),
            ))
        }
    };
    if budget_secs + 60 > timeout {
        return Err(bad(
            N,
            format!(
                "{budget_secs} s leaves less than a minute before host.json's functionTimeout ({t} = {timeout} s): at most {} s",
                timeout.saturating_sub(60)
            ),
        ));
    }
    Ok(())
}

/// `GUESTSYNC_ANCHOR_ATTRIBUTE`: unset = `extensionAttribute15`; `none`
/// turns anchors off (a lost store then loses ownership).
pub fn parse_anchor(v: Option<&str>) -> Result<Option<AnchorAttribute>, SettingError> {
    match v.map(str::trim) {
        None => Ok(Some(AnchorAttribute::Extension(15))),
        Some(s) if s.eq_ignore_ascii_case("none") => Ok(None),
        Some(s) => AnchorAttribute::parse(s)
            .map(Some)
            .map_err(|e| bad("GUESTSYNC_ANCHOR_ATTRIBUTE", e)),
    }
}

impl Settings {
    /// Reads every setting through `get` (e.g. `|k| std::env::var(k).ok()`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let opt = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let req = |k: &'static str| {
            opt(k).ok_or_else(|| {
                bad(
                    k,
                    "is required but not set (see local.settings.example.json)",
                )
            })
        };
        let guid = |k: &'static str, v: String| {
            Guid::parse_named(&v, "value").map_err(|_| bad(k, format!("{v:?} is not a GUID")))
        };
        let host_tenant_id = guid("GUESTSYNC_HOST_TENANT_ID", req("GUESTSYNC_HOST_TENANT_ID")?)?;
        let host_credential = match opt("GUESTSYNC_HOST_CREDENTIAL").map(|v| v.trim().to_ascii_lowercase()) {
            None => HostCredential::Secret,
            Some(v) if v == "secret" => HostCredential::Secret,
            Some(v) if v == "managed-identity" => HostCredential::ManagedIdentity,
            Some(v) => {
                return Err(bad(
                    "GUESTSYNC_HOST_CREDENTIAL",
                    format!("{v:?} is neither secret (the host app's client secret, the default) nor managed-identity (the function app's managed identity, no secret)"),
                ))
            }
        };
        // With the managed identity the host app's id and secret are not
        // needed (placeholders stand in when they are unset).
        let host_req = |k: &'static str, placeholder: &str| match host_credential {
            HostCredential::Secret => req(k),
            HostCredential::ManagedIdentity => {
                Ok(opt(k).unwrap_or_else(|| placeholder.to_string()))
            }
        };
        let host_client_id = guid(
            "GUESTSYNC_HOST_CLIENT_ID",
            host_req("GUESTSYNC_HOST_CLIENT_ID", HOST_MI_CLIENT_ID)?,
        )?;
        let host_secret_name = SecretName::parse(&host_req(
            "GUESTSYNC_HOST_SECRET_NAME",
            HOST_MI_SECRET_NAME,
        )?)
        .map_err(|e| bad("GUESTSYNC_HOST_SECRET_NAME", e.to_string()))?;
        let federated_app_id = match opt("GUESTSYNC_FEDERATED_APP_ID") {
            Some(v) => Some(guid("GUESTSYNC_FEDERATED_APP_ID", v)?),
            None => None,
        };
        let keyvault_url = match opt("GUESTSYNC_KEYVAULT_URL") {
            Some(v) => {
                let u = parse_url("GUESTSYNC_KEYVAULT_URL", &v)?;
                if u.scheme() != "https" {
                    return Err(bad(
                        "GUESTSYNC_KEYVAULT_URL",
                        "Key Vault is only reached over https",
                    ));
                }
                Some(u)
            }
            None => None,
        };
        let local_secrets = PathBuf::from(
            opt("GUESTSYNC_LOCAL_SECRETS").unwrap_or_else(|| DEFAULT_LOCAL_SECRETS.to_string()),
        );
        let store = StoreSpec::parse(
            &opt("GUESTSYNC_STORE").unwrap_or_else(|| "sqlite:guest-sync.db".to_string()),
        )?;
        let allow_http = match opt("GUESTSYNC_ALLOW_HTTP") {
            Some(v) => parse_bool("GUESTSYNC_ALLOW_HTTP", &v)?,
            None => false,
        };
        let graph_url = endpoint_url(
            "GUESTSYNC_GRAPH_URL",
            &opt("GUESTSYNC_GRAPH_URL").unwrap_or_else(|| "https://graph.microsoft.com".into()),
            allow_http,
        )?;
        let authority_url = endpoint_url(
            "GUESTSYNC_AUTHORITY_URL",
            &opt("GUESTSYNC_AUTHORITY_URL")
                .unwrap_or_else(|| "https://login.microsoftonline.com".into()),
            allow_http,
        )?;
        let invite_redirect_url = match opt("GUESTSYNC_INVITE_REDIRECT_URL") {
            Some(v) => parse_url("GUESTSYNC_INVITE_REDIRECT_URL", &v)?.to_string(),
            None => format!("https://myapplications.microsoft.com/?tenantid={host_tenant_id}"),
        };
        let host_group_id = match opt("GUESTSYNC_HOST_GROUP_ID") {
            Some(v) => Some(guid("GUESTSYNC_HOST_GROUP_ID", v)?),
            None => None,
        };
        let deprovision = match opt("GUESTSYNC_DEPROVISION") {
            Some(v) => v
                .parse()
                .map_err(|e: String| bad("GUESTSYNC_DEPROVISION", e))?,
            None => DeprovisionMode::Delete,
        };
        let max_deprovisions = MaxDeprovisions::parse(
            &opt("GUESTSYNC_MAX_DEPROVISIONS").unwrap_or_else(|| DEFAULT_MAX_DEPROVISIONS.into()),
        )?;
        let dry_run = match opt("GUESTSYNC_DRY_RUN") {
            Some(v) => parse_bool("GUESTSYNC_DRY_RUN", &v)?,
            None => false,
        };
        let sched = |k: &'static str, d: &str| {
            validate_schedule(k, &opt(k).unwrap_or_else(|| d.to_string()))
        };
        let sync_schedule = sched("GUESTSYNC_SYNC_SCHEDULE", DEFAULT_SYNC_SCHEDULE)?;
        let photo_schedule = sched("GUESTSYNC_PHOTO_SCHEDULE", DEFAULT_PHOTO_SCHEDULE)?;
        let redemption_schedule =
            sched("GUESTSYNC_REDEMPTION_SCHEDULE", DEFAULT_REDEMPTION_SCHEDULE)?;
        let delta_schedule = sched("GUESTSYNC_DELTA_SCHEDULE", DEFAULT_DELTA_SCHEDULE)?;
        let num = |k: &'static str, d: u64, min: u64, max: u64| -> Result<u64, SettingError> {
            match opt(k) {
                None => Ok(d),
                Some(v) => {
                    let n: u64 = v
                        .trim()
                        .parse()
                        .map_err(|_| bad(k, format!("{v:?} is not a whole number")))?;
                    if n < min || n > max {
                        return Err(bad(k, format!("{n} is outside {min}..={max}")));
                    }
                    Ok(n)
                }
            }
        };
        let job_budget_secs = num(
            "GUESTSYNC_JOB_BUDGET_SECS",
            DEFAULT_JOB_BUDGET_SECS,
            1,
            86_400,
        )?;
        let retention_days = num("GUESTSYNC_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, 1, 3650)?;
        let full_reconcile_hours = num(
            "GUESTSYNC_FULL_RECONCILE_HOURS",
            DEFAULT_FULL_RECONCILE_HOURS,
            0,
            24 * 30,
        )?;
        let anchor_attribute = parse_anchor(opt("GUESTSYNC_ANCHOR_ATTRIBUTE").as_deref())?;
        let tls_ca_pem = match opt("GUESTSYNC_TLS_CA_FILE") {
            None => None,
            Some(path) => {
                const N: &str = "GUESTSYNC_TLS_CA_FILE";
                if !is_loopback(&graph_url) || !is_loopback(&authority_url) {
                    return Err(bad(
                        N,
                        "an extra trusted CA is for development against a local simulator only: GUESTSYNC_GRAPH_URL and GUESTSYNC_AUTHORITY_URL must then be loopback addresses (unset it for Microsoft's endpoints)",
                    ));
                }
                let pem = std::fs::read_to_string(path.trim())
                    .map_err(|e| bad(N, format!("cannot read {}: {e}", path.trim())))?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(bad(
                        N,
                        format!(
                            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                            path.trim()
                        ),
                    ));
                }
                Some(pem)
            }
        };
        Ok(Settings {
            host_tenant_id,
            host_client_id,
            host_secret_name,
            keyvault_url,
            local_secrets,
            store,
            graph_url,
            authority_url,
            invite_redirect_url,
            host_group_id,
            deprovision,
            max_deprovisions,
            dry_run,
            sync_schedule,
            photo_schedule,
            redemption_schedule,
            delta_schedule,
            full_reconcile_hours,
            job_budget_secs,
            retention_days,
            anchor_attribute,
            federated_app_id,
            host_credential,
            tls_ca_pem,
            allow_http,
        })
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {

    /// Graph and the authority receive tokens and secrets: https only,
    /// unless GUESTSYNC_ALLOW_HTTP says this is the local simulator.
    #[test]
    fn endpoints_are_https_unless_http_is_allowed() {
        let mut env = base();
        env.insert("GUESTSYNC_GRAPH_URL", "http://graph.example.test".into());
        let e = Settings::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert_eq!(e.name, "GUESTSYNC_GRAPH_URL");
        assert!(e.problem.contains("GUESTSYNC_ALLOW_HTTP"), "{e}");
        env.remove("GUESTSYNC_GRAPH_URL");
        env.insert(
            "GUESTSYNC_AUTHORITY_URL",
            "http://login.example.test".into(),
        );
        let e = Settings::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert_eq!(e.name, "GUESTSYNC_AUTHORITY_URL");
        // This machine's loopback never leaves it: a local simulator or fake.
        for local in [
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
        ] {
            env.insert("GUESTSYNC_AUTHORITY_URL", local.into());
            env.insert("GUESTSYNC_GRAPH_URL", local.into());
            let s = Settings::from_lookup(|k| env.get(k).cloned()).unwrap();
            assert!(!s.allow_http, "{local}");
        }
        env.insert(
            "GUESTSYNC_AUTHORITY_URL",
            "http://login.example.test".into(),
        );
        env.insert("GUESTSYNC_ALLOW_HTTP", "true".into());
        let s = Settings::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert!(s.allow_http);
        assert_eq!(s.authority_url.scheme(), "http");
        env.insert("GUESTSYNC_ALLOW_HTTP", "maybe".into());
        let e = Settings::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert_eq!(e.name, "GUESTSYNC_ALLOW_HTTP");
    }

    /// The job budget must end a minute before host.json's functionTimeout.
    #[test]
    fn the_job_budget_is_checked_against_host_json() {
        let host = |t: &str| format!(r#"{{"version":"2.0","functionTimeout":"{t}"}}"#);
        assert!(check_job_budget(480, &host("00:10:00")).is_ok());
        assert!(check_job_budget(540, &host("00:10:00")).is_ok());
        let e = check_job_budget(86_400, &host("00:10:00")).unwrap_err();
        assert_eq!(e.name, "GUESTSYNC_JOB_BUDGET_SECS");
        assert!(e.problem.contains("at most 540 s"), "{e}");
        assert!(check_job_budget(86_400, &host("-1")).is_ok());
        assert!(check_job_budget(7_000, &host("0.02:00:00")).is_ok());
        assert!(check_job_budget(86_400, r#"{"version":"2.0"}"#).is_ok());
        let e = check_job_budget(480, &host("ten minutes")).unwrap_err();
        assert!(e.problem.contains("ten minutes"), "{e}");
        // The repository's own host.json agrees with the default budget.
        let ours = include_str!("../../host.json");
        assert!(check_job_budget(DEFAULT_JOB_BUDGET_SECS, ours).is_ok());
    }

    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                "GUESTSYNC_HOST_TENANT_ID",
                "11111111-1111-4111-8111-111111111111".to_string(),
            ),
            (
                "GUESTSYNC_HOST_CLIENT_ID",
                "22222222-2222-4222-8222-222222222222".to_string(),
            ),
            ("GUESTSYNC_HOST_SECRET_NAME", "host-app-secret".to_string()),
        ])
    }
    fn load(m: &HashMap<&'static str, String>) -> Result<Settings, SettingError> {
        Settings::from_lookup(|k| m.get(k).cloned())
    }

    /// Only the three host settings are required; the rest have the
    /// documented defaults.
    #[test]
    fn defaults_apply() {
        let s = load(&base()).unwrap();
        assert_eq!(s.store, StoreSpec::Sqlite("guest-sync.db".into()));
        assert_eq!(s.deprovision, DeprovisionMode::Delete);
        assert_eq!(s.max_deprovisions, MaxDeprovisions::Percent(10.0));
        assert_eq!(s.job_budget_secs, 480);
        assert!(s
            .invite_redirect_url
            .ends_with("tenantid=11111111-1111-4111-8111-111111111111"));
    }

    /// Each bad value names its setting.
    #[test]
    fn bad_values_name_the_setting() {
        for (k, v) in [
            ("GUESTSYNC_HOST_TENANT_ID", "contoso"),
            ("GUESTSYNC_STORE", "postgres://x"),
            ("GUESTSYNC_MAX_DEPROVISIONS", "lots"),
            ("GUESTSYNC_DEPROVISION", "archive"),
            ("GUESTSYNC_DRY_RUN", "perhaps"),
            ("GUESTSYNC_SYNC_SCHEDULE", "*/5 * * * *"),
            ("GUESTSYNC_JOB_BUDGET_SECS", "0"),
            ("GUESTSYNC_KEYVAULT_URL", "http://vault"),
        ] {
            let mut m = base();
            m.insert(k, v.to_string());
            let e = load(&m).unwrap_err();
            assert_eq!(e.name, k, "{e}");
        }
        let mut m = base();
        m.remove("GUESTSYNC_HOST_SECRET_NAME");
        assert_eq!(load(&m).unwrap_err().name, "GUESTSYNC_HOST_SECRET_NAME");
    }

    /// The secretless settings: the host through the managed identity needs
    /// no host app id or secret name; a bad credential kind or app id is
    /// named; the extra CA is refused for non-loopback URLs and must hold a
    /// certificate.
    #[test]
    fn secretless_settings_are_checked() {
        let s = load(&base()).unwrap();
        assert_eq!(s.host_credential, HostCredential::Secret);
        assert_eq!(s.federated_app_id, None);
        assert!(s.tls_ca_pem.is_none());

        let mut m = base();
        m.remove("GUESTSYNC_HOST_CLIENT_ID");
        m.remove("GUESTSYNC_HOST_SECRET_NAME");
        assert_eq!(load(&m).unwrap_err().name, "GUESTSYNC_HOST_CLIENT_ID");
        m.insert("GUESTSYNC_HOST_CREDENTIAL", "Managed-Identity".into());
        m.insert(
            "GUESTSYNC_FEDERATED_APP_ID",
            "33333333-3333-4333-8333-333333333333".into(),
        );
        let s = load(&m).unwrap();
        assert_eq!(s.host_credential, HostCredential::ManagedIdentity);
        assert_eq!(
            s.federated_app_id.map(|g| g.to_string()).as_deref(),
            Some("33333333-3333-4333-8333-333333333333")
        );

        for (k, v) in [
            ("GUESTSYNC_HOST_CREDENTIAL", "certificate"),
            ("GUESTSYNC_FEDERATED_APP_ID", "guest-sync-app"),
        ] {
            let mut m = base();
            m.insert(k, v.to_string());
            let e = load(&m).unwrap_err();
            assert_eq!(e.name, k, "{e}");
        }

        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let mut m = base();
        m.insert("GUESTSYNC_TLS_CA_FILE", ca.display().to_string());
        let e = load(&m).unwrap_err();
        assert_eq!(e.name, "GUESTSYNC_TLS_CA_FILE");
        assert!(e.to_string().contains("loopback"), "{e}");
        m.insert("GUESTSYNC_GRAPH_URL", "https://127.0.0.1:8443".into());
        m.insert("GUESTSYNC_AUTHORITY_URL", "https://localhost:8443".into());
        assert!(load(&m).unwrap().tls_ca_pem.is_some());
        std::fs::write(&ca, "not a certificate").unwrap();
        assert_eq!(load(&m).unwrap_err().name, "GUESTSYNC_TLS_CA_FILE");
    }

    /// A connection string's key never shows in Debug output.
    #[test]
    fn connection_string_is_redacted() {
        let s = StoreSpec::parse("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1").unwrap();
        assert!(!format!("{s:?}").contains("c2VjcmV0"));
    }

    /// The guard limit: a count as given, a percentage of managed guests.
    #[test]
    fn guard_limits() {
        assert_eq!(MaxDeprovisions::Count(50).limit_for(10_000), 50);
        assert_eq!(MaxDeprovisions::Percent(10.0).limit_for(10_000), 1000);
        assert_eq!(MaxDeprovisions::Percent(10.0).limit_for(3), 1);
    }

    /// A password in a refused endpoint URL is not repeated in the error
    /// (found by the reliability fuzzing).
    #[test]
    fn endpoint_errors_do_not_repeat_a_url_password() {
        let mut m = base();
        m.insert(
            "GUESTSYNC_GRAPH_URL",
            "http://svc:hunter2-pw@graph.example.test".into(),
        );
        let e = load(&m).unwrap_err();
        assert_eq!(e.name, "GUESTSYNC_GRAPH_URL");
        assert!(!e.to_string().contains("hunter2-pw"), "{e}");
        assert!(e.to_string().contains("graph.example.test"), "{e}");
    }

    /// The delta timer's schedule and the full-read interval: documented
    /// defaults; a malformed schedule and an interval outside 0..=720 are
    /// refused naming the setting; 0 (delta off) and 720 are accepted.
    #[test]
    fn delta_schedule_and_full_reconcile_hours() {
        let s = load(&base()).unwrap();
        assert_eq!(s.delta_schedule, "0 */2 * * * *");
        assert_eq!(s.delta_schedule, DEFAULT_DELTA_SCHEDULE);
        assert_eq!(s.full_reconcile_hours, 24);

        for (k, v) in [
            ("GUESTSYNC_DELTA_SCHEDULE", "*/2 * * * *"),
            ("GUESTSYNC_DELTA_SCHEDULE", "every two minutes"),
            ("GUESTSYNC_FULL_RECONCILE_HOURS", "721"),
            ("GUESTSYNC_FULL_RECONCILE_HOURS", "-1"),
            ("GUESTSYNC_FULL_RECONCILE_HOURS", "daily"),
        ] {
            let mut m = base();
            m.insert(k, v.to_string());
            let e = load(&m).unwrap_err();
            assert_eq!(e.name, k, "{v}: {e}");
            assert!(e.to_string().contains(k), "{e}");
        }
        let mut m = base();
        m.insert("GUESTSYNC_FULL_RECONCILE_HOURS", "721".into());
        let e = load(&m).unwrap_err();
        assert!(e.to_string().contains("0..=720"), "{e}");

        let mut m = base();
        m.insert("GUESTSYNC_DELTA_SCHEDULE", "30 */1 * * * *".into());
        m.insert("GUESTSYNC_FULL_RECONCILE_HOURS", "0".into());
        let s = load(&m).unwrap();
        assert_eq!(s.delta_schedule, "30 */1 * * * *");
        assert_eq!(s.full_reconcile_hours, 0);
        m.insert("GUESTSYNC_FULL_RECONCILE_HOURS", "720".into());
        assert_eq!(load(&m).unwrap().full_reconcile_hours, 720);
    }
}
