//! Property tests over random histories: applying a plan and planning again
//! converges, no plan is unsafe, and the plan does not depend on the order
//! of its inputs.
use proptest::prelude::*;

use super::model::{Ev, Setup, Sim};
use super::*;
use crate::domain::policy::{InviteAddress, MaxDeprovisions};
use crate::domain::records::GuestState;

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => prop::collection::vec((0u128..8, prop::bool::weighted(0.8), 0u8..3), 0..8).prop_map(Ev::Source),
        4 => (prop::bool::weighted(0.8), prop::option::of(0usize..6))
            .prop_map(|(complete, crash_after)| Ev::Sync { complete, crash_after }),
        1 => (0usize..10).prop_map(Ev::HostEdit),
        1 => (0usize..10).prop_map(Ev::Redeem),
        1 => (0u128..8, any::<bool>()).prop_map(|(i, m)| Ev::Unmanaged(i, m)),
        1 => (0usize..10).prop_map(Ev::HostDelete),
        1 => Just(Ev::StoreLoss),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            (0u64..4).prop_map(MaxDeprovisions::Count),
            Just(MaxDeprovisions::Percent(50.0))
        ],
        any::<bool>(),
    )
        .prop_map(|(mail, disable, adopted, max, group)| {
            let options = TenantOptions {
                invite_address: if mail {
                    InviteAddress::Mail
                } else {
                    InviteAddress::UserPrincipalName
                },
                deprovision_adopted: adopted,
                ..TenantOptions::default()
            };
            Setup {
                options,
                mode: if disable {
                    DeprovisionMode::Disable
                } else {
                    DeprovisionMode::Delete
                },
                max,
                group,
            }
        })
}

