//! One scenario per sync rule (`docs/design.md`), end to end against the
//! simulator: the host's final state and the store's records are asserted.
use guest_sync::devtools::sim::{NewUser, SimConfig, SimCrossTenant};
use guest_sync::domain::{
    AttributeMapping, GuestState, Job, MappingSource, RunOutcome, TenantOptions,
};
use guest_sync::engine::{provision_user, run_job, NoProgress};
use serde_json::{json, Map, Value};

use super::{b, s, H};
use crate::support::logs::Capture;

fn patch(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Members of the scope group and of its nested groups become guests with
/// their profile; the source tenant's own guests stay out of scope.
#[tokio::test]
async fn members_of_nested_groups_become_guests_with_their_profile() {
    let h = H::fast().await;
    let direct = h.members(2);
    let sub = h.sim.create_group(h.src, "Sub");
    let subsub = h.sim.create_group(h.src, "SubSub");
    h.sim.add_member(h.src, h.group, sub);
    h.sim.add_member(h.src, sub, subsub);
    let nested = h.new_user(10);
    h.sim.add_member(h.src, subsub, nested);
    let outsider = h.sim.create_user(
        h.src,
        NewUser {
            display_name: "Visitor".into(),
            upn: "visitor_x.com#EXT#@contoso.onmicrosoft.com".into(),
            mail: Some("visitor@x.com".into()),
            job_title: None,
            department: None,
            company_name: None,
            account_enabled: true,
            user_type: "Guest".into(),
            extra: Map::new(),
        },
    );
    h.sim.add_member(h.src, sub, outsider);

    let out = h.reconcile().await;

    assert_eq!(out.counts.created, 3);
    assert_eq!(out.outcome, RunOutcome::Succeeded);
    for id in direct.iter().chain([&nested]) {
        let g = h.guest(*id).await;
        let r = h.record(*id).await;
        assert_eq!(s(&g, "userType"), Some("Guest"));
        assert_eq!(s(&g, "jobTitle"), Some("Engineer"));
        assert_eq!(s(&g, "department"), Some("Sales"));
        assert_eq!(s(&g, "companyName"), Some("Contoso"));
        assert_eq!(r.state, GuestState::Invited);
        assert!(!r.adopted);
    }
    assert_eq!(s(&h.guest(nested).await, "displayName"), Some("User 10"));
    assert!(h.host_users_with_mail("visitor@x.com").is_empty());
    assert!(!h.records().await.contains_key(&outsider));
}

/// In delete mode a member who leaves is soft-deleted; when it returns the
/// same guest object is restored rather than a new one invited.
#[tokio::test]
async fn leavers_are_deleted_and_returning_users_restored() {
    let h = H::fast().await;
    let users = h.members(4);
    h.reconcile().await;
    let host_id = h.record(users[0]).await.host_user_id.unwrap();

    h.sim.remove_member(h.src, h.group, users[0]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 1);
    assert!(h.sim.user(h.host, host_id).is_none());
    assert!(h.sim.deleted_users(h.host).iter().any(|u| u.id == host_id));
    let r = h.record(users[0]).await;
    assert_eq!(r.state, GuestState::Deprovisioned);
    assert!(r.deprovisioned_at.is_some());

    h.sim.add_member(h.src, h.group, users[0]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.restored, 1);
    assert_eq!(out.counts.created, 0);
    assert!(h.sim.user(h.host, host_id).is_some());
    assert_eq!(h.record(users[0]).await.host_user_id, Some(host_id));
    assert_eq!(h.record(users[0]).await.state, GuestState::Invited);
    assert_eq!(h.host_users_with_mail("user0@contoso.example").len(), 1);
}

/// In disable mode a leaver's guest is blocked from signing in and kept;
/// it is enabled again when the user returns.
#[tokio::test]
async fn leavers_are_disabled_in_disable_mode() {
    let h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_DEPROVISION", "disable")],
        TenantOptions::default(),
    )
    .await;
    let users = h.members(3);
    h.reconcile().await;
    h.sim.remove_member(h.src, h.group, users[1]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 1);
    let g = h.guest(users[1]).await;
    assert_eq!(b(&g, "accountEnabled"), Some(false));
    assert_eq!(h.record(users[1]).await.state, GuestState::Deprovisioned);

    h.sim.add_member(h.src, h.group, users[1]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.restored, 1);
    assert_eq!(b(&h.guest(users[1]).await, "accountEnabled"), Some(true));
    assert_eq!(h.record(users[1]).await.state, GuestState::Invited);
}

