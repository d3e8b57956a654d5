//! The graph benchmark (`guest-sync bench graph`): how close the client
//! gets to the host tenant's write budget, the physical limit of the whole
//! system.
//!
//! It starts the simulator in-process with throttling on (Graph's buckets,
//! scaled by `--time-scale`), pre-creates users, then drives `--writes`
//! PATCHes (or invitations) through one [`GraphClient`] running at the same
//! time scale, many at a time, and prints:
//! - writes per second achieved, in Graph time (wall rate / time scale);
//! - the budget's bound for that many writes: the bucket starts full
//!   (3,000 burst) then refills at 20/s, so N writes need at least
//!   (N - 3000) / 20 Graph seconds;
//! - the ratio of the two (target >= 0.9), and the sustained rate over the
//!   last third of the run against 20/s;
//! - 429 answers (count and share of requests) and requests per write.
//!
//! With `--virtual-clock` the simulator and the client run on a paused
//! tokio clock ([`super::vclock`]) at time scale 1: Graph time is the
//! virtual time elapsed, CPU time and machine load add nothing, and N
//! writes through the pacer alone should take (N - 3000) / 19.8 s (the
//! pacer's 0.99 safety). That makes it the virtual clock's sanity check.
use tokio::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::devtools::sim::{Faults, NewUser, Sim, SimConfig};
use crate::domain::Guid;
use crate::graph::{AppCredentials, GraphClient, GraphConfig, InviteRequest};
use crate::secrets::SecretString;

/// Arguments of the graph benchmark.
#[derive(Debug, clap::Args)]
pub struct GraphBenchArgs {
    /// Writes to drive through the client.
    #[arg(long, default_value_t = 6_000)]
    pub writes: usize,
    /// Graph's clock speed-up, for both the simulator and the client.
    #[arg(long, default_value_t = 20.0)]
    pub time_scale: f64,
    /// Writes in flight at once (the pacer, not this, holds the rate).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// `patch` (PATCH pre-created users) or `invite` (new guests).
    #[arg(long, default_value = "patch")]
    pub mode: String,
    /// Share of Graph calls answered 5xx by the simulator (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub faults: f64,
    /// Simulator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Measure Graph time on a virtual clock (a paused tokio runtime that
    /// runs the simulator and the client; `--time-scale` is then 1).
    #[arg(long)]
    pub virtual_clock: bool,
    /// With `--virtual-clock`: the heartbeat timer's period in ms (0: none),
    /// the most virtual time one wait on loopback I/O can add.
    #[arg(long, default_value_t = 1)]
    pub virtual_heartbeat_ms: u64,
}

/// Graph's per-app, per-tenant write budget (`docs/graph-client.md`).
const WRITE_BURST: f64 = 3_000.0;
const WRITES_PER_SEC: f64 = 20.0;
/// Graph's per-tenant invitation budget (`docs/graph-client.md`).
const INVITE_BURST: f64 = 150.0;
const INVITES_PER_SEC: f64 = 30.0;

/// Runs the benchmark and prints its numbers.
pub async fn run(args: GraphBenchArgs) -> anyhow::Result<()> {
    if args.virtual_clock {
        let beat = std::time::Duration::from_millis(args.virtual_heartbeat_ms);
        return super::vclock::run_paused_async(Some(beat), move || measure(args)).await;
    }
    measure(args).await
}

