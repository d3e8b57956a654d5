//! The scale benchmark (`guest-sync bench scale`): issue 7's item 4.
//!
//! It starts the simulator in-process with throttling on (Graph's real
//! budgets, scaled by `--time-scale`), generates a source tenant of
//! `--users` users (a share with photos), registers it on a SQLite store in
//! a temporary directory with local secrets, and runs our engine
//! (a reconcile run to the end through the job driver,
//! [`crate::engine::JobDriver::run_to_end`]) four times:
//! 1. the first sync (every in-scope user becomes a guest),
//! 2. a no-change run,
//! 3. a run after `--churn` (a third joins, a third leaves, a third renamed),
//! 4. a full read (`sync --full`, the daily safety net).
//!
//! Beside it, in the same process and simulator but into a FRESH host
//! tenant with its own budget, it runs the naive baseline: how the seed's
//! Power Automate flows worked. One source user at a time, no pacing (the
//! client's buckets are made effectively infinite), a full rescan each run:
//! look the guest up, invite if missing, patch the profile, copy the photo,
//! for every user on every run. The baseline may run on fewer users
//! (`--baseline-users`) and is then extrapolated per user; the output says
//! so.
//!
//! Then, unless `--no-virtual-clock`, it runs one more first sync in this
//! process on a FRESH simulator and store ([`virtual_clock`]), with the
//! simulator and the engine in one paused tokio runtime: Graph time is the
//! virtual time elapsed ([`super::vclock`]), which the engine's CPU time and
//! machine load do not move. The first-sync ratio target is checked on it.
//!
//! For each phase it prints wall time, Graph time (wall × scale), the
//! throttle-budget bound of the writes done, the ratio of the two, writes
//! and reads per guest, 429s (all from the simulator's counters), and peak
//! memory (`VmHWM`, which includes the in-process simulator; the engine's
//! share is estimated by subtracting the RSS measured right after the
//! simulator and the source tenant were set up). A final table marks the
//! issue's targets met / not met. Nothing is made up: every number comes
//! from a counter or a clock.
//!
//! # Layout
//! - this file: the arguments, the run ([`scale`]) and our engine's phases.
//! - [`setup`]: the simulated source and host tenants, and the churn.
//! - [`baseline`]: the naive baseline.
//! - [`metrics`]: what a phase measured, the report, the targets.
//! - [`render`]: the printed report.
//! - [`virtual_clock`]: the first sync on the virtual clock.
use std::collections::BTreeMap;

use anyhow::Context;

use crate::devtools::sim::{GenerateSpec, Sim, SimConfig};
use crate::domain::{Guid, Job, SourceTenant};
use crate::engine::driver::Driven;
use crate::engine::{JobDriver, NoProgress};
use crate::settings::Settings;

mod baseline;
mod metrics;
mod process;
mod render;
pub(crate) mod setup;
mod virtual_clock;

use baseline::baseline;
use metrics::{metrics, targets};
pub use metrics::{
    summary, throttle_bound_secs, BaselineReport, PhaseMetrics, ScaleReport, ScaleSummary,
    TargetCheck, VirtualClockRun,
};
pub use process::EngineProcess;
pub use render::render;
use setup::{add_host, add_source, churn};

/// Arguments of the scale benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleBenchArgs {
    /// Source users to sync (100,000 possible).
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// The engine's slice budget in wall seconds (`GUESTSYNC_JOB_BUDGET_SECS`):
    /// with it, a long run is cut into slices as in Azure Functions, each
    /// continuation resuming from the run's snapshot (every run's row counts
    /// the scope member pages read). Default: one slice per run.
    #[arg(long, value_name = "SECS")]
    pub job_budget_secs: Option<u64>,
    /// Graph's clock speed-up, for both the simulator and the client. At 20,
    /// 10,000 users take a few minutes of wall time.
    #[arg(long, default_value_t = 20.0)]
    pub time_scale: f64,
    /// Simulator and churn seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Share of source users changed before the third run (a third join, a
    /// third leave, a third are renamed).
    #[arg(long, default_value_t = 0.01)]
    pub churn: f64,
    /// Share of source users with a photo.
    #[arg(long, default_value_t = 0.3)]
    pub photo_share: f64,
    /// Skip the naive baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Users the naive baseline runs on (default: the smaller of `--users`
    /// and 1,000); its numbers are then extrapolated per user to `--users`.
    #[arg(long)]
    pub baseline_users: Option<usize>,
    /// Also print a machine-readable summary (one JSON object on the line
    /// after the table; see docs/benchmarks.md).
    #[arg(long)]
    pub json: bool,
    /// Run the engine inside the benchmark's process (as before issue 17)
    /// instead of as its own `guest-sync sync` process; its memory is then
    /// only estimated and its CPU time not measured.
    #[arg(long)]
    pub in_process: bool,
    /// Also run a first sync on a virtual clock (the default): the
    /// simulator and the engine in one paused tokio runtime, Graph time =
    /// virtual time, so CPU time and machine load do not count. The
    /// first-sync ratio target is checked on it.
    #[arg(long, overrides_with = "no_virtual_clock")]
    pub virtual_clock: bool,
    /// Skip the virtual-clock first sync.
    #[arg(long, overrides_with = "virtual_clock")]
    pub no_virtual_clock: bool,
    /// The virtual clock's heartbeat timer, in ms (0: none): the most
    /// virtual time one wait on loopback I/O can add (docs/benchmarks.md).
    #[arg(long, default_value_t = 1)]
    pub virtual_heartbeat_ms: u64,
    /// The program the engine runs as (default: this `guest-sync` binary):
    /// for profiling, e.g. a script that runs `guest-sync` under heaptrack
    /// with the arguments it is given.
    #[arg(long, value_name = "PATH")]
    pub engine_exe: Option<std::path::PathBuf>,
}

