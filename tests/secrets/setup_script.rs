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
