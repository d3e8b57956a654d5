//! The engine under stress: Graph faults, runs dropped at any write, and
//! the requests-per-guest budget, all against the simulator.
use std::collections::HashMap;

use guest_sync::devtools::sim::{Faults, SimConfig};
use guest_sync::domain::{GuestState, Guid, Job, TenantOptions};
use guest_sync::engine::{run_job, NoProgress};
use serde_json::json;

use super::{b, s, H};

/// Asserts the exact desired end state for `users` (all in scope, with
/// the default profile unless renamed): one live guest per user, linked in
/// its record, nothing else with that address.
pub(super) async fn assert_converged(
    h: &H,
    users: &[Guid],
    expect: &HashMap<Guid, (String, bool)>,
) {
    let recs = h.records().await;
    for (i, u) in users.iter().enumerate() {
        let mail = format!("user{i}@contoso.example");
        let live = h.host_users_with_mail(&mail);
        let r = &recs[u];
        match expect.get(u) {
            None => {
                assert_eq!(live.len(), 0, "user {i} should be gone");
                assert_eq!(r.state, GuestState::Deprovisioned);
            }
            Some((name, enabled)) => {
                assert_eq!(live.len(), 1, "user {i}: {} live guests", live.len());
                assert_eq!(r.host_user_id, Some(live[0].id), "user {i} not linked");
                assert_eq!(s(&live[0], "displayName"), Some(name.as_str()));
                assert_eq!(s(&live[0], "department"), Some("Sales"));
                assert_eq!(b(&live[0], "accountEnabled"), Some(*enabled));
                assert!(r.last_error.is_none(), "user {i}: {:?}", r.last_error);
            }
        }
    }
}

/// Renames source user `renamed` to "Renamed" and disables `disabled`.
fn rename_and_disable(h: &H, renamed: Guid, disabled: Guid) {
    for (u, change) in [
        (renamed, json!({"displayName": "Renamed"})),
        (disabled, json!({"accountEnabled": false})),
    ] {
        h.sim
            .update_user(h.src, u, change.as_object().cloned().unwrap());
    }
}

/// Runs reconcile until a run ends without failures (at most `n` runs).
async fn reconcile_until_clean(h: &H, n: usize) {
    for _ in 0..n {
        let out = h.reconcile().await;
        if out.counts.failed == 0 {
            return;
        }
    }
    panic!("reconcile did not come clean in {n} runs");
}

/// A first sync of N users costs exactly two writes per user (invite and
/// profile) and a second run with no change costs none.
#[tokio::test]
async fn first_sync_costs_two_writes_per_guest_and_a_quiet_run_none() {
    let h = H::fast().await;
    let n = 40;
    h.members(n);
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, n as u64);
    let c = h.sim.counts();
    assert_eq!(c.writes_total(), 2 * n as u64);
    assert_eq!(c.writes_by_op["invite"].len(), n);
    assert_eq!(c.writes_by_op["patch"].len(), n);

    // The next run reads only changes: none, so nothing is looked at.
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.unchanged, 0);
    assert_eq!(h.sim.counts().writes_total(), 0);
    // A full read looks at every guest and still writes nothing.
    let mut h = h;
    h.ctx.force_full = true;
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.unchanged, n as u64);
    assert_eq!(h.sim.counts().writes_total(), 0);
    assert_eq!(
        h.sim.counts().kind("write") + h.sim.counts().kind("invite"),
        0
    );
}

/// With 5xx answers, dropped connections, throttling and
/// eventual-consistency 404s on, the
/// scenarios (new members, a rename, a leaver, a disabled account)
/// converge to exactly the desired state with no duplicate guest.
#[tokio::test]
async fn faults_throttling_and_eventual_consistency_still_converge() {
    let mut cfg = SimConfig::fast();
    cfg.faults = Faults {
        error_5xx_rate: 0.1,
        drop_rate: 0.03,
        ..Faults::default()
    };
    cfg.consistency_window_ms = 3_000;
    let h = H::start(cfg, &[], TenantOptions::default()).await;
    let users = h.members(20);
    // Past the consistency window of the scope group the setup just
    // created (a 404 on the scope group is a misconfiguration, not a retry).
    h.sim.advance(5.0);
    reconcile_until_clean(&h, 6).await;
    let mut expect: HashMap<Guid, (String, bool)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (*u, (format!("User {i}"), true)))
        .collect();
    h.sim.set_faults(Faults::default());
    assert_converged(&h, &users, &expect).await;

    h.sim.set_faults(Faults {
        error_5xx_rate: 0.1,
        drop_rate: 0.03,
        ..Faults::default()
    });
    rename_and_disable(&h, users[0], users[1]);
    h.sim.remove_member(h.src, h.group, users[2]);
    let extra = h.new_user(20);
    h.sim.add_member(h.src, h.group, extra);
    reconcile_until_clean(&h, 6).await;
    h.sim.set_faults(Faults::default());
    expect.insert(users[0], ("Renamed".into(), true));
    expect.insert(users[1], ("User 1".into(), false));
    expect.remove(&users[2]);
    let mut all = users.clone();
    all.push(extra);
    expect.insert(extra, ("User 20".into(), true));
    assert_converged(&h, &all, &expect).await;
}

