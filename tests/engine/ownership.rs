//! What the engine must not do to a directory it does not fully see
//! (issue 13, in part): a lost source permission writes nothing and asks
//! for attention; Graph's photo placeholder is no photo.
use chrono::Utc;
use guest_sync::devtools::sim::NewUser;
use guest_sync::domain::{GuestState, Job, RunOutcome};
use guest_sync::report::{AttentionKind, Statistics};
use serde_json::{json, Map};

use super::{b, s, H};
use crate::support::world::World;

/// A host user for these tests.
fn host_user(upn: &str, mail: Option<&str>, user_type: &str, extra: serde_json::Value) -> NewUser {
    NewUser {
        display_name: "Someone Else".into(),
        upn: upn.into(),
        mail: mail.map(str::to_string),
        job_title: Some("Keep Me".into()),
        department: None,
        company_name: None,
        account_enabled: true,
        user_type: user_type.into(),
        extra: extra.as_object().cloned().unwrap_or_else(Map::new),
    }
}

/// The invite address belongs to an internal member of the host: nobody
/// is invited, the member is not touched, the source user is a reported
/// conflict, and a second run audits nothing new.
#[tokio::test]
async fn an_internal_members_address_is_a_conflict_and_never_touched() {
    let h = H::fast().await;
    let member = h.sim.create_user(
        h.host,
        host_user(
            "user0@contoso.example",
            Some("user0@contoso.example"),
            "Member",
            json!({}),
        ),
    );
    let users = h.members(2);
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 1, "only the other user is invited");
    assert_eq!(out.counts.failed, 0);
    assert_eq!(h.sim.counts().op_for("invite", member), 0);
    let m = h.sim.user(h.host, member).unwrap();
    assert_eq!(s(&m, "displayName"), Some("Someone Else"));
    assert_eq!(s(&m, "jobTitle"), Some("Keep Me"));
    assert_eq!(h.host_users_with_mail("user0@contoso.example").len(), 1);
    let r = h.record(users[0]).await;
    assert_eq!(r.state, GuestState::Conflict);
    assert_eq!(r.host_user_id, None);
    assert!(r
        .last_error
        .unwrap_or_default()
        .contains(&member.to_string()));

    let audit = h.store.list_audit(Some(h.src), 1000).await.unwrap();
    let n = audit.iter().filter(|e| e.outcome == "conflict").count();
    assert_eq!(n, 1);
    let again = h.reconcile().await;
    assert_eq!(again.counts.created, 0);
    let audit = h.store.list_audit(Some(h.src), 1000).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.outcome == "conflict").count(), 1);

    let stats = Statistics::load(h.store.as_ref(), Utc::now())
        .await
        .unwrap();
    assert_eq!(stats.totals.guests.conflicts, 1);
    assert!(stats
        .attention
        .iter()
        .any(|a| a.kind == AttentionKind::Conflicts && a.count == Some(1)));

    // Out of scope, a conflict leaves nothing to remove: the member stays.
    h.sim.remove_member(h.src, h.group, users[0]);
    h.reconcile().await;
    assert!(h.sim.user(h.host, member).is_some());
    assert_eq!(
        b(&h.sim.user(h.host, member).unwrap(), "accountEnabled"),
        Some(true)
    );
}

/// A B2B user of type Member that a host admin invited by hand, known by
/// its SMTP proxy address only: the pre-check finds it, the engine takes
/// it over as adopted (never created), and never removes it when the
/// source user leaves.
#[tokio::test]
async fn a_hand_invited_b2b_member_is_adopted_not_claimed() {
    let h = H::fast().await;
    let existing = h.sim.create_user(
        h.host,
        host_user(
            "user0_contoso.example#EXT#@host.onmicrosoft.com",
            Some("old-address@elsewhere.example"),
            "Member",
            json!({
                "creationType": "Invitation",
                "externalUserState": "Accepted",
                "proxyAddresses": ["SMTP:user0@contoso.example"],
            }),
        ),
    );
    let users = h.members(1);
    let out = h.reconcile().await;
    assert_eq!(out.counts.adopted, 1, "{:?}", out.counts);
    assert_eq!(out.counts.created, 0);
    assert_eq!(h.sim.counts().op_for("invite", existing), 0);
    let r = h.record(users[0]).await;
    assert!(r.adopted, "a user we did not create was recorded as ours");
    assert_eq!(r.host_user_id, Some(existing));
    assert_eq!(r.state, GuestState::Accepted);

    h.sim.remove_member(h.src, h.group, users[0]);
    h.reconcile().await;
    let still = h
        .sim
        .user(h.host, existing)
        .expect("the adopted user was removed");
    assert_eq!(b(&still, "accountEnabled"), Some(true));
}

