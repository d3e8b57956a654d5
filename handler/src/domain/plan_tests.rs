//! Tests of the planner: worked examples of each sync rule, and property
//! tests over random histories (source changes, partial applies that stop
//! anywhere, manual host edits, redemptions, pre-existing guests) run
//! through a tiny pure in-memory model of the host.
use std::collections::BTreeSet;

use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::domain::policy::TenantOptions;

const TENANT: u128 = 0xA0;

fn tenant() -> Guid {
    Guid::from_uuid(uuid::Uuid::from_u128(TENANT))
}
fn uid(i: u128) -> Guid {
    Guid::from_uuid(uuid::Uuid::from_u128(0x1000 + i))
}
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn user(i: u128, dept: &str, enabled: bool) -> SourceUser {
    let mut attrs = Map::new();
    attrs.insert("displayName".into(), json!(format!("User {i}")));
    attrs.insert("jobTitle".into(), json!("Engineer"));
    attrs.insert("department".into(), json!(dept));
    attrs.insert("companyName".into(), json!("Contoso"));
    SourceUser {
        id: uid(i),
        upn: format!("u{i}@src.example"),
        mail: Some(format!("u{i}.m@src.example")),
        account_enabled: enabled,
        user_type: "Member".into(),
        attrs,
        photo_etag: None,
    }
}

fn policy(now: DateTime<Utc>) -> PlanPolicy {
    PlanPolicy {
        options: TenantOptions::default(),
        deprovision: DeprovisionMode::Delete,
        max_deprovisions: MaxDeprovisions::Count(100),
        confirmed_deprovisions: None,
        now,
    }
}

/// The in-memory world the property tests apply plans to.
#[derive(Debug, Clone, Default)]
struct World {
    records: Vec<GuestRecord>,
    host: HostPicture,
    next_host: u128,
}

fn apply_changes(attrs: &mut Map<String, Value>, enabled: &mut bool, ch: &Changes) {
    for (k, v) in &ch.set {
        if v.is_null() {
            attrs.remove(k);
        } else {
            attrs.insert(k.clone(), v.clone());
        }
    }
    if let Some(e) = ch.account_enabled {
        *enabled = e;
    }
}

impl World {
    fn guest_mut(&mut self, id: Guid) -> Option<&mut HostGuest> {
        self.host.guests.iter_mut().find(|g| g.id == id)
    }

    fn put_record(&mut self, r: GuestRecord) {
        self.records
            .retain(|x| x.source_user_id != r.source_user_id);
        self.records.push(r);
    }

    fn new_guest(&mut self, address: &str, enabled: bool, now: DateTime<Utc>) -> HostGuest {
        self.next_host += 1;
        let g = HostGuest {
            id: Guid::from_uuid(uuid::Uuid::from_u128(0x9000_0000 + self.next_host)),
            upn: format!("{}#EXT#@host.onmicrosoft.com", address.replace('@', "_")),
            mail: Some(address.to_string()),
            other_mails: vec![address.to_string()],
            account_enabled: enabled,
            user_type: "Guest".into(),
            external_user_state: Some("PendingAcceptance".into()),
            external_user_state_changed_at: None,
            created_at: Some(now),
            attrs: Map::new(),
        };
        self.host.guests.push(g.clone());
        g
    }

