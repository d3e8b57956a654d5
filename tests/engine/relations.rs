//! Sponsors and managers (`docs/engine.md`, "Sponsors and managers")
//! against the simulator over HTTP: the first sync sets them, a manager
//! change follows, a manager who leaves scope is removed, a sponsors
//! option change applies, a quiet run writes nothing, and adopted guests
//! are never touched.
use guest_sync::devtools::sim::{NewUser, SimConfig};
use guest_sync::domain::{Guid, SponsorOptions, TenantOptions};

use super::H;

/// A host user (a sponsor candidate).
fn host_user(h: &H, name: &str) -> Guid {
    h.sim.create_user(
        h.host,
        NewUser::simple(name, &format!("{}@host.example", name.to_lowercase())),
    )
}

/// Stores new options on the tenant.
async fn set_options(h: &H, o: TenantOptions) {
    let mut t = h.stored_tenant().await;
    t.options = o;
    h.store.put_tenant(&t).await.unwrap();
}

/// The host id of a source user's guest.
async fn gid(h: &H, user: Guid) -> Guid {
    h.record(user).await.host_user_id.unwrap()
}

/// First sync: each guest's manager is the manager's guest (created in the
/// same run), a manager outside scope gives no manager, the sponsors are
/// the named user plus the group's owners; a second run writes nothing.
#[tokio::test]
async fn first_sync_sets_sponsors_and_managers_and_a_quiet_run_writes_nothing() {
    let h = H::fast().await;
    let alice = host_user(&h, "Alice");
    let bob = host_user(&h, "Bob");
    let owners = h.sim.create_group(h.host, "Guest sponsors");
    h.sim.add_group_owner(h.host, owners, bob);
    set_options(
        &h,
        TenantOptions {
            sponsors: Some(SponsorOptions {
                users: vec![alice],
                group_owners: Some(owners),
            }),
            ..TenantOptions::default()
        },
    )
    .await;
    let u = h.members(4);
    let outsider = h.new_user(99);
    h.sim.set_manager(h.src, u[1], Some(u[0]));
    h.sim.set_manager(h.src, u[2], Some(u[0]));
    h.sim.set_manager(h.src, u[3], Some(outsider));
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 4);
    assert_eq!(out.counts.manager_writes, 2);
    assert_eq!(out.counts.sponsor_writes, 8);
    let boss = gid(&h, u[0]).await;
    assert_eq!(h.sim.manager(h.host, gid(&h, u[1]).await), Some(boss));
    assert_eq!(h.sim.manager(h.host, gid(&h, u[2]).await), Some(boss));
    assert_eq!(h.sim.manager(h.host, gid(&h, u[3]).await), None);
    assert_eq!(h.sim.manager(h.host, boss), None);
    let mut want = vec![alice, bob];
    want.sort();
    for x in &u {
        assert_eq!(h.sim.sponsors(h.host, gid(&h, *x).await), want);
    }
    // 2 writes per guest, plus one per sponsor and one per manager set.
    assert_eq!(h.sim.counts().writes_total(), 4 * 2 + 8 + 2);
    let audit = h.store.list_audit(Some(h.src), 500).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.operation == "manager-set")
            .count(),
        2
    );
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.operation == "sponsor-add")
            .count(),
        8
    );

    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(
        (out.counts.manager_writes, out.counts.sponsor_writes),
        (0, 0)
    );
    assert_eq!(h.sim.counts().writes_total(), 0);
}

/// A manager change in the source follows; a manager who leaves scope is
/// removed from the guests who reported to them.
#[tokio::test]
async fn a_manager_change_follows_and_a_manager_leaving_scope_is_removed() {
    let h = H::fast().await;
    let u = h.members(3);
    h.sim.set_manager(h.src, u[2], Some(u[0]));
    h.reconcile().await;
    assert_eq!(
        h.sim.manager(h.host, gid(&h, u[2]).await),
        Some(gid(&h, u[0]).await)
    );
    h.sim.set_manager(h.src, u[2], Some(u[1]));
    let out = h.reconcile().await;
    assert_eq!(out.counts.manager_writes, 1);
    assert_eq!(
        h.sim.manager(h.host, gid(&h, u[2]).await),
        Some(gid(&h, u[1]).await)
    );
    // u[1] leaves the scope group: removed, and no longer u[2]'s manager.
    h.sim.remove_member(h.src, h.group, u[1]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 1);
    assert_eq!(out.counts.manager_writes, 1);
    assert_eq!(h.sim.manager(h.host, gid(&h, u[2]).await), None);
    let audit = h.store.list_audit(Some(h.src), 500).await.unwrap();
    assert!(audit.iter().any(|a| a.operation == "manager-remove"));
    h.sim.reset_counts();
    h.reconcile().await;
    assert_eq!(h.sim.counts().writes_total(), 0);
}

