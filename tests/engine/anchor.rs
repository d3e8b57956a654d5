//! The ownership anchor against the simulator (issue 13, case 6): every
//! guest we create carries `<sourceTenantId>/<sourceUserId>`; a lost store
//! is re-linked from it (a leaver is still removed), `store rebuild` does
//! it without a Graph write, another tenant's anchor is never taken over,
//! and an anchor Graph refuses degrades to a named attention item.
use guest_sync::devtools::sim::{NewUser, SimConfig, SimUser};
use guest_sync::domain::{GuestState, InviteAddress, TenantOptions};
use guest_sync::engine::{rebuild_records, NoProgress};
use serde_json::{json, Map};

use super::{b, s, H};
use crate::support::world::{SourceSpec, World};

fn anchor_of(u: &SimUser) -> Option<String> {
    u.attributes
        .get("onPremisesExtensionAttributes")?
        .get("extensionAttribute15")?
        .as_str()
        .map(str::to_string)
}

/// The guest records are lost, and with them the tenant's delta links (a
/// store lost whole; a partial loss is healed by the next full read).
async fn lose_the_store(h: &H) {
    for r in h.records().await.into_values() {
        h.store.delete_guest(h.src, r.source_user_id).await.unwrap();
    }
    forget_links(h.store.as_ref(), h.src).await;
    assert!(h.records().await.is_empty());
}

/// Drops a tenant's delta links: its next reconcile reads whole.
async fn forget_links(store: &dyn guest_sync::store::Store, tenant: guest_sync::domain::Guid) {
    let mut t = store.get_tenant(tenant).await.unwrap().unwrap();
    t.delta = None;
    store.put_tenant(&t).await.unwrap();
}

/// Store loss followed by a leaver: nobody is invited again or adopted,
/// everyone is managed again, and the leaver's guest is still removed.
#[tokio::test]
async fn a_lost_store_is_relinked_from_anchors_and_a_leaver_is_still_removed() {
    let h = H::fast().await;
    let users = h.members(4);
    assert_eq!(h.reconcile().await.counts.created, 4);
    let mut hosts = Vec::new();
    for u in &users {
        let g = h.guest(*u).await;
        assert_eq!(anchor_of(&g), Some(format!("{}/{}", h.src, u)));
        hosts.push(g.id);
    }
    lose_the_store(&h).await;
    h.sim.remove_member(h.src, h.group, users[3]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 0, "{:?}", out.counts);
    assert_eq!(out.counts.adopted, 0, "{:?}", out.counts);
    assert_eq!(out.counts.deprovisioned, 1, "{:?}", out.counts);
    assert!(h.sim.user(h.host, hosts[3]).is_none(), "the leaver stays");
    for (i, u) in users.iter().take(3).enumerate() {
        let r = h.record(*u).await;
        assert_eq!(r.host_user_id, Some(hosts[i]));
        assert!(!r.adopted, "re-linked as adopted");
        assert!(
            matches!(r.state, GuestState::Invited | GuestState::Accepted),
            "{:?}",
            r.state
        );
    }
    assert_eq!(h.sim.users(h.host).len(), 3);
    // Settled: the next run writes nothing.
    let before = h.sim.counts().writes_total();
    h.reconcile().await;
    assert_eq!(h.sim.counts().writes_total(), before);
}

/// `store rebuild` re-makes the records with no Graph write; a guest found
/// disabled is held (we cannot tell who disabled it), not re-enabled.
#[tokio::test]
async fn store_rebuild_remakes_records_without_a_graph_write() {
    let h = H::fast().await;
    let users = h.members(3);
    h.reconcile().await;
    let blocked = h.guest(users[0]).await.id;
    lose_the_store(&h).await;
    let mut off = Map::new();
    off.insert("accountEnabled".into(), json!(false));
    h.sim.update_user(h.host, blocked, off);
    let writes = h.sim.counts().writes_total();

    let dry = rebuild_records(&h.ctx, &h.tenant, false, &NoProgress)
        .await
        .unwrap();
    assert_eq!((dry.relinked, dry.held), (3, 1));
    assert!(h.records().await.is_empty(), "a dry rebuild stored records");
    let r = rebuild_records(&h.ctx, &h.tenant, true, &NoProgress)
        .await
        .unwrap();
    assert_eq!((r.relinked, r.held, r.kept), (3, 1, 0));
    assert_eq!(h.sim.counts().writes_total(), writes);
    assert_eq!(h.record(users[0]).await.state, GuestState::Held);
    assert!(!h.record(users[1]).await.adopted);
    // Rebuilding again finds nothing missing.
    let again = rebuild_records(&h.ctx, &h.tenant, true, &NoProgress)
        .await
        .unwrap();
    assert_eq!((again.relinked, again.kept), (0, 3));
    h.reconcile().await;
    assert_eq!(
        b(&h.sim.user(h.host, blocked).unwrap(), "accountEnabled"),
        Some(false)
    );
}

