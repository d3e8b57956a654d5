//! `POST /invitations`: creates (or finds) the guest as Graph does, and
//! honours the host's invitation restrictions and the automatic redemption
//! of the two tenants' cross-tenant access settings.
use serde_json::{json, Value};

use super::{json_body, tenant, INVITE};
use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::model::World;
use crate::domain::Guid;

pub(super) fn invite(w: &mut World, call: &Call<'_>, req: &GReq) -> GResp {
    if !call.has(INVITE) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim);
    let Some(address) = s("invitedUserEmailAddress").filter(|a| {
        a.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !a.contains(' '))
    }) else {
        return GResp::error(
            400,
            "BadRequest",
            "The invitedUserEmailAddress is missing or is not a valid e-mail address.",
        );
    };
    let Some(redirect) = s("inviteRedirectUrl").filter(|r| !r.is_empty()) else {
        return GResp::error(400, "BadRequest", "The inviteRedirectUrl is required.");
    };
    let user_type = s("invitedUserType").unwrap_or("Guest");
    if user_type != "Guest" && user_type != "Member" {
        return GResp::error(
            400,
            "BadRequest",
            format!("invitedUserType '{user_type}' is invalid; use Guest or Member."),
        );
    }
    let send = body
        .get("sendInvitationMessage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let t = tri!(tenant(w, call));
    if t.restrict_invitations || t.policies.allow_invites_from == "none" {
        return GResp::error(
            403,
            "Authorization_RequestDenied",
            "Guest invitations not allowed for your company. The host tenant's external collaboration settings restrict invitations to administrators and the Guest Inviter role, so app-only invitations are refused; an administrator must allow invitations (Entra ID > External Identities > External collaboration settings).",
        );
    }
    let tenant_id = t.id;
    let local = address.split('@').next().unwrap_or(address);
    let display = s("invitedUserDisplayName")
        .filter(|d| !d.is_empty())
        .unwrap_or(local)
        .to_string();
    let (uid, created) = match w.find_by_address(tenant_id, address) {
        Some(id) => {
            // Entra's documented behaviour for an existing user: an
            // internal member's address is refused; an external user (a
            // guest, or a B2B user of type Member) is returned as if
            // invited, creating nothing, with the address added to its
            // proxyAddresses.
            let Some(t) = w.tenants.get_mut(&tenant_id) else {
                return GResp::bad_request("the tenant is gone");
            };
            let internal = t.users.get(&id).is_some_and(is_internal_member);
            if internal {
                return GResp::error(
                    400,
                    "BadRequest",
                    "Non-external user already exists with the given mail address and can't be invited.",
                );
            }
            let smtp = format!("SMTP:{address}");
            t.modify_user(id, |u| {
                let list = u
                    .attrs
                    .entry("proxyAddresses")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = list {
                    let known = a
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|p| p.eq_ignore_ascii_case(&smtp));
                    if !known {
                        a.push(Value::String(smtp.clone()));
                    }
                }
            });
            (id, false)
        }
        None => match w.create_invited(
            tenant_id,
            address,
            &display,
            user_type,
            call.now,
            Some(call.wall),
        ) {
            Ok(id) => (id, true),
            Err(e) => return GResp::bad_request(e.to_string()),
        },
    };
    if created {
        w.counts.applied("invite", uid);
        // Automatic redemption (both tenants' settings allow it): redeemed
        // at once, as a redemption would (model/policies.rs).
        if let Some(source) = auto_redeeming_source(w, tenant_id, address) {
            if let Err(e) = w.redeem(tenant_id, uid, call.wall) {
                return GResp::bad_request(e.to_string());
            }
            tracing::debug!(host = %tenant_id, source = %source, user = %uid, "sim: invitation redeemed automatically");
        }
    }
    let state = w
        .tenants
        .get(&tenant_id)
        .and_then(|t| t.users.get(&uid))
        .and_then(|u| u.s("externalUserState").map(str::to_string));
    let status = if state.as_deref() == Some("Accepted") {
        "Completed"
    } else {
        "PendingAcceptance"
    };
    let inv_id = w.new_id();
    let ticket = w.hex(32);
    GResp::json(
        201,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity",
            "id": inv_id.to_string(),
            "inviteRedeemUrl": format!("https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{tenant_id}%26user%3d{uid}%26ticket%3d{ticket}"),
            "invitedUserDisplayName": display,
            "invitedUserType": user_type,
            "invitedUserEmailAddress": address,
            "sendInvitationMessage": send,
            "resetRedemption": false,
            "inviteRedirectUrl": redirect,
            "status": status,
            "invitedUserMessageInfo": {
                "messageLanguage": null,
                "ccRecipients": [{"emailAddress": {"name": null, "address": null}}],
                "customizedMessageBody": null
            },
            "invitedUser": {"id": uid.to_string()}
        }),
    )
}

/// The simulated tenant whose user has `address` (UPN or mail), when that
/// tenant and the host both allow automatic redemption between them and the
/// host does not block its users.
fn auto_redeeming_source(w: &World, host: Guid, address: &str) -> Option<Guid> {
    let h = w.tenants.get(&host)?;
    let source = w.tenants.values().find(|t| {
        t.id != host && (t.by_upn(address).is_some() || !t.by_mail(address).is_empty())
    })?;
    h.policies
        .auto_redeems(host, source.id, &source.policies)
        .then_some(source.id)
}

/// A user of the tenant's own: type Member, no `#EXT#` UPN, not created by
/// an invitation, no redemption state.
fn is_internal_member(u: &crate::devtools::sim::model::User) -> bool {
    u.s("userType").unwrap_or("Member") == "Member"
        && !u
            .s("userPrincipalName")
            .is_some_and(|p| p.to_ascii_uppercase().contains("#EXT#"))
        && u.s("creationType") != Some("Invitation")
        && u.s("externalUserState").is_none()
}
