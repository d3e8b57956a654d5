//! The HTML dashboard in headless Chromium: no console message, no network
//! request, the numbers in the DOM equal the statistics (computed from
//! records, or loaded from a SQLite store), names escaped, no overflow.
use std::collections::HashMap;

use guest_sync::domain::{GuestRecord, GuestState, Job, RunOutcome};
use guest_sync::report::{render_html, Statistics};

use super::browser::{self, body_attr, load, screenshot, testid, testid_text};
use super::fixtures::{self, *};
use super::one_tenant;
use super::sqlite::{filled, written};

/// Asserts the page loaded cleanly: fetched, script ran, no console message,
/// no request besides the page, no horizontal overflow.
fn assert_clean(l: &browser::Loaded, what: &str) {
    assert!(l.page_fetched, "{what}: the page was not fetched");
    assert!(
        l.console.is_empty(),
        "{what}: console messages: {:#?}",
        l.console
    );
    assert!(
        l.extra_requests.is_empty(),
        "{what}: the page made network requests: {:#?}",
        l.extra_requests
    );
    assert_eq!(
        body_attr(&l.dom, "data-js").as_deref(),
        Some("ready"),
        "{what}: the page script did not run"
    );
    assert_eq!(
        body_attr(&l.dom, "data-overflow-x").as_deref(),
        Some("no"),
        "{what}: the page is wider than the window"
    );
}

/// Asserts every number the DOM shows equals the statistics.
fn assert_numbers(dom: &str, s: &Statistics) {
    let t = &s.totals;
    let g = &t.guests;
    for (id, v) in [
        ("total-tenants", t.tenants),
        ("total-enabled-tenants", t.enabled_tenants),
        ("total-managed", g.managed),
        ("total-invited", g.invited),
        ("total-accepted", g.accepted),
        ("total-disabled", g.disabled),
        ("total-deprovisioned", g.deprovisioned),
        ("total-adopted", g.adopted),
        ("total-failed", g.failed),
    ] {
        assert_eq!(testid(dom, id), Some(v.to_string()), "{id}");
        // The visible text is the same number with thousands separators.
        assert_eq!(
            testid_text(dom, id).map(|x| x.replace(',', "")),
            Some(v.to_string()),
            "{id} text"
        );
    }
    assert_eq!(
        testid(dom, "attention-count"),
        Some(s.attention.len().to_string())
    );
    assert_eq!(
        testid(dom, "audit-count"),
        Some(s.recent_audit.len().to_string())
    );
    assert_eq!(
        testid_text(dom, "audit-shown"),
        Some(s.recent_audit.len().to_string())
    );
    for ts in &s.tenants {
        let id = ts.tenant_id;
        let g = &ts.guests;
        assert_eq!(
            testid_text(dom, &format!("tenant-{id}-name")),
            Some(ts.display_name.clone())
        );
        for (f, v) in [
            ("managed", g.managed),
            ("invited", g.invited),
            ("accepted", g.accepted),
            ("disabled", g.disabled),
            ("deprovisioned", g.deprovisioned),
            ("adopted", g.adopted),
            ("failed", g.failed),
        ] {
            assert_eq!(
                testid(dom, &format!("tenant-{id}-{f}")),
                Some(v.to_string()),
                "tenant {id} {f}"
            );
        }
        assert_eq!(
            testid(dom, &format!("tenant-{id}-secret-days")),
            Some(
                ts.secret
                    .days_left
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            )
        );
    }
    assert_eq!(
        dom.matches("data-testid=\"tenant-row\"").count(),
        s.tenants.len(),
        "one row per tenant"
    );
}

/// An empty store renders a clean page: zero totals, no tenant rows, empty
/// charts explained, no console message or request, and a screenshot.
#[test]
fn an_empty_store_renders_a_clean_page_with_zero_totals() {
    let s = Statistics::compute(&[], &HashMap::new(), &[], &[], now());
    let html = render_html(&s);
    let l = load(&html, 1280);
    assert_clean(&l, "empty");
    assert_numbers(&l.dom, &s);
    assert!(l.dom.contains("No source tenant is registered yet"));
    screenshot(&html, "empty", 1280, 1000);
}

