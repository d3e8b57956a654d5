//! The one job driver (`engine::driver`): progress reaches the caller's
//! sink, the lease is taken, renewed and given back, a held lease skips,
//! and an unknown tenant's work item is recorded as a failed run.
use std::sync::Mutex;

use guest_sync::domain::{Guid, Job, RunOutcome, WorkItem};
use guest_sync::engine::driver::{Driven, Slice};
use guest_sync::engine::{NoProgress, Progress, SyncError};

use super::H;

/// Records the phases it is told about.
#[derive(Default)]
struct Phases(Mutex<Vec<String>>);

impl Progress for Phases {
    fn phase(&self, name: &str, _: Option<u64>) {
        self.0.lock().unwrap().push(name.to_string());
    }
    fn inc(&self, _: u64) {}
}

/// `run_to_end` (the CLI's and the demo's path) reports every phase to the
/// caller's progress sink, and leaves no lease behind.
#[tokio::test]
async fn run_to_end_reports_progress_and_releases_the_lease() {
    let h = H::fast().await;
    h.members(3);
    let driver = h.world.app().driver();
    let phases = Phases::default();
    let Driven::Finished(end) = driver
        .run_to_end(&h.tenant, Job::Reconcile, &phases)
        .await
        .unwrap()
    else {
        panic!("skipped")
    };
    assert_eq!(end.counts.created, 3);
    assert_eq!(end.slices, 1);
    let seen = phases.0.lock().unwrap().clone();
    for p in ["read source", "read host", "plan", "apply"] {
        assert!(seen.iter().any(|s| s == p), "{p} missing from {seen:?}");
    }
    assert!(h
        .store
        .current_lease(h.src, Job::Reconcile)
        .await
        .unwrap()
        .is_none());
    let run = h.store.get_run(h.src, end.run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome, RunOutcome::Succeeded);
}

