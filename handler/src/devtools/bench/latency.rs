//! The latency benchmark (`guest-sync bench latency`): how long a join or
//! a leave in the source takes to reach the host when reconciles run on
//! the delta timer's schedule (`GUESTSYNC_DELTA_SCHEDULE`, every 2
//! minutes by default).
//!
//! It starts the simulator with throttling on (Graph's budgets, scaled by
//! `--time-scale`), generates a source tenant of `--users` users, runs the
//! first sync (a full read, which takes the delta links), then plays the
//! timer for `--ticks` ticks of `--schedule-secs` Graph seconds: before
//! each tick's run, source users join and leave at random moments of the
//! interval (the simulator's clock stamps each change). After each run the
//! host is inspected; a change counts as applied when its guest exists
//! (join) or is gone (leave), with the Graph time the run that applied it
//! ended (an upper bound: the write itself came earlier). A run still going
//! when the next tick falls skips that tick, as the Functions fan-out does
//! for a tenant whose lease is held. The queue hop between timer and worker
//! (a second or two in Azure) is not included.
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::app::App;
use crate::devtools::sim::{GenerateSpec, NewUser, Sim, SimConfig};
use crate::domain::{Guid, Job};
use crate::engine::driver::Driven;
use crate::engine::NoProgress;
use crate::settings::Settings;

use super::scale::setup::{add_host, add_source, local_env, register};
use super::scale::TempDir;

/// Arguments of the latency benchmark.
#[derive(Debug, Clone, clap::Args)]
pub struct LatencyBenchArgs {
    /// Source users in scope.
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    /// Graph's clock speed-up, for both the simulator and the client.
    #[arg(long, default_value_t = 20.0)]
    pub time_scale: f64,
    /// The timer's interval, in Graph seconds (the default schedule is
    /// every 2 minutes).
    #[arg(long, default_value_t = 120)]
    pub schedule_secs: u64,
    /// Timer ticks after the first sync.
    #[arg(long, default_value_t = 10)]
    pub ticks: usize,
    /// Joins and leaves made in each interval (each).
    #[arg(long, default_value_t = 5)]
    pub changes_per_tick: usize,
    /// Simulator and change seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print the summary as JSON only.
    #[arg(long)]
    pub json: bool,
}

/// Percentiles of one kind of change, in Graph seconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub applied: usize,
    pub p50_secs: f64,
    pub p95_secs: f64,
    pub max_secs: f64,
}

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub users: usize,
    pub time_scale: f64,
    pub schedule_secs: u64,
    pub ticks_run: usize,
    pub ticks_skipped: usize,
    pub first_sync_graph_secs: f64,
    pub join: Percentiles,
    pub leave: Percentiles,
    /// Graph requests of the runs after the first sync, per run.
    pub requests_per_run: f64,
    /// What the timer runs did, summed.
    pub counts: crate::domain::RunCounts,
    /// Timer runs whose deletion guard held removals back.
    pub guard_trips: usize,
    /// The target: p95 of both at most this many Graph seconds.
    pub target_p95_secs: f64,
    pub met: bool,
}

const HOST_SECRET: &str = "latency-host-secret";
const SOURCE_SECRET: &str = "latency-source-secret";

/// Runs the benchmark and prints its report.
pub async fn run(args: LatencyBenchArgs) -> anyhow::Result<()> {
    let r = latency(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", render(&r));
    }
    Ok(())
}

/// One pending change.
struct Change {
    user: Guid,
    join: bool,
    at: f64,
    applied_at: Option<f64>,
}