/// A rename and a job change in the source are patched field by field
/// with one write.
#[tokio::test]
async fn renames_and_job_changes_are_patched() {
    let h = H::fast().await;
    let users = h.members(2);
    h.reconcile().await;
    h.sim.update_user(
        h.src,
        users[0],
        patch(json!({"displayName": "Ann New", "jobTitle": "Boss"})),
    );
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.updated, 1);
    let g = h.guest(users[0]).await;
    assert_eq!(s(&g, "displayName"), Some("Ann New"));
    assert_eq!(s(&g, "jobTitle"), Some("Boss"));
    assert_eq!(h.sim.counts().writes_total(), 1);
    assert_eq!(h.sim.counts().op_for("patch", g.id), 1);
}

/// A manual edit of a managed guest in the host is corrected.
#[tokio::test]
async fn manual_edits_in_the_host_are_corrected() {
    let h = H::fast().await;
    let users = h.members(2);
    h.reconcile().await;
    let id = h.record(users[1]).await.host_user_id.unwrap();
    h.sim.update_user(
        h.host,
        id,
        patch(json!({"department": "Hacked", "companyName": null})),
    );
    h.reconcile().await;
    let g = h.guest(users[1]).await;
    assert_eq!(s(&g, "department"), Some("Sales"));
    assert_eq!(s(&g, "companyName"), Some("Contoso"));
}

/// A guest that already exists in the host under the user's address is
/// adopted (no second guest) and, by default, never deleted.
#[tokio::test]
async fn pre_existing_guests_are_adopted_and_never_deleted() {
    let h = H::fast().await;
    let existing = h
        .sim
        .create_guest(h.host, "user0@contoso.example", "Old Name");
    let users = h.members(2);
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert_eq!(out.counts.adopted, 1);
    assert_eq!(out.counts.created, 1);
    assert_eq!(h.host_users_with_mail("user0@contoso.example").len(), 1);
    let r = h.record(users[0]).await;
    assert!(r.adopted);
    assert_eq!(r.host_user_id, Some(existing));
    assert_eq!(s(&h.guest(users[0]).await, "displayName"), Some("User 0"));
    assert_eq!(h.sim.counts().op_for("invite", existing), 0);

    h.sim.remove_member(h.src, h.group, users[0]);
    h.reconcile().await;
    assert!(
        h.sim.user(h.host, existing).is_some(),
        "an adopted guest was removed"
    );
    assert_eq!(
        b(&h.sim.user(h.host, existing).unwrap(), "accountEnabled"),
        Some(true)
    );
    assert_eq!(h.record(users[0]).await.state, GuestState::Deprovisioned);
}

/// Changes in nested groups count: a nested group removed takes its
/// members out of scope; a member added to a nested group comes in.
#[tokio::test]
async fn nested_group_changes_are_followed() {
    let h = H::fast().await;
    let a = h.sim.create_group(h.src, "A");
    let bgrp = h.sim.create_group(h.src, "B");
    h.sim.add_member(h.src, h.group, a);
    h.sim.add_member(h.src, h.group, bgrp);
    let u: Vec<_> = (0..4).map(|i| h.new_user(i)).collect();
    h.sim.add_member(h.src, a, u[0]);
    h.sim.add_member(h.src, a, u[1]);
    h.sim.add_member(h.src, bgrp, u[2]);
    h.reconcile().await;
    assert_eq!(h.records().await.len(), 3);

    h.sim.remove_member(h.src, h.group, bgrp);
    h.sim.add_member(h.src, a, u[3]);
    let out = h.reconcile().await;
    assert_eq!(out.counts.created, 1);
    assert_eq!(out.counts.deprovisioned, 1);
    assert_eq!(h.record(u[2]).await.state, GuestState::Deprovisioned);
    assert_eq!(h.host_users_with_mail("user2@contoso.example").len(), 0);
    assert_eq!(h.record(u[3]).await.state, GuestState::Invited);
}