/// A lease held by another process skips the job in both driver paths.
#[tokio::test]
async fn a_held_lease_skips_the_job() {
    let h = H::fast().await;
    h.members(1);
    let other = h
        .store
        .try_acquire(
            h.src,
            Job::Reconcile,
            "someone-else",
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap()
        .unwrap();
    let driver = h.world.app().driver();
    let driven = driver
        .run_to_end(&h.tenant, Job::Reconcile, &NoProgress)
        .await
        .unwrap();
    assert!(matches!(driven, Driven::Skipped(_)), "{driven:?}");
    let item = WorkItem {
        job: Job::Reconcile,
        source_tenant_id: h.src,
        run_id: uuid::Uuid::new_v4(),
        cursor: None,
        enqueued_at: chrono::Utc::now(),
    };
    let slice = driver.run_slice(&item, &NoProgress).await.unwrap();
    assert!(
        matches!(&slice, Slice::Skipped(why) if why.contains("already running")),
        "{slice:?}"
    );
    assert!(h.host_users_with_mail("user0@contoso.example").is_empty());
    h.store.release(&other).await.unwrap();
}

/// A work item of a tenant nobody registered fails permanently and leaves
/// a failed run naming the tenant (it shows in the report).
#[tokio::test]
async fn an_unknown_tenants_item_is_recorded_as_a_failed_run() {
    let h = H::fast().await;
    let stranger = Guid::new_v4();
    let item = WorkItem {
        job: Job::Photos,
        source_tenant_id: stranger,
        run_id: uuid::Uuid::new_v4(),
        cursor: None,
        enqueued_at: chrono::Utc::now(),
    };
    let e = h
        .world
        .app()
        .driver()
        .run_slice(&item, &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(e, SyncError::UnknownTenant(t) if t == stranger));
    assert!(!e.is_transient());
    let run = h
        .store
        .get_run(stranger, item.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert!(run.error.unwrap_or_default().contains("not registered"));
}

/// A redelivery of a run whose invocation died (its instance recycled:
/// the lease stopped being renewed) takes the run's own unexpired lease
/// over instead of being skipped; a different run still waits, and so
/// does a duplicate of the run while its holder still renews.
#[tokio::test]
async fn a_redelivered_item_takes_over_its_own_runs_lease() {
    let h = H::fast().await;
    h.members(2);
    let run_id = uuid::Uuid::new_v4();
    let live = h
        .store
        .try_acquire(
            h.src,
            Job::Reconcile,
            &format!("busy-instance run {run_id}"),
            chrono::Duration::seconds(90),
        )
        .await
        .unwrap()
        .unwrap();
    let driver = h.world.app().driver();
    let dup = WorkItem {
        job: Job::Reconcile,
        source_tenant_id: h.src,
        run_id,
        cursor: None,
        enqueued_at: chrono::Utc::now(),
    };
    let skipped = driver.run_slice(&dup, &NoProgress).await.unwrap();
    assert!(
        matches!(skipped, Slice::Skipped(_)),
        "a duplicate ran beside its live holder: {skipped:?}"
    );
    h.store.release(&live).await.unwrap();
    // A holder that missed its renewals: 40 s left of 90.
    let dead = h
        .store
        .try_acquire(
            h.src,
            Job::Reconcile,
            &format!("recycled-instance run {run_id}"),
            chrono::Duration::seconds(40),
        )
        .await
        .unwrap()
        .unwrap();
    let item = |run_id| WorkItem {
        job: Job::Reconcile,
        source_tenant_id: h.src,
        run_id,
        cursor: None,
        enqueued_at: chrono::Utc::now(),
    };
    let other = driver
        .run_slice(&item(uuid::Uuid::new_v4()), &NoProgress)
        .await
        .unwrap();
    assert!(matches!(other, Slice::Skipped(_)), "{other:?}");
    let own = driver.run_slice(&item(run_id), &NoProgress).await.unwrap();
    let Slice::Ran { outcome, .. } = own else {
        panic!("the run's own redelivery was skipped: {own:?}")
    };
    assert_eq!(outcome.counts.created, 2);
    assert!(h
        .store
        .current_lease(h.src, Job::Reconcile)
        .await
        .unwrap()
        .is_none());
    // The dead holder's token is stale now: its late release is harmless.
    h.store.release(&dead).await.unwrap();
}

/// Regression (outages): a slice that ended while the store was away could
/// not give its lease back; the run's redelivery to the same process came
/// before the lease looked stale and was skipped as "running elsewhere",
/// which completed the work item and left the run unfinished for good.
/// The process knows it no longer runs that slice: the redelivery takes
/// the lease over at once. A fresh lease of another process is still
/// waited for.
#[tokio::test]
async fn a_lease_left_by_a_slice_of_this_process_is_taken_over_at_once() {
    let h = H::fast().await;
    h.members(2);
    let app = h.world.app();
    let run_id = uuid::Uuid::new_v4();
    let item = WorkItem {
        job: Job::Reconcile,
        source_tenant_id: h.src,
        run_id,
        cursor: None,
        enqueued_at: chrono::Utc::now(),
    };
    // Another process's fresh lease of the run: a live duplicate, skipped.
    let elsewhere = h
        .store
        .try_acquire(
            h.src,
            Job::Reconcile,
            &format!("other-instance run {run_id}"),
            chrono::Duration::seconds(90),
        )
        .await
        .unwrap()
        .unwrap();
    let skipped = app.driver().run_slice(&item, &NoProgress).await.unwrap();
    assert!(matches!(skipped, Slice::Skipped(_)), "{skipped:?}");
    h.store.release(&elsewhere).await.unwrap();
    // This process's lease of the run, fresh, left behind (release failed).
    h.store
        .try_acquire(
            h.src,
            Job::Reconcile,
            &format!("{} run {run_id}", app.holder),
            chrono::Duration::seconds(90),
        )
        .await
        .unwrap()
        .unwrap();
    let ran = app.driver().run_slice(&item, &NoProgress).await.unwrap();
    let Slice::Ran { outcome, next } = ran else {
        panic!("the redelivery was skipped beside a lease nobody runs: {ran:?}")
    };
    assert!(next.is_none());
    assert_eq!(outcome.counts.created, 2);
    let run = h.store.get_run(h.src, run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome, RunOutcome::Succeeded);
    assert!(h
        .store
        .current_lease(h.src, Job::Reconcile)
        .await
        .unwrap()
        .is_none());
}

/// Two drivers (two processes: a CLI run and the worker) race for one
/// tenant: exactly one runs, nobody is invited twice, and the one after it
/// runs normally.
#[tokio::test]
async fn two_holders_racing_for_one_tenant_run_it_once() {
    let h = H::fast().await;
    let users = h.members(20);
    let a = h.world.app().driver();
    let b = guest_sync::engine::JobDriver::new(
        h.world.app().engine(),
        "second-process".into(),
        std::time::Duration::from_secs(60),
    );
    let (ra, rb) = tokio::join!(
        a.run_to_end(&h.tenant, Job::Reconcile, &NoProgress),
        b.run_to_end(&h.tenant, Job::Reconcile, &NoProgress),
    );
    let ran = [ra.unwrap(), rb.unwrap()]
        .into_iter()
        .filter(|d| matches!(d, Driven::Finished(_)))
        .count();
    assert_eq!(ran, 1, "both or neither ran");
    for u in &users {
        let g = h.guest(*u).await;
        assert_eq!(h.sim.counts().op_for("invite", g.id), 1);
    }
    // The worker after the CLI: the lease is free again.
    let slice = a
        .run_slice(
            &WorkItem {
                job: Job::Reconcile,
                source_tenant_id: h.src,
                run_id: uuid::Uuid::new_v4(),
                cursor: None,
                enqueued_at: chrono::Utc::now(),
            },
            &NoProgress,
        )
        .await
        .unwrap();
    assert!(matches!(slice, Slice::Ran { .. }), "{slice:?}");
}

/// `guest-sync sync` killed mid-run: its lease was taken for at most
/// 90 s (short, renewed while running), so the tenant is free again
/// within that, not after the whole job budget.
#[tokio::test]
async fn a_killed_cli_holds_the_tenant_for_at_most_the_lease_ttl() {
    let h = H::fast().await;
    h.members(60);
    h.sim.set_latency(guest_sync::devtools::sim::LatencyModel {
        base_ms: 40,
        jitter_ms: 0,
    });
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .args(["sync", "--tenant", &h.src.to_string(), "--job", "reconcile"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(h.env.clone())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lease = None;
    for _ in 0..500 {
        if let Some(l) = h.store.current_lease(h.src, Job::Reconcile).await.unwrap() {
            lease = Some(l);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let lease = lease.expect("the CLI never took the lease");
    child.kill().await.unwrap();
    let left = lease.expires_at - chrono::Utc::now();
    assert!(
        left <= chrono::Duration::seconds(91),
        "a killed holder locks the tenant for {left}"
    );
    assert!(lease.holder.contains(" run "), "{}", lease.holder);
}

/// One write budget across processes: while another process holds a job
/// lease (another tenant), this process paces to half the host budget;
/// alone again, to all of it.
#[tokio::test]
async fn the_host_budget_is_shared_with_jobs_running_elsewhere() {
    let h = H::fast().await;
    h.members(2);
    let budget = h.world.app().engine().graph.budget(h.host);
    let elsewhere = h
        .store
        .try_acquire(
            Guid::new_v4(),
            Job::Reconcile,
            &format!("other-instance run {}", uuid::Uuid::new_v4()),
            chrono::Duration::seconds(90),
        )
        .await
        .unwrap()
        .unwrap();
    let driver = h.world.app().driver();
    let Driven::Finished(_) = driver
        .run_to_end(&h.tenant, Job::Reconcile, &NoProgress)
        .await
        .unwrap()
    else {
        panic!("skipped")
    };
    assert!(
        (budget.share() - 0.5).abs() < 1e-9,
        "share {}",
        budget.share()
    );
    h.store.release(&elsewhere).await.unwrap();
    let Driven::Finished(_) = driver
        .run_to_end(&h.tenant, Job::Photos, &NoProgress)
        .await
        .unwrap()
    else {
        panic!("skipped")
    };
    assert!(
        (budget.share() - 1.0).abs() < 1e-9,
        "share {}",
        budget.share()
    );
}

/// Duplicate deliveries of one run arriving while it runs and as it ends
/// (found by the load test, `tests/reliability/load.rs`): the run runs
/// exactly once. A duplicate that read the run record before the holder
/// finished and released used to take the freed lease and run the whole
/// run again, adding its counts to the record a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staggered_duplicates_of_a_run_run_it_once() {
    let h = H::fast().await;
    h.members(3);
    let app = h.world.app();
    for round in 0..40 {
        let item = WorkItem {
            job: Job::Redemption,
            source_tenant_id: h.src,
            run_id: uuid::Uuid::new_v4(),
            cursor: None,
            enqueued_at: chrono::Utc::now(),
        };
        let deliveries: Vec<_> = (0..30u64)
            .map(|i| {
                let (app, item) = (app.clone(), item.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(std::time::Duration::from_micros(300 * i)).await;
                    app.driver().run_slice(&item, &NoProgress).await.unwrap()
                })
            })
            .collect();
        let mut ran = 0;
        for d in deliveries {
            match d.await.unwrap() {
                Slice::Ran { .. } => ran += 1,
                Slice::Skipped(why) => assert!(
                    why.contains("already running elsewhere")
                        || why.contains("duplicate delivery ignored"),
                    "{why}"
                ),
            }
        }
        assert_eq!(ran, 1, "round {round}: the run ran {ran} times");
        let run = h.store.get_run(h.src, item.run_id).await.unwrap().unwrap();
        assert_eq!(run.outcome, RunOutcome::Succeeded);
    }
}
