//! The packaging command: `scripts/package.sh` stages a publishable function
//! app whose `handler` runs.
//!
//! Two tests: one stages the binary `cargo test` built (`--binary`, fast);
//! the other (ignored by default) checks the package `scripts/test` builds
//! the real way, a release build against glibc 2.28 with cargo-zigbuild.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use guest_sync::protocol::FUNCTION_NAMES;

use super::binary::Spawned;
use super::*;

/// The newest glibc the deployable handler may need: the Functions Linux
/// images still include Debian 11 (glibc 2.31); cargo-zigbuild links
/// against 2.28.
const GLIBC_MAX: [u32; 2] = [2, 28];

/// The environment variable through which `scripts/test` passes the folder
/// it staged with `scripts/package.sh` (the default, real build).
const STAGED_APP_VAR: &str = "GUESTSYNC_STAGED_APP";

/// The staged app has host.json, .funcignore, local.settings.json, one
/// folder per function with its function.json, and an executable `handler`
/// that answers the readiness probe.
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

    assert_staged_layout(&app_dir);
    assert_answers_readiness_probe(&app_dir.join("handler")).await;
}

/// The package as it is deployed (`scripts/package.sh` with no options:
/// release, `x86_64-unknown-linux-gnu.2.28` via cargo-zigbuild) needs no
/// `GLIBC_` symbol version newer than 2.28, and its handler starts and
/// answers the readiness probe. `scripts/test` stages it and runs this test
/// with `GUESTSYNC_STAGED_APP=<folder>`.
#[tokio::test]
#[ignore = "needs a package staged by scripts/package.sh in GUESTSYNC_STAGED_APP (scripts/test does it)"]
async fn staged_release_package_needs_at_most_glibc_2_28_and_runs() {
    let app_dir = PathBuf::from(std::env::var_os(STAGED_APP_VAR).unwrap_or_else(|| {
        panic!("{STAGED_APP_VAR} is not set: stage the package with scripts/package.sh --out DIR and set {STAGED_APP_VAR}=DIR (scripts/test does both)")
    }));
    assert_staged_layout(&app_dir);

    let handler = app_dir.join("handler");
    let versions = glibc_versions(&handler);
    assert!(
        !versions.is_empty(),
        "objdump -T {} shows no GLIBC_ symbol version: not a glibc binary?",
        handler.display()
    );
    let too_new: Vec<&(Vec<u32>, String)> = versions
        .iter()
        .filter(|(v, _)| v.as_slice() > GLIBC_MAX.as_slice())
        .collect();
    assert!(
        too_new.is_empty(),
        "the staged handler needs glibc newer than {}.{}: {too_new:?}",
        GLIBC_MAX[0],
        GLIBC_MAX[1]
    );

    assert_answers_readiness_probe(&handler).await;
}

/// What both tests check of a staged folder: its exact entries, each
/// function.json as in the repository, the executable handler, and the
/// local.settings.json that tells `func` the worker runtime, kept out of
/// the published zip by .funcignore.
fn assert_staged_layout(app_dir: &Path) {
    let mut entries: Vec<String> = std::fs::read_dir(app_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", app_dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    let mut want: Vec<String> = FUNCTION_NAMES.iter().map(|s| s.to_string()).collect();
    want.extend([
        ".funcignore".into(),
        "handler".into(),
        "host.json".into(),
        "local.settings.json".into(),
    ]);
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

    // `func azure functionapp publish` reads the worker runtime from it;
    // nothing else belongs there (it is a local file, never a secret store).
    let settings: Value =
        serde_json::from_slice(&std::fs::read(app_dir.join("local.settings.json")).unwrap())
            .expect("local.settings.json is JSON");
    assert_eq!(
        settings,
        json!({"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "custom"}})
    );
    let funcignore = std::fs::read_to_string(app_dir.join(".funcignore")).unwrap();
    assert!(
        funcignore
            .lines()
            .any(|l| l.trim() == "local.settings.json"),
        ".funcignore does not exclude local.settings.json from the published zip:\n{funcignore}"
    );
}

/// Starts `handler` as the host would and expects an answer to `GET /`.
async fn assert_answers_readiness_probe(handler: &Path) {
    let handler = Spawned::start(handler, "info").await;
    let ready = reqwest::Client::new()
        .get(format!("{}/", handler.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
}

/// Every `GLIBC_x.y[.z]` symbol version `objdump -T` lists for `binary`,
/// parsed, with the line it came from.
fn glibc_versions(binary: &Path) -> Vec<(Vec<u32>, String)> {
    let output = std::process::Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run objdump ({e}): install binutils (Debian: apt-get install binutils)")
        });
    assert!(
        output.status.success(),
        "objdump -T {} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    parse_glibc_versions(&String::from_utf8(output.stdout).unwrap())
}

/// The `GLIBC_x.y[.z]` versions in `objdump -T` output, with their lines
/// (`GLIBC_PRIVATE` and other non-numeric versions are not versions).
fn parse_glibc_versions(text: &str) -> Vec<(Vec<u32>, String)> {
    let mut found = Vec::new();
    for line in text.lines() {
        for (at, _) in line.match_indices("GLIBC_") {
            let digits: String = line[at + "GLIBC_".len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let version: Vec<u32> = digits
                .split('.')
                .filter(|p| !p.is_empty())
                .map(|p| p.parse().unwrap())
                .collect();
            if !version.is_empty() {
                found.push((version, line.trim().to_string()));
            }
        }
    }
    found
}

/// The parser reads both forms `objdump -T` prints and compares versions
/// numerically (2.3 < 2.28 < 2.34).
#[test]
fn glibc_versions_parse_from_objdump_lines() {
    let text = "\
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.34) pthread_create
0000000000000000      DF *UND*\t0000000000000000  GLIBC_2.2.5 memcpy
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.3)  __tls_get_addr
0000000000000000      DO *UND*\t0000000000000000  GLIBC_PRIVATE _rtld_global
0000000000000000      DF *UND*\t0000000000000000 (GLIBC_2.28) statx
";
    let versions: Vec<Vec<u32>> = parse_glibc_versions(text)
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(
        versions,
        vec![vec![2, 34], vec![2, 2, 5], vec![2, 3], vec![2, 28]]
    );
    let too_new: Vec<&Vec<u32>> = versions
        .iter()
        .filter(|v| v.as_slice() > GLIBC_MAX.as_slice())
        .collect();
    assert_eq!(too_new, vec![&vec![2, 34]]);
}
