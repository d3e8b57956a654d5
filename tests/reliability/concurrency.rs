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

/// Many tasks on several handles increment one counter (read, then
/// `put_guest_if` with the version read, retry on `Conflict`): it ends at
/// exactly the number of increments, each value written once.
pub async fn optimistic_counter(handles: &[Arc<dyn Store>]) -> Outcome {
    let tasks = size(16, 32);
    let per_task = size(8, 40) as u64;
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let t = Guid::new_v4();
    let g = with_count(&guest(t, 0), 0);
    handles[0].put_guest_if(&g, None).await.unwrap();
    let user = g.source_user_id;
    let writes = Arc::new(Mutex::new(Vec::new()));
    let barrier = Arc::new(Barrier::new(tasks));
    let mut js = Vec::new();
    for i in 0..tasks {
        let (s, tally, writes, barrier) = (
            handles[i % handles.len()].clone(),
            tally.clone(),
            writes.clone(),
            barrier.clone(),
        );
        js.push(tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..per_task {
                match increment(&*s, &tally, t, user).await {
                    Some(w) => writes.lock().unwrap().push(w),
                    None => return,
                }
            }
        }));
    }
    join(js).await;
    let writes = std::mem::take(&mut *writes.lock().unwrap());
    let total = tasks as u64 * per_task;
    let n = check_counter(&*handles[1 % handles.len()], &tally, t, user, writes).await;
    if n != total {
        tally.violation(format!("{n} increments succeeded, {total} were made"));
    }
    if tally.conflicts.load(Ordering::Relaxed) == 0 {
        tally.violation("no conflict at all: the tasks did not race");
    }
    tally.outcome(
        "read-modify-write of one record",
        tasks,
        started,
        format!("{total} increments, final count {n}"),
    )
}

/// Many tasks create the same record at the same instant (`put_guest_if`
/// expecting none): exactly one succeeds, the others get `Conflict`, and
/// the stored record is the winner's.
pub async fn create_race(handles: &[Arc<dyn Store>]) -> Outcome {
    let tasks = size(16, 32);
    let rounds = size(10, 50);
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let t = Guid::new_v4();
    for round in 0..rounds {
        let base = guest(t, round);
        let barrier = Arc::new(Barrier::new(tasks));
        let winners = Arc::new(Mutex::new(Vec::new()));
        let mut js = Vec::new();
        for i in 0..tasks {
            let (s, tally, barrier, winners) = (
                handles[i % handles.len()].clone(),
                tally.clone(),
                barrier.clone(),
                winners.clone(),
            );
            let mut mine = base.clone();
            mine.profile_fingerprint = Some(format!("creator-{i}"));
            js.push(tokio::spawn(async move {
                barrier.wait().await;
                tally.op();
                match s.put_guest_if(&mine, None).await {
                    Ok(v) => winners.lock().unwrap().push((i, v)),
                    Err(StoreError::Conflict(_)) => tally.conflict(),
                    Err(StoreError::Unavailable(_)) => tally.transient(),
                    Err(e) => tally.unexpected("put_guest_if(None)", e),
                }
            }));
        }
        join(js).await;
        let winners = std::mem::take(&mut *winners.lock().unwrap());
        if winners.len() != 1 {
            tally.violation(format!(
                "round {round}: {} creators succeeded: {winners:?}",
                winners.len()
            ));
            continue;
        }
        let (i, version) = &winners[0];
        let s = &handles[(i + 1) % handles.len()];
        match s.get_guest_versioned(t, base.source_user_id).await {
            Ok(Some(v))
                if v.version == *version
                    && v.record.profile_fingerprint.as_deref() == Some(&format!("creator-{i}")) => {
            }
            other => tally.violation(format!(
                "round {round}: creator {i} won (version {version}) but the store holds {other:?}"
            )),
        }
    }
    let expected = (rounds * (tasks - 1)) as u64;
    let seen = tally.conflicts.load(Ordering::Relaxed);
    let transient = tally.transient.load(Ordering::Relaxed);
    if seen + transient != expected {
        tally.violation(format!(
            "{seen} conflicts (+{transient} transient) where {expected} creators lost"
        ));
    }
    tally.outcome(
        "create race (expecting no record)",
        tasks,
        started,
        format!("{rounds} rounds, one winner each"),
    )
}

