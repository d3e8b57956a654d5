//! `guest-sync doctor` run as the real binary against the simulator: a
//! deployment set up right passes every check (exit 0) without one write;
//! each misconfiguration is named with its fix and sets the exit status
//! (1 failure, 3 warnings only).
use std::collections::BTreeMap;

use guest_sync::devtools::sim::{GenerateSpec, SimCrossTenant, SimPolicies};
use guest_sync::domain::{Guid, SecretName};
use serde_json::Value;

use crate::support::perms::HOST_PERMS;
use crate::support::world::{Source, SourceSpec, World, HOST_APP_SECRET};

/// The host app's roles for the doctor: the sync's, plus reading the
/// tenant's policies and photo settings.
fn doctor_host_perms() -> Vec<&'static str> {
    let mut p = HOST_PERMS.to_vec();
    p.extend(["Policy.Read.All", "PeopleSettings.Read.All"]);
    p
}

/// A world whose settings name every schedule, with `perms` for the host.
async fn world_with(perms: &[&str]) -> World {
    World::builder()
        .host_perms(perms)
        .setting("GUESTSYNC_SYNC_SCHEDULE", "0 */30 * * * *")
        .setting("GUESTSYNC_PHOTO_SCHEDULE", "0 0 3 * * *")
        .setting("GUESTSYNC_REDEMPTION_SCHEDULE", "0 15 */4 * * *")
        .setting("GUESTSYNC_DELTA_SCHEDULE", "0 */2 * * * *")
        .build()
        .await
}

async fn world() -> World {
    world_with(&doctor_host_perms()).await
}

/// A source tenant with a few members in its scope group, set up as
/// docs/onboarding.md says: the host's partner entry for it allows
/// automatic redemption (the default configuration cannot: Graph keeps its
/// `inboundAllowed` false).
async fn source(w: &World, name: &str) -> Source {
    let s = w
        .add_source(SourceSpec::new(name).generate(GenerateSpec {
            users: 3,
            nested_depth: 0,
            ..GenerateSpec::default()
        }))
        .await;
    let mut p = w.sim.policies(w.host);
    p.partners.insert(
        s.tenant.tenant_id,
        SimCrossTenant {
            inbound_auto_redeem: Some(true),
            b2b_inbound_blocked: None,
            outbound_auto_redeem: None,
        },
    );
    w.sim.set_policies(w.host, p);
    s
}

/// One run of the binary.
struct Run {
    code: i32,
    stdout: String,
    json: Value,
}

impl Run {
    /// The check with this id.
    fn check(&self, id: &str) -> &Value {
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id} in {}", self.stdout))
    }
    fn status(&self, id: &str) -> &str {
        self.check(id)["status"].as_str().unwrap()
    }
    fn fix(&self, id: &str) -> &str {
        self.check(id)["fix"].as_str().unwrap_or("")
    }
    fn detail(&self, id: &str) -> &str {
        self.check(id)["detail"].as_str().unwrap()
    }
    /// Ids of the checks with this status.
    fn with_status(&self, status: &str) -> Vec<String> {
        self.json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["status"] == status)
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// `guest-sync doctor <args>` with the world's settings, `env` overriding.
async fn doctor_raw(w: &World, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut vars: BTreeMap<String, String> = w.env.clone();
    for (k, v) in env {
        vars.insert(k.to_string(), v.to_string());
    }
    let o = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .arg("doctor")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars)
        .output()
        .await
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8(o.stdout).unwrap(),
        String::from_utf8(o.stderr).unwrap(),
    )
}

/// `guest-sync doctor --json <args>`, the report decoded.
async fn doctor(w: &World, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, stdout, stderr) = doctor_raw(w, env, &a).await;
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    assert_eq!(json["exitCode"], code, "{stdout}");
    Run { code, stdout, json }
}

/// Every request the simulator answered was a read or a token request.
fn assert_read_only(w: &World) {
    let c = w.sim.counts();
    let kinds: Vec<&String> = c.by_kind.keys().collect();
    assert!(
        c.by_kind.keys().all(|k| k == "read" || k == "token"),
        "non-GET requests were made: {kinds:?}"
    );
    assert!(c.writes_applied.is_empty(), "{:?}", c.writes_applied);
}

