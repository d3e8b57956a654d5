//! `guest-sync explain`: a user found by each kind of key (source and host
//! object id, source UPN, source mail, host UPN; the same UPN in two
//! tenants gives both), the reason given for each state and hold (held,
//! conflict, failed, deprovisioned, guard held, permission lost, cool-down,
//! not yet synced), the `--json` shape, no match, the binary's exit codes,
//! a log without UPNs, and the `--live` lookup against the Graph simulator.
//! Seeded directly through the Store API on a SQLite file.
use chrono::Duration;
use guest_sync::cli::explain::{execute, ExplainArgs, EXIT_NO_MATCH};
use guest_sync::domain::{GuestRecord, GuestState, Job, RunOutcome, SourceTenant};
use guest_sync::report::explain::{explain, reasons, Explanation, MatchKey, Ownership};

use super::fixtures::*;
use crate::support::world::{open_sqlite, sqlite_path};

/// The seeded records: Contoso (0 accepted with a mail, 1 held, 2
/// conflict, 3 failed, 4 deprovisioned; a failed redemption run for lost
/// permission) and Fabrikam (guard held; guest 0 shares Contoso guest 0's
/// UPN).
struct Seeded {
    contoso: SourceTenant,
    fabrikam: SourceTenant,
    c: Vec<GuestRecord>,
    f: Vec<GuestRecord>,
}

const SHARED_UPN: &str = "Shared.Person@Example.com";

async fn seed(dir: &std::path::Path) -> Seeded {
    let store = open_sqlite(dir).await;
    let contoso = tenant(1, "Contoso", Some(200));
    let mut fabrikam = tenant(2, "Fabrikam", Some(200));
    fabrikam.guard = guard();
    store.put_tenant(&contoso).await.unwrap();
    store.put_tenant(&fabrikam).await.unwrap();

    let mut c: Vec<GuestRecord> = [
        GuestState::Accepted,
        GuestState::Held,
        GuestState::Conflict,
        GuestState::Failed,
        GuestState::Deprovisioned,
    ]
    .into_iter()
    .enumerate()
    .map(|(n, s)| guest(&contoso, n as u32, s))
    .collect();
    c[0].source_upn = SHARED_UPN.into();
    c[0].source_mail = Some("shared.mail@contoso.example".into());
    c[1].last_error = Some(
        "held by the host: disabled in the host; left as it is (guest-sync guest release hands it back)"
            .into(),
    );
    c[2].host_user_id = None;
    c[2].host_upn = None;
    c[2].last_error = Some("the address belongs to an internal member of the host".into());
    store.put_guests(&c).await.unwrap();

    let mut f = vec![guest(&fabrikam, 0, GuestState::Invited)];
    f[0].source_upn = SHARED_UPN.to_lowercase();
    store.put_guests(&f).await.unwrap();

    store
        .put_run(&run(
            &contoso,
            Job::Reconcile,
            2,
            RunOutcome::Succeeded,
            1,
            0,
            0,
        ))
        .await
        .unwrap();
    let mut lost = run(&contoso, Job::Redemption, 1, RunOutcome::Failed, 0, 0, 0);
    lost.error = Some("permission lost: User.Read.All (Authorization_RequestDenied)".into());
    store.put_run(&lost).await.unwrap();
    store
        .put_run(&run(
            &fabrikam,
            Job::Reconcile,
            3,
            RunOutcome::Succeeded,
            0,
            0,
            0,
        ))
        .await
        .unwrap();

    let mut patch = audit(&contoso, 30, "patch", "ignored");
    patch.source_user_id = Some(c[0].source_user_id);
    patch.target_id = c[0].host_user_id;
    let mut failed = audit(&contoso, 20, "photo-put", "ignored");
    failed.source_user_id = Some(c[3].source_user_id);
    failed.outcome = "failed".into();
    failed.detail = Some("429 TooManyRequests after 5 attempts".into());
    let mut other = audit(&contoso, 10, "patch", "ignored");
    other.source_user_id = Some(c[4].source_user_id);
    store.append_audit(&[patch, failed, other]).await.unwrap();
    Seeded {
        contoso,
        fabrikam,
        c,
        f,
    }
}

async fn one(dir: &std::path::Path, query: &str) -> Explanation {
    let store = open_sqlite(dir).await;
    let mut all = explain(store.as_ref(), query, now()).await.unwrap();
    assert_eq!(all.len(), 1, "{query}: {all:#?}");
    all.remove(0)
}

fn has(e: &Explanation, needle: &str) -> bool {
    e.reasons.iter().any(|r| r.contains(needle))
}

