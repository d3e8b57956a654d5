//! `guest-sync tenant` flows that need no Graph: registration with
//! `--skip-test`, listing, enable/disable, removal with an explicit choice
//! about guests, the deletion-guard confirmation, and failures that must
//! leave nothing behind.
use chrono::{Duration, TimeZone, Utc};
use guest_sync::domain::{GuardHold, GuestRecord, GuestState, Guid};

use super::harness::TenantCli;

/// The offline tenant (no Graph behind it), its app and its scope group.
pub const T: &str = "2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b";
pub const APP: &str = "6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e";
pub const GROUP: &str = "a1b2c3d4-0000-4000-8000-00000000000f";

/// The fixed "now" of the CLI tests.
pub fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

fn tid() -> Guid {
    Guid::parse_named(T, "t").unwrap()
}

/// `tenant add` for Contoso ([`T`], [`APP`], [`GROUP`]) with the secret
/// `contoso-app` read from stdin, then `extra`.
pub fn add_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "add",
        "--tenant-id",
        T,
        "--client-id",
        APP,
        "--group-id",
        GROUP,
        "--name",
        "Contoso",
        "--secret-name",
        "contoso-app",
        "--secret-stdin",
    ];
    a.extend_from_slice(extra);
    a
}

/// `args` with the value after `flag` replaced.
fn with<'a>(mut args: Vec<&'a str>, flag: &str, value: &'a str) -> Vec<&'a str> {
    let i = args.iter().position(|a| *a == flag).unwrap() + 1;
    args[i] = value;
    args
}

async fn add_skip_test(cli: &mut TenantCli) {
    cli.run(
        &add_args(&["--secret-expires", "2026-12-13", "--skip-test"]),
        "Zq8~offline-secret-value-123\n",
        now(),
    )
    .await
    .unwrap();
}

fn guest(n: u8, state: GuestState) -> GuestRecord {
    GuestRecord {
        source_tenant_id: tid(),
        source_user_id: Guid::parse_named(
            &format!("bbbbbbbb-0000-4000-8000-0000000000{n:02}"),
            "u",
        )
        .unwrap(),
        source_upn: format!("u{n}@contoso.example"),
        source_mail: None,
        host_user_id: Some(Guid::new_v4()),
        host_upn: None,
        state,
        adopted: false,
        created_at: now(),
        redeemed_at: None,
        deprovisioned_at: None,
        last_synced_at: None,
        profile_fingerprint: None,
        photo_etag: None,
        photo_copied_at: None,
        last_error: None,
        anchored: false,
        relations: Default::default(),
    }
}

/// `add --skip-test` stores the secret and registers the tenant; `list`
/// shows it with the secret's days left (a warning inside 30 days), in a
/// table and as JSON.
#[tokio::test]
async fn skip_test_registration_shows_in_list_with_secret_days() {
    let mut cli = TenantCli::new(None).await;
    add_skip_test(&mut cli).await;
    let t = cli.ctx.store.get_tenant(tid()).await.unwrap().unwrap();
    assert!(t.enabled);
    assert_eq!(t.secret_name.as_ref().unwrap().as_str(), "contoso-app");
    let table = cli.run(&["list"], "", now()).await.unwrap();
    assert!(table.contains("TENANT ID") && table.contains(T), "{table}");
    assert!(
        table.contains("warning") && table.contains("expires in 19 days"),
        "{table}"
    );
    let json = cli.run(&["list", "--json"], "", now()).await.unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["tenantId"], T);
    assert_eq!(v[0]["secretDaysLeft"], 19);
    assert_eq!(v[0]["guestsManaged"], 0);
    assert_eq!(v[0]["health"], "warning");
}

