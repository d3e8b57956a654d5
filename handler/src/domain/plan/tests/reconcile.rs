//! Worked examples of the reconcile plan: invite, adopt and release,
//! corrections, the incomplete read and the guard, restore.
use serde_json::json;

use super::model::{Ev, Setup, Sim};
use super::*;
use crate::domain::policy::MaxDeprovisions;
use crate::domain::records::GuestState;

/// A new member is invited with the full wanted profile (one invite, one
/// PATCH); a second plan after applying is empty.
#[test]
fn new_member_is_invited_once_with_its_profile() {
    let s = Setup {
        options: TenantOptions::default(),
        mode: DeprovisionMode::Delete,
        max: MaxDeprovisions::Count(5),
        group: false,
    };
    let mut sim = Sim::new(&s);
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    let p = sim.plan(true);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.writes(), 2);
    match &p.actions[0].kind {
        ActionKind::Invite {
            address, changes, ..
        } => {
            assert_eq!(address, "u1@src.example");
            assert_eq!(changes.set["department"], json!("Sales"));
        }
        other => panic!("expected an invite, got {other:?}"),
    }
    sim.world.apply(&p, usize::MAX, t0());
    assert!(sim.plan(true).is_empty());
}

/// A guest already in the host under the invite address is adopted, not
/// invited, and is released (not deleted) when it leaves scope.
#[test]
fn pre_existing_guest_is_adopted_and_released_not_deleted() {
    let s = Setup {
        options: TenantOptions::default(),
        mode: DeprovisionMode::Delete,
        max: MaxDeprovisions::Count(5),
        group: false,
    };
    let mut sim = Sim::new(&s);
    sim.step(&Ev::Unmanaged(2, false));
    sim.step(&Ev::Source(vec![(2, true, 1)]));
    let p = sim.plan(true);
    assert!(
        matches!(
            p.actions[0].kind,
            ActionKind::Adopt {
                taken_over: true,
                ..
            }
        ),
        "{p:#?}"
    );
    sim.world.apply(&p, usize::MAX, t0());
    sim.step(&Ev::Source(vec![]));
    let p = sim.plan(true);
    assert!(
        matches!(p.actions[0].kind, ActionKind::Release { .. }),
        "{p:#?}"
    );
}

/// A manual edit and a redemption's display-name overwrite are corrected
/// field by field, and the redemption is recorded.
#[test]
fn manual_edits_and_redemption_overwrites_are_corrected() {
    let s = Setup {
        options: TenantOptions::default(),
        mode: DeprovisionMode::Delete,
        max: MaxDeprovisions::Count(5),
        group: false,
    };
    let mut sim = Sim::new(&s);
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    sim.step(&Ev::Sync {
        complete: true,
        crash_after: None,
    });
    sim.step(&Ev::HostEdit(0));
    sim.step(&Ev::Redeem(0));
    let p = sim.plan(true);
    assert_eq!(p.actions.len(), 1, "{p:#?}");
    match &p.actions[0].kind {
        ActionKind::Update { changes, .. } => {
            assert_eq!(
                changes.set.keys().collect::<Vec<_>>(),
                vec!["department", "displayName"]
            );
            assert_eq!(changes.account_enabled, None);
        }
        other => panic!("expected an update, got {other:?}"),
    }
    assert_eq!(p.actions[0].record.state, GuestState::Accepted);
    assert!(p.actions[0].record.redeemed_at.is_some());
}

/// An incomplete read holds every removal back; a removal count over the
/// guard removes nobody and reports the trip; a confirmation lets it pass.
#[test]
fn incomplete_read_and_guard_hold_removals_back() {
    let s = Setup {
        options: TenantOptions::default(),
        mode: DeprovisionMode::Delete,
        max: MaxDeprovisions::Count(1),
        group: false,
    };
    let mut sim = Sim::new(&s);
    sim.step(&Ev::Source(vec![(1, true, 0), (2, true, 0), (3, true, 0)]));
    sim.step(&Ev::Sync {
        complete: true,
        crash_after: None,
    });
    sim.step(&Ev::Source(vec![(3, true, 0)]));
    let p = sim.plan(false);
    assert!(p.actions.is_empty());
    assert_eq!(p.held_back.len(), 2);
    assert!(p
        .held_back
        .iter()
        .all(|h| h.reason == HoldReason::IncompleteSourceRead));
    let p = sim.plan(true);
    assert!(p.actions.is_empty());
    assert_eq!(
        p.guard,
        Some(GuardTrip {
            wanted: 2,
            limit: 1
        })
    );
    sim.policy.confirmed_deprovisions = Some(2);
    let p = sim.plan(true);
    assert_eq!(p.summary().get("deprovision"), Some(&2));
}

/// A returning user whose guest we deleted is restored (same object), not
/// invited again.
#[test]
fn returning_user_is_restored() {
    let s = Setup {
        options: TenantOptions::default(),
        mode: DeprovisionMode::Delete,
        max: MaxDeprovisions::Count(5),
        group: false,
    };
    let mut sim = Sim::new(&s);
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    sim.step(&Ev::Sync {
        complete: true,
        crash_after: None,
    });
    let host_id = sim.world.records[0].host_user_id;
    sim.step(&Ev::Source(vec![]));
    sim.step(&Ev::Sync {
        complete: true,
        crash_after: None,
    });
    assert_eq!(sim.world.records[0].state, GuestState::Deprovisioned);
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    let p = sim.plan(true);
    assert!(
        matches!(p.actions[0].kind, ActionKind::Restore { host_id: h, .. } if Some(h) == host_id),
        "{p:#?}"
    );
}
