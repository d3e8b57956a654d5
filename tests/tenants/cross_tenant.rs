//! `guest-sync tenant add` and `tenant list` read the host's cross-tenant
//! access settings for the source tenant with the host app (simulated host
//! and source in one simulator): automatic redemption on, off, or unknown
//! with the reason (never failing the command), and inbound B2B
//! collaboration blocked (in the partner entry, or inherited from the
//! default) refusing the registration with nothing written.
use chrono::{TimeZone, Utc};
use guest_sync::devtools::sim::{GenerateSpec, Sim, SimConfig, SimCrossTenant, SimPolicies};
use guest_sync::domain::{Guid, SecretName, Toggle};
use guest_sync::secrets::SecretString;

use super::harness::{TenantCli, HOST_SECRET, HOST_TENANT};

const HOST_CLIENT: &str = "22222222-2222-4222-8222-222222222222";
const HOST_SECRET_VALUE: &str = "Hx8~host-app-secret-value-123";
const SOURCE_SECRET: &str = "Sx8~source-app-secret-value-456";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

/// A simulator with the harness's host (its app granted `host_perms`, its
/// secret in the runner's secrets file) and a source tenant with an app
/// and a group of 3 users.
struct Setup {
    sim: Sim,
    cli: TenantCli,
    host: Guid,
    source: Guid,
    app: Guid,
    group: Guid,
}

async fn setup(host_perms: &[&str]) -> Setup {
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    let host: Guid = HOST_TENANT.parse().unwrap();
    sim.add_tenant(host, "Host", "host.onmicrosoft.com");
    sim.register_app(
        host,
        HOST_CLIENT.parse().unwrap(),
        HOST_SECRET_VALUE,
        host_perms,
    );
    let source = Guid::new_v4();
    sim.add_tenant(source, "Contoso", "contoso.onmicrosoft.com");
    let app = Guid::new_v4();
    sim.register_app(
        source,
        app,
        SOURCE_SECRET,
        &["GroupMember.Read.All", "User.Read.All"],
    );
    let g = sim.generate_source(
        source,
        &GenerateSpec {
            users: 3,
            ..Default::default()
        },
    );
    let cli = TenantCli::new(Some(sim.url())).await;
    cli.ctx
        .secrets
        .set(
            &SecretName::parse(HOST_SECRET).unwrap(),
            &SecretString::new(HOST_SECRET_VALUE),
            None,
        )
        .await
        .unwrap();
    Setup {
        sim,
        cli,
        host,
        source,
        app,
        group: g.group_id,
    }
}

impl Setup {
    /// The host's partner entry for the source, `entry` (None: no entry).
    fn host_policies(&self, entry: Option<SimCrossTenant>, default_blocked: bool) {
        let mut p = SimPolicies::default();
        p.cross_tenant_default.b2b_inbound_blocked = Some(default_blocked);
        if let Some(e) = entry {
            p.partners.insert(self.source, e);
        }
        self.sim.set_policies(self.host, p);
    }

    async fn add(&mut self, json: bool) -> Result<String, String> {
        let (t, a, g) = (
            self.source.to_string(),
            self.app.to_string(),
            self.group.to_string(),
        );
        let mut args = vec![
            "add",
            "--tenant-id",
            &t,
            "--client-id",
            &a,
            "--group-id",
            &g,
            "--name",
            "Contoso",
            "--secret-name",
            "contoso-app",
            "--secret-stdin",
            "--secret-expires",
            "2027-11-23",
        ];
        if json {
            args.push("--json");
        }
        self.cli
            .run(&args, &format!("{SOURCE_SECRET}\n"), now())
            .await
    }

    async fn list_json(&mut self) -> serde_json::Value {
        let out = self.cli.run(&["list", "--json"], "", now()).await.unwrap();
        serde_json::from_str(&out).unwrap()
    }
}