/// A deployment set up as documented passes every check, exits 0, and
/// makes no request but GETs and token requests.
#[tokio::test]
async fn a_deployment_set_up_right_passes_every_check_and_writes_nothing() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let before = std::fs::read(w.dir.path().join("secrets.json")).unwrap();
    let r = doctor(&w, &[], &[]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json["status"], "ok");
    assert!(
        r.with_status("warn").is_empty() && r.with_status("fail").is_empty(),
        "{}",
        r.stdout
    );
    let t = s.tenant.tenant_id;
    for id in [
        "schedule.sync".to_string(),
        "schedule.delta".into(),
        "settings".into(),
        "store".into(),
        "vault".into(),
        "host.secret".into(),
        "host.token".into(),
        "host.roles".into(),
        "host.invitations".into(),
        "host.photos".into(),
        "host.anchor".into(),
        format!("source.{t}.b2b-inbound"),
        format!("source.{t}.auto-redeem"),
        format!("source.{t}.secret"),
        format!("source.{t}.token"),
        format!("source.{t}.roles"),
        format!("source.{t}.group"),
    ] {
        assert_eq!(r.status(&id), "ok", "{id}: {}", r.stdout);
    }
    assert!(r
        .detail(&format!("source.{t}.group"))
        .contains("3 user member(s)"));
    assert_read_only(&w);
    assert_eq!(
        std::fs::read(w.dir.path().join("secrets.json")).unwrap(),
        before
    );
    // The human output: one line per check, no secret anywhere.
    let (code, text, _) = doctor_raw(&w, &[], &[]).await;
    assert_eq!(code, 0);
    assert!(
        text.contains("ok   guest invitations: allowInvitesFrom is everyone"),
        "{text}"
    );
    assert!(
        text.ends_with(" ok, 0 warning(s), 0 failure(s)\n"),
        "{text}"
    );
    for secret in [HOST_APP_SECRET.to_string(), World::source_secret("Contoso")] {
        assert!(!text.contains(&secret) && !r.stdout.contains(&secret));
    }
}

/// `--json` gives the worst status, the exit code and every check with
/// id, title, status, detail and fix (null when ok).
#[tokio::test]
async fn json_output_has_the_documented_shape() {
    let w = world().await;
    source(&w, "Contoso").await;
    let r = doctor(&w, &[], &[]).await;
    let keys: Vec<&String> = r.json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["checks", "exitCode", "status"]);
    for c in r.json["checks"].as_array().unwrap() {
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["detail", "fix", "id", "status", "title"], "{c}");
        assert!(c["fix"].is_null());
    }
}

/// `allowInvitesFrom: none` refuses every invitation: a failure naming the
/// setting to change, exit 1.
#[tokio::test]
async fn invitations_blocked_for_everyone_fail() {
    let w = world().await;
    w.sim.set_policies(
        w.host,
        SimPolicies {
            allow_invites_from: "none".into(),
            ..w.sim.policies(w.host)
        },
    );
    let r = doctor(&w, &[], &[]).await;
    assert_eq!(r.code, 1);
    assert_eq!(r.status("host.invitations"), "fail");
    assert!(r
        .detail("host.invitations")
        .contains("allowInvitesFrom is none"));
    assert!(r
        .fix("host.invitations")
        .contains("allow guest invitations"));
    assert!(r
        .fix("host.invitations")
        .contains("External collaboration settings"));
    assert_read_only(&w);
}

/// Invitations limited to admins and guest inviters: a warning, exit 3.
#[tokio::test]
async fn invitations_limited_to_guest_inviters_warn() {
    let w = world().await;
    w.sim.set_policies(
        w.host,
        SimPolicies {
            allow_invites_from: "adminsAndGuestInviters".into(),
            ..w.sim.policies(w.host)
        },
    );
    let r = doctor(&w, &[], &[]).await;
    assert_eq!((r.code, r.status("host.invitations")), (3, "warn"));
    assert!(r.fix("host.invitations").contains("Guest Inviter role"));
}

