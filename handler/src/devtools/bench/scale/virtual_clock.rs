//! The first sync on the virtual clock: a FRESH simulator (time scale 1,
//! throttling on, the same tenant as the main runs) and a fresh store,
//! with the engine in process, all in one paused current-thread runtime
//! ([`crate::devtools::bench::vclock`]). Graph time is the virtual time
//! the run took; the engine's and the simulator's CPU time add nothing to
//! it, whatever the machine's load.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;

use crate::devtools::bench::vclock;
use crate::devtools::sim::{GenerateSpec, Sim};

use super::metrics::VirtualClockRun;
use super::{deployment, engine_phase, start_sim, tenants, Engine, ScaleBenchArgs, TempDir};

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
    let total = run.first_sync.graph_secs;
    Ok(VirtualClockRun {
        first_sync: run.first_sync,
        heartbeat_ms,
        cpu_secs: run.cpu_secs,
        thread_cpu_secs: run.thread_cpu_secs,
        graph_secs_to_first_write: run.seen.first,
        graph_secs_after_last_write: run.seen.last.map(|l| (total - l).max(0.0)),
    })
}

/// In the paused runtime: the tenants, the deployment, the first sync.
async fn run(seed: u64, spec: GenerateSpec) -> anyhow::Result<Measured> {
    // Virtual seconds are Graph seconds: scale 1 for both sides.
    let scale = 1.0;
    let sim = start_sim(seed, scale)
        .await
        .context("starting the virtual-clock simulator")?;
    let (host, src) = tenants(&sim, &spec);
    let dir = TempDir::new().context("creating a temporary directory")?;
    let (_env, app, tenant) = deployment(&sim, host, &src, scale, &dir, None).await?;
    let engine = Engine::InProcess(app);
    let guests = src.generated.user_ids.len() as u64;
    let before = (vclock::process_cpu_secs(), vclock::thread_cpu_secs());
    let seen = Arc::new(Mutex::new(WritesSeen::default()));
    let watcher = tokio::spawn(watch_writes(sim.clone(), seen.clone()));
    let m = engine_phase(&engine, &tenant, &sim, ("first sync", false), scale, guests).await?;
    watcher.abort();
    let seen = *seen.lock().unwrap_or_else(|p| p.into_inner());
    let delta = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| (b - a).max(0.0));
    Ok(Measured {
        first_sync: m,
        cpu_secs: delta(before.0, vclock::process_cpu_secs()),
        thread_cpu_secs: delta(before.1, vclock::thread_cpu_secs()),
        seen,
    })
}

/// What the paused runtime measured.
struct Measured {
    first_sync: super::PhaseMetrics,
    /// Over the sync: the process's and the runtime thread's CPU seconds.
    cpu_secs: Option<f64>,
    thread_cpu_secs: Option<f64>,
    seen: WritesSeen,
}

/// Virtual seconds from the sync's start at which the simulator had
/// answered its first and (so far) last write.
#[derive(Debug, Clone, Copy, Default)]
struct WritesSeen {
    first: Option<f64>,
    last: Option<f64>,
}

/// How often the watcher looks (virtual time): the resolution of
/// [`WritesSeen`].
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Watches the simulator's write count until aborted.
async fn watch_writes(sim: Sim, seen: Arc<Mutex<WritesSeen>>) {
    let t0 = tokio::time::Instant::now();
    let mut last = 0;
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let n = sim.writes_ok();
        if n != last {
            last = n;
            let t = t0.elapsed().as_secs_f64();
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            s.first.get_or_insert(t);
            s.last = Some(t);
        }
    }
}
