//! The HTML dashboard in headless Chromium: no console message, no network
//! request, the numbers in the DOM equal the statistics (computed from
//! records, or loaded from a SQLite store), names escaped, no overflow.
use std::collections::HashMap;

use guest_sync::domain::{
    CrossTenantStatus, GuestRecord, GuestState, InboundB2b, Job, RunOutcome, Toggle,
};
use guest_sync::report::{render_html, Statistics};

use super::browser::{
    self, body_attr, inner_by_id, load, load_at, screenshot, screenshot_at, tag_by_id, testid,
    testid_text,
};
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
    for ts in &s.tenants {
        assert_eq!(
            testid(dom, &format!("tenant-{}-auto-redeem", ts.tenant_id)),
            Some(
                ts.cross_tenant
                    .as_ref()
                    .map(|c| c.automatic_redemption.as_str())
                    .unwrap_or("unknown")
                    .to_string()
            ),
            "tenant {} automatic redemption",
            ts.tenant_id
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
    let (mut ts, gs, runs, audit) = one_tenant();
    // Automatic redemption off (as last read): shown with its hint.
    ts[0].cross_tenant = Some(CrossTenantStatus {
        automatic_redemption: Toggle::Off,
        inbound_b2b: InboundB2b::Allowed,
        partner_entry: Some(false),
        reason: None,
        checked_at: now(),
    });
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let html = render_html(&s);
    let l = load(&html, 1280);
    assert_clean(&l, "one tenant");
    assert_numbers(&l.dom, &s);
    assert_eq!(testid(&l.dom, "total-managed"), Some("20".into()));
    assert_eq!(testid(&l.dom, "total-accepted"), Some("12".into()));
    assert!(l.dom.contains(r#"data-kind="failedRun""#));
    assert!(l.dom.contains(r#"data-kind="failedGuests""#));
    let tid = ts[0].tenant_id;
    assert_eq!(
        testid(&l.dom, &format!("tenant-{tid}-auto-redeem")),
        Some("off".into())
    );
    let hint = testid_text(&l.dom, &format!("tenant-{tid}-auto-redeem-hint")).unwrap_or_default();
    assert!(
        hint.contains("consent prompt") && hint.contains("host-cross-tenant.sh"),
        "{hint}"
    );
    assert!(testid_text(&l.dom, &format!("tenant-{tid}-cross-tenant"))
        .is_some_and(|t| t.contains("automatic redemption off")));
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
    let rows = audit_rows(&l.dom);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert!(rows
        .iter()
        .all(|r| r.contains(&format!("data-tenant=\"{}\"", b.tenant_id))));
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

/// The rows the audit table shows (each `<tr ...>...</tr>`).
fn audit_rows(dom: &str) -> Vec<String> {
    let body = inner_by_id(dom, "audit-table", "table").unwrap_or("");
    let body = &body[body.find("<tbody>").unwrap_or(0)..];
    body.split("<tr ")
        .skip(1)
        .map(|r| format!("<tr {}", &r[..r.find("</tr>").unwrap_or(r.len())]))
        .collect()
}

/// Two tenants whose guests were created over ten days (some left since),
/// one findable guest "jane.doe", and 130 audit entries about Contoso's
/// guests: four operations, every fifth failed, photo writes without a UPN
/// (the report joins it from the guest).
fn people() -> super::DataSet {
    let (a, b) = (
        tenant(1, "Contoso", Some(200)),
        tenant(2, "Fabrikam", Some(20)),
    );
    let mut gs = HashMap::new();
    for (t, n) in [(&a, 40u32), (&b, 25u32)] {
        let v: Vec<GuestRecord> = (0..n)
            .map(|i| {
                let state = match i % 6 {
                    0..=2 => GuestState::Accepted,
                    3 | 4 => GuestState::Invited,
                    _ => GuestState::Deprovisioned,
                };
                let mut g = guest(t, i, state);
                g.created_at = now() - chrono::Duration::days(i64::from(i % 10) + 3);
                if state == GuestState::Deprovisioned {
                    g.deprovisioned_at = Some(now() - chrono::Duration::days(1));
                }
                if t.tenant_id == a.tenant_id && i == 7 {
                    g.source_upn = "jane.doe@contoso.example".into();
                    g.host_upn = Some("jane.doe_contoso.example#EXT#@host.example".into());
                    g.state = GuestState::Accepted;
                    g.last_error = Some("photo copy throttled, retried later".into());
                }
                g
            })
            .collect();
        gs.insert(t.tenant_id, v);
    }
    let ops = ["invite", "patch", "photo-put", "delete"];
    let contoso = gs[&a.tenant_id].clone();
    let audit = (0..130u32)
        .map(|i| {
            let g = &contoso[(i % 40) as usize];
            let mut e = fixtures::audit(&a, i64::from(i), ops[(i % 4) as usize], "");
            e.source_user_id = Some(g.source_user_id);
            e.target_id = g.host_user_id;
            e.target_upn = (e.operation != "photo-put").then(|| g.host_upn.clone().unwrap());
            if i % 5 == 0 {
                e.outcome = "failed".into();
            }
            e
        })
        .collect();
    let runs = vec![
        run(&a, Job::Reconcile, 30, RunOutcome::Succeeded, 30, 2, 0),
        run(&a, Job::Reconcile, 6, RunOutcome::Succeeded, 3, 1, 2),
        run(&b, Job::Reconcile, 5, RunOutcome::Succeeded, 20, 0, 0),
    ];
    (vec![a, b], gs, runs, audit)
}

/// The search finds a guest by part of its UPN (any case) at 1400 and 390
/// pixels, and the guest's fragment opens its detail view: state, host UPN,
/// last error and its own audit actions, with no overflow; a tenant filter
/// lists that tenant's guests, and `#tenant-<id>` opens the tenant's
/// drill-down with its own trend. Screenshots of the open detail view go to
/// `target/screenshots/`.
#[test]
fn search_finds_a_guest_by_part_of_its_upn_and_opens_its_detail_view() {
    let (ts, gs, runs, audit) = people();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let html = render_html(&s);
    let jane = s
        .guests
        .iter()
        .find(|g| g.guest.source_upn.starts_with("jane.doe"))
        .unwrap();
    let key = format!("{}:{}", jane.tenant_id, jane.guest.source_user_id);
    for width in [1400, 390] {
        let l = load_at(&html, width, "#q=JANE.do");
        assert_clean(&l, &format!("search at {width} px"));
        assert_eq!(testid(&l.dom, "search-count"), Some("1".into()));
        let results = inner_by_id(&l.dom, "search-results", "ol").unwrap();
        assert_eq!(results.matches("data-testid=\"search-result\"").count(), 1);
        assert!(results.contains("jane.doe@contoso.example"), "{results}");
        assert!(
            results.contains(&format!("data-guest=\"{key}\"")),
            "{results}"
        );
        // The detail view is closed until a guest is picked.
        assert!(tag_by_id(&l.dom, "guest-detail")
            .unwrap()
            .contains("hidden"));

        let l = load_at(&html, width, &format!("#q=jane&guest={key}"));
        assert_clean(&l, &format!("detail at {width} px"));
        let tag = tag_by_id(&l.dom, "guest-detail").unwrap();
        assert!(!tag.contains("hidden"), "{tag}");
        assert!(tag.contains(&format!("data-guest=\"{key}\"")), "{tag}");
        assert_eq!(testid_text(&l.dom, "detail-state"), Some("accepted".into()));
        assert_eq!(
            testid_text(&l.dom, "detail-host-upn"),
            jane.guest.host_upn.clone()
        );
        assert_eq!(
            testid_text(&l.dom, "detail-last-error"),
            Some("photo copy throttled, retried later".into())
        );
        // The reasons `guest-sync explain` gives, in the detail view.
        let why = inner_by_id(&l.dom, "detail-why", "ul").unwrap_or_default();
        assert!(why.contains("accepted"), "{why}");
        assert!(
            why.contains("last error: photo copy throttled, retried later"),
            "{why}"
        );
        let own = s
            .recent_audit
            .iter()
            .filter(|a| a.source_user_id == Some(jane.guest.source_user_id))
            .count();
        assert!(own > 0);
        let table = &l.dom[l.dom.find("data-testid=\"detail-audit\"").unwrap()..];
        let table = &table[..table.find("</table>").unwrap()];
        assert_eq!(table.matches("<tr>").count(), own.min(10), "{table}");
    }
    // A tenant filter alone lists that tenant's guests (the drill-down's
    // "Search this tenant's guests" link).
    let fabrikam = ts[1].tenant_id;
    let l = load_at(&html, 1400, &format!("#tenant={fabrikam}"));
    assert_eq!(testid(&l.dom, "search-count"), Some("25".into()));
    assert!(l.dom.contains(&format!("href=\"#tenant={fabrikam}\"")));
    // The tenant's address opens its drill-down, with its own trend.
    let l = load_at(&html, 390, &format!("#tenant-{fabrikam}"));
    assert_clean(&l, "drill-down at 390 px");
    let tag = tag_by_id(&l.dom, &format!("tenant-{fabrikam}")).unwrap();
    assert!(
        tag.starts_with("<details") && tag.contains(" open"),
        "{tag}"
    );
    assert!(trend_points(&l.dom, &format!("chart-managed-{fabrikam}")) > 1);
    let closed = tag_by_id(&l.dom, &format!("tenant-{}", ts[0].tenant_id)).unwrap();
    assert!(!closed.contains(" open"), "{closed}");
    for (width, name) in [
        (1400, "dashboard-search-detail-1400"),
        (390, "dashboard-search-detail-390"),
    ] {
        let png = screenshot_at(&html, name, width, 2400, &format!("#q=jane&guest={key}"));
        assert!(png.starts_with(browser::screenshots_dir()));
    }
}

/// The audit trail filters by operation and outcome and pages 50 rows at a
/// time; photo writes show the guest's UPN joined from its record.
#[test]
fn the_audit_trail_filters_by_operation_and_outcome_and_pages() {
    let (ts, gs, runs, audit) = people();
    let s = Statistics::compute(&ts, &gs, &runs, &audit, now());
    let html = render_html(&s);
    let l = load(&html, 1400);
    assert_clean(&l, "audit");
    assert_eq!(audit_rows(&l.dom).len(), 50);
    assert_eq!(
        tag_by_id(&l.dom, "audit-page").map(|t| t.contains("data-pages=\"3\"")),
        Some(true)
    );

    let want = s
        .recent_audit
        .iter()
        .filter(|a| a.operation == "photo-put" && a.outcome == "failed")
        .count();
    assert!(want > 0);
    let l = load_at(&html, 1400, "#op=photo-put&outcome=failed");
    assert_clean(&l, "audit filtered");
    assert_eq!(testid_text(&l.dom, "audit-shown"), Some(want.to_string()));
    let rows = audit_rows(&l.dom);
    assert_eq!(rows.len(), want);
    for r in &rows {
        assert!(
            r.contains("data-op=\"photo-put\" data-outcome=\"failed\""),
            "{r}"
        );
        // The photo entry had no UPN: the guest's host UPN was joined in.
        assert!(r.contains("#EXT#@host.example"), "{r}");
    }

    let l = load_at(&html, 1400, "#page=3");
    let rows = audit_rows(&l.dom);
    assert_eq!(rows.len(), 30);
    let page = tag_by_id(&l.dom, "audit-page").unwrap();
    assert!(page.contains("data-page=\"3\""), "{page}");
    // The third page holds the oldest entries.
    let oldest = s.recent_audit.last().unwrap();
    assert!(rows
        .last()
        .unwrap()
        .contains(&oldest.at.format("%Y-%m-%d %H:%M:%S").to_string()));

    let patches = s
        .recent_audit
        .iter()
        .filter(|a| a.operation == "patch")
        .count();
    let l = load_at(&html, 390, "#op=patch&page=1");
    assert_clean(&l, "audit filtered, phone");
    assert_eq!(
        testid_text(&l.dom, "audit-shown"),
        Some(patches.to_string())
    );
}

/// The number of points of a trend chart (`data-points` of its line).
fn trend_points(dom: &str, chart: &str) -> usize {
    let at = dom
        .find(&format!("<svg id=\"{chart}\""))
        .unwrap_or_else(|| panic!("no {chart}"));
    let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
    let line = &svg[svg.find("class=\"trend\"").expect("no trend line")..];
    let v = &line[line.find("data-points=\"").unwrap() + 13..];
    v[..v.find('"').unwrap()].parse().unwrap()
}

/// `guest-sync demo` lives through a week of history: its dashboard's
/// managed-guests trend has a point per day, redemption spans several days,
/// the page fits 1400 and 390 pixels, a joiner is found by search and its
/// detail view opens. Screenshots: `target/screenshots/dashboard-1400.png`,
/// `dashboard-390.png`.
#[test]
fn the_demos_dashboard_shows_history_and_fits_desktop_and_phone() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guest-sync"))
        .args(["demo", "--users", "200", "--days", "7", "--quiet", "--dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for width in [1400, 390] {
        let l = load(&html, width);
        assert_clean(&l, &format!("demo at {width} px"));
        assert!(
            trend_points(&l.dom, "chart-managed") >= 8,
            "a point per day"
        );
        let tid = &l.dom[l.dom.find("data-tenant-id=\"").unwrap() + 16..];
        let tid = &tid[..36];
        assert!(trend_points(&l.dom, &format!("chart-managed-{tid}")) > 1);
        let redemption = &l.dom[l.dom.find("<svg id=\"chart-redemption\"").unwrap()..];
        let redemption = &redemption[..redemption.find("</svg>").unwrap()];
        assert!(
            redemption.matches(" accepted</title>").count() > 1,
            "one redemption day only"
        );
    }
    let l = load_at(&html, 1400, "#q=joiner3x0");
    assert_eq!(testid(&l.dom, "search-count"), Some("1".into()));
    let results = inner_by_id(&l.dom, "search-results", "ol").unwrap();
    let key = &results[results.find("data-guest=\"").unwrap() + 12..];
    let key = key[..key.find('"').unwrap()].to_string();
    let l = load_at(&html, 390, &format!("#q=joiner3x0&guest={key}"));
    assert_clean(&l, "demo detail at 390 px");
    assert!(testid_text(&l.dom, "detail-source-upn")
        .unwrap()
        .starts_with("joiner3x0@"));
    screenshot_at(&html, "dashboard-1400", 1400, 4200, "");
    screenshot_at(&html, "dashboard-390", 390, 7000, "");
    screenshot_at(
        &html,
        "dashboard-demo-search-detail-390",
        390,
        2400,
        &format!("#q=joiner3x0&guest={key}"),
    );
}

/// Names a source tenant controls (tenant names, UPNs, errors, audit
/// details) are shown as text everywhere: the server-rendered tables, the
/// JSON island, the search results and the detail view. No injected script
/// or handler runs, no element is created from a name, nothing is fetched.
#[test]
fn hostile_names_stay_text_in_search_detail_and_audit() {
    let evil = [
        "<script>alert(1)</script>",
        "<script>document.body.setAttribute('data-pwned','s')</script>",
        "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','i')\">",
        "</script><script>document.body.setAttribute('data-pwned','j')</script>",
        "<svg onload=\"document.body.setAttribute('data-pwned','v')\">",
        "<!--<script>",
    ];
    let t = tenant(1, evil[3], Some(50));
    let guests: Vec<GuestRecord> = evil
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut g = guest(&t, i as u32, GuestState::Failed);
            g.source_upn = format!("script{i}{e}@x.example");
            g.host_upn = Some(format!("{e}#EXT#@host.example"));
            g.last_error = Some(e.to_string());
            g
        })
        .collect();
    let audit: Vec<_> = guests
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut a = fixtures::audit(&t, i as i64, evil[i], evil[(i + 1) % evil.len()]);
            a.source_user_id = Some(g.source_user_id);
            a.detail = Some(evil[(i + 2) % evil.len()].to_string());
            a
        })
        .collect();
    let s = Statistics::compute(
        std::slice::from_ref(&t),
        &HashMap::from([(t.tenant_id, guests.clone())]),
        &[],
        &audit,
        now(),
    );
    let html = render_html(&s);
    let key = format!("{}:{}", t.tenant_id, guests[2].source_user_id);
    for fragment in [
        String::new(),
        "#q=script".to_string(),
        format!("#q=script&guest={key}"),
        format!("#tenant-{}", t.tenant_id),
    ] {
        for width in [1400, 390] {
            let l = load_at(&html, width, &fragment);
            assert_clean(&l, &format!("hostile names {fragment} at {width} px"));
            assert_eq!(body_attr(&l.dom, "data-pwned"), None, "injected markup ran");
            // The island and the page's script are the only scripts.
            assert_eq!(l.dom.matches("<script").count(), 2, "{fragment}");
            assert!(!l.dom.contains("<img"), "an element was injected");
            assert!(!l.dom.contains("<svg onload"), "an element was injected");
            assert!(!l.dom.contains("<!--<script>"));
        }
    }
    let l = load_at(&html, 1400, &format!("#q=script&guest={key}"));
    assert_eq!(testid(&l.dom, "search-count"), Some(evil.len().to_string()));
    let results = inner_by_id(&l.dom, "search-results", "ol").unwrap();
    assert!(
        results.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{results}"
    );
    assert_eq!(
        testid_text(&l.dom, "detail-last-error"),
        Some(evil[2].to_string())
    );
    screenshot_at(
        &html,
        "dashboard-hostile-names",
        1400,
        2400,
        &format!("#q=script&guest={key}"),
    );
}
