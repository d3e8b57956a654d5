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
use crate::domain::Guid;
use crate::graph::{GraphError, GraphUser};

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
    /// An external user the engine may take over.
    External(GraphUser),
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
/// says whether a host id is already the guest of another source user.
pub fn classify(found: Vec<GraphUser>, linked_elsewhere: impl Fn(Guid) -> bool) -> Existing {
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
    Existing::External(u)
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

    /// Nobody → invite; one external → take over; member, several, or
    /// linked elsewhere → conflict.
    #[test]
    fn classification() {
        let a = Guid::new_v4();
        let b = Guid::new_v4();
        assert_eq!(classify(vec![], |_| false), Existing::Nobody);
        let guest = user(json!({"id": a.to_string(), "userType": "Guest"}));
        assert!(
            matches!(classify(vec![guest.clone()], |_| false), Existing::External(u) if u.id == a)
        );
        assert!(
            matches!(classify(vec![guest.clone()], |id| id == a), Existing::Conflict { id, .. } if id == a)
        );
        let member = user(json!({"id": b.to_string(), "userType": "Member"}));
        assert!(
            matches!(classify(vec![member.clone()], |_| false), Existing::Conflict { id, .. } if id == b)
        );
        assert!(matches!(
            classify(vec![guest, member], |_| false),
            Existing::Conflict { .. }
        ));
    }
}
