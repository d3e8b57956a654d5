//! Host writes: PATCH validation, delete and restore, photos, members, re-invite, redemption, counters.
use super::*;
use guest_sync::devtools::sim::{GenerateSpec, NewUser};
use serde_json::json;

/// PATCH applies valid values and refuses read-only or too long ones.
#[tokio::test]
async fn patch_applies_valid_values_and_refuses_invalid_ones() {
    let e = env(SimConfig::fast()).await;
    let u = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let patch = |body: Value| {
        e.req(reqwest::Method::PATCH, &tok, &format!("users/{u}"))
            .json(&body)
            .send()
    };
    let r = patch(json!({"displayName": "Ann Lee", "jobTitle": "Lead", "accountEnabled": false}))
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let user = e.sim.user(e.host, u).unwrap();
    assert_eq!(user.str("displayName"), Some("Ann Lee"));
    assert_eq!(user.attributes["accountEnabled"], false);
    for bad in [
        json!({"externalUserState": "Accepted"}),
        json!({"jobTitle": "x".repeat(129)}),
        json!({"displayName": ""}),
        json!({"accountEnabled": "yes"}),
        json!({"noSuchProperty": 1}),
    ] {
        assert_eq!(patch(bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    assert_eq!(e.sim.counts().op_for("patch", u), 1);
}

/// DELETE moves a user to deleted items and restore brings it back.
#[tokio::test]
async fn a_deleted_guest_can_be_restored() {
    let e = env(SimConfig::fast()).await;
    let u = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let r = e
        .req(reqwest::Method::DELETE, &tok, &format!("users/{u}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(e.sim.user(e.host, u).is_none());
    assert_eq!(e.sim.deleted_users(e.host)[0].id, u);
    let (s, v) = e
        .get(
            &tok,
            "directory/deletedItems/microsoft.graph.user?$filter=mail%20eq%20'ann@fabrikam.com'",
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["value"][0]["id"], u.to_string());
    let r = e
        .req(
            reqwest::Method::POST,
            &tok,
            &format!("directory/deletedItems/{u}/restore"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(e.sim.user(e.host, u).is_some());
    assert!(e.sim.deleted_users(e.host).is_empty());
}

/// Re-inviting an existing address returns the existing user and creates nothing.
#[tokio::test]
async fn re_inviting_an_existing_address_returns_the_existing_user() {
    let e = env(SimConfig::fast()).await;
    let existing = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let (s, v) = e.invite(&tok, "ANN@fabrikam.com").await;
    assert_eq!(s, 201);
    assert_eq!(v["invitedUser"]["id"], existing.to_string());
    assert_eq!(e.sim.users(e.host).len(), 1);
    assert_eq!(e.sim.counts().writes_total(), 0);
    // As Entra documents: the address joins the user's proxyAddresses.
    let u = e.sim.user(e.host, existing).unwrap();
    let proxies = u.attributes["proxyAddresses"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        proxies.iter().any(|p| p == "SMTP:ANN@fabrikam.com"),
        "{proxies:?}"
    );
}

/// Inviting the address of an internal member is refused with Graph's
/// 400 "Non-external user already exists…", and nothing changes.
#[tokio::test]
async fn inviting_an_internal_members_address_answers_400() {
    let e = env(SimConfig::fast()).await;
    let member = e.sim.create_user(
        e.host,
        guest_sync::devtools::sim::NewUser {
            display_name: "Bob".into(),
            upn: "bob@host.example".into(),
            mail: Some("bob@host.example".into()),
            job_title: None,
            department: None,
            company_name: None,
            account_enabled: true,
            user_type: "Member".into(),
            extra: serde_json::Map::new(),
        },
    );
    let tok = e.host_token().await;
    let (s, v) = e.invite(&tok, "bob@host.example").await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("Non-external user already exists"));
    assert_eq!(e.sim.users(e.host).len(), 1);
    assert!(e
        .sim
        .user(e.host, member)
        .unwrap()
        .attributes
        .get("proxyAddresses")
        .is_none());
}

/// Adding a member twice answers Graph's "already exist" 400.
#[tokio::test]
async fn adding_a_member_twice_answers_400() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.create_group(e.host, "All guests");
    let u = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let add = || {
        e.req(
            reqwest::Method::POST,
            &tok,
            &format!("groups/{g}/members/$ref"),
        )
        .json(
            &json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{u}")}),
        )
        .send()
    };
    assert_eq!(add().await.unwrap().status(), 204);
    let r = add().await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("One or more added object references already exist"));
    assert_eq!(e.sim.group_members(e.host, g), vec![u]);
}

/// Photos: wrong content type and more than 4 MB answer 400; DELETE removes the photo.
#[tokio::test]
async fn photo_writes_are_validated() {
    let e = env(SimConfig::fast()).await;
    let u = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let put = |ct: &'static str, body: Vec<u8>| {
        e.req(
            reqwest::Method::PUT,
            &tok,
            &format!("users/{u}/photo/$value"),
        )
        .header("Content-Type", ct)
        .body(body)
        .send()
    };
    assert_eq!(put("image/gif", vec![1, 2]).await.unwrap().status(), 400);
    assert_eq!(
        put("image/jpeg", vec![0; 4 * 1024 * 1024 + 1])
            .await
            .unwrap()
            .status(),
        400
    );
    // Graph's PUT …/photo/$value takes image/jpeg only.
    assert_eq!(
        put("image/png", vec![0x89, b'P']).await.unwrap().status(),
        400
    );
    assert_eq!(
        put("image/jpeg", vec![0xFF, 0xD8]).await.unwrap().status(),
        200
    );
    let r = e
        .req(reqwest::Method::DELETE, &tok, &format!("users/{u}/photo"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(e.sim.user(e.host, u).unwrap().photo.is_none());
}

/// Redemption sets Accepted with a date and overwrites the display name from the home profile.
#[tokio::test]
async fn redemption_accepts_and_overwrites_the_display_name() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(e.src, &GenerateSpec::default());
    let src_user = e.sim.user(e.src, g.user_ids[0]).unwrap();
    let tok = e.host_token().await;
    let (_, v) = e.invite(&tok, src_user.str("mail").unwrap()).await;
    let id: Guid = v["invitedUser"]["id"].as_str().unwrap().parse().unwrap();
    e.sim.update_user(
        e.host,
        id,
        serde_json::Map::from_iter([("displayName".to_string(), json!("Set By Sync"))]),
    );
    e.sim.redeem(e.host, id);
    let u = e.sim.user(e.host, id).unwrap();
    assert_eq!(u.str("externalUserState"), Some("Accepted"));
    assert!(u.str("externalUserStateChangeDateTime").is_some());
    assert_eq!(u.str("displayName"), src_user.str("displayName"));
    // Unknown home: the local part of the address.
    let other = e.sim.create_guest(e.host, "zed.x@elsewhere.com", "Zed");
    e.sim.redeem(e.host, other);
    assert_eq!(
        e.sim.user(e.host, other).unwrap().str("displayName"),
        Some("zed.x")
    );
    let _ = NewUser::simple("unused", "unused@x.com");
}
