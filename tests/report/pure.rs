//! The statistics computation, the JSON contract, content negotiation and
//! the terminal table, without a browser or a store.
use std::collections::HashMap;

use chrono::Duration;
use guest_sync::domain::{GuestState, Job, RunOutcome, SourceTenant};
use guest_sync::report::{
    render_table, respond, AttentionKind, SecretLevel, Severity, Statistics, SCHEMA_VERSION,
};

use super::fixtures::*;
use super::one_tenant;

/// Guests are counted by state; managed excludes deprovisioned; the
/// redemption rate is accepted over invited + accepted.
#[test]
fn guests_are_counted_by_state_with_the_redemption_rate() {
    let (ts, gs, runs, audit) = one_tenant();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let g = &s.totals.guests;
    assert_eq!(
        (g.accepted, g.invited, g.disabled, g.deprovisioned, g.failed),
        (12, 5, 2, 3, 1)
    );
    assert_eq!(g.managed, 20);
    let expected_adopted = gs
        .values()
        .flatten()
        .filter(|r| r.adopted && r.state != GuestState::Deprovisioned)
        .count() as u64;
    assert_eq!(g.adopted, expected_adopted);
    assert!((g.redemption_rate.unwrap() - 12.0 / 17.0).abs() < 1e-9);
    assert_eq!(s.tenants[0].guests, *g);
    let redeemed: u64 = s.redemption_over_time.iter().map(|p| p.accepted).sum();
    assert_eq!(redeemed, 12);
    assert_eq!(s.redemption_over_time.last().unwrap().cumulative, 12);
    assert!(s
        .redemption_over_time
        .windows(2)
        .all(|w| w[0].date < w[1].date));
}

/// The last run of each job is the newest; runs over time are oldest first.
#[test]
fn last_runs_are_the_newest_per_job_and_runs_are_charted_in_time_order() {
    let (ts, gs, runs, audit) = one_tenant();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let last = &s.tenants[0].last_runs;
    assert_eq!(last.len(), 3);
    let rec = last.iter().find(|r| r.job == Job::Reconcile).unwrap();
    assert_eq!(rec.started_at, now() - Duration::hours(24));
    assert_eq!(rec.counts.deprovisioned, 3);
    assert!(s
        .runs_over_time
        .windows(2)
        .all(|w| w[0].started_at <= w[1].started_at));
    assert_eq!(s.runs_over_time.len(), 4);
}

/// Secret expiry levels: more than 30 days ok, 30 or fewer warning, past
/// expired, never read unknown; warnings and expiries appear as attention.
#[test]
fn secret_expiry_levels_follow_the_thirty_day_rule() {
    let ts = vec![
        tenant(1, "a", Some(31)),
        tenant(2, "b", Some(30)),
        tenant(3, "c", Some(-1)),
        tenant(4, "d", None),
        // A secretless tenant has no secret: level none, even with a stale
        // expiry date left on its record, and never an attention item.
        SourceTenant {
            credential: guest_sync::domain::TenantCredential::Secretless,
            secret_name: None,
            ..tenant(5, "e", Some(-3))
        },
    ];
    let s = Statistics::compute(&ts, &HashMap::new(), &[], &[], now());
    let levels: Vec<_> = s
        .tenants
        .iter()
        .map(|t| (t.secret.level, t.secret.days_left))
        .collect();
    assert_eq!(
        levels,
        vec![
            (SecretLevel::Ok, Some(31)),
            (SecretLevel::Warning, Some(30)),
            (SecretLevel::Expired, Some(-1)),
            (SecretLevel::Unknown, None),
            (SecretLevel::None, None),
        ]
    );
    assert_eq!(s.tenants[4].secret.level.as_str(), "none");
    let kinds: Vec<_> = s.attention.iter().map(|a| (a.severity, a.kind)).collect();
    assert_eq!(
        kinds,
        vec![
            (Severity::Critical, AttentionKind::SecretExpired),
            (Severity::Warning, AttentionKind::SecretExpiring)
        ]
    );
    assert_eq!((s.totals.critical, s.totals.warnings), (1, 1));
}

/// A failed run needs attention until a later run of the same job finishes;
/// parked items and an unconfirmed guard are critical (newest first); a
/// confirmed guard is not.
#[test]
fn attention_lists_unresolved_failures_parked_items_and_tripped_guards() {
    let mut t = tenant(1, "a", Some(300));
    t.guard = guard();
    let mut t2 = tenant(2, "b", Some(300));
    t2.guard = guard().map(|mut g| {
        g.confirmed = true;
        g
    });
    let old_fail = run(&t, Job::Reconcile, 10, RunOutcome::Failed, 0, 0, 0);
    let fixed = run(&t, Job::Reconcile, 5, RunOutcome::Succeeded, 0, 0, 0);
    let photo_fail = run(&t, Job::Photos, 4, RunOutcome::Failed, 0, 0, 0);
    let mut parked = run(&t, Job::Redemption, 3, RunOutcome::Failed, 0, 0, 0);
    parked.parked = true;
    let runs = vec![fixed.clone(), old_fail, photo_fail.clone(), parked.clone()];
    let s = Statistics::compute(&[t.clone(), t2], &HashMap::new(), &runs, &[], now());
    let got: Vec<_> = s.attention.iter().map(|a| (a.kind, a.run_id)).collect();
    assert_eq!(
        got,
        vec![
            (AttentionKind::ParkedItem, Some(parked.run_id)),
            (AttentionKind::GuardTripped, None),
            (AttentionKind::FailedRun, Some(photo_fail.run_id)),
        ]
    );
    assert!(s.attention.iter().all(|a| a.severity == Severity::Critical));
    assert_eq!(s.attention[2].error.as_deref(), photo_fail.error.as_deref());
    assert!(s.tenant(t.tenant_id).unwrap().guard_pending);
}