/// Host inbound on (partner entry): `tenant add` says so, names the
/// outbound side as the source setup script's, and stores it; `tenant
/// list` shows it in its table and JSON.
#[tokio::test]
async fn add_and_list_say_automatic_redemption_is_on() {
    let mut s = setup(&["Policy.Read.All"]).await;
    s.host_policies(
        Some(SimCrossTenant {
            inbound_auto_redeem: Some(true),
            ..Default::default()
        }),
        false,
    );
    let out = s.add(false).await.unwrap();
    assert!(
        out.contains("auto-redemption .. on (host inbound, partner entry); outbound: set by the source setup script"),
        "{out}"
    );
    assert!(out.contains("inbound B2B ...... allowed"), "{out}");
    assert!(!out.contains("hint:"), "{out}");
    let t = s.cli.ctx.store.get_tenant(s.source).await.unwrap().unwrap();
    let c = t.cross_tenant.expect("stored");
    assert_eq!(
        (c.automatic_redemption, c.partner_entry),
        (Toggle::On, Some(true))
    );
    assert_eq!(c.checked_at, now());

    let v = s.list_json().await;
    assert_eq!(v[0]["crossTenant"]["automaticRedemption"], "on", "{v}");
    assert_eq!(v[0]["crossTenant"]["inboundB2b"], "allowed", "{v}");
    assert_eq!(v[0]["health"], "ok", "{v}");
    let table = s.cli.run(&["list"], "", now()).await.unwrap();
    assert!(table.contains("AUTO-REDEEM"), "{table}");
    assert!(!table.contains("automatic redemption off"), "{table}");

    // The host app loses Policy.Read.All: the list shows the stored
    // reading and says why it is not fresh.
    s.sim.register_app(
        s.host,
        HOST_CLIENT.parse().unwrap(),
        HOST_SECRET_VALUE,
        &["User.Invite.All"],
    );
    let v = s.list_json().await;
    assert_eq!(v[0]["crossTenant"]["automaticRedemption"], "on", "{v}");
    let reasons = v[0]["reasons"].to_string();
    assert!(
        reasons.contains("not read now") && reasons.contains("Policy.Read.All"),
        "{v}"
    );
}

/// No partner entry: the default applies, whose inbound automatic
/// redemption is always off. Add and list say off with the hint; the
/// tenant is registered.
#[tokio::test]
async fn add_and_list_say_automatic_redemption_is_off_with_a_hint() {
    let mut s = setup(&["Policy.Read.All"]).await;
    s.host_policies(None, false);
    let out = s.add(false).await.unwrap();
    assert!(
        out.contains("auto-redemption .. off (host inbound, default settings, no partner entry)"),
        "{out}"
    );
    assert!(
        out.contains("hint:") && out.contains("Automatically redeem invitations"),
        "{out}"
    );
    assert!(out.contains("Registered Contoso"), "{out}");
    let v = s.list_json().await;
    assert_eq!(v[0]["crossTenant"]["automaticRedemption"], "off", "{v}");
    assert_eq!(v[0]["crossTenant"]["partnerEntry"], false, "{v}");
    let table = s.cli.run(&["list"], "", now()).await.unwrap();
    assert!(
        table.contains("automatic redemption off: guests see a consent prompt"),
        "{table}"
    );
}

/// The host app lacks Policy.Read.All: automatic redemption is unknown
/// with the reason naming the permission, and neither command fails.
#[tokio::test]
async fn without_policy_read_all_the_state_is_unknown_and_nothing_fails() {
    let mut s = setup(&["User.Invite.All"]).await;
    let out = s.add(true).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v["tenant"]["crossTenant"];
    assert_eq!(c["automaticRedemption"], "unknown", "{v}");
    assert!(
        c["reason"].as_str().unwrap().contains("Policy.Read.All"),
        "{v}"
    );
    assert!(s
        .cli
        .ctx
        .store
        .get_tenant(s.source)
        .await
        .unwrap()
        .is_some());
    let v = s.list_json().await;
    assert_eq!(v[0]["crossTenant"]["automaticRedemption"], "unknown", "{v}");
    let table = s.cli.run(&["list"], "", now()).await.unwrap();
    assert!(table.contains("Policy.Read.All"), "{table}");
}

