//! Who owns a host user the engine is about to meet through an invitation
//! (`docs/engine.md`, "Ownership"; design rule 11: act only on what we own).
//!
//! Inviting an address Graph already knows creates nothing: an existing
//! *external* user (a guest, or a B2B user of type Member) is returned as
//! if invited, and an address of an *internal member* is refused with 400.
//! So before inviting, the engine looks the address up the way Microsoft's
//! own pre-check does (UPN, mail, `proxyAddresses` SMTP, `otherMails`,
//! across all user types) and classifies what it finds:
//!
//! | found | the engine |
//! |---|---|
//! | nobody | invites: the new object is ours (*managed*) |
//! | one external user, linked to no other source user | takes it over (*adopted*: profile sync, never removed unless `deprovisionAdopted`) |
//! | an internal member, several users, or a user linked to another source user | *conflict*: touches nothing, records and reports it |
use std::collections::BTreeSet;

use crate::domain::plan::{ActionKind, Plan};
use crate::domain::{Anchor, GuestState, Guid};
use crate::graph::{GraphError, GraphUser};
use crate::store::Store;

/// What the pre-check selects of each user it finds.
pub const EXISTING_SELECT: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "otherMails",
    "userType",
    "creationType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "accountEnabled",
];

/// What owns an invite address in the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Existing {
    /// Nobody: an invitation creates a user of ours.
    Nobody,
    /// An external user the engine may take over: `ours` when it carries
    /// this source user's own anchor (we created it; its record was lost),
    /// else it is adopted.
    External { user: GraphUser, ours: bool },
    /// A user the engine must not touch, and why (object ids only).
    Conflict { id: Guid, why: String },
}

/// True for a user of the host's own (not a B2B user): type Member, no
/// `#EXT#` UPN, not created by an invitation, no redemption state.
pub fn is_internal_member(u: &GraphUser) -> bool {
    u.user_type()
        .unwrap_or("Member")
        .eq_ignore_ascii_case("Member")
        && !u
            .user_principal_name()
            .is_some_and(|p| p.to_ascii_uppercase().contains("#EXT#"))
        && !u
            .creation_type()
            .is_some_and(|c| c.eq_ignore_ascii_case("Invitation"))
        && u.external_user_state().is_none()
}

/// Classifies the users found for an invite address. `linked_elsewhere`
/// says whether a host id is already the guest of another source user;
/// `anchor_of` reads a user's ownership anchor; `mine` is this source
/// user's.
pub fn classify(
    found: Vec<GraphUser>,
    linked_elsewhere: impl Fn(Guid) -> bool,
    anchor_of: impl Fn(&GraphUser) -> Option<Anchor>,
    mine: Anchor,
) -> Existing {
    let mut found = found;
    if found.is_empty() {
        return Existing::Nobody;
    }
    if found.len() > 1 {
        let ids: Vec<String> = found.iter().map(|u| u.id.to_string()).collect();
        return Existing::Conflict {
            id: found[0].id,
            why: format!(
                "the address belongs to {} host users ({}): not ours to choose",
                found.len(),
                ids.join(", ")
            ),
        };
    }
    let u = found.remove(0);
    match anchor_of(&u) {
        Some(a) if a == mine => return Existing::External { user: u, ours: true },
        Some(a) => {
            return Existing::Conflict {
                id: u.id,
                why: format!(
                    "the address belongs to host user {}, anchored to source tenant {} (user {}): never taken over",
                    u.id, a.tenant, a.user
                ),
            }
        }
        None => {}
    }
    if is_internal_member(&u) {
        return Existing::Conflict {
            id: u.id,
            why: format!(
                "the address belongs to host member {}, an internal user: never invited or touched",
                u.id
            ),
        };
    }
    if linked_elsewhere(u.id) {
        return Existing::Conflict {
            id: u.id,
            why: format!(
                "the address belongs to host user {}, the guest of another source user",
                u.id
            ),
        };
    }
    Existing::External {
        user: u,
        ours: false,
    }
}

/// True when Graph refused an invitation because the address belongs to an
/// internal member ("Non-external user already exists …", 400).
pub fn is_member_conflict(e: &GraphError) -> bool {
    match e {
        GraphError::Permanent { detail, ctx } => {
            ctx.status == Some(400) && detail.to_ascii_lowercase().contains("non-external user")
        }
        _ => false,
    }
}