/// Each key finds the record: source and host object id, source UPN and
/// mail and host UPN in any case; the same UPN in two tenants finds both.
#[tokio::test]
async fn explain_finds_a_user_by_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = seed(dir.path()).await;
    let g = &s.c[3];
    let by_source = one(dir.path(), &g.source_user_id.to_string()).await;
    assert_eq!(by_source.matched_by, [MatchKey::SourceUserId]);
    assert_eq!(by_source.guest.source_user_id, g.source_user_id);

    let host = g.host_user_id.unwrap().to_string().to_uppercase();
    let by_host = one(dir.path(), &host).await;
    assert_eq!(by_host.matched_by, [MatchKey::HostUserId]);
    assert_eq!(by_host.guest.source_user_id, g.source_user_id);

    let by_upn = one(dir.path(), &g.source_upn.to_uppercase()).await;
    assert_eq!(by_upn.matched_by, [MatchKey::SourceUpn]);

    let by_host_upn = one(dir.path(), g.host_upn.as_deref().unwrap()).await;
    assert_eq!(by_host_upn.matched_by, [MatchKey::HostUpn]);
    assert_eq!(by_host_upn.tenant.name, "Contoso");

    let by_mail = one(dir.path(), "  SHARED.MAIL@contoso.example ").await;
    assert_eq!(by_mail.matched_by, [MatchKey::SourceMail]);
    assert_eq!(by_mail.guest.source_user_id, s.c[0].source_user_id);
    // Only this user's actions.
    assert_eq!(by_mail.recent_actions.len(), 1);
    assert_eq!(by_mail.recent_actions[0].operation, "patch");

    let store = open_sqlite(dir.path()).await;
    let both = explain(store.as_ref(), SHARED_UPN, now()).await.unwrap();
    let mut tenants: Vec<_> = both.iter().map(|e| e.tenant.id).collect();
    tenants.sort();
    assert_eq!(tenants, [s.contoso.tenant_id, s.fabrikam.tenant_id]);
    assert!(explain(store.as_ref(), "nobody@contoso.example", now())
        .await
        .unwrap()
        .is_empty());
    assert!(explain(store.as_ref(), "  ", now()).await.is_err());
}

/// Each state and hold gives its reason: held (with the release command),
/// conflict (with the recorded why), failed (the last error and the last
/// failed write), deprovisioned (out of scope), the deletion guard of the
/// tenant, a run that failed for a lost permission.
#[tokio::test]
async fn explain_gives_the_reason_for_each_state() {
    let dir = tempfile::tempdir().unwrap();
    let s = seed(dir.path()).await;
    let id = |g: &GuestRecord| g.source_user_id.to_string();

    let accepted = one(dir.path(), &id(&s.c[0])).await;
    assert_eq!(accepted.ownership, Ownership::Managed);
    assert_eq!(accepted.in_scope, Some(true));
    assert!(accepted.scope.contains(&s.contoso.group_id.to_string()));
    assert!(has(&accepted, "accepted"), "{:#?}", accepted.reasons);
    assert!(has(
        &accepted,
        "permission: the last redemption run of tenant Contoso"
    ));
    assert!(has(&accepted, "User.Read.All"));
    assert_eq!(accepted.last_runs.len(), 2);

    let held = one(dir.path(), &id(&s.c[1])).await;
    assert_eq!(held.ownership, Ownership::HeldByHost);
    assert_eq!(held.in_scope, None);
    assert!(has(&held, "held: a host administrator disabled or deleted"));
    assert!(has(
        &held,
        &format!(
            "guest-sync guest release {} {}",
            s.contoso.tenant_id, s.c[1].source_user_id
        )
    ));

    let conflict = one(dir.path(), &id(&s.c[2])).await;
    assert_eq!(conflict.ownership, Ownership::Conflict);
    assert!(has(
        &conflict,
        "conflict: the address belongs to a host user"
    ));
    assert!(has(&conflict, "an internal member of the host"));

    let failed = one(dir.path(), &id(&s.c[3])).await;
    assert!(has(
        &failed,
        "failed: invite failed: 400 BadRequest for guest 3"
    ));
    assert!(has(
        &failed,
        "the last failed write was photo-put at 2026-11-23 00:40 UTC: 429 TooManyRequests"
    ));

    let gone = one(dir.path(), &id(&s.c[4])).await;
    assert_eq!(gone.ownership, Ownership::Deprovisioned);
    assert_eq!(gone.in_scope, Some(false));
    assert!(has(&gone, "deprovisioned on 2026-11-22"));

    let guarded = one(dir.path(), &id(&s.f[0])).await;
    assert!(has(
        &guarded,
        "deletion guard held the last run of tenant Fabrikam: it wanted to remove 120 guests, the limit is 50"
    ));
    assert!(has(&guarded, "guest-sync tenant confirm-deprovision"));
    assert!(!has(&guarded, "permission"), "{:#?}", guarded.reasons);
}