/// A reconcile dropped after k writes (for many k), then run again,
/// converges: every user has exactly one guest, linked in its record.
#[tokio::test]
async fn a_run_dropped_after_any_write_converges_without_duplicates() {
    let mut crashed = 0;
    for k in [1u64, 2, 3, 4, 5, 7, 9, 12, 15] {
        let h = H::fast().await;
        let users = h.members(8);
        h.sim.reset_counts();
        let t = h.stored_tenant().await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let run = run_job(
            &h.ctx,
            &t,
            Job::Reconcile,
            uuid::Uuid::new_v4(),
            None,
            deadline,
            &NoProgress,
        );
        let sim = h.sim.clone();
        let crash = async move {
            while sim.counts().writes_total() < k {
                tokio::time::sleep(std::time::Duration::from_micros(200)).await;
            }
        };
        crashed += tokio::select! {
            _ = run => 0,
            _ = crash => 1,
        };
        reconcile_until_clean(&h, 3).await;
        let expect: HashMap<Guid, (String, bool)> = users
            .iter()
            .enumerate()
            .map(|(i, u)| (*u, (format!("User {i}"), true)))
            .collect();
        assert_converged(&h, &users, &expect).await;
        for u in &users {
            assert!(
                !h.record(*u).await.adopted,
                "k={k}: our own invite was recorded as adopted"
            );
        }
        h.sim.reset_counts();
        h.reconcile().await;
        assert_eq!(h.sim.counts().writes_total(), 0, "k={k}: not converged");
    }
    assert!(
        crashed >= 7,
        "only {crashed} of 9 runs were stopped part-way"
    );
}

/// A job given a deadline that has already passed still makes progress
/// (the executor's minimum per slice, so continuations never spin), hands
/// back a continuation, and following it finishes the job.
#[tokio::test]
async fn a_job_out_of_time_makes_minimum_progress_and_continues() {
    let h = H::fast().await;
    h.members(7);
    let t = h.stored_tenant().await;
    let mut ctx = h.ctx.clone();
    ctx.concurrency = 1;
    let min = guest_sync::engine::execute::MIN_PROGRESS_PER_CONCURRENCY as u64;
    let run_id = uuid::Uuid::new_v4();
    let out = run_job(
        &ctx,
        &t,
        Job::Reconcile,
        run_id,
        None,
        tokio::time::Instant::now(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.cursor.is_some());
    assert_eq!(out.counts.created, min);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let out = run_job(
        &ctx,
        &t,
        Job::Reconcile,
        run_id,
        out.cursor,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.cursor.is_none());
    assert_eq!(out.counts.created, 7 - min);
    let run = h.store.get_run(h.src, run_id).await.unwrap().unwrap();
    assert_eq!(run.counts.created, 7);
    assert!(run.finished_at.is_some());
}

/// Guests invited as `Member` (tenant option) are not in a guest listing;
/// a second run still finds them by id and writes nothing.
#[tokio::test]
async fn member_type_guests_are_found_by_id_and_not_invited_again() {
    let options = TenantOptions {
        user_type: "Member".into(),
        ..TenantOptions::default()
    };
    let mut h = H::start(SimConfig::fast(), &[], options).await;
    let users = h.members(3);
    h.reconcile().await;
    assert_eq!(s(&h.guest(users[0]).await, "userType"), Some("Member"));
    // A full read (an incremental one would not look at them at all).
    h.ctx.force_full = true;
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.unchanged, 3);
    assert_eq!(h.sim.counts().writes_total(), 0);
    assert_eq!(h.host_users_with_mail("user0@contoso.example").len(), 1);
}