/// A malformed GUID is refused and nothing is registered or stored.
#[tokio::test]
async fn bad_guid_registers_nothing() {
    let mut cli = TenantCli::new(None).await;
    let e = cli
        .run(
            &with(add_args(&[]), "--tenant-id", "contoso.onmicrosoft.com"),
            "Zq8~offline-secret-value-123\n",
            now(),
        )
        .await
        .unwrap_err();
    assert!(
        e.contains("--tenant-id") && e.contains("contoso.onmicrosoft.com"),
        "{e}"
    );
    assert!(cli.ctx.store.list_tenants().await.unwrap().is_empty());
    assert!(!cli.dir.path().join("secrets.json").exists());
}

/// When Graph cannot be reached the test fails, and neither the tenant
/// nor the secret is written.
#[tokio::test]
async fn failed_connection_test_writes_nothing() {
    let mut cli = TenantCli::new(None).await;
    let e = cli
        .run(&add_args(&[]), "Zq8~offline-secret-value-123\n", now())
        .await
        .unwrap_err();
    assert!(
        e.contains("nothing was registered") && e.contains("could not be reached"),
        "{e}"
    );
    assert!(cli.ctx.store.list_tenants().await.unwrap().is_empty());
    assert!(!cli.dir.path().join("secrets.json").exists());
}

/// A pasted secret ID (a GUID) is refused as a secret value.
#[tokio::test]
async fn secret_id_instead_of_value_is_refused() {
    let mut cli = TenantCli::new(None).await;
    let e = cli
        .run(
            &add_args(&["--skip-test"]),
            "0f9e8d7c-0000-4000-8000-000000000001\n",
            now(),
        )
        .await
        .unwrap_err();
    assert!(e.contains("secret's ID"), "{e}");
    assert!(cli.ctx.store.list_tenants().await.unwrap().is_empty());
}