/// The pure reasons: a user not yet invited, the photo cool-down after
/// creation, a disabled tenant, no reconcile yet; an accepted guest with
/// nothing wrong gets exactly one sentence.
#[test]
fn reasons_cover_not_yet_synced_cool_down_and_a_quiet_guest() {
    let mut t = tenant(1, "Contoso", Some(200));
    let reconciled = vec![run(&t, Job::Reconcile, 1, RunOutcome::Succeeded, 0, 0, 0)];
    let mut g = guest(&t, 1, GuestState::Invited);
    g.host_user_id = None;
    g.last_synced_at = None;
    let r = reasons(&g, &t, &reconciled, &[], now());
    assert!(r[0].starts_with("not yet synced"), "{r:#?}");

    let mut fresh = guest(&t, 2, GuestState::Invited);
    fresh.created_at = now() - Duration::minutes(1);
    let r = reasons(&fresh, &t, &reconciled, &[], now());
    assert!(
        r.iter()
            .any(|s| s.starts_with("cool-down: no photo is copied before 2026-11-23 01:04 UTC")),
        "{r:#?}"
    );

    let quiet = guest(&t, 3, GuestState::Accepted);
    let r = reasons(&quiet, &t, &reconciled, &[], now());
    assert_eq!(r.len(), 1, "{r:#?}");

    t.enabled = false;
    let r = reasons(&quiet, &t, &[], &[], now());
    assert!(r.iter().any(|s| s.contains("tenant Contoso is disabled")));
    assert!(r
        .iter()
        .any(|s| s.contains("no reconcile of tenant Contoso")));
}

fn args(dir: &std::path::Path, user: &str, json: bool) -> ExplainArgs {
    ExplainArgs {
        user: user.to_string(),
        json,
        live: false,
        store: format!("sqlite:{}", sqlite_path(dir).display()),
    }
}

/// `--json` prints the documented shape; text lists the reasons; no match
/// says so (found false) and a missing store is named, not created.
#[tokio::test]
async fn explain_command_prints_json_text_and_no_match() {
    let dir = tempfile::tempdir().unwrap();
    let s = seed(dir.path()).await;
    let host_upn = s.c[1].host_upn.clone().unwrap();
    let out = execute(&args(dir.path(), &host_upn, true), now())
        .await
        .unwrap();
    assert!(out.found);
    let v: serde_json::Value = serde_json::from_str(&out.text).unwrap();
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["found"], true);
    assert_eq!(v["query"], host_upn.as_str());
    let m = &v["matches"][0];
    assert_eq!(m["matchedBy"], serde_json::json!(["hostUpn"]));
    assert_eq!(m["tenant"]["name"], "Contoso");
    assert_eq!(m["tenant"]["id"], s.contoso.tenant_id.to_string());
    assert_eq!(m["guest"]["state"], "held");
    assert_eq!(m["guest"]["hostUpn"], host_upn.as_str());
    assert_eq!(m["ownership"], "heldByHost");
    assert_eq!(m["inScope"], serde_json::Value::Null);
    assert!(m["reasons"][0].as_str().unwrap().starts_with("held:"));
    assert!(m["lastRuns"].as_array().unwrap().len() == 2);
    assert!(m["recentActions"].is_array());

    let text = execute(&args(dir.path(), SHARED_UPN, false), now())
        .await
        .unwrap();
    assert!(text.found);
    assert!(text.text.contains("in tenant Contoso"), "{}", text.text);
    assert!(text.text.contains("in tenant Fabrikam"), "{}", text.text);
    assert!(text.text.contains("why:"), "{}", text.text);
    assert!(text.text.contains("deletion guard held"), "{}", text.text);

    let none = execute(&args(dir.path(), "nobody@nowhere.example", true), now())
        .await
        .unwrap();
    assert!(!none.found);
    let v: serde_json::Value = serde_json::from_str(&none.text).unwrap();
    assert_eq!(v["found"], false);
    assert_eq!(v["matches"], serde_json::json!([]));
    assert!(v["note"]
        .as_str()
        .unwrap()
        .contains("no guest record matches"));

    let missing = tempfile::tempdir().unwrap();
    let e = format!(
        "{:#}",
        execute(&args(missing.path(), "x@y.example", false), now())
            .await
            .unwrap_err()
    );
    assert!(e.contains("gs.db"), "{e}");
    assert!(!sqlite_path(missing.path()).exists());
}

