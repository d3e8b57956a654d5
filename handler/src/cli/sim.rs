//! `guest-sync sim`: runs the Microsoft Graph simulator standalone so the
//! handler or the CLI can be pointed at it (`GUESTSYNC_GRAPH_URL` and
//! `GUESTSYNC_AUTHORITY_URL` = the printed URL). See docs/simulator.md.
use std::net::SocketAddr;

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::devtools::sim::{
    Faults, GenerateSpec, LatencyModel, Sim, SimConfig, HOST_APP_ROLES, SOURCE_APP_ROLES,
};
use crate::domain::Guid;

/// Arguments of `guest-sync sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

/// Simulator subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Serve the simulator on 127.0.0.1 until interrupted (Ctrl-C).
    Serve(ServeArgs),
}

/// Options of `guest-sync sim serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (127.0.0.1 only); 0 picks a free one.
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Seed of all randomness (generation, ids, faults).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Time factor: 10 makes budgets refill, cool-downs pass and tokens
    /// expire 10x faster.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Turn Graph's throttle budgets off.
    #[arg(long)]
    pub no_throttling: bool,
    /// Share of Graph calls answered 5xx (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_5xx: f64,
    /// Share of connections dropped without an answer (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_drop: f64,
    /// Share of slow answers (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub fault_slow: f64,
    /// Extra delay of a slow answer, unscaled ms.
    #[arg(long, default_value_t = 2_000)]
    pub slow_ms: u64,
    /// Base latency per call, unscaled ms.
    #[arg(long, default_value_t = 5)]
    pub latency_ms: u64,
    /// Latency jitter per call, unscaled ms.
    #[arg(long, default_value_t = 3)]
    pub jitter_ms: u64,
    /// Eventual-consistency window of fresh objects, unscaled ms.
    #[arg(long, default_value_t = 2_000)]
    pub consistency_ms: u64,
    /// Photo cool-down of new guests, unscaled seconds.
    #[arg(long, default_value_t = 300)]
    pub photo_cooldown_secs: u64,
    /// Generate a host tenant and source tenant(s) of N users each, and print
    /// their ids and simulator credentials.
    #[arg(long)]
    pub generate_source: Option<usize>,
    /// How many source tenants to generate with --generate-source.
    #[arg(long, default_value_t = 1)]
    pub sources: usize,
    /// Also serve https (the same routes) with a certificate from a
    /// throw-away CA, written to --tls-ca-out: Microsoft's identity crate
    /// (secretless source tenants) insists on an https authority.
    #[arg(long)]
    pub tls: bool,
    /// Where --tls writes the CA certificate (PEM), for
    /// GUESTSYNC_TLS_CA_FILE.
    #[arg(long, default_value = "guest-sync-sim-ca.pem")]
    pub tls_ca_out: std::path::PathBuf,
}

/// Runs `guest-sync sim`.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        SimCommand::Serve(a) => serve(a).await,
    }
}

fn rng_guid(r: &mut SmallRng) -> Guid {
    Guid::from_uuid(uuid::Builder::from_random_bytes(r.gen()).into_uuid())
}

