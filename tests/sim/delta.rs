//! Delta queries (users/delta, groups/delta) and the membership reads that
//! go with them (checkMemberGroups, nested groups), over raw HTTP.
use std::collections::BTreeSet;

use super::*;
use guest_sync::devtools::sim::NewUser;
use serde_json::json;

/// Reads a whole round from `url` (page size `max`): every row, the page
/// count and the deltaLink.
async fn round(e: &Env, tok: &str, url: &str, max: u32) -> (Vec<Value>, u32, String) {
    let mut url = url.to_string();
    let mut rows = Vec::new();
    let mut pages = 0;
    loop {
        let r = e
            .req(reqwest::Method::GET, tok, &url)
            .header("Prefer", format!("odata.maxpagesize={max}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        pages += 1;
        rows.extend(v["value"].as_array().unwrap().iter().cloned());
        match (
            v["@odata.nextLink"].as_str(),
            v["@odata.deltaLink"].as_str(),
        ) {
            (Some(n), None) => url = n.to_string(),
            (None, Some(d)) => return (rows, pages, d.to_string()),
            other => panic!("a page has one of nextLink and deltaLink: {other:?}"),
        }
    }
}

fn ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn row(rows: &[Value], id: Guid) -> &Value {
    rows.iter()
        .find(|r| r["id"] == id.to_string())
        .unwrap_or_else(|| panic!("no row for {id}"))
}

fn users(e: &Env, n: usize) -> Vec<Guid> {
    (0..n)
        .map(|i| {
            e.sim.create_user(
                e.src,
                NewUser::simple(&format!("User {i}"), &format!("u{i}@src.example")),
            )
        })
        .collect()
}

/// An initial round pages with nextLinks and ends with a deltaLink; a
/// created, an updated and a soft-deleted user come in the next round (the
/// soft-deleted one as @removed "changed").
#[tokio::test]
async fn users_delta_initial_round_then_created_updated_and_deleted_users() {
    let e = env(SimConfig::fast()).await;
    let u = users(&e, 5);
    let tok = e.src_token().await;
    let (rows, pages, link) = round(&e, &tok, "users/delta?$select=displayName,jobTitle", 2).await;
    assert_eq!(pages, 3);
    assert_eq!(ids(&rows), u.iter().map(Guid::to_string).collect());
    assert!(rows[0].get("displayName").is_some() && rows[0].get("mail").is_none());

    let new = e
        .sim
        .create_user(e.src, NewUser::simple("New", "new@src.example"));
    let mut p = serde_json::Map::new();
    p.insert("jobTitle".into(), json!("Chief"));
    e.sim.update_user(e.src, u[0], p);
    e.sim.delete_user(e.src, u[1]);
    let (rows, _, _) = round(&e, &tok, &link, 100).await;
    assert_eq!(
        ids(&rows),
        [new, u[0], u[1]].iter().map(Guid::to_string).collect()
    );
    assert_eq!(row(&rows, new)["displayName"], "New");
    assert_eq!(row(&rows, u[0])["jobTitle"], "Chief");
    assert_eq!(row(&rows, u[1])["@removed"]["reason"], "changed");
}

/// `$deltatoken=latest` answers no rows and a deltaLink for now: only
/// later changes follow it.
#[tokio::test]
async fn latest_token_gives_an_empty_round_then_only_later_changes() {
    let e = env(SimConfig::fast()).await;
    users(&e, 3);
    let tok = e.src_token().await;
    let (rows, pages, link) =
        round(&e, &tok, "users/delta?$select=id&$deltatoken=latest", 10).await;
    assert_eq!((rows.len(), pages), (0, 1));
    let new = e
        .sim
        .create_user(e.src, NewUser::simple("New", "new@src.example"));
    let (rows, _, _) = round(&e, &tok, &link, 10).await;
    assert_eq!(ids(&rows), [new.to_string()].into());
}

/// A change made between two pages of a round is not lost: it comes in
/// this round or the next.
#[tokio::test]
async fn a_change_between_pages_comes_this_round_or_the_next() {
    let e = env(SimConfig::fast()).await;
    let u = users(&e, 4);
    let tok = e.src_token().await;
    let r = e
        .req(
            reqwest::Method::GET,
            &tok,
            "users/delta?$select=displayName",
        )
        .header("Prefer", "odata.maxpagesize=2")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let next = v["@odata.nextLink"].as_str().unwrap().to_string();
    let first: Vec<Value> = v["value"].as_array().unwrap().clone();
    // Update a user already read, and create one.
    let read_id: Guid = first[0]["id"].as_str().unwrap().parse().unwrap();
    let mut p = serde_json::Map::new();
    p.insert("displayName".into(), json!("Renamed"));
    e.sim.update_user(e.src, read_id, p);
    let new = e
        .sim
        .create_user(e.src, NewUser::simple("Late", "late@src.example"));
    let (rest, _, link) = round(&e, &tok, &next, 2).await;
    let (next_round, _, _) = round(&e, &tok, &link, 100).await;
    let this_round: Vec<Value> = first.into_iter().chain(rest).collect();
    let seen_renamed = this_round
        .iter()
        .chain(next_round.iter())
        .any(|r| r["id"] == read_id.to_string() && r["displayName"] == "Renamed");
    assert!(seen_renamed, "the rename is seen");
    assert!(
        ids(&this_round).contains(&new.to_string()) || ids(&next_round).contains(&new.to_string())
    );
    assert_eq!(
        ids(&this_round).len(),
        u.len() + usize::from(ids(&this_round).contains(&new.to_string()))
    );
}

/// groups/delta filtered by id lists direct members (users and groups, not
/// the nested group's users); later adds and removes come in members@delta.
#[tokio::test]
async fn groups_delta_lists_direct_members_and_their_changes() {
    let e = env(SimConfig::fast()).await;
    let u = users(&e, 4);
    let a = e.sim.create_group(e.src, "A");
    let b = e.sim.create_group(e.src, "B");
    let other = e.sim.create_group(e.src, "Other");
    e.sim.add_member(e.src, a, u[0]);
    e.sim.add_member(e.src, a, b);
    e.sim.add_member(e.src, b, u[1]);
    e.sim.add_member(e.src, other, u[3]);
    let tok = e.src_token().await;
    let (rows, _, link) = round(
        &e,
        &tok,
        &format!("groups/delta?$select=members&$filter=id eq '{a}' or id eq '{b}'"),
        100,
    )
    .await;
    assert_eq!(ids(&rows), [a.to_string(), b.to_string()].into());
    let ma = row(&rows, a)["members@delta"].as_array().unwrap();
    let got: BTreeSet<(String, String)> = ma
        .iter()
        .map(|m| {
            (
                m["@odata.type"].as_str().unwrap().into(),
                m["id"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("#microsoft.graph.user".to_string(), u[0].to_string()),
            ("#microsoft.graph.group".to_string(), b.to_string())
        ]
        .into()
    );

    e.sim.remove_member(e.src, a, u[0]);
    e.sim.add_member(e.src, a, u[2]);
    e.sim.add_member(e.src, other, u[0]); // not filtered in
    let (rows, _, _) = round(&e, &tok, &link, 100).await;
    assert_eq!(ids(&rows), [a.to_string()].into());
    let md = row(&rows, a)["members@delta"].as_array().unwrap();
    let removed: Vec<_> = md.iter().filter(|m| m.get("@removed").is_some()).collect();
    let added: Vec<_> = md.iter().filter(|m| m.get("@removed").is_none()).collect();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["id"], u[0].to_string());
    assert_eq!(removed[0]["@removed"]["reason"], "deleted");
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["id"], u[2].to_string());

    // More than 50 ids is refused.
    let many = (0..51)
        .map(|_| format!("id eq '{}'", Guid::new_v4()))
        .collect::<Vec<_>>()
        .join(" or ");
    let (s, _) = e.get(&tok, &format!("groups/delta?$filter={many}")).await;
    assert_eq!(s, 400);
}

/// Expired tokens answer 410 syncStateNotFound (all of a tenant's at once,
/// or after the seven-day lifetime); malformed ones 400.
#[tokio::test]
async fn expired_tokens_answer_410_and_malformed_ones_400() {
    let e = env(SimConfig::fast()).await;
    users(&e, 3);
    let tok = e.src_token().await;
    let (_, _, link) = round(&e, &tok, "users/delta?$select=id", 100).await;
    let (s, _) = e.get(&tok, &link).await;
    assert_eq!(s, 200);
    e.sim.expire_delta_tokens(e.src);
    let (s, v) = e.get(&tok, &link).await;
    assert_eq!(s, 410, "{v}");
    assert_eq!(v["error"]["code"], "syncStateNotFound");

    let (_, _, link) = round(&e, &tok, "users/delta?$select=id", 100).await;
    e.sim.advance(8.0 * 24.0 * 3600.0);
    let tok = e.src_token().await;
    let (s, v) = e.get(&tok, &link).await;
    assert_eq!(s, 410, "{v}");

    let (s, v) = e.get(&tok, "users/delta?$deltatoken=not-a-token").await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("malformed"));
}

/// checkMemberGroups sees membership through a nested group; the group
/// cast of transitiveMembers lists nested groups at any depth.
#[tokio::test]
async fn check_member_groups_and_nested_groups_are_transitive() {
    let e = env(SimConfig::fast()).await;
    let u = users(&e, 1)[0];
    let top = e.sim.create_group(e.src, "Top");
    let mid = e.sim.create_group(e.src, "Mid");
    let low = e.sim.create_group(e.src, "Low");
    let unrelated = e.sim.create_group(e.src, "Unrelated");
    e.sim.add_member(e.src, top, mid);
    e.sim.add_member(e.src, mid, low);
    e.sim.add_member(e.src, low, u);
    let tok = e.src_token().await;
    let r = e
        .req(
            reqwest::Method::POST,
            &tok,
            &format!("users/{u}/checkMemberGroups"),
        )
        .json(&json!({"groupIds": [top.to_string(), unrelated.to_string()]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"], json!([top.to_string()]));
    let (s, v) = e
        .get(
            &tok,
            &format!("groups/{top}/transitiveMembers/microsoft.graph.group?$select=id"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        ids(v["value"].as_array().unwrap()),
        [mid.to_string(), low.to_string()].into()
    );
}