/// Many holders call `try_acquire` on the same tenant at the same instant
/// (a third of them on each job): exactly one holder per (tenant, job);
/// every handle reports that holder (never an expiry earlier than the
/// holder's own), `live_lease_holders` lists them, and a release from
/// another handle frees the lease.
pub async fn lease_stampede(handles: &[Arc<dyn Store>]) -> Outcome {
    let tasks = size(18, 33);
    let rounds = size(15, 60);
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let ttl = Duration::seconds(60);
    for round in 0..rounds {
        let t = Guid::new_v4();
        let barrier = Arc::new(Barrier::new(tasks));
        let winners = Arc::new(Mutex::new(Vec::new()));
        let mut js = Vec::new();
        for i in 0..tasks {
            let (s, tally, barrier, winners) = (
                handles[i % handles.len()].clone(),
                tally.clone(),
                barrier.clone(),
                winners.clone(),
            );
            js.push(tokio::spawn(async move {
                let job = Job::ALL[i % Job::ALL.len()];
                let holder = format!("stampede-{round}-{i}");
                barrier.wait().await;
                tally.op();
                match s.try_acquire(t, job, &holder, ttl).await {
                    Ok(Some(l)) => winners.lock().unwrap().push((i, l)),
                    Ok(None) => tally.conflict(),
                    Err(StoreError::Unavailable(_)) => tally.transient(),
                    Err(e) => tally.unexpected("try_acquire", e),
                }
            }));
        }
        join(js).await;
        let winners = std::mem::take(&mut *winners.lock().unwrap());
        for job in Job::ALL {
            let won: Vec<_> = winners.iter().filter(|(_, l)| l.job == job).collect();
            if won.len() != 1 {
                tally.violation(format!(
                    "round {round}, {job}: {} holders at once: {won:?}",
                    won.len()
                ));
            }
        }
        let live = handles[0].live_lease_holders().await.unwrap();
        for (i, l) in &winners {
            if l.tenant != t || l.holder != format!("stampede-{round}-{i}") {
                tally.violation(format!("round {round}: lease of another holder {l:?}"));
            }
            if !live.contains(&l.holder) {
                tally.violation(format!(
                    "round {round}: live_lease_holders {live:?} misses {}",
                    l.holder
                ));
            }
            for s in handles {
                tally.op();
                match s.current_lease(t, l.job).await.unwrap() {
                    Some(c) if c.holder == l.holder && c.token == l.token => {
                        if c.expires_at < l.expires_at {
                            tally.violation(format!(
                                "round {round}: the store says the lease expires at {}, its holder was told {}",
                                c.expires_at, l.expires_at
                            ));
                        }
                    }
                    other => tally.violation(format!(
                        "round {round}: current_lease is {other:?}, {} holds it",
                        l.holder
                    )),
                }
            }
        }
        for (i, l) in &winners {
            let other = &handles[(i + 1) % handles.len()];
            tally.op();
            other.release(l).await.unwrap();
            if let Some(c) = other.current_lease(t, l.job).await.unwrap() {
                tally.violation(format!("round {round}: released, still held: {c:?}"));
            }
        }
        let live = handles[0].live_lease_holders().await.unwrap();
        let left: Vec<_> = live
            .iter()
            .filter(|h| h.starts_with(&format!("stampede-{round}-")))
            .collect();
        if !left.is_empty() {
            tally.violation(format!(
                "round {round}: released leases still live: {left:?}"
            ));
        }
    }
    tally.outcome(
        "lease stampede (try_acquire at one instant)",
        tasks,
        started,
        format!("{rounds} rounds x {} jobs, one holder each", Job::ALL.len()),
    )
}

/// One holder's continuous possession of a lease: from when its acquire
/// returned to its last expiry, cut short when it released.
#[derive(Debug, Clone)]
struct Tenure {
    holder: String,
    /// When the acquire was called (the lease may be visible from then).
    called: DateTime<Utc>,
    /// When the acquire returned (the holder knows it holds from then).
    start: DateTime<Utc>,
    /// Its latest expiry, or when it called release if earlier.
    end: DateTime<Utc>,
    /// Its latest expiry (the lease may be visible until then, as a
    /// release in flight has not deleted it yet).
    last_exp: DateTime<Utc>,
    renewals: u32,
}

/// What an observer saw.
#[derive(Debug)]
struct Sighting {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    holder: Option<String>,
    live: Vec<String>,
}

