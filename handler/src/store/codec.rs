//! The record <-> stored document codec both backends share. Every record
//! is kept whole as one JSON document (SQLite's `doc` column, Tables' `Doc`
//! property): it is validated ([`validate`]) and serialized the same way
//! before either backend writes it, and read back with the same error.
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{validate, StoreError, StoreResult};
use crate::domain::{AuditEntry, GuestRecord, RunRecord, SourceTenant};

/// A record the store keeps as a JSON document.
pub(crate) trait Stored: Serialize + DeserializeOwned {
    /// What errors call it (`tenant`, `guest`, `run`, `audit`).
    const WHAT: &'static str;
    /// Its [`validate`] check.
    fn check(&self) -> StoreResult<()>;
}

impl Stored for SourceTenant {
    const WHAT: &'static str = "tenant";
    fn check(&self) -> StoreResult<()> {
        validate::tenant(self)
    }
}

impl Stored for GuestRecord {
    const WHAT: &'static str = "guest";
    fn check(&self) -> StoreResult<()> {
        validate::guest(self)
    }
}

impl Stored for RunRecord {
    const WHAT: &'static str = "run";
    fn check(&self) -> StoreResult<()> {
        validate::run(self)
    }
}

impl Stored for AuditEntry {
    const WHAT: &'static str = "audit";
    fn check(&self) -> StoreResult<()> {
        validate::audit(self)
    }
}

/// Validates a record and serializes it to its stored document.
pub(crate) fn encode<T: Stored>(r: &T) -> StoreResult<String> {
    r.check()?;
    validate::to_doc(T::WHAT, r)
}

/// Reads a stored document back; a document that does not parse is
/// [`StoreError::Corrupt`].
pub(crate) fn decode<T: Stored>(doc: &str) -> StoreResult<T> {
    crate::domain::json::from_str(doc)
        .map_err(|e| StoreError::Corrupt(format!("stored {} cannot be read: {e}", T::WHAT)))
}

/// A guest prepared for writing: its keys, the state (both backends keep it
/// beside the document, for counting and filtering) and the document.
pub(crate) struct GuestRow {
    pub tenant: String,
    pub user: String,
    pub state: &'static str,
    pub doc: String,
}

/// Validates and serializes a guest record.
pub(crate) fn guest_row(g: &GuestRecord) -> StoreResult<GuestRow> {
    Ok(GuestRow {
        doc: encode(g)?,
        tenant: g.source_tenant_id.to_string(),
        user: g.source_user_id.to_string(),
        state: g.state.as_str(),
    })
}
