//! What `guest-sync tenant` prints: `tenant list`'s table, the connection
//! test's report and JSON output.
use std::io::Write;

use crate::domain::{CrossTenantStatus, TenantCredential, Toggle};
use crate::tenants::{ConnectionReport, TenantRow};

/// Prints `v` as pretty JSON and a newline.
pub(super) fn print_json(out: &mut dyn Write, v: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v)?;
    writeln!(out)?;
    Ok(())
}

/// Prints a passed connection test, one check a line.
pub(super) fn print_connection(out: &mut dyn Write, r: &ConnectionReport) -> anyhow::Result<()> {
    writeln!(out, "  token ............ ok")?;
    writeln!(
        out,
        "  group ............ ok{}",
        r.group_name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "  members .......... {}", r.member_count)?;
    writeln!(
        out,
        "  user attributes .. {}",
        match r.attributes_readable {
            Some(true) => "readable (User.Read.All ok)",
            Some(false) => "NOT readable",
            None => "not verified (no users to read)",
        }
    )?;
    for n in &r.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

/// Prints the host's cross-tenant settings for a tenant (after the
/// connection report of `tenant add` and `tenant test`).
pub(super) fn print_cross_tenant(out: &mut dyn Write, c: &CrossTenantStatus) -> anyhow::Result<()> {
    match (c.automatic_redemption, &c.reason) {
        (Toggle::Unknown, Some(why)) => {
            writeln!(out, "  auto-redemption .. unknown: {why}")?;
        }
        (a, _) => {
            writeln!(
                out,
                "  auto-redemption .. {a} (host inbound, {}); outbound: set by the source setup script",
                match c.partner_entry {
                    Some(true) => "partner entry",
                    _ => "default settings, no partner entry",
                }
            )?;
            writeln!(out, "  inbound B2B ...... {}", c.inbound_b2b)?;
        }
    }
    if c.automatic_redemption == Toggle::Off {
        writeln!(
            out,
            "  hint: {}",
            crate::domain::cross_tenant::AUTO_REDEEM_HINT
        )?;
    }
    Ok(())
}

fn days_text(d: Option<i64>) -> String {
    match d {
        Some(d) if d < 0 => "expired".to_string(),
        Some(d) => d.to_string(),
        None => "?".to_string(),
    }
}

/// Prints `tenant list`'s table, each tenant's reasons under its line.
pub(super) fn print_table(out: &mut dyn Write, rows: &[TenantRow]) -> anyhow::Result<()> {
    if rows.is_empty() {
        writeln!(
            out,
            "No source tenants registered. Add one with `guest-sync tenant add` (see docs/onboarding.md)."
        )?;
        return Ok(());
    }
    let head = [
        "TENANT ID",
        "NAME",
        "HEALTH",
        "MEMBERS",
        "GUESTS",
        "CREDENTIAL",
        "SECRET DAYS",
        "AUTO-REDEEM",
        "LAST RUN",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.tenant_id.to_string(),
                r.display_name.clone(),
                serde_json::to_value(r.health)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                r.member_count
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.guests_managed.to_string(),
                r.credential.to_string(),
                if r.credential == TenantCredential::Secretless {
                    "-".to_string()
                } else {
                    days_text(r.secret_days_left)
                },
                r.cross_tenant
                    .as_ref()
                    .map(|c| c.automatic_redemption.to_string())
                    .unwrap_or_else(|| "unknown".into()),
                r.last_run
                    .as_ref()
                    .map(|l| {
                        format!(
                            "{} {} {}",
                            l.job,
                            l.outcome,
                            l.started_at.format("%Y-%m-%d %H:%M")
                        )
                    })
                    .unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for c in &cells {
        for (i, v) in c.iter().enumerate() {
            width[i] = width[i].max(v.chars().count());
        }
    }
    let line = |vals: Vec<&str>| {
        vals.iter()
            .enumerate()
            .map(|(i, v)| format!("{v:<w$}", w = width[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    writeln!(out, "{}", line(head.to_vec()))?;
    for (c, r) in cells.iter().zip(rows) {
        writeln!(out, "{}", line(c.iter().map(String::as_str).collect()))?;
        for why in &r.reasons {
            writeln!(out, "    - {why}")?;
        }
        match &r.cross_tenant {
            Some(c) if c.automatic_redemption == Toggle::On => {}
            Some(c) => {
                if let Some(h) = c.hint() {
                    writeln!(
                        out,
                        "    - automatic redemption {}: {h}",
                        c.automatic_redemption
                    )?;
                }
            }
            None => {}
        }
    }
    Ok(())
}