impl ScaleBenchArgs {
    /// Whether the virtual-clock first sync runs (unless `--no-virtual-clock`).
    pub fn runs_virtual_clock(&self) -> bool {
        !self.no_virtual_clock
    }
}

impl Default for ScaleBenchArgs {
    fn default() -> Self {
        ScaleBenchArgs {
            users: 10_000,
            time_scale: 20.0,
            seed: 42,
            churn: 0.01,
            photo_share: 0.3,
            no_baseline: false,
            baseline_users: None,
            json: false,
            in_process: false,
            virtual_clock: false,
            no_virtual_clock: false,
            virtual_heartbeat_ms: 1,
            engine_exe: None,
            job_budget_secs: None,
        }
    }
}

const HOST_SECRET: &str = "bench-host-secret";
const SOURCE_SECRET: &str = "bench-source-secret";

/// A private temporary directory (store and secrets file), removed when
/// dropped. (`tempfile` is a dev-dependency only.)
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new() -> std::io::Result<Self> {
        let p = std::env::temp_dir().join(format!("guest-sync-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::warn!(error = %e, "could not remove the benchmark's temporary directory");
        }
    }
}

/// A `/proc/self/status` field in KiB (Linux only; None elsewhere).
fn proc_status_kb(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The allocator settings of the deployed function app, given to the
/// engine process (`docs/benchmarks.md`).
pub const ENGINE_ALLOCATOR_ENV: [(&str, &str); 2] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_MMAP_THRESHOLD_", "131072"),
];

/// Runs the benchmark and prints its report.
pub async fn run(args: ScaleBenchArgs) -> anyhow::Result<()> {
    let report = scale(&args).await?;
    print!("{}", render(&report));
    if args.json {
        println!("{}", serde_json::to_string(&summary(&report))?);
    }
    Ok(())
}

/// Runs and measures the whole benchmark.
pub async fn scale(args: &ScaleBenchArgs) -> anyhow::Result<ScaleReport> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale > 0.0,
        "--time-scale must be a positive number, got {}",
        args.time_scale
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.churn),
        "--churn must be between 0 and 1, got {}",
        args.churn
    );
    let scale = args.time_scale;
    let sim = start_sim(args.seed, scale)
        .await
        .context("starting the simulator")?;
    let spec = GenerateSpec {
        users: args.users,
        photo_share: args.photo_share.clamp(0.0, 1.0),
        disabled_share: 0.0,
        guest_share: 0.0,
        ..GenerateSpec::default()
    };
    let (host, src) = tenants(&sim, &spec);
    let rss_after_setup_kb = proc_status_kb("VmRSS:");

    let dir = TempDir::new().context("creating a temporary directory")?;
    let (env, app, tenant) =
        deployment(&sim, host, &src, scale, &dir, args.job_budget_secs).await?;
    let engine = if args.in_process {
        Engine::InProcess(app)
    } else {
        drop(app);
        let exe = match &args.engine_exe {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("locating the guest-sync binary")?,
        };
        Engine::Process { exe, env }
    };

    let mut phases = Vec::new();
    let mut guests = src.generated.user_ids.len() as u64;
    for name in ["first sync", "no-change"] {
        phases.push(engine_phase(&engine, &tenant, &sim, (name, false), scale, guests).await?);
    }
    let churned = churn(&sim, &src, args.churn, args.seed);
    guests = guests + churned.0 as u64 - churned.1 as u64;
    sim.advance(60.0);
    phases.push(
        engine_phase(
            &engine,
            &tenant,
            &sim,
            ("after churn", false),
            scale,
            guests,
        )
        .await?,
    );
    // The daily safety net: both sides read whole, every guest existing.
    phases.push(engine_phase(&engine, &tenant, &sim, ("full read", true), scale, guests).await?);
    let peak_after_engine_kb = proc_status_kb("VmHWM:");
    drop(engine);
    drop(dir);

    let virtual_clock = if args.runs_virtual_clock() {
        Some(virtual_clock::first_sync(args, &spec).await?)
    } else {
        None
    };

    let baseline = if args.no_baseline {
        None
    } else {
        let m = args.baseline_users.unwrap_or(args.users.min(1_000)).max(1);
        Some(baseline(&sim, args, m, &spec, scale).await?)
    };
    let mut report = ScaleReport {
        users: args.users,
        time_scale: scale,
        phases,
        baseline,
        rss_after_setup_kb,
        peak_after_engine_kb,
        churn: churned,
        virtual_clock,
        targets: Vec::new(),
    };
    report.targets = targets(&report);
    Ok(report)
}

