//! Paging by @odata.nextLink, query validation and the $filter forms.
use std::collections::BTreeSet;

use super::*;
use guest_sync::devtools::sim::{GenerateSpec, NewUser};

/// Following nextLink over several pages yields every in-scope member exactly once.
#[tokio::test]
async fn following_next_links_reads_every_member_exactly_once() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(
        e.src,
        &GenerateSpec {
            users: 2_345,
            nested_depth: 3,
            guest_share: 0.0,
            ..GenerateSpec::default()
        },
    );
    let tok = e.src_token().await;
    let mut url = format!(
        "groups/{}/transitiveMembers/microsoft.graph.user?$select=id,displayName&$top=999",
        g.group_id
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (s, v) = e.get(&tok, &url).await;
        assert_eq!(s, 200, "{v}");
        pages += 1;
        for m in v["value"].as_array().unwrap() {
            seen.push(m["id"].as_str().unwrap().parse::<Guid>().unwrap());
        }
        match v["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let unique: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no member twice");
    assert_eq!(unique, g.user_ids.iter().copied().collect());
}

/// The type cast needs ConsistencyLevel: eventual, and $top is limited to 999.
#[tokio::test]
async fn member_reads_need_eventual_consistency_and_a_valid_top() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(e.src, &GenerateSpec::default());
    let tok = e.src_token().await;
    let path = format!(
        "groups/{}/transitiveMembers/microsoft.graph.user",
        g.group_id
    );
    let r = e
        .http
        .get(format!("{}/v1.0/{path}", e.base()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let (s, v) = e.get(&tok, &format!("{path}?$top=1000")).await;
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("999"));
}

/// Membership changes show in the next read (the cached closure is invalidated).
#[tokio::test]
async fn a_membership_change_shows_in_the_next_read() {
    let e = env(SimConfig::fast()).await;
    let g = e.sim.generate_source(e.src, &GenerateSpec::default());
    let tok = e.src_token().await;
    let path = format!(
        "groups/{}/transitiveMembers/microsoft.graph.user?$count=true&$top=1",
        g.group_id
    );
    let (_, v) = e.get(&tok, &path).await;
    let before = v["@odata.count"].as_u64().unwrap();
    let leaver = g.user_ids[0];
    for gid in std::iter::once(g.group_id).chain(g.nested_group_ids.iter().copied()) {
        e.sim.remove_member(e.src, gid, leaver);
    }
    let joiner = e.sim.create_user(
        e.src,
        NewUser::simple("New Person", "new@source.onmicrosoft.com"),
    );
    let joiner2 = e.sim.create_user(
        e.src,
        NewUser::simple("Newer Person", "newer@source.onmicrosoft.com"),
    );
    e.sim
        .add_member(e.src, *g.nested_group_ids.last().unwrap(), joiner);
    e.sim.add_member(e.src, g.group_id, joiner2);
    let (_, v) = e.get(&tok, &path).await;
    assert_eq!(v["@odata.count"].as_u64().unwrap(), before + 1);
    let all = e.sim.transitive_user_members(e.src, g.group_id);
    assert!(all.contains(&joiner) && all.contains(&joiner2) && !all.contains(&leaver));
}

/// The filter forms the client sends find the right users; unsupported ones answer 400.
#[tokio::test]
async fn the_client_filter_forms_find_the_right_users() {
    let e = env(SimConfig::fast()).await;
    let tok = e.host_token().await;
    let (_, v) = e.invite(&tok, "ann@fabrikam.com").await;
    let guest = v["invitedUser"]["id"].as_str().unwrap().to_string();
    let member = e.sim.create_user(
        e.host,
        NewUser::simple("Host Admin", "admin@host.onmicrosoft.com"),
    );
    let cases = [
        ("mail eq 'ANN@fabrikam.com'", vec![guest.clone()]),
        (
            "otherMails/any(m:m eq 'ann@fabrikam.com')",
            vec![guest.clone()],
        ),
        (
            "userPrincipalName eq 'ann_fabrikam.com#EXT#@host.onmicrosoft.com'",
            vec![guest.clone()],
        ),
        ("userType eq 'Guest'", vec![guest.clone()]),
        (
            "userType eq 'Guest' and externalUserState eq 'PendingAcceptance'",
            vec![guest.clone()],
        ),
        (
            "mail eq 'nobody@x.com' or userPrincipalName eq 'admin@host.onmicrosoft.com'",
            vec![member.to_string()],
        ),
        ("externalUserState eq 'Accepted'", vec![]),
    ];
    for (f, want) in cases {
        let r = e
            .req(reqwest::Method::GET, &tok, "users")
            .query(&[("$filter", f), ("$select", "id,mail")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{f}");
        let v: Value = r.json().await.unwrap();
        let got: Vec<String> = v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "{f}");
    }
    let r = e
        .req(reqwest::Method::GET, &tok, "users")
        .query(&[("$filter", "endswith(mail,'x')")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Unsupported Query.");
}

/// A filtered guest list over many guests is paged too.
#[tokio::test]
async fn a_filtered_user_list_is_paged() {
    let e = env(SimConfig::fast()).await;
    for i in 0..250 {
        e.sim
            .create_guest(e.host, &format!("g{i}@fabrikam.com"), &format!("G {i}"));
    }
    let tok = e.host_token().await;
    let mut url = "users?$filter=userType%20eq%20'Guest'&$top=100&$select=id".to_string();
    let mut n = 0;
    let mut pages = 0;
    loop {
        let (s, v) = e.get(&tok, &url).await;
        assert_eq!(s, 200);
        pages += 1;
        n += v["value"].as_array().unwrap().len();
        match v["@odata.nextLink"].as_str() {
            Some(l) => url = l.to_string(),
            None => break,
        }
    }
    assert_eq!((n, pages), (250, 3));
}
