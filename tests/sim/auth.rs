//! Tokens: AADSTS errors, binding to tenant and app, expiry, permissions.
use super::*;
use guest_sync::devtools::sim::GenerateSpec;

async fn aadsts(e: &Env, tenant: &str, client: &str, secret: &str) -> (u16, u64) {
    let r = e.token_response(tenant, client, secret).await;
    let s = r.status().as_u16();
    let v: Value = r.json().await.unwrap();
    (s, v["error_codes"][0].as_u64().unwrap_or(0))
}

/// Expired secret, unknown app and unknown tenant give their AADSTS codes.
#[tokio::test]
async fn token_errors_carry_the_documented_aadsts_codes() {
    let e = env(SimConfig::fast()).await;
    let (src, app) = (e.src.to_string(), e.src_app.to_string());
    let other = Guid::new_v4().to_string();
    assert_eq!(aadsts(&e, &src, &other, SRC_SECRET).await, (400, 700016));
    assert_eq!(aadsts(&e, &other, &app, SRC_SECRET).await, (400, 90002));
    // The host's app is not registered in the source tenant.
    assert_eq!(
        aadsts(&e, &src, &e.host_app.to_string(), HOST_SECRET).await,
        (400, 700016)
    );
    e.sim.expire_app_secret(e.src, e.src_app);
    assert_eq!(aadsts(&e, &src, &app, SRC_SECRET).await, (401, 7000222));
    // The initial domain works as the tenant segment too.
    let r = e
        .token_response("host.onmicrosoft.com", &e.host_app.to_string(), HOST_SECRET)
        .await;
    assert_eq!(r.status(), 200);
}

/// A token of tenant A is refused on tenant B's pinned URL, and B's objects are invisible to it.
#[tokio::test]
async fn a_token_of_one_tenant_is_refused_on_another() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(e.src, &GenerateSpec::default());
    let host_tok = e.host_token().await;
    let src_tok = e.src_token().await;
    let pinned = format!("{}/{}/v1.0/groups/{}", e.base(), e.src, g.group_id);
    let (s, v) = e.get(&host_tok, &pinned).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    let (s, _) = e.get(&src_tok, &pinned).await;
    assert_eq!(s, 200);
    // Unpinned: the host token's tenant has no such group.
    let (s, _) = e.get(&host_tok, &format!("groups/{}", g.group_id)).await;
    assert_eq!(s, 404);
}

/// A token stops working once its lifetime has passed on the simulated clock.
#[tokio::test]
async fn an_expired_token_answers_401() {
    let e = env(SimConfig::fast()).await;
    let tok = e.src_token().await;
    let (s, _) = e.get(&tok, "users?$top=1").await;
    assert_eq!(s, 200);
    e.sim
        .advance(SimConfig::fast().token_lifetime_secs as f64 + 1.0);
    let (s, v) = e.get(&tok, "users?$top=1").await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
}

/// Without User.Read.All members come back with ids only; without GroupMember.Read.All it is 403.
#[tokio::test]
async fn missing_permissions_reduce_or_refuse_the_member_read() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(e.src, &GenerateSpec::default());
    let path = format!(
        "groups/{}/transitiveMembers/microsoft.graph.user?$select=id,displayName",
        g.group_id
    );
    let only_members = Guid::new_v4();
    e.sim
        .register_app(e.src, only_members, "s1", &["GroupMember.Read.All"]);
    let tok = e.token(e.src, only_members, "s1").await;
    let (s, v) = e.get(&tok, &path).await;
    assert_eq!(s, 200);
    let first = v["value"][0].as_object().unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), vec!["id"]);

    let only_users = Guid::new_v4();
    e.sim
        .register_app(e.src, only_users, "s2", &["User.Read.All"]);
    let tok = e.token(e.src, only_users, "s2").await;
    let (s, v) = e.get(&tok, &path).await;
    assert_eq!(s, 403);
    assert_eq!(v["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(
        v["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
}

/// Invitations need User.Invite.All, and a restricting host refuses app-only invitations clearly.
#[tokio::test]
async fn invitations_need_the_permission_and_an_unrestricted_host() {
    let e = env(SimConfig::fast()).await;
    let reader = Guid::new_v4();
    e.sim.register_app(e.host, reader, "s", &["User.Read.All"]);
    let tok = e.token(e.host, reader, "s").await;
    let (s, _) = e.invite(&tok, "x@fabrikam.com").await;
    assert_eq!(s, 403);
    e.sim.restrict_invitations(e.host, true);
    let tok = e.host_token().await;
    let (s, v) = e.invite(&tok, "x@fabrikam.com").await;
    assert_eq!(s, 403);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Guest invitations not allowed"));
    assert!(e.sim.users(e.host).is_empty());
}
