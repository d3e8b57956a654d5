//! The source-tenant setup script: syntax and the promises it makes.
use std::path::PathBuf;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("infra/source-tenant/setup.sh")
}

/// `bash -n` accepts the script (no syntax errors).
#[test]
fn setup_script_passes_bash_syntax_check() {
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(script())
        .output()
        .expect("bash is available");
    assert!(
        out.status.success(),
        "bash -n failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The script asks for exactly the two application permissions (by their
/// well-known ids) and nothing broader.
#[test]
fn setup_script_requests_exactly_the_two_read_permissions() {
    let s = std::fs::read_to_string(script()).unwrap();
    // GroupMember.Read.All and User.Read.All application role ids.
    assert!(s.contains("98830695-27a2-44f7-8c18-0c3ebc9698f6"));
    assert!(s.contains("df021288-bdef-4463-88db-98f22de89214"));
    for broader in ["ReadWrite", "Directory.Read.All", "Group.Read.All"] {
        assert!(
            !s.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .any(|l| l.contains(broader)),
            "script mentions {broader} outside comments"
        );
    }
}

/// The client secret is printed to the terminal only (`/dev/tty`), once,
/// with a warning, and the script refuses to create one without a terminal.
#[test]
fn setup_script_shows_the_secret_on_the_terminal_only() {
    let s = std::fs::read_to_string(script()).unwrap();
    let printed: Vec<&str> = s
        .lines()
        .filter(|l| l.contains("$SECRET\"") && (l.contains("printf") || l.contains("echo")))
        .collect();
    assert_eq!(printed.len(), 1, "{printed:?}");
    assert!(s.contains("} >/dev/tty"));
    assert!(s.contains("shown once"));
    assert!(s.contains("no terminal to show the client secret on"));
}

/// Run against a stub `az` (recording its calls), the script creates the
/// app with exactly the two permissions, consents both, creates the group,
/// and prints the values and the `tenant add` command for the host admin.
#[test]
fn setup_script_runs_against_a_stub_az_cli() {
    let (out, calls) = run_with_stub_az(&["--host-name", "Fabrikam", "--no-secret"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let manifest = calls
        .lines()
        .find(|l| l.starts_with("MANIFEST"))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        manifest.matches("\"type\": \"Role\"").count(),
        2,
        "{manifest}"
    );
    assert!(manifest.contains("98830695-27a2-44f7-8c18-0c3ebc9698f6"));
    assert!(manifest.contains("df021288-bdef-4463-88db-98f22de89214"));
    let grants: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("rest --method POST") && l.contains("appRoleAssignments"))
        .collect();
    assert_eq!(grants.len(), 2, "{calls}");
    assert!(calls.contains("CALL ad group create"), "{calls}");
    assert!(
        !calls.contains("credential reset"),
        "--no-secret creates no secret"
    );
    for v in [
        "2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b",
        "6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
        "a1b2c3d4-0000-4000-8000-00000000000f",
        "guest-sync tenant add",
        "--secret-name contoso-ltd-app-secret",
    ] {
        assert!(stdout.contains(v), "{v} missing in:\n{stdout}");
    }
    // Without --host-tenant-id the outbound side is left, with the way to set it.
    assert!(!calls.contains("crossTenantAccessPolicy"), "{calls}");
    assert!(stderr.contains("--host-tenant-id"), "{stderr}");
}

/// With `--host-tenant-id`, the script sets the source's side of automatic
/// redemption: the partner entry for the host gets
/// `automaticUserConsentSettings.outboundAllowed = true` (PATCH when it
/// exists, POST with the tenant id when Graph answers 404).
#[test]
fn setup_script_sets_outbound_automatic_redemption_for_the_host() {
    const HOST: &str = "11111111-1111-4111-8111-111111111111";
    let args = [
        "--host-name",
        "Fabrikam",
        "--no-secret",
        "--host-tenant-id",
        HOST,
    ];
    let (out, calls) = run_with_stub_az(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let patch = calls
        .lines()
        .find(|l| l.contains("rest --method PATCH"))
        .unwrap_or_else(|| panic!("no PATCH: {calls}"));
    assert!(
        patch.contains(&format!("crossTenantAccessPolicy/partners/{HOST}")),
        "{patch}"
    );
    assert!(
        patch.contains(r#"{"automaticUserConsentSettings":{"outboundAllowed":true}}"#),
        "{patch}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("auto-redemption  : outbound on"));

    let (out, calls) = run_with_stub_az(&args, &[("PARTNER_MISSING", "1")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let post = calls
        .lines()
        .find(|l| {
            l.contains("rest --method POST") && l.contains("crossTenantAccessPolicy/partners")
        })
        .unwrap_or_else(|| panic!("no POST: {calls}"));
    assert!(post.contains(&format!(r#""tenantId":"{HOST}""#)), "{post}");
    assert!(post.contains(r#""outboundAllowed":true"#), "{post}");
    assert!(!calls.contains("--method PATCH"), "{calls}");

    let bad = run_with_stub_az(
        &[
            "--host-name",
            "F",
            "--no-secret",
            "--host-tenant-id",
            "nope",
        ],
        &[],
    )
    .0;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--host-tenant-id must be a GUID"));
}

/// Runs the script with `args` against a stub `az` that records its calls;
/// the output and the recorded calls.
fn run_with_stub_az(args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("az.log");
    let stub = dir.path().join("az");
    std::fs::write(
        &stub,
        r#"#!/usr/bin/env bash
echo "CALL $*" >> "$AZ_LOG"
for a in "$@"; do
  case "$a" in @*) echo "MANIFEST $(tr -d "\n" < "${a#@}")" >> "$AZ_LOG" ;; esac
done
case "$*" in
  "account show"*) echo 2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b ;;
  "rest --method GET --url https://graph.microsoft.com/v1.0/policies/"*)
    if [ -n "${PARTNER_MISSING:-}" ]; then echo 'ERROR: Not Found({"error":{"code":"ResourceNotFound"}})' >&2; exit 1; fi
    echo "{}" ;;
  "rest --method GET"*) echo "Contoso Ltd" ;;
  "rest --method PATCH"*) echo "" ;;
  "ad app list"*) echo "" ;;
  "ad app create"*) echo 6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e ;;
  "ad sp list"*) echo "" ;;
  "ad sp create"*) echo 99999999-0000-4000-8000-000000000001 ;;
  "ad sp show"*) echo 99999999-0000-4000-8000-000000000002 ;;
  "rest --method POST"*) echo "{}" ;;
  "ad group list"*) echo "" ;;
  "ad group create"*) echo a1b2c3d4-0000-4000-8000-00000000000f ;;
  *) echo "unexpected az call: $*" >&2; exit 1 ;;
esac
"#,
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(script())
        .args(args)
        .env("PATH", path)
        .env("AZ_LOG", &log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let calls = std::fs::read_to_string(&log).unwrap_or_default();
    (out, calls)
}

/// `--secretless <host app>`: no app registration, no consent grant, no
/// secret in the source tenant; the group is created and the output is
/// the admin-consent URL and the `tenant add --secretless` command.
#[test]
fn setup_script_secretless_creates_only_the_group_and_prints_the_consent_url() {
    let host_app = "11111111-2222-4333-8444-555555555555";
    let (out, calls) = run_with_stub_az(&["--secretless", host_app], &[]);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(!calls.contains("ad app"), "{calls}");
    assert!(!calls.contains("appRoleAssignments"), "{calls}");
    assert!(!calls.contains("credential reset"), "{calls}");
    assert!(calls.contains("CALL ad group create"), "{calls}");
    for v in [
        "https://login.microsoftonline.com/2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b/v2.0/adminconsent?client_id=11111111-2222-4333-8444-555555555555",
        "guest-sync tenant add --secretless --tenant-id 2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b",
        "--group-id a1b2c3d4-0000-4000-8000-00000000000f",
    ] {
        assert!(text.contains(v), "{v} missing in:\n{text}");
    }
    assert!(!text.contains("--secret-name"), "{text}");
    let (out, _) = run_with_stub_az(&["--secretless", "not-a-guid"], &[]);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("--secretless must be"),
        "{text}"
    );
}
