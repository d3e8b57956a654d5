//! `guest-sync tenant`: register and manage source tenants. Thin layer over
//! [`crate::tenants`]: parses arguments, reads the secret from
//! stdin, prints tables or JSON. Secrets are never printed.
//!
//! Settings needed (environment): `GUESTSYNC_STORE`, `GUESTSYNC_KEYVAULT_URL`
//! (or `GUESTSYNC_LOCAL_SECRETS` for development), `GUESTSYNC_GRAPH_URL` and
//! `GUESTSYNC_AUTHORITY_URL` (defaults: public cloud). The host settings
//! (`GUESTSYNC_HOST_*`) are not required here, except by `check-expiry`
//! (which also checks the host's secret); when set and valid, `add` refuses
//! to register the host tenant as a source.
//!
//! The printing (tables, connection reports, JSON) is in `output`.
mod output;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::domain::Guid;
use crate::graph::GraphConfig;
use crate::secrets::expiry::{check_secret_expiry, ExpiryLevel};
use crate::secrets::{SecretSource, SecretString};
use crate::settings::Settings;
use crate::store::Store;
use crate::tenants::{self, GuestDisposition, Onboarding, RemoveOutcome, SourceProbe, TenantInput};

use output::{print_connection, print_cross_tenant, print_json, print_table};

/// Arguments of `guest-sync tenant`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    pub command: TenantCommand,
}

/// The `tenant` subcommands.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Register a source tenant: validate, test the connection, store the
    /// secret, register. Nothing is registered if the test fails.
    Add(AddArgs),
    /// List the registered tenants with their health.
    List(ListArgs),
    /// Test a registered tenant's connection (token, group, members,
    /// attributes) with its stored secret.
    Test(IdArgs),
    /// Let the tenant's jobs run again.
    Enable(IdArgs),
    /// Stop the tenant's jobs (its guests stay as they are).
    Disable(IdArgs),
    /// Remove a tenant; say what happens to its guests.
    Remove(RemoveArgs),
    /// Release a tripped deletion guard: the next run may remove the guests
    /// it held back.
    ConfirmDeprovision(IdArgs),
    /// Store a new client secret for a registered tenant (tested first).
    SecretUpdate(SecretUpdateArgs),
    /// Check every secret's expiry now (the host's too) and record it.
    CheckExpiry(JsonArg),
}

/// `tenant add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Source tenant id (Directory (tenant) ID).
    #[arg(long)]
    pub tenant_id: String,
    /// The source app registration's Application (client) ID (not with
    /// --secretless: the host's multi-tenant app GUESTSYNC_FEDERATED_APP_ID
    /// is used).
    #[arg(long, required_unless_present = "secretless")]
    pub client_id: Option<String>,
    /// The source security group's Object ID.
    #[arg(long)]
    pub group_id: String,
    /// Display name of the source tenant (shown in reports).
    #[arg(long)]
    pub name: String,
    /// Name of the Key Vault secret holding the app's client secret (not
    /// with --secretless).
    #[arg(long, required_unless_present = "secretless")]
    pub secret_name: Option<String>,
    /// No secret: the source admin grants admin consent to the host's
    /// multi-tenant app (GUESTSYNC_FEDERATED_APP_ID), which signs in with
    /// the function app's managed identity. Prints the admin-consent URL,
    /// waits for consent (re-testing the connection), then registers.
    #[arg(long, conflicts_with_all = ["client_id", "secret_name", "secret_stdin", "secret_expires", "skip_test"])]
    pub secretless: bool,
    /// With --secretless: how long to wait for the admin's consent.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub consent_timeout: u64,
    /// With --secretless: test once, do not wait for consent.
    #[arg(long)]
    pub no_wait: bool,
    /// Read the client secret's value from stdin and store it in Key Vault.
    #[arg(long)]
    pub secret_stdin: bool,
    /// The client secret's expiry date (YYYY-MM-DD), stored with it.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub secret_expires: Option<String>,
    /// Register without testing the connection (the first run reports
    /// problems instead).
    #[arg(long)]
    pub skip_test: bool,
    /// Tenant options (attribute mapping, invite address, ...) as a JSON file.
    #[arg(long, value_name = "FILE")]
    pub options_json: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tenant list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also test each enabled tenant's connection now and count its group's
    /// members (one token and a few Graph reads per tenant).
    #[arg(long)]
    pub live: bool,
}