/// Inbound B2B collaboration blocked, first in the partner entry, then
/// inherited from the default by an entry that leaves it unset: `tenant
/// add` refuses, naming the host admin's cross-tenant access settings, and
/// registers nothing nor stores the source secret.
#[tokio::test]
async fn blocked_inbound_b2b_refuses_the_registration() {
    let mut s = setup(&["Policy.Read.All"]).await;
    for (entry, default_blocked, whose) in [
        (
            SimCrossTenant {
                b2b_inbound_blocked: Some(true),
                inbound_auto_redeem: Some(true),
                ..Default::default()
            },
            false,
            "partner entry",
        ),
        (
            SimCrossTenant {
                inbound_auto_redeem: Some(true),
                ..Default::default()
            },
            true,
            "default settings",
        ),
    ] {
        s.host_policies(Some(entry), default_blocked);
        let e = s.add(false).await.unwrap_err();
        assert!(e.contains("blocks inbound B2B collaboration"), "{e}");
        assert!(e.contains(whose), "{e}");
        assert!(e.contains("nothing was registered"), "{e}");
        assert!(
            e.contains("Cross-tenant access settings") && e.contains("Inbound access"),
            "{e}"
        );
        assert!(s.cli.ctx.store.list_tenants().await.unwrap().is_empty());
        let secrets = std::fs::read_to_string(s.cli.dir.path().join("secrets.json")).unwrap();
        assert!(
            !secrets.contains("contoso-app"),
            "the source secret was stored"
        );
    }
    // Allowed again: the same command registers.
    s.host_policies(None, false);
    assert!(s.add(false).await.is_ok());
}

/// The daily check (run by the redemption timer) reads each registered
/// tenant's settings with the host app and stores them on the record, so
/// the report shows them without calling Graph: on, then blocked after the
/// host's policy changes, then unknown (with the reason) once the host app
/// may no longer read policies.
#[tokio::test]
async fn the_daily_check_refreshes_the_stored_status() {
    use crate::support::perms::HOST_PERMS;
    use crate::support::world::{SourceSpec, World};
    use guest_sync::domain::InboundB2b;
    use guest_sync::report::Statistics;

    let mut perms = HOST_PERMS.to_vec();
    perms.push("Policy.Read.All");
    let w = World::builder().host_perms(&perms).build().await;
    let s = w.add_source(SourceSpec::new("Contoso")).await;
    let id = s.tenant.tenant_id;
    let set = |entry: SimCrossTenant| {
        let mut p = SimPolicies::default();
        p.partners.insert(id, entry);
        w.sim.set_policies(w.host, p);
    };
    let stored = || async { w.store.get_tenant(id).await.unwrap().unwrap().cross_tenant };
    set(SimCrossTenant {
        inbound_auto_redeem: Some(true),
        ..Default::default()
    });
    let logs = guest_sync::orchestration::daily::run(&w.app(), now()).await;
    assert!(
        logs.iter().any(|l| l.contains(&format!(
            "cross-tenant settings of {id}: automatic redemption on"
        ))),
        "{logs:?}"
    );
    let c = stored().await.expect("stored by the daily check");
    assert_eq!((c.automatic_redemption, c.checked_at), (Toggle::On, now()));
    let stats = Statistics::load(w.store.as_ref(), now()).await.unwrap();
    assert_eq!(
        stats
            .tenant(id)
            .and_then(|t| t.cross_tenant.as_ref())
            .map(|c| c.automatic_redemption),
        Some(Toggle::On)
    );

    set(SimCrossTenant {
        b2b_inbound_blocked: Some(true),
        ..Default::default()
    });
    guest_sync::orchestration::daily::run(&w.app(), now()).await;
    let c = stored().await.unwrap();
    assert_eq!(
        (c.automatic_redemption, c.inbound_b2b),
        (Toggle::Off, InboundB2b::Blocked)
    );

    w.sim.register_app(
        w.host,
        w.host_app,
        crate::support::world::HOST_APP_SECRET,
        HOST_PERMS,
    );
    guest_sync::orchestration::daily::run(&w.app(), now()).await;
    let c = stored().await.unwrap();
    assert_eq!(c.automatic_redemption, Toggle::Unknown);
    assert!(
        c.reason
            .as_deref()
            .is_some_and(|r| r.contains("Policy.Read.All")),
        "{c:?}"
    );
}
