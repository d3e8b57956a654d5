//! The Graph client's delta rounds, checkMemberGroups and nested groups
//! against the simulator.
use std::collections::BTreeSet;

use guest_sync::devtools::sim::NewUser;
use guest_sync::domain::Guid;
use guest_sync::graph::{
    DeltaFrom, DeltaGroup, DeltaUser, GraphError, ManagerDelta, MemberKind, Removal,
};
use serde_json::json;

use super::Host;

fn users(h: &Host, n: usize) -> Vec<Guid> {
    (0..n)
        .map(|i| {
            h.sim.create_user(
                h.tenant,
                NewUser::simple(&format!("Delta {i}"), &format!("d{i}@host.example")),
            )
        })
        .collect()
}

/// An initial round over two pages ends with a deltaLink; the next round
/// from it carries the update, the soft delete and the manager change.
#[tokio::test]
async fn users_delta_rounds_report_updates_removals_and_managers() {
    let h = Host::fast().await;
    let u = users(&h, 150);
    let g = h.graph();
    let mut rows: Vec<DeltaUser> = Vec::new();
    let read = g
        .users_delta(
            &DeltaFrom::Initial,
            &["displayName", "jobTitle"],
            true,
            |p| rows.extend(p),
        )
        .await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert!(read.pages >= 2, "{} pages", read.pages);
    assert_eq!(read.items, rows.len() as u64);
    let seen: BTreeSet<Guid> = rows.iter().map(|r| r.id).collect();
    assert!(u.iter().all(|id| seen.contains(id)));
    let link = read.delta_link.expect("a deltaLink");

    let mut p = serde_json::Map::new();
    p.insert("jobTitle".into(), json!("Lead"));
    h.sim.update_user(h.tenant, u[1], p);
    h.sim.delete_user(h.tenant, u[2]);
    h.sim.set_manager(h.tenant, u[3], Some(u[4]));
    let mut rows: Vec<DeltaUser> = Vec::new();
    let read = g
        .users_delta(&DeltaFrom::Link(link), &[], false, |p| rows.extend(p))
        .await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert!(read.delta_link.is_some());
    let by = |id: Guid| rows.iter().find(|r| r.id == id).expect("a row");
    assert_eq!(by(u[1]).user.str("jobTitle"), Some("Lead"));
    assert_eq!(by(u[1]).removed, None);
    assert_eq!(by(u[2]).removed, Some(Removal::Changed));
    assert_eq!(by(u[3]).manager, Some(ManagerDelta::Set(u[4])));

    h.sim.set_manager(h.tenant, u[3], None);
    let latest_rows = {
        let mut rows: Vec<DeltaUser> = Vec::new();
        let read = g
            .users_delta(
                &DeltaFrom::Link(read.delta_link.unwrap()),
                &[],
                false,
                |p| rows.extend(p),
            )
            .await;
        assert!(read.error.is_none(), "{:?}", read.error);
        rows
    };
    assert_eq!(latest_rows.len(), 1);
    assert_eq!(latest_rows[0].manager, Some(ManagerDelta::Removed));
}

