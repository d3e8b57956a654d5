//! The store conformance suite: one set of async checks taking
//! `Arc<dyn Store>`, run unchanged against every backend (see
//! `conformance_suite!`).
use std::sync::Arc;

use chrono::{Duration, Utc};
use guest_sync::domain::{
    AuditEntry, GuestRecord, GuestState, Guid, Job, RunCounts, RunOutcome, RunRecord, SecretName,
    SourceTenant, TenantOptions,
};
use guest_sync::store::{Pruned, Store, StoreError, SNAPSHOT_CHUNK_MAX};

/// A guest record of `tenant` with a fresh source user id.
pub fn guest(tenant: Guid, n: usize) -> GuestRecord {
    GuestRecord {
        source_tenant_id: tenant,
        source_user_id: Guid::new_v4(),
        source_upn: format!("user{n}@source.example"),
        source_mail: Some(format!("user{n}@source.example")),
        host_user_id: Some(Guid::new_v4()),
        host_upn: Some(format!("user{n}_source.example#EXT#@host.example")),
        state: if n % 3 == 0 {
            GuestState::Accepted
        } else {
            GuestState::Invited
        },
        adopted: n % 7 == 0,
        created_at: Utc::now(),
        redeemed_at: None,
        deprovisioned_at: None,
        last_synced_at: Some(Utc::now()),
        profile_fingerprint: Some(format!("fp-{n:08x}")),
        photo_etag: None,
        photo_copied_at: None,
        last_error: None,
        anchored: false,
        relations: Default::default(),
    }
}

/// A registered tenant named `name`.
pub fn tenant(name: &str) -> SourceTenant {
    SourceTenant {
        tenant_id: Guid::new_v4(),
        display_name: name.to_string(),
        client_id: Guid::new_v4(),
        secret_name: Some(SecretName::parse("source-app-secret").unwrap()),
        credential: Default::default(),
        group_id: Guid::new_v4(),
        enabled: true,
        options: TenantOptions::default(),
        created_at: Utc::now(),
        secret_expires_at: None,
        guard: None,
        cross_tenant: None,
        delta: None,
    }
}

/// A run of `tenant` started `ago` and finished (if `done`) a minute later.
pub fn run(tenant: Guid, ago: Duration, done: bool) -> RunRecord {
    let started = Utc::now() - ago;
    RunRecord {
        run_id: uuid::Uuid::new_v4(),
        job: Job::Reconcile,
        source_tenant_id: tenant,
        started_at: started,
        finished_at: done.then(|| started + Duration::minutes(1)),
        outcome: if done {
            RunOutcome::Succeeded
        } else {
            RunOutcome::Running
        },
        counts: RunCounts {
            created: 3,
            updated: 2,
            ..Default::default()
        },
        error: None,
        dry_run: false,
        parked: false,
    }
}

/// An audit entry of `tenant` written `ago`.
pub fn audit(tenant: Guid, ago: Duration, op: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now() - ago,
        run_id: uuid::Uuid::new_v4(),
        source_tenant_id: tenant,
        source_user_id: Some(Guid::new_v4()),
        target_id: Some(Guid::new_v4()),
        target_upn: None,
        operation: op.to_string(),
        outcome: "ok".into(),
        detail: Some("displayName, jobTitle".into()),
        client_request_id: Some(uuid::Uuid::new_v4().to_string()),
    }
}

fn sorted(mut v: Vec<GuestRecord>) -> Vec<GuestRecord> {
    v.sort_by_key(|g| g.source_user_id);
    v
}

