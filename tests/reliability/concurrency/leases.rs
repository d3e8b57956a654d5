//! Lease races: a stampede on one lease, takeovers with a short TTL, and
//! an expiry every handle agrees on.

use super::*;

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
