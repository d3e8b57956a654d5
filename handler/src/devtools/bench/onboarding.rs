//! `guest-sync bench onboarding`: how long from the source admin's setup
//! output to the first guest created in the host, step by step, on the
//! secret path and the secretless path (`docs/onboarding.md`, "Measured").
//!
//! The simulator runs in real time (time scale 1) with its realistic
//! defaults (latency, throttling, the eventual-consistency window), over
//! https too (the secretless path needs it). Each source tenant is what the
//! setup script leaves behind: a scope group of `--users` users and, on the
//! secret path, an app registration with a client secret. The host
//! administrator's steps then run as the real CLI, in child processes, as
//! an administrator would type them:
//!
//! 1. `guest-sync tenant add …` (the secret on stdin; or `--secretless`,
//!    where the benchmark opens the printed admin-consent URL the moment it
//!    appears, standing in for the source admin: the time a person takes to
//!    click is not measured, and said so in the output);
//! 2. `guest-sync sync --tenant <id>`: the first guest created (seen in the
//!    host directory), and the whole first sync.
//!
//! Target: setup output → first guest ≤ 2 minutes on each path.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::scale::setup::{add_host, add_source, local_env};
use super::scale::TempDir;
use crate::devtools::sim::{GenerateSpec, Sim, SimConfig};
use crate::domain::Guid;

const HOST_SECRET: &str = "bench-host-secret";
const TARGET_SECS: f64 = 120.0;

/// Arguments of `guest-sync bench onboarding`.
#[derive(Debug, Args)]
pub struct OnboardingBenchArgs {
    /// Users in each source tenant's scope group.
    #[arg(long, default_value_t = 200)]
    pub users: usize,
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    /// Print the figures as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One timed step.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub step: String,
    pub secs: f64,
}

/// One path's figures.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathFigures {
    pub path: &'static str,
    pub steps: Vec<Step>,
    /// Setup output → first guest created.
    pub to_first_guest_secs: f64,
    /// Setup output → first sync finished.
    pub to_synced_secs: f64,
    pub guests: usize,
}

fn step(name: &str, secs: f64) -> Step {
    Step {
        step: name.into(),
        secs,
    }
}

/// A path's figures: its registration steps (the last one ending at `add`
/// seconds), then the first sync's (first guest, finished, guests).
fn figures(
    path: &'static str,
    mut steps: Vec<Step>,
    add: f64,
    (first, done, guests): (f64, f64, usize),
) -> PathFigures {
    steps.push(step("guest-sync sync --tenant: first guest created", first));
    steps.push(step("guest-sync sync --tenant: first sync finished", done));
    PathFigures {
        path,
        steps,
        to_first_guest_secs: add + first,
        to_synced_secs: add + done,
        guests,
    }
}

/// `guest-sync ARGS` with exactly `env` (and PATH), output piped.
fn cli_command(exe: &std::path::Path, env: &Env, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(exe);
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// The process environment shared by every CLI step.
type Env = BTreeMap<&'static str, String>;

async fn run_cli(
    exe: &std::path::Path,
    env: &Env,
    args: &[&str],
    stdin: Option<&str>,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut cmd = cli_command(exe, env, args);
    if stdin.is_some() {
        cmd.stdin(std::process::Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting guest-sync {}", args[0]))?;
    if let (Some(text), Some(mut si)) = (stdin, child.stdin.take()) {
        si.write_all(text.as_bytes()).await?;
        si.write_all(b"\n").await?;
    }
    let out = child.wait_with_output().await?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "guest-sync {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(secs)
}

/// Runs `sync --tenant` and watches the host for the first guest.
/// Returns (seconds to the first guest, seconds to the end, guests).
async fn first_sync(
    exe: &std::path::Path,
    env: &Env,
    sim: &Sim,
    host: Guid,
    tenant: Guid,
) -> anyhow::Result<(f64, f64, usize)> {
    let before = sim.users(host).len();
    let started = Instant::now();
    let t = tenant.to_string();
    let argv = ["sync", "--quiet", "--tenant", t.as_str()];
    let sync = run_cli(exe, env, &argv, None);
    tokio::pin!(sync);
    let mut first = None;
    let done = loop {
        tokio::select! {
            r = &mut sync => break r?,
            _ = tokio::time::sleep(Duration::from_millis(25)), if first.is_none() => {
                if sim.users(host).len() > before {
                    first = Some(started.elapsed().as_secs_f64());
                }
            }
        }
    };
    let guests = sim.users(host).len() - before;
    let first = match first {
        Some(f) => f,
        None if guests > 0 => done,
        None => bail!("the first sync of tenant {tenant} created no guest"),
    };
    Ok((first, done, guests))
}

pub async fn run(args: OnboardingBenchArgs) -> anyhow::Result<()> {
    let sim = Sim::start(SimConfig {
        seed: args.seed,
        ..SimConfig::default()
    })
    .await
    .context("starting the simulator")?;
    let (host, host_app) = add_host(&sim, "OnboardHost", HOST_SECRET);
    let spec = GenerateSpec {
        users: args.users,
        photo_share: 0.0,
        ..GenerateSpec::default()
    };
    let dir = TempDir::new().context("creating a temporary directory")?;
    let exe = std::env::current_exe().context("locating the guest-sync binary")?;
    let mut env: Env = local_env(&sim, (host, host_app), HOST_SECRET, &dir.0);
    env.insert("RUST_LOG", "warn".to_string());
    std::fs::write(
        dir.0.join("secrets.json"),
        serde_json::json!({ HOST_SECRET: {"value": HOST_SECRET, "expiresOn": null} }).to_string(),
    )
    .context("writing the local secrets file")?;

    let mut paths = Vec::new();

    // ---- the secret path
    let src = add_source(&sim, "OnboardSecret", "onboard-secret-value", &spec);
    let tid = src.tenant.to_string();
    let add = run_cli(
        &exe,
        &env,
        &[
            "tenant",
            "add",
            "--tenant-id",
            &tid,
            "--client-id",
            &src.app.to_string(),
            "--group-id",
            &src.generated.group_id.to_string(),
            "--name",
            "Onboard Secret",
            "--secret-name",
            "onboard-secret",
            "--secret-stdin",
        ],
        Some("onboard-secret-value"),
    )
    .await?;
    let (first, done, guests) = first_sync(&exe, &env, &sim, host, src.tenant).await?;
    paths.push(figures(
        "secret",
        vec![step(
            "guest-sync tenant add (connection test, secret stored, registered)",
            add,
        )],
        add,
        (first, done, guests),
    ));

    // ---- the secretless path
    paths.push(secretless_path(&exe, &mut env, &sim, host, &spec, &dir.0).await?);

    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "users": args.users,
                "targetSecs": TARGET_SECS,
                "paths": paths,
            }))?
        );
    } else {
        println!(
            "guest-sync bench onboarding: {} users per source tenant, simulator in real time (latency, throttling, consistency window on)",
            args.users
        );
        for p in &paths {
            println!("  {} path:", p.path);
            for s in &p.steps {
                println!("    {:<72} {:>6.1} s", s.step, s.secs);
            }
            println!(
                "    setup output -> first guest {:.1} s (target <= {TARGET_SECS:.0} s: {}); -> first sync done {:.1} s ({} guests)",
                p.to_first_guest_secs,
                if p.to_first_guest_secs <= TARGET_SECS { "met" } else { "MISSED" },
                p.to_synced_secs,
                p.guests
            );
        }
        println!("  (a person's time to open the consent URL and click Accept is not included)");
    }
    Ok(())
}