/// Tenants, guests, runs and audit entries read back exactly as written;
/// deletes remove them.
pub async fn records_round_trip(s: Arc<dyn Store>) {
    let mut b = tenant("Contoso B");
    let a = tenant("contoso A");
    s.put_tenant(&b).await.unwrap();
    s.put_tenant(&a).await.unwrap();
    assert_eq!(s.get_tenant(a.tenant_id).await.unwrap(), Some(a.clone()));
    b.enabled = false;
    s.put_tenant(&b).await.unwrap();
    let all = s.list_tenants().await.unwrap();
    assert_eq!(all, vec![a.clone(), b.clone()], "ordered by display name");
    s.delete_tenant(a.tenant_id).await.unwrap();
    assert_eq!(s.get_tenant(a.tenant_id).await.unwrap(), None);

    let t = b.tenant_id;
    let mut g = guest(t, 1);
    s.put_guest(&g).await.unwrap();
    assert_eq!(
        s.get_guest(t, g.source_user_id).await.unwrap(),
        Some(g.clone())
    );
    g.state = GuestState::Deprovisioned;
    g.deprovisioned_at = Some(Utc::now());
    g.last_error = Some("Graph said: 404 Request_ResourceNotFound".into());
    s.put_guest(&g).await.unwrap();
    assert_eq!(
        s.get_guest(t, g.source_user_id).await.unwrap(),
        Some(g.clone())
    );
    assert_eq!(
        s.get_guest(Guid::new_v4(), g.source_user_id).await.unwrap(),
        None
    );
    s.delete_guest(t, g.source_user_id).await.unwrap();
    assert_eq!(s.get_guest(t, g.source_user_id).await.unwrap(), None);

    let r = run(t, Duration::minutes(5), false);
    s.put_run(&r).await.unwrap();
    let mut r2 = r.clone();
    r2.finished_at = Some(Utc::now());
    r2.outcome = RunOutcome::Partial;
    r2.counts.failed = 1;
    s.put_run(&r2).await.unwrap();
    assert_eq!(s.get_run(t, r.run_id).await.unwrap(), Some(r2.clone()));
    assert_eq!(s.get_run(t, uuid::Uuid::new_v4()).await.unwrap(), None);

    let e = audit(t, Duration::zero(), "invite");
    s.append_audit(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(s.list_audit(Some(t), 10).await.unwrap(), vec![e]);
}

/// Runs and audit entries list newest first, per tenant and across tenants,
/// and `limit` caps the answer.
pub async fn history_lists_newest_first(s: Arc<dyn Store>) {
    let (t1, t2) = (Guid::new_v4(), Guid::new_v4());
    let old = run(t1, Duration::hours(3), true);
    let mid = run(t2, Duration::hours(2), true);
    let new = run(t1, Duration::hours(1), false);
    for r in [&mid, &new, &old] {
        s.put_run(r).await.unwrap();
    }
    assert_eq!(
        s.list_runs(None, 10).await.unwrap(),
        vec![new.clone(), mid.clone(), old.clone()]
    );
    assert_eq!(
        s.list_runs(Some(t1), 10).await.unwrap(),
        vec![new.clone(), old]
    );
    assert_eq!(s.list_runs(None, 1).await.unwrap(), vec![new]);

    let a_old = audit(t1, Duration::minutes(30), "invite");
    let a_mid = audit(t2, Duration::minutes(20), "patch");
    let a_new = audit(t1, Duration::minutes(10), "delete");
    s.append_audit(&[a_old.clone(), a_new.clone()])
        .await
        .unwrap();
    s.append_audit(std::slice::from_ref(&a_mid)).await.unwrap();
    assert_eq!(
        s.list_audit(None, 10).await.unwrap(),
        vec![a_new.clone(), a_mid.clone(), a_old.clone()]
    );
    assert_eq!(
        s.list_audit(Some(t1), 10).await.unwrap(),
        vec![a_new.clone(), a_old]
    );
    assert_eq!(s.list_audit(None, 2).await.unwrap(), vec![a_new, a_mid]);
}

/// 2,500 guests come back in pages of at most 1,000, ordered by source user
/// id, every record exactly once; another tenant's guests never show.
pub async fn guest_pages_follow_continuations(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let other = Guid::new_v4();
    let gs: Vec<_> = (0..2500).map(|n| guest(t, n)).collect();
    s.put_guests(&gs).await.unwrap();
    s.put_guests(&[guest(other, 1), guest(other, 2)])
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut cont = None;
    let mut pages = 0;
    loop {
        let p = s.list_guests_page(t, cont, 1000).await.unwrap();
        assert!(p.items.len() <= 1000);
        pages += 1;
        seen.extend(p.items);
        match p.continuation {
            Some(c) => cont = Some(c),
            None => break,
        }
        assert!(pages < 100, "continuations never end");
    }
    assert!(pages >= 3, "2,500 records in pages of 1,000 need 3 pages");
    let ids: Vec<_> = seen.iter().map(|g| g.source_user_id).collect();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(ids, sorted_ids, "ordered by source user id");
    assert_eq!(sorted(seen), sorted(gs.clone()));
    assert_eq!(s.list_guests(t).await.unwrap().len(), 2500);

    let counts = s.guest_counts(t).await.unwrap();
    let accepted = gs
        .iter()
        .filter(|g| g.state == GuestState::Accepted)
        .count() as u64;
    assert_eq!(counts.get(&GuestState::Accepted), Some(&accepted));
    assert_eq!(counts.get(&GuestState::Invited), Some(&(2500 - accepted)));
    assert_eq!(counts.get(&GuestState::Failed), None);
}

/// A conditional write with a stale version fails with Conflict and leaves
/// the newer record in place; inserting a record that exists conflicts too.
pub async fn stale_writes_conflict(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let g = guest(t, 1);
    let v1 = s.put_guest_if(&g, None).await.unwrap();
    assert!(matches!(
        s.put_guest_if(&g, None).await,
        Err(StoreError::Conflict(_))
    ));
    let read = s
        .get_guest_versioned(t, g.source_user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.version, v1);
    assert_eq!(read.record, g);

    // Two writers read v1; the first wins, the second conflicts.
    let mut first = g.clone();
    first.state = GuestState::Accepted;
    let mut second = g.clone();
    second.state = GuestState::Failed;
    let v2 = s.put_guest_if(&first, Some(&v1)).await.unwrap();
    assert_ne!(v1, v2);
    let e = s.put_guest_if(&second, Some(&v1)).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(
        s.get_guest(t, g.source_user_id)
            .await
            .unwrap()
            .unwrap()
            .state,
        GuestState::Accepted
    );
    // An unconditional write moves the version on as well.
    s.put_guest(&second).await.unwrap();
    assert!(matches!(
        s.put_guest_if(&first, Some(&v2)).await,
        Err(StoreError::Conflict(_))
    ));
}

/// A lease excludes a second holder until it is released or expires; after
/// expiry another holder takes it and the first one's renew reports the loss.
pub async fn leases_exclude_and_expire(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let ttl = Duration::milliseconds(800);
    let a = s
        .try_acquire(t, Job::Reconcile, "worker-a", ttl)
        .await
        .unwrap()
        .expect("a free lease is granted");
    assert!(s
        .try_acquire(t, Job::Reconcile, "worker-b", ttl)
        .await
        .unwrap()
        .is_none());
    // Another job of the same tenant is independent.
    assert!(s
        .try_acquire(t, Job::Photos, "worker-b", ttl)
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        s.current_lease(t, Job::Reconcile)
            .await
            .unwrap()
            .map(|l| l.holder),
        Some("worker-a".into())
    );
    let a = s.renew(&a, ttl).await.unwrap();
    s.release(&a).await.unwrap();
    assert_eq!(s.current_lease(t, Job::Reconcile).await.unwrap(), None);

    let a = s
        .try_acquire(t, Job::Reconcile, "worker-a", ttl)
        .await
        .unwrap()
        .expect("a released lease is free");
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert_eq!(s.current_lease(t, Job::Reconcile).await.unwrap(), None);
    let b = s
        .try_acquire(t, Job::Reconcile, "worker-b", Duration::seconds(30))
        .await
        .unwrap()
        .expect("an expired lease can be taken over");
    assert!(matches!(
        s.renew(&a, ttl).await,
        Err(StoreError::Conflict(_))
    ));
    // Releasing a lost lease is harmless and does not free the new holder's.
    s.release(&a).await.unwrap();
    assert_eq!(
        s.current_lease(t, Job::Reconcile)
            .await
            .unwrap()
            .map(|l| l.holder),
        Some(b.holder.clone())
    );
    s.release(&b).await.unwrap();
}

/// Ten concurrent acquirers of one lease: exactly one wins.
pub async fn lease_contention_has_one_winner(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.try_acquire(
                    t,
                    Job::Photos,
                    &format!("worker-{i}"),
                    Duration::seconds(30),
                )
                .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.unwrap().unwrap().is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
}

/// Prune removes finished runs and audit entries older than the cut-off and
/// keeps newer ones and runs still going.
pub async fn prune_removes_only_old_history(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let old_done = run(t, Duration::days(10), true);
    let old_running = run(t, Duration::days(10), false);
    let recent = run(t, Duration::hours(1), true);
    for r in [&old_done, &old_running, &recent] {
        s.put_run(r).await.unwrap();
    }
    let old_a = audit(t, Duration::days(10), "invite");
    let new_a = audit(t, Duration::hours(1), "patch");
    s.append_audit(&[old_a, new_a.clone()]).await.unwrap();

    let pruned = s.prune(Utc::now() - Duration::days(1)).await.unwrap();
    assert_eq!(pruned, Pruned { runs: 1, audit: 1 });
    assert_eq!(s.get_run(t, old_done.run_id).await.unwrap(), None);
    assert!(s.get_run(t, old_running.run_id).await.unwrap().is_some());
    assert!(s.get_run(t, recent.run_id).await.unwrap().is_some());
    assert_eq!(s.list_audit(Some(t), 10).await.unwrap(), vec![new_a]);
}

fn assert_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>, field: &str) {
    match r {
        Err(StoreError::Invalid(m)) => assert!(m.contains(field), "{m:?} should name {field}"),
        other => panic!("expected Invalid naming {field}, got {other:?}"),
    }
}