/// The binary exits 0 when a user matches and 3 when none does.
#[tokio::test]
async fn explain_binary_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let s = seed(dir.path()).await;
    let store = format!("sqlite:{}", sqlite_path(dir.path()).display());
    let explain_cli = |user: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
            .args(["explain", &user, "--store", &store])
            .env_remove("GUESTSYNC_STORE")
            .output()
            .unwrap()
    };
    let found = explain_cli(s.c[0].source_upn.clone());
    assert_eq!(found.status.code(), Some(0), "{found:?}");
    assert!(String::from_utf8_lossy(&found.stdout).contains("why:"));
    let none = explain_cli("nobody@nowhere.example".into());
    assert_eq!(
        none.status.code(),
        Some(i32::from(EXIT_NO_MATCH)),
        "{none:?}"
    );
    assert!(String::from_utf8_lossy(&none.stderr).contains("nobody@nowhere.example"));
}

/// The log of an explanation names no user: the event carries the number
/// of matches, and neither the UPN asked about nor the host UPN appears.
#[tokio::test]
async fn explain_logs_carry_no_upn() {
    let dir = tempfile::tempdir().unwrap();
    let s = seed(dir.path()).await;
    let store = open_sqlite(dir.path()).await;
    let (cap, _g) = crate::support::logs::Capture::scoped();
    let found = explain(store.as_ref(), SHARED_UPN, now()).await.unwrap();
    assert_eq!(found.len(), 2);
    let event = cap
        .events()
        .into_iter()
        .find(|e| e["message"] == "explained a user")
        .unwrap_or_else(|| panic!("no explain event in {}", cap.text()));
    assert_eq!(event["matches"], 2);
    let text = cap.text().to_lowercase();
    assert!(!text.contains(&SHARED_UPN.to_lowercase()), "{text}");
    assert!(!text.contains(&s.c[0].host_upn.clone().unwrap().to_lowercase()));
}

/// The live lookup (`--live`) against the Graph simulator: a member of a
/// nested scope group is in scope through the group (found by UPN, by mail
/// and by object id), a user outside the group is not, an unknown user is
/// not found.
#[tokio::test]
async fn explain_live_lookup_reads_the_group_transitively() {
    use guest_sync::devtools::sim::{GenerateSpec, NewUser};
    use guest_sync::engine::lookup::lookup_user;
    let w = crate::support::world::World::fast().await;
    let src = w
        .add_source(
            crate::support::world::SourceSpec::new("Alpha").generate(GenerateSpec {
                users: 5,
                nested_depth: 2,
                ..GenerateSpec::default()
            }),
        )
        .await;
    assert_eq!(src.generated.nested_group_ids.len(), 2);
    let t = &src.tenant;
    let person = |upn: &str, mail: &str| NewUser {
        display_name: "Ann".into(),
        upn: upn.into(),
        mail: Some(mail.into()),
        job_title: None,
        department: None,
        company_name: None,
        account_enabled: true,
        user_type: "Member".into(),
        extra: serde_json::Map::new(),
    };
    // Ann is a member of the innermost nested group only.
    let inner = *src.generated.nested_group_ids.last().unwrap();
    let ann = w.sim.create_user(
        t.tenant_id,
        person("ann@alpha.example", "ann.m@alpha.example"),
    );
    w.sim.add_member(t.tenant_id, inner, ann);
    let bob = w.sim.create_user(
        t.tenant_id,
        person("bob@alpha.example", "bob.m@alpha.example"),
    );
    let ctx = w.engine();

    for q in ["ANN@alpha.example", "ann.m@alpha.example", &ann.to_string()] {
        let l = lookup_user(&ctx, t, q).await;
        assert_eq!(l.user_id, Some(ann), "{q}: {l:?}");
        assert_eq!(l.in_group, Some(true), "{q}: {l:?}");
        assert!(
            l.sentence
                .starts_with(&format!("in scope through group {}", t.group_id)),
            "{l:?}"
        );
    }
    let l = lookup_user(&ctx, t, "bob@alpha.example").await;
    assert_eq!((l.user_id, l.in_group), (Some(bob), Some(false)), "{l:?}");
    assert!(l.sentence.starts_with("not in the group"), "{l:?}");
    let l = lookup_user(&ctx, t, "nobody@alpha.example").await;
    assert_eq!((l.user_id, l.in_group), (None, None), "{l:?}");
    assert_eq!(l.sentence, "not found in tenant Alpha");

    // The binary with --live, settings from the environment: no guest
    // record matches (exit 3), the live part says why.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .args(["explain", "ann@alpha.example", "--live", "--json"])
        .env_clear()
        .envs(&w.env)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(i32::from(EXIT_NO_MATCH)), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["found"], false);
    assert_eq!(v["live"][0]["tenantId"], t.tenant_id.to_string());
    assert_eq!(v["live"][0]["userId"], ann.to_string());
    assert_eq!(v["live"][0]["inGroup"], true);
}