    /// Applies the first `limit` actions of `plan` (a crash stops the rest).
    fn apply(&mut self, plan: &Plan, limit: usize, now: DateTime<Utc>) {
        for a in plan.actions.iter().take(limit) {
            let mut rec = a.record.clone();
            match &a.kind {
                ActionKind::Invite {
                    address,
                    display_name,
                    changes,
                    add_to_group,
                    ..
                } => {
                    let g = self.new_guest(address, true, now);
                    if let Some(h) = self.guest_mut(g.id) {
                        h.attrs.insert("displayName".into(), json!(display_name));
                        apply_changes(&mut h.attrs, &mut h.account_enabled, changes);
                    }
                    if *add_to_group {
                        if let Some(m) = self.host.group_members.as_mut() {
                            m.insert(g.id);
                        }
                    }
                    rec.host_user_id = Some(g.id);
                    rec.host_upn = Some(g.upn.clone());
                }
                ActionKind::Adopt {
                    host_id,
                    changes,
                    add_to_group,
                    ..
                }
                | ActionKind::Restore {
                    host_id,
                    changes,
                    add_to_group,
                } => {
                    if let Some(pos) = self.host.deleted.iter().position(|d| d.id == *host_id) {
                        let d = self.host.deleted.remove(pos);
                        self.host.guests.push(HostGuest {
                            id: d.id,
                            upn: d.upn.clone().unwrap_or_default(),
                            mail: d.mail.clone(),
                            other_mails: d.mail.iter().cloned().collect(),
                            account_enabled: d.account_enabled,
                            user_type: "Guest".into(),
                            external_user_state: None,
                            external_user_state_changed_at: None,
                            created_at: Some(now),
                            attrs: d.attrs.clone(),
                        });
                    }
                    if let Some(h) = self.guest_mut(*host_id) {
                        apply_changes(&mut h.attrs, &mut h.account_enabled, changes);
                    }
                    if *add_to_group {
                        if let Some(m) = self.host.group_members.as_mut() {
                            m.insert(*host_id);
                        }
                    }
                }
                ActionKind::Update {
                    host_id, changes, ..
                } => {
                    if let Some(h) = self.guest_mut(*host_id) {
                        apply_changes(&mut h.attrs, &mut h.account_enabled, changes);
                    }
                }
                ActionKind::AddToGroup { host_id } => {
                    if let Some(m) = self.host.group_members.as_mut() {
                        m.insert(*host_id);
                    }
                }
                ActionKind::Deprovision { host_id, mode } => match mode {
                    DeprovisionMode::Disable => {
                        if let Some(h) = self.guest_mut(*host_id) {
                            h.account_enabled = false;
                        }
                    }
                    DeprovisionMode::Delete => {
                        if let Some(pos) = self.host.guests.iter().position(|g| g.id == *host_id) {
                            let g = self.host.guests.remove(pos);
                            self.host.deleted.push(DeletedHostUser {
                                id: g.id,
                                upn: Some(g.upn),
                                mail: g.mail,
                                deleted_at: Some(now),
                                attrs: g.attrs,
                                account_enabled: g.account_enabled,
                            });
                            if let Some(m) = self.host.group_members.as_mut() {
                                m.remove(host_id);
                            }
                        }
                    }
                },
                ActionKind::Release { .. } | ActionKind::RecordOnly { .. } => {}
            }
            self.put_record(rec);
        }
    }
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Ev {
    /// Sets the source group: (user index, enabled, department) per member.
    Source(Vec<(u128, bool, u8)>),
    /// Plans and applies, stopping after `crash_after` actions if set.
    Sync {
        complete: bool,
        crash_after: Option<usize>,
    },
    /// An administrator edits a guest's department by hand.
    HostEdit(usize),
    /// A guest redeems its invitation (display name overwritten).
    Redeem(usize),
    /// A guest that nobody manages appears with user `i`'s address.
    Unmanaged(u128, bool),
    /// An administrator deletes a guest by hand.
    HostDelete(usize),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => prop::collection::vec((0u128..8, prop::bool::weighted(0.8), 0u8..3), 0..8).prop_map(Ev::Source),
        4 => (prop::bool::weighted(0.8), prop::option::of(0usize..6))
            .prop_map(|(complete, crash_after)| Ev::Sync { complete, crash_after }),
        1 => (0usize..10).prop_map(Ev::HostEdit),
        1 => (0usize..10).prop_map(Ev::Redeem),
        1 => (0u128..8, any::<bool>()).prop_map(|(i, m)| Ev::Unmanaged(i, m)),
        1 => (0usize..10).prop_map(Ev::HostDelete),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    options: TenantOptions,
    mode: DeprovisionMode,
    max: MaxDeprovisions,
    group: bool,
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

fn dept(d: u8) -> &'static str {
    ["Sales", "R&D", ""][usize::from(d) % 3]
}

struct Sim {
    world: World,
    source: SourcePicture,
    policy: PlanPolicy,
    clock: DateTime<Utc>,
}

impl Sim {
    fn new(s: &Setup) -> Self {
        let mut p = policy(t0());
        p.options = s.options.clone();
        p.deprovision = s.mode;
        p.max_deprovisions = s.max;
        let mut world = World::default();
        if s.group {
            world.host.group_members = Some(BTreeSet::new());
        }
        Sim {
            world,
            source: SourcePicture {
                users: vec![],
                complete: true,
            },
            policy: p,
            clock: t0(),
        }
    }

    fn plan(&self, complete: bool) -> Plan {
        let mut src = self.source.clone();
        src.complete = complete;
        let mut p = self.policy.clone();
        p.now = self.clock;
        plan(tenant(), &src, &self.world.records, &self.world.host, &p)
    }

