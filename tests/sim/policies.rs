//! The tenant settings `guest-sync doctor` reads: tokens carry the app's
//! roles, the authorization, cross-tenant access and photo update policies
//! answer in Graph's shapes (404 for a partner without an entry), need
//! their read permissions, and are set over `/_sim` as through the Rust API.
use super::*;
use serde_json::json;

/// A token's `roles` claim lists exactly the permissions granted.
#[tokio::test]
async fn tokens_carry_the_granted_roles() {
    let e = env(SimConfig::fast()).await;
    let roles = guest_sync::graph::token_roles(&e.src_token().await).unwrap();
    assert_eq!(roles, ["GroupMember.Read.All", "User.Read.All"]);
}

/// Policies set over `/_sim` are what Graph answers; a partner without an
/// entry is 404; the reads need Policy.Read.All and
/// PeopleSettings.Read.All; `allowInvitesFrom: none` refuses invitations.
#[tokio::test]
async fn policies_are_set_over_the_control_interface_and_read_through_graph() {
    let e = env(SimConfig::fast()).await;
    let reader = Guid::new_v4();
    e.sim.register_app(
        e.host,
        reader,
        "reader",
        &[
            "Policy.Read.All",
            "PeopleSettings.Read.All",
            "User.Invite.All",
        ],
    );
    let tok = e.token(e.host, reader, "reader").await;
    let (s, v) = e.get(&tok, "policies/authorizationPolicy").await;
    assert_eq!((s, v["allowInvitesFrom"].as_str()), (200, Some("everyone")));
    let partner = Guid::new_v4();
    let (s, v) = e
        .get(
            &tok,
            &format!("policies/crossTenantAccessPolicy/partners/{partner}"),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("ResourceNotFound"))
    );

    let r = e
        .http
        .put(format!("{}/_sim/tenants/{}/policies", e.base(), e.host))
        .json(&json!({
            "allowInvitesFrom": "none",
            "photoSource": "onPremises",
            "partners": {partner.to_string(): {"inboundAutoRedeem": false}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, v) = e.get(&tok, "policies/authorizationPolicy").await;
    assert_eq!(v["allowInvitesFrom"], "none");
    let (s, v) = e
        .get(
            &tok,
            &format!("policies/crossTenantAccessPolicy/partners/{partner}"),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["tenantId"], partner.to_string());
    assert_eq!(v["automaticUserConsentSettings"]["inboundAllowed"], false);
    assert!(v["b2bCollaborationInbound"].is_null(), "inherited: {v}");
    let (s, v) = e
        .get(&tok, "policies/crossTenantAccessPolicy/default")
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["b2bCollaborationInbound"]["usersAndGroups"]["accessType"],
        "allowed"
    );
    let beta = format!("{}/beta/admin/people/photoUpdateSettings", e.base());
    let (s, v) = e.get(&tok, &beta).await;
    assert_eq!((s, v["source"].as_str()), (200, Some("onPremises")));
    let (s, _) = e.invite(&tok, "someone@example.com").await;
    assert_eq!(s, 403, "allowInvitesFrom none refuses invitations");

    let host = e.host_token().await;
    assert_eq!(e.get(&host, "policies/authorizationPolicy").await.0, 403);
    assert_eq!(e.get(&host, &beta).await.0, 403);
    let r = e
        .http
        .put(format!(
            "{}/_sim/tenants/{}/policies",
            e.base(),
            Guid::new_v4()
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an unknown tenant is named, not ignored");
}
