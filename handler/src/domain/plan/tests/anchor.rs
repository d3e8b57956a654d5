//! Worked examples of the ownership anchor: written at invite, re-linking
//! a lost store (a leaver is still removed), guests of another tenant
//! never taken over, guests found disabled left as they are.
use super::model::{Ev, Setup, Sim};
use super::*;
use crate::domain::policy::MaxDeprovisions;
use crate::domain::records::GuestState;
use crate::domain::{Anchor, AnchorAttribute};

fn setup() -> Setup {
    Setup {
        options: TenantOptions::default(),
        mode: DeprovisionMode::Delete,
        max: MaxDeprovisions::Count(5),
        group: false,
    }
}

fn synced(members: Vec<(u128, bool, u8)>) -> Sim {
    let mut sim = Sim::new(&setup());
    sim.step(&Ev::Source(members));
    sim.step(&Ev::Sync {
        complete: true,
        crash_after: None,
    });
    sim
}

/// The invite's PATCH carries `<tenant>/<source user>`.
#[test]
fn an_invite_writes_our_anchor() {
    let mut sim = Sim::new(&setup());
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    let p = sim.plan(true);
    let ActionKind::Invite { changes, .. } = &p.actions[0].kind else {
        panic!("expected an invite: {p:#?}");
    };
    let w = changes.anchor.as_ref().expect("anchor written at invite");
    assert_eq!(w.anchor, Anchor::new(tenant(), uid(1)));
    assert_eq!(w.attribute, AnchorAttribute::Extension(15));
    assert_eq!(
        changes.to_patch()["onPremisesExtensionAttributes"]["extensionAttribute15"],
        serde_json::json!(format!("{}/{}", tenant(), uid(1)))
    );
}

/// Losing the store loses no ownership: the guest is re-linked as
/// managed (no invite, no adoption), and a user who left meanwhile is
/// still removed.
#[test]
fn a_lost_store_is_relinked_and_a_leaver_still_removed() {
    let mut sim = synced(vec![(1, true, 0), (2, true, 0)]);
    let hosts: Vec<Guid> = sim.world.host.guests.iter().map(|g| g.id).collect();
    sim.step(&Ev::StoreLoss);
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    let p = sim.plan(true);
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a.kind, ActionKind::Invite { .. } | ActionKind::Adopt { .. })),
        "{p:#?}"
    );
    let stays = p.actions.iter().find(|a| a.source_user_id == uid(1));
    let stays = stays.expect("the staying user's record is stored again");
    assert!(matches!(stays.kind, ActionKind::RecordOnly { .. }));
    assert!(!stays.record.adopted);
    assert!(stays
        .record
        .host_user_id
        .is_some_and(|h| hosts.contains(&h)));
    let leaves = p.actions.iter().find(|a| a.source_user_id == uid(2));
    assert!(
        matches!(
            leaves.map(|a| &a.kind),
            Some(ActionKind::Deprovision { .. })
        ),
        "{p:#?}"
    );
    sim.world.apply(&p, usize::MAX, t0());
    assert!(sim.plan(true).is_empty());
}

/// A guest anchored to another source tenant is never linked, even when
/// its address is this user's: a reported conflict, no write.
#[test]
fn a_guest_anchored_to_another_tenant_is_a_conflict() {
    let mut sim = Sim::new(&setup());
    sim.step(&Ev::Unmanaged(1, false));
    let other = Anchor::new(Guid::from_uuid(uuid::Uuid::from_u128(0xB0)), uid(9));
    sim.world.host.guests[0].anchor = Some(other);
    sim.step(&Ev::Source(vec![(1, true, 0)]));
    let p = sim.plan(true);
    assert_eq!(p.writes(), 0, "{p:#?}");
    assert_eq!(p.actions[0].record.state, GuestState::Conflict);
    assert!(p.actions[0]
        .record
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains(&other.tenant.to_string())));
}

/// A guest found disabled while re-linking is held: who disabled it is
/// unknown, so it is left as it is, not re-enabled nor deleted.
#[test]
fn a_disabled_guest_found_by_its_anchor_is_held() {
    let mut sim = synced(vec![(1, true, 0)]);
    sim.step(&Ev::StoreLoss);
    sim.world.host.guests[0].account_enabled = false;
    let p = sim.plan(true);
    assert_eq!(p.writes(), 0, "{p:#?}");
    assert_eq!(p.actions[0].record.state, GuestState::Held);
}

/// A managed guest from before anchors gets one with its next PATCH (once);
/// an adopted guest never does.
#[test]
fn managed_guests_get_the_anchor_once_adopted_never() {
    let mut sim = synced(vec![(1, true, 0)]);
    sim.world.host.guests[0].anchor = None;
    sim.step(&Ev::Unmanaged(2, false));
    sim.step(&Ev::Source(vec![(1, true, 0), (2, true, 0)]));
    let p = sim.plan(true);
    for a in &p.actions {
        let anchor = match &a.kind {
            ActionKind::Update { changes, .. } | ActionKind::Adopt { changes, .. } => {
                changes.anchor.as_ref()
            }
            _ => None,
        };
        if a.source_user_id == uid(1) {
            assert!(anchor.is_some(), "{p:#?}");
        } else {
            assert!(anchor.is_none(), "adopted guest anchored: {p:#?}");
        }
    }
    sim.world.apply(&p, usize::MAX, t0());
    assert!(sim.plan(true).is_empty());
}

/// An anchor the engine wrote but the directory does not show back (an
/// attribute dropped, or not readable) is not written again on every run:
/// a quiet run stays free.
#[test]
fn a_written_anchor_is_not_rewritten_when_it_does_not_read_back() {
    let mut sim = synced(vec![(1, true, 0), (2, true, 0)]);
    assert!(sim.world.records.iter().all(|r| r.anchored));
    for g in &mut sim.world.host.guests {
        g.anchor = None;
    }
    let p = sim.plan(true);
    assert!(p.is_empty(), "{p:#?}");
}