/// The source app loses User.Read.All (members come back with id only):
/// the run ends partial naming the permission, no guest is removed or
/// disabled (not even a real leaver's: the picture cannot tell), and the
/// report lists it under attention until a later run succeeds.
#[tokio::test]
async fn a_lost_user_read_all_writes_nothing_and_asks_for_attention() {
    let h = H::fast().await;
    let users = h.members(6);
    let first = h.reconcile().await;
    assert_eq!(first.outcome, RunOutcome::Succeeded);
    assert!(first.attention.is_none());

    h.sim.register_app(
        h.src,
        h.tenant.client_id,
        &World::source_secret("Contoso"),
        &["GroupMember.Read.All"],
    );
    h.sim.remove_member(h.src, h.group, users[0]);
    let audit_before = h.store.list_audit(Some(h.src), 10_000).await.unwrap().len();

    let out = h.reconcile().await;
    assert_eq!(out.outcome, RunOutcome::Partial);
    let problem = out.attention.clone().unwrap_or_default();
    assert!(problem.contains("User.Read.All"), "{problem}");
    assert_eq!(out.counts.deprovisioned, 0);
    assert_eq!(out.counts.updated, 0);
    for u in &users {
        let g = h.guest(*u).await;
        assert_eq!(
            b(&g, "accountEnabled"),
            Some(true),
            "guest of {u} was touched"
        );
    }
    let audit_after = h.store.list_audit(Some(h.src), 10_000).await.unwrap().len();
    assert_eq!(audit_after, audit_before, "a write was made or attempted");

    let stats = Statistics::load(h.store.as_ref(), Utc::now())
        .await
        .unwrap();
    let item = stats
        .attention
        .iter()
        .find(|a| a.kind == AttentionKind::IncompleteRun)
        .expect("an incompleteRun attention item");
    assert!(
        item.error
            .as_deref()
            .unwrap_or("")
            .contains("User.Read.All"),
        "{item:?}"
    );

    // Consent is granted again: the leaver goes, the attention item too.
    h.sim.register_app(
        h.src,
        h.tenant.client_id,
        &World::source_secret("Contoso"),
        crate::support::perms::SOURCE_PERMS,
    );
    let healed = h.reconcile().await;
    assert_eq!(healed.outcome, RunOutcome::Succeeded);
    assert_eq!(healed.counts.deprovisioned, 1);
    let stats = Statistics::load(h.store.as_ref(), Utc::now())
        .await
        .unwrap();
    assert!(
        !stats
            .attention
            .iter()
            .any(|a| a.kind == AttentionKind::IncompleteRun),
        "{:?}",
        stats.attention
    );
}

/// Confirms the tenant's guard hold, as `guest-sync tenant confirm-deprovision` does.
async fn confirm(h: &H) {
    guest_sync::tenants::confirm_deprovision(h.store.as_ref(), h.src)
        .await
        .unwrap();
}

/// The scope group suddenly reads empty while guests are managed (a
/// successful read, not an error): even a count guard that would allow it
/// removes nobody; every removal waits for an administrator's confirmation.
#[tokio::test]
async fn a_group_that_reads_empty_removes_nobody_until_confirmed() {
    let h = H::start(
        guest_sync::devtools::sim::SimConfig::fast(),
        &[("GUESTSYNC_MAX_DEPROVISIONS", "50")],
        guest_sync::domain::TenantOptions::default(),
    )
    .await;
    let users = h.members(5);
    h.reconcile().await;
    for u in &users {
        h.sim.remove_member(h.src, h.group, *u);
    }
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 0);
    assert_eq!(out.counts.held_back, 5);
    assert_eq!(h.sim.deleted_users(h.host).len(), 0);
    let hold = h.stored_tenant().await.guard.unwrap();
    assert_eq!((hold.wanted, hold.limit), (5, 0));

    confirm(&h).await;
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 5);
    assert_eq!(h.sim.deleted_users(h.host).len(), 5);
    assert!(h.stored_tenant().await.guard.is_none());
}