/// Holders race for one lease with a short TTL: they renew in time, stall
/// past expiry (then renew, mostly losing it to a takeover), release, or
/// release stale leases after a takeover. Never two holders' tenures
/// overlap (a stale renew or release would make them), and an observer's
/// `current_lease`/`live_lease_holders` only ever name a holder that could
/// hold it then.
pub async fn lease_takeovers(handles: &[Arc<dyn Store>], ttl_ms: i64) -> Outcome {
    let tasks = size(12, 24);
    let run_for = StdDuration::from_secs(size(6, 30) as u64);
    let ttl = Duration::milliseconds(ttl_ms);
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let t = Guid::new_v4();
    let job = Job::Photos;
    let tenures = Arc::new(Mutex::new(Vec::<Tenure>::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let stale_releases = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run_for;
    let mut js = Vec::new();
    for i in 0..tasks {
        let (s, tally, tenures, refused, stale_releases) = (
            handles[i % handles.len()].clone(),
            tally.clone(),
            tenures.clone(),
            refused.clone(),
            stale_releases.clone(),
        );
        js.push(tokio::spawn(async move {
            let name = format!("taker-{i}");
            let mut rng = SmallRng::from_entropy();
            let ms = |f: f64| StdDuration::from_millis((ttl_ms as f64 * f) as u64);
            let mut held: Option<(guest_sync::store::Lease, Tenure)> = None;
            while Instant::now() < deadline {
                let Some((lease, mut ten)) = held.take() else {
                    let called = Utc::now();
                    tally.op();
                    match s.try_acquire(t, job, &name, ttl).await {
                        Ok(Some(l)) => {
                            let start = Utc::now();
                            if l.holder != name {
                                tally.violation(format!("{name} was handed {l:?}"));
                            }
                            let ten = Tenure {
                                holder: name.clone(),
                                called,
                                start,
                                end: l.expires_at,
                                last_exp: l.expires_at,
                                renewals: 0,
                            };
                            held = Some((l, ten));
                        }
                        Ok(None) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(StdDuration::from_millis(rng.gen_range(1..15)))
                                .await;
                        }
                        Err(StoreError::Unavailable(_)) => tally.transient(),
                        Err(e) => tally.unexpected("try_acquire", e),
                    }
                    continue;
                };
                let roll = rng.gen_range(0..100);
                if roll >= 70 {
                    // Release: in time, or (stale) after a stall past expiry.
                    let stale = roll >= 85;
                    let pause = if stale {
                        ms(rng.gen_range(1.2..2.0))
                    } else {
                        ms(rng.gen_range(0.0..0.3))
                    };
                    tokio::time::sleep(pause).await;
                    let at = Utc::now();
                    if stale {
                        stale_releases.fetch_add(1, Ordering::Relaxed);
                    }
                    ten.end = ten.end.min(at);
                    tenures.lock().unwrap().push(ten);
                    tally.op();
                    match s.release(&lease).await {
                        Ok(()) => {}
                        Err(StoreError::Unavailable(_)) => tally.transient(),
                        Err(e) => tally.unexpected("release", e),
                    }
                    continue;
                }
                // Renew: in time, or after a stall past expiry.
                let pause = if roll < 45 {
                    ms(rng.gen_range(0.0..0.5))
                } else {
                    ms(rng.gen_range(1.1..2.0))
                };
                tokio::time::sleep(pause).await;
                tally.op();
                match s.renew(&lease, ttl).await {
                    Ok(l) => {
                        if l.holder != name {
                            tally.violation(format!("{name} renewed into {l:?}"));
                        }
                        ten.end = ten.end.max(l.expires_at);
                        ten.last_exp = ten.last_exp.max(l.expires_at);
                        ten.renewals += 1;
                        held = Some((l, ten));
                    }
                    Err(StoreError::Conflict(_)) => {
                        tally.conflict();
                        tenures.lock().unwrap().push(ten);
                    }
                    Err(StoreError::Unavailable(_)) => {
                        tally.transient();
                        held = Some((lease, ten));
                    }
                    Err(e) => {
                        tally.unexpected("renew", e);
                        tenures.lock().unwrap().push(ten);
                    }
                }
            }
            if let Some((lease, mut ten)) = held {
                ten.end = ten.end.min(Utc::now());
                tenures.lock().unwrap().push(ten);
                tally.op();
                s.release(&lease).await.unwrap();
            }
        }));
    }
    // The observer, on its own handle.
    let sightings = {
        let (s, tally) = (handles[handles.len() - 1].clone(), tally.clone());
        tokio::spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < deadline {
                let from = Utc::now();
                tally.op();
                let cur = s.current_lease(t, job).await;
                tally.op();
                let live = s.live_lease_holders().await;
                let to = Utc::now();
                match (cur, live) {
                    (Ok(cur), Ok(live)) => {
                        if let Some(c) = &cur {
                            if c.expires_at <= from {
                                tally.violation(format!(
                                    "current_lease returned an expired lease {c:?}"
                                ));
                            }
                        }
                        out.push(Sighting {
                            from,
                            to,
                            holder: cur.map(|c| c.holder),
                            live: live
                                .into_iter()
                                .filter(|h| h.starts_with("taker-"))
                                .collect(),
                        })
                    }
                    (Err(StoreError::Unavailable(_)), _) | (_, Err(StoreError::Unavailable(_))) => {
                        tally.transient()
                    }
                    (Err(e), _) | (_, Err(e)) => tally.unexpected("observer", e),
                }
                tokio::time::sleep(StdDuration::from_millis(3)).await;
            }
            out
        })
    };
    join(js).await;
    let sightings = sightings.await.unwrap();

    let mut tenures = std::mem::take(&mut *tenures.lock().unwrap());
    tenures.sort_by_key(|x| x.start);
    // No two tenures overlap: each starts after every earlier one ended.
    let mut latest: Option<&Tenure> = None;
    for x in &tenures {
        if let Some(p) = latest {
            if x.start < p.end {
                tally.violation(format!(
                    "two holders at once: {} from {} to {} (renewed {}x) and {} from {}",
                    p.holder, p.start, p.end, p.renewals, x.holder, x.start
                ));
            }
        }
        if latest.is_none_or(|p| x.end > p.end) {
            latest = Some(x);
        }
    }
    // Every sighting names a holder that could hold the lease then.
    let could_hold = |h: &str, from: DateTime<Utc>, to: DateTime<Utc>| {
        tenures
            .iter()
            .any(|x| x.holder == h && x.called <= to && from <= x.last_exp)
    };
    let mut seen_held = 0;
    for s in &sightings {
        if s.live.len() > 1 {
            tally.violation(format!(
                "live_lease_holders lists {:?} for one lease",
                s.live
            ));
        }
        for h in s.holder.iter().chain(s.live.iter()) {
            seen_held += 1;
            if !could_hold(h, s.from, s.to) {
                tally.violation(format!(
                    "the observer saw {h} holding between {} and {}, when it held nothing",
                    s.from, s.to
                ));
            }
        }
    }
    let renewed_late = tenures.iter().filter(|x| x.renewals > 0).count();
    let lost = tally.conflicts.load(Ordering::Relaxed);
    if tenures.len() < 10 || lost == 0 {
        tally.violation(format!(
            "too little racing: {} tenures, {lost} lost renewals",
            tenures.len()
        ));
    }
    if seen_held == 0 {
        tally.violation("the observer never saw the lease held");
    }
    tally.outcome(
        "lease takeovers (renew/release/expiry races)",
        tasks + 1,
        started,
        format!(
            "TTL {ttl_ms} ms; {} tenures ({renewed_late} renewed), {lost} renewals lost to takeovers, {} stale releases, {} acquires refused, {} observations",
            tenures.len(),
            stale_releases.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed),
            sightings.len()
        ),
    )
}