/// A disabled source account disables its guest; enabled again, the guest
/// is enabled again.
#[tokio::test]
async fn disabled_source_accounts_disable_their_guest_and_back() {
    let h = H::fast().await;
    let users = h.members(2);
    h.reconcile().await;
    h.sim
        .update_user(h.src, users[0], patch(json!({"accountEnabled": false})));
    let out = h.reconcile().await;
    assert_eq!(out.counts.disabled, 1);
    assert_eq!(b(&h.guest(users[0]).await, "accountEnabled"), Some(false));
    assert_eq!(h.record(users[0]).await.state, GuestState::Disabled);

    h.sim
        .update_user(h.src, users[0], patch(json!({"accountEnabled": true})));
    let out = h.reconcile().await;
    assert_eq!(out.counts.enabled, 1);
    assert_eq!(b(&h.guest(users[0]).await, "accountEnabled"), Some(true));
    assert_eq!(h.record(users[0]).await.state, GuestState::Invited);
}

/// Photos: nothing inside the cool-down; after it, changed photos are
/// copied once, unchanged ones cost no write, removed ones are removed.
#[tokio::test]
async fn photos_follow_etags_cool_down_and_removal() {
    let h = H::fast().await;
    let users = h.members(4);
    for u in &users[..3] {
        h.sim.set_photo(h.src, *u, vec![1, 2, 3]);
    }
    h.reconcile().await;
    h.sim.reset_counts();
    let out = h.run(Job::Photos).await;
    assert_eq!(out.counts.photos_copied, 0, "copied inside the cool-down");
    assert_eq!(h.sim.counts().writes_total(), 0);

    h.clock.advance_secs(301);
    let out = h.run(Job::Photos).await;
    assert_eq!(out.counts.photos_copied, 3);
    for u in &users[..3] {
        assert!(h.guest(*u).await.photo.is_some());
        assert!(h.record(*u).await.photo_etag.is_some());
    }
    assert!(h.guest(users[3]).await.photo.is_none());

    h.sim.reset_counts();
    let out = h.run(Job::Photos).await;
    assert_eq!(out.counts.photos_copied, 0);
    assert_eq!(
        h.sim.counts().writes_total(),
        0,
        "an unchanged photo was written"
    );

    h.sim.set_photo(h.src, users[0], vec![9, 9, 9, 9]);
    h.sim.remove_photo(h.src, users[1]);
    let out = h.run(Job::Photos).await;
    assert_eq!(out.counts.photos_copied, 1);
    assert_eq!(out.counts.photos_removed, 1);
    assert_eq!(
        h.guest(users[0]).await.photo.map(|p| p.1),
        Some(vec![9, 9, 9, 9])
    );
    assert!(h.guest(users[1]).await.photo.is_none());
    assert_eq!(h.record(users[1]).await.photo_etag, None);
}

/// The redemption job records acceptance with its date and re-applies the
/// display name that redemption overwrote.
#[tokio::test]
async fn redemption_is_recorded_and_the_display_name_reapplied() {
    let mut options = TenantOptions::default();
    options.attribute_mapping[0] = AttributeMapping {
        target: "displayName".into(),
        source: MappingSource::Attribute {
            name: "displayName".into(),
            prefix: None,
            suffix: Some(" (Contoso)".into()),
        },
    };
    let h = H::start(SimConfig::fast(), &[], options).await;
    let users = h.members(2);
    h.reconcile().await;
    assert_eq!(
        s(&h.guest(users[0]).await, "displayName"),
        Some("User 0 (Contoso)")
    );
    let id = h.record(users[0]).await.host_user_id.unwrap();
    h.sim.redeem(h.host, id);
    assert_ne!(
        s(&h.sim.user(h.host, id).unwrap(), "displayName"),
        Some("User 0 (Contoso)")
    );

    let out = h.run(Job::Redemption).await;
    assert_eq!(out.counts.redeemed, 1);
    let r = h.record(users[0]).await;
    assert_eq!(r.state, GuestState::Accepted);
    assert!(r.redeemed_at.is_some());
    assert_eq!(h.record(users[1]).await.state, GuestState::Invited);
    assert_eq!(
        s(&h.guest(users[0]).await, "displayName"),
        Some("User 0 (Contoso)")
    );
}

/// A dry run plans and audits everything but writes nothing to Graph and
/// stores no guest record.
#[tokio::test]
async fn dry_run_writes_nothing() {
    let mut h = H::fast().await;
    h.ctx.dry_run = true;
    h.members(3);
    h.sim.reset_counts();
    let out = h.reconcile().await;
    assert!(out.dry_run);
    assert_eq!(out.counts.created, 3);
    assert_eq!(h.sim.counts().writes_total(), 0);
    assert_eq!(
        h.sim.counts().kind("write") + h.sim.counts().kind("invite"),
        0
    );
    assert!(h.records().await.is_empty());
    let audit = h.store.list_audit(Some(h.src), 100).await.unwrap();
    assert_eq!(audit.len(), 6);
    assert!(audit.iter().all(|a| a.outcome == "dry-run"));
    let runs = h.store.list_runs(Some(h.src), 10).await.unwrap();
    assert!(runs[0].dry_run);
}

