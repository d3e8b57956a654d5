//! Smoke test of the scale benchmark (`guest-sync bench scale`): run with
//! tiny numbers, it returns a report whose counts have the right shape.
//! Timing is never asserted; only counter-based outcomes are.
use guest_sync::devtools::bench::scale::{render, scale, ScaleBenchArgs};

/// A 200-user benchmark makes two writes per new guest on the first sync,
/// none on the no-change run, and reports the baseline and every target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_scale_benchmark_reports_two_writes_per_guest_then_none() {
    let args = ScaleBenchArgs {
        users: 200,
        time_scale: 200.0,
        baseline_users: Some(40),
        in_process: true,
        ..ScaleBenchArgs::default()
    };
    let r = scale(&args).await.unwrap();
    assert_eq!(r.phases.len(), 4);
    let first = &r.phases[0];
    assert_eq!(first.new_guests, 200);
    assert_eq!(first.writes, 400);
    assert_eq!(first.writes_per_new_guest(), Some(2.0));
    assert_eq!(r.phases[1].writes, 0);
    assert!(r.phases[2].writes > 0, "churn causes writes");
    // The full read after it: both sides listed, nothing left to write.
    assert_eq!(r.phases[3].name, "full read");
    assert_eq!(r.phases[3].writes, 0);
    assert!(
        r.phases[3].member_pages > 0,
        "the full read lists the scope"
    );
    let b = r.baseline.as_ref().unwrap();
    assert_eq!(b.users, 40);
    assert_eq!(b.phases.len(), 3);
    assert!(b.phases[1].writes > 0, "the baseline rewrites every run");
    assert_eq!(r.targets.len(), 5);
    let text = render(&r);
    assert!(text.contains("EXTRAPOLATED"));
    assert!(text.contains("targets (issues 7 and 17)"));
}

/// The first sync on the virtual clock (simulator and engine in one paused
/// runtime) on a tenant just past the write burst: it finishes, makes two
/// writes per new guest and draws no 429, and its Graph time (virtual) is
/// at least the write-budget bound of its writes, so the clock really
/// advanced and the pacer was respected. Wall time is never asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_virtual_clock_first_sync_keeps_to_the_write_budget() {
    use guest_sync::devtools::bench::scale::throttle_bound_secs;
    let args = ScaleBenchArgs {
        users: 1_600,
        time_scale: 500.0,
        no_baseline: true,
        in_process: true,
        ..ScaleBenchArgs::default()
    };
    assert!(args.runs_virtual_clock(), "on by default");
    let r = scale(&args).await.unwrap();
    let v = r.virtual_clock.as_ref().expect("the virtual-clock run");
    let f = &v.first_sync;
    assert_eq!(f.new_guests, 1_600);
    assert_eq!(f.writes, 3_200);
    assert_eq!(f.writes_per_new_guest(), Some(2.0));
    assert_eq!(f.throttled, 0, "{f:?}");
    let bound = throttle_bound_secs(f.writes, f.invitations);
    assert!(bound > 0.0);
    assert_eq!(f.bound_secs, bound);
    assert!(f.graph_secs >= bound, "{} < {bound}", f.graph_secs);
    assert!(v.graph_secs_to_first_write.is_some(), "{v:?}");
    // The ratio target is checked on the virtual clock.
    assert!(
        r.targets[0].target.contains("virtual clock"),
        "{:?}",
        r.targets[0]
    );
    let text = render(&r);
    assert!(text.contains("first sync on the virtual clock"), "{text}");
}

/// Runs `guest-sync bench <args>`, which must succeed; its output.
async fn bench(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .arg("bench")
        .args(args)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Runs `guest-sync bench scale <args> --json`; its output and the JSON
/// summary on its last line.
async fn scale_json(args: &[&str]) -> (String, serde_json::Value) {
    let text = bench(&[&["scale"], args, &["--json"]].concat()).await;
    let last = text.lines().last().unwrap_or_default();
    let j = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    (text, j)
}

/// `guest-sync bench scale --json` runs the engine as its own process and
/// prints, after the table, one JSON summary whose counts have the right
/// shape and whose measurements are present and plausible (never timed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_benchmark_prints_a_json_summary_of_an_engine_process() {
    let (text, j) = scale_json(&["--users", "150", "--time-scale", "200", "--no-baseline"]).await;
    assert!(text.contains("engine process: peak RSS"), "{text}");
    assert_eq!(j["users"], 150);
    assert_eq!(j["writes_per_new_guest"], 2.0);
    assert_eq!(j["writes_no_change"], 0);
    // The virtual-clock first sync (on by default) on a fresh simulator.
    assert_eq!(j["first_sync_virtual_writes"], 300, "{j}");
    assert_eq!(j["first_sync_virtual_429s"], 0, "{j}");
    assert!(
        j["first_sync_virtual_graph_secs"].as_f64().unwrap() > 0.0,
        "{j}"
    );
    let share = j["share_429"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&share), "{j}");
    assert!(j["requests_no_change"].as_u64().unwrap() > 0, "{j}");
    // The full read lists both sides: more than the no-change run's delta.
    assert!(
        j["requests_full_read"].as_u64().unwrap() > j["requests_no_change"].as_u64().unwrap(),
        "{j}"
    );
    for k in [
        "engine_peak_mb_first_sync",
        "engine_peak_mb_no_change",
        "engine_peak_mb",
        "engine_peak_mb_full_read",
    ] {
        let mb = j[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {j}"));
        assert!(mb > 1.0 && mb < 4096.0, "{k} {mb}");
    }
    for k in [
        "engine_cpu_secs_per_1000_users_first_sync",
        "engine_cpu_secs_per_1000_users_no_change",
    ] {
        let cpu = j[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {j}"));
        assert!(cpu >= 0.0 && cpu.is_finite(), "{k} {cpu}");
    }
    for k in [
        "first_sync_ratio",
        "first_sync_ratio_net_of_engine_cpu",
        "first_sync_graph_secs",
        "first_sync_bound_secs",
        "engine_peak_estimate_mb_in_process",
        "first_sync_ratio_virtual_clock",
        "first_sync_virtual_bound_secs",
    ] {
        assert!(j.get(k).is_some(), "{k} missing: {j}");
    }
}

/// A first sync cut into slices of one second (`--job-budget-secs 1`; the
/// run takes several seconds of simulated Graph latency): its
/// continuations resume from the run's snapshot, so the scope is listed
/// once (one nested-group page and one member page for 300 users, not
/// that again per slice) and no action is replayed (2 writes per guest),
/// with many actions in flight when each slice stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sync_in_slices_lists_the_scope_once_and_replays_nothing() {
    let (_, j) = scale_json(&[
        "--users",
        "300",
        "--time-scale",
        "1",
        "--job-budget-secs",
        "1",
        "--no-baseline",
        "--no-virtual-clock",
    ])
    .await;
    assert!(
        j["first_sync_graph_secs"].as_f64().unwrap() > 3.0,
        "not sliced: {j}"
    );
    assert_eq!(j["writes_per_new_guest"], 2.0, "{j}");
    assert_eq!(j["first_sync_member_pages"], 2, "{j}");
    assert_eq!(j["writes_no_change"], 0, "{j}");
}

