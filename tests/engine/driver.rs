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