fn check_safety(
    p: &Plan,
    complete: bool,
    records: &[GuestRecord],
    host: &HostPicture,
    policy: &PlanPolicy,
) {
    // Plan order is strict: one action per source user, so a continuation
    // can resume at an action's order key.
    assert!(
        p.actions
            .windows(2)
            .all(|w| w[0].order_key() < w[1].order_key()),
        "plan order keys are not strictly increasing"
    );
    // Guests the planner may own without a record: anchored to us.
    let anchored = |src: Guid, h: Guid| {
        host.guests
            .iter()
            .any(|g| g.id == h && g.anchor == Some(crate::domain::Anchor::new(tenant(), src)))
    };
    let unrecorded_anchored = host
        .guests
        .iter()
        .filter(|g| {
            g.anchor.is_some_and(|a| {
                a.tenant == tenant() && !records.iter().any(|r| r.source_user_id == a.user)
            })
        })
        .count() as u64;
    let deprovisions: Vec<(Guid, Guid)> = p
        .actions
        .iter()
        .filter_map(|a| match a.kind {
            ActionKind::Deprovision { host_id, .. } => Some((a.source_user_id, host_id)),
            _ => None,
        })
        .collect();
    if !complete {
        assert!(
            deprovisions.is_empty(),
            "incomplete read deprovisioned: {p:#?}"
        );
    }
    for (src, host) in &deprovisions {
        let Some(rec) = records.iter().find(|r| r.source_user_id == *src) else {
            assert!(
                anchored(*src, *host),
                "deprovision without a record or our anchor: {p:#?}"
            );
            continue;
        };
        assert_eq!(
            rec.host_user_id,
            Some(*host),
            "deprovisioned a guest the record does not own"
        );
        assert!(
            !rec.adopted || policy.options.deprovision_adopted,
            "deprovisioned an adopted guest"
        );
    }
    let managed = records
        .iter()
        .filter(|r| r.state != GuestState::Deprovisioned)
        .count() as u64
        + unrecorded_anchored;
    let limit = policy
        .max_deprovisions
        .limit_for(managed)
        .max(policy.confirmed_deprovisions.unwrap_or(0));
    assert!(deprovisions.len() as u64 <= limit, "guard exceeded: {p:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// After any history (partial applies, manual edits, redemptions,
    /// pre-existing and hand-deleted guests), applying the plan and planning
    /// again gives an empty plan; and no plan on the way deletes a guest we
    /// do not manage, deprovisions on an incomplete read, or exceeds the guard.
    #[test]
    fn apply_then_replan_is_empty_and_every_plan_is_safe(s in setup(), evs in prop::collection::vec(ev(), 0..25)) {
        let mut sim = Sim::new(&s);
        for e in &evs {
            let records_before = sim.world.records.clone();
            let host_before = sim.world.host.clone();
            if let Some((p, complete)) = sim.step(e) {
                check_safety(&p, complete, &records_before, &host_before, &sim.policy);
            }
        }
        // Converge: with a guard that allows everything, two full applies.
        sim.policy.max_deprovisions = MaxDeprovisions::Count(u64::MAX);
        let p = sim.plan(true);
        let now = sim.clock;
        sim.world.apply(&p, usize::MAX, now);
        let again = sim.plan(true);
        prop_assert!(again.actions.is_empty(), "not converged: {:#?}\nafter {:#?}", again, p);
        // Every in-scope user has exactly one live guest linked, unless a
        // host administrator deleted or blocked ours: then it is held,
        // left as they set it (rule 11), and never replaced behind them.
        for u in &sim.source.users {
            let rec = sim.world.records.iter().find(|r| r.source_user_id == u.id);
            if rec.is_some_and(|r| r.state == GuestState::Held) {
                continue;
            }
            let host = rec.and_then(|r| r.host_user_id);
            prop_assert!(host.is_some_and(|h| sim.world.host.guests.iter().any(|g| g.id == h)));
        }
    }

    /// The plan does not depend on the order of its inputs.
    #[test]
    fn same_inputs_give_the_same_plan(s in setup(), evs in prop::collection::vec(ev(), 0..20)) {
        let mut sim = Sim::new(&s);
        for e in &evs {
            sim.step(e);
        }
        let a = sim.plan(true);
        sim.source.users.reverse();
        sim.world.records.reverse();
        sim.world.host.guests.reverse();
        sim.world.host.deleted.reverse();
        let b = sim.plan(true);
        prop_assert_eq!(a, b);
    }

    /// A plan cut into parts (a large tenant is applied part by part) is
    /// the whole plan: the same actions and holds, once each, the same
    /// guard decision and counts, complete read or not.
    #[test]
    fn the_parts_of_a_plan_are_the_whole_plan(
        s in setup(),
        evs in prop::collection::vec(ev(), 0..20),
        of in 2u32..5,
        complete in any::<bool>(),
    ) {
        let mut sim = Sim::new(&s);
        for e in &evs {
            sim.step(e);
        }
        let whole = sim.plan(complete);
        // The parts really cut the tenant (the test ids are small numbers).
        let first = Part { index: 0, of };
        let ids: Vec<Guid> = (0..64).map(uid).collect();
        prop_assert!(ids.iter().any(|i| first.contains(*i)) && !ids.iter().all(|i| first.contains(*i)));
        let mut actions = Vec::new();
        let mut held_back = Vec::new();
        let mut unchanged = 0;
        for index in 0..of {
            let part = Part { index, of };
            let p = sim.plan_part(complete, part);
            prop_assert!(p.actions.iter().all(|a| part.contains(a.source_user_id)));
            prop_assert_eq!(p.guard, whole.guard);
            prop_assert_eq!(p.in_scope, whole.in_scope);
            prop_assert_eq!(p.removals, whole.removals);
            unchanged += p.unchanged;
            actions.extend(p.actions);
            held_back.extend(p.held_back);
        }
        actions.sort_by_key(|a| (a.kind.rank(), a.source_user_id));
        held_back.sort_by_key(|h| h.source_user_id);
        prop_assert_eq!(actions, whole.actions);
        prop_assert_eq!(held_back, whole.held_back);
        prop_assert_eq!(unchanged, whole.unchanged);
    }
}
