//! CSV exports of the guest records and of the audit trail (`guest-sync
//! report --csv guests|audit`, `docs/report.md`, "CSV exports").
//!
//! Pure over records: the caller reads the store, these functions write
//! to any [`std::io::Write`] with the `csv` crate (RFC 4180 quoting, one
//! header row, `\n` line ends).
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` as a
//! formula (and some treat a leading tab or carriage return the same way),
//! so a UPN or an error text from Graph could carry a formula into an
//! administrator's spreadsheet ("CSV injection"). Every field is passed
//! through [`neutralise`], which prefixes such a value with `'` (OWASP's
//! recommendation); the csv crate still quotes what needs quoting.
use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::{AuditEntry, GuestRecord, Guid, SourceTenant};

/// The header of the guests export, in column order.
pub const GUEST_COLUMNS: [&str; 13] = [
    "tenantId",
    "tenantName",
    "sourceUserId",
    "sourceUpn",
    "mail",
    "hostUserId",
    "hostUpn",
    "state",
    "adopted",
    "createdAt",
    "redeemedAt",
    "lastSyncedAt",
    "lastError",
];

/// The header of the audit export, in column order.
pub const AUDIT_COLUMNS: [&str; 8] = [
    "at",
    "tenant",
    "operation",
    "outcome",
    "sourceUserId",
    "upn",
    "hostUserId",
    "detail",
];

/// The characters that make a spreadsheet read a cell as a formula when
/// they lead it.
const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A field made safe for spreadsheets: a value starting with `=`, `+`,
/// `-`, `@`, a tab or a carriage return gets a leading `'`; anything else
/// is returned unchanged.
pub fn neutralise(value: &str) -> Cow<'_, str> {
    if value.starts_with(FORMULA_LEADS) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn id(g: Option<Guid>) -> String {
    g.map(|g| g.to_string()).unwrap_or_default()
}

fn write_row<W: Write>(w: &mut csv::Writer<W>, fields: &[String]) -> csv::Result<()> {
    w.write_record(fields.iter().map(|f| neutralise(f).into_owned()))
}

/// Writes the guests export: [`GUEST_COLUMNS`], then one row per record,
/// in the order given. `tenants` supplies the tenant names (a record of an
/// unregistered tenant gets an empty name). Returns the number of rows.
pub fn write_guests<'a, W: Write>(
    out: W,
    tenants: &[SourceTenant],
    guests: impl IntoIterator<Item = &'a GuestRecord>,
) -> csv::Result<u64> {
    let names: HashMap<Guid, &str> = tenants
        .iter()
        .map(|t| (t.tenant_id, t.display_name.as_str()))
        .collect();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(GUEST_COLUMNS)?;
    let mut n = 0;
    for g in guests {
        let row = [
            g.source_tenant_id.to_string(),
            names
                .get(&g.source_tenant_id)
                .copied()
                .unwrap_or_default()
                .to_string(),
            g.source_user_id.to_string(),
            g.source_upn.clone(),
            g.source_mail.clone().unwrap_or_default(),
            id(g.host_user_id),
            g.host_upn.clone().unwrap_or_default(),
            g.state.as_str().to_string(),
            g.adopted.to_string(),
            time(Some(g.created_at)),
            time(g.redeemed_at),
            time(g.last_synced_at),
            g.last_error.clone().unwrap_or_default(),
        ];
        write_row(&mut w, &row)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// Writes the audit export: [`AUDIT_COLUMNS`], then one row per entry, in
/// the order given. The `upn` column is the source UPN of the entry's guest
/// record (looked up in `guests` by tenant and source user), else the host
/// UPN the entry carries. The `tenant` column is the tenant's name, else its
/// id. Returns the number of rows.
pub fn write_audit<'a, W: Write>(
    out: W,
    tenants: &[SourceTenant],
    guests: impl IntoIterator<Item = &'a GuestRecord>,
    audit: impl IntoIterator<Item = &'a AuditEntry>,
) -> csv::Result<u64> {
    let names: HashMap<Guid, &str> = tenants
        .iter()
        .map(|t| (t.tenant_id, t.display_name.as_str()))
        .collect();
    let upns: HashMap<(Guid, Guid), &str> = guests
        .into_iter()
        .map(|g| {
            (
                (g.source_tenant_id, g.source_user_id),
                g.source_upn.as_str(),
            )
        })
        .collect();
    let mut w = csv::Writer::from_writer(out);
    w.write_record(AUDIT_COLUMNS)?;
    let mut n = 0;
    for e in audit {
        let upn = e
            .source_user_id
            .and_then(|u| upns.get(&(e.source_tenant_id, u)).copied())
            .map(str::to_string)
            .or_else(|| e.target_upn.clone())
            .unwrap_or_default();
        let row = [
            time(Some(e.at)),
            names
                .get(&e.source_tenant_id)
                .map(|n| n.to_string())
                .unwrap_or_else(|| e.source_tenant_id.to_string()),
            e.operation.clone(),
            e.outcome.clone(),
            id(e.source_user_id),
            upn,
            id(e.target_id),
            e.detail.clone().unwrap_or_default(),
        ];
        write_row(&mut w, &row)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_leads_are_neutralised_and_the_rest_kept() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        for ok in ["alice@contoso.example", "", "1-2", "x=1", "'=quoted"] {
            assert_eq!(neutralise(ok), ok);
        }
    }
}