/// A host app without User.Invite.All fails the roles check naming it;
/// the doctor's own roles missing only warn.
#[tokio::test]
async fn a_missing_host_role_fails_and_a_missing_doctor_role_warns() {
    let invite_only = world_with(&[
        "User.Invite.All",
        "Policy.Read.All",
        "PeopleSettings.Read.All",
    ])
    .await;
    let r = doctor(&invite_only, &[], &[]).await;
    assert_eq!((r.code, r.status("host.roles")), (1, "fail"));
    assert!(
        r.detail("host.roles")
            .contains("missing User.ReadWrite.All"),
        "{}",
        r.stdout
    );
    assert!(
        r.fix("host.roles").contains("User.ReadWrite.All")
            && r.fix("host.roles").contains("admin consent")
    );

    // User.ReadWrite.All includes inviting.
    let write_all = world_with(&[
        "User.ReadWrite.All",
        "Policy.Read.All",
        "PeopleSettings.Read.All",
    ])
    .await;
    let r = doctor(&write_all, &[], &[]).await;
    assert_eq!(
        r.status("host.roles"),
        "ok",
        "User.ReadWrite.All includes User.Invite.All"
    );

    let sync_roles_only = world_with(HOST_PERMS).await;
    let r = doctor(&sync_roles_only, &[], &[]).await;
    assert_eq!((r.code, r.status("host.roles")), (3, "warn"));
    assert!(r
        .fix("host.roles")
        .contains("Policy.Read.All, PeopleSettings.Read.All"));
    // Without Policy.Read.All the policies cannot be read: said, not guessed.
    assert_eq!(r.status("host.invitations"), "warn");
    assert!(r.fix("host.invitations").contains("Policy.Read.All"));
}

/// With a host group configured, GroupMember.ReadWrite.All is required.
#[tokio::test]
async fn a_host_group_needs_group_member_write() {
    let w = world_with(&[
        "User.Invite.All",
        "User.ReadWrite.All",
        "Policy.Read.All",
        "PeopleSettings.Read.All",
    ])
    .await;
    let r = doctor(&w, &[], &[]).await;
    assert_eq!(r.status("host.roles"), "ok");
    let g = Guid::new_v4().to_string();
    let r = doctor(&w, &[("GUESTSYNC_HOST_GROUP_ID", &g)], &[]).await;
    assert_eq!(r.status("host.roles"), "fail");
    assert!(r.detail("host.roles").contains("GroupMember.ReadWrite.All"));
}

/// Photos mastered on-premises or restricted to roles: the photo job
/// cannot write, a warning, exit 3.
#[tokio::test]
async fn restricted_photo_updates_warn() {
    let w = world().await;
    w.sim.set_policies(
        w.host,
        SimPolicies {
            photo_source: "onPremises".into(),
            ..w.sim.policies(w.host)
        },
    );
    let r = doctor(&w, &[], &[]).await;
    assert_eq!((r.code, r.status("host.photos")), (3, "warn"));
    assert!(r.fix("host.photos").contains("set the source to cloud"));

    w.sim.set_policies(
        w.host,
        SimPolicies {
            photo_source: "cloud".into(),
            photo_allowed_roles: vec!["62e90394-69f5-4237-9190-012177145e10".into()],
            ..w.sim.policies(w.host)
        },
    );
    let r = doctor(&w, &[], &[]).await;
    assert_eq!(r.status("host.photos"), "warn");
    assert!(r
        .fix("host.photos")
        .contains("clear photoUpdateSettings.allowedRoles"));
}

/// Automatic redemption off in the partner's entry: guests must redeem by
/// hand, a warning naming the trust setting, exit 3.
#[tokio::test]
async fn automatic_redemption_off_warns() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let t = s.tenant.tenant_id;
    let mut p = SimPolicies::default();
    p.partners.insert(
        t,
        SimCrossTenant {
            inbound_auto_redeem: Some(false),
            b2b_inbound_blocked: None,
            outbound_auto_redeem: None,
        },
    );
    w.sim.set_policies(w.host, p);
    let r = doctor(&w, &[], &[]).await;
    let id = format!("source.{t}.auto-redeem");
    assert_eq!((r.code, r.status(&id)), (3, "warn"), "{}", r.stdout);
    assert!(r.detail(&id).contains("redeem their invitation by hand"));
    assert!(r.fix(&id).contains("Automatically redeem invitations"));
    // The partner inherits inbound B2B from the default: allowed.
    assert_eq!(r.status(&format!("source.{t}.b2b-inbound")), "ok");
}