/// Retention runs repeatedly (from two handles at once) while two jobs
/// write runs, audit entries and guests, and a backfill writes old audit
/// entries: nothing recent or in progress is pruned, everything older than
/// the retention is gone after a last prune, and the prunes together report
/// exactly what they removed.
pub async fn retention_during_job(handles: &[Arc<dyn Store>]) -> Outcome {
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let retention = Duration::days(1);
    let tenants = [Guid::new_v4(), Guid::new_v4()];
    let old_runs = size(30, 150);
    let old_audit = size(200, 1000);
    let iters = size(40, 200);

    // Old history to prune, and what must survive it.
    let mut keep_runs: Vec<(Guid, uuid::Uuid)> = Vec::new();
    let s0 = &handles[0];
    for t in tenants {
        for k in 0..old_runs {
            let r = run(t, Duration::days(2) + Duration::minutes(k as i64), true);
            s0.put_run(&r).await.unwrap();
        }
        // Started long ago and still running: never pruned.
        let stuck = run(t, Duration::days(3), false);
        s0.put_run(&stuck).await.unwrap();
        keep_runs.push((t, stuck.run_id));
        // Finished within the retention: kept.
        let recent = run(t, Duration::hours(20), true);
        s0.put_run(&recent).await.unwrap();
        keep_runs.push((t, recent.run_id));
        let entries: Vec<_> = (0..old_audit)
            .map(|k| audit(t, Duration::days(2) + Duration::seconds(k as i64), "invite"))
            .collect();
        for chunk in entries.chunks(100) {
            s0.append_audit(chunk).await.unwrap();
        }
    }

    let done = Arc::new(AtomicBool::new(false));
    let pruned = Arc::new(Mutex::new((0u64, 0u64, 0u64)));
    // Pruners: two "processes" pruning at once, over and over.
    let mut pruners = Vec::new();
    for p in 0..2 {
        let (s, tally, done, pruned) = (
            handles[p % handles.len()].clone(),
            tally.clone(),
            done.clone(),
            pruned.clone(),
        );
        pruners.push(tokio::spawn(async move {
            let mut rng = SmallRng::from_entropy();
            while !done.load(Ordering::Relaxed) {
                let got = patiently(&tally, "prune", || s.prune(Utc::now() - retention)).await;
                if let Some(got) = got {
                    let mut p = pruned.lock().unwrap();
                    p.0 += got.runs;
                    p.1 += got.audit;
                    p.2 += 1;
                }
                tokio::time::sleep(StdDuration::from_millis(rng.gen_range(2..20))).await;
            }
        }));
    }
    // A backfill writing old entries meanwhile (they are pruned sooner or
    // later, never kept past the last prune).
    let late_old = Arc::new(AtomicU64::new(0));
    let backfill = {
        let (s, tally, done, late_old) = (
            handles[1 % handles.len()].clone(),
            tally.clone(),
            done.clone(),
            late_old.clone(),
        );
        let t = tenants[0];
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let entries: Vec<_> = (0..10)
                    .map(|k| audit(t, Duration::days(3) + Duration::seconds(k), "patch"))
                    .collect();
                if patiently(&tally, "append old audit", || s.append_audit(&entries))
                    .await
                    .is_some()
                {
                    late_old.fetch_add(entries.len() as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(StdDuration::from_millis(10)).await;
            }
        })
    };
    // The jobs: hold the lease, write a run in progress, audit and guests,
    // short runs that finish, then finish the main run.
    type Written = (Vec<uuid::Uuid>, BTreeSet<String>, usize);
    let mut jobs: Vec<JoinHandle<Written>> = Vec::new();
    for (j, t) in tenants.into_iter().enumerate() {
        let (s, tally) = (handles[(j + 2) % handles.len()].clone(), tally.clone());
        jobs.push(tokio::spawn(async move {
            let mut runs = Vec::new();
            let mut audit_ids = BTreeSet::new();
            let mut guests = 0;
            let mut rng = SmallRng::from_entropy();
            let mut lease = s
                .try_acquire(
                    t,
                    Job::Reconcile,
                    &format!("job-{j}"),
                    Duration::seconds(30),
                )
                .await
                .unwrap()
                .expect("the job's lease is free");
            let mut main = run(t, Duration::zero(), false);
            patiently(&tally, "put_run", || s.put_run(&main)).await;
            runs.push(main.run_id);
            for it in 0..iters {
                let entries: Vec<_> = (0..rng.gen_range(1..8))
                    .map(|_| audit(t, Duration::zero(), "update"))
                    .collect();
                if patiently(&tally, "append_audit", || s.append_audit(&entries))
                    .await
                    .is_some()
                {
                    for e in &entries {
                        audit_ids.insert(e.client_request_id.clone().unwrap());
                    }
                }
                let gs: Vec<_> = (0..5).map(|n| guest(t, n)).collect();
                if patiently(&tally, "put_guests", || s.put_guests(&gs))
                    .await
                    .is_some()
                {
                    guests += gs.len();
                }
                let g = guest(t, it);
                if patiently(&tally, "put_guest", || s.put_guest(&g))
                    .await
                    .is_some()
                {
                    guests += 1;
                }
                if it % 5 == 0 {
                    main.counts.updated += 1;
                    patiently(&tally, "put_run", || s.put_run(&main)).await;
                    let mut short = run(t, Duration::zero(), false);
                    patiently(&tally, "put_run", || s.put_run(&short)).await;
                    short.finished_at = Some(Utc::now());
                    short.outcome = RunOutcome::Succeeded;
                    patiently(&tally, "put_run", || s.put_run(&short)).await;
                    runs.push(short.run_id);
                    if let Some(l) =
                        patiently(&tally, "renew", || s.renew(&lease, Duration::seconds(30))).await
                    {
                        lease = l;
                    }
                }
            }
            main.finished_at = Some(Utc::now());
            main.outcome = RunOutcome::Succeeded;
            patiently(&tally, "put_run", || s.put_run(&main)).await;
            s.release(&lease).await.unwrap();
            (runs, audit_ids, guests)
        }));
    }
    let mut written = Vec::new();
    for j in jobs {
        written.push(j.await.unwrap());
    }
    done.store(true, Ordering::Relaxed);
    join(pruners).await;
    backfill.await.unwrap();
    let last = &handles[handles.len() - 1];
    let cutoff = Utc::now() - retention;
    let fin = last.prune(cutoff).await.unwrap();
    let (runs_pruned, audit_pruned, prunes) = {
        let p = pruned.lock().unwrap();
        (p.0 + fin.runs, p.1 + fin.audit, p.2 + 1)
    };

    let late_old = late_old.load(Ordering::Relaxed);
    let want_runs = (old_runs * tenants.len()) as u64;
    let want_audit = (old_audit * tenants.len()) as u64 + late_old;
    if runs_pruned != want_runs || audit_pruned != want_audit {
        tally.violation(format!(
            "prunes reported {runs_pruned} runs and {audit_pruned} audit entries removed; {want_runs} and {want_audit} were old"
        ));
    }
    let again = last.prune(cutoff).await.unwrap();
    if again != Default::default() {
        tally.violation(format!(
            "a prune after the last one still removed {again:?}"
        ));
    }
    let mut recent_audit = 0;
    for (j, t) in tenants.into_iter().enumerate() {
        let (runs, audit_ids, guests) = &written[j];
        recent_audit += audit_ids.len();
        let stored = last.list_runs(Some(t), 100_000).await.unwrap();
        let ids: BTreeSet<_> = stored.iter().map(|r| r.run_id).collect();
        for id in runs.iter().chain(
            keep_runs
                .iter()
                .filter(|(kt, _)| *kt == t)
                .map(|(_, id)| id),
        ) {
            if !ids.contains(id) {
                tally.violation(format!(
                    "tenant {j}: run {id} (recent or in progress) was pruned"
                ));
            }
        }
        if stored.len() != runs.len() + 2 {
            tally.violation(format!(
                "tenant {j}: {} runs kept, {} expected",
                stored.len(),
                runs.len() + 2
            ));
        }
        for r in &stored {
            if r.finished_at.is_some_and(|f| f < cutoff) {
                tally.violation(format!("tenant {j}: old run {} survived", r.run_id));
            }
        }
        let entries = last.list_audit(Some(t), 1_000_000).await.unwrap();
        let kept: BTreeSet<_> = entries
            .iter()
            .filter_map(|e| e.client_request_id.clone())
            .collect();
        if &kept != audit_ids || entries.len() != audit_ids.len() {
            let lost = audit_ids.difference(&kept).count();
            let extra = kept.difference(audit_ids).count();
            tally.violation(format!(
                "tenant {j}: audit holds {} entries, {} written recently ({lost} recent pruned, {extra} unexpected)",
                entries.len(),
                audit_ids.len()
            ));
        }
        let n = last.list_guests(t).await.unwrap().len();
        if n != *guests {
            tally.violation(format!("tenant {j}: {n} guests stored, {guests} written"));
        }
        if let Some(l) = last.current_lease(t, Job::Reconcile).await.unwrap() {
            tally.violation(format!("tenant {j}: lease still held after the job: {l:?}"));
        }
    }
    if prunes < 4 {
        tally.violation(format!("only {prunes} prunes ran during the job"));
    }
    tally.outcome(
        "retention during a job",
        5,
        started,
        format!(
            "{prunes} prunes removed {runs_pruned} runs and {audit_pruned} audit entries ({late_old} written old during the job); {recent_audit} recent entries kept"
        ),
    )
}

