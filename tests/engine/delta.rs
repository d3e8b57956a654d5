//! Incremental reconcile (`docs/engine.md`, "Incremental reconcile")
//! against the simulator's delta queries over HTTP: after a full read, a
//! reconcile reads only changes, applies joins, leaves, profile changes,
//! deleted source users and host administrators' changes; falls back to a
//! full read when a link expires or the scope's groups change; keeps the
//! deletion guard; and a quiet run costs a handful of requests.
use guest_sync::devtools::sim::SimConfig;
use guest_sync::domain::{GuestState, Guid, TenantOptions};
use serde_json::json;

use super::H;

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap()
}

/// Whether the tenant has active delta links (the next run reads changes).
async fn tracking(h: &H) -> bool {
    h.stored_tenant()
        .await
        .delta
        .is_some_and(|d| d.active.is_some())
}

/// The host guest of a source user.
async fn guest(h: &H, user: Guid) -> Guid {
    h.record(user).await.host_user_id.unwrap()
}

/// A tenant with `n` members, synced once (full), links active.
async fn synced(n: usize) -> (H, Vec<Guid>) {
    let h = H::fast().await;
    let u = h.members(n);
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, n as u64);
    assert!(
        tracking(&h).await,
        "a complete full read leaves delta links"
    );
    (h, u)
}

#[tokio::test]
async fn a_quiet_run_reads_only_changes_and_writes_nothing() {
    let (h, _) = synced(30).await;
    // The first delta round sees the guests the full run created (its own
    // writes) and re-plans them: nothing to do.
    let out = h.reconcile().await;
    assert_eq!(out.counts.created + out.counts.updated, 0);
    h.sim.reset_counts();
    let out = h.reconcile().await;
    let c = h.sim.counts();
    assert_eq!(c.writes_total(), 0);
    assert_eq!(
        out.counts.created + out.counts.updated + out.counts.deprovisioned,
        0
    );
    // Three delta rounds (source groups, source users, host users), one
    // page each: no member or guest listing.
    assert!(
        c.total <= 4,
        "a quiet run made {} requests: {:?}",
        c.total,
        c.by_kind
    );
}

#[tokio::test]
async fn joins_leaves_profile_changes_and_deleted_users_are_applied_from_changes() {
    // 30 guests: two removals stay under the guard's 10%.
    let (h, u) = synced(30).await;
    h.reconcile().await; // settle the echo of the first run's writes
    let joiner = h.new_user(50);
    h.sim.add_member(h.src, h.group, joiner);
    h.sim.remove_member(h.src, h.group, u[0]);
    h.sim
        .update_user(h.src, u[1], obj(json!({"jobTitle": "Director"})));
    h.sim.delete_user(h.src, u[2]);
    let left = guest(&h, u[0]).await;
    let deleted = guest(&h, u[2]).await;
    h.sim.reset_counts();
    let (cap, _g) = crate::support::logs::Capture::scoped();
    let out = h.reconcile().await;
    let log = cap.text();
    assert!(log.contains("reconcile reads changes only"), "{log}");
    assert!(!log.contains("reads both sides whole"), "{log}");
    assert_eq!(out.counts.created, 1, "{out:?}");
    assert_eq!(out.counts.deprovisioned, 2, "{out:?}");
    assert!(h.sim.user(h.host, left).is_none());
    assert!(h.sim.user(h.host, deleted).is_none());
    let changed = h.sim.user(h.host, guest(&h, u[1]).await).unwrap();
    assert_eq!(changed.attributes["jobTitle"], "Director");
    let new_guest = guest(&h, joiner).await;
    assert!(h.sim.user(h.host, new_guest).is_some());
    // Two writes for the new guest (invite + PATCH), one PATCH, two DELETEs.
    assert_eq!(h.sim.counts().writes_total(), 2 + 1 + 2);
    assert_eq!(h.record(u[0]).await.state, GuestState::Deprovisioned);
    assert!(tracking(&h).await);
}

