//! The dashboard's charts, drawn server-side as inline SVG (no script, no
//! external resources) with the maud templates of the page, so every text
//! that comes from data is escaped by construction; the charts scale to
//! their container through `viewBox`.
use maud::{html, Markup};

use super::stats::{ManagedPoint, RedemptionPoint, RunPoint, TenantStats};
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

/// Segments a stacked bar has at most.
const N_STACK: usize = 4;

const W: f64 = 720.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 28.0;

/// An `<svg>` scaled to its container, with an accessible title, around `body`.
fn svg(id: &str, h: f64, title: &str, body: Markup) -> Markup {
    html! {
        svg id=(id) class="chart" width=(W) height=(h) viewBox=(format!("0 0 {W} {h}"))
            preserveAspectRatio="xMinYMin meet" role="img" aria-label=(title)
            xmlns="http://www.w3.org/2000/svg" {
            title { (title) }
            (body)
        }
    }
}

/// Two decimals for coordinates.
fn f2(v: f64) -> String {
    format!("{v:.2}")
}

/// A legend row at the top of a chart.
fn legend(items: &[(&str, &str)]) -> Markup {
    let mut x = LEFT;
    let placed: Vec<(f64, &str, &str)> = items
        .iter()
        .map(|(label, colour)| {
            let at = x;
            x += 24.0 + 7.0 * label.len() as f64;
            (at, *label, *colour)
        })
        .collect();
    html! {
        @for (x, label, colour) in placed {
            rect x=(x) y="6" width="12" height="12" fill=(colour) {}
            text x=(x + 16.0) y="16" font-size="12" fill=(C_TEXT) { (label) }
        }
    }
}

/// One segment of a stacked bar: `(offset, length, value, colour, what)`.
type Segment<'a> = (f64, f64, u64, &'a str, &'a str);

/// Stacks `(value, colour, what)` segments end to end from `start`, scaled
/// by `scale` per unit, skipping zeros; also returns where the bar ends.
fn stack<'a>(
    start: f64,
    scale: f64,
    parts: [(u64, &'a str, &'a str); N_STACK],
) -> (Vec<Segment<'a>>, f64) {
    let mut at = start;
    let mut out = Vec::new();
    for (v, colour, what) in parts {
        if v == 0 {
            continue;
        }
        let len = scale * v as f64;
        out.push((at, len, v, colour, what));
        at += len;
    }
    (out, at)
}

/// Horizontal grid lines at 0, max/2 and max with their values.
fn y_grid(h: f64, max: u64) -> Markup {
    let plot_h = h - TOP - BOTTOM;
    html! {
        @for (frac, v) in [(0.0, 0), (0.5, max / 2), (1.0, max)] {
            @if !(frac == 0.5 && max < 2) {
                @let y = TOP + plot_h * (1.0 - frac);
                line x1=(LEFT) y1=(format!("{y:.1}")) x2=(W - RIGHT) y2=(format!("{y:.1}")) stroke=(C_GRID) {}
                text x=(LEFT - 4.0) y=(format!("{:.1}", y + 4.0)) font-size="11" text-anchor="end" fill=(C_TEXT) { (v) }
            }
        }
    }
}

/// The first and last dates of a daily series, for the x-axis labels
/// (empty when there is no point).
fn date_span<T>(points: &[T], date: impl Fn(&T) -> chrono::NaiveDate) -> (String, String) {
    let label = |p: Option<&T>| p.map(|p| date(p).to_string()).unwrap_or_default();
    (label(points.first()), label(points.last()))
}

/// First and last x labels under the plot.
fn x_labels(h: f64, first: &str, last: &str) -> Markup {
    let y = h - 8.0;
    html! {
        text x=(LEFT) y=(y) font-size="11" fill=(C_TEXT) { (first) }
        @if last != first {
            text x=(W - RIGHT) y=(y) font-size="11" text-anchor="end" fill=(C_TEXT) { (last) }
        }
    }
}