/// Blind batch writes (`put_guests`, several batches per call) interleaved
/// with conditional single writes on neighbouring records of the same
/// partitions, and a reader listing the tenant throughout: counters end
/// exact, every batch writer's records hold its last batch, every listing
/// holds every record once, and a version read before a batch write no
/// longer matches after it.
pub async fn batches_with_single_writes(handles: &[Arc<dyn Store>]) -> Outcome {
    let writers = size(4, 8);
    let per_writer = size(120, 250);
    let batches = size(8, 30);
    let singles = size(8, 16);
    let per_single = size(8, 30) as u64;
    let shards = [0x3au8, 0xc5];
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let t = Guid::new_v4();

    let fresh = |n: usize, fp: String| {
        let mut g = guest(t, n);
        g.source_user_id = user_in_shard(shards[n % shards.len()]);
        g.profile_fingerprint = Some(fp);
        g
    };
    let owned: Vec<Vec<GuestRecord>> = (0..writers)
        .map(|w| {
            (0..per_writer)
                .map(|n| fresh(n, format!("b{w}-init")))
                .collect()
        })
        .collect();
    let counters: Vec<GuestRecord> = (0..4).map(|n| fresh(n, "count-0".into())).collect();
    let total = writers * per_writer + counters.len();
    handles[0].put_guests(&counters).await.unwrap();
    for o in &owned {
        handles[0].put_guests(o).await.unwrap();
    }

    let done = Arc::new(AtomicBool::new(false));
    let mut js = Vec::new();
    for (w, records) in owned.iter().cloned().enumerate() {
        let (s, tally) = (handles[w % handles.len()].clone(), tally.clone());
        js.push(tokio::spawn(async move {
            for b in 0..batches {
                let gs: Vec<_> = records
                    .iter()
                    .map(|g| {
                        let mut g = g.clone();
                        g.profile_fingerprint = Some(format!("b{w}-{b}"));
                        g
                    })
                    .collect();
                if patiently(&tally, "put_guests", || s.put_guests(&gs))
                    .await
                    .is_none()
                {
                    return;
                }
            }
        }));
    }
    let writes = Arc::new(Mutex::new(BTreeMap::<Guid, Vec<(u64, String)>>::new()));
    for i in 0..singles {
        let (s, tally, writes) = (
            handles[(i + 1) % handles.len()].clone(),
            tally.clone(),
            writes.clone(),
        );
        let ids: Vec<Guid> = counters.iter().map(|c| c.source_user_id).collect();
        js.push(tokio::spawn(async move {
            let mut rng = SmallRng::from_entropy();
            for _ in 0..per_single {
                let user = ids[rng.gen_range(0..ids.len())];
                match increment(&*s, &tally, t, user).await {
                    Some(w) => writes.lock().unwrap().entry(user).or_default().push(w),
                    None => return,
                }
            }
        }));
    }
    let reader = {
        let (s, tally, done) = (
            handles[handles.len() - 1].clone(),
            tally.clone(),
            done.clone(),
        );
        tokio::spawn(async move {
            let mut listings = 0u64;
            while !done.load(Ordering::Relaxed) {
                let Some(all) = patiently(&tally, "list_guests", || s.list_guests(t)).await else {
                    return listings;
                };
                listings += 1;
                let ids: BTreeSet<_> = all.iter().map(|g| g.source_user_id).collect();
                if all.len() != total || ids.len() != total {
                    tally.violation(format!(
                        "a listing during the writes held {} records ({} distinct), {total} exist",
                        all.len(),
                        ids.len()
                    ));
                }
                for g in &all {
                    let fp = g.profile_fingerprint.as_deref().unwrap_or("");
                    if !(fp.starts_with('b') || fp.starts_with("count-")) {
                        tally.violation(format!("a listing held a record with fingerprint {fp:?}"));
                    }
                }
            }
            listings
        })
    };
    join(js).await;
    done.store(true, Ordering::Relaxed);
    let listings = reader.await.unwrap();

    let s = &handles[0];
    let writes = std::mem::take(&mut *writes.lock().unwrap());
    let mut increments = 0;
    for c in &counters {
        let w = writes.get(&c.source_user_id).cloned().unwrap_or_default();
        increments += check_counter(&**s, &tally, t, c.source_user_id, w).await;
    }
    if increments != singles as u64 * per_single {
        tally.violation(format!(
            "{increments} increments stored, {} made",
            singles as u64 * per_single
        ));
    }
    let all = s.list_guests(t).await.unwrap();
    if all.len() != total {
        tally.violation(format!("{} records stored, {total} written", all.len()));
    }
    let by_id: BTreeMap<_, _> = all.iter().map(|g| (g.source_user_id, g)).collect();
    for (w, records) in owned.iter().enumerate() {
        let want = format!("b{w}-{}", batches - 1);
        for g in records {
            let got = by_id
                .get(&g.source_user_id)
                .map(|g| g.profile_fingerprint.clone());
            if got != Some(Some(want.clone())) {
                tally.violation(format!(
                    "writer {w}'s record {} holds {got:?}, its last batch wrote {want}",
                    g.source_user_id
                ));
            }
        }
    }
    let counts: u64 = s.guest_counts(t).await.unwrap().values().sum();
    if counts != total as u64 {
        tally.violation(format!("guest_counts sums to {counts}, {total} stored"));
    }
    // A version read on one handle is stale once another handle's batch
    // rewrote the record (even with the same content).
    let one = &owned[0][0];
    let n = handles.len();
    let before = handles[0]
        .get_guest_versioned(t, one.source_user_id)
        .await
        .unwrap()
        .unwrap();
    handles[1 % n]
        .put_guests(std::slice::from_ref(&before.record))
        .await
        .unwrap();
    match handles[2 % n]
        .put_guest_if(&before.record, Some(&before.version))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => tally.violation(format!(
            "a write with a version from before a batch rewrite gave {other:?}"
        )),
    }
    if tally.conflicts.load(Ordering::Relaxed) == 0 {
        tally.violation("no conflict at all: the single writers did not race");
    }
    tally.outcome(
        "batch writes with single conditional writes",
        writers + singles + 1,
        started,
        format!(
            "{writers} batch writers x {batches} x {per_writer} records, {increments} increments on 4 counters, {listings} listings"
        ),
    )
}

