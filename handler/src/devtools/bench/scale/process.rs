//! One engine run as its own process (`guest-sync sync`), measured from
//! outside through `/proc/<pid>` (Linux): its peak resident set (`VmHWM`)
//! and CPU time (utime + stime of the exited, not yet reaped child), so
//! nothing of the benchmark or the in-process simulator is counted, and
//! the child does not report on itself.
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::devtools::bench::vclock::stat_cpu_secs;

/// What the kernel accounted to one engine process.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EngineProcess {
    /// Peak resident set (`ru_maxrss`, KiB).
    pub peak_rss_kb: u64,
    /// User + system CPU seconds.
    pub cpu_secs: f64,
    /// CPU seconds the engine had used when the simulator saw its first
    /// write (reading both sides and planning: the part of its computing
    /// that nothing overlaps). None when it wrote nothing.
    pub cpu_secs_before_first_write: Option<f64>,
    /// Wall seconds from its start to the simulator's first applied write.
    pub wall_secs_to_first_write: Option<f64>,
}

impl EngineProcess {
    pub fn peak_mb(&self) -> f64 {
        self.peak_rss_kb as f64 / 1024.0
    }
}

/// Runs `exe sync --quiet --tenant <tenant> [--full]` with exactly `env` (plus
/// `PATH`) and waits for it; returns its wall time and accounting. Fails
/// when the process fails (its last stderr line is quoted).
pub(super) async fn run_engine(
    exe: &Path,
    env: &BTreeMap<&str, String>,
    (tenant, full): (&str, bool),
    sim: &crate::devtools::sim::Sim,
) -> anyhow::Result<(Duration, EngineProcess)> {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["sync", "--quiet", "--tenant", tenant]);
    if full {
        cmd.arg("--full");
    }
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("starting the engine process {}", exe.display()))?;
    let sim = sim.clone();
    let (ok, usage, stderr) = tokio::task::spawn_blocking(move || wait_child(child, started, &sim))
        .await
        .context("waiting for the engine process")??;
    let wall = started.elapsed();
    if !ok {
        let last = stderr.lines().last().unwrap_or("").to_string();
        anyhow::bail!("the engine process failed: {last}");
    }
    Ok((wall, usage))
}

/// Watches the child through `/proc/<pid>` until it has exited but is
/// not yet reaped (a zombie keeps its CPU times), then reaps it. Its peak
/// RSS is `VmHWM` (a high-water mark) read every few milliseconds while it
/// lives: the last reading misses only growth in its final few
/// milliseconds, when it is tearing down.
fn wait_child(
    mut child: std::process::Child,
    started: Instant,
    sim: &crate::devtools::sim::Sim,
) -> anyhow::Result<(bool, EngineProcess, String)> {
    use std::io::Read;
    let stderr_pipe = child.stderr.take();
    let drain = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut e) = stderr_pipe {
            // A read error only loses the failure message, not the measurement.
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let proc_dir = std::path::PathBuf::from(format!("/proc/{}", child.id()));
    let mut peak_rss_kb = 0;
    let mut cpu_secs = 0.0;
    let mut first_write: Option<(f64, f64)> = None;
    // Without /proc (not Linux) there is no accounting.
    while let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) {
        cpu_secs = stat_cpu_secs(&stat).unwrap_or(cpu_secs);
        // The state is the first field after the command name (in parentheses).
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next());
        if state == Some("Z") {
            break;
        }
        if first_write.is_none() && sim.counts().writes_total() > 0 {
            first_write = Some((cpu_secs, started.elapsed().as_secs_f64()));
        }
        if let Some(kb) = std::fs::read_to_string(proc_dir.join("status"))
            .ok()
            .and_then(|s| status_kb(&s, "VmHWM:"))
        {
            peak_rss_kb = peak_rss_kb.max(kb);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait().context("reaping the engine process")?;
    let stderr = drain.join().unwrap_or_default();
    Ok((
        status.success(),
        EngineProcess {
            peak_rss_kb,
            cpu_secs,
            cpu_secs_before_first_write: first_write.map(|f| f.0),
            wall_secs_to_first_write: first_write.map(|f| f.1),
        },
        stderr,
    ))
}

/// A `/proc/<pid>/status` field in KiB.
fn status_kb(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