/// The photo job out of time hands back a cursor; the continuation copies
/// the photos.
#[tokio::test]
async fn the_photo_job_continues_with_a_cursor() {
    let h = H::fast().await;
    let users = h.members(3);
    for u in &users {
        h.sim.set_photo(h.src, *u, vec![7; 16]);
    }
    h.reconcile().await;
    h.clock.advance_secs(400);
    let t = h.stored_tenant().await;
    let run_id = uuid::Uuid::new_v4();
    let out = run_job(
        &h.ctx,
        &t,
        Job::Photos,
        run_id,
        None,
        tokio::time::Instant::now(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.cursor.is_some());
    assert_eq!(out.counts.photos_copied, 0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let out = run_job(
        &h.ctx,
        &t,
        Job::Photos,
        run_id,
        out.cursor,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(out.cursor.is_none());
    assert_eq!(out.counts.photos_copied, 3);
    for u in &users {
        assert!(h.guest(*u).await.photo.is_some());
    }
}

/// Adoption, deletion and restore, and photo copies also converge with
/// 5xx answers, dropped connections and eventual consistency on.
#[tokio::test]
async fn adoption_restore_and_photos_converge_under_faults() {
    let mut cfg = SimConfig::fast();
    cfg.consistency_window_ms = 3_000;
    let h = H::start(cfg, &[], TenantOptions::default()).await;
    let faults = Faults {
        error_5xx_rate: 0.15,
        drop_rate: 0.03,
        ..Faults::default()
    };
    let existing = h
        .sim
        .create_guest(h.host, "user0@contoso.example", "Old Name");
    let users = h.members(6);
    for u in &users {
        h.sim.set_photo(h.src, *u, vec![3; 32]);
    }
    // Past the consistency window of the scope group the setup just
    // created (a real group is not read seconds after its creation; a 404
    // on it is a misconfiguration, not a retry).
    h.sim.advance(5.0);
    h.sim.set_faults(faults.clone());
    reconcile_until_clean(&h, 6).await;
    h.sim.remove_member(h.src, h.group, users[1]);
    reconcile_until_clean(&h, 6).await;
    h.sim.add_member(h.src, h.group, users[1]);
    reconcile_until_clean(&h, 6).await;
    h.clock.advance_secs(400);
    let mut copied = 0;
    for _ in 0..6 {
        let out = h.run(Job::Photos).await;
        copied += out.counts.photos_copied;
        if out.counts.failed == 0 {
            break;
        }
    }
    h.sim.set_faults(Faults::default());

    let expect: HashMap<Guid, (String, bool)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (*u, (format!("User {i}"), true)))
        .collect();
    assert_converged(&h, &users, &expect).await;
    assert_eq!(h.record(users[0]).await.host_user_id, Some(existing));
    assert!(h.record(users[0]).await.adopted);
    assert_eq!(
        h.sim.deleted_users(h.host).len(),
        0,
        "the returning user was not restored"
    );
    assert_eq!(copied, 6);
    for u in &users {
        assert!(h.guest(*u).await.photo.is_some());
    }
    h.sim.reset_counts();
    h.reconcile().await;
    h.run(Job::Photos).await;
    assert_eq!(h.sim.counts().writes_total(), 0);
}

/// A large tenant's full read is planned and applied in parts (one part's
/// actions in memory at a time): the directory ends exactly as with one
/// whole plan, and the deletion guard still sees every removal at once.
#[tokio::test]
async fn a_plan_applied_in_parts_converges_and_the_guard_sees_every_part() {
    let mut h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_MAX_DEPROVISIONS", "3")],
        TenantOptions::default(),
    )
    .await;
    h.ctx.plan_part_users = 4;
    h.ctx.force_full = true;
    let users = h.members(20);
    h.sim.reset_counts();
    let (cap, _g) = crate::support::logs::Capture::scoped();
    let out = h.reconcile().await;
    let log = cap.text();
    assert!(log.contains("the plan is applied in parts"), "{log}");
    assert!(log.contains("\"parts\":5"), "{log}");
    assert_eq!(out.counts.created, 20);
    assert_eq!(h.sim.counts().writes_total(), 40, "two writes per guest");
    let mut expect: HashMap<Guid, (String, bool)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (*u, (format!("User {i}"), true)))
        .collect();
    assert_converged(&h, &users, &expect).await;

    // Changes spread over every part: a rename, a disabled account, two
    // leavers, a joiner.
    rename_and_disable(&h, users[0], users[1]);
    for u in &users[2..4] {
        h.sim.remove_member(h.src, h.group, *u);
    }
    let extra = h.new_user(20);
    h.sim.add_member(h.src, h.group, extra);
    let out = h.reconcile().await;
    assert_eq!(out.counts.unchanged, 16);
    expect.insert(users[0], ("Renamed".into(), true));
    expect.insert(users[1], ("User 1".into(), false));
    expect.remove(&users[2]);
    expect.remove(&users[3]);
    expect.insert(extra, ("User 20".into(), true));
    let mut all = users.clone();
    all.push(extra);
    assert_converged(&h, &all, &expect).await;

    // Six leavers, spread over the parts, against a limit of 3 per 24
    // hours of which the two removals above used 2: the guard holds all
    // six, whichever part each is in.
    for u in &users[4..10] {
        h.sim.remove_member(h.src, h.group, *u);
    }
    h.sim.reset_counts();
    let out = h.reconcile().await;
    let g = out.guard.expect("the guard tripped");
    assert_eq!((g.wanted, g.limit), (6, 1));
    assert_eq!(out.counts.held_back, 6);
    assert_eq!(h.sim.counts().writes_total(), 0);
    for u in &users[4..10] {
        assert_eq!(
            h.guest(*u).await.id,
            h.record(*u).await.host_user_id.unwrap()
        );
    }
}