/// Inbound B2B collaboration blocked in the default policy (no partner
/// entry: Graph answers 404 and the default applies): a failure.
#[tokio::test]
async fn inbound_b2b_blocked_by_default_fails() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let t = s.tenant.tenant_id;
    w.sim.set_policies(
        w.host,
        SimPolicies {
            cross_tenant_default: SimCrossTenant {
                inbound_auto_redeem: Some(false),
                b2b_inbound_blocked: Some(true),
                outbound_auto_redeem: None,
            },
            // No partner entry: the default applies.
            ..SimPolicies::default()
        },
    );
    let r = doctor(&w, &[], &[]).await;
    let id = format!("source.{t}.b2b-inbound");
    assert_eq!((r.code, r.status(&id)), (1, "fail"));
    // The default configuration cannot allow automatic redemption (Graph
    // keeps its inboundAllowed false): without a partner entry, a warning.
    assert_eq!(r.status(&format!("source.{t}.auto-redeem")), "warn");
    assert!(r
        .detail(&id)
        .contains("blocked for all users (the default settings"));
    assert!(r.fix(&id).contains("Cross-tenant access settings"));
    assert!(r.fix(&id).contains(&t.to_string()));
}

/// A source app not in its tenant (no consent), one with a wrong secret
/// and one whose secret expired: each named with its AADSTS code.
#[tokio::test]
async fn source_token_failures_are_each_named() {
    let w = world().await;
    let unconsented = source(&w, "Alpha").await;
    let mut t = unconsented.tenant.clone();
    t.client_id = Guid::new_v4();
    w.store.put_tenant(&t).await.unwrap();
    let wrong = w
        .add_source(SourceSpec::new("Beta").stored_secret("not-the-secret"))
        .await;
    let expired = source(&w, "Gamma").await;
    w.sim
        .expire_app_secret(expired.tenant.tenant_id, expired.tenant.client_id);

    let r = doctor(&w, &[], &[]).await;
    assert_eq!(r.code, 1);
    let id = |s: &Source| format!("source.{}.token", s.tenant.tenant_id);
    assert_eq!(r.status(&id(&unconsented)), "fail");
    assert!(r.detail(&id(&unconsented)).contains("AADSTS700016"));
    assert!(r.fix(&id(&unconsented)).contains("grant admin consent"));
    assert!(r
        .detail(&id(&wrong))
        .contains("wrong client secret (AADSTS7000215)"));
    assert!(r.fix(&id(&wrong)).contains("not its Secret ID"));
    assert!(r.detail(&id(&expired)).contains("expired (AADSTS7000222)"));
    assert!(r.fix(&id(&expired)).contains("creates a new one"));
    // No group check without a token.
    assert!(r.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != format!("source.{}.group", wrong.tenant.tenant_id)));
    assert_read_only(&w);
}

/// A source app without User.Read.All fails its roles check naming the
/// permission, and the group check says the attributes are unreadable.
#[tokio::test]
async fn a_source_missing_a_permission_fails() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let t = s.tenant.tenant_id;
    w.sim.register_app(
        t,
        s.tenant.client_id,
        &World::source_secret("Contoso"),
        &["GroupMember.Read.All"],
    );
    let r = doctor(&w, &[], &[]).await;
    let id = format!("source.{t}.roles");
    assert_eq!((r.code, r.status(&id)), (1, "fail"));
    assert_eq!(r.detail(&id), "missing User.Read.All");
    assert!(r.fix(&id).contains("User.Read.All") && r.fix(&id).contains("admin consent"));
    assert_eq!(r.status(&format!("source.{t}.group")), "fail");
    assert!(r
        .fix(&format!("source.{t}.group"))
        .contains("User.Read.All"));
}