/// More leavers than the guard allows: nobody is removed, the hold is
/// recorded on the tenant; once an administrator confirms, they go.
#[tokio::test]
async fn the_guard_holds_mass_removals_until_confirmed() {
    let h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_MAX_DEPROVISIONS", "1")],
        TenantOptions::default(),
    )
    .await;
    let users = h.members(5);
    h.reconcile().await;
    for u in &users[..3] {
        h.sim.remove_member(h.src, h.group, *u);
    }
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 0);
    assert_eq!(out.counts.held_back, 3);
    assert_eq!(h.sim.deleted_users(h.host).len(), 0);
    let hold = h.stored_tenant().await.guard.unwrap();
    assert_eq!((hold.wanted, hold.limit, hold.confirmed), (3, 1, false));

    let mut t = h.stored_tenant().await;
    if let Some(g) = t.guard.as_mut() {
        g.confirmed = true;
    }
    h.store.put_tenant(&t).await.unwrap();
    let out = h.reconcile().await;
    assert_eq!(out.counts.deprovisioned, 3);
    assert_eq!(h.sim.deleted_users(h.host).len(), 3);
    assert!(h.stored_tenant().await.guard.is_none());
}

/// Provision on demand: a preview plans without writing; the real call
/// creates the guest; a user outside the group is left alone.
#[tokio::test]
async fn provision_on_demand_previews_applies_and_respects_scope() {
    let h = H::fast().await;
    let users = h.members(1);
    let outsider = h.new_user(7);
    let p = provision_user(&h.ctx, &h.tenant, "user0@contoso.example", true)
        .await
        .unwrap();
    assert!(p.in_scope && !p.applied);
    assert_eq!(p.plan.summary().get("invite"), Some(&1));
    assert!(h.host_users_with_mail("user0@contoso.example").is_empty());

    let p = provision_user(&h.ctx, &h.tenant, &users[0].to_string(), false)
        .await
        .unwrap();
    assert!(p.applied);
    assert_eq!(p.counts.created, 1);
    assert_eq!(h.host_users_with_mail("user0@contoso.example").len(), 1);
    assert_eq!(h.record(users[0]).await.state, GuestState::Invited);

    let p = provision_user(&h.ctx, &h.tenant, &outsider.to_string(), false)
        .await
        .unwrap();
    assert!(!p.in_scope);
    assert!(p.plan.actions.is_empty());
    assert!(h.host_users_with_mail("user7@contoso.example").is_empty());
}

