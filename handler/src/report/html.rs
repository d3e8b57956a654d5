//! The HTML dashboard: one self-contained page (inline CSS, inline SVG
//! charts, one inline script) that renders inside a locked-down portal or
//! offline. A Content-Security-Policy forbids every network fetch and every
//! script but the page's own (pinned by hash).
//!
//! The page is written with maud templates, which escape every value by
//! default: a name from a source tenant cannot become markup. Without
//! JavaScript the page shows the summary (attention, totals, charts, the
//! tenant table and drill-down, the newest audit entries); the script adds
//! the guest search and detail view and the audit filters and paging. It
//! reads its data from one JSON island (`<script type="application/json"
//! id="data">`, every `<`, `>` and `&` written as `\u003c`…, so nothing in a
//! name can close the element) and builds the DOM with `textContent` only.
//!
//! Numbers carry `data-testid` (and `data-value` with the raw number) so
//! tests and scrapers can read them from the DOM.
use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::stats::{
    AttentionItem, AuditRow, GuestRow, LastRun, SecretLevel, Severity, Statistics, TenantStats,
    GUEST_LIST_CAP,
};
use super::svg;
use crate::domain::{GuestState, Guid, Job};

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

/// Audit rows per page (the server renders the first page; the script pages).
pub const AUDIT_PAGE: usize = 50;

