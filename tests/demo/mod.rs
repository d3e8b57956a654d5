//! `guest-sync demo` run as the real binary with a small tenant: its exit
//! status, what it leaves in the store, the dashboard file, and that the
//! printed summary matches the store.
use guest_sync::domain::{GuestState, Job, RunOutcome};
use guest_sync::settings::StoreSpec;

/// The number printed after `label` on the summary line starting with it.
fn printed(out: &str, label: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{out}"));
    line.trim_start()[label.len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("no number on {line:?}"))
}

/// The demo with 300 users exits 0, leaves the tenant, its guests and three
/// succeeded runs in the SQLite store of `--dir`, writes report.html, and
/// prints job counts that match the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_with_300_users_fills_the_store_and_prints_matching_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .args(["demo", "--users", "300", "--quiet", "--dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );

    let db = dir.path().canonicalize().unwrap().join("guest-sync.db");
    assert!(dir.path().join("report.html").exists(), "{stdout}");
    let store = guest_sync::store::open(&StoreSpec::Sqlite(db.clone()))
        .await
        .unwrap();
    let tenants = store.list_tenants().await.unwrap();
    assert_eq!(tenants.len(), 1);
    let tid = tenants[0].tenant_id;

    let guests = store.list_guests(tid).await.unwrap();
    // 300 generated users, some of them source guests (out of scope).
    assert!(
        (250..=300).contains(&guests.len()),
        "{} guests\n{stdout}",
        guests.len()
    );

    let runs = store.list_runs(Some(tid), 10).await.unwrap();
    for job in [Job::Reconcile, Job::Photos, Job::Redemption] {
        let r = runs
            .iter()
            .find(|r| r.job == job)
            .unwrap_or_else(|| panic!("no {job} run\n{stdout}"));
        assert_eq!(r.outcome, RunOutcome::Succeeded, "{job}: {r:?}\n{stdout}");
    }
    let reconcile = runs.iter().find(|r| r.job == Job::Reconcile).unwrap();
    assert_eq!(reconcile.counts.created as usize, guests.len(), "{stdout}");
    let accepted = guests
        .iter()
        .filter(|g| g.state == GuestState::Accepted)
        .count() as u64;
    assert!(accepted > 0, "{stdout}");
    assert_eq!(printed(&stdout, "redemptions"), accepted, "{stdout}");
    let redemption = runs.iter().find(|r| r.job == Job::Redemption).unwrap();
    assert_eq!(redemption.counts.redeemed, accepted, "{stdout}");
    // Jobs table: job, outcome, created, updated, photos, redeemed, ...
    let row = |job: &str| -> Vec<String> {
        stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.first().map(String::as_str) == Some(job))
            .unwrap_or_else(|| panic!("no {job} row\n{stdout}"))
    };
    assert_eq!(row("reconcile")[2], guests.len().to_string(), "{stdout}");
    let photos = runs.iter().find(|r| r.job == Job::Photos).unwrap();
    assert!(photos.counts.photos_copied > 0, "{stdout}");
    assert_eq!(
        row("photos")[4],
        photos.counts.photos_copied.to_string(),
        "{stdout}"
    );
    assert_eq!(row("redemption")[5], accepted.to_string(), "{stdout}");

    assert!(
        stdout.contains(&format!("sqlite:{}", db.display())),
        "{stdout}"
    );
    assert!(stdout.contains("report.html"), "{stdout}");
}