/// The simulated host and source tenants of a benchmark, past the
/// consistency window of the generated objects.
fn tenants(sim: &Sim, spec: &GenerateSpec) -> ((Guid, Guid), setup::Source) {
    let host = add_host(sim, "BenchHost", HOST_SECRET);
    let src = add_source(sim, "BenchSource", SOURCE_SECRET, spec);
    sim.advance(60.0);
    (host, src)
}

/// The local deployment the engine runs in: its settings (a SQLite store
/// and a secrets file in `dir`, the simulator as Graph, the client at
/// `scale`, one slice per run unless `budget` says otherwise), the app
/// over them and the registered
/// source tenant.
async fn deployment(
    sim: &Sim,
    host: (Guid, Guid),
    src: &setup::Source,
    scale: f64,
    dir: &TempDir,
    budget: Option<u64>,
) -> anyhow::Result<(
    BTreeMap<&'static str, String>,
    crate::app::App,
    SourceTenant,
)> {
    let mut env = setup::local_env(sim, host, HOST_SECRET, &dir.0);
    // One slice per run unless asked: the benchmark measures the engine,
    // not slicing.
    env.insert(
        "GUESTSYNC_JOB_BUDGET_SECS",
        budget.unwrap_or(24 * 3600).to_string(),
    );
    env.insert("GUESTSYNC_TIME_SCALE", scale.to_string());
    env.insert("RUST_LOG", "warn".to_string());
    // The engine process gets glibc's allocator settings the Bicep
    // deployment gives the function app (infra/modules/functionapp.bicep,
    // `allocatorSettings`), so its peak RSS is the deployed engine's.
    for (k, v) in ENGINE_ALLOCATOR_ENV {
        env.insert(k, v.to_string());
    }
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).context("benchmark settings")?;
    // Each secret's value is its name (the simulator's apps were registered so).
    let (app, tenant) = setup::register(
        settings,
        scale,
        (HOST_SECRET, SOURCE_SECRET),
        src,
        "Bench source",
    )
    .await?;
    Ok((env, app, tenant))
}

/// The benchmark's simulator: throttling on, at `scale`. Photo cool-down
/// is 0: the baseline copies photos right after inviting (as the seed's
/// flows did); our engine's reconcile copies no photos at all.
pub(super) async fn start_sim(seed: u64, scale: f64) -> std::io::Result<Sim> {
    Sim::start(SimConfig {
        seed,
        time_scale: scale,
        throttling: true,
        photo_cooldown_secs: 0,
        ..SimConfig::default()
    })
    .await
}

/// Where the engine runs.
enum Engine<'a> {
    /// In this process, through the app's job driver.
    InProcess(crate::app::App),
    /// As `guest-sync sync --tenant ..` with these settings.
    Process {
        exe: std::path::PathBuf,
        env: BTreeMap<&'a str, String>,
    },
}

/// One engine run: reconcile to the end through the job driver, in this
/// process or as its own; `full` reads both sides whole (`sync --full`).
async fn engine_phase(
    engine: &Engine<'_>,
    tenant: &SourceTenant,
    sim: &Sim,
    (name, full): (&str, bool),
    scale: f64,
    guests: u64,
) -> anyhow::Result<PhaseMetrics> {
    sim.reset_counts();
    match engine {
        Engine::InProcess(app) => {
            let mut ctx = app.engine();
            ctx.force_full = full;
            let driver: JobDriver = app.driver_for(ctx);
            // Graph time on tokio's clock: the wall clock, or the virtual
            // clock when the runtime's clock is paused.
            let started = tokio::time::Instant::now();
            let wall_started = std::time::Instant::now();
            let counts = match driver
                .run_to_end(tenant, Job::Reconcile, &NoProgress)
                .await
                .map_err(|e| anyhow::anyhow!("engine run {name:?}: {}", e.describe()))?
            {
                Driven::Finished(end) => end.counts,
                Driven::Skipped(why) => anyhow::bail!("engine run {name:?} did not run: {why}"),
            };
            let graph = started.elapsed();
            let wall = wall_started.elapsed();
            let mut m = metrics(name, &sim.counts(), wall, scale, guests, Some(counts));
            m.graph_secs = graph.as_secs_f64() * scale;
            Ok(m)
        }
        Engine::Process { exe, env } => {
            let (wall, usage) =
                process::run_engine(exe, env, (&tenant.tenant_id.to_string(), full), sim)
                    .await
                    .with_context(|| format!("engine run {name:?}"))?;
            let mut m = metrics(name, &sim.counts(), wall, scale, guests, None);
            m.engine = Some(usage);
            Ok(m)
        }
    }
}
