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

/// The demo with 300 users exits 0, leaves the tenant, its guests and
/// succeeded runs of every job (the first day and 14 days of history) in the
/// SQLite store of `--dir`, writes report.html with a managed-guests trend of
/// a point per day, and prints job counts (summed over runs) that match the
/// store.
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
    // 300 generated users, some of them source guests (out of scope), and
    // two joiners a day for 14 days (leavers keep a deprovisioned record).
    assert!(
        (250 + 28..=300 + 28).contains(&guests.len()),
        "{} guests\n{stdout}",
        guests.len()
    );
    let left = guests
        .iter()
        .filter(|g| g.state == GuestState::Deprovisioned)
        .count();
    assert_eq!(left, 14, "one leaver a day\n{stdout}");

    let runs = store.list_runs(Some(tid), 100).await.unwrap();
    for job in [Job::Reconcile, Job::Photos, Job::Redemption] {
        let of_job: Vec<_> = runs.iter().filter(|r| r.job == job).collect();
        assert!(!of_job.is_empty(), "no {job} run\n{stdout}");
        for r in of_job {
            assert_eq!(r.outcome, RunOutcome::Succeeded, "{job}: {r:?}\n{stdout}");
        }
    }
    let sum = |job: Job, f: fn(&guest_sync::domain::RunCounts) -> u64| -> u64 {
        runs.iter()
            .filter(|r| r.job == job)
            .map(|r| f(&r.counts))
            .sum()
    };
    assert_eq!(runs.iter().filter(|r| r.job == Job::Reconcile).count(), 15);
    assert_eq!(
        sum(Job::Reconcile, |c| c.created) as usize,
        guests.len(),
        "{stdout}"
    );
    let accepted = guests
        .iter()
        .filter(|g| g.state == GuestState::Accepted)
        .count() as u64;
    assert!(accepted > 0, "{stdout}");
    assert_eq!(printed(&stdout, "redemptions"), accepted, "{stdout}");
    assert_eq!(sum(Job::Redemption, |c| c.redeemed), accepted, "{stdout}");
    // Jobs table: job, outcome, created, updated, photos, redeemed, ...
    let row = |job: &str| -> Vec<String> {
        stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.first().map(String::as_str) == Some(job))
            .unwrap_or_else(|| panic!("no {job} row\n{stdout}"))
    };
    assert_eq!(row("reconcile")[2], guests.len().to_string(), "{stdout}");
    let photos = sum(Job::Photos, |c| c.photos_copied);
    assert!(photos > 0, "{stdout}");
    assert_eq!(row("photos")[4], photos.to_string(), "{stdout}");
    assert_eq!(row("redemption")[5], accepted.to_string(), "{stdout}");

    assert!(
        stdout.contains(&format!("sqlite:{}", db.display())),
        "{stdout}"
    );
    assert!(stdout.contains("report.html"), "{stdout}");
    // The history gives the dashboard's trend a point per day (15 or 16:
    // the simulator's clock runs ahead of real time).
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    let at = html
        .find(r#"<svg id="chart-managed""#)
        .expect("no trend chart");
    let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
    let points = &svg[svg.find(r#"data-points=""#).unwrap() + 13..];
    let points: usize = points[..points.find('"').unwrap()].parse().unwrap();
    assert!((15..=16).contains(&points), "{points} trend points");
}

/// `guest-sync demo --secretless`: the source tenant is registered with no
/// secret (consented through the admin-consent URL the demo opens over the
/// simulator's https listener), the host signs in as the managed identity,
/// no secret is written anywhere, and every run succeeds with the guests
/// created through the federated exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_secretless_runs_without_any_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .args([
            "demo",
            "--secretless",
            "--users",
            "80",
            "--days",
            "1",
            "--quiet",
            "--dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .env_remove("IDENTITY_ENDPOINT")
        .env_remove("IDENTITY_HEADER")
        .env_remove("AZURE_CLIENT_ID")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("/v2.0/adminconsent?client_id="), "{stdout}");
    let secrets = dir.path().join("secrets.json");
    let written = std::fs::read_to_string(&secrets).unwrap_or_default();
    assert!(
        !written.contains("value"),
        "a secret was written: {written}"
    );

    let db = dir.path().canonicalize().unwrap().join("guest-sync.db");
    let store = guest_sync::store::open(&StoreSpec::Sqlite(db))
        .await
        .unwrap();
    let tenants = store.list_tenants().await.unwrap();
    assert_eq!(tenants.len(), 1);
    let t = &tenants[0];
    assert_eq!(
        t.credential,
        guest_sync::domain::TenantCredential::Secretless
    );
    assert!(t.secret_name.is_none());
    let guests = store.list_guests(t.tenant_id).await.unwrap();
    assert!(guests.len() >= 70, "{} guests\n{stdout}", guests.len());
    assert!(guests.iter().all(|g| g.host_user_id.is_some()));
    let runs = store.list_runs(Some(t.tenant_id), 100).await.unwrap();
    assert!(!runs.is_empty());
    assert!(
        runs.iter().all(|r| r.outcome == RunOutcome::Succeeded),
        "{runs:?}"
    );
}
