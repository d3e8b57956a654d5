//! Reporting: the statistics ([`Statistics`], stable JSON documented in
//! `docs/report.md`), the self-contained HTML dashboard ([`render_html`]),
//! the terminal table ([`render_table`]) and the HTTP content negotiation
//! the `report` function uses ([`respond`]).
//!
//! - [`stats`]: computing the statistics (pure) and loading them from a store.
//! - [`explain`]: why one user is (or is not) a guest, from the store
//!   (`guest-sync explain`; [`explain::reasons`] is pure).
//! - [`csv`]: the CSV exports of guests and audit, safe against formula
//!   injection (`guest-sync report --csv`).
//! - [`html`]: the dashboard page.
//! - [`svg`]: its inline SVG charts.
//! - [`table`]: the plain-text summary.
pub mod csv;
pub mod explain;
pub mod html;
pub mod stats;
pub mod svg;
pub mod table;

pub use html::{csp as html_csp, render_html};
pub use stats::{
    AttentionItem, AttentionKind, AuditRow, FailedGuest, GuestCounts, GuestRow, GuestTally,
    LastRun, ManagedPoint, RedemptionPoint, RunPoint, SecretLevel, SecretStatus, Severity,
    Statistics, TenantStats, Totals, GUEST_LIST_CAP, QUARANTINE_OPERATION, SCHEMA_VERSION,
};
pub use table::render_table;

/// Content type of the dashboard.
pub const HTML: &str = "text/html; charset=utf-8";
/// Content type of the statistics.
pub const JSON: &str = "application/json";
/// Content type of error messages.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// The representation a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
}

/// Why a request's format could not be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown format {0:?}: expected format=html or format=json")]
    Unknown(String),
}

/// The `q` of a media range parameter list (`;q=0.8`), 1 when absent.
fn quality(params: &str) -> f32 {
    params
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("q="))
        .filter_map(|q| q.trim().parse::<f32>().ok())
        .next()
        .unwrap_or(1.0)
}

/// Chooses the format: `?format=` wins; otherwise HTML when the `Accept`
/// header rates `text/html` above `application/json`, else JSON.
pub fn negotiate(accept: Option<&str>, format_query: Option<&str>) -> Result<Format, FormatError> {
    if let Some(f) = format_query {
        return match f.trim().to_ascii_lowercase().as_str() {
            "html" => Ok(Format::Html),
            "json" => Ok(Format::Json),
            _ => Err(FormatError::Unknown(f.to_string())),
        };
    }
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for range in accept.unwrap_or("").split(',') {
        let (media, params) = range.split_once(';').unwrap_or((range, ""));
        let q = quality(params);
        match media.trim().to_ascii_lowercase().as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            _ => {}
        }
    }
    Ok(if html > 0.0 && html > json {
        Format::Html
    } else {
        Format::Json
    })
}

/// The `report` function's answer: `(status, content type, body)`. HTML for
/// `?format=html` or a browser's `Accept: text/html`, JSON otherwise; an
/// unknown `format` is a 400 naming it.
pub fn respond(
    stats: &Statistics,
    accept: Option<&str>,
    format_query: Option<&str>,
) -> (u16, &'static str, String) {
    match negotiate(accept, format_query) {
        Ok(Format::Html) => (200, HTML, render_html(stats)),
        Ok(Format::Json) => match serde_json::to_string(stats) {
            Ok(body) => (200, JSON, body),
            Err(e) => {
                tracing::error!(error = %e, "statistics could not be serialized");
                (500, TEXT, "statistics could not be serialized".to_string())
            }
        },
        Err(e) => (400, TEXT, e.to_string()),
    }
}
