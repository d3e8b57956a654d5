//! The HTML dashboard: one self-contained page (inline CSS, inline SVG
//! charts, one small inline script for the audit filter) that renders inside
//! a locked-down portal or offline. A Content-Security-Policy forbids every
//! network fetch and every script but the page's own (pinned by hash), and
//! every value from the store is HTML-escaped.
//!
//! Numbers carry `data-testid` (and `data-value` with the raw number) so
//! tests and scrapers can read them from the DOM.
use std::fmt::Write as _;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::stats::{AttentionItem, LastRun, SecretLevel, Severity, Statistics, TenantStats};
use super::svg;
use crate::domain::Job;

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Formats an integer with thousands separators (`12,345`).
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// A redemption rate as a percentage with one decimal, or an em dash.
pub fn rate(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "—".to_string(),
    }
}

/// The only script on the page: the audit filter (a link ending in
/// `#audit-tenant=<tenant id>` opens it filtered to that tenant), plus two markers on
/// `<body>` (`data-js="ready"`, `data-overflow-x`) that tell tests the
/// script ran and whether the page is wider than the viewport.
const SCRIPT: &str = r#"(function(){
var sel=document.getElementById('audit-filter');
function apply(){
var v=sel.value,rows=document.querySelectorAll('#audit-table tbody tr'),shown=0;
for(var i=0;i<rows.length;i++){var ok=!v||rows[i].getAttribute('data-tenant')===v;rows[i].hidden=!ok;if(ok){shown++;}}
var c=document.getElementById('audit-shown');if(c){c.textContent=String(shown);}
}
if(sel){
document.getElementById('audit-filter-box').hidden=false;
var m=/^#audit-tenant=([0-9a-f-]{36})$/.exec(location.hash);
if(m){for(var j=0;j<sel.options.length;j++){if(sel.options[j].value===m[1]){sel.value=m[1];}}}
sel.addEventListener('change',apply);apply();
}
var d=document.documentElement;
document.body.setAttribute('data-overflow-x',d.scrollWidth>d.clientWidth?'yes':'no');
document.body.setAttribute('data-js','ready');
})();"#;

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;background:#f5f6f8}
header{background:#1f2937;color:#fff;padding:12px 20px}
header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#cbd5e1;font-size:13px}
main{max-width:1280px;margin:0 auto;padding:12px 16px}
section{background:#fff;border:1px solid #e3e5e8;border-radius:6px;margin:12px 0;padding:12px 16px;min-width:0}
h2{font-size:16px;margin:0 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:8px}
.card{border:1px solid #e3e5e8;border-radius:6px;padding:8px 10px;min-width:0}
.card .label{font-size:12px;color:#555}
.card .num{font-size:22px;font-weight:600;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 6px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{min-width:12em;max-width:28em;overflow-wrap:anywhere}
td.wrap{overflow-wrap:anywhere;max-width:36em}
.id{color:#777;font-size:11px;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
.att{list-style:none;margin:0;padding:0}
.att{max-height:70vh;overflow-y:auto}
.att li{border-left:4px solid #f9a825;padding:6px 10px;margin:6px 0;background:#fffbeb;overflow-wrap:anywhere}
.att li.sev-critical{border-color:#c62828;background:#fef2f2}
.att .sev{font-weight:600;text-transform:uppercase;font-size:11px;margin-right:6px}
.att summary{cursor:pointer;margin-top:4px;font-size:12px}
.att pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0 0;font-size:12px}
.ok{color:#2e7d32}.warning{color:#b45309}.expired,.failed{color:#c62828;font-weight:600}.unknown{color:#777}
.outcome-succeeded{color:#2e7d32}.outcome-partial{color:#b45309}.outcome-failed{color:#c62828;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:12px}
.chart{max-width:100%;height:auto;display:block}
.empty{color:#777;font-style:italic}
footer{color:#777;font-size:12px;text-align:center;padding:12px}
@media (max-width:600px){main{padding:6px}section{padding:8px}}
"#;

/// The Content-Security-Policy: nothing may be fetched, only the page's own
/// script (pinned by its SHA-256) runs.
pub fn csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT.as_bytes()));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'"
    )
}

/// A number with its test id and raw value.
fn num(testid: &str, n: u64) -> String {
    format!(
        r#"<span data-testid="{}" data-value="{n}">{}</span>"#,
        esc(testid),
        thousands(n)
    )
}

/// Renders the whole dashboard page.
pub fn render_html(stats: &Statistics) -> String {
    let mut o = String::with_capacity(64 * 1024 + stats.tenants.len() * 2048);
    let generated = stats.generated_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>guest-sync report</title>
<style>{CSS}</style></head>
<body data-schema-version="{sv}">
<header><h1>guest-sync report</h1><p>Generated <time data-testid="generated-at" datetime="{gen_iso}">{gen}</time></p></header>
<main>
"#,
        csp = esc(&csp()),
        sv = stats.schema_version,
        gen_iso = stats.generated_at.to_rfc3339(),
        gen = esc(&generated),
    );
    attention_section(&mut o, &stats.attention);
    totals_section(&mut o, stats);
    tenants_section(&mut o, &stats.tenants);
    let _ = write!(
        o,
        r#"<section id="charts"><h2>Charts</h2><div class="charts">
<figure style="margin:0;min-width:0"><figcaption>Redemption over time</figcaption>{}</figure>
<figure style="margin:0;min-width:0"><figcaption>Changes per reconcile run</figcaption>{}</figure>
</div>
<figure style="margin:12px 0 0;min-width:0"><figcaption>Managed guests per tenant</figcaption>{}</figure>
</section>
"#,
        svg::redemption_chart(&stats.redemption_over_time),
        svg::runs_chart(&stats.runs_over_time),
        svg::tenant_size_chart(&stats.tenants),
    );
    audit_section(&mut o, stats);
    let _ = write!(
        o,
        "</main>\n<footer>guest-sync · statistics schema version {}</footer>\n<script>{SCRIPT}</script>\n</body></html>\n",
        stats.schema_version
    );
    o
}

fn attention_section(o: &mut String, items: &[AttentionItem]) {
    let _ = write!(
        o,
        r#"<section id="attention"><h2>Needs attention (<span data-testid="attention-count" data-value="{n}">{n}</span>)</h2>"#,
        n = items.len()
    );
    if items.is_empty() {
        o.push_str(r#"<p class="empty">Nothing needs attention.</p></section>"#);
        return;
    }
    o.push_str(r#"<ul class="att">"#);
    for a in items {
        let sev = match a.severity {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        };
        let _ = write!(
            o,
            r#"<li class="sev-{sev}" data-testid="attention-item" data-kind="{kind}" data-tenant="{tid}"><span class="sev">{sev}</span><strong>{name}</strong>: {msg}"#,
            kind = a.kind.as_str(),
            tid = a.tenant_id,
            name = esc(&a.tenant_name),
            msg = esc(&a.message),
        );
        if let Some(at) = a.at {
            let _ = write!(
                o,
                r#" <span class="id">{}</span>"#,
                at.format("%Y-%m-%d %H:%M UTC")
            );
        }
        if let Some(run) = a.run_id {
            let _ = write!(o, r#" <span class="id">run {run}</span>"#);
        }
        if let Some(e) = &a.error {
            let _ = write!(o, "<pre>{}</pre>", esc(e));
        }
        if !a.guests.is_empty() {
            let _ = write!(
                o,
                r#"<details><summary>{} by source user id</summary><div class="scroll"><table><thead><tr><th>source user id</th><th>last error</th></tr></thead><tbody>"#,
                if a.count.unwrap_or(0) > a.guests.len() as u64 {
                    format!("The first {}", a.guests.len())
                } else {
                    "All".to_string()
                }
            );
            for g in &a.guests {
                let _ = write!(
                    o,
                    r#"<tr><td class="id">{}</td><td class="wrap">{}</td></tr>"#,
                    g.source_user_id,
                    esc(g.last_error.as_deref().unwrap_or(""))
                );
            }
            o.push_str("</tbody></table></div></details>");
            if let Some(c) = a.count {
                if c > a.guests.len() as u64 {
                    let _ = write!(o, "<p>… and {} more.</p>", c - a.guests.len() as u64);
                }
            }
        }
        o.push_str("</li>");
    }
    o.push_str("</ul></section>\n");
}

fn totals_section(o: &mut String, stats: &Statistics) {
    let t = &stats.totals;
    let g = &t.guests;
    o.push_str(r#"<section id="totals"><h2>Totals</h2><div class="cards">"#);
    let cards: [(&str, String); 10] = [
        ("Source tenants", num("total-tenants", t.tenants)),
        (
            "Enabled tenants",
            num("total-enabled-tenants", t.enabled_tenants),
        ),
        ("Managed guests", num("total-managed", g.managed)),
        ("Invited (pending)", num("total-invited", g.invited)),
        ("Accepted", num("total-accepted", g.accepted)),
        (
            "Redemption rate",
            format!(
                r#"<span data-testid="total-redemption-rate" data-value="{}">{}</span>"#,
                g.redemption_rate.map(|r| r.to_string()).unwrap_or_default(),
                rate(g.redemption_rate)
            ),
        ),
        ("Disabled", num("total-disabled", g.disabled)),
        ("Deprovisioned", num("total-deprovisioned", g.deprovisioned)),
        ("Adopted", num("total-adopted", g.adopted)),
        ("Failed", num("total-failed", g.failed)),
    ];
    for (label, value) in cards {
        let _ = write!(
            o,
            r#"<div class="card"><div class="label">{label}</div><div class="num">{value}</div></div>"#
        );
    }
    o.push_str("</div></section>\n");
}

fn last_run_cell(o: &mut String, tid: &str, job: Job, r: Option<&LastRun>) {
    match r {
        None => {
            let _ = write!(
                o,
                r#"<td data-testid="tenant-{tid}-last-{job}" data-outcome="">—</td>"#
            );
        }
        Some(r) => {
            let outcome = if r.parked {
                "parked"
            } else {
                r.outcome.as_str()
            };
            let _ = write!(
                o,
                r#"<td data-testid="tenant-{tid}-last-{job}" data-outcome="{outcome}"><span class="outcome-{oc}">{outcome}</span>{dry}<br><span class="id">{at}</span>"#,
                oc = r.outcome.as_str(),
                dry = if r.dry_run { " (dry run)" } else { "" },
                at = r.started_at.format("%Y-%m-%d %H:%M"),
            );
            if let Some(e) = &r.error {
                let _ = write!(
                    o,
                    r#"<br><span class="wrap">{}</span>"#,
                    esc(&short(e, 120))
                );
            }
            o.push_str("</td>");
        }
    }
}

/// Cuts `s` to `max` characters with an ellipsis.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn tenants_section(o: &mut String, tenants: &[TenantStats]) {
    o.push_str(r#"<section id="tenants"><h2>Source tenants</h2>"#);
    if tenants.is_empty() {
        o.push_str(r#"<p class="empty">No source tenant is registered yet. Add one with <code>guest-sync tenant add</code>.</p></section>"#);
        return;
    }
    o.push_str(
        r#"<div class="scroll"><table id="tenant-table"><thead><tr><th>Tenant</th><th>Enabled</th><th class="n">Managed</th><th class="n">Invited</th><th class="n">Accepted</th><th class="n">Redemption</th><th class="n">Disabled</th><th class="n">Deprovisioned</th><th class="n">Adopted</th><th class="n">Failed</th><th>Secret</th><th>Last reconcile</th><th>Last photos</th><th>Last redemption</th></tr></thead><tbody>"#,
    );
    for t in tenants {
        let tid = t.tenant_id.to_string();
        let g = &t.guests;
        let _ = write!(
            o,
            r#"<tr data-testid="tenant-row" data-tenant-id="{tid}"><td class="name"><span data-testid="tenant-{tid}-name">{name}</span><br><span class="id">{tid}</span>{guard}</td><td data-testid="tenant-{tid}-enabled">{en}</td>"#,
            name = esc(&t.display_name),
            en = if t.enabled { "yes" } else { "no" },
            guard = if t.guard_pending {
                r#"<br><span class="failed">guard tripped</span>"#
            } else {
                ""
            },
        );
        for (field, v) in [
            ("managed", g.managed),
            ("invited", g.invited),
            ("accepted", g.accepted),
        ] {
            let _ = write!(
                o,
                r#"<td class="n">{}</td>"#,
                num(&format!("tenant-{tid}-{field}"), v)
            );
        }
        let _ = write!(
            o,
            r#"<td class="n"><span data-testid="tenant-{tid}-redemption-rate" data-value="{}">{}</span></td>"#,
            g.redemption_rate.map(|r| r.to_string()).unwrap_or_default(),
            rate(g.redemption_rate)
        );
        for (field, v) in [
            ("disabled", g.disabled),
            ("deprovisioned", g.deprovisioned),
            ("adopted", g.adopted),
            ("failed", g.failed),
        ] {
            let _ = write!(
                o,
                r#"<td class="n">{}</td>"#,
                num(&format!("tenant-{tid}-{field}"), v)
            );
        }
        let level = t.secret.level.as_str();
        let secret_text = match (t.secret.level, t.secret.days_left) {
            (SecretLevel::Unknown, _) | (_, None) => "not checked yet".to_string(),
            (SecretLevel::Expired, Some(_)) => "expired".to_string(),
            (_, Some(d)) => format!("{d} days left"),
        };
        let _ = write!(
            o,
            r#"<td><span class="{level}" data-testid="tenant-{tid}-secret-days" data-value="{dv}" data-level="{level}">{secret_text}</span></td>"#,
            dv = t
                .secret
                .days_left
                .map(|d| d.to_string())
                .unwrap_or_default(),
        );
        for job in Job::ALL {
            last_run_cell(o, &tid, job, t.last_runs.iter().find(|r| r.job == job));
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table></div></section>\n");
}

fn audit_section(o: &mut String, stats: &Statistics) {
    let rows = &stats.recent_audit;
    let _ = write!(
        o,
        r#"<section id="audit"><h2>Recent audit trail (<span id="audit-shown" data-testid="audit-shown">{n}</span> of <span data-testid="audit-count" data-value="{n}">{n}</span>)</h2>"#,
        n = rows.len()
    );
    if rows.is_empty() {
        o.push_str(r#"<p class="empty">No write has been made in Graph yet.</p></section>"#);
        return;
    }
    // Tenants present in the audit rows, in first-seen order.
    let mut seen: Vec<(String, &str)> = Vec::new();
    for r in rows {
        let id = r.tenant_id.to_string();
        if !seen.iter().any(|(s, _)| *s == id) {
            seen.push((id, r.tenant_name.as_str()));
        }
    }
    o.push_str(r#"<p id="audit-filter-box" hidden><label>Tenant: <select id="audit-filter"><option value="">all tenants</option>"#);
    for (id, name) in &seen {
        let _ = write!(
            o,
            r#"<option value="{id}">{}</option>"#,
            esc(&short(name, 60))
        );
    }
    o.push_str("</select></label></p>");
    o.push_str(r#"<div class="scroll"><table id="audit-table"><thead><tr><th>Time (UTC)</th><th>Tenant</th><th>Operation</th><th>Outcome</th><th>Guest (host UPN)</th><th>Detail</th></tr></thead><tbody>"#);
    for r in rows {
        let _ = write!(
            o,
            r#"<tr data-tenant="{tid}"><td class="n">{at}</td><td class="name">{name}</td><td>{op}</td><td class="{oc}">{outcome}</td><td class="wrap">{upn}</td><td class="wrap">{detail}</td></tr>"#,
            tid = r.tenant_id,
            at = r.at.format("%Y-%m-%d %H:%M:%S"),
            name = esc(&r.tenant_name),
            op = esc(&r.operation),
            oc = if r.outcome == "failed" { "failed" } else { "" },
            outcome = esc(&r.outcome),
            upn = esc(&r
                .target_upn
                .clone()
                .or_else(|| r.target_id.map(|i| i.to_string()))
                .unwrap_or_default()),
            detail = esc(r.detail.as_deref().unwrap_or("")),
        );
    }
    o.push_str("</tbody></table></div></section>\n");
}
