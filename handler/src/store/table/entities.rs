//! Records <-> entities: the key scheme of each table (PartitionKey,
//! RowKey), the columns kept beside `Doc`, reading `Doc` back through the
//! shared codec, and the continuation tokens of guest pages.
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::client::{self, encode_key, entity, odata_str, put_datetime, Continuation, Entity};
use super::{GUESTS, LEASES, LEASE_RK};
use crate::domain::{AuditEntry, GuestRecord, Guid, Job, RunRecord, SourceTenant};
use crate::store::codec::{self, Stored};
use crate::store::{StoreError, StoreResult};

/// Prefix of guest-page continuation tokens (so foreign strings are refused).
const TOKEN_PREFIX: &str = "gs1.";

/// Reads the record kept whole in an entity's `Doc` property.
pub(super) fn doc_of<T: Stored>(e: &Entity) -> StoreResult<T> {
    let doc = match e.get("Doc") {
        Some(Value::String(doc)) => doc,
        Some(_) => {
            return Err(StoreError::Corrupt(format!(
                "stored {}: its Doc property is not a string",
                T::WHAT
            )))
        }
        None => {
            return Err(StoreError::Corrupt(format!(
                "stored {} has no Doc property",
                T::WHAT
            )))
        }
    };
    // Say where the unreadable document is kept.
    codec::decode(doc).map_err(|err| match err {
        StoreError::Corrupt(m) => StoreError::Corrupt(format!("{m} (its Doc property)")),
        other => other,
    })
}

/// Reads a tenant registration from its `GuestSyncTenants` entity.
pub fn decode_tenant(e: &Entity) -> StoreResult<SourceTenant> {
    doc_of(e)
}

/// Reads a guest record from its `GuestSyncGuests` entity.
pub fn decode_guest(e: &Entity) -> StoreResult<GuestRecord> {
    doc_of(e)
}

/// Reads a run record from its `GuestSyncRuns` entity.
pub fn decode_run(e: &Entity) -> StoreResult<RunRecord> {
    doc_of(e)
}

/// Reads an audit entry from its `GuestSyncAudit` entity.
pub fn decode_audit(e: &Entity) -> StoreResult<AuditEntry> {
    doc_of(e)
}

pub(super) fn str_prop(e: &mut Entity, name: &str, v: &str) {
    e.insert(name.into(), Value::String(v.into()));
}

/// RowKey part that sorts newest first: 19 digits of `i64::MAX - nanos`.
pub(super) fn inverted(t: DateTime<Utc>) -> String {
    let n = t.timestamp_nanos_opt().unwrap_or(i64::MAX);
    format!("{:019}", i64::MAX - n.max(0))
}

/// PartitionKey of a guest: the tenant id and the first two hex digits of
/// the source user id (`<tenant>_<xx>`, 256 shards per tenant).
///
/// Why shards: one partition is served by one partition server (about
/// 2,000 entities/s), so a 100,000-guest first sync in one partition would
/// be throttled; and Azurite's per-entity cost grows with the partition's
/// size (a 100,000-entity partition takes hours to load). Listing a tenant
/// is one range query over its shards; because the shard is the id's prefix,
/// (PartitionKey, RowKey) order is source user id order.
pub(super) fn guest_pk(tenant: Guid, user: Guid) -> String {
    let u = user.to_string();
    format!("{tenant}_{}", u.get(..2).unwrap_or("00"))
}

/// `$filter` selecting every shard of a tenant's guests.
pub(super) fn guest_range(tenant: Guid) -> String {
    format!(
        "PartitionKey ge {} and PartitionKey lt {}",
        odata_str(&format!("{tenant}_")),
        odata_str(&format!("{tenant}`"))
    )
}

pub(super) fn lease_pk(tenant: Guid, job: Job) -> String {
    encode_key(&format!("{tenant}|{job}"))
}

