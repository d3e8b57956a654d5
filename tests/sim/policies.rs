//! The tenant settings `guest-sync doctor` reads: tokens carry the app's
//! roles, the authorization, cross-tenant access and photo update policies
//! answer in Graph's shapes (404 for a partner without an entry), need
//! their read permissions, and are set over `/_sim` as through the Rust API.
use super::*;
use guest_sync::devtools::sim::GenerateSpec;
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

/// Automatic redemption over HTTP (Microsoft: the consent prompt is
/// suppressed only when the source's outbound and the host's inbound
/// settings both allow it): an invitation of a source user answers
/// `Completed` and the guest is `Accepted` at once only with both partner
/// entries, and never while the host blocks inbound B2B collaboration
/// (here inherited from the default by a partner entry that leaves it
/// `null`).
#[tokio::test]
async fn invitations_are_redeemed_automatically_only_when_both_sides_allow_it() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(
        e.src,
        &GenerateSpec {
            users: 4,
            ..Default::default()
        },
    );
    let upns: Vec<String> = g
        .user_ids
        .iter()
        .map(|id| {
            e.sim
                .user(e.src, *id)
                .and_then(|u| u.str("userPrincipalName").map(str::to_string))
                .unwrap()
        })
        .collect();
    let tok = e.host_token().await;
    // Neither side: an ordinary pending invitation.
    let (s, v) = e.invite(&tok, &upns[0]).await;
    assert_eq!((s, v["status"].as_str()), (201, Some("PendingAcceptance")));
    assert_eq!(
        state(&e, &tok, &v).await["externalUserState"],
        "PendingAcceptance"
    );

    // The host's inbound side alone: still pending.
    let host_entry = json!({"partners": {e.src.to_string(): {"inboundAutoRedeem": true}}});
    assert_eq!(put(&e, e.host, host_entry.clone()).await, 204);
    let (_, v) = e.invite(&tok, &upns[1]).await;
    assert_eq!(v["status"], "PendingAcceptance");

    // Both sides: redeemed at once, answered Completed.
    let src_entry = json!({"partners": {e.host.to_string(): {"outboundAutoRedeem": true}}});
    assert_eq!(put(&e, e.src, src_entry).await, 204);
    let (s, v) = e.invite(&tok, &upns[2]).await;
    assert_eq!((s, v["status"].as_str()), (201, Some("Completed")), "{v}");
    let u = state(&e, &tok, &v).await;
    assert_eq!(u["externalUserState"], "Accepted", "{u}");
    assert!(u["externalUserStateChangeDateTime"].is_string(), "{u}");
    // The source's partner entry shows its outbound side.
    let reader = Guid::new_v4();
    e.sim
        .register_app(e.src, reader, "reader", &["Policy.Read.All"]);
    let rt = e.token(e.src, reader, "reader").await;
    let (s, p) = e
        .get(
            &rt,
            &format!("policies/crossTenantAccessPolicy/partners/{}", e.host),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(p["automaticUserConsentSettings"]["outboundAllowed"], true);

    // Inbound B2B blocked by the default, inherited by the partner entry:
    // no automatic redemption.
    let mut blocked = host_entry;
    blocked["crossTenantDefault"] = json!({"b2bInboundBlocked": true});
    assert_eq!(put(&e, e.host, blocked).await, 204);
    let (_, v) = e.invite(&tok, &upns[3]).await;
    assert_eq!(v["status"], "PendingAcceptance", "{v}");
    assert_eq!(
        state(&e, &tok, &v).await["externalUserState"],
        "PendingAcceptance"
    );
}

/// Replaces a tenant's policies over `/_sim`; the status.
async fn put(e: &Env, tenant: Guid, body: serde_json::Value) -> u16 {
    e.http
        .put(format!("{}/_sim/tenants/{tenant}/policies", e.base()))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The invited guest as Graph answers it.
async fn state(e: &Env, tok: &str, invitation: &serde_json::Value) -> serde_json::Value {
    let id = invitation["invitedUser"]["id"].as_str().unwrap();
    e.get(
        tok,
        &format!("users/{id}?$select=id,externalUserState,externalUserStateChangeDateTime"),
    )
    .await
    .1
}