/// A tenant id.
#[derive(Debug, Args)]
pub struct IdArgs {
    /// Source tenant id.
    pub tenant_id: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Only `--json`.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tenant remove`.
#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Source tenant id.
    pub tenant_id: String,
    /// What happens to the tenant's guests in the host: `keep` leaves them
    /// (unmanaged); `deprovision` has the engine remove them first (through
    /// the deletion guard), after which `remove` deletes the record.
    #[arg(long, value_enum)]
    pub guests: GuestDisposition,
}

/// `tenant secret-update`.
#[derive(Debug, Args)]
pub struct SecretUpdateArgs {
    /// Source tenant id.
    pub tenant_id: String,
    /// Read the new client secret's value from stdin (required).
    #[arg(long, required = true)]
    pub secret_stdin: bool,
    /// The new secret's expiry date (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub secret_expires: Option<String>,
    /// Store without testing it.
    #[arg(long)]
    pub skip_test: bool,
}

/// What the tenant commands work with.
pub struct TenantContext {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretSource>,
    pub probe: SourceProbe,
    /// Full settings, when the host settings are set (needed by
    /// `check-expiry`; used by `add` to refuse the host tenant).
    pub settings: Option<Settings>,
    /// `GUESTSYNC_FEDERATED_APP_ID` (needed by `add --secretless`).
    pub federated_app_id: Option<Guid>,
}

const PLACEHOLDER_GUID: &str = "00000000-0000-0000-0000-000000000000";
const PLACEHOLDER_SECRET: &str = "guest-sync-host-settings-unset";

/// Reads the settings the tenant commands need, validated exactly as the
/// handler reads them. Host settings are optional here: when unset or
/// malformed they are replaced by placeholders and the returned flag is
/// false (then `add` cannot refuse the host tenant, and `check-expiry`
/// refuses to run).
pub fn load_settings(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<(Settings, bool)> {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    let placeholder = |k: &str| match k {
        "GUESTSYNC_HOST_TENANT_ID" | "GUESTSYNC_HOST_CLIENT_ID" => {
            Some(PLACEHOLDER_GUID.to_string())
        }
        "GUESTSYNC_HOST_SECRET_NAME" => Some(PLACEHOLDER_SECRET.to_string()),
        _ => None,
    };
    let is_host = |k: &str| crate::settings::REQUIRED_SETTINGS.contains(&k);
    let host_set = crate::settings::REQUIRED_SETTINGS
        .iter()
        .all(|k| get(k).is_some());
    match Settings::from_lookup(|k| get(k).or_else(|| placeholder(k))) {
        Ok(s) => Ok((s, host_set)),
        Err(e) if is_host(e.name) => {
            // A malformed host setting does not block local tenant
            // management; commands that need the host say so.
            tracing::warn!(
                setting = e.name,
                "host setting ignored by the tenant commands: {e}"
            );
            let s = Settings::from_lookup(|k| if is_host(k) { placeholder(k) } else { get(k) })?;
            Ok((s, false))
        }
        Err(e) => Err(e.into()),
    }
}

impl TenantContext {
    /// Builds the context from the process environment.
    pub async fn from_env() -> anyhow::Result<Self> {
        let (settings, host_set) = load_settings(|k| std::env::var(k).ok())?;
        let probe = SourceProbe::new(GraphConfig::from_settings(&settings));
        let app = crate::app::App::open(settings).await?;
        Ok(TenantContext {
            store: app.store.clone(),
            secrets: app.secrets.clone(),
            probe,
            federated_app_id: app.settings.federated_app_id,
            settings: host_set.then(|| app.settings.as_ref().clone()),
        })
    }

    /// Reads the host's cross-tenant access settings with the host app
    /// (unknown, with the reason, when the host settings or its secret are
    /// missing).
    async fn cross_tenant_reader(&self) -> tenants::cross_tenant::HostPolicyReader {
        tenants::cross_tenant::HostPolicyReader::new(
            self.settings.as_ref(),
            self.secrets.as_ref(),
            None,
        )
        .await
    }

    fn onboarding(&self) -> Onboarding<'_> {
        Onboarding {
            store: self.store.as_ref(),
            secrets: self.secrets.as_ref(),
            probe: &self.probe,
        }
    }
}

/// Runs `guest-sync tenant …` with the process environment, stdin, stdout.
pub async fn run(args: TenantArgs) -> anyhow::Result<()> {
    if let TenantCommand::Add(a) = &args.command {
        // Bad input is reported before anything is opened or created.
        let raw = TenantInput {
            tenant_id: a.tenant_id.clone(),
            client_id: a.client_id.clone().unwrap_or_default(),
            group_id: a.group_id.clone(),
            display_name: a.name.clone(),
            secret_name: a.secret_name.clone().unwrap_or_default(),
            secret_expires: a.secret_expires.clone(),
            options_json: None,
            secretless: a.secretless,
        };
        let raw = if a.secretless {
            // The app is the host's; checked when the settings are read.
            TenantInput {
                client_id: PLACEHOLDER_GUID.into(),
                ..raw
            }
        } else {
            raw
        };
        tenants::validate_input(&raw, None, Utc::now())?;
    }
    let ctx = TenantContext::from_env().await?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    execute(args, &ctx, &mut input, interactive, &mut out, Utc::now()).await
}

/// `tenant add --secretless`: the host's multi-tenant app
/// (`GUESTSYNC_FEDERATED_APP_ID`) must be set; the admin-consent URL is
/// printed, then the connection is tested until consent is given (or
/// `--consent-timeout` passes, or once with `--no-wait`), and the tenant is
/// registered only after a passing test.
async fn add_secretless(
    a: AddArgs,
    options_json: Option<String>,
    ctx: &TenantContext,
    out: &mut dyn Write,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let Some(app_id) = ctx.federated_app_id else {
        bail!("--secretless needs GUESTSYNC_FEDERATED_APP_ID: the Application (client) ID of the host's multi-tenant app that trusts the function app's managed identity (infra/secretless.sh creates it, the deployment's federatedAppId parameter sets the app setting; locally, `guest-sync sim serve --tls` prints it); nothing was registered");
    };
    let raw = TenantInput {
        tenant_id: a.tenant_id,
        client_id: app_id.to_string(),
        group_id: a.group_id,
        display_name: a.name,
        secret_name: a.secret_name.unwrap_or_default(),
        secret_expires: None,
        options_json,
        secretless: true,
    };
    let host = ctx.settings.as_ref().map(|s| s.host_tenant_id);
    let t = tenants::validate_input(&raw, host, now)?;
    // The host's side first: a tenant whose users the host blocks is
    // refused before the admin is asked for anything.
    let cross = ctx
        .cross_tenant_reader()
        .await
        .status(t.tenant_id, now)
        .await;
    tenants::check_inbound(t.tenant_id, &cross)?;
    let url = ctx.probe.admin_consent_url(t.tenant_id, app_id);
    if !a.json {
        writeln!(
            out,
            "Secretless tenant {}: no secret, the host's app {app_id} signs in with the function app's managed identity.",
            t.tenant_id
        )?;
        writeln!(
            out,
            "A Global Administrator of tenant {} opens this URL and accepts (grants GroupMember.Read.All and User.Read.All):",
            t.tenant_id
        )?;
        writeln!(out, "  {url}")?;
        if a.no_wait {
            writeln!(out, "Testing the connection once (--no-wait)")?;
        } else {
            writeln!(
                out,
                "Waiting up to {} s for the consent (testing the connection every {} s)...",
                a.consent_timeout,
                CONSENT_POLL.as_secs()
            )?;
        }
        out.flush()?;
    }
    let wait = tenants::ConsentWait {
        timeout: if a.no_wait {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs(a.consent_timeout)
        },
        interval: CONSENT_POLL.min(std::time::Duration::from_secs(a.consent_timeout.max(1))),
    };
    let quiet = a.json;
    let mut note = |waited: u64| {
        if !quiet {
            // Progress on stderr: stdout stays the result.
            eprintln!("  no consent yet ({waited} s)");
        }
    };
    let ob = ctx.onboarding();
    let id = t.tenant_id;
    let mut rep = tenants::add_secretless_tenant(&ob, t, wait, now, &mut note).await?;
    tenants::cross_tenant::store_status(ctx.store.as_ref(), id, cross.clone()).await?;
    rep.tenant.cross_tenant = Some(cross);
    if a.json {
        return print_json(out, &rep);
    }
    writeln!(out, "Consent granted; connection test passed:")?;
    if let Some(c) = &rep.connection {
        print_connection(out, c)?;
    }
    if let Some(c) = &rep.tenant.cross_tenant {
        print_cross_tenant(out, c)?;
    }
    writeln!(
        out,
        "Registered {} ({}), secretless, enabled: no secret is stored and none expires. The next sync-timer run picks it up.",
        rep.tenant.display_name, rep.tenant.tenant_id
    )?;
    Ok(())
}

/// How often `tenant add --secretless` tests again while consent is missing.
const CONSENT_POLL: std::time::Duration = std::time::Duration::from_secs(3);

fn parse_id(s: &str) -> anyhow::Result<Guid> {
    Ok(Guid::parse_named(s, "tenant id")?)
}

/// Reads one secret value from `input`. On a terminal the typing is not
/// echoed (`stty -echo`) and a prompt goes to stderr. Refuses an empty value
/// and a GUID (the secret's ID pasted instead of its value).
pub fn read_secret(input: &mut dyn BufRead, interactive: bool) -> anyhow::Result<SecretString> {
    let mut line = String::new();
    if interactive {
        eprint!("Paste the client secret's value, then press Enter (it is not shown): ");
        let _ = std::io::stderr().flush();
        let _ = std::process::Command::new("stty").arg("-echo").status();
    }
    let res = input.read_line(&mut line);
    if interactive {
        let _ = std::process::Command::new("stty").arg("echo").status();
        eprintln!();
    }
    res.context("reading the client secret from stdin")?;
    let v = line.trim_end_matches(['\r', '\n']).trim();
    if v.is_empty() {
        bail!("--secret-stdin: no secret value on stdin (pipe or paste the value)");
    }
    if Guid::parse_named(v, "secret").is_ok() {
        bail!("--secret-stdin: that is a GUID, probably the secret's ID; paste the secret's Value (shown once when it was created)");
    }
    Ok(SecretString::new(v))
}

/// Runs one tenant command against `ctx`, reading a secret from `input`
/// and printing to `out` (tests pass buffers). `now` is the clock.
pub async fn execute(
    args: TenantArgs,
    ctx: &TenantContext,
    input: &mut dyn BufRead,
    interactive: bool,
    out: &mut dyn Write,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let ob = ctx.onboarding();
    match args.command {
        TenantCommand::Add(a) => {
            let options_json = match &a.options_json {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("--options-json: cannot read {}", p.display()))?,
                ),
                None => None,
            };
            if a.secretless {
                return add_secretless(a, options_json, ctx, out, now).await;
            }
            let raw = TenantInput {
                tenant_id: a.tenant_id,
                client_id: a.client_id.unwrap_or_default(),
                group_id: a.group_id,
                display_name: a.name,
                secret_name: a.secret_name.unwrap_or_default(),
                secret_expires: a.secret_expires,
                options_json,
                secretless: false,
            };
            let host = ctx.settings.as_ref().map(|s| s.host_tenant_id);
            let t = tenants::validate_input(&raw, host, now)?;
            if a.secret_stdin && t.secret_expires.is_none() && !a.json {
                writeln!(out, "warning: no --secret-expires given: guest-sync cannot warn before this secret expires")?;
            }
            let secret = if a.secret_stdin {
                Some(read_secret(input, interactive)?)
            } else {
                None
            };
            if !a.json {
                if a.skip_test {
                    writeln!(
                        out,
                        "Registering tenant {} without a connection test (--skip-test)",
                        t.tenant_id
                    )?;
                } else {
                    writeln!(
                        out,
                        "Testing the connection to tenant {} with app {}",
                        t.tenant_id, t.client_id
                    )?;
                }
            }
            // The host's side first: a tenant whose users the host blocks
            // is refused before anything is tested or written.
            let cross = ctx
                .cross_tenant_reader()
                .await
                .status(t.tenant_id, now)
                .await;
            tenants::check_inbound(t.tenant_id, &cross)?;
            let id = t.tenant_id;
            let mut rep = tenants::add_tenant(&ob, t, secret, a.skip_test, now).await?;
            tenants::cross_tenant::store_status(ctx.store.as_ref(), id, cross.clone()).await?;
            rep.tenant.cross_tenant = Some(cross);
            if a.json {
                return print_json(out, &rep);
            }
            if let Some(c) = &rep.connection {
                print_connection(out, c)?;
            }
            if let Some(c) = &rep.tenant.cross_tenant {
                print_cross_tenant(out, c)?;
            }
            if let (true, Some(secret_name)) = (rep.secret_written, &rep.tenant.secret_name) {
                writeln!(
                    out,
                    "Secret stored as {} in {}{}",
                    secret_name,
                    ctx.secrets.describe(),
                    rep.tenant
                        .secret_expires_at
                        .map(|e| format!(", expires {}", e.format("%Y-%m-%d")))
                        .unwrap_or_default()
                )?;
            }
            writeln!(
                out,
                "Registered {} ({}), enabled. The next sync-timer run picks it up.",
                rep.tenant.display_name, rep.tenant.tenant_id
            )?;
        }
        TenantCommand::List(a) => {
            let probe = a.live.then_some(&ctx.probe);
            let mut rows = tenants::tenant_overview(
                ctx.store.as_ref(),
                Some(ctx.secrets.as_ref()),
                probe,
                now,
            )
            .await?;
            // The host's cross-tenant settings, read now for each tenant
            // (one token, the default read once). A read that fails never
            // fails the list: the last stored reading is shown with why it
            // is not fresh, or unknown with the reason.
            if !rows.is_empty() {
                let mut reader = ctx.cross_tenant_reader().await;
                for r in &mut rows {
                    let live = reader.status(r.tenant_id, now).await;
                    let c = match r.cross_tenant.take() {
                        Some(stored)
                            if live.automatic_redemption == crate::domain::Toggle::Unknown
                                && stored.reason.is_none() =>
                        {
                            r.reasons.push(format!(
                                "cross-tenant settings not read now ({}); showing those read {}",
                                live.reason.as_deref().unwrap_or("unknown"),
                                stored.checked_at.format("%Y-%m-%d %H:%M UTC")
                            ));
                            stored
                        }
                        _ => live,
                    };
                    tenants::cross_tenant_reasons(&c, &mut r.reasons, &mut r.health);
                    r.cross_tenant = Some(c);
                }
            }
            if a.json {
                print_json(out, &rows)?;
            } else {
                print_table(out, &rows)?;
            }
        }
        TenantCommand::Test(a) => {
            let id = parse_id(&a.tenant_id)?;
            let r = tenants::test_tenant(&ob, id).await?;
            let cross = ctx.cross_tenant_reader().await.status(id, now).await;
            tenants::cross_tenant::store_status(ctx.store.as_ref(), id, cross.clone()).await?;
            if a.json {
                // The connection report, with the host's settings added.
                let mut v = serde_json::to_value(&r)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("crossTenant".into(), serde_json::to_value(&cross)?);
                }
                print_json(out, &v)?;
            } else {
                let kind = match ctx.store.get_tenant(id).await? {
                    Some(t) => t.credential.to_string(),
                    None => "?".into(),
                };
                writeln!(out, "Connection test of tenant {id} ({kind}) passed:")?;
                print_connection(out, &r)?;
                print_cross_tenant(out, &cross)?;
            }
        }
        TenantCommand::Enable(a) => {
            let id = parse_id(&a.tenant_id)?;
            let t = tenants::set_enabled(ctx.store.as_ref(), id, true).await?;
            writeln!(out, "Tenant {} ({}) enabled.", t.display_name, id)?;
        }
        TenantCommand::Disable(a) => {
            let id = parse_id(&a.tenant_id)?;
            let t = tenants::set_enabled(ctx.store.as_ref(), id, false).await?;
            writeln!(
                out,
                "Tenant {} ({}) disabled: no jobs run for it; its guests stay as they are.",
                t.display_name, id
            )?;
        }
        TenantCommand::Remove(a) => {
            let id = parse_id(&a.tenant_id)?;
            match tenants::remove_tenant(ctx.store.as_ref(), id, a.guests).await? {
                RemoveOutcome::Removed { guests_left } => writeln!(
                    out,
                    "Tenant {id} removed. {guests_left} guests stay in the host tenant, no longer managed (their records are kept for the report)."
                )?,
                RemoveOutcome::Offboarding {
                    guests_to_deprovision,
                } => writeln!(
                    out,
                    "Tenant {id} is being offboarded: the next reconcile run deprovisions its {guests_to_deprovision} guests (GUESTSYNC_DEPROVISION; the deletion guard may hold them until `guest-sync tenant confirm-deprovision {id}`). When `guest-sync tenant list` shows 0 guests, run `guest-sync tenant remove {id} --guests deprovision` again to delete the record."
                )?,
            }
        }
        TenantCommand::ConfirmDeprovision(a) => {
            let id = parse_id(&a.tenant_id)?;
            let g = tenants::confirm_deprovision(ctx.store.as_ref(), id).await?;
            writeln!(
                out,
                "Confirmed: the next reconcile run of tenant {id} may remove up to {} guests (the guard's limit is {}).",
                g.wanted, g.limit
            )?;
        }
        TenantCommand::SecretUpdate(a) => {
            let id = parse_id(&a.tenant_id)?;
            let expires = match &a.secret_expires {
                Some(s) => Some(tenants::parse_expiry_date(s, now).map_err(anyhow::Error::msg)?),
                None => None,
            };
            let secret = read_secret(input, interactive)?;
            let r = tenants::update_secret(&ob, id, secret, expires, a.skip_test).await?;
            if let Some(r) = &r {
                print_connection(out, r)?;
            }
            writeln!(out, "New client secret stored for tenant {id}.")?;
        }
        TenantCommand::CheckExpiry(a) => {
            let Some(settings) = &ctx.settings else {
                bail!("check-expiry also checks the host's secret: set GUESTSYNC_HOST_TENANT_ID, GUESTSYNC_HOST_CLIENT_ID and GUESTSYNC_HOST_SECRET_NAME");
            };
            let st =
                check_secret_expiry(ctx.store.as_ref(), ctx.secrets.as_ref(), settings, now).await;
            if a.json {
                print_json(out, &st)?;
            } else {
                for s in &st {
                    writeln!(
                        out,
                        "{:<38} {:<32} {:<10} {}",
                        s.owner.to_string(),
                        s.secret_name.to_string(),
                        s.level.as_str(),
                        match (s.level, s.days_left, &s.error) {
                            (ExpiryLevel::Unreadable, _, Some(e)) => e.clone(),
                            (_, Some(d), _) => format!("{d} days left"),
                            _ => String::new(),
                        }
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without (valid) host settings the tenant commands still read and
    /// validate the rest; other malformed settings are errors.
    #[test]
    fn host_settings_are_optional_others_validated() {
        let (s, host) = load_settings(|k| match k {
            "GUESTSYNC_STORE" => Some("sqlite:/tmp/x.db".into()),
            _ => None,
        })
        .unwrap();
        assert!(!host);
        assert_eq!(s.store.to_string(), "sqlite:/tmp/x.db");
        let (_, host) = load_settings(|k| match k {
            "GUESTSYNC_HOST_TENANT_ID" => Some("contoso".into()),
            "GUESTSYNC_HOST_CLIENT_ID" => Some("22222222-2222-4222-8222-222222222222".into()),
            "GUESTSYNC_HOST_SECRET_NAME" => Some("host-secret".into()),
            _ => None,
        })
        .unwrap();
        assert!(!host, "a malformed host tenant id counts as not set");
        let e = load_settings(|k| match k {
            "GUESTSYNC_GRAPH_URL" => Some("ftp://x".into()),
            _ => None,
        })
        .unwrap_err();
        assert!(e.to_string().contains("GUESTSYNC_GRAPH_URL"), "{e}");
    }

    /// A secret read from stdin loses its line ending; empty input and a
    /// GUID (the secret's ID) are refused.
    #[test]
    fn secret_from_stdin_is_checked() {
        let mut i = std::io::Cursor::new(b"abc~def\r\n".to_vec());
        assert_eq!(read_secret(&mut i, false).unwrap().expose(), "abc~def");
        let mut i = std::io::Cursor::new(b"\n".to_vec());
        assert!(read_secret(&mut i, false).is_err());
        let mut i = std::io::Cursor::new(b"0f9e8d7c-0000-4000-8000-000000000001\n".to_vec());
        assert!(read_secret(&mut i, false)
            .unwrap_err()
            .to_string()
            .contains("secret's ID"));
    }
}
