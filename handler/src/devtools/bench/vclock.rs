//! The benchmarks' virtual clock: a future run on its own thread in a
//! current-thread tokio runtime whose clock starts paused.
//!
//! With the clock paused, tokio moves time forward only when the runtime
//! has nothing to run: straight to the next pending timer. The Graph
//! client's pacer, retries and token cache, and the simulator's clock,
//! buckets and latency all read tokio's clock, so when the simulator and
//! the engine share such a runtime, time advances only while everything
//! waits on the pacer, the simulated latency or a `Retry-After`. CPU time
//! (the engine's and the simulator's) and machine load add nothing:
//! elapsed virtual time is Graph time.
//!
//! Two tokio behaviours matter (tokio 1.5x, `time` driver and blocking pool):
//! - A `spawn_blocking` task (the SQLite store) inhibits auto-advance while
//!   it runs: store work adds no virtual time.
//! - When the runtime parks with no task ready, it polls I/O with a zero
//!   timeout and then advances to the next timer even if that poll made a
//!   task ready (only explicit unparks stop the advance). Loopback HTTP
//!   between the client and the simulator is such I/O: each time every task
//!   waits on a socket, the clock jumps to the next timer, which may be far
//!   (a 60 s request timeout, a lease renewal). The heartbeat below keeps a
//!   timer at most [`HEARTBEAT`] away, so such a jump is at most that long.
use std::future::Future;
use std::time::Duration;

use anyhow::Context;

/// The heartbeat's period: the most virtual time one park on loopback I/O
/// can add (tokio's timer resolution is 1 ms).
pub const HEARTBEAT: Duration = Duration::from_millis(1);

/// Runs `make()`'s future to completion on a new thread, in a current-thread
/// runtime with its clock paused from the start and, unless `heartbeat` is
/// None, a task that sleeps `heartbeat` in a loop. Blocks the calling
/// thread; from async code call it through `spawn_blocking`.
pub fn run_paused<F, Fut, T>(heartbeat: Option<Duration>, make: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    let thread = std::thread::Builder::new()
        .name("virtual-clock".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .context("building the paused runtime")?;
            rt.block_on(async move {
                let beat = heartbeat.filter(|d| !d.is_zero()).map(|d| {
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(d).await;
                        }
                    })
                });
                let out = make().await;
                if let Some(b) = beat {
                    b.abort();
                }
                out
            })
        })
        .context("starting the virtual-clock thread")?;
    thread
        .join()
        .map_err(|_| anyhow::anyhow!("the virtual-clock thread panicked"))?
}

/// [`run_paused`] from async code (on the blocking pool, so the caller's
/// runtime keeps running).
pub async fn run_paused_async<F, Fut, T>(heartbeat: Option<Duration>, make: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || run_paused(heartbeat, make))
        .await
        .context("waiting for the virtual-clock thread")?
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`;
/// None where there is no `/proc`).
pub fn process_cpu_secs() -> Option<f64> {
    stat_cpu_secs(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// User + system CPU seconds of the calling thread so far
/// (`/proc/thread-self/stat`; None where there is no `/proc`).
pub fn thread_cpu_secs() -> Option<f64> {
    stat_cpu_secs(&std::fs::read_to_string("/proc/thread-self/stat").ok()?)
}

/// `USER_HZ`: Linux reports process times in 1/100 s on every
/// architecture it runs Azure Functions on.
pub(crate) const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a `/proc/<pid>/stat` line, in seconds.
pub(crate) fn stat_cpu_secs(stat: &str) -> Option<f64> {
    // Fields after the command name (in parentheses): state is the first,
    // utime and stime the 12th and 13th (clock ticks).
    let (_, rest) = stat.rsplit_once(')')?;
    let rest: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| rest.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / CLOCK_TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sleep on the paused clock advances it by the sleep (to the
    /// heartbeat's resolution), however long the thread takes.
    #[test]
    fn a_paused_runtime_sleeps_virtually() {
        let virt = run_paused(Some(HEARTBEAT), || async {
            let t0 = tokio::time::Instant::now();
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(t0.elapsed())
        })
        .unwrap();
        assert!(virt >= Duration::from_secs(5), "{virt:?}");
        assert!(virt < Duration::from_millis(5_010), "{virt:?}");
    }

    /// A `spawn_blocking` task (how the SQLite store works) holds the paused
    /// clock while it runs, though the heartbeat's timer is pending: store
    /// work adds no virtual time.
    #[test]
    fn a_blocking_task_holds_the_paused_clock() {
        let virt = run_paused(Some(HEARTBEAT), || async {
            let t0 = tokio::time::Instant::now();
            tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(30))).await?;
            Ok(t0.elapsed())
        })
        .unwrap();
        assert_eq!(virt, Duration::ZERO);
    }

    /// A `/proc/<pid>/stat` line's CPU fields, command names with spaces
    /// and parentheses included.
    #[test]
    fn stat_lines_give_user_plus_system_time() {
        let line = "42 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(stat_cpu_secs(line), Some(3.0));
        assert_eq!(stat_cpu_secs("nonsense"), None);
    }
}
