//! Sponsors and managers (`docs/engine.md`, "Sponsors and managers"): which
//! `$ref` writes each managed guest needs. Pure: the engine reads the
//! source managers and the sponsor group's owners, and applies the result.
//!
//! The wanted values are compared with what the engine last applied (kept
//! in the guest record, [`GuestRelations`]), so a run in which nothing
//! changed plans no write, and the engine only ever removes a sponsor or a
//! manager it set itself.
use std::collections::{BTreeSet, HashMap};

use crate::domain::{GuestRecord, GuestRelations, GuestState, Guid};

/// What the planner needs besides the records.
#[derive(Debug, Clone, Copy)]
pub struct RelationInputs<'a> {
    /// The tenant option `manager`.
    pub manager_on: bool,
    /// Source user id -> its manager's source id (None: no manager), for
    /// every source user read this run; None when the managers could not
    /// be read (no manager changes this run).
    pub managers: Option<&'a HashMap<Guid, Option<Guid>>>,
    /// The sponsors every managed guest should have (host user ids); None
    /// when they could not be read this run (no sponsor changes).
    pub sponsors: Option<&'a BTreeSet<Guid>>,
}

/// A change of a guest's manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerChange {
    /// `PUT /users/{guest}/manager/$ref` to this host user.
    Set(Guid),
    /// `DELETE /users/{guest}/manager/$ref`.
    Remove,
}

/// The writes one guest needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationChange {
    pub source_user_id: Guid,
    /// The guest's host object id.
    pub host_id: Guid,
    pub add_sponsors: Vec<Guid>,
    pub remove_sponsors: Vec<Guid>,
    pub manager: Option<ManagerChange>,
    /// What was applied before (the record's values for this guest).
    pub applied: GuestRelations,
}

impl RelationChange {
    /// Graph writes this change makes.
    pub fn writes(&self) -> usize {
        self.add_sponsors.len() + self.remove_sponsors.len() + usize::from(self.manager.is_some())
    }
}

/// States in which a guest exists in the host and is synced.
fn live(r: &GuestRecord) -> Option<Guid> {
    match r.state {
        GuestState::Invited | GuestState::Accepted | GuestState::Disabled => {
            r.host_user_id.filter(|id| !id.as_uuid().is_nil())
        }
        _ => None,
    }
}

/// The manager a guest should have: `Some(Some(id))` the manager's guest,
/// `Some(None)` none, `None` not known yet (leave as it is: the manager's
/// guest is still being created, or the source user was not read).
fn wanted_manager(
    r: &GuestRecord,
    inputs: &RelationInputs<'_>,
    by_source: &HashMap<Guid, &GuestRecord>,
) -> Option<Option<Guid>> {
    if !inputs.manager_on {
        return Some(None);
    }
    let source_manager = *inputs.managers?.get(&r.source_user_id)?;
    let Some(m) = source_manager.filter(|m| *m != r.source_user_id) else {
        return Some(None);
    };
    match by_source.get(&m) {
        // Out of scope (never synced, or left): no manager in the host.
        None => Some(None),
        Some(mr) => match live(mr) {
            Some(id) => Some(Some(id)),
            // In scope, its guest not created yet: a later pass sets it.
            None if matches!(
                mr.state,
                GuestState::Invited | GuestState::Failed | GuestState::Accepted
            ) =>
            {
                None
            }
            // Left scope, a conflict, or held by the host: not a manager.
            None => Some(None),
        },
    }
}

