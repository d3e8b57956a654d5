//! Reporting: statistics computed from records and from a SQLite store, the
//! JSON contract, content negotiation, the terminal table, the CLI, and the
//! HTML dashboard rendered in headless Chromium (no console message, no
//! network request, numbers in the DOM equal the statistics, escaping, the
//! guest search and detail view, audit filters and paging, the demo's
//! history; screenshots in `target/screenshots/`), the CSV exports
//! ([`csv_export`]) and `guest-sync explain` ([`explain`]).
//!
//! The dashboard tests need Chromium: they live in [`needs_chromium`]
//! (`scripts/test --fast` skips that module); [`browser`] drives it.
mod browser;
mod csv_export;
mod explain;
mod fixtures;
mod needs_chromium;
mod pure;
mod scale;
mod sqlite;

use std::collections::HashMap;

use guest_sync::domain::{GuestRecord, GuestState, Job, RunOutcome, SourceTenant};

use fixtures::*;

/// Records a report is computed from: tenants, guests by tenant, runs, audit.
pub type DataSet = (
    Vec<SourceTenant>,
    HashMap<guest_sync::domain::Guid, Vec<GuestRecord>>,
    Vec<guest_sync::domain::RunRecord>,
    Vec<guest_sync::domain::AuditEntry>,
);

/// A mixed one-tenant data set: every state, runs, audit, a failed guest.
pub fn one_tenant() -> DataSet {
    let t = tenant(1, "Contoso Ltd", Some(200));
    let states = [
        (GuestState::Accepted, 12),
        (GuestState::Invited, 5),
        (GuestState::Disabled, 2),
        (GuestState::Deprovisioned, 3),
        (GuestState::Failed, 1),
    ];
    let mut gs = Vec::new();
    let mut n = 0;
    for (s, k) in states {
        for _ in 0..k {
            gs.push(guest(&t, n, s));
            n += 1;
        }
    }
    let runs = vec![
        run(&t, Job::Reconcile, 48, RunOutcome::Succeeded, 20, 0, 0),
        run(&t, Job::Reconcile, 24, RunOutcome::Succeeded, 3, 4, 3),
        run(&t, Job::Photos, 20, RunOutcome::Succeeded, 0, 0, 0),
        run(&t, Job::Redemption, 2, RunOutcome::Failed, 0, 0, 0),
    ];
    let audit = vec![
        audit(&t, 10, "patch", "user1_contoso#EXT#@host.example"),
        audit(&t, 20, "invite", "user2_contoso#EXT#@host.example"),
    ];
    let guests = HashMap::from([(t.tenant_id, gs)]);
    (vec![t], guests, runs, audit)
}