/// Failed guests are counted exactly and a bounded sample is listed with
/// ids and errors only (no names or addresses).
#[test]
fn failed_guests_are_counted_exactly_and_sampled_without_personal_data() {
    let t = tenant(1, "a", Some(300));
    let gs: Vec<_> = (0..45).map(|n| guest(&t, n, GuestState::Failed)).collect();
    let s = Statistics::compute(
        std::slice::from_ref(&t),
        &HashMap::from([(t.tenant_id, gs)]),
        &[],
        &[],
        now(),
    );
    let a = s
        .attention
        .iter()
        .find(|a| a.kind == AttentionKind::FailedGuests)
        .unwrap();
    assert_eq!(a.count, Some(45));
    assert_eq!(
        a.guests.len(),
        guest_sync::report::stats::FAILED_GUEST_SAMPLE
    );
    let json = serde_json::to_string(&a).unwrap();
    assert!(
        !json.contains("@source"),
        "a UPN leaked into the attention list: {json}"
    );
}

/// The JSON is camelCase with a schema version, and round-trips.
#[test]
fn the_json_has_the_documented_shape_and_round_trips() {
    let (ts, gs, runs, audit) = one_tenant();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["schemaVersion"], SCHEMA_VERSION);
    assert_eq!(v["generatedAt"], "2026-11-23T01:00:00Z");
    for k in [
        "tenants",
        "enabledTenants",
        "managed",
        "invited",
        "accepted",
        "redemptionRate",
        "disabled",
        "deprovisioned",
        "adopted",
        "failed",
        "critical",
        "warnings",
    ] {
        assert!(
            v["totals"].get(k).is_some(),
            "totals.{k} missing: {}",
            v["totals"]
        );
    }
    let t = &v["tenants"][0];
    for k in [
        "tenantId",
        "displayName",
        "enabled",
        "managed",
        "secret",
        "guardPending",
        "lastRuns",
    ] {
        assert!(t.get(k).is_some(), "tenants[0].{k} missing");
    }
    assert_eq!(t["secret"]["level"], "ok");
    assert_eq!(t["lastRuns"][0]["job"], "reconcile");
    assert!(v["runsOverTime"][0].get("startedAt").is_some());
    assert!(v["redemptionOverTime"][0].get("cumulative").is_some());
    assert_eq!(v["attention"][0]["kind"], "failedRun");
    assert!(v["recentAudit"][0].get("targetUpn").is_some());
    let back: Statistics = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}

/// `?format=html` and browsers get HTML, API clients JSON, and an unknown
/// format is a 400 that names it.
#[test]
fn respond_negotiates_html_json_and_rejects_unknown_formats() {
    let s = Statistics::compute(&[], &HashMap::new(), &[], &[], now());
    let (st, ct, body) = respond(&s, None, Some("html"));
    assert_eq!((st, ct), (200, "text/html; charset=utf-8"));
    assert!(body.starts_with("<!DOCTYPE html>"));
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    assert_eq!(
        respond(&s, Some(browser), None).1,
        "text/html; charset=utf-8"
    );
    let (st, ct, body) = respond(&s, Some("application/json"), None);
    assert_eq!((st, ct), (200, "application/json"));
    assert_eq!(serde_json::from_str::<Statistics>(&body).unwrap(), s);
    assert_eq!(respond(&s, None, None).1, "application/json");
    assert_eq!(respond(&s, Some("*/*"), None).1, "application/json");
    assert_eq!(
        respond(&s, Some("text/html;q=0.5, application/json"), None).1,
        "application/json"
    );
    assert_eq!(
        respond(&s, Some("text/html"), Some("json")).1,
        "application/json"
    );
    let (st, _, body) = respond(&s, None, Some("xml"));
    assert_eq!(st, 400);
    assert!(body.contains("\"xml\""), "{body}");
}

/// The terminal table aligns columns even with wide (CJK) and accented
/// names, and cuts very long names.
#[test]
fn the_table_aligns_columns_with_wide_and_long_names() {
    let ts = vec![
        tenant(1, "株式会社サンプル", Some(100)),
        tenant(2, "Ünïcödé GmbH", Some(10)),
        tenant(3, &"x".repeat(80), None),
    ];
    let s = Statistics::compute(&ts, &HashMap::new(), &[], &[], now());
    let out = render_table(&s);
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains(" no ") || l.contains(" yes "))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    let col = |l: &str| {
        let i = l.find(" yes ").unwrap();
        guest_sync::report::table::display_width(&l[..i])
    };
    assert!(
        lines.iter().all(|l| col(l) == col(lines[0])),
        "misaligned:\n{out}"
    );
    assert!(out.contains('…'), "long name not cut:\n{out}");
    assert!(out.contains("Needs attention (1)"), "{out}");
}

