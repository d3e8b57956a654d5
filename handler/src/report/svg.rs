//! The dashboard's charts, drawn server-side as inline SVG (no script, no
//! external resources). Every text that comes from data is escaped; the
//! charts scale to their container through `viewBox`.
use std::fmt::Write as _;

use super::html::esc;
use super::stats::{RedemptionPoint, RunPoint, TenantStats};
use crate::domain::Job;

/// Chart colours, one per series across all charts.
const C_CREATED: &str = "#2e7d32";
const C_UPDATED: &str = "#1565c0";
const C_DEPROVISIONED: &str = "#c62828";
const C_ACCEPTED: &str = "#2e7d32";
const C_INVITED: &str = "#f9a825";
const C_DISABLED: &str = "#757575";
const C_FAILED: &str = "#c62828";
const C_LINE: &str = "#1565c0";
const C_GRID: &str = "#ddd";
const C_TEXT: &str = "#333";

const W: f64 = 720.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 28.0;

/// Opens an `<svg>` scaled to its container, with an accessible title.
fn open(out: &mut String, id: &str, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" width="{W}" height="{h}" viewBox="0 0 {W} {h}" preserveAspectRatio="xMinYMin meet" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
}

/// A legend row at the top of a chart.
fn legend(out: &mut String, items: &[(&str, &str)]) {
    let mut x = LEFT;
    for (label, colour) in items {
        let _ = write!(
            out,
            r#"<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/><text x="{tx}" y="16" font-size="12" fill="{C_TEXT}">{l}</text>"#,
            tx = x + 16.0,
            l = esc(label)
        );
        x += 24.0 + 7.0 * label.len() as f64;
    }
}

/// Horizontal grid lines at 0, max/2 and max with their values.
fn y_grid(out: &mut String, h: f64, max: u64) {
    let plot_h = h - TOP - BOTTOM;
    for (frac, v) in [(0.0, 0), (0.5, max / 2), (1.0, max)] {
        if frac == 0.5 && max < 2 {
            continue;
        }
        let y = TOP + plot_h * (1.0 - frac);
        let _ = write!(
            out,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="{C_GRID}"/><text x="{tx}" y="{ty:.1}" font-size="11" text-anchor="end" fill="{C_TEXT}">{v}</text>"#,
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 4.0
        );
    }
}

/// First and last x labels under the plot.
fn x_labels(out: &mut String, h: f64, first: &str, last: &str) {
    let y = h - 8.0;
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="{y}" font-size="11" fill="{C_TEXT}">{f}</text>"#,
        f = esc(first)
    );
    if last != first {
        let _ = write!(
            out,
            r#"<text x="{x}" y="{y}" font-size="11" text-anchor="end" fill="{C_TEXT}">{l}</text>"#,
            x = W - RIGHT,
            l = esc(last)
        );
    }
}

/// Invitations accepted per day (bars) and in total (line).
pub fn redemption_chart(points: &[RedemptionPoint]) -> String {
    if points.is_empty() {
        return r#"<p class="empty" id="chart-redemption-empty">No invitation has been accepted yet.</p>"#.to_string();
    }
    let h = 240.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let max_cum = points.last().map(|p| p.cumulative).unwrap_or(0).max(1);
    let n = points.len() as f64;
    let slot = plot_w / n;
    let mut out = String::new();
    open(
        &mut out,
        "chart-redemption",
        h,
        "Invitations accepted per day and in total",
    );
    legend(
        &mut out,
        &[
            ("accepted that day", C_ACCEPTED),
            ("accepted in total", C_LINE),
        ],
    );
    y_grid(&mut out, h, max_cum);
    let mut line = String::new();
    for (i, p) in points.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        // Daily bars and the running total share one axis, so heights compare.
        let bh = plot_h * p.accepted as f64 / max_cum as f64;
        let _ = write!(
            out,
            r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{bh:.2}" fill="{C_ACCEPTED}" opacity="0.6"><title>{d}: {a} accepted</title></rect>"#,
            y = TOP + plot_h - bh,
            w = (slot * 0.8).max(0.5),
            d = p.date,
            a = p.accepted
        );
        let cy = TOP + plot_h * (1.0 - p.cumulative as f64 / max_cum as f64);
        let _ = write!(line, "{:.2},{:.2} ", x + slot * 0.4, cy);
    }
    let _ = write!(
        out,
        r#"<polyline points="{}" fill="none" stroke="{C_LINE}" stroke-width="2"/>"#,
        line.trim_end()
    );
    let first = points
        .first()
        .map(|p| p.date.to_string())
        .unwrap_or_default();
    let last = points
        .last()
        .map(|p| p.date.to_string())
        .unwrap_or_default();
    x_labels(&mut out, h, &first, &last);
    out.push_str("</svg>");
    out
}