/// The sponsor and manager writes of one tenant. Only *managed* guests
/// (created by the engine, not adopted) that exist in the host are
/// changed; adopted, conflicting, held and removed guests are never
/// touched.
pub fn plan_relations(records: &[GuestRecord], inputs: &RelationInputs<'_>) -> Vec<RelationChange> {
    let by_source: HashMap<Guid, &GuestRecord> =
        records.iter().map(|r| (r.source_user_id, r)).collect();
    let mut out = Vec::new();
    let mut sorted: Vec<&GuestRecord> = records.iter().collect();
    sorted.sort_by_key(|r| r.source_user_id);
    for r in sorted {
        if r.adopted {
            continue;
        }
        let Some(host_id) = live(r) else { continue };
        let applied = r.relations.applied_to(host_id);
        let (add_sponsors, remove_sponsors) = match inputs.sponsors {
            None => (Vec::new(), Vec::new()),
            Some(want) => {
                let have: BTreeSet<Guid> = applied.sponsors.iter().copied().collect();
                (
                    want.difference(&have).copied().collect(),
                    have.difference(want).copied().collect(),
                )
            }
        };
        let manager = match wanted_manager(r, inputs, &by_source) {
            None => None,
            Some(w) if w == applied.manager => None,
            Some(Some(m)) if m == host_id => None,
            Some(Some(m)) => Some(ManagerChange::Set(m)),
            Some(None) => Some(ManagerChange::Remove),
        };
        let c = RelationChange {
            source_user_id: r.source_user_id,
            host_id,
            add_sponsors,
            remove_sponsors,
            manager,
            applied,
        };
        if c.writes() > 0 {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: u128, state: GuestState, host: Option<u128>) -> GuestRecord {
        GuestRecord {
            source_tenant_id: Guid::from_uuid(uuid::Uuid::from_u128(9)),
            source_user_id: Guid::from_uuid(uuid::Uuid::from_u128(n)),
            source_upn: format!("u{n}@contoso.example"),
            source_mail: None,
            host_user_id: host.map(|h| Guid::from_uuid(uuid::Uuid::from_u128(h))),
            host_upn: None,
            state,
            adopted: false,
            created_at: chrono::Utc::now(),
            redeemed_at: None,
            deprovisioned_at: None,
            last_synced_at: None,
            profile_fingerprint: None,
            photo_etag: None,
            photo_copied_at: None,
            last_error: None,
            anchored: false,
            relations: GuestRelations::default(),
        }
    }

    fn g(n: u128) -> Guid {
        Guid::from_uuid(uuid::Uuid::from_u128(n))
    }

    /// The manager maps to the manager's guest; a manager out of scope is
    /// none; a manager whose guest is pending waits; applied values make
    /// no writes; adopted guests are never changed.
    #[test]
    fn managers_map_to_guests_and_only_changes_write() {
        let mut recs = vec![
            rec(1, GuestState::Accepted, Some(101)),
            rec(2, GuestState::Invited, Some(102)),
            rec(3, GuestState::Invited, None),
            rec(4, GuestState::Accepted, Some(104)),
            rec(5, GuestState::Deprovisioned, Some(105)),
            rec(6, GuestState::Accepted, Some(106)),
        ];
        recs[5].adopted = true;
        let managers: HashMap<Guid, Option<Guid>> = [
            (g(1), None),
            (g(2), Some(g(1))),
            (g(4), Some(g(3))),
            (g(6), Some(g(1))),
        ]
        .into_iter()
        .collect();
        let none = BTreeSet::new();
        let inputs = RelationInputs {
            manager_on: true,
            managers: Some(&managers),
            sponsors: Some(&none),
        };
        let p = plan_relations(&recs, &inputs);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert_eq!(p[0].source_user_id, g(2));
        assert_eq!(p[0].manager, Some(ManagerChange::Set(g(101))));
        // Applied: quiet.
        recs[1].relations = GuestRelations {
            guest: Some(g(102)),
            sponsors: vec![],
            manager: Some(g(101)),
        };
        assert!(plan_relations(&recs, &inputs).is_empty());
        // The manager leaves scope: removed.
        recs[0].state = GuestState::Deprovisioned;
        let p = plan_relations(&recs, &inputs);
        assert_eq!(p[0].manager, Some(ManagerChange::Remove));
        // Managers unreadable: no change.
        let unknown = RelationInputs {
            managers: None,
            ..inputs
        };
        assert!(plan_relations(&recs, &unknown).is_empty());
        // A new guest object: the old values do not count.
        recs[0].state = GuestState::Accepted;
        recs[1].host_user_id = Some(g(202));
        let p = plan_relations(&recs, &inputs);
        assert_eq!(p[0].manager, Some(ManagerChange::Set(g(101))));
    }

    /// Sponsors: the difference both ways, only of what was applied.
    #[test]
    fn sponsors_add_and_remove_the_difference() {
        let mut recs = vec![rec(1, GuestState::Accepted, Some(101))];
        recs[0].relations = GuestRelations {
            guest: Some(g(101)),
            sponsors: vec![g(500), g(501)],
            manager: None,
        };
        let want: BTreeSet<Guid> = [g(501), g(502)].into_iter().collect();
        let managers = HashMap::new();
        let p = plan_relations(
            &recs,
            &RelationInputs {
                manager_on: false,
                managers: Some(&managers),
                sponsors: Some(&want),
            },
        );
        assert_eq!(p[0].add_sponsors, vec![g(502)]);
        assert_eq!(p[0].remove_sponsors, vec![g(500)]);
        assert_eq!(p[0].manager, None);
        assert_eq!(p[0].writes(), 2);
    }
}