/// The only script on the page. It reads the JSON island and keeps its state
/// in the URL fragment (`#q=…&tenant=…&state=…&guest=<tenant>:<user>` for the
/// search and detail view, `audit-tenant=…&op=…&outcome=…&page=…` for the
/// audit trail; `#tenant-<id>` opens a tenant's drill-down), so a view can
/// be linked to. It writes data into the DOM with `textContent` only, and
/// sets two markers on `<body>` (`data-js="ready"`, `data-overflow-x`) that
/// tell tests the script ran and whether the page is wider than the window.
const SCRIPT: &str = r#"(function(){
var D={};try{D=JSON.parse(document.getElementById('data').textContent);}catch(e){}
var G=D.guests||[],A=D.audit||[],T=D.tenants||{},MAXR=50,PAGE=50;
var STATE={invited:'Invited: the invitation was sent and has not been redeemed yet.',
accepted:'Accepted: the guest redeemed the invitation.',
disabled:'Disabled: the source account is disabled, so the guest account is disabled in the host too.',
deprovisioned:'Deprovisioned: the user left the source group (or the source tenant); the guest was removed from the host as the deprovision setting says.',
failed:'Failed: the last write for this guest failed; the next run tries again (see the last error).',
conflict:'Conflict: the address belongs to a host user guest-sync did not create and may not take over. Never touched; checked again each run.',
held:'Held: a host administrator disabled or deleted this guest. It is left as they set it until released with guest-sync guest release.'};
function $(id){return document.getElementById(id);}
function el(tag,text,cls){var e=document.createElement(tag);if(text!==undefined&&text!==null){e.textContent=String(text);}if(cls){e.className=cls;}return e;}
function clear(e){while(e.firstChild){e.removeChild(e.firstChild);}}
function when(t){return t?String(t).replace('T',' ').slice(0,16)+' UTC':'—';}
function key(g){return g.tenantId+':'+g.sourceUserId;}
function tname(id){return Object.prototype.hasOwnProperty.call(T,id)?T[id]:id;}
var S={q:'',tenant:'',state:'',guest:'',at:'',op:'',outcome:'',page:1};
function readHash(){
var h=location.hash.slice(1);
if(/^tenant-[0-9a-f-]{36}$/.test(h)){var d=$(h);if(d){d.open=true;}return;}
var p={};h.split('&').forEach(function(kv){var i=kv.indexOf('=');if(i>0){try{p[kv.slice(0,i)]=decodeURIComponent(kv.slice(i+1).replace(/\+/g,' '));}catch(e){}}});
S.q=p.q||'';S.tenant=p.tenant||'';S.state=p.state||'';S.guest=p.guest||'';
S.at=p['audit-tenant']||'';S.op=p.op||'';S.outcome=p.outcome||'';S.page=Math.max(1,parseInt(p.page,10)||1);
}
function writeHash(){
var parts=[];
[['q',S.q],['tenant',S.tenant],['state',S.state],['guest',S.guest],['audit-tenant',S.at],['op',S.op],['outcome',S.outcome],['page',S.page>1?String(S.page):'']].forEach(function(kv){if(kv[1]){parts.push(kv[0]+'='+encodeURIComponent(kv[1]));}});
history.replaceState(null,'',parts.length?'#'+parts.join('&'):location.pathname+location.search);
}
function matches(g,words){
if(S.tenant&&g.tenantId!==S.tenant){return false;}
if(S.state&&g.state!==S.state){return false;}
var hay=[g.name,g.sourceUpn,g.hostUpn||'',g.sourceMail||'',g.sourceUserId,g.hostUserId||'',g.state,tname(g.tenantId)].join(' ').toLowerCase();
for(var i=0;i<words.length;i++){if(hay.indexOf(words[i])<0){return false;}}
return true;
}
function search(){
var words=S.q.toLowerCase().split(/\s+/).filter(Boolean),found=[],n=0;
if(words.length||S.tenant||S.state){for(var i=0;i<G.length;i++){if(matches(G[i],words)){n++;if(found.length<MAXR){found.push(G[i]);}}}}
var c=$('search-count');c.textContent=String(n);c.setAttribute('data-value',String(n));
var ol=$('search-results');clear(ol);
found.forEach(function(g){
var li=el('li');li.setAttribute('data-testid','search-result');
var b=el('button',g.name,'linklike');b.type='button';b.setAttribute('data-guest',key(g));
b.addEventListener('click',function(){S.guest=key(g);writeHash();detail();$('guest-detail').scrollIntoView();});
li.appendChild(b);li.appendChild(el('span',g.state,'state st-'+g.state));li.appendChild(el('span',tname(g.tenantId),'id'));
if(g.hostUpn){li.appendChild(el('span',g.hostUpn,'id'));}
ol.appendChild(li);});
$('search-more').textContent=n>found.length?'Showing the first '+found.length+' of '+n+' matches: add words to narrow the search.':'';
}
// The detail view of one guest: what its record says. Kept in this one
// function so that an explanation of the guest can be added here.
function renderDetail(box,g){
box.setAttribute('data-guest',key(g));
var top=el('div','','detail-head');top.appendChild(el('h3',g.name));
var close=el('button','Close','linklike');close.type='button';close.id='detail-close';
close.addEventListener('click',function(){S.guest='';writeHash();detail();});top.appendChild(close);box.appendChild(top);
var dl=el('dl');
function row(k,v,id){dl.appendChild(el('dt',k));var dd=el('dd',(v===undefined||v===null||v==='')?'—':v);if(id){dd.setAttribute('data-testid','detail-'+id);}dl.appendChild(dd);return dd;}
row('State',g.state,'state');row('What it means',STATE[g.state]||'','meaning');
var td=row('Source tenant','');clear(td);var a=el('a',tname(g.tenantId));a.href='#tenant-'+g.tenantId;td.appendChild(a);
row('Source UPN',g.sourceUpn,'source-upn');row('Source mail',g.sourceMail);row('Source user id',g.sourceUserId,'source-id');
row('Host UPN',g.hostUpn,'host-upn');row('Host user id',g.hostUserId||'not created in the host (yet)','host-id');
row('Adopted',g.adopted?'yes: it already existed in the host and was taken over':'no','adopted');
row('Sponsors',(g.sponsors&&g.sponsors.length)?g.sponsors.join(', '):'none set by guest-sync','sponsors');row('Manager',g.manager||'none set by guest-sync','manager');
row('Created',when(g.createdAt));row('Redeemed',when(g.redeemedAt));row('Last synced',when(g.lastSyncedAt));
if(g.deprovisionedAt){row('Deprovisioned',when(g.deprovisionedAt));}
row('Last error',g.lastError||'none','last-error');
box.appendChild(dl);
if(g.why&&g.why.length){box.appendChild(el('h4','Why (as guest-sync explain says)'));var ul=el('ul');ul.id='detail-why';ul.setAttribute('data-testid','detail-why');g.why.forEach(function(w){ul.appendChild(el('li',w,'wrap'));});box.appendChild(ul);}
var acts=A.filter(function(x){return x.tenantId===g.tenantId&&(x.sourceUserId===g.sourceUserId||(g.hostUserId&&x.targetId===g.hostUserId));}).slice(0,10);
box.appendChild(el('h4','Last audit actions for this guest'));
if(!acts.length){box.appendChild(el('p','None among the audit entries on this page.','empty'));return;}
var sc=el('div','','scroll'),t=el('table'),tb=el('tbody');t.setAttribute('data-testid','detail-audit');
acts.forEach(function(x){var tr=el('tr');tr.appendChild(el('td',x.at.replace('T',' ').slice(0,19),'n'));tr.appendChild(el('td',x.operation));tr.appendChild(el('td',x.outcome,x.outcome==='failed'?'failed':''));tr.appendChild(el('td',x.detail||'','wrap'));tb.appendChild(tr);});
t.appendChild(tb);sc.appendChild(t);box.appendChild(sc);
}
function detail(){
var box=$('guest-detail'),g=null;clear(box);
for(var i=0;i<G.length;i++){if(key(G[i])===S.guest){g=G[i];break;}}
if(!g){box.hidden=true;box.removeAttribute('data-guest');return;}
box.hidden=false;renderDetail(box,g);
}
function audit(){
if(!AUDIT){return;}
var rows=A.filter(function(x){return(!S.at||x.tenantId===S.at)&&(!S.op||x.operation===S.op)&&(!S.outcome||x.outcome===S.outcome);});
var pages=Math.max(1,Math.ceil(rows.length/PAGE));if(S.page>pages){S.page=pages;}
$('audit-shown').textContent=String(rows.length);
var tb=document.querySelector('#audit-table tbody');clear(tb);
rows.slice((S.page-1)*PAGE,S.page*PAGE).forEach(function(x){
var tr=el('tr');tr.setAttribute('data-tenant',x.tenantId);tr.setAttribute('data-op',x.operation);tr.setAttribute('data-outcome',x.outcome);
tr.appendChild(el('td',x.at.replace('T',' ').slice(0,19),'n'));tr.appendChild(el('td',x.tenantName,'name'));
tr.appendChild(el('td',x.operation));tr.appendChild(el('td',x.outcome,x.outcome==='failed'?'failed':''));
var who=el('td',x.targetUpn||x.sourceUpn||x.targetId||'','wrap');
if(x.sourceUpn&&x.targetUpn){who.appendChild(el('br'));who.appendChild(el('span',x.sourceUpn,'id'));}
tr.appendChild(who);tr.appendChild(el('td',x.detail||'','wrap'));tb.appendChild(tr);});
var pg=$('audit-page');pg.textContent='Page '+S.page+' of '+pages;pg.setAttribute('data-page',String(S.page));pg.setAttribute('data-pages',String(pages));
$('audit-prev').disabled=S.page<=1;$('audit-next').disabled=S.page>=pages;
}
function pick(sel,v){if(!sel){return;}sel.value=v;if(sel.value!==v){sel.value='';}}
function apply(){
$('q').value=S.q;pick($('q-tenant'),S.tenant);pick($('q-state'),S.state);
pick($('audit-filter'),S.at);pick($('audit-op'),S.op);pick($('audit-outcome'),S.outcome);
search();detail();audit();
}
var AUDIT=!!$('audit-table');
['search-box','audit-filter-box','audit-pager'].forEach(function(id){if($(id)){$(id).hidden=false;}});
$('search-nojs').hidden=true;
$('q').addEventListener('input',function(){S.q=this.value;writeHash();search();});
$('q-tenant').addEventListener('change',function(){S.tenant=this.value;writeHash();search();});
$('q-state').addEventListener('change',function(){S.state=this.value;writeHash();search();});
if(AUDIT){
[['audit-filter','at'],['audit-op','op'],['audit-outcome','outcome']].forEach(function(p){$(p[0]).addEventListener('change',function(){S[p[1]]=this.value;S.page=1;writeHash();audit();});});
$('audit-prev').addEventListener('click',function(){S.page--;writeHash();audit();});
$('audit-next').addEventListener('click',function(){S.page++;writeHash();audit();});
}
window.addEventListener('hashchange',function(){readHash();apply();});
readHash();apply();
var d=document.documentElement;
document.body.setAttribute('data-overflow-x',d.scrollWidth>d.clientWidth?'yes':'no');
document.body.setAttribute('data-js','ready');
})();"#;

