//! Retention (prune) while jobs write, and concurrent prunes that count
//! each removal once.

use super::*;

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
