//! The first sync on the virtual clock: a FRESH simulator (time scale 1,
//! throttling on, the same tenant as the main runs) and a fresh store,
//! with the engine in process, all in one paused current-thread runtime
//! ([`crate::devtools::bench::vclock`]). Graph time is the virtual time
//! the run took; the engine's and the simulator's CPU time add nothing to
//! it, whatever the machine's load.
use std::time::Duration;

use anyhow::Context;

use crate::devtools::bench::vclock;
use crate::devtools::sim::{GenerateSpec, Sim, SimConfig};

use super::metrics::VirtualClockRun;
use super::{deployment, engine_phase, tenants, Engine, ScaleBenchArgs, TempDir};

/// Runs the virtual-clock first sync and measures it.
pub(super) async fn first_sync(
    args: &ScaleBenchArgs,
    spec: &GenerateSpec,
) -> anyhow::Result<VirtualClockRun> {
    let seed = args.seed;
    let spec = spec.clone();
    let heartbeat_ms = args.virtual_heartbeat_ms;
    let run = vclock::run_paused_async(Some(Duration::from_millis(heartbeat_ms)), move || {
        run(seed, spec)
    })
    .await
    .context("the virtual-clock first sync")?;
    Ok(VirtualClockRun {
        first_sync: run.0,
        heartbeat_ms,
        cpu_secs: run.1,
        thread_cpu_secs: run.2,
    })
}

/// In the paused runtime: the tenants, the deployment, the first sync.
/// Returns its metrics and, over the sync, the process's and the runtime
/// thread's CPU seconds.
async fn run(
    seed: u64,
    spec: GenerateSpec,
) -> anyhow::Result<(super::PhaseMetrics, Option<f64>, Option<f64>)> {
    // Virtual seconds are Graph seconds: scale 1 for both sides.
    let scale = 1.0;
    let sim = Sim::start(SimConfig {
        seed,
        time_scale: scale,
        throttling: true,
        photo_cooldown_secs: 0,
        ..SimConfig::default()
    })
    .await
    .context("starting the virtual-clock simulator")?;
    let (host, src) = tenants(&sim, &spec);
    let dir = TempDir::new().context("creating a temporary directory")?;
    let (_env, app, tenant) = deployment(&sim, host, &src, scale, &dir).await?;
    let engine = Engine::InProcess(app.driver());
    let guests = src.generated.user_ids.len() as u64;
    let before = (vclock::process_cpu_secs(), vclock::thread_cpu_secs());
    let m = engine_phase(&engine, &tenant, &sim, "first sync", scale, guests).await?;
    let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a).max(0.0));
    Ok((
        m,
        delta(before.0, vclock::process_cpu_secs()),
        delta(before.1, vclock::thread_cpu_secs()),
    ))
}
