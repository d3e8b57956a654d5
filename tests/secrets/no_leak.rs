//! No secret value ever appears in a log line, an error message, CLI
//! output or the store: the CLI flows and the Key Vault source are run
//! with distinctive secret values while every output is captured and
//! scanned (tracing at TRACE level, dependencies included).
use chrono::{TimeZone, Utc};
use guest_sync::domain::SecretName;
use guest_sync::secrets::keyvault::{KeyVaultOptions, KeyVaultSource};
use guest_sync::secrets::{SecretSource, SecretString};

use super::fake_vault::FakeVault;
use super::EnvGuard;
use crate::support::logs::Capture;
use crate::tenants::harness::{TenantCli, HOST_SECRET};
use crate::tenants::tenant_cli::{add_args, now, T};

/// Distinctive values: none of them can appear by accident.
pub const LEAK_1: &str = "Qx7~LEAKCANARY-one-9f3b2c1d";
pub const LEAK_2: &str = "Wp4~LEAKCANARY-two-7e6a5b4c";

/// Asserts that no canary appears in `hay`.
pub fn assert_no_canary(what: &str, hay: &str) {
    for c in [LEAK_1, LEAK_2, "LEAKCANARY"] {
        assert!(
            !hay.contains(c),
            "{what} contains a secret value: …{}…",
            {
                let i = hay.find(c).unwrap_or(0);
                &hay[i.saturating_sub(80)..(i + 20).min(hay.len())]
            }
        );
    }
}

/// The offline tenant flows (register, list, update, check expiry, failing
/// test, failing add, remove) never print, log or store a secret value.
#[tokio::test]
async fn offline_cli_flows_never_reveal_the_secret() {
    let (cap, _g) = Capture::scoped();
    let now = now();
    let mut cli = TenantCli::new(None).await;
    cli.ctx
        .secrets
        .set(
            &SecretName::parse(HOST_SECRET).unwrap(),
            &SecretString::new(LEAK_2),
            None,
        )
        .await
        .unwrap();
    let add = add_args(&["--secret-expires", "2027-01-01"]);
    // Fails: Graph unreachable.
    let _ = cli
        .run(&add, &format!("{LEAK_1}\n"), now)
        .await
        .unwrap_err();
    let mut skip = add.to_vec();
    skip.push("--skip-test");
    let mut json = skip.clone();
    json.push("--json");
    cli.run(&json, &format!("{LEAK_1}\n"), now).await.unwrap();
    cli.run(&["list"], "", now).await.unwrap();
    cli.run(&["list", "--json", "--live"], "", now)
        .await
        .unwrap();
    let _ = cli.run(&["test", T], "", now).await.unwrap_err();
    let _ = cli
        .run(
            &["secret-update", T, "--secret-stdin"],
            &format!("{LEAK_2}\n"),
            now,
        )
        .await
        .unwrap_err();
    cli.run(
        &[
            "secret-update",
            T,
            "--secret-stdin",
            "--skip-test",
            "--secret-expires",
            "2027-06-01",
        ],
        &format!("{LEAK_2}\n"),
        now,
    )
    .await
    .unwrap();
    cli.run(&["check-expiry"], "", now).await.unwrap();
    cli.run(&["check-expiry", "--json"], "", now).await.unwrap();
    cli.run(&["remove", T, "--guests", "keep"], "", now)
        .await
        .unwrap();

    // The secret really was used (stored in the local file) ...
    let file = std::fs::read_to_string(cli.dir.path().join("secrets.json")).unwrap();
    assert!(file.contains(LEAK_2));
    // ... and shows nowhere else.
    assert_no_canary("CLI output and errors", &cli.transcript.join("\n"));
    assert_no_canary("tracing output", &cap.text());
    assert_no_canary("the store", &String::from_utf8_lossy(&cli.store_bytes()));
    assert!(
        cap.text().contains("source tenant registered"),
        "tracing was captured"
    );
}

/// Writing and reading a secret through the real Key Vault SDK (and its
/// failures) never puts the value into logs or error messages.
#[tokio::test]
async fn key_vault_source_never_reveals_the_secret() {
    let vault = FakeVault::start().await;
    let _env = EnvGuard::set(&[
        ("IDENTITY_ENDPOINT", Some(&vault.identity_endpoint)),
        ("IDENTITY_HEADER", Some(&vault.identity_header)),
        ("AZURE_CLIENT_ID", None),
    ])
    .await;
    let (cap, _g) = Capture::scoped();
    let src = KeyVaultSource::from_env_with_options(
        &vault.vault_url,
        KeyVaultOptions {
            client_options: vault.client_options(),
            ..Default::default()
        },
    )
    .unwrap();
    let n = SecretName::parse("canary-secret").unwrap();
    let exp = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    src.set(&n, &SecretString::new(LEAK_1), Some(exp))
        .await
        .unwrap();
    src.clear_cache().await;
    let got = src.get(&n).await.unwrap();
    assert_eq!(got.value.expose(), LEAK_1);
    let mut errors = vec![format!("{got:?}")];
    vault.put("off", LEAK_2, false, None);
    errors.push(
        src.get(&SecretName::parse("off").unwrap())
            .await
            .unwrap_err()
            .to_string(),
    );
    vault.put("old", LEAK_2, true, Some(1_600_000_000));
    let e = src
        .get(&SecretName::parse("old").unwrap())
        .await
        .unwrap_err();
    errors.push(format!("{e} {e:?}"));
    assert_no_canary("Key Vault errors", &errors.join("\n"));
    assert_no_canary("tracing output", &cap.text());
}