/// Records that fail validation are rejected with an error naming the field
/// and nothing of the batch is written.
pub async fn bad_records_are_rejected_whole(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let mut batch: Vec<_> = (0..250).map(|n| guest(t, n)).collect();
    batch[180].source_upn = String::new();
    assert_invalid(s.put_guests(&batch).await, "sourceUpn");
    assert!(
        s.list_guests(t).await.unwrap().is_empty(),
        "nothing half-written"
    );

    let mut g = guest(t, 1);
    g.source_upn = "a\u{7}b@source.example".into();
    assert_invalid(s.put_guest(&g).await, "sourceUpn");
    let mut g = guest(t, 2);
    g.last_error = Some("x".repeat(100_000));
    assert_invalid(s.put_guest(&g).await, "lastError");
    let mut g = guest(t, 3);
    g.host_upn = Some("h".repeat(2_000));
    assert_invalid(s.put_guest_if(&g, None).await, "hostUpn");
    assert!(s.list_guests(t).await.unwrap().is_empty());

    let mut r = run(t, Duration::hours(1), true);
    r.finished_at = Some(r.started_at - Duration::seconds(1));
    assert_invalid(s.put_run(&r).await, "finishedAt");
    assert_eq!(s.get_run(t, r.run_id).await.unwrap(), None);

    let mut bad = audit(t, Duration::zero(), "");
    assert_invalid(
        s.append_audit(&[audit(t, Duration::zero(), "invite"), bad.clone()])
            .await,
        "operation",
    );
    bad.operation = "patch".into();
    bad.detail = Some("d".repeat(50_000));
    assert_invalid(s.append_audit(&[bad]).await, "detail");
    assert!(s.list_audit(Some(t), 10).await.unwrap().is_empty());

    let mut tn = tenant("  ");
    assert_invalid(s.put_tenant(&tn).await, "displayName");
    tn.display_name = "Fabrikam".into();
    tn.options.user_type = "Admin".into();
    assert_invalid(s.put_tenant(&tn).await, "userType");
    assert_eq!(s.get_tenant(tn.tenant_id).await.unwrap(), None);

    assert_invalid(
        s.try_acquire(t, Job::Reconcile, "", Duration::seconds(5))
            .await,
        "holder",
    );
    assert_invalid(
        s.list_guests_page(t, Some("not-a-token".into()), 10).await,
        "continuation",
    );
}

