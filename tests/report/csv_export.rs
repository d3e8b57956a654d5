//! `guest-sync report --csv guests|audit`: the header and one row per
//! record from a seeded SQLite store, values that a spreadsheet would run
//! as formulas (`=HYPERLINK(...)`, `+1`, `-2`, `@SUM`, a leading tab)
//! neutralised with a `'`, the output parsed back with the csv crate, the
//! audit's UPN joined from the guest record, `--out FILE`, `--tenant`, and
//! the flags' rules (`--csv` excludes `--json`/`--html`, `--out` needs
//! `--csv`).
use clap::Parser;
use guest_sync::cli::report::{execute, CsvExport, ReportArgs};
use guest_sync::cli::Cli;
use guest_sync::domain::{GuestRecord, GuestState, SourceTenant};
use guest_sync::report::csv::{AUDIT_COLUMNS, GUEST_COLUMNS};

use super::fixtures::*;
use super::sqlite::args;
use crate::support::world::{open_sqlite, sqlite_path};

const HYPERLINK: &str = "=HYPERLINK(\"http://evil.example/?x\",\"click\")";

/// Two tenants; Contoso's name and its guests carry hostile values.
async fn seed(dir: &std::path::Path) -> (SourceTenant, SourceTenant, Vec<GuestRecord>) {
    let store = open_sqlite(dir).await;
    let contoso = tenant(1, "+1 Contoso", Some(200));
    let fabrikam = tenant(2, "Fabrikam", Some(200));
    store.put_tenant(&contoso).await.unwrap();
    store.put_tenant(&fabrikam).await.unwrap();
    let mut gs: Vec<GuestRecord> = (0..3)
        .map(|n| guest(&contoso, n, GuestState::ALL[n as usize]))
        .collect();
    gs[0].source_upn = HYPERLINK.into();
    gs[1].source_mail = Some("@SUM(A1:A9)".into());
    gs[2].last_error = Some("\tindented, with a comma\nand a \"quote\"".into());
    gs[2].host_upn = Some("-2@host.example".into());
    store.put_guests(&gs).await.unwrap();
    store
        .put_guests(&[guest(&fabrikam, 0, GuestState::Accepted)])
        .await
        .unwrap();
    let mut a = audit(&contoso, 5, "patch", "target#EXT#@host.example");
    a.source_user_id = Some(gs[0].source_user_id);
    a.target_id = gs[0].host_user_id;
    a.detail = Some("=cmd|' /C calc'!A0".into());
    let mut b = audit(&contoso, 10, "invite", "unjoined#EXT#@host.example");
    b.outcome = "failed".into();
    let c = audit(&fabrikam, 15, "delete", "gone#EXT#@host.example");
    store.append_audit(&[a, b, c]).await.unwrap();
    (contoso, fabrikam, gs)
}

fn parse(csv_text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(csv_text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|row| row.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, rows)
}

fn csv_args(dir: &std::path::Path, what: CsvExport) -> ReportArgs {
    ReportArgs {
        csv: Some(what),
        ..args(&sqlite_path(dir))
    }
}

/// `--csv guests`: the documented header, one row per record of every
/// tenant, formula leads neutralised, quoting kept (a comma, a newline
/// and quotes round-trip).
#[tokio::test]
async fn csv_guests_has_the_header_a_row_per_guest_and_no_formula() {
    let dir = tempfile::tempdir().unwrap();
    let (contoso, _, gs) = seed(dir.path()).await;
    let out = execute(&csv_args(dir.path(), CsvExport::Guests), now())
        .await
        .unwrap();
    let (header, rows) = parse(&out);
    assert_eq!(header, GUEST_COLUMNS);
    assert_eq!(rows.len(), 4);
    let row = |n: usize| {
        rows.iter()
            .find(|r| r[2] == gs[n].source_user_id.to_string())
            .unwrap()
            .clone()
    };
    let r0 = row(0);
    assert_eq!(r0[0], contoso.tenant_id.to_string());
    assert_eq!(r0[1], "'+1 Contoso");
    assert_eq!(r0[3], format!("'{HYPERLINK}"));
    assert_eq!(r0[5], gs[0].host_user_id.unwrap().to_string());
    assert_eq!(r0[7], "invited");
    assert_eq!(r0[9], "2026-10-24T01:00:00Z");
    assert_eq!(row(1)[4], "'@SUM(A1:A9)");
    let r2 = row(2);
    assert_eq!(r2[6], "'-2@host.example");
    assert_eq!(r2[12], "'\tindented, with a comma\nand a \"quote\"");
    // No field of the file starts with a formula lead.
    for r in &rows {
        for f in r {
            assert!(!f.starts_with(['=', '+', '-', '@', '\t', '\r']), "{f:?}");
        }
    }
}

/// `--csv audit --out FILE`: the audit header, the UPN joined from the
/// guest record (else the host UPN the entry carries), the detail
/// neutralised; `--tenant` narrows to one tenant.
#[tokio::test]
async fn csv_audit_joins_the_upn_and_writes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (contoso, _, gs) = seed(dir.path()).await;
    let file = dir.path().join("audit.csv");
    let said = execute(
        &ReportArgs {
            out: Some(file.clone()),
            ..csv_args(dir.path(), CsvExport::Audit)
        },
        now(),
    )
    .await
    .unwrap();
    assert!(
        said.contains("wrote 3 rows") && said.contains("audit.csv"),
        "{said}"
    );
    let (header, rows) = parse(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(header, AUDIT_COLUMNS);
    assert_eq!(rows.len(), 3);
    // Newest first.
    assert_eq!(rows[0][0], "2026-11-23T00:55:00Z");
    assert_eq!(rows[0][1], "'+1 Contoso");
    assert_eq!(rows[0][2], "patch");
    assert_eq!(rows[0][4], gs[0].source_user_id.to_string());
    assert_eq!(rows[0][5], format!("'{HYPERLINK}"));
    assert_eq!(rows[0][6], gs[0].host_user_id.unwrap().to_string());
    assert_eq!(rows[0][7], "'=cmd|' /C calc'!A0");
    assert_eq!(rows[1][3], "failed");
    assert_eq!(rows[1][5], "unjoined#EXT#@host.example");
    assert_eq!(rows[2][1], "Fabrikam");

    let one = execute(
        &ReportArgs {
            tenant: Some(contoso.tenant_id.to_string()),
            ..csv_args(dir.path(), CsvExport::Audit)
        },
        now(),
    )
    .await
    .unwrap();
    let (_, rows) = parse(&one);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r[1] == "'+1 Contoso"));
}

/// The command line: `--csv` takes `guests` or `audit` and excludes
/// `--json` and `--html`; `--out` needs `--csv`; the existing flags parse
/// as before.
#[test]
fn csv_flags_parse_and_exclude_the_other_outputs() {
    let ok = |a: &[&str]| Cli::try_parse_from([&["guest-sync", "report"][..], a].concat());
    assert!(ok(&["--csv", "guests"]).is_ok());
    assert!(ok(&["--csv", "audit", "--out", "a.csv", "--tenant", "x"]).is_ok());
    assert!(ok(&["--json", "--html", "r.html", "--tenant", "x"]).is_ok());
    let e = ok(&["--csv", "people"]).unwrap_err().to_string();
    assert!(e.contains("people"), "{e}");
    assert!(ok(&["--csv", "guests", "--json"]).is_err());
    assert!(ok(&["--csv", "guests", "--html", "r.html"]).is_err());
    assert!(ok(&["--out", "a.csv"]).is_err());
}