fn fake_secret(r: &mut SmallRng) -> String {
    let s: String = (0..32)
        .map(|_| {
            char::from(
                b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789~."[r.gen_range(0..59)],
            )
        })
        .collect();
    format!("sim~{s}")
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.time_scale.is_finite() && a.time_scale > 0.0,
        "--time-scale must be a positive number, got {}",
        a.time_scale
    );
    for (name, v) in [
        ("--fault-5xx", a.fault_5xx),
        ("--fault-drop", a.fault_drop),
        ("--fault-slow", a.fault_slow),
    ] {
        anyhow::ensure!(
            (0.0..=1.0).contains(&v),
            "{name} must be between 0 and 1, got {v}"
        );
    }
    let cfg = SimConfig {
        seed: a.seed,
        time_scale: a.time_scale,
        throttling: !a.no_throttling,
        latency: LatencyModel {
            base_ms: a.latency_ms,
            jitter_ms: a.jitter_ms,
        },
        faults: Faults {
            error_5xx_rate: a.fault_5xx,
            slow_rate: a.fault_slow,
            slow_ms: a.slow_ms,
            drop_rate: a.fault_drop,
        },
        consistency_window_ms: a.consistency_ms,
        photo_cooldown_secs: a.photo_cooldown_secs,
        token_lifetime_secs: 3599,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port));
    let sim = Sim::start_on(cfg, addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let url = sim.url();
    let base = url.as_str().trim_end_matches('/');
    println!("Graph simulator listening on {base}");
    println!("  GUESTSYNC_GRAPH_URL={base}");
    println!("  GUESTSYNC_ALLOW_HTTP=true");
    println!("  GUESTSYNC_AUTHORITY_URL={base}");
    println!("  control API: {base}/_sim/ (see docs/simulator.md)");
    let https = if a.tls {
        let https = sim
            .serve_tls()
            .await
            .context("starting the https listener")?;
        let pem = sim.tls_ca_pem().unwrap_or_default();
        std::fs::write(&a.tls_ca_out, pem)
            .with_context(|| format!("writing the CA to {}", a.tls_ca_out.display()))?;
        let hb = https.as_str().trim_end_matches('/').to_string();
        println!("https listener (same routes): {hb}");
        println!("  GUESTSYNC_AUTHORITY_URL={hb}   (needed by secretless tenants)");
        println!("  GUESTSYNC_TLS_CA_FILE={}", a.tls_ca_out.display());
        Some(hb)
    } else {
        None
    };

    if let Some(n) = a.generate_source {
        let mut r = SmallRng::seed_from_u64(a.seed ^ 0x5eed);
        let host = rng_guid(&mut r);
        let host_app = rng_guid(&mut r);
        let host_secret = fake_secret(&mut r);
        sim.add_tenant(host, "Simulated host", "simhost.onmicrosoft.com");
        sim.register_app(host, host_app, &host_secret, &HOST_APP_ROLES);
        println!();
        println!("SIMULATOR CREDENTIALS (fake, valid only against this simulator):");
        println!("host tenant:");
        println!("  GUESTSYNC_HOST_TENANT_ID={host}");
        println!("  GUESTSYNC_HOST_CLIENT_ID={host_app}");
        println!("  simulator client secret: {host_secret}");
        // The function app's managed identity (host roles assigned) and the
        // multi-tenant app trusting it, for secretless source tenants.
        let mi = sim.add_managed_identity(host, &HOST_APP_ROLES);
        let fed_app = sim.add_federated_app(host, Some(mi.principal_id));
        println!("managed identity (secretless; host roles assigned):");
        println!("  IDENTITY_ENDPOINT={}", sim.identity_endpoint());
        println!("  IDENTITY_HEADER={}", sim.identity_header());
        println!("  AZURE_CLIENT_ID={}", mi.client_id);
        println!("  identity principal id: {}", mi.principal_id);
        println!("  GUESTSYNC_FEDERATED_APP_ID={fed_app}");
        if https.is_none() {
            println!("  (secretless source tenants also need --tls)");
        }
        for k in 0..a.sources.max(1) {
            let tid = rng_guid(&mut r);
            let app = rng_guid(&mut r);
            let secret = fake_secret(&mut r);
            sim.add_tenant(
                tid,
                &format!("Simulated source {}", k + 1),
                &format!("simsource{}.onmicrosoft.com", k + 1),
            );
            sim.register_app(tid, app, &secret, &SOURCE_APP_ROLES);
            let g = sim.generate_source(
                tid,
                &GenerateSpec {
                    users: n,
                    ..GenerateSpec::default()
                },
            );
            println!("source tenant {}:", k + 1);
            println!("  tenant id: {tid}");
            println!("  client id: {app}");
            println!("  simulator client secret: {secret}");
            println!(
                "  scope group id: {} ({} in-scope users, {} nested groups)",
                g.group_id,
                g.user_ids.len(),
                g.nested_group_ids.len()
            );
        }
    }
    println!();
    println!("Ctrl-C to stop.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