/// A tenant with 100,000 guests: all saved in one call and listed back.
pub async fn large_tenant_round_trips(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let gs: Vec<_> = (0..100_000).map(|n| guest(t, n)).collect();
    s.put_guests(&gs).await.unwrap();
    let back = s.list_guests(t).await.unwrap();
    assert_eq!(back.len(), 100_000);
    assert_eq!(sorted(back), sorted(gs));
}

/// `len` bytes of pseudo-random data (xorshift from `seed`): no runs or
/// patterns a backend could get right by accident.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Snapshot chunks read back byte-exact: empty, small, spanning several
/// 64 KiB parts, and exactly SNAPSHOT_CHUNK_MAX bytes; a put replaces the
/// chunk; an absent chunk or run is None.
pub async fn snapshot_chunks_round_trip(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let run = uuid::Uuid::new_v4();
    let chunks = [
        Vec::new(),
        b"small".to_vec(),
        noise(3 * 64 * 1024 + 123, 1),
        noise(SNAPSHOT_CHUNK_MAX, 2),
    ];
    for (i, c) in chunks.iter().enumerate() {
        s.put_snapshot_chunk(t, run, i as u32, c).await.unwrap();
    }
    for (i, c) in chunks.iter().enumerate() {
        let back = s.get_snapshot_chunk(t, run, i as u32).await.unwrap();
        assert!(
            back.as_ref() == Some(c),
            "chunk {i} ({} bytes) came back as {:?} bytes",
            c.len(),
            back.map(|b| b.len())
        );
    }

    // A put replaces, shorter or longer.
    let shorter = noise(70_000, 3);
    s.put_snapshot_chunk(t, run, 3, &shorter).await.unwrap();
    assert_eq!(
        s.get_snapshot_chunk(t, run, 3).await.unwrap(),
        Some(shorter)
    );
    let longer = noise(200_000, 4);
    s.put_snapshot_chunk(t, run, 1, &longer).await.unwrap();
    assert_eq!(s.get_snapshot_chunk(t, run, 1).await.unwrap(), Some(longer));
    s.put_snapshot_chunk(t, run, 2, b"").await.unwrap();
    assert_eq!(s.get_snapshot_chunk(t, run, 2).await.unwrap(), Some(vec![]));

    // Absent: another index, another run, another tenant.
    assert_eq!(s.get_snapshot_chunk(t, run, 4).await.unwrap(), None);
    assert_eq!(
        s.get_snapshot_chunk(t, uuid::Uuid::new_v4(), 0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.get_snapshot_chunk(Guid::new_v4(), run, 0).await.unwrap(),
        None
    );
}

/// Chunks of two runs and two tenants are independent; deleting a
/// tenant's snapshots removes every chunk of all its runs, counts them,
/// and leaves the other tenant's.
pub async fn snapshots_are_kept_per_run_and_deleted_per_tenant(s: Arc<dyn Store>) {
    let (t1, t2) = (Guid::new_v4(), Guid::new_v4());
    let (r1, r2) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    // Same indexes everywhere, different bytes.
    let data = |t: usize, r: usize, i: u32| {
        noise(100 + 37 * i as usize, (t * 100 + r * 10) as u64 + i as u64)
    };
    let cells = [(0, t1, 0, r1), (0, t1, 1, r2), (1, t2, 0, r1)];
    for (ti, t, ri, r) in cells {
        for i in 0..3 {
            s.put_snapshot_chunk(t, r, i, &data(ti, ri, i))
                .await
                .unwrap();
        }
    }
    // A fourth chunk for one run only.
    s.put_snapshot_chunk(t1, r2, 3, &data(0, 1, 3))
        .await
        .unwrap();
    for (ti, t, ri, r) in cells {
        for i in 0..3 {
            assert_eq!(
                s.get_snapshot_chunk(t, r, i).await.unwrap(),
                Some(data(ti, ri, i)),
                "tenant {ti} run {ri} chunk {i}"
            );
        }
    }
    assert_eq!(s.get_snapshot_chunk(t1, r1, 3).await.unwrap(), None);
    assert_eq!(s.get_snapshot_chunk(t2, r2, 0).await.unwrap(), None);

    assert_eq!(s.delete_snapshots(t1).await.unwrap(), 7);
    for r in [r1, r2] {
        for i in 0..4 {
            assert_eq!(s.get_snapshot_chunk(t1, r, i).await.unwrap(), None);
        }
    }
    for i in 0..3 {
        assert_eq!(
            s.get_snapshot_chunk(t2, r1, i).await.unwrap(),
            Some(data(1, 0, i))
        );
    }
    // Nothing left to delete; the other tenant's go on their own.
    assert_eq!(s.delete_snapshots(t1).await.unwrap(), 0);
    assert_eq!(s.delete_snapshots(t2).await.unwrap(), 3);
    assert_eq!(s.get_snapshot_chunk(t2, r1, 0).await.unwrap(), None);
}

/// A chunk larger than SNAPSHOT_CHUNK_MAX is refused with Invalid and
/// writes nothing: no new chunk, and an existing one keeps its bytes.
pub async fn oversized_snapshot_chunks_are_refused(s: Arc<dyn Store>) {
    let t = Guid::new_v4();
    let run = uuid::Uuid::new_v4();
    let big = noise(SNAPSHOT_CHUNK_MAX + 1, 5);
    match s.put_snapshot_chunk(t, run, 0, &big).await {
        Err(StoreError::Invalid(m)) => assert!(m.contains("snapshot chunk"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(s.get_snapshot_chunk(t, run, 0).await.unwrap(), None);

    let kept = noise(1000, 6);
    s.put_snapshot_chunk(t, run, 1, &kept).await.unwrap();
    assert!(matches!(
        s.put_snapshot_chunk(t, run, 1, &big).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(s.get_snapshot_chunk(t, run, 1).await.unwrap(), Some(kept));
    assert_eq!(s.delete_snapshots(t).await.unwrap(), 1);
}

/// Generates one `#[tokio::test]` per conformance check for a backend.
/// `$make` is an async fn returning `(Arc<dyn Store>, guard)`; the guard
/// keeps the backend (temp dir, Azurite) alive for the test.
macro_rules! conformance_suite {
    ($make:path) => {
        /// Records read back exactly as written; deletes remove them.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn records_round_trip() {
            let (s, _g) = $make().await;
            $crate::store::conformance::records_round_trip(s).await;
        }
        /// Runs and audit list newest first, per tenant and overall.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn history_lists_newest_first() {
            let (s, _g) = $make().await;
            $crate::store::conformance::history_lists_newest_first(s).await;
        }
        /// 2,500 guests page through continuations, each exactly once.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn guest_pages_follow_continuations() {
            let (s, _g) = $make().await;
            $crate::store::conformance::guest_pages_follow_continuations(s).await;
        }
        /// Stale conditional writes fail with Conflict.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn stale_writes_conflict() {
            let (s, _g) = $make().await;
            $crate::store::conformance::stale_writes_conflict(s).await;
        }
        /// Leases exclude a second holder and expire.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn leases_exclude_and_expire() {
            let (s, _g) = $make().await;
            $crate::store::conformance::leases_exclude_and_expire(s).await;
        }
        /// Ten concurrent acquirers: exactly one wins.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn lease_contention_has_one_winner() {
            let (s, _g) = $make().await;
            $crate::store::conformance::lease_contention_has_one_winner(s).await;
        }
        /// Prune removes only old, finished history.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn prune_removes_only_old_history() {
            let (s, _g) = $make().await;
            $crate::store::conformance::prune_removes_only_old_history(s).await;
        }
        /// Bad records are rejected naming the field; nothing half-written.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn bad_records_are_rejected_whole() {
            let (s, _g) = $make().await;
            $crate::store::conformance::bad_records_are_rejected_whole(s).await;
        }
        /// 100,000 guests of one tenant are saved and listed back.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn large_tenant_round_trips() {
            let (s, _g) = $make().await;
            $crate::store::conformance::large_tenant_round_trips(s).await;
        }
        /// Snapshot chunks read back byte-exact; a put replaces; absent is None.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn snapshot_chunks_round_trip() {
            let (s, _g) = $make().await;
            $crate::store::conformance::snapshot_chunks_round_trip(s).await;
        }
        /// Snapshots are independent per run and tenant; deleting a
        /// tenant's removes all its runs' chunks and counts them.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn snapshots_are_kept_per_run_and_deleted_per_tenant() {
            let (s, _g) = $make().await;
            $crate::store::conformance::snapshots_are_kept_per_run_and_deleted_per_tenant(s).await;
        }
        /// An oversized snapshot chunk is refused and writes nothing.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn oversized_snapshot_chunks_are_refused() {
            let (s, _g) = $make().await;
            $crate::store::conformance::oversized_snapshot_chunks_are_refused(s).await;
        }
    };
}
