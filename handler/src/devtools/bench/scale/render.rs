//! The report as printed by `guest-sync bench scale`.
use super::metrics::{PhaseMetrics, ScaleReport};

fn fmt_opt(x: Option<f64>, unit: &str) -> String {
    x.map(|v| format!("{v:.3}{unit}"))
        .unwrap_or_else(|| "n/a".into())
}

fn phase_lines(out: &mut String, p: &PhaseMetrics) {
    out.push_str(&format!(
        "  {:<12} wall {:>8.1} s  graph {:>8.0} s  bound {:>7.0} s  ratio {:>8}  writes {:>7} ({:.3}/guest, {}/new guest)  reads {:>7} ({:.3}/guest, {} member pages)  429s {} ({:.3}%)\n",
        p.name,
        p.wall_secs,
        p.graph_secs,
        p.bound_secs,
        fmt_opt(p.bound_ratio(), "x"),
        p.writes,
        p.writes_per_guest(),
        fmt_opt(p.writes_per_new_guest(), ""),
        p.reads,
        p.reads_per_guest(),
        p.member_pages,
        p.throttled,
        p.throttled_share() * 100.0,
    ));
    if let Some(e) = p.engine {
        out.push_str(&format!(
            "  {:<12} engine process: peak RSS {:.1} MB, CPU {:.2} s ({} s per 1,000 users; {} s before its first write, reached at graph {} s), ratio net of that CPU {}\n",
            "",
            e.peak_mb(),
            e.cpu_secs,
            fmt_opt(p.cpu_secs_per_1000(), ""),
            fmt_opt(e.cpu_secs_before_first_write, ""),
            fmt_opt(p.graph_secs_to_first_write(), ""),
            fmt_opt(p.net_bound_ratio(), "x"),
        ));
    }
}

/// The report as printed by `guest-sync bench scale`.
pub fn render(r: &ScaleReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "scale bench: {} users, time scale {} (Graph time = wall x {}), simulator throttling on\n",
        r.users, r.time_scale, r.time_scale
    ));
    out.push_str(&format!(
        "churn before the third run: {} joins, {} leaves, {} renames\n",
        r.churn.0, r.churn.1, r.churn.2
    ));
    out.push_str("our engine (run_job reconcile, continuations followed):\n");
    for p in &r.phases {
        phase_lines(&mut out, p);
    }
    let mb = |kb: Option<u64>| fmt_opt(kb.map(|k| k as f64 / 1024.0), " MB");
    let in_process = r.phases.iter().all(|p| p.engine.is_none());
    if in_process {
        out.push_str(&format!(
        "  memory: VmHWM {} (includes the in-process simulator); RSS after simulator setup {}; engine share ~{}\n",
        mb(r.peak_after_engine_kb),
        mb(r.rss_after_setup_kb),
        fmt_opt(r.engine_peak_estimate_mb(), " MB"),
    ));
    }
    if let Some(v) = &r.virtual_clock {
        out.push_str(&format!(
            "first sync on the virtual clock (fresh simulator and store; simulator and engine in one paused runtime, time scale 1, heartbeat {} ms; graph = virtual time, CPU and machine load excluded):\n",
            v.heartbeat_ms
        ));
        phase_lines(&mut out, &v.first_sync);
        out.push_str(&format!(
            "  {:<12} CPU during the run: {} s in this process (engine + simulator + store; {} s per 1,000 users), {} s on the runtime thread (engine + simulator)\n",
            "",
            fmt_opt(v.cpu_secs, ""),
            fmt_opt(v.cpu_secs_per_1000(), ""),
            fmt_opt(v.thread_cpu_secs, ""),
        ));
        let safety = crate::graph::PacingConfig::default().safety;
        out.push_str(&format!(
            "  {:<12} where the time goes: {} s to the first write (reading, planning), {} s after the last; the pacer alone needs {:.0} s for these writes (burst, then {:.1}/s)\n",
            "",
            fmt_opt(v.graph_secs_to_first_write, ""),
            fmt_opt(v.graph_secs_after_last_write, ""),
            v.pacer_bound_secs(safety),
            20.0 * safety,
        ));
    }
    if let Some(b) = &r.baseline {
        out.push_str(&format!(
            "naive baseline (sequential, no pacing, full rescan, photos every run) on {} users into a fresh host tenant:\n",
            b.users
        ));
        for p in &b.phases {
            phase_lines(&mut out, p);
        }
        if b.users != r.users {
            out.push_str(&format!(
                "  EXTRAPOLATED to {} users (per user, linear; never below the budget bound of the extrapolated writes)\n",
                r.users
            ));
        }
        out.push_str("ours / baseline:\n");
        for ((o, bp), bx) in r
            .phases
            .iter()
            .zip(&b.phases)
            .zip(&b.extrapolated_graph_secs)
        {
            out.push_str(&format!(
                "  {:<12} graph time {:.0} s / {:.0} s = {}   writes per guest {:.3} / {:.3}   reads per guest {:.3} / {:.3}\n",
                o.name,
                o.graph_secs,
                bx,
                fmt_opt((*bx > 0.0).then(|| o.graph_secs / bx), "x"),
                o.writes_per_guest(),
                bp.writes_per_guest(),
                o.reads_per_guest(),
                bp.reads_per_guest(),
            ));
        }
    }
    out.push_str("targets (issues 7 and 17):\n");
    for t in &r.targets {
        let mark = match t.met {
            Some(true) => "met",
            Some(false) => "NOT MET",
            None => "not measured",
        };
        out.push_str(&format!("  [{mark:^12}] {}: {}\n", t.target, t.measured));
    }
    out
}