/// `Latest` gives no rows and a deltaLink; groups/delta reports direct
/// member adds and removes of the filtered groups only.
#[tokio::test]
async fn groups_delta_reports_direct_member_changes_of_the_filtered_groups() {
    let h = Host::fast().await;
    let u = users(&h, 3);
    let a = h.sim.create_group(h.tenant, "A");
    let nested = h.sim.create_group(h.tenant, "Nested");
    let other = h.sim.create_group(h.tenant, "Other");
    h.sim.add_member(h.tenant, a, u[0]);
    h.sim.add_member(h.tenant, a, nested);
    h.sim.add_member(h.tenant, nested, u[1]);
    let g = h.graph();
    let mut rows: Vec<DeltaGroup> = Vec::new();
    let read = g
        .groups_delta(&DeltaFrom::Initial, &[a], |p| rows.extend(p))
        .await;
    assert!(read.error.is_none(), "{:?}", read.error);
    assert_eq!(rows.len(), 1);
    let added: BTreeSet<(Guid, MemberKind)> = rows[0]
        .members_added
        .iter()
        .map(|m| (m.id, m.kind))
        .collect();
    assert_eq!(
        added,
        [(u[0], MemberKind::User), (nested, MemberKind::Group)].into()
    );

    let mut latest = 0;
    let lread = g
        .groups_delta(&DeltaFrom::Latest, &[a], |p| latest += p.len())
        .await;
    assert_eq!((latest, lread.error.is_none()), (0, true));

    h.sim.remove_member(h.tenant, a, u[0]);
    h.sim.add_member(h.tenant, a, u[2]);
    h.sim.add_member(h.tenant, other, u[0]);
    for link in [read.delta_link.unwrap(), lread.delta_link.unwrap()] {
        let mut rows: Vec<DeltaGroup> = Vec::new();
        let r = g
            .groups_delta(&DeltaFrom::Link(link), &[], |p| rows.extend(p))
            .await;
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, a);
        assert_eq!(
            rows[0]
                .members_removed
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            vec![u[0]]
        );
        assert_eq!(
            rows[0]
                .members_added
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>(),
            vec![u[2]]
        );
    }
}

/// An expired token is "resync required" and leaves no deltaLink; a
/// malformed one is a plain refusal; a deltaLink to another host is never
/// followed and the error names the host, not the token.
#[tokio::test]
async fn expired_malformed_and_foreign_delta_links_are_errors() {
    let h = Host::fast().await;
    users(&h, 2);
    let g = h.graph();
    let read = g
        .users_delta(&DeltaFrom::Latest, &["id"], false, |_| {})
        .await;
    let link = read.delta_link.unwrap();
    h.sim.expire_delta_tokens(h.tenant);
    let read = g
        .users_delta(&DeltaFrom::Link(link.clone()), &[], false, |_| {})
        .await;
    assert!(read.delta_link.is_none());
    let e = read.error.expect("an error");
    assert!(e.is_resync_required(), "{e}");

    let bad = format!("{}v1.0/users/delta?$deltatoken=garbage", h.sim.url());
    let read = g
        .users_delta(&DeltaFrom::Link(bad), &[], false, |_| {})
        .await;
    let e = read.error.expect("an error");
    assert!(!e.is_resync_required(), "{e}");
    assert_eq!(e.status(), Some(400), "{e}");

    let before = h.sim.counts().total;
    let foreign = "https://evil.example/v1.0/users/delta?$deltatoken=SECRETSTATE";
    let read = g
        .users_delta(&DeltaFrom::Link(foreign.into()), &[], false, |_| {})
        .await;
    let e = read.error.expect("an error");
    assert!(matches!(e, GraphError::InvalidResponse { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("evil.example") && !msg.contains("SECRETSTATE"),
        "{msg}"
    );
    assert_eq!(h.sim.counts().total, before, "nothing was sent");
}

/// checkMemberGroups answers membership through nested groups; nested
/// groups are listed at any depth.
#[tokio::test]
async fn check_member_groups_and_nested_groups() {
    let h = Host::fast().await;
    let u = users(&h, 1)[0];
    let top = h.sim.create_group(h.tenant, "Top");
    let mid = h.sim.create_group(h.tenant, "Mid");
    let unrelated = h.sim.create_group(h.tenant, "Unrelated");
    h.sim.add_member(h.tenant, top, mid);
    h.sim.add_member(h.tenant, mid, u);
    let g = h.graph();
    let mut many: Vec<Guid> = (0..25).map(|_| Guid::new_v4()).collect();
    many.push(top);
    many.push(unrelated);
    assert_eq!(g.check_member_groups(u, &many).await.unwrap(), vec![top]);
    assert_eq!(g.nested_groups(top).await.unwrap(), vec![mid]);
    assert!(g.nested_groups(mid).await.unwrap().is_empty());
}