/// Two tenants claiming one address, with the first tenant's records lost:
/// only its anchor says whose the guest is, and the second tenant never
/// renames or adopts it.
#[tokio::test]
async fn another_tenants_anchor_is_a_conflict_even_without_its_records() {
    let w = World::fast().await;
    let a = w.add_source(SourceSpec::new("Alpha")).await;
    let bt = w
        .add_source(SourceSpec::new("Beta").options(TenantOptions {
            invite_address: InviteAddress::Mail,
            mail_domains: vec!["alpha.example".into()],
            ..TenantOptions::default()
        }))
        .await;
    let person = |upn: &str, name: &str| NewUser {
        display_name: name.into(),
        upn: upn.into(),
        mail: Some("ann@alpha.example".into()),
        job_title: None,
        department: None,
        company_name: None,
        account_enabled: true,
        user_type: "Member".into(),
        extra: Map::new(),
    };
    let ann = w
        .sim
        .create_user(a.tenant.tenant_id, person("ann@alpha.example", "Ann"));
    w.sim
        .add_member(a.tenant.tenant_id, a.generated.group_id, ann);
    let fake = w.sim.create_user(
        bt.tenant.tenant_id,
        person("x@beta.example", "IT Helpdesk - reset your password"),
    );
    w.sim
        .add_member(bt.tenant.tenant_id, bt.generated.group_id, fake);
    let driver = w.app().driver();
    let run = |t: guest_sync::domain::SourceTenant| {
        let driver = driver.clone();
        async move { super::reconcile_to_end(&driver, &t).await }
    };
    assert_eq!(run(a.tenant.clone()).await.created, 1);
    let guest = w
        .store
        .get_guest(a.tenant.tenant_id, ann)
        .await
        .unwrap()
        .unwrap()
        .host_user_id
        .unwrap();
    w.store.delete_guest(a.tenant.tenant_id, ann).await.unwrap();
    forget_links(w.store.as_ref(), a.tenant.tenant_id).await;
    let c = run(bt.tenant.clone()).await;
    assert_eq!((c.created, c.adopted, c.updated), (0, 0, 0), "{c:?}");
    let g = w.sim.user(w.host, guest).unwrap();
    assert_eq!(s(&g, "displayName"), Some("Ann"));
    let rb = w
        .store
        .get_guest(bt.tenant.tenant_id, fake)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rb.state, GuestState::Conflict);
    assert!(rb
        .last_error
        .unwrap_or_default()
        .contains(&a.tenant.tenant_id.to_string()));
    // Alpha re-links its own guest from the anchor.
    let ca = run(a.tenant.clone()).await;
    assert_eq!((ca.created, ca.adopted), (0, 0), "{ca:?}");
    let ra = w
        .store
        .get_guest(a.tenant.tenant_id, ann)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ra.host_user_id, Some(guest));
    assert!(!ra.adopted);
}

/// A directory extension that was never created: Graph refuses even to
/// select it; the host is read without it, the profiles still land, the
/// run warns (not fails), and once the extension exists the next run
/// writes the anchors.
#[tokio::test]
async fn an_anchor_graph_cannot_read_still_syncs_and_warns() {
    let ext = "extension_0123456789abcdef0123456789abcdef_guestSyncAnchor";
    let h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_ANCHOR_ATTRIBUTE", ext)],
        TenantOptions::default(),
    )
    .await;
    let users = h.members(3);
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 3, "{:?}", out.counts);
    assert_eq!(out.counts.failed, 0, "{:?}", out.counts);
    assert!(out.attention.is_none(), "{:?}", out.attention);
    let warning = out.warning.clone().unwrap_or_default();
    assert!(
        warning.contains(ext) && warning.contains("read"),
        "{warning}"
    );
    for u in &users {
        let g = h.guest(*u).await;
        assert_eq!(s(&g, "department"), Some("Sales"));
        assert!(g.attributes.get(ext).is_none());
    }
    h.sim.register_extension(h.host, ext);
    let out = h.reconcile().await;
    assert!(out.warning.is_none(), "{:?}", out.warning);
    for u in &users {
        let g = h.guest(*u).await;
        assert_eq!(
            g.attributes.get(ext).and_then(|v| v.as_str()),
            Some(format!("{}/{}", h.src, u).as_str())
        );
    }
    let before = h.sim.counts().writes_total();
    h.reconcile().await;
    assert_eq!(h.sim.counts().writes_total(), before, "a quiet run wrote");
}

/// An anchor attribute Graph reads but refuses to write (read-only, as
/// for attributes synced from on-premises): each guest's profile still
/// lands, one refused PATCH per run at most, and the run warns.
#[tokio::test]
async fn an_anchor_graph_refuses_to_write_still_syncs_and_warns() {
    let ext = "extension_0123456789abcdef0123456789abcdef_guestSyncAnchor";
    let h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_ANCHOR_ATTRIBUTE", ext)],
        TenantOptions::default(),
    )
    .await;
    h.sim.register_read_only_extension(h.host, ext);
    let users = h.members(3);
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 3, "{:?}", out.counts);
    assert_eq!(out.counts.failed, 0, "{:?}", out.counts);
    let warning = out.warning.clone().unwrap_or_default();
    assert!(
        warning.contains(ext) && warning.contains("written"),
        "{warning}"
    );
    for u in &users {
        assert_eq!(s(&h.guest(*u).await, "department"), Some("Sales"));
    }
    assert!(
        h.sim.counts().status(400) <= 3,
        "{:?}",
        h.sim.counts().by_status
    );
}

/// The real binary: `guest-sync store rebuild --dry-run` counts, `store
/// rebuild` re-makes the records, both configured from the environment.
#[tokio::test]
async fn the_store_rebuild_command_remakes_records() {
    let h = H::fast().await;
    let users = h.members(3);
    h.reconcile().await;
    lose_the_store(&h).await;
    let run = |args: &'static [&'static str]| {
        let env = h.env.clone();
        async move {
            let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
                .args(args)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .envs(env)
                .output()
                .await
                .unwrap();
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        }
    };
    let (ok, out, err) = run(&["store", "rebuild", "--dry-run"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("3 record(s) would be re-made"), "{out}");
    assert!(h.records().await.is_empty());
    let (ok, out, err) = run(&["store", "rebuild"]).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("3 record(s) re-made"), "{out}");
    for u in &users {
        assert!(!h.record(*u).await.adopted);
    }
    let (ok, out, err) = run(&["store", "rebuild", "--tenant", "not-a-guid"]).await;
    assert!(!ok && err.contains("not-a-guid"), "{out}{err}");
}