/// A tenant whose secret is missing fails permanently with a message that
/// names the secret, and the run is recorded as failed.
#[tokio::test]
async fn a_missing_secret_fails_the_run_permanently() {
    let h = H::fast().await;
    h.members(1);
    let mut t = h.tenant.clone();
    t.secret_name = Some(guest_sync::domain::SecretName::parse("nope").unwrap());
    let run_id = uuid::Uuid::new_v4();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let e = run_job(
        &h.ctx,
        &t,
        Job::Reconcile,
        run_id,
        None,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert!(!e.is_transient());
    assert!(e.to_string().contains("nope"), "{e}");
    let run = h.store.get_run(h.src, run_id).await.unwrap().unwrap();
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert!(run.error.is_some());
}

/// With a host group configured, every managed guest is added to it: three
/// writes per new guest, none on a quiet run.
#[tokio::test]
async fn guests_join_the_host_group_when_one_is_configured() {
    let h = H::fast().await;
    let gid = h.sim.create_group(h.host, "All partner guests");
    let mut ctx = h.ctx.clone();
    let mut settings = (*ctx.settings).clone();
    settings.host_group_id = Some(gid);
    ctx.settings = std::sync::Arc::new(settings);
    let users = h.members(3);
    h.sim.reset_counts();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let t = h.stored_tenant().await;
    run_job(
        &ctx,
        &t,
        Job::Reconcile,
        uuid::Uuid::new_v4(),
        None,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(h.sim.counts().writes_total(), 9);
    let members = h.sim.group_members(h.host, gid);
    for u in &users {
        assert!(members.contains(&h.record(*u).await.host_user_id.unwrap()));
    }
    h.sim.reset_counts();
    run_job(
        &ctx,
        &t,
        Job::Reconcile,
        uuid::Uuid::new_v4(),
        None,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(h.sim.counts().writes_total(), 0);
}

/// A host tenant that refuses app invitations fails the run permanently
/// with the actionable message; the user's record says `failed`.
#[tokio::test]
async fn restricted_invitations_fail_the_run_with_a_clear_message() {
    let h = H::fast().await;
    let users = h.members(1);
    h.sim.restrict_invitations(h.host, true);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let e = run_job(
        &h.ctx,
        &h.tenant,
        Job::Reconcile,
        uuid::Uuid::new_v4(),
        None,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert!(!e.is_transient());
    assert!(
        e.to_string().contains("External collaboration settings"),
        "{e}"
    );
    let r = h.record(users[0]).await;
    assert_eq!(r.state, GuestState::Failed);
    assert!(r.last_error.is_some());

    h.sim.restrict_invitations(h.host, false);
    h.reconcile().await;
    assert_eq!(h.record(users[0]).await.state, GuestState::Invited);
    assert_eq!(h.host_users_with_mail("user0@contoso.example").len(), 1);
}

/// When the source group cannot be read, the run fails as transient (the
/// queue retries it) and nobody is deprovisioned.
#[tokio::test]
async fn an_unreadable_source_group_removes_nobody_and_is_retried() {
    let h = H::fast().await;
    let users = h.members(3);
    h.reconcile().await;
    h.sim.remove_member(h.src, h.group, users[0]);
    h.sim.set_faults(guest_sync::devtools::sim::Faults {
        error_5xx_rate: 1.0,
        ..guest_sync::devtools::sim::Faults::default()
    });
    let run_id = uuid::Uuid::new_v4();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let e = run_job(
        &h.ctx,
        &h.tenant,
        Job::Reconcile,
        run_id,
        None,
        deadline,
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert!(e.is_transient(), "{e}");
    h.sim
        .set_faults(guest_sync::devtools::sim::Faults::default());
    assert!(h.sim.deleted_users(h.host).is_empty());
    assert_eq!(h.record(users[0]).await.state, GuestState::Invited);
    let run = h.store.get_run(h.src, run_id).await.unwrap().unwrap();
    assert_ne!(run.outcome, RunOutcome::Failed);
}

/// A finished run emits one `run_summary` event with its counts, and a
/// tripped guard one `guard_tripped` event; no log line of the run carries
/// an address.
#[tokio::test]
async fn runs_emit_summary_and_guard_events_with_ids_only() {
    // The global capture: scoped subscribers race with other tests'
    // (tracing's max-level cache is process-wide); lines are told apart by
    // tenant id.
    let buf = Capture::global();
    let h = H::start(
        SimConfig::fast(),
        &[("GUESTSYNC_MAX_DEPROVISIONS", "1")],
        TenantOptions::default(),
    )
    .await;
    let users = h.members(4);
    h.reconcile().await;
    h.sim.remove_member(h.src, h.group, users[0]);
    h.sim.remove_member(h.src, h.group, users[1]);
    h.reconcile().await;

    let text = buf.text();
    let events: Vec<Value> = buf
        .events()
        .into_iter()
        .filter(|f| f["tenant_id"] == h.src.to_string())
        .collect();
    let summaries: Vec<&Value> = events
        .iter()
        .filter(|f| f["event"] == guest_sync::events::RUN_SUMMARY)
        .collect();
    assert_eq!(summaries.len(), 2);
    assert_eq!(summaries[0]["created"], 4);
    assert_eq!(summaries[0]["tenant_id"], h.src.to_string());
    for f in guest_sync::events::RUN_COUNT_FIELDS {
        assert!(summaries[1].get(*f).is_some(), "run_summary lacks {f}");
    }
    let trips: Vec<&Value> = events
        .iter()
        .filter(|f| f["event"] == guest_sync::events::GUARD_TRIPPED)
        .collect();
    assert_eq!(trips.len(), 1);
    assert_eq!(
        (trips[0]["wanted"].as_u64(), trips[0]["limit"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(
        !text.contains("@contoso.example"),
        "an address was logged: {text}"
    );
}

/// Automatic redemption (the host's inbound and the source's outbound
/// cross-tenant settings both allow it): the invitation answers
/// `Completed`, so the first reconcile records each guest as accepted at
/// once, with its date, a `redeemed` audit entry and the run's redeemed
/// count; neither the redemption job nor the next reconcile counts them
/// again.
#[tokio::test]
async fn auto_redeemed_guests_are_recorded_at_the_first_sync() {
    let h = H::fast().await;
    let mut p = h.sim.policies(h.host);
    p.partners.insert(
        h.src,
        SimCrossTenant {
            inbound_auto_redeem: Some(true),
            ..Default::default()
        },
    );
    h.sim.set_policies(h.host, p);
    let mut p = h.sim.policies(h.src);
    p.partners.insert(
        h.host,
        SimCrossTenant {
            outbound_auto_redeem: Some(true),
            ..Default::default()
        },
    );
    h.sim.set_policies(h.src, p);
    let users = h.members(3);
    let out = h.reconcile().await;
    assert_eq!((out.counts.created, out.counts.redeemed), (3, 3));
    for u in &users {
        let r = h.record(*u).await;
        assert_eq!(r.state, GuestState::Accepted, "{r:?}");
        assert!(r.redeemed_at.is_some(), "{r:?}");
        assert_eq!(s(&h.guest(*u).await, "externalUserState"), Some("Accepted"));
    }
    let audit = h.store.list_audit(Some(h.src), 100).await.unwrap();
    let redeemed: Vec<_> = audit.iter().filter(|a| a.operation == "redeemed").collect();
    assert_eq!(redeemed.len(), 3, "{audit:?}");
    assert!(redeemed.iter().all(|a| a.outcome == "ok"
        && a.detail
            .as_deref()
            .is_some_and(|d| d.contains("automatically"))));
    assert_eq!(h.run(Job::Redemption).await.counts.redeemed, 0);
    assert_eq!(h.reconcile().await.counts.redeemed, 0);
}

/// A guest whose record is disabled (its source account disabled) and
/// who redeems gets its redemption date from the redemption job, with an
/// audit entry, and stays disabled.
#[tokio::test]
async fn a_disabled_guest_that_redeems_gets_its_date_and_stays_disabled() {
    let h = H::fast().await;
    let users = h.members(2);
    h.reconcile().await;
    h.sim
        .update_user(h.src, users[0], patch(json!({"accountEnabled": false})));
    h.reconcile().await;
    assert_eq!(h.record(users[0]).await.state, GuestState::Disabled);
    let id = h.record(users[0]).await.host_user_id.unwrap();
    h.sim.redeem(h.host, id);

    let out = h.run(Job::Redemption).await;
    assert_eq!(out.counts.redeemed, 1);
    let r = h.record(users[0]).await;
    assert_eq!(r.state, GuestState::Disabled);
    assert!(r.redeemed_at.is_some());
    assert!(h.record(users[1]).await.redeemed_at.is_none());
    let audit = h.store.list_audit(Some(h.src), 100).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.operation == "redeemed" && a.source_user_id == Some(users[0]))
            .count(),
        1,
        "{audit:?}"
    );
    assert_eq!(h.run(Job::Redemption).await.counts.redeemed, 0);
    assert_eq!(h.reconcile().await.counts.redeemed, 0);
    assert_eq!(h.record(users[0]).await.state, GuestState::Disabled);
}

/// A redemption first seen by a reconcile run's read (the invitation
/// answered `PendingAcceptance`) is recorded by that run: accepted with its
/// date, a `redeemed` audit entry and the run's count, once.
#[tokio::test]
async fn a_redemption_seen_by_reconcile_is_recorded_and_counted_once() {
    let h = H::fast().await;
    let users = h.members(2);
    assert_eq!(h.reconcile().await.counts.redeemed, 0);
    let id = h.record(users[0]).await.host_user_id.unwrap();
    h.sim.redeem(h.host, id);
    let out = h.reconcile().await;
    assert_eq!(out.counts.redeemed, 1);
    let r = h.record(users[0]).await;
    assert_eq!(r.state, GuestState::Accepted);
    assert!(r.redeemed_at.is_some());
    let audit = h.store.list_audit(Some(h.src), 100).await.unwrap();
    let redeemed: Vec<_> = audit.iter().filter(|a| a.operation == "redeemed").collect();
    assert_eq!(redeemed.len(), 1, "{audit:?}");
    assert_eq!(redeemed[0].target_id, Some(id));
    assert_eq!(h.reconcile().await.counts.redeemed, 0);
    assert_eq!(h.run(Job::Redemption).await.counts.redeemed, 0);
}