/// A confirmation covers the held set across slices: the confirmed
/// removals run over many continuation slices (one action at a time, a
/// deadline already past), the guard does not trip again part-way, and
/// the confirmation is used up once they are done.
#[tokio::test]
async fn a_confirmation_covers_the_held_removals_across_slices() {
    use guest_sync::domain::Job;
    use guest_sync::engine::{run_job, NoProgress};
    let h = H::start(
        guest_sync::devtools::sim::SimConfig::fast(),
        &[("GUESTSYNC_MAX_DEPROVISIONS", "2")],
        guest_sync::domain::TenantOptions::default(),
    )
    .await;
    let users = h.members(14);
    h.reconcile().await;
    for u in &users[..12] {
        h.sim.remove_member(h.src, h.group, *u);
    }
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 0);
    assert_eq!(h.stored_tenant().await.guard.unwrap().wanted, 12);
    confirm(&h).await;

    let mut ctx = h.ctx.clone();
    ctx.concurrency = 1;
    let run_id = uuid::Uuid::new_v4();
    let (mut cursor, mut slices, mut removed) = (None, 0, 0);
    loop {
        slices += 1;
        assert!(slices < 50, "the removals never finished");
        let t = h.stored_tenant().await;
        let out = run_job(
            &ctx,
            &t,
            Job::Reconcile,
            run_id,
            cursor,
            tokio::time::Instant::now(),
            &NoProgress,
        )
        .await
        .unwrap();
        removed += out.counts.deprovisioned;
        assert!(
            out.guard.is_none() || h.stored_tenant().await.guard.is_some_and(|g| g.confirmed),
            "the guard tripped again in slice {slices}"
        );
        cursor = out.cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert!(slices > 2, "not cut into slices: {slices}");
    assert_eq!(removed, 12);
    assert_eq!(h.sim.deleted_users(h.host).len(), 12);
    assert!(
        h.stored_tenant().await.guard.is_none(),
        "confirmation not used up"
    );
}

/// The percentage guard covers a 24-hour window, not each run: 30% of 10
/// guests may go; 3 leave and go, then 3 more would be 60% of the guests
/// the window began with, so they are held (per run, 3 of the 7 left
/// would have passed again).
#[tokio::test]
async fn the_percentage_guard_does_not_compound_across_runs() {
    let h = H::start(
        guest_sync::devtools::sim::SimConfig::fast(),
        &[("GUESTSYNC_MAX_DEPROVISIONS", "30%")],
        guest_sync::domain::TenantOptions::default(),
    )
    .await;
    let users = h.members(10);
    h.reconcile().await;
    for u in &users[..3] {
        h.sim.remove_member(h.src, h.group, *u);
    }
    let first = h.reconcile().await;
    assert_eq!(first.counts.deprovisioned, 3);
    for u in &users[3..6] {
        h.sim.remove_member(h.src, h.group, *u);
    }
    let second = h.reconcile().await;
    assert_eq!(second.counts.deprovisioned, 0, "the guard compounded");
    assert_eq!(second.counts.held_back, 3);
    assert_eq!(h.sim.deleted_users(h.host).len(), 3);
    let hold = h.stored_tenant().await.guard.unwrap();
    assert_eq!((hold.wanted, hold.limit), (3, 0));
}