/// Changing the sponsors option adds the new sponsor and removes the old
/// one; a sponsor a host administrator added by hand is left alone.
#[tokio::test]
async fn a_sponsors_option_change_applies_and_keeps_hand_added_sponsors() {
    let h = H::fast().await;
    let alice = host_user(&h, "Alice");
    let carol = host_user(&h, "Carol");
    let admin_pick = host_user(&h, "Dave");
    let only = |id: Guid| TenantOptions {
        sponsors: Some(SponsorOptions {
            users: vec![id],
            group_owners: None,
        }),
        ..TenantOptions::default()
    };
    set_options(&h, only(alice)).await;
    let u = h.members(2);
    h.reconcile().await;
    let g0 = gid(&h, u[0]).await;
    assert_eq!(h.sim.sponsors(h.host, g0), vec![alice]);
    // A host administrator adds a sponsor of their own.
    h.sim.add_sponsor(h.host, g0, admin_pick);
    set_options(&h, only(carol)).await;
    let out = h.reconcile().await;
    assert_eq!(out.counts.sponsor_writes, 4);
    let mut want = vec![carol, admin_pick];
    want.sort();
    assert_eq!(h.sim.sponsors(h.host, g0), want);
    assert_eq!(h.sim.sponsors(h.host, gid(&h, u[1]).await), vec![carol]);
    // Sponsors switched off: ours are removed, the administrator's stays.
    set_options(&h, TenantOptions::default()).await;
    h.reconcile().await;
    assert_eq!(h.sim.sponsors(h.host, g0), vec![admin_pick]);
}

/// Adopted guests (pre-existing in the host) get neither sponsors nor a
/// manager, and neither do guests when the options are off.
#[tokio::test]
async fn adopted_guests_and_switched_off_options_are_untouched() {
    let h = H::fast().await;
    let alice = host_user(&h, "Alice");
    set_options(
        &h,
        TenantOptions {
            sponsors: Some(SponsorOptions {
                users: vec![alice],
                group_owners: None,
            }),
            ..TenantOptions::default()
        },
    )
    .await;
    let old = h
        .sim
        .create_guest(h.host, "user0@contoso.example", "Old Name");
    let u = h.members(2);
    h.sim.set_manager(h.src, u[0], Some(u[1]));
    let out = h.reconcile().await;
    assert_eq!(out.counts.adopted, 1);
    assert!(h.sim.sponsors(h.host, old).is_empty());
    assert_eq!(h.sim.manager(h.host, old), None);
    assert_eq!(h.sim.sponsors(h.host, gid(&h, u[1]).await), vec![alice]);

    // manager off and no sponsors: nothing read, nothing written.
    let h2 = H::start(
        SimConfig::fast(),
        &[],
        TenantOptions {
            manager: false,
            ..TenantOptions::default()
        },
    )
    .await;
    let v = h2.members(2);
    h2.sim.set_manager(h2.src, v[0], Some(v[1]));
    let out = h2.reconcile().await;
    assert_eq!(out.counts.manager_writes, 0);
    assert_eq!(h2.sim.manager(h2.host, gid(&h2, v[0]).await), None);
}

/// Generated sources with `managers: true` get a reporting tree with some
/// managers outside scope; a first sync maps the in-scope ones.
#[tokio::test]
async fn a_generated_hierarchy_is_mapped_to_guests() {
    use guest_sync::devtools::sim::GenerateSpec;
    let h = H::fast().await;
    let g = h.sim.generate_source(
        h.src,
        &GenerateSpec {
            users: 30,
            photo_share: 0.0,
            disabled_share: 0.0,
            managers: true,
            ..GenerateSpec::default()
        },
    );
    let mut t = h.stored_tenant().await;
    t.group_id = g.group_id;
    h.store.put_tenant(&t).await.unwrap();
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 30);
    let in_scope: std::collections::HashSet<Guid> = g.user_ids.iter().copied().collect();
    let mut mapped = 0;
    for u in &g.user_ids {
        let m = h.sim.manager(h.src, *u);
        let want = match m.filter(|m| in_scope.contains(m)) {
            Some(m) => Some(gid(&h, m).await),
            None => None,
        };
        mapped += usize::from(want.is_some());
        assert_eq!(h.sim.manager(h.host, gid(&h, *u).await), want);
    }
    assert!(mapped > 20, "{mapped}");
    assert_eq!(out.counts.manager_writes, mapped as u64);
}
