//! The packaging command: `scripts/package.sh --debug --out <dir>` stages a
//! publishable function app whose `handler` runs.
use std::os::unix::fs::PermissionsExt;

use guest_sync::protocol::FUNCTION_NAMES;

use super::binary::Spawned;
use super::*;

/// The staged app has host.json, .funcignore, one folder per function with
/// its function.json, and an executable `handler` that answers the
/// readiness probe.
#[tokio::test]
async fn package_script_stages_a_runnable_function_app() {
    let out = tempfile::tempdir().unwrap();
    let app_dir = out.path().join("functionapp");
    let status = within(
        "scripts/package.sh",
        tokio::process::Command::new("bash")
            .arg(repo_root().join("scripts/package.sh"))
            .args(["--debug", "--out"])
            .arg(&app_dir)
            // The binary `cargo test` built: a second cargo build here would
            // rebuild the crate (dev-dependency features differ) and can take
            // minutes on a loaded machine.
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_handler"))
            .status(),
    )
    .await
    .unwrap();
    assert!(status.success(), "package.sh failed: {status}");

    let mut entries: Vec<String> = std::fs::read_dir(&app_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    let mut want: Vec<String> = FUNCTION_NAMES.iter().map(|s| s.to_string()).collect();
    want.extend([".funcignore".into(), "handler".into(), "host.json".into()]);
    want.sort();
    assert_eq!(entries, want);
    for name in FUNCTION_NAMES {
        let staged = std::fs::read(app_dir.join(name).join("function.json")).unwrap();
        let source = std::fs::read(
            repo_root()
                .join("functions")
                .join(name)
                .join("function.json"),
        )
        .unwrap();
        assert_eq!(
            staged, source,
            "{name}/function.json differs from the source"
        );
    }
    let mode = std::fs::metadata(app_dir.join("handler"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "handler is not executable: {mode:o}");

    let handler = Spawned::start(&app_dir.join("handler"), "info").await;
    let ready = reqwest::Client::new()
        .get(format!("{}/", handler.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}