/// A host administrator blocks one of our guests and deletes another
/// (incident response): the next reconciles neither re-enable nor restore
/// them, the records say `held` and the report lists them; `guest-sync
/// guest release` hands each back and the following reconcile syncs it
/// again.
#[tokio::test]
async fn a_host_admins_block_and_delete_are_never_undone_until_released() {
    let h = H::fast().await;
    let users = h.members(3);
    h.reconcile().await;
    let blocked = h.guest(users[0]).await.id;
    let deleted = h.guest(users[1]).await.id;
    let mut off = Map::new();
    off.insert("accountEnabled".into(), json!(false));
    h.sim.update_user(h.host, blocked, off);
    h.sim.delete_user(h.host, deleted);

    for _ in 0..2 {
        let out = h.reconcile().await;
        assert_eq!(out.counts.enabled, 0, "{:?}", out.counts);
        assert_eq!(out.counts.restored, 0, "{:?}", out.counts);
        assert_eq!(out.counts.created, 0, "{:?}", out.counts);
    }
    assert_eq!(
        b(&h.sim.user(h.host, blocked).unwrap(), "accountEnabled"),
        Some(false)
    );
    assert!(h.sim.user(h.host, deleted).is_none());
    assert_eq!(h.record(users[0]).await.state, GuestState::Held);
    assert_eq!(h.record(users[1]).await.state, GuestState::Held);
    assert_eq!(h.record(users[2]).await.state, GuestState::Invited);
    let stats = Statistics::load(h.store.as_ref(), Utc::now())
        .await
        .unwrap();
    assert_eq!(stats.totals.guests.held, 2);
    assert!(stats
        .attention
        .iter()
        .any(|a| a.kind == AttentionKind::HeldByHost && a.count == Some(2)));

    // A held guest whose user leaves scope is still left alone.
    // (users[2] is untouched throughout.)
    for u in &users[..2] {
        guest_sync::tenants::release_guest(h.store.as_ref(), h.src, *u, Utc::now())
            .await
            .unwrap();
    }
    let e = guest_sync::tenants::release_guest(h.store.as_ref(), h.src, users[2], Utc::now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not held"), "{e}");
    let out = h.reconcile().await;
    assert_eq!(
        out.counts.enabled + out.counts.updated,
        1,
        "{:?}",
        out.counts
    );
    assert_eq!(out.counts.restored, 1, "{:?}", out.counts);
    assert_eq!(
        b(&h.sim.user(h.host, blocked).unwrap(), "accountEnabled"),
        Some(true)
    );
    assert!(h.sim.user(h.host, deleted).is_some());
    assert_ne!(h.record(users[0]).await.state, GuestState::Held);
    assert_ne!(h.record(users[1]).await.state, GuestState::Held);
}

/// `guest-sync guest release TENANT USER` on the store the settings name:
/// a held guest is handed back, a bad id and a guest not held are
/// refused with messages naming them.
#[tokio::test]
async fn the_guest_release_command_hands_a_held_guest_back() {
    use clap::Parser;
    use guest_sync::cli::{Cli, Command};
    let h = H::fast().await;
    let users = h.members(1);
    h.reconcile().await;
    let mut r = h.record(users[0]).await;
    r.state = GuestState::Held;
    h.store.put_guest(&r).await.unwrap();
    let store = format!("{}", h.settings.store);
    let run = |args: Vec<String>| async move {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Guest(g) = cli.command else {
            panic!("not a guest command")
        };
        guest_sync::cli::guest::execute(g).await
    };
    let argv = |user: &str| {
        vec![
            "guest-sync".to_string(),
            "guest".into(),
            "release".into(),
            h.src.to_string(),
            user.to_string(),
            "--store".into(),
            store.clone(),
        ]
    };
    let out = run(argv(&users[0].to_string())).await.unwrap();
    assert!(out.contains("released (now disabled)"), "{out}");
    assert_eq!(h.record(users[0]).await.state, GuestState::Disabled);
    let e = run(argv(&users[0].to_string()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("not held"), "{e}");
    let e = run(argv("not-a-guid")).await.unwrap_err().to_string();
    assert!(e.contains("user"), "{e}");
}

/// Two source tenants claim one address (the second invites by mail and
/// its user's mail is the first tenant's user's): the second never takes
/// the first's guest over, never renames it, and never restores it after
/// its owner removed it; its user is a reported conflict.
#[tokio::test]
async fn a_second_tenant_never_takes_over_the_first_tenants_guest() {
    use crate::support::world::SourceSpec;
    use guest_sync::domain::{InviteAddress, TenantOptions};

    let w = World::fast().await;
    let a = w.add_source(SourceSpec::new("Alpha")).await;
    let b = w
        .add_source(SourceSpec::new("Beta").options(TenantOptions {
            invite_address: InviteAddress::Mail,
            // Misconfigured on purpose: Beta claims Alpha's mail domain.
            mail_domains: vec!["alpha.example".into()],
            ..TenantOptions::default()
        }))
        .await;
    let person = |upn: &str, mail: &str, name: &str| NewUser {
        display_name: name.into(),
        upn: upn.into(),
        mail: Some(mail.into()),
        job_title: None,
        department: None,
        company_name: None,
        account_enabled: true,
        user_type: "Member".into(),
        extra: Map::new(),
    };
    let ann = w.sim.create_user(
        a.tenant.tenant_id,
        person("ann@alpha.example", "ann@alpha.example", "Ann"),
    );
    w.sim
        .add_member(a.tenant.tenant_id, a.generated.group_id, ann);
    let fake = w.sim.create_user(
        b.tenant.tenant_id,
        person(
            "x@beta.example",
            "ann@alpha.example",
            "IT Helpdesk - reset your password",
        ),
    );
    w.sim
        .add_member(b.tenant.tenant_id, b.generated.group_id, fake);
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
    for _ in 0..2 {
        let c = run(b.tenant.clone()).await;
        assert_eq!((c.created, c.adopted, c.updated), (0, 0, 0), "{c:?}");
    }
    assert_eq!(
        s(&w.sim.user(w.host, guest).unwrap(), "displayName"),
        Some("Ann")
    );
    let rb = w
        .store
        .get_guest(b.tenant.tenant_id, fake)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rb.state, GuestState::Conflict);
    assert!(rb
        .last_error
        .unwrap_or_default()
        .contains(&a.tenant.tenant_id.to_string()));

    // Alpha's user leaves: Alpha removes its guest; Beta does not bring it back.
    w.sim
        .remove_member(a.tenant.tenant_id, a.generated.group_id, ann);
    // (Alpha's group now reads empty: the guard wants a confirmation.)
    assert_eq!(run(a.tenant.clone()).await.deprovisioned, 0);
    guest_sync::tenants::confirm_deprovision(w.store.as_ref(), a.tenant.tenant_id)
        .await
        .unwrap();
    let t = w
        .store
        .get_tenant(a.tenant.tenant_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run(t).await.deprovisioned, 1);
    run(b.tenant.clone()).await;
    assert!(
        w.sim.user(w.host, guest).is_none(),
        "restored by the other tenant"
    );
}

/// A source value longer than Graph accepts (a 200-character job title)
/// is cut to the limit instead of failing the guest's PATCH on every run;
/// the audit says so, and the next run has nothing to do.
#[tokio::test]
async fn values_over_graphs_limits_are_truncated_and_audited() {
    let h = H::fast().await;
    let users = h.members(1);
    let mut long = Map::new();
    long.insert("jobTitle".into(), json!("Senior ".repeat(30)));
    h.sim.update_user(h.src, users[0], long);
    let out = h.reconcile().await;
    assert_eq!(out.counts.failed, 0, "{:?}", out.counts);
    let g = h.guest(users[0]).await;
    assert_eq!(
        s(&g, "jobTitle").map(|t| t.encode_utf16().count()),
        Some(128)
    );
    let audit = h.store.list_audit(Some(h.src), 100).await.unwrap();
    assert!(audit.iter().any(|e| e
        .detail
        .as_deref()
        .is_some_and(|d| d.contains("truncated to Graph's length limit: jobTitle"))));
    let again = h.reconcile().await;
    assert_eq!((again.counts.updated, again.counts.failed), (0, 0));
}

/// Graph's photo placeholder (metadata 200, id `1x1`, empty media ETag) is
/// no photo: a source photo that was removed is removed from the guest
/// (it would otherwise stay forever), and a user who never had one costs
/// no write.
#[tokio::test]
async fn the_photo_placeholder_is_no_photo() {
    let h = H::fast().await;
    let users = h.members(2);
    h.sim.set_photo(h.src, users[0], vec![1, 2, 3]);
    h.reconcile().await;
    h.clock.advance_secs(301);
    assert_eq!(h.run(Job::Photos).await.counts.photos_copied, 1);
    assert!(h.guest(users[0]).await.photo.is_some());

    h.sim.photo_placeholders(h.src, true);
    h.sim.remove_photo(h.src, users[0]);
    h.sim.reset_counts();
    let out = h.run(Job::Photos).await;
    assert_eq!(out.counts.photos_removed, 1, "{:?}", out.counts);
    assert_eq!(out.counts.photos_copied, 0, "{:?}", out.counts);
    assert!(h.guest(users[0]).await.photo.is_none());
    assert!(h.guest(users[1]).await.photo.is_none());
    assert_eq!(h.sim.counts().writes_total(), 1, "only the removal writes");
}

/// Graph takes JPEG only, at most 4 MB: a PNG source photo and a 5 MB one
/// are skipped with the reason in the audit (no PUT, the big one not
/// downloaded past the cap), and not fetched again while unchanged.
#[tokio::test]
async fn non_jpeg_and_oversized_photos_are_skipped_with_a_reason() {
    let h = H::fast().await;
    let users = h.members(3);
    h.sim
        .set_photo_as(h.src, users[0], vec![0x89, b'P', b'N', b'G'], "image/png");
    h.sim
        .set_photo(h.src, users[1], vec![0xFF; 5 * 1024 * 1024]);
    h.sim.set_photo(h.src, users[2], vec![0xFF, 0xD8, 1]);
    h.reconcile().await;
    h.clock.advance_secs(301);
    h.sim.reset_counts();
    let out = h.run(Job::Photos).await;
    assert_eq!(out.counts.photos_copied, 1, "{:?}", out.counts);
    assert_eq!(out.counts.failed, 0, "{:?}", out.counts);
    assert_eq!(h.sim.counts().writes_total(), 1, "only the JPEG is put");
    assert!(h.guest(users[0]).await.photo.is_none());
    assert!(h.guest(users[1]).await.photo.is_none());
    assert!(h.guest(users[2]).await.photo.is_some());
    let audit = h.store.list_audit(Some(h.src), 1000).await.unwrap();
    let why = |u| {
        audit
            .iter()
            .find(|e| e.source_user_id == Some(u) && e.operation == "photo-put")
            .and_then(|e| e.detail.clone())
            .unwrap_or_default()
    };
    assert!(why(users[0]).contains("image/png"), "{}", why(users[0]));
    assert!(why(users[1]).contains("at most"), "{}", why(users[1]));
    let puts = |a: &[guest_sync::domain::AuditEntry]| {
        a.iter().filter(|e| e.operation == "photo-put").count()
    };
    let before = puts(&audit);
    h.run(Job::Photos).await;
    let audit = h.store.list_audit(Some(h.src), 1000).await.unwrap();
    assert_eq!(puts(&audit), before, "skipped photos tried again");
}

/// Inviting by mail goes only to domains the source tenant owns: a source
/// user whose mail is at another domain (it could be anyone's address) is
/// a conflict, never invited; the tenant's `mailDomains` adds domains.
#[tokio::test]
async fn mail_invites_go_only_to_domains_the_source_owns() {
    use guest_sync::domain::{InviteAddress, TenantOptions};
    let h = H::start(
        guest_sync::devtools::sim::SimConfig::fast(),
        &[],
        TenantOptions {
            invite_address: InviteAddress::Mail,
            ..TenantOptions::default()
        },
    )
    .await;
    let users = h.members(2);
    let mut foreign = Map::new();
    foreign.insert("mail".into(), json!("ceo@victim.example"));
    h.sim.update_user(h.src, users[1], foreign);
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 1, "{:?}", out.counts);
    assert!(h.host_users_with_mail("ceo@victim.example").is_empty());
    let r = h.record(users[1]).await;
    assert_eq!(r.state, GuestState::Conflict);
    assert!(r.last_error.unwrap_or_default().contains("domain"));

    let mut t = h.stored_tenant().await;
    t.options.mail_domains = vec!["victim.example".into()];
    h.store.put_tenant(&t).await.unwrap();
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 1, "{:?}", out.counts);
    assert_eq!(h.host_users_with_mail("ceo@victim.example").len(), 1);
}