/// Runs and measures the whole benchmark.
pub async fn latency(args: &LatencyBenchArgs) -> anyhow::Result<LatencyReport> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale > 0.0,
        "--time-scale must be a positive number, got {}",
        args.time_scale
    );
    anyhow::ensure!(args.schedule_secs > 0, "--schedule-secs must be at least 1");
    anyhow::ensure!(
        args.changes_per_tick <= args.users,
        "--changes-per-tick ({}) cannot exceed --users ({})",
        args.changes_per_tick,
        args.users
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
    let spec = GenerateSpec {
        users: args.users,
        photo_share: 0.0,
        disabled_share: 0.0,
        guest_share: 0.0,
        ..GenerateSpec::default()
    };
    let (host, host_app) = add_host(&sim, "LatencyHost", HOST_SECRET);
    let src = add_source(&sim, "LatencySource", SOURCE_SECRET, &spec);
    sim.advance(60.0);
    let dir = TempDir::new().context("creating a temporary directory")?;
    let mut env: BTreeMap<&str, String> = local_env(&sim, (host, host_app), HOST_SECRET, &dir.0);
    env.insert("GUESTSYNC_JOB_BUDGET_SECS", (24 * 3600).to_string());
    let settings = Settings::from_lookup(|k| env.get(k).cloned()).context("benchmark settings")?;
    let (app, tenant) = register(
        settings,
        scale,
        (HOST_SECRET, SOURCE_SECRET),
        &src,
        "Latency source",
    )
    .await?;
    let driver = app.driver();
    let reconcile = || async {
        match driver
            .run_to_end(&tenant, Job::Reconcile, &NoProgress)
            .await
            .map_err(|e| anyhow::anyhow!("reconcile: {}", e.describe()))?
        {
            Driven::Finished(end) => Ok(end),
            Driven::Skipped(why) => Err(anyhow::anyhow!("reconcile did not run: {why}")),
        }
    };

    let t0 = sim.now_secs();
    reconcile().await.context("the first sync")?;
    let first_sync_graph_secs = sim.now_secs() - t0;
    // Settle the echo of the first sync's writes (the first delta run).
    reconcile().await.context("the first incremental run")?;

    let mut rng = SmallRng::seed_from_u64(args.seed ^ 0x1a7e);
    let mut members: Vec<Guid> = src.generated.user_ids.clone();
    let mut changes: Vec<Change> = Vec::new();
    let period = args.schedule_secs as f64;
    let mut next_tick = sim.now_secs() + period;
    let (mut ticks_run, mut ticks_skipped, mut requests) = (0usize, 0usize, 0u64);
    let mut joiner = 0usize;
    let mut counts = crate::domain::RunCounts::default();
    let mut guard_trips = 0usize;
    for _ in 0..args.ticks {
        // This interval's changes, each at a random moment before the tick.
        let now = sim.now_secs();
        let mut moments: Vec<(f64, bool)> = (0..args.changes_per_tick)
            .flat_map(|_| {
                let a = rng.gen_range(now..next_tick.max(now + 1.0));
                let b = rng.gen_range(now..next_tick.max(now + 1.0));
                [(a, true), (b, false)]
            })
            .collect();
        moments.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (at, join) in moments {
            wait_until(&sim, at, scale).await;
            let user = if join {
                joiner += 1;
                let upn = format!("late{joiner}.{}@joiners.example", rng.gen::<u32>());
                let id =
                    sim.create_user(src.tenant, NewUser::simple(&format!("Late {joiner}"), &upn));
                sim.add_member(src.tenant, src.generated.group_id, id);
                members.push(id);
                id
            } else {
                let i = rng.gen_range(0..members.len());
                let id = members.swap_remove(i);
                // Out of scope: out of the scope group and of every group
                // nested in it (the generator spreads users over them).
                for g in std::iter::once(src.generated.group_id)
                    .chain(src.generated.nested_group_ids.iter().copied())
                {
                    if sim.group_members(src.tenant, g).contains(&id) {
                        sim.remove_member(src.tenant, g, id);
                    }
                }
                id
            };
            changes.push(Change {
                user,
                join,
                at: sim.now_secs(),
                applied_at: None,
            });
        }
        wait_until(&sim, next_tick, scale).await;
        sim.reset_counts();
        let end = reconcile().await.context("a timer run")?;
        counts.add(&end.counts);
        guard_trips += usize::from(end.last.guard.is_some());
        requests += sim.counts().total;
        ticks_run += 1;
        let ended = sim.now_secs();
        for c in changes.iter_mut().filter(|c| c.applied_at.is_none()) {
            if applied(&app, &sim, host, tenant.tenant_id, c).await? {
                c.applied_at = Some(ended);
            }
        }
        // The next tick on the schedule; ticks that fell while this run
        // went on are skipped (the lease was held).
        next_tick += period;
        while next_tick < ended {
            next_tick += period;
            ticks_skipped += 1;
        }
    }
    let join = percentiles(changes.iter().filter(|c| c.join));
    let leave = percentiles(changes.iter().filter(|c| !c.join));
    let target = 180.0;
    let met = join.applied == join.count
        && leave.applied == leave.count
        && join.p95_secs <= target
        && leave.p95_secs <= target;
    Ok(LatencyReport {
        users: args.users,
        time_scale: scale,
        schedule_secs: args.schedule_secs,
        ticks_run,
        ticks_skipped,
        first_sync_graph_secs,
        join,
        leave,
        requests_per_run: requests as f64 / ticks_run.max(1) as f64,
        counts,
        guard_trips,
        target_p95_secs: target,
        met,
    })
}

