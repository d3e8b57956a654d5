//! The store under concurrency: optimistic-concurrency conflicts, lease
//! races and retention running during a job, on several handles onto one
//! database (as several processes would have: SQLite files opened more than
//! once, Table clients onto one account).
//!
//! Every scenario is a generic async fn over `&[Arc<dyn Store>]`; [`run_all`]
//! runs them in turn, records a table of figures (`concurrency-<backend>`)
//! and fails on any violation. It is instantiated here for SQLite and in
//! `needs_azurite/concurrency.rs` for Azure Table Storage (on Azurite).
//!
//! What counts as a violation: a silent lost update, two holders of one
//! lease at once, a lease the store reports as expired before its holder
//! does, something recent or in progress pruned, something old left after a
//! prune, a prune reporting more (or less) than it removed, any error other
//! than the documented `Conflict` (optimistic concurrency) and
//! `Unavailable` (retried), and a scenario that did not race at all.

mod leases;
mod records;
mod retention;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use guest_sync::domain::{GuestRecord, Guid, Job, RunOutcome};
use guest_sync::store::sqlite::SqliteStore;
use guest_sync::store::{Store, StoreError, StoreResult};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::reliability::{record, size};
use crate::store::conformance::{audit, guest, run};

/// What one scenario did and what it found.
#[derive(Debug)]
pub struct Outcome {
    pub scenario: &'static str,
    pub tasks: usize,
    pub ops: u64,
    pub conflicts: u64,
    pub transient: u64,
    pub violations: Vec<String>,
    pub secs: f64,
    pub notes: String,
}

/// Counters shared by a scenario's tasks.
#[derive(Default)]
struct Tally {
    ops: AtomicU64,
    conflicts: AtomicU64,
    transient: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Tally {
    fn op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }
    fn conflict(&self) {
        self.conflicts.fetch_add(1, Ordering::Relaxed);
    }
    fn transient(&self) {
        self.transient.fetch_add(1, Ordering::Relaxed);
    }
    fn violation(&self, what: impl Into<String>) {
        let mut v = self.violations.lock().unwrap();
        // Keep the report readable when something fails everywhere.
        if v.len() < 50 {
            v.push(what.into());
        }
    }
    /// An error that is neither a conflict nor transient: a violation.
    fn unexpected(&self, what: &str, e: StoreError) {
        self.violation(format!("{what}: undocumented error: {e}"));
    }
    fn outcome(
        &self,
        scenario: &'static str,
        tasks: usize,
        started: Instant,
        notes: String,
    ) -> Outcome {
        Outcome {
            scenario,
            tasks,
            ops: self.ops.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            transient: self.transient.load(Ordering::Relaxed),
            violations: std::mem::take(&mut *self.violations.lock().unwrap()),
            secs: started.elapsed().as_secs_f64(),
            notes,
        }
    }
}

/// Runs `f` until it succeeds, retrying `Unavailable` (the documented
/// transient error); any other error is a violation and gives `None`.
async fn patiently<T, F, Fut>(tally: &Tally, what: &str, f: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    for attempt in 0..30u64 {
        tally.op();
        match f().await {
            Ok(v) => return Some(v),
            Err(StoreError::Unavailable(_)) => {
                tally.transient();
                tokio::time::sleep(StdDuration::from_millis(5 * (attempt + 1))).await;
            }
            Err(e) => {
                tally.unexpected(what, e);
                return None;
            }
        }
    }
    tally.violation(format!("{what}: still unavailable after 30 attempts"));
    None
}

/// Waits for every task; a task's panic fails the test.
async fn join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        t.await.unwrap();
    }
}

/// A source user id whose first byte is `prefix` (on Tables: the guest
/// shard, so many records land in one partition and batches are large).
fn user_in_shard(prefix: u8) -> Guid {
    let mut b = *uuid::Uuid::new_v4().as_bytes();
    b[0] = prefix;
    Guid::from_uuid(uuid::Uuid::from_bytes(b))
}

/// The counter kept in a record's fingerprint (`count-<n>`).
fn count_of(g: &GuestRecord) -> Option<u64> {
    g.profile_fingerprint
        .as_deref()?
        .strip_prefix("count-")?
        .parse()
        .ok()
}

fn with_count(g: &GuestRecord, n: u64) -> GuestRecord {
    let mut next = g.clone();
    next.profile_fingerprint = Some(format!("count-{n}"));
    next
}

