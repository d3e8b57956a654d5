//! A tiny pure in-memory model of the host that plans are applied to, and
//! the history driver ([`Sim`]) that steps it through events.
use std::collections::BTreeSet;

use chrono::Duration;
use serde_json::json;

use super::*;
use crate::domain::policy::MaxDeprovisions;

/// The in-memory world the property tests apply plans to.
#[derive(Debug, Clone, Default)]
pub(super) struct World {
    pub(super) records: Vec<GuestRecord>,
    pub(super) host: HostPicture,
    next_host: u128,
}

fn apply_changes(h: &mut HostGuest, ch: &Changes) {
    if let Some(a) = &ch.anchor {
        h.anchor = Some(a.anchor);
    }
    let (attrs, enabled) = (&mut h.attrs, &mut h.account_enabled);
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
            attrs: crate::domain::Attrs::new(),
            anchor: None,
        };
        self.host.guests.push(g.clone());
        g
    }

    /// Applies the first `limit` actions of `plan` (a crash stops the rest).
    pub(super) fn apply(&mut self, plan: &Plan, limit: usize, now: DateTime<Utc>) {
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
                        h.attrs.insert("displayName", json!(display_name));
                        apply_changes(h, changes);
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
                            anchor: d.anchor,
                        });
                    }
                    if let Some(h) = self.guest_mut(*host_id) {
                        apply_changes(h, changes);
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
                        apply_changes(h, changes);
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
                                anchor: g.anchor,
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
pub(super) enum Ev {
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
    /// The store is lost: every record is gone (the anchors re-link).
    StoreLoss,
}

#[derive(Debug, Clone)]
pub(super) struct Setup {
    pub(super) options: TenantOptions,
    pub(super) mode: DeprovisionMode,
    pub(super) max: MaxDeprovisions,
    pub(super) group: bool,
}

fn dept(d: u8) -> &'static str {
    ["Sales", "R&D", ""][usize::from(d) % 3]
}

pub(super) struct Sim {
    pub(super) world: World,
    pub(super) source: SourcePicture,
    pub(super) policy: PlanPolicy,
    pub(super) clock: DateTime<Utc>,
}

impl Sim {
    pub(super) fn new(s: &Setup) -> Self {
        let mut p = policy(t0()).with_anchor(Some(AnchorAttribute::Extension(15)));
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

    pub(super) fn plan(&self, complete: bool) -> Plan {
        self.plan_part(complete, Part::WHOLE)
    }

    pub(super) fn plan_part(&self, complete: bool, part: Part) -> Plan {
        let mut src = self.source.clone();
        src.complete = complete;
        let mut p = self.policy.clone();
        p.now = self.clock;
        plan_part(
            tenant(),
            &src,
            &self.world.records,
            &self.world.host,
            &p,
            part,
        )
    }

    /// Runs one event; returns the plans made (for checking invariants).
    pub(super) fn step(&mut self, e: &Ev) -> Option<(Plan, bool)> {
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
                    g.attrs.insert("department", json!("Edited"));
                }
                None
            }
            Ev::Redeem(k) => {
                let now = self.clock;
                if let Some(g) = self.world.host.guests.get_mut(k % n) {
                    g.external_user_state = Some("Accepted".into());
                    g.external_user_state_changed_at = Some(now);
                    g.attrs.insert("displayName", json!("overwritten"));
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
            Ev::StoreLoss => {
                self.world.records.clear();
                None
            }
        }
    }
}
