//! `guest-sync tenant add` / `test` / `list --live` against the Graph
//! simulator: success, and each failure reported precisely with nothing
//! registered and no secret stored. All runs use canary secret values and
//! the whole transcript, the tracing output and the store are scanned for
//! them.
use chrono::{TimeZone, Utc};
use guest_sync::devtools::sim::{GenerateSpec, Sim, SimConfig};
use guest_sync::domain::Guid;

use super::harness::{Capture, TenantCli};
use crate::secrets::no_leak::{assert_no_canary, LEAK_1, LEAK_2};

const READ_BOTH: &[&str] = &["GroupMember.Read.All", "User.Read.All"];

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

/// A simulated source tenant with an app (given permissions, secret
/// [`LEAK_1`]) and a group of 25 users.
struct Source {
    sim: Sim,
    tenant: Guid,
    app: Guid,
    group: Guid,
    members: usize,
}

async fn source(permissions: &[&str]) -> Source {
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    let tenant = Guid::new_v4();
    sim.add_tenant(tenant, "Contoso", "contoso.onmicrosoft.com");
    let app = Guid::new_v4();
    sim.register_app(tenant, app, LEAK_1, permissions);
    let g = sim.generate_source(
        tenant,
        &GenerateSpec {
            users: 25,
            ..Default::default()
        },
    );
    Source {
        sim,
        tenant,
        app,
        group: g.group_id,
        members: g.user_ids.len(),
    }
}

fn add_args(s: &Source, group: Guid) -> Vec<String> {
    [
        "add",
        "--tenant-id",
        &s.tenant.to_string(),
        "--client-id",
        &s.app.to_string(),
        "--group-id",
        &group.to_string(),
        "--name",
        "Contoso",
        "--secret-name",
        "contoso-app",
        "--secret-stdin",
        "--secret-expires",
        "2027-11-23",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect()
}

async fn run_add(cli: &mut TenantCli, args: &[String], secret: &str) -> Result<String, String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    cli.run(&a, &format!("{secret}\n"), now()).await
}

async fn assert_nothing_written(cli: &TenantCli) {
    assert!(cli.ctx.store.list_tenants().await.unwrap().is_empty());
    assert!(!cli.dir.path().join("secrets.json").exists());
}

/// A correct registration tests token, group, member count and attributes,
/// stores the secret with its expiry and registers the tenant; `tenant
/// test` and `list --live` then work with the stored secret.
#[tokio::test]
async fn add_succeeds_against_the_simulator_and_reports_the_members() {
    let (cap, _g) = Capture::scoped();
    let s = source(READ_BOTH).await;
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let out = run_add(&mut cli, &add_args(&s, s.group), LEAK_1)
        .await
        .unwrap();
    assert!(out.contains("token ............ ok"), "{out}");
    assert!(
        out.contains(&format!("members .......... {}", s.members)),
        "{out}"
    );
    assert!(out.contains("User.Read.All ok"), "{out}");
    assert!(out.contains("Registered Contoso"), "{out}");
    let t = cli.ctx.store.get_tenant(s.tenant).await.unwrap().unwrap();
    assert_eq!(t.client_id, s.app);
    assert_eq!(t.group_id, s.group);
    assert_eq!(
        t.secret_expires_at,
        Some(Utc.with_ymd_and_hms(2027, 11, 23, 0, 0, 0).unwrap())
    );

    let tested = cli
        .run(&["test", &s.tenant.to_string()], "", now())
        .await
        .unwrap();
    assert!(tested.contains("passed"), "{tested}");
    let live = cli
        .run(&["list", "--live", "--json"], "", now())
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(v[0]["memberCount"], s.members as u64);

    // A rotated secret: the wrong one is refused, the right one stored.
    let e = cli
        .run(
            &["secret-update", &s.tenant.to_string(), "--secret-stdin"],
            &format!("{LEAK_2}\n"),
            now(),
        )
        .await
        .unwrap_err();
    assert!(e.contains("AADSTS7000215"), "{e}");

    assert_no_canary("CLI transcript", &cli.transcript.join("\n"));
    assert_no_canary("tracing", &cap.text());
    assert_no_canary("store", &String::from_utf8_lossy(&cli.store_bytes()));
}

/// A malformed GUID is named and nothing is registered.
#[tokio::test]
async fn bad_guid_is_named_and_nothing_registered() {
    let s = source(READ_BOTH).await;
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let mut args = add_args(&s, s.group);
    args[6] = "not-a-group".into();
    let e = run_add(&mut cli, &args, LEAK_1).await.unwrap_err();
    assert!(e.contains("--group-id") && e.contains("not-a-group"), "{e}");
    assert_nothing_written(&cli).await;
    assert_no_canary("CLI transcript", &cli.transcript.join("\n"));
}