/// Invitations accepted per day (bars) and in total (line).
pub fn redemption_chart(points: &[RedemptionPoint]) -> Markup {
    if points.is_empty() {
        return html! { p.empty #chart-redemption-empty { "No invitation has been accepted yet." } };
    }
    let h = 240.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let max_cum = points.last().map(|p| p.cumulative).unwrap_or(0).max(1);
    let slot = plot_w / points.len() as f64;
    let mut line = String::new();
    for (i, p) in points.iter().enumerate() {
        let cy = TOP + plot_h * (1.0 - p.cumulative as f64 / max_cum as f64);
        line.push_str(&format!(
            "{:.2},{:.2} ",
            LEFT + slot * i as f64 + slot * 0.4,
            cy
        ));
    }
    let (first, last) = date_span(points, |p| p.date);
    let body = html! {
        (legend(&[("accepted that day", C_ACCEPTED), ("accepted in total", C_LINE)]))
        (y_grid(h, max_cum))
        @for (i, p) in points.iter().enumerate() {
            // Daily bars and the running total share one axis, so heights compare.
            @let bh = plot_h * p.accepted as f64 / max_cum as f64;
            rect x=(f2(LEFT + slot * i as f64)) y=(f2(TOP + plot_h - bh)) width=(f2((slot * 0.8).max(0.5)))
                height=(f2(bh)) fill=(C_ACCEPTED) opacity="0.6" {
                title { (p.date) ": " (p.accepted) " accepted" }
            }
        }
        polyline points=(line.trim_end()) fill="none" stroke=(C_LINE) stroke-width="2" {}
        (x_labels(h, &first, &last))
    };
    svg(
        "chart-redemption",
        h,
        "Invitations accepted per day and in total",
        body,
    )
}

/// Managed guests at the end of each day: an area under a line, one point
/// per day. `id` names the chart (`chart-managed` for all tenants,
/// `chart-managed-<tenant id>` for one).
pub fn managed_chart(id: &str, points: &[ManagedPoint]) -> Markup {
    if points.is_empty() {
        return html! { p.empty id=(format!("{id}-empty")) { "No managed guest yet." } };
    }
    let h = 200.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = h - TOP - BOTTOM;
    let max = points.iter().map(|p| p.managed).max().unwrap_or(0).max(1);
    let step = if points.len() > 1 {
        plot_w / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy = |i: usize, p: &ManagedPoint| {
        (
            LEFT + step * i as f64,
            TOP + plot_h * (1.0 - p.managed as f64 / max as f64),
        )
    };
    let mut line = String::new();
    for (i, p) in points.iter().enumerate() {
        let (x, y) = xy(i, p);
        line.push_str(&format!("{x:.2},{y:.2} "));
    }
    let last_x = LEFT + step * (points.len() - 1) as f64;
    let area = format!(
        "{LEFT:.2},{b:.2} {} {last_x:.2},{b:.2}",
        line.trim_end(),
        b = TOP + plot_h
    );
    let (first, last) = date_span(points, |p| p.date);
    let body = html! {
        (legend(&[("managed guests at the end of the day", C_LINE)]))
        (y_grid(h, max))
        polygon points=(area) fill=(C_LINE) opacity="0.15" {}
        polyline.trend points=(line.trim_end()) data-points=(points.len()) fill="none" stroke=(C_LINE) stroke-width="2" {}
        // A dot (with its number on hover) per day, up to about three months.
        @for (i, p) in points.iter().enumerate().filter(|_| points.len() <= 92) {
            @let (x, y) = xy(i, p);
            circle cx=(f2(x)) cy=(f2(y)) r="2.5" fill=(C_LINE) {
                title { (p.date) ": " (p.managed) " managed" }
            }
        }
        (x_labels(h, &first, &last))
    };
    svg(id, h, "Managed guests at the end of each day", body)
}

/// Guests created, updated and deprovisioned per reconcile run (stacked).
pub fn runs_chart(points: &[RunPoint]) -> Markup {
    let runs: Vec<&RunPoint> = points.iter().filter(|p| p.job == Job::Reconcile).collect();
    if runs.is_empty() {
        return html! { p.empty #chart-runs-empty { "No reconcile run yet." } };
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
    let fmt = |p: Option<&&RunPoint>| {
        p.map(|p| p.started_at.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    let body = html! {
        (legend(&[("created", C_CREATED), ("updated", C_UPDATED), ("deprovisioned", C_DEPROVISIONED)]))
        (y_grid(h, max))
        @for (i, p) in runs.iter().enumerate() {
            @let x = LEFT + slot * i as f64;
            // Stacked upwards from the base line: offsets count from the bottom.
            @let (segments, _) = stack(0.0, plot_h / max as f64, [(p.created, C_CREATED, "created"), (p.updated, C_UPDATED, "updated"), (p.deprovisioned, C_DEPROVISIONED, "deprovisioned"), (0, "", "")]);
            @for (off, bh, v, colour, what) in segments {
                rect x=(f2(x)) y=(f2(TOP + plot_h - off - bh)) width=(f2((slot * 0.8).max(0.5))) height=(f2(bh)) fill=(colour) {
                    title { (p.started_at.format("%Y-%m-%d %H:%M UTC")) ": " (v) " " (what) }
                }
            }
        }
        (x_labels(h, &fmt(runs.first()), &fmt(runs.last())))
    };
    svg(
        "chart-runs",
        h,
        "Guests created, updated and deprovisioned per reconcile run",
        body,
    )
}

/// Cuts a label to `max` characters, adding an ellipsis.
pub fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Managed guests per tenant, split by state (horizontal stacked bars).
pub fn tenant_size_chart(tenants: &[TenantStats]) -> Markup {
    if tenants.is_empty() {
        return html! { p.empty #chart-tenants-empty { "No source tenant registered." } };
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
    let body = html! {
        (legend(&[("accepted", C_ACCEPTED), ("invited", C_INVITED), ("disabled", C_DISABLED), ("failed", C_FAILED)]))
        @for (i, t) in tenants.iter().enumerate() {
            @let y = TOP + row * i as f64;
            @let g = &t.guests;
            text x=(label_w - 6.0) y=(format!("{:.1}", y + 15.0)) font-size="12" text-anchor="end" fill=(C_TEXT) {
                title { (t.display_name) }
                (short(&t.display_name, 26))
            }
            // `managed` also counts adopted guests; the four states partition it.
            @let (segments, end) = stack(label_w, plot_w / max as f64, [(g.accepted, C_ACCEPTED, "accepted"), (g.invited, C_INVITED, "invited"), (g.disabled, C_DISABLED, "disabled"), (g.failed, C_FAILED, "failed")]);
            @for (x, w, v, colour, what) in segments {
                rect x=(f2(x)) y=(format!("{:.1}", y + 3.0)) width=(f2(w)) height="16" fill=(colour) {
                    title { (v) " " (what) }
                }
            }
            text x=(f2(end + 4.0)) y=(format!("{:.1}", y + 15.0)) font-size="11" fill=(C_TEXT) { (g.managed) }
        }
    };
    svg("chart-tenants", h, "Managed guests per source tenant", body)
}
