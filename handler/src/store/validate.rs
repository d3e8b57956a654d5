//! Record validation shared by every backend: a record is checked before any
//! byte is written, and the error names the offending field. The limits are
//! chosen so that every valid record also fits Azure Table Storage (a string
//! property holds at most 64 KiB, i.e. 32 Ki UTF-16 code units; the whole
//! record is stored as one JSON string property there).
use super::{StoreError, StoreResult};
use crate::domain::{AuditEntry, GuestRecord, RunRecord, SourceTenant};

/// Longest identifier-like string (UPN, mail, ETag, fingerprint), in characters.
pub const MAX_NAME_CHARS: usize = 1024;
/// Longest free-text string (errors, audit detail), in characters.
pub const MAX_TEXT_CHARS: usize = 8192;
/// Longest serialized record, in UTF-16 code units (Tables: 64 KiB strings).
pub const MAX_RECORD_UTF16: usize = 32 * 1024;

fn invalid(what: &str, field: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("{what}.{field}: {why}"))
}

fn text(what: &str, field: &str, v: &str, max: usize, required: bool) -> StoreResult<()> {
    if required && v.trim().is_empty() {
        return Err(invalid(what, field, "must not be empty"));
    }
    let n = v.chars().count();
    if n > max {
        return Err(invalid(
            what,
            field,
            format!("is {n} characters, more than the limit of {max}"),
        ));
    }
    Ok(())
}

fn name(what: &str, field: &str, v: &str, required: bool) -> StoreResult<()> {
    text(what, field, v, MAX_NAME_CHARS, required)?;
    if v.chars().any(char::is_control) {
        return Err(invalid(what, field, "contains a control character"));
    }
    Ok(())
}

fn opt_name(what: &str, field: &str, v: &Option<String>) -> StoreResult<()> {
    v.as_deref().map_or(Ok(()), |v| name(what, field, v, false))
}

fn opt_text(what: &str, field: &str, v: &Option<String>) -> StoreResult<()> {
    v.as_deref()
        .map_or(Ok(()), |v| text(what, field, v, MAX_TEXT_CHARS, false))
}

/// Serializes a validated record to its stored JSON form, checking the size.
pub(crate) fn to_doc<T: serde::Serialize>(what: &str, v: &T) -> StoreResult<String> {
    let doc = serde_json::to_string(v)
        .map_err(|e| StoreError::Invalid(format!("{what}: cannot be serialized: {e}")))?;
    let units: usize = doc.chars().map(char::len_utf16).sum();
    if units > MAX_RECORD_UTF16 {
        return Err(StoreError::Invalid(format!(
            "{what}: the record is {units} UTF-16 units when serialized, more than the limit of {MAX_RECORD_UTF16}"
        )));
    }
    Ok(doc)
}

/// Checks a tenant registration.
pub fn tenant(t: &SourceTenant) -> StoreResult<()> {
    const W: &str = "tenant";
    name(W, "displayName", &t.display_name, true)?;
    match (t.credential, &t.secret_name) {
        (crate::domain::TenantCredential::Secret, None) => {
            return Err(invalid(
                W,
                "secretName",
                "a tenant with credential \"secret\" needs the name of its secret",
            ))
        }
        (crate::domain::TenantCredential::Secretless, Some(_)) => {
            return Err(invalid(
                W,
                "secretName",
                "a secretless tenant has no secret; leave secretName out",
            ))
        }
        _ => {}
    }
    t.options
        .validate()
        .map_err(|e| StoreError::Invalid(format!("{W}.{e}")))?;
    to_doc(W, t).map(drop)
}

/// Checks a guest record.
pub fn guest(g: &GuestRecord) -> StoreResult<()> {
    const W: &str = "guest";
    name(W, "sourceUpn", &g.source_upn, true)?;
    opt_name(W, "sourceMail", &g.source_mail)?;
    opt_name(W, "hostUpn", &g.host_upn)?;
    opt_name(W, "profileFingerprint", &g.profile_fingerprint)?;
    opt_name(W, "photoEtag", &g.photo_etag)?;
    opt_text(W, "lastError", &g.last_error)?;
    to_doc(W, g).map(drop)
}

/// Checks a run record.
pub fn run(r: &RunRecord) -> StoreResult<()> {
    const W: &str = "run";
    if let Some(f) = r.finished_at {
        if f < r.started_at {
            return Err(invalid(
                W,
                "finishedAt",
                format!("{f} is before startedAt {}", r.started_at),
            ));
        }
    }
    opt_text(W, "error", &r.error)?;
    to_doc(W, r).map(drop)
}

/// Checks an audit entry.
pub fn audit(a: &AuditEntry) -> StoreResult<()> {
    const W: &str = "audit";
    name(W, "operation", &a.operation, true)?;
    name(W, "outcome", &a.outcome, true)?;
    opt_name(W, "targetUpn", &a.target_upn)?;
    opt_name(W, "clientRequestId", &a.client_request_id)?;
    opt_text(W, "detail", &a.detail)?;
    to_doc(W, a).map(drop)
}

/// Checks a lease holder name.
pub fn holder(h: &str) -> StoreResult<()> {
    name("lease", "holder", h, true)
}