/// A wrong secret is reported as AADSTS7000215 with what to do.
#[tokio::test]
async fn wrong_secret_is_reported_and_nothing_registered() {
    let (cap, _g) = Capture::scoped();
    let s = source(READ_BOTH).await;
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let e = run_add(&mut cli, &add_args(&s, s.group), LEAK_2)
        .await
        .unwrap_err();
    assert!(
        e.contains("AADSTS7000215") && e.contains("client secret is wrong"),
        "{e}"
    );
    assert!(e.contains(&s.app.to_string()), "{e}");
    assert_nothing_written(&cli).await;
    assert_no_canary("CLI transcript", &cli.transcript.join("\n"));
    assert_no_canary("tracing", &cap.text());
}

/// An expired secret is reported as AADSTS7000222.
#[tokio::test]
async fn expired_secret_is_reported_and_nothing_registered() {
    let s = source(READ_BOTH).await;
    s.sim.expire_app_secret(s.tenant, s.app);
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let e = run_add(&mut cli, &add_args(&s, s.group), LEAK_1)
        .await
        .unwrap_err();
    assert!(e.contains("AADSTS7000222") && e.contains("expired"), "{e}");
    assert_nothing_written(&cli).await;
}

/// An app that was never created/consented in the tenant is reported as
/// AADSTS700016 with what the source admin must do.
#[tokio::test]
async fn app_not_consented_is_reported_and_nothing_registered() {
    let s = source(READ_BOTH).await;
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let mut args = add_args(&s, s.group);
    let stranger = Guid::new_v4();
    args[4] = stranger.to_string();
    let e = run_add(&mut cli, &args, LEAK_1).await.unwrap_err();
    assert!(
        e.contains("AADSTS700016") && e.contains("admin consent"),
        "{e}"
    );
    assert!(
        e.contains(&stranger.to_string()) && e.contains(&s.tenant.to_string()),
        "{e}"
    );
    assert_nothing_written(&cli).await;
}

/// A group id that does not exist in the tenant is reported as such.
#[tokio::test]
async fn group_not_found_is_reported_and_nothing_registered() {
    let s = source(READ_BOTH).await;
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let missing = Guid::new_v4();
    let e = run_add(&mut cli, &add_args(&s, missing), LEAK_1)
        .await
        .unwrap_err();
    assert!(e.contains(&format!("group {missing} was not found")), "{e}");
    assert_nothing_written(&cli).await;
}

/// Without User.Read.All the members come back with ids only: reported as
/// the missing permission, nothing registered.
#[tokio::test]
async fn missing_user_read_all_is_reported_and_nothing_registered() {
    let s = source(&["GroupMember.Read.All"]).await;
    let mut cli = TenantCli::new(Some(s.sim.url())).await;
    let e = run_add(&mut cli, &add_args(&s, s.group), LEAK_1)
        .await
        .unwrap_err();
    assert!(
        e.contains("User.Read.All") && e.contains("admin consent"),
        "{e}"
    );
    assert_nothing_written(&cli).await;
}

/// The real `guest-sync` binary, configured only through the environment
/// (no host settings), registers a tenant from a piped secret, lists it,
/// and refuses a wrong secret; its stdout and stderr never contain a
/// secret value.
#[tokio::test]
async fn the_binary_onboards_from_the_environment_without_revealing_secrets() {
    let s = source(READ_BOTH).await;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_guest-sync");
    let run = |args: Vec<String>, stdin: String| {
        let dir = dir.path().to_path_buf();
        let url = s.sim.url().to_string();
        async move {
            use tokio::io::AsyncWriteExt;
            let mut child = tokio::process::Command::new(bin)
                .args(&args)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env(
                    "GUESTSYNC_STORE",
                    format!("sqlite:{}", dir.join("gs.db").display()),
                )
                .env("GUESTSYNC_LOCAL_SECRETS", dir.join("secrets.json"))
                .env("GUESTSYNC_GRAPH_URL", &url)
                .env("GUESTSYNC_ALLOW_HTTP", "true")
                .env("GUESTSYNC_AUTHORITY_URL", &url)
                .env("RUST_LOG", "trace")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut i = child.stdin.take().unwrap();
            i.write_all(stdin.as_bytes()).await.unwrap();
            drop(i);
            let o = child.wait_with_output().await.unwrap();
            (
                o.status.success(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        }
    };
    let mut args: Vec<String> = vec!["tenant".into()];
    args.extend(add_args(&s, s.group));

    let (ok, out, err) = run(args.clone(), format!("{LEAK_2}\n")).await;
    assert!(!ok && err.contains("AADSTS7000215"), "{out}{err}");
    assert_no_canary("binary output (wrong secret)", &format!("{out}{err}"));

    let (ok, out, err) = run(args, format!("{LEAK_1}\n")).await;
    assert!(ok, "{out}{err}");
    assert!(out.contains("Registered Contoso"), "{out}");
    assert_no_canary("binary output (add)", &format!("{out}{err}"));

    let (ok, out, err) = run(vec!["tenant".into(), "list".into()], String::new()).await;
    assert!(ok && out.contains(&s.tenant.to_string()), "{out}{err}");
    assert_no_canary("binary output (list)", &format!("{out}{err}"));
    let db = std::fs::read(dir.path().join("gs.db")).unwrap();
    assert_no_canary("store file", &String::from_utf8_lossy(&db));
}