/// disable and enable flip the flag; list shows a disabled tenant.
#[tokio::test]
async fn disable_and_enable_flip_the_flag() {
    let mut cli = TenantCli::new(None).await;
    add_skip_test(&mut cli).await;
    cli.run(&["disable", T], "", now()).await.unwrap();
    assert!(
        !cli.ctx
            .store
            .get_tenant(tid())
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    let json = cli.run(&["list", "--json"], "", now()).await.unwrap();
    assert!(json.contains("\"health\": \"disabled\""), "{json}");
    cli.run(&["enable", T], "", now()).await.unwrap();
    assert!(
        cli.ctx
            .store
            .get_tenant(tid())
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    let e = cli
        .run(
            &["enable", "aaaaaaaa-0000-4000-8000-000000000009"],
            "",
            now(),
        )
        .await
        .unwrap_err();
    assert!(e.contains("not registered"), "{e}");
}

/// `remove` needs an explicit --guests choice; `keep` deletes the record
/// and leaves the guests (and their records) alone, while a reconcile
/// snapshot left behind is removed (nothing resumes from it).
#[tokio::test]
async fn remove_requires_a_choice_and_keep_leaves_guests() {
    let mut cli = TenantCli::new(None).await;
    add_skip_test(&mut cli).await;
    let run = uuid::Uuid::new_v4();
    cli.ctx
        .store
        .put_snapshot_chunk(tid(), run, 0, b"left by a run cut short")
        .await
        .unwrap();
    cli.ctx
        .store
        .put_guests(&[
            guest(1, GuestState::Accepted),
            guest(2, GuestState::Invited),
        ])
        .await
        .unwrap();
    let e = cli.run(&["remove", T], "", now()).await.unwrap_err();
    assert!(e.contains("--guests"), "{e}");
    assert!(cli.ctx.store.get_tenant(tid()).await.unwrap().is_some());
    let out = cli
        .run(&["remove", T, "--guests", "keep"], "", now())
        .await
        .unwrap();
    assert!(out.contains("2 guests stay"), "{out}");
    assert!(cli.ctx.store.get_tenant(tid()).await.unwrap().is_none());
    assert_eq!(cli.ctx.store.list_guests(tid()).await.unwrap().len(), 2);
    let kept = cli.ctx.store.get_snapshot_chunk(tid(), run, 0).await;
    assert!(kept.unwrap().is_none(), "the snapshot outlived its tenant");
}

/// `remove --guests deprovision` marks the tenant for offboarding while it
/// has guests (enabled, so the engine runs it), and deletes the record once
/// none are left.
#[tokio::test]
async fn remove_deprovision_offboards_then_deletes() {
    let mut cli = TenantCli::new(None).await;
    add_skip_test(&mut cli).await;
    cli.run(&["disable", T], "", now()).await.unwrap();
    cli.ctx
        .store
        .put_guests(&[
            guest(1, GuestState::Accepted),
            guest(2, GuestState::Deprovisioned),
        ])
        .await
        .unwrap();
    let out = cli
        .run(&["remove", T, "--guests", "deprovision"], "", now())
        .await
        .unwrap();
    assert!(
        out.contains("offboarded") && out.contains("1 guests"),
        "{out}"
    );
    let t = cli.ctx.store.get_tenant(tid()).await.unwrap().unwrap();
    assert!(t.options.offboarding && t.enabled);
    let json = cli.run(&["list", "--json"], "", now()).await.unwrap();
    assert!(json.contains("\"health\": \"offboarding\""), "{json}");

    // The engine deprovisioned the last guest.
    cli.ctx
        .store
        .put_guest(&guest(1, GuestState::Deprovisioned))
        .await
        .unwrap();
    let out = cli
        .run(&["remove", T, "--guests", "deprovision"], "", now())
        .await
        .unwrap();
    assert!(out.contains("removed"), "{out}");
    assert!(cli.ctx.store.get_tenant(tid()).await.unwrap().is_none());
}

/// confirm-deprovision sets the guard's `confirmed`; without a guard it
/// says there is nothing to confirm.
#[tokio::test]
async fn confirm_deprovision_sets_the_guard_confirmed() {
    let mut cli = TenantCli::new(None).await;
    add_skip_test(&mut cli).await;
    let e = cli
        .run(&["confirm-deprovision", T], "", now())
        .await
        .unwrap_err();
    assert!(e.contains("nothing to confirm"), "{e}");
    let mut t = cli.ctx.store.get_tenant(tid()).await.unwrap().unwrap();
    t.guard = Some(GuardHold {
        tripped_at: now() - Duration::hours(1),
        wanted: 40,
        limit: 10,
        confirmed: false,
    });
    cli.ctx.store.put_tenant(&t).await.unwrap();
    let listed = cli.run(&["list"], "", now()).await.unwrap();
    assert!(listed.contains("confirm-deprovision"), "{listed}");
    let out = cli
        .run(&["confirm-deprovision", T], "", now())
        .await
        .unwrap();
    assert!(out.contains("up to 40"), "{out}");
    let g = cli
        .ctx
        .store
        .get_tenant(tid())
        .await
        .unwrap()
        .unwrap()
        .guard
        .unwrap();
    assert!(g.confirmed);
}

/// A second tenant cannot reuse another tenant's secret name (its secret
/// would be overwritten), nor can a tenant be registered twice.
#[tokio::test]
async fn secret_names_and_tenants_are_not_registered_twice() {
    let mut cli = TenantCli::new(None).await;
    add_skip_test(&mut cli).await;
    let e = cli
        .run(
            &with(
                with(
                    add_args(&["--skip-test"]),
                    "--tenant-id",
                    "aaaaaaaa-0000-4000-8000-000000000002",
                ),
                "--name",
                "Fabrikam",
            ),
            "Zq8~another-secret-value\n",
            now(),
        )
        .await
        .unwrap_err();
    assert!(e.contains("contoso-app") && e.contains(T), "{e}");
    let e = cli
        .run(
            &with(add_args(&["--skip-test"]), "--secret-name", "contoso-app-2")
                .into_iter()
                .filter(|a| *a != "--secret-stdin")
                .collect::<Vec<_>>(),
            "",
            now(),
        )
        .await
        .unwrap_err();
    assert!(e.contains("already registered"), "{e}");
    assert_eq!(cli.ctx.store.list_tenants().await.unwrap().len(), 1);
}
