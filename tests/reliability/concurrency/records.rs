//! One record, many writers: read-modify-write with retry on conflict,
//! a create race, and blind batches interleaved with conditional writes.

use super::*;

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