    /// Runs one event; returns the plans made (for checking invariants).
    fn step(&mut self, e: &Ev) -> Option<(Plan, bool)> {
        self.clock += Duration::minutes(7);
        let n = self.world.host.guests.len().max(1);
        match e {
            Ev::Source(members) => {
                let mut seen = BTreeSet::new();
                self.source.users = members
                    .iter()
                    .filter(|(i, _, _)| seen.insert(*i))
                    .map(|(i, en, d)| user(*i, dept(*d), *en))
                    .collect();
                None
            }
            Ev::Sync {
                complete,
                crash_after,
            } => {
                let p = self.plan(*complete);
                let now = self.clock;
                self.world.apply(&p, crash_after.unwrap_or(usize::MAX), now);
                Some((p, *complete))
            }
            Ev::HostEdit(k) => {
                if let Some(g) = self.world.host.guests.get_mut(k % n) {
                    g.attrs.insert("department".into(), json!("Edited"));
                }
                None
            }
            Ev::Redeem(k) => {
                let now = self.clock;
                if let Some(g) = self.world.host.guests.get_mut(k % n) {
                    g.external_user_state = Some("Accepted".into());
                    g.external_user_state_changed_at = Some(now);
                    g.attrs.insert("displayName".into(), json!("overwritten"));
                }
                None
            }
            Ev::Unmanaged(i, by_mail) => {
                let u = user(*i, "", true);
                let addr = if *by_mail {
                    u.mail.unwrap_or_default()
                } else {
                    u.upn
                };
                let now = self.clock;
                self.world.new_guest(&addr, true, now);
                None
            }
            Ev::HostDelete(k) => {
                if !self.world.host.guests.is_empty() {
                    self.world.host.guests.remove(k % n);
                }
                None
            }
        }
    }
}

fn check_safety(p: &Plan, complete: bool, records: &[GuestRecord], policy: &PlanPolicy) {
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
        let rec = records
            .iter()
            .find(|r| r.source_user_id == *src)
            .unwrap_or_else(|| panic!("deprovision without a record: {p:#?}"));
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
        .count() as u64;
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
            if let Some((p, complete)) = sim.step(e) {
                check_safety(&p, complete, &records_before, &sim.policy);
            }
        }
        // Converge: with a guard that allows everything, two full applies.
        sim.policy.max_deprovisions = MaxDeprovisions::Count(u64::MAX);
        let p = sim.plan(true);
        let now = sim.clock;
        sim.world.apply(&p, usize::MAX, now);
        let again = sim.plan(true);
        prop_assert!(again.actions.is_empty(), "not converged: {:#?}\nafter {:#?}", again, p);
        // Every in-scope user has exactly one live guest linked.
        for u in &sim.source.users {
            let rec = sim.world.records.iter().find(|r| r.source_user_id == u.id);
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
}

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

/// Photos: a changed ETag is copied, an unchanged one is not, a removed
/// photo is removed, and a guest inside the cool-down waits.
#[test]
fn photo_plan_follows_etags_and_cool_down() {
    let now = t0();
    let rec = |i: u128, etag: Option<&str>, age_min: i64| GuestRecord {
        source_tenant_id: tenant(),
        source_user_id: uid(i),
        source_upn: format!("u{i}@src.example"),
        source_mail: None,
        host_user_id: Some(uid(100 + i)),
        host_upn: None,
        state: GuestState::Invited,
        adopted: false,
        created_at: now - Duration::minutes(age_min),
        redeemed_at: None,
        deprovisioned_at: None,
        last_synced_at: None,
        profile_fingerprint: None,
        photo_etag: etag.map(str::to_string),
        photo_copied_at: None,
        last_error: None,
    };
    let with_photo = |i: u128, e: Option<&str>| SourceUser {
        photo_etag: e.map(str::to_string),
        ..user(i, "", true)
    };
    let records = vec![
        rec(1, Some("a"), 60),
        rec(2, Some("a"), 60),
        rec(3, Some("a"), 60),
        rec(4, None, 1),
    ];
    let source = vec![
        with_photo(1, Some("b")),
        with_photo(2, Some("a")),
        with_photo(3, None),
        with_photo(4, Some("c")),
    ];
    let p = plan_photos(
        &source,
        &records,
        &HashMap::new(),
        &TenantOptions::default(),
        now,
    );
    assert_eq!(
        p.actions,
        vec![
            PhotoAction {
                source_user_id: uid(1),
                host_id: uid(101),
                kind: PhotoActionKind::Copy { etag: "b".into() }
            },
            PhotoAction {
                source_user_id: uid(3),
                host_id: uid(103),
                kind: PhotoActionKind::Remove
            },
        ]
    );
    assert_eq!(p.cooling_down, vec![uid(4)]);
    assert_eq!(p.unchanged, 1);
}