/// The simulator benchmark (`guest-sync bench sim`) with tiny numbers reads
/// every member across pages and answers every small read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_simulator_benchmark_reads_everything_it_generated() {
    use guest_sync::devtools::bench::sim::{measure, SimBenchArgs};
    let r = measure(&SimBenchArgs {
        users: 2_500,
        reads: 64,
        clients: 4,
    })
    .await
    .unwrap();
    assert!(r.members_read >= 2_400, "{r:?}");
    assert!(r.pages >= 3, "{r:?}");
    assert_eq!(r.reads, 64);
}

/// The multi-process benchmark (`guest-sync bench instances`) with tiny
/// numbers: every worker process finishes and the report has its lines
/// (rates are printed, never asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_instances_benchmark_runs_every_worker_process() {
    let text = bench(&[
        "instances",
        "--processes",
        "2",
        "--users",
        "120",
        "--time-scale",
        "50",
    ])
    .await;
    assert!(text.contains("2 processes x 120 users"), "{text}");
    assert!(text.contains("429 answers"), "{text}");
    assert!(!text.contains("failed"), "{text}");
    let writes: u64 = text
        .split("retries included) ")
        .nth(1)
        .and_then(|t| t.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(writes >= 2 * 2 * 120, "{text}");
}

/// The onboarding benchmark (`guest-sync bench onboarding`) with a tiny
/// tenant: both paths register their tenant through the real CLI (the
/// secretless one through the admin-consent URL it prints) and their first
/// sync creates every in-scope user's guest. Times are printed, never
/// asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_onboarding_benchmark_onboards_both_paths_through_the_cli() {
    let stdout = bench(&["onboarding", "--users", "30", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let paths = v["paths"].as_array().unwrap();
    let names: Vec<&str> = paths.iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["secret", "secretless"]);
    for p in paths {
        assert!(p["guests"].as_u64().unwrap() >= 25, "{p}");
        assert!(p["toFirstGuestSecs"].as_f64().unwrap() > 0.0);
        assert!(p["steps"].as_array().unwrap().len() >= 3);
    }
}

/// The latency benchmark (`guest-sync bench latency`) with tiny numbers:
/// every join and leave reaches the host, the later runs read changes
/// only (a handful of requests each), and the report says so (latencies
/// are printed, never asserted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_latency_benchmark_applies_every_join_and_leave() {
    use guest_sync::devtools::bench::latency::{latency, render, LatencyBenchArgs};
    let r = latency(&LatencyBenchArgs {
        users: 150,
        time_scale: 200.0,
        schedule_secs: 120,
        ticks: 3,
        changes_per_tick: 2,
        seed: 7,
        json: false,
    })
    .await
    .unwrap();
    assert_eq!(r.ticks_run, 3);
    assert_eq!((r.join.count, r.leave.count), (6, 6));
    assert_eq!((r.join.applied, r.leave.applied), (6, 6), "{r:?}");
    // Three delta rounds plus the touched users, never a re-read of 150.
    assert!(r.requests_per_run < 60.0, "{r:?}");
    assert!(render(&r).contains("join -> guest created"));
}

/// `guest-sync bench store` saves and loads the records, then a reconcile
/// snapshot of as many users, and prints what the snapshot took.
#[tokio::test]
async fn the_store_benchmark_saves_and_loads_a_snapshot() {
    let text = bench(&["store", "--records", "500", "--backend", "sqlite"]).await;
    assert!(text.contains("records     500"), "{text}");
    assert!(
        text.contains("snapshot of 500 source users, 500 host guests, 500 records:"),
        "{text}"
    );
    assert!(text.contains("MiB stored"), "{text}");
}