const CSS: &str = r#"
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;background:#f5f6f8}
header{background:#1f2937;color:#fff;padding:12px 20px}
header h1{margin:0;font-size:20px}
header p{margin:2px 0 0;color:#cbd5e1;font-size:13px}
nav{display:flex;flex-wrap:wrap;gap:4px 14px;margin-top:6px;font-size:13px}
nav a{color:#bfdbfe}
main{max-width:1280px;margin:0 auto;padding:12px 16px}
section{background:#fff;border:1px solid #e3e5e8;border-radius:6px;margin:12px 0;padding:12px 16px;min-width:0}
h2{font-size:16px;margin:0 0 8px}
h3{font-size:15px;margin:0;overflow-wrap:anywhere}
h4{font-size:13px;margin:10px 0 4px}
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
.att{list-style:none;margin:0;padding:0;max-height:70vh;overflow-y:auto}
.att li{border-left:4px solid #f9a825;padding:6px 10px;margin:6px 0;background:#fffbeb;overflow-wrap:anywhere}
.att li.sev-critical{border-color:#c62828;background:#fef2f2}
.att .sev{font-weight:600;text-transform:uppercase;font-size:11px;margin-right:6px}
.att summary{cursor:pointer;margin-top:4px;font-size:12px}
.att pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:4px 0 0;font-size:12px}
.ok{color:#2e7d32}.warning{color:#b45309}.expired,.failed{color:#c62828;font-weight:600}.unknown{color:#777}
.outcome-succeeded{color:#2e7d32}.outcome-partial{color:#b45309}.outcome-failed{color:#c62828;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:12px}
figure{margin:0;min-width:0}
.chart{max-width:100%;height:auto;display:block}
.empty{color:#777;font-style:italic}
.note{color:#555;font-size:12px}
.filters{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;margin:0 0 8px}
.filters>*{min-width:0;max-width:100%}
.filters input,.filters select{font:inherit;max-width:100%;min-width:0}
.filters select{width:auto;max-width:min(100%,22em)}
#q{width:24em;max-width:100%}
#search-results{list-style:none;margin:0;padding:0}
#search-results li{display:flex;flex-wrap:wrap;gap:2px 10px;align-items:baseline;padding:4px 0;border-bottom:1px solid #eee;overflow-wrap:anywhere;min-width:0}
#search-results li>*{min-width:0;overflow-wrap:anywhere}
.linklike{background:none;border:0;padding:0;font:inherit;color:#1d4ed8;text-decoration:underline;cursor:pointer;text-align:left;overflow-wrap:anywhere;max-width:100%}
.state{font-size:12px;border-radius:8px;padding:0 6px;background:#eef2f7}
.st-accepted{background:#dcfce7}.st-invited{background:#fef9c3}.st-failed,.st-conflict,.st-held{background:#fee2e2}
#guest-detail{border:1px solid #c7d2fe;background:#f8faff;border-radius:6px;padding:10px 12px;margin-top:10px;min-width:0}
.detail-head{display:flex;justify-content:space-between;gap:8px;align-items:baseline}
.detail-head h3{min-width:0}
#guest-detail dl{display:grid;grid-template-columns:minmax(8em,max-content) minmax(0,1fr);gap:2px 12px;margin:8px 0}
#guest-detail dt{color:#555}
#guest-detail dd{margin:0;overflow-wrap:anywhere;min-width:0}
details.tenant{border:1px solid #e3e5e8;border-radius:6px;margin:6px 0;padding:4px 10px;min-width:0}
details.tenant>summary{cursor:pointer;font-weight:600;overflow-wrap:anywhere}
details.tenant[open]{padding-bottom:10px}
.links{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:13px}
footer{color:#777;font-size:12px;text-align:center;padding:12px}
@media (max-width:600px){main{padding:6px}section{padding:8px}#guest-detail dl{grid-template-columns:minmax(0,1fr)}#guest-detail dd{margin-bottom:4px}}
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
fn num(testid: &str, n: u64) -> Markup {
    html! { span data-testid=(testid) data-value=(n) { (thousands(n)) } }
}

/// A redemption rate with its test id and raw value.
fn rate_span(testid: &str, r: Option<f64>) -> Markup {
    html! {
        span data-testid=(testid) data-value=(r.map(|r| r.to_string()).unwrap_or_default()) { (rate(r)) }
    }
}

/// What the script reads: tenant names by id, the listed guests, the audit
/// rows.
#[derive(Serialize)]
struct Island<'a> {
    tenants: BTreeMap<String, &'a str>,
    guests: &'a [GuestRow],
    audit: &'a [AuditRow],
}

/// The JSON island's text: JSON with `<`, `>` and `&` written as `\u003c`,
/// `\u003e`, `\u0026` (they only occur inside strings, where JSON allows
/// the escape), so `</script>` or `<!--` in a name cannot end or confuse
/// the element.
pub fn json_island(stats: &Statistics) -> String {
    let island = Island {
        tenants: stats
            .tenants
            .iter()
            .map(|t| (t.tenant_id.to_string(), t.display_name.as_str()))
            .collect(),
        guests: &stats.guests,
        audit: &stats.recent_audit,
    };
    serde_json::to_string(&island)
        .unwrap_or_else(|_| "{}".to_string())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Renders the whole dashboard page.
pub fn render_html(stats: &Statistics) -> String {
    let generated = stats.generated_at.format("%Y-%m-%d %H:%M UTC").to_string();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width,initial-scale=1";
                meta http-equiv="Content-Security-Policy" content=(csp());
                meta name="referrer" content="no-referrer";
                link rel="icon" href="data:,";
                title { "guest-sync report" }
                style { (PreEscaped(CSS)) }
            }
            body data-schema-version=(stats.schema_version) {
                header {
                    h1 { "guest-sync report" }
                    p { "Generated " time data-testid="generated-at" datetime=(stats.generated_at.to_rfc3339()) { (generated) } }
                    nav {
                        a href="#attention" { "Attention" }
                        a href="#totals" { "Totals" }
                        a href="#charts" { "Charts" }
                        a href="#tenants" { "Tenants" }
                        a href="#guests" { "Find a guest" }
                        a href="#audit" { "Audit trail" }
                    }
                }
                main {
                    (attention_section(stats))
                    (totals_section(stats))
                    (charts_section(stats))
                    (tenants_section(&stats.tenants))
                    (guests_section(stats))
                    (tenant_details_section(stats))
                    (audit_section(stats))
                }
                footer { "guest-sync · statistics schema version " (stats.schema_version) }
                script type="application/json" id="data" { (PreEscaped(json_island(stats))) }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    let mut o = page.into_string();
    o.push('\n');
    o
}

/// Source UPNs of the listed guests, by tenant and source user id.
fn upns(stats: &Statistics) -> HashMap<(Guid, Guid), &str> {
    stats
        .guests
        .iter()
        .map(|g| {
            (
                (g.tenant_id, g.guest.source_user_id),
                g.guest.source_upn.as_str(),
            )
        })
        .collect()
}

/// The attention items as a list. The main list (`primary`) carries the
/// items' test ids and kinds; a tenant's drill-down repeats its items
/// without them, so each item is counted once in the DOM.
fn attention_list(
    items: &[&AttentionItem],
    upns: &HashMap<(Guid, Guid), &str>,
    primary: bool,
) -> Markup {
    html! {
        ul.att {
            @for a in items {
                @let sev = match a.severity { Severity::Critical => "critical", Severity::Warning => "warning" };
                li class=(format!("sev-{sev}")) data-testid=[primary.then_some("attention-item")] data-kind=[primary.then(|| a.kind.as_str())] data-tenant=[primary.then_some(a.tenant_id)] {
                    span.sev { (sev) }
                    strong { (a.tenant_name) } ": " (a.message)
                    @if let Some(at) = a.at { " " span.id { (at.format("%Y-%m-%d %H:%M UTC")) } }
                    @if let Some(run) = a.run_id { " " span.id { "run " (run) } }
                    @if let Some(e) = &a.error { pre { (e) } }
                    @if !a.guests.is_empty() {
                        @let more = a.count.unwrap_or(0).saturating_sub(a.guests.len() as u64);
                        details {
                            summary { @if more > 0 { "The first " (a.guests.len()) } @else { "All" } }
                            div.scroll { table {
                                thead { tr { th { "guest (source UPN)" } th { "source user id" } th { "last error" } } }
                                tbody {
                                    @for g in &a.guests {
                                        tr {
                                            td.wrap {
                                                @if let Some(u) = upns.get(&(a.tenant_id, g.source_user_id)) {
                                                    a href=(format!("#guest={}:{}", a.tenant_id, g.source_user_id)) { (u) }
                                                }
                                            }
                                            td.id { (g.source_user_id) }
                                            td.wrap { (g.last_error.as_deref().unwrap_or("")) }
                                        }
                                    }
                                }
                            } }
                        }
                        @if more > 0 { p { "… and " (more) " more." } }
                    }
                }
            }
        }
    }
}

fn attention_section(stats: &Statistics) -> Markup {
    let items: Vec<&AttentionItem> = stats.attention.iter().collect();
    let n = items.len();
    html! {
        section #attention {
            h2 { "Needs attention (" span data-testid="attention-count" data-value=(n) { (n) } ")" }
            @if items.is_empty() {
                p.empty { "Nothing needs attention." }
            } @else {
                (attention_list(&items, &upns(stats), true))
            }
        }
    }
}

fn totals_section(stats: &Statistics) -> Markup {
    let t = &stats.totals;
    let g = &t.guests;
    let cards: [(&str, Markup); 10] = [
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
            rate_span("total-redemption-rate", g.redemption_rate),
        ),
        ("Disabled", num("total-disabled", g.disabled)),
        ("Deprovisioned", num("total-deprovisioned", g.deprovisioned)),
        ("Adopted", num("total-adopted", g.adopted)),
        ("Failed", num("total-failed", g.failed)),
    ];
    html! {
        section #totals {
            h2 { "Totals" }
            div.cards {
                @for (label, value) in cards {
                    div.card { div.label { (label) } div.num { (value) } }
                }
            }
        }
    }
}

fn charts_section(stats: &Statistics) -> Markup {
    html! {
        section #charts {
            h2 { "Charts" }
            figure {
                figcaption { "Managed guests over time (all tenants)" }
                (svg::managed_chart("chart-managed", &stats.managed_over_time))
            }
            div.charts style="margin-top:12px" {
                figure { figcaption { "Redemption over time" } (svg::redemption_chart(&stats.redemption_over_time)) }
                figure { figcaption { "Changes per reconcile run" } (svg::runs_chart(&stats.runs_over_time)) }
            }
            figure style="margin-top:12px" {
                figcaption { "Managed guests per tenant" }
                (svg::tenant_size_chart(&stats.tenants))
            }
        }
    }
}

fn last_run_cell(tid: &str, job: Job, r: Option<&LastRun>) -> Markup {
    let testid = format!("tenant-{tid}-last-{job}");
    match r {
        None => html! { td data-testid=(testid) data-outcome="" { "—" } },
        Some(r) => {
            let outcome = if r.parked {
                "parked"
            } else {
                r.outcome.as_str()
            };
            html! {
                td data-testid=(testid) data-outcome=(outcome) {
                    span class=(format!("outcome-{}", r.outcome.as_str())) { (outcome) }
                    @if r.dry_run { " (dry run)" }
                    br;
                    span.id { (r.started_at.format("%Y-%m-%d %H:%M")) }
                    @if let Some(e) = &r.error { br; span.wrap { (svg::short(e, 120)) } }
                }
            }
        }
    }
}

fn secret_text(t: &TenantStats) -> String {
    match (t.secret.level, t.secret.days_left) {
        (SecretLevel::None, _) => "none (secretless)".to_string(),
        (SecretLevel::Unknown, _) | (_, None) => "not checked yet".to_string(),
        (SecretLevel::Expired, Some(_)) => "expired".to_string(),
        (_, Some(d)) => format!("{d} days left"),
    }
}

/// The host's automatic redemption for a tenant: on, off or unknown, as
/// last read (`data-value`), with inbound B2B blocked flagged.
fn auto_redeem_span(t: &TenantStats) -> Markup {
    let tid = t.tenant_id;
    let v = t
        .cross_tenant
        .as_ref()
        .map(|c| c.automatic_redemption.as_str())
        .unwrap_or("unknown");
    let class = match v {
        "on" => "ok",
        "off" => "warning",
        _ => "unknown",
    };
    let blocked = t
        .cross_tenant
        .as_ref()
        .is_some_and(|c| c.inbound_b2b == crate::domain::InboundB2b::Blocked);
    html! {
        span class=(class) data-testid=(format!("tenant-{tid}-auto-redeem")) data-value=(v) { (v) }
        @if blocked { br; span.failed data-testid=(format!("tenant-{tid}-b2b-blocked")) { "inbound B2B blocked" } }
    }
}

/// Under a tenant's cards: what its cross-tenant settings mean, with the
/// fix when automatic redemption is not on.
fn cross_tenant_note(t: &TenantStats) -> Markup {
    let tid = t.tenant_id;
    html! {
        @match &t.cross_tenant {
            Some(c) => {
                p.note data-testid=(format!("tenant-{tid}-cross-tenant")) {
                    (c.summary()) "; checked " (c.checked_at.format("%Y-%m-%d %H:%M")) " UTC."
                }
                @if let Some(h) = c.hint() {
                    p.note data-testid=(format!("tenant-{tid}-auto-redeem-hint")) { "Hint: " (h) "." }
                }
            }
            None => {
                p.note data-testid=(format!("tenant-{tid}-auto-redeem-hint")) {
                    "Hint: the host's cross-tenant access settings for this tenant have not been read yet ("
                    code { "guest-sync tenant test" } " or the daily check reads them)."
                }
            }
        }
    }
}

fn tenants_section(tenants: &[TenantStats]) -> Markup {
    html! {
        section #tenants {
            h2 { "Source tenants" }
            @if tenants.is_empty() {
                p.empty { "No source tenant is registered yet. Add one with " code { "guest-sync tenant add" } "." }
            } @else {
                div.scroll { table #tenant-table {
                    thead { tr {
                        th { "Tenant" } th { "Enabled" } th.n { "Managed" } th.n { "Invited" } th.n { "Accepted" }
                        th.n { "Redemption" } th.n { "Disabled" } th.n { "Deprovisioned" } th.n { "Adopted" }
                        th.n { "Failed" } th { "Secret" } th { "Auto-redeem" } th { "Last reconcile" } th { "Last photos" } th { "Last redemption" }
                    } }
                    tbody {
                        @for t in tenants {
                            @let tid = t.tenant_id.to_string();
                            @let g = &t.guests;
                            tr data-testid="tenant-row" data-tenant-id=(tid) {
                                td.name {
                                    a href=(format!("#tenant-{tid}")) { span data-testid=(format!("tenant-{tid}-name")) { (t.display_name) } }
                                    br; span.id { (tid) }
                                    @if t.guard_pending { br; span.failed { "guard tripped" } }
                                }
                                td data-testid=(format!("tenant-{tid}-enabled")) { @if t.enabled { "yes" } @else { "no" } }
                                @for (field, v) in [("managed", g.managed), ("invited", g.invited), ("accepted", g.accepted)] {
                                    td.n { (num(&format!("tenant-{tid}-{field}"), v)) }
                                }
                                td.n { (rate_span(&format!("tenant-{tid}-redemption-rate"), g.redemption_rate)) }
                                @for (field, v) in [("disabled", g.disabled), ("deprovisioned", g.deprovisioned), ("adopted", g.adopted), ("failed", g.failed)] {
                                    td.n { (num(&format!("tenant-{tid}-{field}"), v)) }
                                }
                                td {
                                    span class=(t.secret.level.as_str()) data-testid=(format!("tenant-{tid}-secret-days"))
                                        data-value=(t.secret.days_left.map(|d| d.to_string()).unwrap_or_default())
                                        data-level=(t.secret.level.as_str()) { (secret_text(t)) }
                                }
                                td { (auto_redeem_span(t)) }
                                @for job in Job::ALL {
                                    (last_run_cell(&tid, job, t.last_runs.iter().find(|r| r.job == job)))
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn guests_section(stats: &Statistics) -> Markup {
    let total: u64 = stats
        .tenants
        .iter()
        .map(|t| {
            let g = &t.guests;
            g.managed + g.deprovisioned + g.conflicts
        })
        .sum();
    html! {
        section #guests {
            h2 { "Find a guest" }
            p.note {
                span data-testid="guests-listed" data-value=(stats.guests.len()) { (thousands(stats.guests.len() as u64)) }
                " guest records can be searched"
                @if stats.guests_truncated {
                    " (of " (thousands(total)) "; the dashboard lists at most " (thousands(GUEST_LIST_CAP as u64))
                    ": use " code { "guest-sync guest show" } " for the others)"
                }
                "."
            }
            p #search-nojs.empty { "The search and the guest detail view need JavaScript; the summary above does not." }
            div #search-box.filters hidden {
                input #q type="search" placeholder="Part of a name, UPN or object id" aria-label="Search guests" autocomplete="off";
                label { "Tenant " select #q-tenant {
                    option value="" { "all tenants" }
                    @for t in &stats.tenants { option value=(t.tenant_id) { (svg::short(&t.display_name, 60)) } }
                } }
                label { "State " select #q-state {
                    option value="" { "any state" }
                    @for s in GuestState::ALL { option value=(s.as_str()) { (s.as_str()) } }
                } }
                span { span #search-count data-testid="search-count" data-value="0" { "0" } " found" }
            }
            ol #search-results {}
            p #search-more.note {}
            div #guest-detail data-testid="guest-detail" hidden {}
        }
    }
}

fn runs_table(t: &TenantStats) -> Markup {
    html! {
        @if t.last_runs.is_empty() {
            p.empty { "No run yet." }
        } @else {
            div.scroll { table {
                thead { tr { th { "Job" } th { "Outcome" } th { "Started (UTC)" } th.n { "Created" } th.n { "Updated" } th.n { "Deprovisioned" } th.n { "Photos" } th.n { "Redeemed" } th.n { "Failed" } th { "Error" } } }
                tbody {
                    @for r in &t.last_runs {
                        tr {
                            td { (r.job) }
                            td class=(format!("outcome-{}", r.outcome.as_str())) { @if r.parked { "parked" } @else { (r.outcome.as_str()) } @if r.dry_run { " (dry run)" } }
                            td.n { (r.started_at.format("%Y-%m-%d %H:%M")) }
                            td.n { (r.counts.created) } td.n { (r.counts.updated) } td.n { (r.counts.deprovisioned) }
                            td.n { (r.counts.photos_copied) } td.n { (r.counts.redeemed) } td.n { (r.counts.failed) }
                            td.wrap { (r.error.as_deref().map(|e| svg::short(e, 200)).unwrap_or_default()) }
                        }
                    }
                }
            } }
        }
    }
}

fn tenant_details_section(stats: &Statistics) -> Markup {
    let upns = upns(stats);
    html! {
        @if !stats.tenants.is_empty() {
            section #tenant-details {
                h2 { "Tenants in detail" }
                @for t in &stats.tenants {
                    @let tid = t.tenant_id.to_string();
                    @let g = &t.guests;
                    @let items: Vec<&AttentionItem> = stats.attention.iter().filter(|a| a.tenant_id == t.tenant_id).collect();
                    details.tenant id=(format!("tenant-{tid}")) data-testid="tenant-detail" {
                        summary { (t.display_name) " · " (thousands(g.managed)) " managed"
                            @if !items.is_empty() { " · " span.failed { (items.len()) " need attention" } } }
                        p.id { (tid) }
                        div.cards {
                            @for (label, v) in [("Managed", g.managed), ("Invited", g.invited), ("Accepted", g.accepted), ("Disabled", g.disabled), ("Deprovisioned", g.deprovisioned), ("Adopted", g.adopted), ("Failed", g.failed), ("Conflicts", g.conflicts), ("Held", g.held)] {
                                div.card { div.label { (label) } div.num { (thousands(v)) } }
                            }
                            div.card { div.label { "Redemption" } div.num { (rate(g.redemption_rate)) } }
                            div.card { div.label { "Secret" } div.num { span class=(t.secret.level.as_str()) { (secret_text(t)) } } }
                            div.card { div.label { "Automatic redemption" } div.num { (auto_redeem_span(t)) } }
                        }
                        (cross_tenant_note(t))
                        div.links {
                            a href=(format!("#tenant={tid}")) { "Search this tenant's guests" }
                            a href=(format!("#audit-tenant={tid}")) { "This tenant's audit trail" }
                        }
                        h4 { "Managed guests over time" }
                        (svg::managed_chart(&format!("chart-managed-{tid}"), &t.managed_over_time))
                        h4 { "Last runs" }
                        (runs_table(t))
                        h4 { "Needs attention" }
                        @if items.is_empty() { p.empty { "Nothing." } } @else { (attention_list(&items, &upns, false)) }
                    }
                }
            }
        }
    }
}

fn audit_section(stats: &Statistics) -> Markup {
    let rows = &stats.recent_audit;
    let n = rows.len();
    // Tenants, operations and outcomes present in the rows, in first-seen order.
    let mut tenants: Vec<(Guid, &str)> = Vec::new();
    let mut ops: Vec<&str> = Vec::new();
    let mut outcomes: Vec<&str> = Vec::new();
    for r in rows {
        if !tenants.iter().any(|(id, _)| *id == r.tenant_id) {
            tenants.push((r.tenant_id, r.tenant_name.as_str()));
        }
        if !ops.contains(&r.operation.as_str()) {
            ops.push(&r.operation);
        }
        if !outcomes.contains(&r.outcome.as_str()) {
            outcomes.push(&r.outcome);
        }
    }
    ops.sort_unstable();
    outcomes.sort_unstable();
    html! {
        section #audit {
            h2 { "Audit trail (" span #audit-shown data-testid="audit-shown" { (n) } " of " span data-testid="audit-count" data-value=(n) { (n) } ")" }
            @if rows.is_empty() {
                p.empty { "No write has been made in Graph yet." }
            } @else {
                div #audit-filter-box.filters hidden {
                    label { "Tenant " select #audit-filter {
                        option value="" { "all tenants" }
                        @for (id, name) in &tenants { option value=(id) { (svg::short(name, 60)) } }
                    } }
                    label { "Operation " select #audit-op {
                        option value="" { "all" }
                        @for op in &ops { option value=(op) { (op) } }
                    } }
                    label { "Outcome " select #audit-outcome {
                        option value="" { "all" }
                        @for oc in &outcomes { option value=(oc) { (oc) } }
                    } }
                }
                div.scroll { table #audit-table {
                    thead { tr { th { "Time (UTC)" } th { "Tenant" } th { "Operation" } th { "Outcome" } th { "Guest (host UPN, source UPN)" } th { "Detail" } } }
                    tbody {
                        @for r in rows.iter().take(AUDIT_PAGE) {
                            tr data-tenant=(r.tenant_id) data-op=(r.operation) data-outcome=(r.outcome) {
                                td.n { (r.at.format("%Y-%m-%d %H:%M:%S")) }
                                td.name { (r.tenant_name) }
                                td { (r.operation) }
                                td class=(if r.outcome == "failed" { "failed" } else { "" }) { (r.outcome) }
                                td.wrap {
                                    (r.target_upn.clone().or_else(|| r.source_upn.clone()).or_else(|| r.target_id.map(|i| i.to_string())).unwrap_or_default())
                                    @if let (Some(s), Some(_)) = (&r.source_upn, &r.target_upn) { br; span.id { (s) } }
                                }
                                td.wrap { (r.detail.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                } }
                div #audit-pager.filters hidden {
                    button #audit-prev type="button" { "‹ Newer" }
                    span #audit-page data-testid="audit-page" { "Page 1" }
                    button #audit-next type="button" { "Older ›" }
                }
                @if n > AUDIT_PAGE {
                    p #audit-nojs-note.note { "Without JavaScript the newest " (AUDIT_PAGE) " entries are shown." }
                }
                p.note { "The newest " (thousands(super::stats::DEFAULT_AUDIT_WINDOW as u64)) " entries at most are loaded; older ones stay in the store until retention removes them." }
            }
        }
    }
}