/// The managed-guests trend counts a guest from the day its record was
/// created to the day it was deprovisioned, never a conflict, one point a
/// day up to today; its last point is today's `managed`, for each tenant and
/// over all of them.
#[test]
fn managed_over_time_counts_each_guest_from_creation_to_deprovisioning() {
    let t = tenant(1, "Contoso", Some(100));
    let mut a = guest(&t, 1, GuestState::Accepted);
    a.created_at = now() - Duration::days(5);
    let mut d = guest(&t, 2, GuestState::Deprovisioned);
    d.created_at = now() - Duration::days(3);
    d.deprovisioned_at = Some(now() - Duration::days(1));
    let mut c = guest(&t, 3, GuestState::Conflict);
    c.created_at = now() - Duration::days(4);
    let mut i = guest(&t, 4, GuestState::Invited);
    i.created_at = now();
    let gs = HashMap::from([(t.tenant_id, vec![a, d, c, i])]);
    let s = Statistics::compute(&[t], &gs, &[], &[], now());
    let series: Vec<(String, u64)> = s
        .managed_over_time
        .iter()
        .map(|p| (p.date.to_string(), p.managed))
        .collect();
    let want: Vec<(String, u64)> = [
        ("2026-11-18", 1),
        ("2026-11-19", 1),
        ("2026-11-20", 2),
        ("2026-11-21", 2),
        ("2026-11-22", 1),
        ("2026-11-23", 2),
    ]
    .iter()
    .map(|(d, n)| (d.to_string(), *n))
    .collect();
    assert_eq!(series, want);
    assert_eq!(
        s.managed_over_time.last().unwrap().managed,
        s.totals.guests.managed
    );
    assert_eq!(s.tenants[0].managed_over_time, s.managed_over_time);
}

/// Guests are listed for the search, and audit rows are joined to them: a
/// photo write recorded without a UPN shows the guest's host UPN and source
/// UPN. Statistics JSON of the older shape (without the added fields) still
/// reads.
#[test]
fn guests_are_listed_and_audit_rows_carry_their_upns() {
    let (ts, gs, runs, mut audit) = one_tenant();
    let g = gs.values().flatten().next().unwrap().clone();
    audit[0].target_upn = None;
    audit[0].target_id = g.host_user_id;
    audit[0].operation = "photo-put".into();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    assert_eq!(s.guests.len(), 23);
    assert!(!s.guests_truncated);
    let row = s
        .recent_audit
        .iter()
        .find(|r| r.operation == "photo-put")
        .unwrap();
    assert_eq!(row.target_upn, g.host_upn);
    assert_eq!(row.source_upn.as_deref(), Some(g.source_upn.as_str()));
    assert_eq!(row.source_user_id, Some(g.source_user_id));

    // Each listed guest carries the reasons `guest-sync explain` gives.
    let listed = s
        .guests
        .iter()
        .find(|r| r.guest.source_user_id == g.source_user_id)
        .unwrap();
    assert_eq!(
        listed.why,
        guest_sync::report::explain::reasons(
            &g,
            &ts[0],
            &runs,
            &audit
                .iter()
                .filter(|e| guest_sync::report::explain::concerns(e, &g))
                .cloned()
                .collect::<Vec<_>>(),
            now()
        )
    );
    assert!(!listed.why.is_empty());

    let mut v = serde_json::to_value(&s).unwrap();
    let o = v.as_object_mut().unwrap();
    for k in ["managedOverTime", "guests", "guestsTruncated"] {
        o.remove(k);
    }
    let old: Statistics = serde_json::from_value(v).unwrap();
    assert!(old.guests.is_empty() && old.managed_over_time.is_empty());
}

/// The JSON island of the page cannot be closed by a name: no `<`, `>` or
/// `&` survives in it, and it parses back to the same names.
#[test]
fn the_json_island_escapes_angle_brackets_and_ampersands() {
    let t = tenant(1, "</script><script>alert(1)</script> & <!--", Some(100));
    let mut g = guest(&t, 1, GuestState::Failed);
    g.source_upn = "</script>@x".into();
    let gs = HashMap::from([(t.tenant_id, vec![g])]);
    let s = Statistics::compute(std::slice::from_ref(&t), &gs, &[], &[], now());
    let island = guest_sync::report::html::json_island(&s);
    assert!(!island.contains(['<', '>', '&']), "{island}");
    let v: serde_json::Value = serde_json::from_str(&island).unwrap();
    assert_eq!(v["tenants"][t.tenant_id.to_string()], t.display_name);
    assert_eq!(v["guests"][0]["sourceUpn"], "</script>@x");
}