/// Several handles prune the same old history at the same instant: every
/// entry is removed once and reported once (the sum of what they report is
/// what was old).
pub async fn concurrent_prunes_report_each_removal_once(handles: &[Arc<dyn Store>]) {
    for round in 0..3 {
        let t = Guid::new_v4();
        let (runs, entries) = (40, 250);
        for k in 0..runs {
            handles[0]
                .put_run(&run(t, Duration::days(2) + Duration::minutes(k), true))
                .await
                .unwrap();
        }
        let old: Vec<_> = (0..entries)
            .map(|k| audit(t, Duration::days(2) + Duration::seconds(k), "invite"))
            .collect();
        for chunk in old.chunks(100) {
            handles[0].append_audit(chunk).await.unwrap();
        }
        let pruners = 4;
        let barrier = Arc::new(Barrier::new(pruners));
        let cutoff = Utc::now() - Duration::days(1);
        let js: Vec<_> = (0..pruners)
            .map(|p| {
                let (s, barrier) = (handles[p % handles.len()].clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.prune(cutoff).await.unwrap()
                })
            })
            .collect();
        let (mut r, mut a) = (0, 0);
        for j in js {
            let p = j.await.unwrap();
            r += p.runs;
            a += p.audit;
        }
        assert_eq!(
            (r, a),
            (runs as u64, entries as u64),
            "round {round}: {pruners} concurrent prunes reported {r} runs and {a} audit entries removed"
        );
        assert!(handles[0]
            .list_runs(Some(t), 1000)
            .await
            .unwrap()
            .is_empty());
        assert!(handles[0]
            .list_audit(Some(t), 1000)
            .await
            .unwrap()
            .is_empty());
    }
}

/// A lease's expiry is exactly what its holder was told, on every handle,
/// after acquire and after renew (never earlier: others would take it over
/// while the holder still believes it holds it).
pub async fn lease_expiry_is_what_the_holder_was_told(handles: &[Arc<dyn Store>]) {
    let t = Guid::new_v4();
    let n = handles.len();
    let mut l = handles[0]
        .try_acquire(t, Job::Reconcile, "precise", Duration::seconds(30))
        .await
        .unwrap()
        .unwrap();
    for round in 0..3 {
        for s in handles {
            let c = s.current_lease(t, Job::Reconcile).await.unwrap().unwrap();
            assert_eq!(
                (c.expires_at, &c.token),
                (l.expires_at, &l.token),
                "round {round}"
            );
        }
        l = handles[(round + 1) % n]
            .renew(&l, Duration::milliseconds(30_001 + round as i64))
            .await
            .unwrap();
    }
}

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
