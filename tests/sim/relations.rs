//! A user's manager and sponsors and a group's owners over real HTTP:
//! the documented endpoints, `$expand=manager` on the user list, 404s
//! for unknown ids and missing relations, the duplicate-sponsor 400, and
//! the writes counted like every other write.
use super::*;
use guest_sync::devtools::sim::NewUser;
use serde_json::json;

/// Manager: PUT `$ref`, GET, `$expand` on the list and on one user, DELETE,
/// and the 404s.
#[tokio::test]
async fn a_manager_is_set_read_expanded_and_removed() {
    let e = env(SimConfig::fast()).await;
    let boss = e
        .sim
        .create_user(e.host, NewUser::simple("Boss", "boss@host.example"));
    let ann = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let (s, _) = e.get(&tok, &format!("users/{ann}/manager")).await;
    assert_eq!(s, 404);
    let put = |target: String| {
        e.req(
            reqwest::Method::PUT,
            &tok,
            &format!("users/{ann}/manager/$ref"),
        )
        .json(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{target}")}))
        .send()
    };
    assert_eq!(put(Guid::new_v4().to_string()).await.unwrap().status(), 404);
    assert_eq!(put(boss.to_string()).await.unwrap().status(), 204);
    assert_eq!(e.sim.manager(e.host, ann), Some(boss));
    assert_eq!(e.sim.counts().op_for("manager_set", ann), 1);
    let (s, v) = e
        .get(&tok, &format!("users/{ann}/manager?$select=id"))
        .await;
    assert_eq!(
        (s, v["id"].as_str()),
        (200, Some(boss.to_string().as_str()))
    );
    let (s, v) = e
        .get(
            &tok,
            "users?$select=id&$expand=manager($select=id)&$top=999",
        )
        .await;
    assert_eq!(s, 200);
    let rows = v["value"].as_array().unwrap();
    let row = |id: Guid| {
        rows.iter()
            .find(|r| r["id"] == id.to_string())
            .unwrap()
            .clone()
    };
    assert_eq!(row(ann)["manager"]["id"], boss.to_string());
    assert!(row(boss).get("manager").is_none());
    let (s, v) = e.get(&tok, &format!("users/{ann}?$expand=manager")).await;
    assert_eq!(
        (s, v["manager"]["id"].clone()),
        (200, json!(boss.to_string()))
    );
    let (s, _) = e.get(&tok, "users?$expand=nothingHere").await;
    assert_eq!(s, 400);
    let del = || {
        e.req(
            reqwest::Method::DELETE,
            &tok,
            &format!("users/{ann}/manager/$ref"),
        )
        .send()
    };
    assert_eq!(del().await.unwrap().status(), 204);
    assert_eq!(del().await.unwrap().status(), 404);
    assert_eq!(e.sim.manager(e.host, ann), None);
    let (s, _) = e
        .get(&tok, &format!("users/{}/manager", Guid::new_v4()))
        .await;
    assert_eq!(s, 404);
}

/// Sponsors: POST `$ref` (a second time is 400), GET, DELETE `$ref` (a
/// second time is 404); group owners are listed.
#[tokio::test]
async fn sponsors_are_added_listed_and_removed_and_owners_listed() {
    let e = env(SimConfig::fast()).await;
    let alice = e
        .sim
        .create_user(e.host, NewUser::simple("Alice", "alice@host.example"));
    let ann = e.sim.create_guest(e.host, "ann@fabrikam.com", "Ann");
    let tok = e.host_token().await;
    let add = || {
        e.req(
            reqwest::Method::POST,
            &tok,
            &format!("users/{ann}/sponsors/$ref"),
        )
        .json(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{alice}")}))
        .send()
    };
    assert_eq!(add().await.unwrap().status(), 204);
    let again = add().await.unwrap();
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already exist"));
    let (s, v) = e.get(&tok, &format!("users/{ann}/sponsors")).await;
    assert_eq!(
        (s, v["value"][0]["id"].clone()),
        (200, json!(alice.to_string()))
    );
    assert_eq!(v["value"][0]["@odata.type"], "#microsoft.graph.user");
    let del = || {
        e.req(
            reqwest::Method::DELETE,
            &tok,
            &format!("users/{ann}/sponsors/{alice}/$ref"),
        )
        .send()
    };
    assert_eq!(del().await.unwrap().status(), 204);
    assert_eq!(del().await.unwrap().status(), 404);
    assert!(e.sim.sponsors(e.host, ann).is_empty());
    assert_eq!(e.sim.counts().op_for("sponsor_add", ann), 1);
    assert_eq!(e.sim.counts().op_for("sponsor_remove", ann), 1);

    let g = e.sim.create_group(e.host, "Sponsors");
    e.sim.add_group_owner(e.host, g, alice);
    let (s, v) = e.get(&tok, &format!("groups/{g}/owners?$select=id")).await;
    assert_eq!(
        (s, v["value"][0]["id"].clone()),
        (200, json!(alice.to_string()))
    );
    let (s, _) = e
        .get(&tok, &format!("groups/{}/owners", Guid::new_v4()))
        .await;
    assert_eq!(s, 404);
}

/// The relation writes need a write permission: a read-only app is refused.
#[tokio::test]
async fn relation_writes_need_user_readwrite() {
    let e = env(SimConfig::fast()).await;
    let a = e
        .sim
        .create_user(e.src, NewUser::simple("A", "a@src.example"));
    let b = e
        .sim
        .create_user(e.src, NewUser::simple("B", "b@src.example"));
    let tok = e.src_token().await;
    let r = e
        .req(
            reqwest::Method::PUT,
            &tok,
            &format!("users/{a}/manager/$ref"),
        )
        .json(&json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/users/{b}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