/// One read-modify-write increment with retry on conflict. Returns the
/// value written and its version, or None after a violation.
async fn increment(
    s: &dyn Store,
    tally: &Tally,
    tenant: Guid,
    user: Guid,
) -> Option<(u64, String)> {
    loop {
        tally.op();
        let cur = match s.get_guest_versioned(tenant, user).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                tally.violation(format!("counter {user} vanished"));
                return None;
            }
            Err(StoreError::Unavailable(_)) => {
                tally.transient();
                continue;
            }
            Err(e) => {
                tally.unexpected("get_guest_versioned", e);
                return None;
            }
        };
        let Some(n) = count_of(&cur.record) else {
            tally.violation(format!("counter {user} holds {:?}", cur.record));
            return None;
        };
        tally.op();
        match s
            .put_guest_if(&with_count(&cur.record, n + 1), Some(&cur.version))
            .await
        {
            Ok(v) => return Some((n + 1, v)),
            Err(StoreError::Conflict(_)) => tally.conflict(),
            Err(StoreError::Unavailable(_)) => tally.transient(),
            Err(e) => {
                tally.unexpected("put_guest_if", e);
                return None;
            }
        }
    }
}

/// Checks the successful writes of one counter: the values 1..=n each
/// exactly once (a value written twice is a lost update), versions all
/// distinct, and the stored record is the last write with its version.
async fn check_counter(
    s: &dyn Store,
    tally: &Tally,
    tenant: Guid,
    user: Guid,
    mut writes: Vec<(u64, String)>,
) -> u64 {
    writes.sort();
    let n = writes.len() as u64;
    let values: Vec<u64> = writes.iter().map(|w| w.0).collect();
    if values != (1..=n).collect::<Vec<_>>() {
        let mut seen = BTreeSet::new();
        let dup: Vec<_> = values.iter().filter(|v| !seen.insert(**v)).collect();
        tally.violation(format!(
            "counter {user}: {n} successful writes but values are not 1..={n} (written twice: {dup:?})"
        ));
    }
    let versions: BTreeSet<_> = writes.iter().map(|w| w.1.clone()).collect();
    if versions.len() != writes.len() {
        tally.violation(format!("counter {user}: two writes got the same version"));
    }
    match s.get_guest_versioned(tenant, user).await {
        Ok(Some(v)) => {
            if count_of(&v.record) != Some(n) {
                tally.violation(format!(
                    "counter {user}: {n} increments succeeded but it holds {:?}",
                    v.record.profile_fingerprint
                ));
            }
            if let Some(last) = writes.last() {
                if v.version != last.1 {
                    tally.violation(format!(
                        "counter {user}: stored version {} is not the last write's {}",
                        v.version, last.1
                    ));
                }
            }
        }
        other => tally.violation(format!("counter {user}: read back {other:?}")),
    }
    n
}

pub use leases::{lease_expiry_is_what_the_holder_was_told, lease_stampede, lease_takeovers};
pub use records::{batches_with_single_writes, create_race, optimistic_counter};
pub use retention::{concurrent_prunes_report_each_removal_once, retention_during_job};

/// Runs every scenario on `handles` (several handles onto one database),
/// records the figures as `concurrency-<backend>` and fails on any
/// violation.
pub async fn run_all(backend: &str, what: &str, handles: &[Arc<dyn Store>], ttl_ms: i64) {
    let outcomes = vec![
        optimistic_counter(handles).await,
        create_race(handles).await,
        lease_stampede(handles).await,
        lease_takeovers(handles, ttl_ms).await,
        retention_during_job(handles).await,
        batches_with_single_writes(handles).await,
    ];
    let mut md = format!(
        "### Store under concurrency: {what}\n\n{} handles onto one database (as {} processes).\n\n\
         | scenario | tasks | operations | conflicts | transient (retried) | violations | seconds | notes |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
        handles.len(),
        handles.len()
    );
    for o in &outcomes {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1} | {} |\n",
            o.scenario,
            o.tasks,
            o.ops,
            o.conflicts,
            o.transient,
            o.violations.len(),
            o.secs,
            o.notes
        ));
    }
    record(&format!("concurrency-{backend}"), &md);
    let bad: Vec<_> = outcomes
        .iter()
        .flat_map(|o| {
            o.violations
                .iter()
                .map(move |v| format!("{}: {v}", o.scenario))
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} violation(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Three SQLite stores on one file (three connections, as three processes).
async fn sqlite_handles(n: usize) -> (Vec<Arc<dyn Store>>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut hs: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..n {
        hs.push(Arc::new(SqliteStore::open(&path).await.unwrap()));
    }
    (hs, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_under_concurrency() {
    let (hs, _dir) = sqlite_handles(3).await;
    run_all("sqlite", "SQLite (one file)", &hs, 250).await;
}

#[tokio::test]
async fn sqlite_lease_expiry_is_what_the_holder_was_told() {
    let (hs, _dir) = sqlite_handles(2).await;
    lease_expiry_is_what_the_holder_was_told(&hs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_concurrent_prunes_report_each_removal_once() {
    let (hs, _dir) = sqlite_handles(3).await;
    concurrent_prunes_report_each_removal_once(&hs).await;
}