/// Guests created, updated and deprovisioned per reconcile run (stacked).
pub fn runs_chart(points: &[RunPoint]) -> String {
    let runs: Vec<&RunPoint> = points.iter().filter(|p| p.job == Job::Reconcile).collect();
    if runs.is_empty() {
        return r#"<p class="empty" id="chart-runs-empty">No reconcile run yet.</p>"#.to_string();
    }
    let h = 240.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let max = runs
        .iter()
        .map(|p| p.created + p.updated + p.deprovisioned)
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = plot_w / runs.len() as f64;
    let mut out = String::new();
    open(
        &mut out,
        "chart-runs",
        h,
        "Guests created, updated and deprovisioned per reconcile run",
    );
    legend(
        &mut out,
        &[
            ("created", C_CREATED),
            ("updated", C_UPDATED),
            ("deprovisioned", C_DEPROVISIONED),
        ],
    );
    y_grid(&mut out, h, max);
    for (i, p) in runs.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let mut base = TOP + plot_h;
        for (v, colour, what) in [
            (p.created, C_CREATED, "created"),
            (p.updated, C_UPDATED, "updated"),
            (p.deprovisioned, C_DEPROVISIONED, "deprovisioned"),
        ] {
            if v == 0 {
                continue;
            }
            let bh = plot_h * v as f64 / max as f64;
            base -= bh;
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{base:.2}" width="{w:.2}" height="{bh:.2}" fill="{colour}"><title>{at}: {v} {what}</title></rect>"#,
                w = (slot * 0.8).max(0.5),
                at = p.started_at.format("%Y-%m-%d %H:%M UTC"),
            );
        }
    }
    let fmt = |p: Option<&&RunPoint>| {
        p.map(|p| p.started_at.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    x_labels(&mut out, h, &fmt(runs.first()), &fmt(runs.last()));
    out.push_str("</svg>");
    out
}

/// Cuts a label to `max` characters, adding an ellipsis.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Managed guests per tenant, split by state (horizontal stacked bars).
pub fn tenant_size_chart(tenants: &[TenantStats]) -> String {
    if tenants.is_empty() {
        return r#"<p class="empty" id="chart-tenants-empty">No source tenant registered.</p>"#
            .to_string();
    }
    let label_w = 200.0;
    let row = 22.0;
    let h = TOP + row * tenants.len() as f64 + 8.0;
    let plot_w = W - label_w - RIGHT - 60.0;
    let max = tenants
        .iter()
        .map(|t| t.guests.managed)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut out = String::new();
    open(
        &mut out,
        "chart-tenants",
        h,
        "Managed guests per source tenant",
    );
    legend(
        &mut out,
        &[
            ("accepted", C_ACCEPTED),
            ("invited", C_INVITED),
            ("disabled", C_DISABLED),
            ("failed", C_FAILED),
        ],
    );
    for (i, t) in tenants.iter().enumerate() {
        let y = TOP + row * i as f64;
        let _ = write!(
            out,
            r#"<text x="{lx}" y="{ty:.1}" font-size="12" text-anchor="end" fill="{C_TEXT}"><title>{full}</title>{name}</text>"#,
            lx = label_w - 6.0,
            ty = y + 15.0,
            full = esc(&t.display_name),
            name = esc(&short(&t.display_name, 26)),
        );
        let mut x = label_w;
        let g = &t.guests;
        // `managed` also counts adopted guests; the four states partition it.
        for (v, colour, what) in [
            (g.accepted, C_ACCEPTED, "accepted"),
            (g.invited, C_INVITED, "invited"),
            (g.disabled, C_DISABLED, "disabled"),
            (g.failed, C_FAILED, "failed"),
        ] {
            if v == 0 {
                continue;
            }
            let w = plot_w * v as f64 / max as f64;
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{ry:.1}" width="{w:.2}" height="16" fill="{colour}"><title>{v} {what}</title></rect>"#,
                ry = y + 3.0,
            );
            x += w;
        }
        let _ = write!(
            out,
            r#"<text x="{tx:.2}" y="{ty:.1}" font-size="11" fill="{C_TEXT}">{m}</text>"#,
            tx = x + 4.0,
            ty = y + 15.0,
            m = g.managed
        );
    }
    out.push_str("</svg>");
    out
}
