//! `guest-sync tenant add --secretless` end to end: the real binary (its
//! managed-identity environment is process-wide, so each run is a child
//! process) against the in-process simulator's https listener. The source
//! admin "opens" the printed admin-consent URL, the tenant is registered
//! after a passing connection test, and `guest-sync sync` creates the
//! guests with the host signed in through the managed identity too: no
//! secret anywhere. Each failure (no app setting, no consent, consent
//! timeout, identity not trusted, wrong tenant, identity endpoint
//! unreachable) is one message naming the fix, exit code 1, and nothing
//! registered. No token, assertion or identity header value is ever
//! printed.
use std::collections::BTreeMap;
use std::process::Stdio;

use guest_sync::devtools::sim::{GenerateSpec, Sim, SimConfig};
use guest_sync::domain::Guid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::support::perms::HOST_PERMS;

/// The simulator with TLS, a host tenant whose managed identity holds the
/// host roles and is trusted by the multi-tenant app, and a source tenant
/// with a group of users.
struct Secretless {
    sim: Sim,
    host: Guid,
    app: Guid,
    identity_client: Guid,
    source: Guid,
    group: Guid,
    members: usize,
    dir: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

async fn setup() -> Secretless {
    let sim = Sim::start(SimConfig::fast()).await.unwrap();
    let https = sim.serve_tls().await.unwrap();
    let host = Guid::new_v4();
    sim.add_tenant(host, "Host", "host.onmicrosoft.com");
    let mi = sim.add_managed_identity(host, HOST_PERMS);
    let app = sim.add_federated_app(host, Some(mi.principal_id));
    let source = Guid::new_v4();
    sim.add_tenant(source, "Fabrikam", "fabrikam.onmicrosoft.com");
    let g = sim.generate_source(
        source,
        &GenerateSpec {
            users: 4,
            ..Default::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("sim-ca.pem");
    std::fs::write(&ca, sim.tls_ca_pem().unwrap()).unwrap();
    let url = https.to_string();
    let env: BTreeMap<String, String> = [
        ("GUESTSYNC_HOST_TENANT_ID", host.to_string()),
        ("GUESTSYNC_HOST_CREDENTIAL", "managed-identity".to_string()),
        ("GUESTSYNC_FEDERATED_APP_ID", app.to_string()),
        (
            "GUESTSYNC_STORE",
            format!("sqlite:{}", dir.path().join("gs.db").display()),
        ),
        (
            "GUESTSYNC_LOCAL_SECRETS",
            dir.path().join("secrets.json").display().to_string(),
        ),
        ("GUESTSYNC_GRAPH_URL", url.clone()),
        ("GUESTSYNC_AUTHORITY_URL", url),
        ("GUESTSYNC_TLS_CA_FILE", ca.display().to_string()),
        ("IDENTITY_ENDPOINT", sim.identity_endpoint()),
        ("IDENTITY_HEADER", sim.identity_header()),
        ("AZURE_CLIENT_ID", mi.client_id.to_string()),
        ("RUST_LOG", "debug".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Secretless {
        sim,
        host,
        app,
        identity_client: mi.client_id,
        source,
        group: g.group_id,
        members: g.user_ids.len(),
        dir,
        env,
    }
}

/// What a run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl Secretless {
    fn command(&self, args: &[&str], env: &BTreeMap<String, String>) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Runs `guest-sync args` with the setup's environment changed by
    /// `change` (None removes a variable).
    async fn run_with(&self, args: &[&str], change: &[(&str, Option<&str>)]) -> Run {
        let mut env = self.env.clone();
        for (k, v) in change {
            match v {
                Some(v) => env.insert(k.to_string(), v.to_string()),
                None => env.remove(*k),
            };
        }
        let o = tokio::time::timeout(
            std::time::Duration::from_secs(120),
            self.command(args, &env).output(),
        )
        .await
        .expect("guest-sync did not finish in 120 s")
        .unwrap();
        let r = Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        self.assert_no_token(&r.all());
        r
    }

    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// No token (JWTs start `eyJ`) and not the identity endpoint's secret
    /// header value.
    fn assert_no_token(&self, text: &str) {
        assert!(!text.contains("eyJ"), "a token was printed:\n{text}");
        let header = self.sim.identity_header();
        assert!(
            !text.contains(&header),
            "IDENTITY_HEADER was printed:\n{text}"
        );
    }

    fn add_args(&self, tenant: Guid, extra: &[&'static str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "tenant",
            "add",
            "--secretless",
            "--tenant-id",
            &tenant.to_string(),
            "--group-id",
            &self.group.to_string(),
            "--name",
            "Fabrikam",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    async fn registered(&self) -> serde_json::Value {
        let r = self.run(&["tenant", "list", "--json"]).await;
        assert_eq!(r.code, 0, "{}", r.all());
        serde_json::from_str(&r.stdout).unwrap()
    }

    async fn assert_nothing_registered(&self) {
        assert_eq!(self.registered().await, serde_json::json!([]));
        assert!(!self.dir.path().join("secrets.json").exists());
    }
}

/// The whole path: the consent URL is printed, the admin opens it while
/// `tenant add` waits, the tenant is registered secretless (no secret name,
/// nothing stored), `tenant list`/`test` show the kind, and `guest-sync
/// sync` creates every member as a guest with the host signed in through
/// the managed identity.
#[tokio::test]
async fn secretless_tenant_is_onboarded_by_consent_and_synced() {
    let s = setup().await;
    let args = s.add_args(s.source, &["--consent-timeout", "60"]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = s.command(&a, &s.env).spawn().unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let url = loop {
        let mut line = String::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(60), out.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "no consent URL printed:\n{printed}");
        printed.push_str(&line);
        if let Some(u) = line.trim().strip_prefix("https://") {
            break format!("https://{u}");
        }
    };
    assert!(
        url.contains(&format!("/{}/v2.0/adminconsent?", s.source)),
        "{url}"
    );
    assert!(url.contains(&format!("client_id={}", s.app)), "{url}");
    assert!(!s.sim.has_consented(s.source, s.app));

    // Not consented yet: the command keeps waiting.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "gave up before consent"
    );
    // The source admin opens the URL and accepts.
    let browser = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(s.sim.tls_ca_pem().unwrap().as_bytes()).unwrap(),
        ])
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser.get(&url).send().await.unwrap();
    assert!(page.status().is_success() || page.status().is_redirection());
    assert!(s.sim.has_consented(s.source, s.app));

    let mut rest = String::new();
    out.read_to_string(&mut rest).await.unwrap();
    printed.push_str(&rest);
    let status = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    s.assert_no_token(&printed);
    s.assert_no_token(&err);
    assert!(status.success(), "{printed}\n{err}");
    assert!(printed.contains("Consent granted"), "{printed}");
    assert!(
        printed.contains(&format!("members .......... {}", s.members)),
        "{printed}"
    );
    assert!(printed.contains("secretless"), "{printed}");

    let v = s.registered().await;
    assert_eq!(v[0]["tenantId"], s.source.to_string());
    assert_eq!(v[0]["credential"], "secretless");
    assert!(v[0]["secretName"].is_null(), "{v}");
    assert!(!s.dir.path().join("secrets.json").exists());
    let table = s.run(&["tenant", "list"]).await;
    assert!(table.stdout.contains("CREDENTIAL"), "{}", table.stdout);
    assert!(table.stdout.contains("secretless"), "{}", table.stdout);
    assert!(
        !table.stdout.contains("expir"),
        "a secretless tenant has no expiry to warn about:\n{}",
        table.stdout
    );
    let tested = s.run(&["tenant", "test", &s.source.to_string()]).await;
    assert_eq!(tested.code, 0, "{}", tested.all());
    assert!(
        tested.stdout.contains("(secretless) passed"),
        "{}",
        tested.stdout
    );

    let live = s.run(&["tenant", "list", "--live", "--json"]).await;
    assert_eq!(live.code, 0, "{}", live.all());
    let v: serde_json::Value = serde_json::from_str(&live.stdout).unwrap();
    assert_eq!(v[0]["memberCount"], s.members as u64, "{v}");
    assert_eq!(v[0]["health"], "ok", "{v}");

    // The sync: source through the federated app, host through the
    // managed identity.
    let synced = s
        .run(&["sync", "--tenant", &s.source.to_string(), "--quiet"])
        .await;
    assert_eq!(synced.code, 0, "{}", synced.all());
    let guests = s
        .sim
        .users(s.host)
        .into_iter()
        .filter(|u| u.str("userType") == Some("Guest"))
        .count();
    assert_eq!(guests, s.members, "{}", synced.all());
    let _ = s.identity_client;
}

/// Each failure names its fix, exits 1, and registers nothing.
#[tokio::test]
async fn secretless_failures_name_the_fix_and_register_nothing() {
    let s = setup().await;
    let fail = |r: &Run, needles: &[&str]| {
        assert_eq!(r.code, 1, "{}", r.all());
        for n in needles {
            assert!(r.all().contains(n), "{n:?} missing in:\n{}", r.all());
        }
    };
    let args = s.add_args(s.source, &["--no-wait"]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();

    // The app setting is missing.
    let r = s
        .run_with(&a, &[("GUESTSYNC_FEDERATED_APP_ID", None)])
        .await;
    fail(
        &r,
        &["GUESTSYNC_FEDERATED_APP_ID", "nothing was registered"],
    );

    // No consent, tested once: the URL to open.
    let r = s.run(&a).await;
    fail(
        &r,
        &[
            "no admin consent",
            &format!("/{}/v2.0/adminconsent?client_id={}", s.source, s.app),
            "nothing was registered",
        ],
    );

    // No consent within the timeout.
    let args = s.add_args(s.source, &["--consent-timeout", "2"]);
    let t: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = s.run(&t).await;
    fail(&r, &["no admin consent in tenant", "--consent-timeout"]);

    // A tenant that does not exist.
    let nowhere = Guid::new_v4();
    let args = s.add_args(nowhere, &["--no-wait"]);
    let w: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = s.run(&w).await;
    fail(&r, &["AADSTS90002", "check the source tenant id"]);

    // The managed identity endpoint is unreachable.
    let r = s
        .run_with(
            &a,
            &[("IDENTITY_ENDPOINT", Some("http://127.0.0.1:9/msi/token"))],
        )
        .await;
    fail(&r, &["managed identity", "IDENTITY_ENDPOINT"]);

    // An app that does not trust the identity (consent given).
    let untrusting = s.sim.add_federated_app(s.host, None);
    s.sim.grant_admin_consent(s.source, untrusting);
    let r = s
        .run_with(
            &a,
            &[("GUESTSYNC_FEDERATED_APP_ID", Some(&untrusting.to_string()))],
        )
        .await;
    fail(&r, &["AADSTS70021", "federated identity credential"]);

    // Secret flags do not mix with --secretless.
    let mut mixed = a.clone();
    mixed.push("--secret-stdin");
    let r = s.run(&mixed).await;
    assert_eq!(r.code, 2, "{}", r.all());

    s.assert_nothing_registered().await;
}