#[tokio::test]
async fn a_guest_a_host_administrator_disabled_is_held_by_a_delta_run() {
    let (h, u) = synced(3).await;
    h.reconcile().await;
    let g = guest(&h, u[0]).await;
    h.sim
        .update_user(h.host, g, obj(json!({"accountEnabled": false})));
    h.reconcile().await;
    assert_eq!(h.record(u[0]).await.state, GuestState::Held);
    assert_eq!(
        h.sim.user(h.host, g).unwrap().attributes["accountEnabled"],
        false
    );
}

#[tokio::test]
async fn nested_groups_keep_scope_transitive() {
    let h = H::fast().await;
    let u = h.members(2);
    let team = h.sim.create_group(h.src, "Team");
    h.sim.add_member(h.src, h.group, team);
    let nested = h.new_user(10);
    h.sim.add_member(h.src, team, nested);
    h.reconcile().await;
    h.reconcile().await;
    assert!(tracking(&h).await);
    // Joins through the nested group.
    let joiner = h.new_user(11);
    h.sim.add_member(h.src, team, joiner);
    // In both groups, removed from one: still in scope.
    h.sim.add_member(h.src, team, u[0]);
    h.reconcile().await;
    h.sim.remove_member(h.src, h.group, u[0]);
    // Removed from the nested group only: out.
    h.sim.remove_member(h.src, team, nested);
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 1, "{out:?}");
    assert_eq!(h.record(nested).await.state, GuestState::Deprovisioned);
    assert_ne!(h.record(u[0]).await.state, GuestState::Deprovisioned);
    assert_ne!(h.record(joiner).await.state, GuestState::Deprovisioned);
    assert!(h.sim.user(h.host, guest(&h, joiner).await).is_some());
    // A group added to the scope: the structure changed, read whole.
    let other = h.sim.create_group(h.src, "Other");
    let via_other = h.new_user(12);
    h.sim.add_member(h.src, other, via_other);
    h.sim.add_member(h.src, team, other);
    h.reconcile().await;
    assert!(h.sim.user(h.host, guest(&h, via_other).await).is_some());
    assert!(tracking(&h).await, "the full read takes new links");
}

#[tokio::test]
async fn an_expired_link_falls_back_to_a_full_read() {
    let (h, _) = synced(4).await;
    h.reconcile().await;
    h.sim.expire_delta_tokens(h.src);
    let joiner = h.new_user(40);
    h.sim.add_member(h.src, h.group, joiner);
    let (cap, _g) = crate::support::logs::Capture::scoped();
    let out = h.reconcile().await;
    assert!(cap.text().contains("delta link expired"), "{}", cap.text());
    assert_eq!(out.counts.created, 1);
    assert!(tracking(&h).await);
    // And the next run is incremental again.
    h.reconcile().await;
    h.sim.reset_counts();
    h.reconcile().await;
    assert!(h.sim.counts().total <= 4);
}

#[tokio::test]
async fn the_deletion_guard_holds_mass_leaves_seen_as_changes() {
    // The test world allows 50%: 12 of 20 leaving is over it.
    let (h, u) = synced(20).await;
    h.reconcile().await;
    for x in &u[..12] {
        h.sim.remove_member(h.src, h.group, *x);
    }
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 0, "{out:?}");
    assert!(out.guard.is_some());
    assert!(h.stored_tenant().await.guard.is_some());
    for x in &u[..12] {
        assert!(h.sim.user(h.host, guest(&h, *x).await).is_some());
    }
}

#[tokio::test]
async fn delta_off_reads_whole_every_time() {
    let h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_FULL_RECONCILE_HOURS", "0")],
        TenantOptions::default(),
    )
    .await;
    h.members(3);
    h.reconcile().await;
    assert!(!tracking(&h).await);
    let joiner = h.new_user(9);
    h.sim.add_member(h.src, h.group, joiner);
    assert_eq!(h.reconcile().await.counts.created, 1);
}

#[tokio::test]
async fn the_daily_full_read_comes_back_on_schedule() {
    let (h, _) = synced(2).await;
    let before = h
        .stored_tenant()
        .await
        .delta
        .unwrap()
        .active
        .unwrap()
        .full_at;
    h.clock.advance_secs(25 * 3600);
    h.reconcile().await;
    let after = h
        .stored_tenant()
        .await
        .delta
        .unwrap()
        .active
        .unwrap()
        .full_at;
    assert!(
        after > before,
        "a full read past the interval takes new links"
    );
}