/// The secretless path: the managed identity and the multi-tenant app
/// exist (deployment made them); the source admin only has a group.
async fn secretless_path(
    exe: &std::path::Path,
    env: &mut Env,
    sim: &Sim,
    host: Guid,
    spec: &GenerateSpec,
    dir: &std::path::Path,
) -> anyhow::Result<PathFigures> {
    let https = sim
        .serve_tls()
        .await
        .context("starting the https listener")?;
    let ca = sim.tls_ca_pem().unwrap_or_default();
    let ca_file = dir.join("sim-ca.pem");
    std::fs::write(&ca_file, ca).context("writing the simulator's CA")?;
    let mi = sim.add_managed_identity(host, &crate::devtools::sim::HOST_APP_ROLES);
    let app = sim.add_federated_app(host, Some(mi.principal_id));
    let tenant = Guid::new_v4();
    sim.add_tenant(
        tenant,
        "OnboardSecretless",
        "onboardsecretless.onmicrosoft.com",
    );
    let generated = sim.generate_source(tenant, spec);
    let https_base = https.as_str().trim_end_matches('/').to_string();
    env.insert("GUESTSYNC_AUTHORITY_URL", https_base.clone());
    env.insert("GUESTSYNC_GRAPH_URL", https_base);
    env.insert("GUESTSYNC_TLS_CA_FILE", ca_file.display().to_string());
    env.insert("GUESTSYNC_FEDERATED_APP_ID", app.to_string());
    env.insert("GUESTSYNC_HOST_CREDENTIAL", "managed-identity".to_string());
    env.insert("IDENTITY_ENDPOINT", sim.identity_endpoint());
    env.insert("IDENTITY_HEADER", sim.identity_header());
    env.insert("AZURE_CLIENT_ID", mi.client_id.to_string());

    // tenant add --secretless: open the consent URL as soon as it is printed.
    let t = tenant.to_string();
    let g = generated.group_id.to_string();
    let started = Instant::now();
    let mut child = cli_command(
        exe,
        env,
        &[
            "tenant",
            "add",
            "--secretless",
            "--tenant-id",
            &t,
            "--group-id",
            &g,
            "--name",
            "Onboard Secretless",
        ],
    )
    .spawn()
    .context("starting guest-sync tenant add --secretless")?;
    let stdout = child.stdout.take().context("tenant add stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut consent_at = None;
    let mut printed = Vec::new();
    while let Some(line) = lines.next_line().await? {
        if consent_at.is_none() {
            if let Some(url) = line.split_whitespace().find(|w| w.contains("adminconsent")) {
                consent_at = Some(started.elapsed().as_secs_f64());
                let r = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .tls_certs_only([reqwest::Certificate::from_pem(
                        sim.tls_ca_pem().unwrap_or_default().as_bytes(),
                    )?])
                    .build()?
                    .get(url)
                    .send()
                    .await
                    .context("opening the admin-consent URL")?;
                if !(r.status().is_success() || r.status().is_redirection()) {
                    bail!("the admin-consent URL answered {}", r.status());
                }
            }
        }
        printed.push(line);
    }
    let out = child.wait_with_output().await?;
    let add = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "guest-sync tenant add --secretless failed ({}): {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            printed.join("\n")
        );
    }
    let Some(consent_at) = consent_at else {
        bail!("guest-sync tenant add --secretless printed no admin-consent URL")
    };
    let (first, done, guests) = first_sync(exe, env, sim, host, tenant).await?;
    Ok(figures(
        "secretless",
        vec![
            step(
                "guest-sync tenant add --secretless: consent URL printed",
                consent_at,
            ),
            step("  ... consent seen, connection tested, registered", add),
        ],
        add,
        (first, done, guests),
    ))
}
