//! `guest-sync bench instances`: several worker processes, one host tenant.
//!
//! On Flex Consumption each queue function scales out on its own
//! instances; each would pace itself to the host tenant's whole write
//! budget, so N of them ask Graph for N times the budget (and throttled
//! calls still count). The driver shares the budget through the live
//! leases (`engine::driver`, `BudgetShare`). This benchmark proves it: it
//! starts the simulator (throttling on), registers N source tenants of
//! `--users` users each in one SQLite store, and runs `guest-sync sync
//! --tenant T` as N separate processes at once, all against one simulated
//! host tenant. It prints the aggregate write rate against the budget's
//! bound (3,000 burst, then 20/s) and the share of 429 answers.
use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::scale::setup::{add_host, add_source, local_env};
use super::scale::TempDir;
use crate::app::App;
use crate::devtools::sim::{GenerateSpec, Sim, SimConfig};
use crate::domain::{SecretName, SourceTenant, TenantOptions};
use crate::secrets::SecretString;
use crate::settings::Settings;

const HOST_SECRET: &str = "bench-host-secret";

/// Arguments of `guest-sync bench instances`.
#[derive(Debug, Args)]
pub struct InstancesBenchArgs {
    /// Worker processes (one source tenant each).
    #[arg(long, default_value_t = 4)]
    pub processes: usize,
    /// Users per source tenant (each costs two writes: invite, profile).
    #[arg(long, default_value_t = 2_000)]
    pub users: usize,
    /// Simulated Graph seconds per wall second (client and simulator).
    #[arg(long, default_value_t = 20.0)]
    pub time_scale: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

pub async fn run(args: InstancesBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.processes >= 1, "--processes must be at least 1");
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale > 0.0,
        "--time-scale must be a positive number"
    );
    let scale = args.time_scale;
    let sim = Sim::start(SimConfig {
        seed: args.seed,
        time_scale: scale,
        throttling: true,
        ..SimConfig::default()
    })
    .await
    .context("starting the simulator")?;
    let (host, host_app) = add_host(&sim, "BenchHost", HOST_SECRET);
    let spec = GenerateSpec {
        users: args.users,
        photo_share: 0.0,
        disabled_share: 0.0,
        guest_share: 0.0,
        ..GenerateSpec::default()
    };
    let sources: Vec<_> = (0..args.processes)
        .map(|i| {
            add_source(
                &sim,
                &format!("Source{i}"),
                &format!("src-secret-{i}"),
                &spec,
            )
        })
        .collect();
    sim.advance(60.0);

    let dir = TempDir::new().context("creating a temporary directory")?;
    let mut env: BTreeMap<&str, String> = local_env(&sim, (host, host_app), HOST_SECRET, &dir.0);
    env.extend([
        ("GUESTSYNC_TIME_SCALE", scale.to_string()),
        ("GUESTSYNC_MAX_DEPROVISIONS", "100%".to_string()),
        ("GUESTSYNC_LOG_FORMAT", "json".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ]);
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).context("benchmark settings")?;
    let app = App::open(settings).await.context("opening the store")?;
    app.secrets
        .set(
            &SecretName::parse(HOST_SECRET)?,
            &SecretString::new(HOST_SECRET),
            None,
        )
        .await?;
    for (i, s) in sources.iter().enumerate() {
        let name = SecretName::parse(&format!("src-secret-{i}"))?;
        app.secrets
            .set(&name, &SecretString::new(format!("src-secret-{i}")), None)
            .await?;
        app.store
            .put_tenant(&SourceTenant {
                tenant_id: s.tenant,
                display_name: format!("Source {i}"),
                client_id: s.app,
                secret_name: Some(name),
                credential: Default::default(),
                group_id: s.generated.group_id,
                enabled: true,
                options: TenantOptions::default(),
                created_at: chrono::Utc::now(),
                secret_expires_at: None,
                guard: None,
                cross_tenant: None,
                delta: None,
            })
            .await?;
    }
    drop(app);

    let exe = std::env::current_exe().context("locating the guest-sync binary")?;
    sim.reset_counts();
    let started = Instant::now();
    let mut children = Vec::new();
    for s in &sources {
        let child = tokio::process::Command::new(&exe)
            .args(["sync", "--quiet", "--tenant", &s.tenant.to_string()])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("starting a worker process")?;
        children.push(child);
    }
    let mut failed = 0;
    for c in children {
        let out = c.wait_with_output().await?;
        if !out.status.success() {
            failed += 1;
            eprintln!(
                "a worker process failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let counts = sim.counts();
    let graph_secs = wall * scale;
    let writes: u64 = counts.kind("write") + counts.kind("invite");
    let throttled = counts.status(429);
    let calls = counts.total.max(1);
    let bound_secs = (writes as f64 - 3_000.0).max(0.0) / 20.0;
    let rate = writes as f64 / graph_secs;
    let sustained = (writes as f64 - 3_000.0).max(0.0) / graph_secs;
    println!(
        "guest-sync bench instances: {} processes x {} users, time scale {scale}",
        args.processes, args.users
    );
    println!(
        "  write requests (invitations, PATCHes, retries included) {writes}, Graph time {graph_secs:.0} s (wall {wall:.1} s)"
    );
    println!(
        "  aggregate write rate {rate:.1}/s; after the 3,000 burst {sustained:.1}/s against the budget's 20/s = {:.3}x the budget",
        sustained / 20.0
    );
    println!(
        "  time against the budget's bound ({bound_secs:.0} s): {:.3}x",
        if bound_secs > 0.0 {
            graph_secs / bound_secs
        } else {
            f64::NAN
        }
    );
    println!(
        "  429 answers {throttled} of {calls} calls = {:.2}%",
        100.0 * throttled as f64 / calls as f64
    );
    if failed > 0 {
        println!("  {failed} worker process(es) failed");
    }
    let ok = failed == 0 && sustained / 20.0 <= 1.1 && (throttled as f64 / calls as f64) < 0.01;
    println!(
        "  [{}] aggregate writes within 1.1x of the budget, under 1% 429s",
        if ok { "   MET    " } else { " NOT MET  " }
    );
    Ok(())
}
