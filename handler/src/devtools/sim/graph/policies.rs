//! The tenant settings `guest-sync doctor` reads: `GET
//! /policies/authorizationPolicy`, `GET /admin/people/photoUpdateSettings`
//! (a beta resource; the simulator serves `/beta/` like `/v1.0/`) and the
//! cross-tenant access policy (`/policies/crossTenantAccessPolicy/default`
//! and `.../partners/{tenantId}`, 404 for a tenant without an entry), in
//! Graph's shapes, from [`SimPolicies`](crate::devtools::sim::SimPolicies).
use serde_json::{json, Value};

use super::tenant;
use crate::devtools::sim::http::{Call, GResp};
use crate::devtools::sim::model::{SimCrossTenant, World};
use crate::domain::Guid;

/// Policy.Read.All and what includes it.
const READ_POLICY: &[&str] = &[
    "Policy.Read.All",
    "Policy.ReadWrite.Authorization",
    "Policy.ReadWrite.CrossTenantAccess",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_PEOPLE_SETTINGS: &[&str] = &["PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All"];

/// `GET /policies/authorizationPolicy`.
pub(super) fn authorization_policy(w: &mut World, call: &Call<'_>) -> GResp {
    if !call.has(READ_POLICY) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let allow = if t.restrict_invitations {
        "none".to_string()
    } else {
        t.policies.allow_invites_from.clone()
    };
    GResp::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#policies/authorizationPolicy/$entity", call.base),
            "id": "authorizationPolicy",
            "displayName": "Authorization Policy",
            "description": "Used to manage authorization related settings across the company.",
            "allowInvitesFrom": allow,
            "allowedToSignUpEmailBasedSubscriptions": true,
            "allowedToUseSSPR": true,
            "allowEmailVerifiedUsersToJoinOrganization": false,
            "blockMsolPowerShell": false,
            "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
            "defaultUserRolePermissions": {
                "allowedToCreateApps": true,
                "allowedToCreateSecurityGroups": true,
                "allowedToReadOtherUsers": true,
            },
        }),
    )
}

/// `GET /admin/people/photoUpdateSettings`.
pub(super) fn photo_update_settings(w: &mut World, call: &Call<'_>) -> GResp {
    if !call.has(READ_PEOPLE_SETTINGS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    GResp::json(
        200,
        json!({
            "@odata.context": format!("{}/beta/$metadata#admin/people/photoUpdateSettings/$entity", call.base),
            "id": "photoUpdateSettings",
            "source": t.policies.photo_source,
            "allowedRoles": t.policies.photo_allowed_roles,
        }),
    )
}

/// The consent settings and inbound B2B of one configuration, `null` where
/// inherited.
fn inbound(c: &SimCrossTenant) -> (Value, Value) {
    let consent = json!({
        "inboundAllowed": c.inbound_auto_redeem,
        "outboundAllowed": c.outbound_auto_redeem,
    });
    let b2b = match c.b2b_inbound_blocked {
        None => Value::Null,
        Some(blocked) => json!({
            "usersAndGroups": {
                "accessType": if blocked { "blocked" } else { "allowed" },
                "targets": [{"target": "AllUsers", "targetType": "user"}],
            },
            "applications": {
                "accessType": if blocked { "blocked" } else { "allowed" },
                "targets": [{"target": "AllApplications", "targetType": "application"}],
            },
        }),
    };
    (consent, b2b)
}

/// `GET /policies/crossTenantAccessPolicy/default`.
pub(super) fn cross_tenant_default(w: &mut World, call: &Call<'_>) -> GResp {
    if !call.has(READ_POLICY) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    // Graph: "The inboundAllowed and outboundAllowed properties are always
    // false and can't be updated in the default configuration."
    let (consent, b2b) = inbound(&SimCrossTenant {
        inbound_auto_redeem: Some(false),
        outbound_auto_redeem: Some(false),
        ..t.policies.cross_tenant_default
    });
    GResp::json(
        200,
        json!({
            "@odata.context": format!("{}/v1.0/$metadata#policies/crossTenantAccessPolicy/default/$entity", call.base),
            "isServiceDefault": false,
            "automaticUserConsentSettings": consent,
            "b2bCollaborationInbound": b2b,
            "b2bCollaborationOutbound": null,
            "inboundTrust": null,
        }),
    )
}

/// `GET /policies/crossTenantAccessPolicy/partners/{tenantId}`: 404 when
/// the partner has no configuration of its own.
pub(super) fn cross_tenant_partner(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(READ_POLICY) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let Ok(id) = Guid::parse_named(key, "tenantId") else {
        return GResp::bad_request(format!("Invalid tenant id '{key}'."));
    };
    match t.policies.partners.get(&id) {
        None => GResp::error(
            404,
            "ResourceNotFound",
            format!("Partner policy for tenant '{id}' was not found."),
        ),
        Some(p) => {
            let (consent, b2b) = inbound(p);
            GResp::json(
                200,
                json!({
                    "@odata.context": format!("{}/v1.0/$metadata#policies/crossTenantAccessPolicy/partners/$entity", call.base),
                    "tenantId": id.to_string(),
                    "isServiceProvider": false,
                    "isInMultiTenantOrganization": false,
                    "automaticUserConsentSettings": consent,
                    "b2bCollaborationInbound": b2b,
                    "b2bCollaborationOutbound": null,
                    "inboundTrust": null,
                }),
            )
        }
    }
}