/// Sleeps until the simulator's clock reads `at` Graph seconds.
async fn wait_until(sim: &Sim, at: f64, scale: f64) {
    let left = at - sim.now_secs();
    if left > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(left / scale)).await;
    }
}

/// Whether a change has reached the host: a joiner's guest exists, a
/// leaver's guest is gone.
async fn applied(
    app: &App,
    sim: &Sim,
    host: Guid,
    tenant: Guid,
    c: &Change,
) -> anyhow::Result<bool> {
    let rec = app
        .store
        .get_guest(tenant, c.user)
        .await
        .context("reading a guest record")?;
    let guest = rec.and_then(|r| r.host_user_id);
    Ok(match (c.join, guest) {
        (true, Some(g)) => sim.user(host, g).is_some(),
        (true, None) => false,
        (false, Some(g)) => sim.user(host, g).is_none(),
        (false, None) => true,
    })
}

fn percentiles<'a>(changes: impl Iterator<Item = &'a Change>) -> Percentiles {
    let mut count = 0;
    let mut lat: Vec<f64> = Vec::new();
    for c in changes {
        count += 1;
        if let Some(a) = c.applied_at {
            lat.push(a - c.at);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let i = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i]
    };
    Percentiles {
        count,
        applied: lat.len(),
        p50_secs: pick(0.5),
        p95_secs: pick(0.95),
        max_secs: lat.last().copied().unwrap_or(0.0),
    }
}

/// The printed report.
pub fn render(r: &LatencyReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Latency: {} users, time scale {}, timer every {} s (Graph time); first sync {:.0} s",
        r.users, r.time_scale, r.schedule_secs, r.first_sync_graph_secs
    );
    let _ = writeln!(
        s,
        "{} timer runs ({} ticks skipped while a run went on), {:.1} requests per run",
        r.ticks_run, r.ticks_skipped, r.requests_per_run
    );
    let _ = writeln!(s, "| change | applied | p50 | p95 | max |");
    let _ = writeln!(s, "|---|---|---|---|---|");
    for (name, p) in [
        ("join -> guest created", &r.join),
        ("leave -> guest removed", &r.leave),
    ] {
        let _ = writeln!(
            s,
            "| {name} | {}/{} | {:.0} s | {:.0} s | {:.0} s |",
            p.applied, p.count, p.p50_secs, p.p95_secs, p.max_secs
        );
    }
    let _ = writeln!(
        s,
        "target: p95 <= {:.0} s for both: {}",
        r.target_p95_secs,
        if r.met { "met" } else { "NOT met" }
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_count_unapplied_changes_apart() {
        let c = |at: f64, applied: Option<f64>| Change {
            user: Guid::new_v4(),
            join: true,
            at,
            applied_at: applied,
        };
        let v = [
            c(0.0, Some(10.0)),
            c(0.0, Some(30.0)),
            c(5.0, None),
            c(0.0, Some(20.0)),
        ];
        let p = percentiles(v.iter());
        assert_eq!((p.count, p.applied), (4, 3));
        assert_eq!(p.p50_secs, 20.0);
        assert_eq!(p.p95_secs, 30.0);
        assert_eq!(p.max_secs, 30.0);
    }
}