/// Tenant isolation: a host user another source tenant manages is never
/// taken over by this one (a second tenant inviting by mail would
/// otherwise rename it on every run, or restore it after its owner removed
/// it). Adoptions of such users in `plan` become conflicts: the record says
/// why, nothing is written. Reads the other tenants' records only when the
/// plan adopts or re-links anybody (rare after the first sync).
pub async fn isolate_tenants(
    store: &dyn Store,
    tenant: Guid,
    plan: &mut Plan,
) -> Result<u64, crate::store::StoreError> {
    let adopting: BTreeSet<Guid> = plan
        .actions
        .iter()
        .filter_map(|a| match a.kind {
            ActionKind::Adopt { host_id, .. } => Some(host_id),
            _ => None,
        })
        .collect();
    if adopting.is_empty() {
        return Ok(0);
    }
    let mut theirs = BTreeSet::new();
    for t in store.list_tenants().await? {
        if t.tenant_id == tenant {
            continue;
        }
        for r in store.list_guests(t.tenant_id).await? {
            if let Some(h) = r
                .host_user_id
                .filter(|h| adopting.contains(h) && r.state != GuestState::Deprovisioned)
            {
                theirs.insert((h, t.tenant_id));
            }
        }
    }
    let mut n = 0;
    for a in plan.actions.iter_mut() {
        let ActionKind::Adopt { host_id, .. } = a.kind else {
            continue;
        };
        let Some((_, owner)) = theirs.iter().find(|(h, _)| *h == host_id) else {
            continue;
        };
        let why = format!(
            "the address belongs to host user {host_id}, the guest of source tenant {owner}: never taken over"
        );
        a.record.state = GuestState::Conflict;
        a.record.host_user_id = None;
        a.record.host_upn = None;
        a.record.adopted = false;
        a.record.last_error = Some(why.clone());
        a.kind = ActionKind::RecordOnly { reason: why };
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: serde_json::Value) -> GraphUser {
        GraphUser::from_value(v).unwrap()
    }

    /// Members are internal unless something says B2B; guests are external.
    #[test]
    fn internal_members_are_told_from_external_users() {
        let id = Guid::new_v4().to_string();
        let member =
            user(json!({"id": id, "userType": "Member", "userPrincipalName": "ann@host.example"}));
        assert!(is_internal_member(&member));
        let b2b_member = user(
            json!({"id": id, "userType": "Member", "userPrincipalName": "ann_contoso.com#EXT#@host.example"}),
        );
        assert!(!is_internal_member(&b2b_member));
        let invited_member =
            user(json!({"id": id, "userType": "Member", "creationType": "Invitation"}));
        assert!(!is_internal_member(&invited_member));
        let guest = user(json!({"id": id, "userType": "Guest"}));
        assert!(!is_internal_member(&guest));
    }

    /// Graph's 400 for a member's address is told from other 400s.
    #[test]
    fn the_member_conflict_400_is_recognised() {
        let ctx = |status| crate::graph::ErrorContext {
            operation: "invite",
            status: Some(status),
            client_request_id: uuid::Uuid::nil(),
            graph_code: Some("BadRequest".into()),
        };
        let member = GraphError::Permanent {
            detail:
                "Non-external user already exists with the given mail address and can't be invited."
                    .into(),
            ctx: ctx(400),
        };
        assert!(is_member_conflict(&member));
        let other = GraphError::Permanent {
            detail: "The invitedUserEmailAddress is missing".into(),
            ctx: ctx(400),
        };
        assert!(!is_member_conflict(&other));
    }

    /// Nobody → invite; one external → take over; member, several, or
    /// linked elsewhere → conflict.
    #[test]
    fn classification() {
        let a = Guid::new_v4();
        let b = Guid::new_v4();
        let t = Guid::new_v4();
        let mine = Anchor::new(t, Guid::new_v4());
        let none = |_: &GraphUser| None;
        assert_eq!(classify(vec![], |_| false, none, mine), Existing::Nobody);
        let guest = user(json!({"id": a.to_string(), "userType": "Guest"}));
        assert!(matches!(
            classify(vec![guest.clone()], |_| false, none, mine),
            Existing::External { user, ours: false } if user.id == a
        ));
        assert!(matches!(
            classify(vec![guest.clone()], |id| id == a, none, mine),
            Existing::Conflict { id, .. } if id == a
        ));
        let member = user(json!({"id": b.to_string(), "userType": "Member"}));
        assert!(matches!(
            classify(vec![member.clone()], |_| false, none, mine),
            Existing::Conflict { id, .. } if id == b
        ));
        assert!(matches!(
            classify(vec![guest.clone(), member], |_| false, none, mine),
            Existing::Conflict { .. }
        ));
        // Our own anchor: ours again; another tenant's: never taken over.
        assert!(matches!(
            classify(vec![guest.clone()], |_| false, |_| Some(mine), mine),
            Existing::External { ours: true, .. }
        ));
        let theirs = Anchor::new(Guid::new_v4(), mine.user);
        assert!(matches!(
            classify(vec![guest], |_| false, |_| Some(theirs), mine),
            Existing::Conflict { id, .. } if id == a
        ));
    }
}
