//! The plain-text summary `guest-sync report` prints: totals, one aligned
//! row per tenant, and what needs attention. Column widths count display
//! cells (wide East Asian characters take two, combining marks none), so
//! non-ASCII tenant names stay aligned in a terminal.
use std::fmt::Write as _;

use super::html::{rate, thousands};
use super::stats::{SecretLevel, Severity, Statistics};
use crate::domain::Job;

/// Longest tenant name shown before it is cut with an ellipsis.
const NAME_MAX: usize = 32;

/// Terminal cells taken by one character (a pragmatic subset of UAX #11).
fn char_width(c: char) -> usize {
    let u = c as u32;
    match u {
        0 => 0,
        // Combining marks and zero-width characters.
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F => {
            0
        }
        0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064 | 0xFE00..=0xFE0F => 0,
        c if c < 0x20 || (0x7F..0xA0).contains(&c) => 0,
        // Wide: Hangul Jamo, CJK, Hangul syllables, compatibility forms,
        // full-width forms, emoji.
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// Terminal cells taken by `s`.
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Cuts `s` to at most `max` cells, ending with `…` when cut; control
/// characters become spaces so a hostile name cannot move the cursor.
fn fit(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if display_width(&clean) <= max {
        return clean;
    }
    let mut out = String::new();
    let mut w = 0;
    for c in clean.chars() {
        let cw = char_width(c);
        if w + cw + 1 > max {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Pads `s` to `w` cells, left- or right-aligned.
fn pad(s: &str, w: usize, right: bool) -> String {
    let fill = " ".repeat(w.saturating_sub(display_width(s)));
    if right {
        format!("{fill}{s}")
    } else {
        format!("{s}{fill}")
    }
}

/// Renders rows as aligned columns; `numeric[i]` right-aligns column i.
fn columns(out: &mut String, header: &[&str], rows: &[Vec<String>], numeric: &[bool]) {
    let mut widths: Vec<usize> = header.iter().map(|h| display_width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(display_width(c));
        }
    }
    let line = |cells: Vec<String>| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| pad(c, widths[i], numeric[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let _ = writeln!(
        out,
        "{}",
        line(header.iter().map(|h| h.to_string()).collect())
    );
    let _ = writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "─".repeat(*w))
            .collect::<Vec<_>>()
            .join("  ")
    );
    for r in rows {
        let _ = writeln!(out, "{}", line(r.clone()));
    }
}

/// Renders the statistics as a plain-text summary for a terminal.
pub fn render_table(stats: &Statistics) -> String {
    let mut out = String::new();
    let t = &stats.totals;
    let g = &t.guests;
    let _ = writeln!(
        out,
        "guest-sync report, generated {}",
        stats.generated_at.format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(
        out,
        "{} source tenants ({} enabled); {} managed guests: {} invited, {} accepted (redemption {}), {} disabled, {} failed, {} adopted; {} deprovisioned",
        t.tenants,
        t.enabled_tenants,
        thousands(g.managed),
        thousands(g.invited),
        thousands(g.accepted),
        rate(g.redemption_rate),
        thousands(g.disabled),
        thousands(g.failed),
        thousands(g.adopted),
        thousands(g.deprovisioned),
    );
    out.push('\n');
    if stats.tenants.is_empty() {
        out.push_str("No source tenant is registered yet (guest-sync tenant add).\n");
    } else {
        let header = [
            "TENANT",
            "ENABLED",
            "MANAGED",
            "INVITED",
            "ACCEPTED",
            "RATE",
            "DISABLED",
            "DEPROV",
            "ADOPTED",
            "FAILED",
            "SECRET",
            "RECONCILE",
            "PHOTOS",
            "REDEMPTION",
        ];
        let numeric = [
            false, false, true, true, true, true, true, true, true, true, false, false, false,
            false,
        ];
        let rows: Vec<Vec<String>> = stats
            .tenants
            .iter()
            .map(|ts| {
                let g = &ts.guests;
                let secret = match (ts.secret.level, ts.secret.days_left) {
                    (SecretLevel::None, _) => "none".to_string(),
                    (SecretLevel::Unknown, _) | (_, None) => "?".to_string(),
                    (SecretLevel::Expired, _) => "expired".to_string(),
                    (SecretLevel::Warning, Some(d)) => format!("{d}d !"),
                    (SecretLevel::Ok, Some(d)) => format!("{d}d"),
                };
                let mut row = vec![
                    fit(&ts.display_name, NAME_MAX),
                    if ts.enabled { "yes" } else { "no" }.to_string(),
                    thousands(g.managed),
                    thousands(g.invited),
                    thousands(g.accepted),
                    rate(g.redemption_rate),
                    thousands(g.disabled),
                    thousands(g.deprovisioned),
                    thousands(g.adopted),
                    thousands(g.failed),
                    secret,
                ];
                for job in Job::ALL {
                    row.push(
                        ts.last_runs
                            .iter()
                            .find(|r| r.job == job)
                            .map(|r| {
                                let o = if r.parked {
                                    "parked"
                                } else {
                                    r.outcome.as_str()
                                };
                                format!("{o} {}", r.started_at.format("%m-%d %H:%M"))
                            })
                            .unwrap_or_else(|| "-".to_string()),
                    );
                }
                row
            })
            .collect();
        columns(&mut out, &header, &rows, &numeric);
    }
    out.push('\n');
    if stats.attention.is_empty() {
        out.push_str("Nothing needs attention.\n");
    } else {
        let _ = writeln!(out, "Needs attention ({}):", stats.attention.len());
        for a in &stats.attention {
            let sev = match a.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "warning ",
            };
            let _ = write!(
                out,
                "  {sev}  {}: {}",
                fit(&a.tenant_name, NAME_MAX),
                a.message
            );
            if let Some(e) = &a.error {
                let _ = write!(out, " ({})", fit(e, 160));
            }
            out.push('\n');
        }
    }
    out
}