/// A registered group that does not exist in the source tenant fails.
#[tokio::test]
async fn a_missing_source_group_fails() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let mut t = s.tenant.clone();
    t.group_id = Guid::new_v4();
    w.store.put_tenant(&t).await.unwrap();
    let r = doctor(&w, &[], &[]).await;
    let id = format!("source.{}.group", t.tenant_id);
    assert_eq!((r.code, r.status(&id)), (1, "fail"));
    assert!(r
        .detail(&id)
        .contains(&format!("group {} not found", t.group_id)));
    assert!(r.fix(&id).contains("check the group id"));
}

/// A store that does not exist is a failure (and is not created); the
/// host checks still run.
#[tokio::test]
async fn an_unreachable_store_fails_and_is_not_created() {
    let w = world().await;
    let missing = w.dir.path().join("nowhere").join("store.db");
    let spec = format!("sqlite:{}", missing.display());
    let r = doctor(&w, &[("GUESTSYNC_STORE", &spec)], &[]).await;
    assert_eq!((r.code, r.status("store")), (1, "fail"));
    assert!(r.detail("store").contains("does not exist"));
    assert!(r.fix("store").contains("GUESTSYNC_STORE"));
    assert!(!missing.exists());
    assert_eq!(r.status("host.token"), "ok");
}

/// Secrets missing from the secret source: the host's and a source
/// tenant's, each a failure naming the secret to store.
#[tokio::test]
async fn missing_secrets_fail() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let mut t = s.tenant.clone();
    t.secret_name = Some(SecretName::parse("not-stored").unwrap());
    w.store.put_tenant(&t).await.unwrap();
    let r = doctor(&w, &[("GUESTSYNC_HOST_SECRET_NAME", "host-gone")], &[]).await;
    assert_eq!((r.code, r.status("host.secret")), (1, "fail"));
    assert!(r
        .detail("host.secret")
        .contains("secret host-gone was not found"));
    assert!(r
        .fix("host.secret")
        .contains("store the host app's client secret under host-gone"));
    let id = format!("source.{}.secret", t.tenant_id);
    assert_eq!(r.status(&id), "fail");
    assert!(r.fix(&id).contains("under not-stored"));
}

/// A Key Vault that cannot be reached (nothing listens at its address):
/// every secret check fails naming the vault and the network fix, the
/// sync's other checks still run, and no secret value is printed.
#[tokio::test]
async fn an_unreachable_key_vault_fails_each_secret_with_the_network_fix() {
    let w = world().await;
    let s = source(&w, "Contoso").await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let vault = format!("https://127.0.0.1:{port}/");
    let identity = format!("http://127.0.0.1:{port}/msi/token");
    let r = doctor(
        &w,
        &[
            ("GUESTSYNC_KEYVAULT_URL", vault.as_str()),
            ("IDENTITY_ENDPOINT", identity.as_str()),
            ("IDENTITY_HEADER", "doctor-test"),
        ],
        &[],
    )
    .await;
    assert_eq!(
        (r.code, r.status("host.secret")),
        (1, "fail"),
        "{}",
        r.stdout
    );
    let detail = r.detail("host.secret");
    assert!(detail.contains(&format!("127.0.0.1:{port}")), "{detail}");
    let id = format!("source.{}.secret", s.tenant.tenant_id);
    assert_eq!(r.status(&id), "fail");
    for id in ["host.secret", id.as_str()] {
        assert!(r.detail(id).contains("is unreachable"), "{}", r.detail(id));
        let fix = r.fix(id);
        assert!(fix.contains("network path to the vault"), "{id}: {fix}");
    }
    // The other checks ran: the store was read.
    assert_eq!(r.status("store"), "ok");
    assert!(!r.stdout.contains(HOST_APP_SECRET));
}

/// A malformed schedule fails its own check (the rest still runs); an
/// unset one warns.
#[tokio::test]
async fn a_bad_schedule_fails_and_a_missing_one_warns() {
    let w = world().await;
    let r = doctor(
        &w,
        &[
            ("GUESTSYNC_SYNC_SCHEDULE", "every 30 minutes"),
            ("GUESTSYNC_PHOTO_SCHEDULE", ""),
        ],
        &[],
    )
    .await;
    assert_eq!((r.code, r.status("schedule.sync")), (1, "fail"));
    assert!(r.fix("schedule.sync").contains("six NCRONTAB fields"));
    assert_eq!(r.status("schedule.photo"), "warn");
    assert!(r.fix("schedule.photo").contains("GUESTSYNC_PHOTO_SCHEDULE"));
    assert_eq!(r.status("host.token"), "ok");
}