/// The benchmark in the current runtime (paused or not).
async fn measure(args: GraphBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.writes > 0, "--writes must be at least 1");
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale > 0.0,
        "--time-scale must be a positive number"
    );
    anyhow::ensure!(
        args.mode == "patch" || args.mode == "invite",
        "--mode must be patch or invite, got {:?}",
        args.mode
    );
    // On the virtual clock, virtual seconds are Graph seconds.
    let scale = if args.virtual_clock {
        1.0
    } else {
        args.time_scale
    };
    let sim = Sim::start(SimConfig {
        seed: args.seed,
        time_scale: scale,
        throttling: true,
        faults: Faults {
            error_5xx_rate: args.faults.clamp(0.0, 1.0),
            ..Faults::default()
        },
        ..SimConfig::default()
    })
    .await
    .context("starting the simulator")?;
    let tenant = Guid::new_v4();
    let app = Guid::new_v4();
    sim.add_tenant(tenant, "Bench host", "benchhost.onmicrosoft.com");
    sim.register_app(
        tenant,
        app,
        "bench-secret",
        &["User.ReadWrite.All", "User.Invite.All", "User.Read.All"],
    );
    let targets: Vec<Guid> = if args.mode == "patch" {
        (0..args.writes.min(1_000))
            .map(|i| {
                sim.create_user(
                    tenant,
                    NewUser::simple(
                        &format!("Bench {i}"),
                        &format!("bench{i}@benchhost.onmicrosoft.com"),
                    ),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    // Past the consistency window of the pre-created users.
    sim.advance(60.0);

    let client = GraphClient::new(GraphConfig::new(sim.url(), sim.url()).with_time_scale(scale))
        .context("building the Graph client")?;
    let creds = AppCredentials {
        tenant_id: tenant,
        client_id: app,
        secret: SecretString::new("bench-secret"),
    };
    client
        .check_credentials(&creds)
        .await
        .context("getting a token")?;
    let g = client.tenant(creds);
    sim.reset_counts();

    println!(
        "graph bench: {} {} writes, time scale {scale}{}, {} in flight, 5xx faults {:.1}%",
        args.writes,
        args.mode,
        if args.virtual_clock {
            " on the virtual clock (Graph time = virtual time)"
        } else {
            ""
        },
        args.concurrency,
        args.faults * 100.0
    );
    let started = Instant::now();
    let mut done_at: Vec<f64> = Vec::with_capacity(args.writes);
    let mut failures = 0usize;
    let mut first_error: Option<String> = None;
    let mut results = futures::stream::iter(0..args.writes)
        .map(|i| {
            let g = g.clone();
            let target = targets.get(i % targets.len().max(1)).copied();
            async move {
                match target {
                    Some(id) => {
                        let mut m = Map::new();
                        m.insert("department".into(), Value::String(format!("B{i}")));
                        g.patch_user(id, &m).await
                    }
                    None => g
                        .invite(&InviteRequest {
                            email: format!("bench{i}@example.com"),
                            display_name: None,
                            redirect_url: "https://myapplications.microsoft.com".into(),
                            user_type: "Guest".into(),
                        })
                        .await
                        .map(|_| ()),
                }
            }
        })
        .buffer_unordered(args.concurrency.max(1));
    while let Some(r) = results.next().await {
        done_at.push(started.elapsed().as_secs_f64());
        if let Err(e) = r {
            failures += 1;
            first_error.get_or_insert_with(|| e.to_string());
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let counts = sim.counts();
    let stats = client.stats();

    let n = args.writes as f64;
    let graph_secs = wall * scale;
    let achieved = n / graph_secs;
    // Invitations also drain their own bucket (150 per 5 s): the tighter
    // of the two bounds applies.
    let mut min_graph_secs = (n - WRITE_BURST).max(0.0) / WRITES_PER_SEC;
    if args.mode == "invite" {
        min_graph_secs = min_graph_secs.max((n - INVITE_BURST).max(0.0) / INVITES_PER_SEC);
    }
    let requests = counts.total.saturating_sub(counts.kind("token"));
    let throttled = counts.status(429);
    if args.virtual_clock {
        println!("  virtual time         {graph_secs:.2} s of Graph time");
    } else {
        println!("  wall time            {wall:.2} s ({graph_secs:.1} s of Graph time)");
    }
    println!("  writes applied       {}", counts.writes_total());
    println!("  writes/s achieved    {achieved:.2} (Graph time)");
    if min_graph_secs > 0.0 {
        let bound = n / min_graph_secs;
        println!(
            "  budget bound         {bound:.2} writes/s (writes {WRITE_BURST} burst + {WRITES_PER_SEC}/s{}: at least {min_graph_secs:.1} s for {} writes)",
            if args.mode == "invite" { ", invitations 150 burst + 30/s" } else { "" },
            args.writes
        );
        println!("  ratio                {:.3}", achieved / bound);
        // The last third of the run is past the burst: pure sustained rate.
        let from = args.writes - args.writes / 3;
        if args.writes / 3 > 1 && (from as f64) > WRITE_BURST {
            if let (Some(a), Some(b)) = (done_at.get(from - 1), done_at.last()) {
                let steady = (args.writes / 3) as f64 / ((b - a) * scale);
                let sustained = if args.mode == "invite"
                    && (n - INVITE_BURST) / INVITES_PER_SEC > (n - WRITE_BURST) / WRITES_PER_SEC
                {
                    INVITES_PER_SEC
                } else {
                    WRITES_PER_SEC
                };
                println!(
                    "  steady state         {steady:.2} writes/s over the last third (bound {sustained}/s, ratio {:.3})",
                    steady / sustained
                );
            }
        }
    } else {
        println!(
            "  budget bound         none: {} writes fit the {WRITE_BURST} burst; use --writes > 3000",
            args.writes
        );
    }
    println!(
        "  429 answers          {throttled} ({:.2}% of {requests} requests)",
        100.0 * throttled as f64 / requests.max(1) as f64
    );
    println!("  5xx answers          {}", counts.status_class(5));
    println!("  requests per write   {:.3}", requests as f64 / n);
    println!(
        "  client               {} requests, {} retries, {} 429s seen, {} token requests",
        stats.requests, stats.retries, stats.throttled, stats.token_requests
    );
    if failures > 0 {
        println!(
            "  FAILED writes        {failures} (first: {})",
            first_error.unwrap_or_default()
        );
    }
    println!(
        "{}",
        json!({
            "writes": args.writes, "mode": args.mode, "time_scale": scale,
            "virtual_clock": args.virtual_clock, "graph_secs": graph_secs,
            "writes_per_sec": achieved,
            "bound_writes_per_sec": if min_graph_secs > 0.0 { Some(n / min_graph_secs) } else { None },
            "throttled": throttled, "requests": requests, "failures": failures,
        })
    );
    Ok(())
}