pub(super) fn encode_token(tenant: &str, c: &Continuation) -> String {
    let raw = format!(
        "{tenant}\n{}\n{}",
        c.next_pk,
        c.next_rk.as_deref().unwrap_or("")
    );
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

/// Reads a guest-page continuation token this store issued for `tenant`'s
/// listing (`list_guests_page`); anything else is [`StoreError::Invalid`].
pub fn decode_token(tok: &str, tenant: &str) -> StoreResult<Continuation> {
    let bad = || {
        StoreError::Invalid(format!(
            "continuation token {tok:?} is not one this store issued"
        ))
    };
    let b64 = tok.strip_prefix(TOKEN_PREFIX).ok_or_else(bad)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = raw.splitn(3, '\n');
    let (Some(t), Some(pk), Some(rk)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    // A token is only valid for the tenant whose listing issued it.
    if t != tenant {
        return Err(bad());
    }
    Ok(Continuation {
        next_pk: pk.to_string(),
        next_rk: (!rk.is_empty()).then(|| rk.to_string()),
    })
}

/// A guest record as its entity (validated, and checked against the
/// service's limits).
pub(super) fn guest_entity(g: &GuestRecord) -> StoreResult<Entity> {
    let row = codec::guest_row(g)?;
    let mut e = entity(&guest_pk(g.source_tenant_id, g.source_user_id), &row.user);
    str_prop(&mut e, "State", row.state);
    if let Some(h) = g.host_user_id {
        str_prop(&mut e, "HostUserId", &h.to_string());
    }
    str_prop(&mut e, "Doc", &row.doc);
    client::check_entity(GUESTS, &e)?;
    Ok(e)
}

pub(super) fn keys_of(e: &Entity) -> (String, String) {
    let g = |n: &str| {
        e.get(n)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    (g("PartitionKey"), g("RowKey"))
}

pub(super) fn lease_entity(tenant: Guid, job: Job, holder: &str, expires: DateTime<Utc>) -> Entity {
    let mut e = entity(&lease_pk(tenant, job), LEASE_RK);
    str_prop(&mut e, "Holder", holder);
    put_datetime(&mut e, "ExpiresAt", expires);
    e
}

/// Reads a lease's expiry from its `GuestSyncLeases` entity.
pub fn lease_expiry(e: &Entity) -> StoreResult<DateTime<Utc>> {
    let s = e
        .get("ExpiresAt")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Corrupt(format!("{LEASES}: lease without ExpiresAt")))?;
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| StoreError::Corrupt(format!("{LEASES}.ExpiresAt {s:?}: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Newer times give smaller RowKey prefixes, so a partition lists newest
    /// first; the prefix has a fixed width.
    #[test]
    fn inverted_time_sorts_newest_first() {
        let old = inverted(Utc::now() - chrono::Duration::days(1));
        let new = inverted(Utc::now());
        assert!(new < old);
        assert_eq!(new.len(), 19);
        assert_eq!(old.len(), 19);
    }

    /// Continuation tokens round-trip, and tokens of another tenant or
    /// foreign strings are refused.
    #[test]
    fn continuation_tokens_are_checked() {
        let c = Continuation {
            next_pk: "t1".into(),
            next_rk: Some("r9".into()),
        };
        let tok = encode_token("t1", &c);
        assert_eq!(decode_token(&tok, "t1").unwrap(), c);
        assert!(decode_token(&tok, "t2").is_err());
        assert!(decode_token("not-a-token", "t1").is_err());
    }

    /// An unreadable record says where it is kept and names the field
    /// (found by the reliability fuzzing).
    #[test]
    fn unreadable_docs_name_the_doc_and_the_field() {
        let mut e = entity("tenant", "r");
        let m = decode_tenant(&e).unwrap_err().to_string();
        assert!(m.contains("no Doc property"), "{m}");
        e.insert("Doc".into(), Value::Bool(true));
        let m = decode_tenant(&e).unwrap_err().to_string();
        assert!(m.contains("Doc property is not a string"), "{m}");
        e.insert("Doc".into(), Value::String(r#"{"runId": 5}"#.into()));
        let m = decode_run(&e).unwrap_err().to_string();
        assert!(m.contains("runId") && m.contains("Doc"), "{m}");
    }
}