/// The delta timer's schedule is checked like the others: malformed
/// fails, unset warns (Azure would not load `delta-timer`).
#[tokio::test]
async fn the_delta_schedule_is_checked() {
    let w = world().await;
    let r = doctor(&w, &[("GUESTSYNC_DELTA_SCHEDULE", "*/2 * * * *")], &[]).await;
    assert_eq!(
        (r.code, r.status("schedule.delta")),
        (1, "fail"),
        "{}",
        r.stdout
    );
    assert!(r.detail("schedule.delta").contains("expected 6 fields"));
    assert!(r.fix("schedule.delta").contains("GUESTSYNC_DELTA_SCHEDULE"));
    assert!(r.fix("schedule.delta").contains("six NCRONTAB fields"));
    assert_eq!(r.status("schedule.sync"), "ok");
    assert_eq!(r.status("settings"), "ok");

    let r = doctor(&w, &[("GUESTSYNC_DELTA_SCHEDULE", "")], &[]).await;
    assert_eq!(
        (r.code, r.status("schedule.delta")),
        (3, "warn"),
        "{}",
        r.stdout
    );
    assert!(r
        .detail("schedule.delta")
        .contains("will not load the timer"));
    let fix = r.fix("schedule.delta");
    assert!(
        fix.contains("GUESTSYNC_DELTA_SCHEDULE") && fix.contains("0 */2 * * * *"),
        "{fix}"
    );
}

/// `GUESTSYNC_FULL_RECONCILE_HOURS` outside 0..=720 (or not a number)
/// fails the settings check naming it, like the other numeric settings;
/// 0 (delta off) passes.
#[tokio::test]
async fn full_reconcile_hours_out_of_range_fails_naming_it() {
    let w = world().await;
    for bad in ["721", "daily"] {
        let r = doctor(&w, &[("GUESTSYNC_FULL_RECONCILE_HOURS", bad)], &[]).await;
        assert_eq!((r.code, r.status("settings")), (1, "fail"), "{}", r.stdout);
        let detail = r.detail("settings");
        assert!(
            detail.contains("GUESTSYNC_FULL_RECONCILE_HOURS") && detail.contains(bad),
            "{detail}"
        );
        assert!(r.fix("settings").contains("GUESTSYNC_FULL_RECONCILE_HOURS"));
    }
    let r = doctor(&w, &[("GUESTSYNC_FULL_RECONCILE_HOURS", "0")], &[]).await;
    assert_eq!(r.status("settings"), "ok", "{}", r.stdout);
}

/// A directory extension as anchor that was never created fails.
#[tokio::test]
async fn an_anchor_extension_that_does_not_exist_fails() {
    let w = world().await;
    let r = doctor(
        &w,
        &[(
            "GUESTSYNC_ANCHOR_ATTRIBUTE",
            "extension_0123456789abcdef0123456789abcdef_guestSyncAnchor",
        )],
        &[],
    )
    .await;
    assert_eq!(
        (r.code, r.status("host.anchor")),
        (1, "fail"),
        "{}",
        r.stdout
    );
    assert!(r.fix("host.anchor").contains("extensionProperties"));
}

/// `--tenant` checks that source tenant alone; an unregistered id fails.
#[tokio::test]
async fn tenant_limits_the_source_checks() {
    let w = world().await;
    let a = source(&w, "Alpha").await;
    let b = source(&w, "Beta").await;
    let r = doctor(&w, &[], &["--tenant", &a.tenant.tenant_id.to_string()]).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(
        r.status(&format!("source.{}.group", a.tenant.tenant_id)),
        "ok"
    );
    assert!(!r.stdout.contains(&b.tenant.tenant_id.to_string()));
    let other = Guid::new_v4();
    let r = doctor(&w, &[], &["--tenant", &other.to_string()]).await;
    assert_eq!((r.code, r.status(&format!("source.{other}"))), (1, "fail"));
}
