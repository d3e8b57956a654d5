//! Phase B: statistics loaded from a real SQLite store (streamed in pages)
//! and the `guest-sync report` CLI on that store. (The dashboard rendered
//! from it is checked in Chromium by `needs_chromium`.)
use std::collections::HashMap;
use std::sync::Arc;

use guest_sync::cli::report::{execute, ReportArgs};
use guest_sync::domain::{GuestRecord, GuestState, Job, RunOutcome};
use guest_sync::report::Statistics;
use guest_sync::store::Store;

use super::fixtures::*;
use crate::support::world::{open_sqlite, sqlite_path};

/// Fills a SQLite store with three tenants (2,500 guests in one, so reading
/// crosses guest pages) and returns it with the records written.
pub(super) async fn filled(
    dir: &std::path::Path,
) -> (
    Arc<dyn Store>,
    Vec<guest_sync::domain::SourceTenant>,
    Vec<GuestRecord>,
) {
    let store = open_sqlite(dir).await;
    let mut t2 = tenant(2, "Fabrikam Ünïcödé", Some(12));
    t2.guard = guard();
    let ts = vec![
        tenant(1, "Contoso", Some(200)),
        t2,
        tenant(3, "<b>Northwind</b>", None),
    ];
    let mut all = Vec::new();
    for (i, t) in ts.iter().enumerate() {
        store.put_tenant(t).await.unwrap();
        let n = [2500u32, 40, 0][i];
        let gs: Vec<GuestRecord> = (0..n)
            .map(|k| guest(t, k, GuestState::ALL[(k as usize * 7 + i) % 5]))
            .collect();
        for chunk in gs.chunks(500) {
            store.put_guests(chunk).await.unwrap();
        }
        all.extend(gs);
        store
            .put_run(&run(
                t,
                Job::Reconcile,
                30,
                RunOutcome::Succeeded,
                100,
                5,
                2,
            ))
            .await
            .unwrap();
        store
            .put_run(&run(t, Job::Reconcile, 6, RunOutcome::Failed, 0, 0, 0))
            .await
            .unwrap();
        store
            .append_audit(&[audit(t, 15, "invite", "someone#EXT#@host.example")])
            .await
            .unwrap();
    }
    (store, ts, all)
}

/// Counts written records of `tenant` in `state`, independently of the report.
pub(super) fn written(
    all: &[GuestRecord],
    t: &guest_sync::domain::SourceTenant,
    state: GuestState,
) -> u64 {
    all.iter()
        .filter(|g| g.source_tenant_id == t.tenant_id && g.state == state)
        .count() as u64
}

/// Statistics loaded from SQLite page by page equal those computed from the
/// same records in memory, and match the store's own state counts.
#[tokio::test]
async fn statistics_loaded_from_sqlite_equal_the_records_written() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ts, all) = filled(dir.path()).await;
    let loaded = Statistics::load(store.as_ref(), now()).await.unwrap();
    let mut by_tenant: HashMap<_, Vec<GuestRecord>> = HashMap::new();
    for g in &all {
        by_tenant
            .entry(g.source_tenant_id)
            .or_default()
            .push(g.clone());
    }
    let runs = store.list_runs(None, 500).await.unwrap();
    let audit = store.list_audit(None, 200).await.unwrap();
    let computed = Statistics::compute(&ts, &by_tenant, &runs, &audit, now());
    assert_eq!(loaded, computed);
    for t in &ts {
        let st = loaded.tenant(t.tenant_id).unwrap();
        let counts = store.guest_counts(t.tenant_id).await.unwrap();
        assert_eq!(
            st.guests.accepted,
            counts.get(&GuestState::Accepted).copied().unwrap_or(0)
        );
        assert_eq!(st.guests.failed, written(&all, t, GuestState::Failed));
    }
    assert_eq!(
        loaded.totals.guests.managed + loaded.totals.guests.deprovisioned,
        all.len() as u64
    );
}

pub(super) fn args(store: &std::path::Path) -> ReportArgs {
    ReportArgs {
        json: false,
        html: None,
        csv: None,
        out: None,
        tenant: None,
        store: format!("sqlite:{}", store.display()),
    }
}

/// `guest-sync report` prints the table, `--json` the statistics, `--html`
/// writes the page, and `--tenant` narrows to one tenant.
#[tokio::test]
async fn the_report_command_prints_the_table_json_and_writes_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ts, _) = filled(dir.path()).await;
    drop(store);
    let db = sqlite_path(dir.path());
    let table = execute(&args(&db), now()).await.unwrap();
    assert!(
        table.contains("Contoso") && table.contains("Fabrikam Ünïcödé"),
        "{table}"
    );
    assert!(table.contains("CRITICAL"), "{table}");

    let json = execute(
        &ReportArgs {
            json: true,
            ..args(&db)
        },
        now(),
    )
    .await
    .unwrap();
    let s: Statistics = serde_json::from_str(&json).unwrap();
    assert_eq!(s.totals.tenants, 3);

    let page = dir.path().join("report.html");
    let out = execute(
        &ReportArgs {
            html: Some(page.clone()),
            ..args(&db)
        },
        now(),
    )
    .await
    .unwrap();
    assert!(out.contains("report.html"), "{out}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("&lt;b&gt;Northwind&lt;/b&gt;"));

    let one = execute(
        &ReportArgs {
            json: true,
            tenant: Some(ts[1].tenant_id.to_string()),
            ..args(&db)
        },
        now(),
    )
    .await
    .unwrap();
    let s: Statistics = serde_json::from_str(&one).unwrap();
    assert_eq!(s.tenants.len(), 1);
    assert_eq!(s.tenants[0].display_name, "Fabrikam Ünïcödé");
    assert!(s
        .recent_audit
        .iter()
        .all(|a| a.tenant_id == ts[1].tenant_id));
}

/// Bad input is named: a missing SQLite file (no stray database is
/// created), an unregistered tenant, a malformed tenant id.
#[tokio::test]
async fn the_report_command_names_a_missing_store_and_a_bad_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let e = execute(&args(&missing), now())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.db"), "{e}");
    assert!(!missing.exists(), "report created a database");

    let (store, _, _) = filled(dir.path()).await;
    drop(store);
    let db = sqlite_path(dir.path());
    let other = gid(99, 0).to_string();
    let e = format!(
        "{:#}",
        execute(
            &ReportArgs {
                tenant: Some(other.clone()),
                ..args(&db)
            },
            now()
        )
        .await
        .unwrap_err()
    );
    assert!(e.contains(&other), "{e}");
    let e = format!(
        "{:#}",
        execute(
            &ReportArgs {
                tenant: Some("contoso".into()),
                ..args(&db)
            },
            now()
        )
        .await
        .unwrap_err()
    );
    assert!(e.contains("contoso"), "{e}");
}