/// One tenant: the DOM's numbers equal the statistics, the failed run and
/// the failed guest are listed under "needs attention", the charts are drawn.
#[test]
fn one_tenant_shows_its_numbers_attention_and_charts() {
    let (ts, gs, runs, audit) = one_tenant();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let html = render_html(&s);
    let l = load(&html, 1280);
    assert_clean(&l, "one tenant");
    assert_numbers(&l.dom, &s);
    assert_eq!(testid(&l.dom, "total-managed"), Some("20".into()));
    assert_eq!(testid(&l.dom, "total-accepted"), Some("12".into()));
    assert!(l.dom.contains(r#"data-kind="failedRun""#));
    assert!(l.dom.contains(r#"data-kind="failedGuests""#));
    for chart in ["chart-redemption", "chart-runs", "chart-tenants"] {
        assert!(
            l.dom.contains(&format!("<svg id=\"{chart}\"")),
            "{chart} missing"
        );
    }
    screenshot(&html, "one-tenant", 1280, 1600);
}

/// Fifty tenants with long and non-ASCII names render without horizontal
/// overflow on a desktop and a phone-sized window, each name shown in full.
#[test]
fn fifty_tenants_with_long_and_non_ascii_names_render_without_overflow() {
    let names = [
        "Ünïcödé Gesellschaft für Großhandel und Außenwirtschaft mbH & Co. KG",
        "株式会社サンプル国際事業部門グローバルパートナーシップ推進室",
        "Société Générale d'Électricité — Département des Ressources Humaines",
        "Ελληνική Εταιρεία Συμβούλων",
        "🚀 Rocket Partners",
        "Averyveryveryveryveryveryveryveryveryveryveryveryverylongwordwithoutanyspacesatall",
        "مؤسسة الشريك العربي",
    ];
    let mut ts = Vec::new();
    let mut gs = HashMap::new();
    let mut runs = Vec::new();
    let mut audit = Vec::new();
    for i in 0..50u32 {
        let t = tenant(
            i + 1,
            &format!("{} #{i}", names[i as usize % names.len()]),
            Some(i64::from(i) - 5),
        );
        let v: Vec<GuestRecord> = (0..(i * 7 % 40))
            .map(|n| guest(&t, n, GuestState::ALL[n as usize % 5]))
            .collect();
        gs.insert(t.tenant_id, v);
        runs.push(run(
            &t,
            Job::Reconcile,
            i64::from(i),
            RunOutcome::Succeeded,
            u64::from(i),
            2,
            1,
        ));
        audit.push(fixtures::audit(&t, i64::from(i), "invite", "a.very.long.user.principal.name.without.breaks_partner.example#EXT#@host.onmicrosoft.com"));
        ts.push(t);
    }
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let html = render_html(&s);
    let wide = load(&html, 1280);
    assert_clean(&wide, "50 tenants, 1280 px");
    assert_numbers(&wide.dom, &s);
    let narrow = load(&html, 390);
    assert_clean(&narrow, "50 tenants, 390 px");
    screenshot(&html, "fifty-tenants", 1280, 2400);
    screenshot(&html, "fifty-tenants-phone", 390, 2400);
}

/// A tenant named with HTML and script is shown as text: no injected script
/// or handler runs (the marker attribute stays unset) and nothing is fetched.
#[test]
fn script_in_a_tenant_name_stays_text_and_never_runs() {
    let evil = [
        "<script>document.body.setAttribute('data-pwned','1')</script>",
        "\"><img src=\"http://attacker.example/x.png\" onerror=\"document.body.setAttribute('data-pwned','2')\">",
        "<svg onload=\"document.body.setAttribute('data-pwned','3')\">",
    ];
    let mut ts = Vec::new();
    let mut gs = HashMap::new();
    let mut audit = Vec::new();
    for (i, name) in evil.iter().enumerate() {
        let t = tenant(i as u32 + 1, name, Some(3));
        gs.insert(t.tenant_id, vec![guest(&t, 1, GuestState::Failed)]);
        audit.push(fixtures::audit(
            &t,
            5,
            "<b>patch</b>",
            "<script>alert(1)</script>@x",
        ));
        ts.push(t);
    }
    let s = Statistics::compute(&ts, &gs, &[], &audit, now());
    let html = render_html(&s);
    let l = load(&html, 1280);
    assert_clean(&l, "script names");
    assert_eq!(body_attr(&l.dom, "data-pwned"), None, "injected markup ran");
    assert!(
        !l.dom.contains("<script>document"),
        "a tenant name became a script element"
    );
    assert!(
        !l.dom.contains("<img src=\"http://attacker"),
        "a tenant name became an element"
    );
    assert_numbers(&l.dom, &s);
    screenshot(&html, "script-names", 1280, 1200);
}

/// The harness itself notices console messages and requests: a page that
/// logs an error and loads a remote image is caught (so a clean result
/// above means something).
#[test]
fn the_browser_harness_sees_console_errors_and_network_requests() {
    let page = r#"<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><img src="http://cdn.example/lib.png"><script>console.error("boom")</script></body></html>"#;
    let l = load(page, 800);
    assert!(
        l.console.iter().any(|c| c.contains("boom")),
        "{:#?}",
        l.console
    );
    assert!(
        l.extra_requests.iter().any(|r| r.contains("cdn.example")),
        "{:#?}",
        l.extra_requests
    );
}

/// The audit filter works offline: opening the page with
/// `#audit-tenant=<id>` shows only that tenant's audit rows.
#[test]
fn the_audit_trail_filters_by_tenant_without_network() {
    let (a, b) = (tenant(1, "Alpha", Some(100)), tenant(2, "Beta", Some(100)));
    let audit = vec![
        fixtures::audit(&a, 1, "invite", "x#EXT#@host.example"),
        fixtures::audit(&b, 2, "patch", "y#EXT#@host.example"),
        fixtures::audit(&b, 3, "delete", "z#EXT#@host.example"),
    ];
    let s = Statistics::compute(&[a, b.clone()], &HashMap::new(), &[], &audit, now());
    let html = render_html(&s);
    let l = browser::load_at(&html, 1280, &format!("#audit-tenant={}", b.tenant_id));
    assert_clean(&l, "audit filter");
    assert_eq!(testid_text(&l.dom, "audit-shown"), Some("2".into()));
    assert_eq!(testid(&l.dom, "audit-count"), Some("3".into()));
    let hidden = |id: guest_sync::domain::Guid| {
        l.dom
            .matches(&format!("<tr data-tenant=\"{id}\" hidden=\"\""))
            .count()
    };
    assert_eq!(
        (hidden(s.tenants[0].tenant_id), hidden(b.tenant_id)),
        (1, 0)
    );
}

/// The dashboard rendered from a SQLite store shows, in Chromium's DOM, the
/// counts of the records that were written.
#[tokio::test]
async fn the_dashboard_from_sqlite_shows_the_stores_numbers_in_the_dom() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ts, all) = filled(dir.path()).await;
    let s = Statistics::load(store.as_ref(), now()).await.unwrap();
    let html = render_html(&s);
    let l = tokio::task::spawn_blocking(move || load(&html, 1280))
        .await
        .unwrap();
    assert!(
        l.console.is_empty() && l.extra_requests.is_empty(),
        "{l:#?}"
    );
    for t in &ts {
        let id = t.tenant_id;
        for (f, state) in [
            ("accepted", GuestState::Accepted),
            ("invited", GuestState::Invited),
            ("disabled", GuestState::Disabled),
            ("deprovisioned", GuestState::Deprovisioned),
            ("failed", GuestState::Failed),
        ] {
            assert_eq!(
                testid(&l.dom, &format!("tenant-{id}-{f}")),
                Some(written(&all, t, state).to_string()),
                "{} {f}",
                t.display_name
            );
        }
        let managed = all
            .iter()
            .filter(|g| g.source_tenant_id == id && g.state != GuestState::Deprovisioned)
            .count();
        assert_eq!(
            testid(&l.dom, &format!("tenant-{id}-managed")),
            Some(managed.to_string())
        );
    }
    let managed = all
        .iter()
        .filter(|g| g.state != GuestState::Deprovisioned)
        .count();
    assert_eq!(testid(&l.dom, "total-managed"), Some(managed.to_string()));
    assert_eq!(testid(&l.dom, "total-tenants"), Some("3".into()));
    // Three failed reconcile runs, a tripped guard, an expiring secret and failed guests.
    assert!(l.dom.matches(r#"data-kind="failedRun""#).count() == 3);
    assert!(l.dom.contains(r#"data-kind="guardTripped""#));
    assert!(l.dom.contains(r#"data-kind="secretExpiring""#));
    let html = render_html(&s);
    tokio::task::spawn_blocking(move || screenshot(&html, "sqlite-store", 1280, 1800))
        .await
        .unwrap();
}
