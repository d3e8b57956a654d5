//! A running reconcile's snapshot on Table Storage (`GuestSyncSnapshots`):
//! one entity per chunk, PartitionKey the source tenant id, RowKey
//! `<run id>_<chunk index, 8 digits>` (a run's chunks sort in index order).
//!
//! A chunk is opaque bytes, up to [`SNAPSHOT_CHUNK_MAX`] (11 × 64 KiB). The
//! service keeps a binary property of at most 64 KiB, so the bytes are
//! split over `D00`, `D01`, ... (`Edm.Binary`, base64 on the wire), with
//! `Parts` (how many) and `Length` (the chunk's bytes, both Int32) to join
//! them back and to tell a damaged entity from a short chunk. The largest
//! chunk's request body (base64 JSON) stays under 1 MiB, the limit Azurite
//! applies to the body rather than to the entity's bytes.
//!
//! [`SNAPSHOT_CHUNK_MAX`]: crate::store::SNAPSHOT_CHUNK_MAX
use async_trait::async_trait;
use serde_json::Value;

use super::client::{binary_prop, entity, odata_str, put_binary, Entity, Query, MAX_BINARY_BYTES};
use super::entities::keys_of;
use super::{TableStore, SNAPSHOTS};
use crate::domain::Guid;
use crate::store::{check_snapshot_chunk, SnapshotStore, StoreError, StoreResult};

/// The property naming how many binary parts the chunk has.
const PARTS: &str = "Parts";
/// The property holding the chunk's length in bytes.
const LENGTH: &str = "Length";

/// RowKey of chunk `index` of run `run`.
fn snapshot_rk(run: uuid::Uuid, index: u32) -> String {
    format!("{run}_{index:08}")
}

/// The name of binary part `i`.
fn part_name(i: usize) -> String {
    format!("D{i:02}")
}

/// The entity keeping one chunk (already checked against
/// [`SNAPSHOT_CHUNK_MAX`](crate::store::SNAPSHOT_CHUNK_MAX)).
fn chunk_entity(tenant: Guid, run: uuid::Uuid, index: u32, data: &[u8]) -> Entity {
    let mut e = entity(&tenant.to_string(), &snapshot_rk(run, index));
    let mut parts = 0usize;
    for (i, part) in data.chunks(MAX_BINARY_BYTES).enumerate() {
        put_binary(&mut e, &part_name(i), part);
        parts += 1;
    }
    e.insert(PARTS.into(), Value::from(parts));
    e.insert(LENGTH.into(), Value::from(data.len()));
    e
}

/// Joins a chunk's parts back. Anything that does not add up (a count
/// missing, a part missing or not base64, a total other than `Length`) is
/// [`StoreError::Corrupt`] naming the table and the row, never the data.
fn decode_chunk(e: &Entity) -> StoreResult<Vec<u8>> {
    let (pk, rk) = keys_of(e);
    let corrupt = |what: String| {
        StoreError::Corrupt(format!(
            "{SNAPSHOTS} entity (PartitionKey {pk}, RowKey {rk}): {what}"
        ))
    };
    let count = |name: &str| {
        e.get(name)
            .and_then(Value::as_u64)
            .ok_or_else(|| corrupt(format!("{name} is missing or not a count")))
    };
    let (parts, length) = (count(PARTS)?, count(LENGTH)?);
    let mut out = Vec::new();
    for i in 0..parts {
        let name = part_name(i as usize);
        let bytes = binary_prop(e, &name)
            .ok_or_else(|| corrupt(format!("part {name} of {parts} is missing or not binary")))?;
        out.extend_from_slice(&bytes);
    }
    if out.len() as u64 != length {
        return Err(corrupt(format!(
            "its {parts} parts join to {} bytes, not the {length} recorded",
            out.len()
        )));
    }
    Ok(out)
}

#[async_trait]
impl SnapshotStore for TableStore {
    async fn put_snapshot_chunk(
        &self,
        tenant: Guid,
        run: uuid::Uuid,
        index: u32,
        data: &[u8],
    ) -> StoreResult<()> {
        check_snapshot_chunk(data)?;
        let e = chunk_entity(tenant, run, index, data);
        self.client.put(SNAPSHOTS, &e, None).await.map(drop)
    }

    async fn get_snapshot_chunk(
        &self,
        tenant: Guid,
        run: uuid::Uuid,
        index: u32,
    ) -> StoreResult<Option<Vec<u8>>> {
        self.client
            .get(SNAPSHOTS, &tenant.to_string(), &snapshot_rk(run, index))
            .await?
            .map(|(e, _)| decode_chunk(&e))
            .transpose()
    }

    async fn delete_snapshots(&self, tenant: Guid) -> StoreResult<u64> {
        let q = Query {
            filter: Some(format!(
                "PartitionKey eq {}",
                odata_str(&tenant.to_string())
            )),
            select: Some("PartitionKey,RowKey".into()),
            top: None,
        };
        let found = self.client.query_all(SNAPSHOTS, &q).await?;
        self.delete_all(SNAPSHOTS, found.iter().map(keys_of).collect())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::table::client::{check_entity, MAX_ENTITY_BYTES};
    use crate::store::SNAPSHOT_CHUNK_MAX;

    /// The entity as a read without metadata returns it: the type
    /// annotations are gone, binary parts are plain base64 strings.
    fn as_read(mut e: Entity) -> Entity {
        e.retain(|k, _| !k.contains('@'));
        e
    }

    fn ids() -> (Guid, uuid::Uuid) {
        (Guid::new_v4(), uuid::Uuid::new_v4())
    }

    /// Chunk sizes at and around the part boundaries split into the
    /// expected parts, pass the service's limits and join back exactly.
    #[test]
    fn chunks_split_into_parts_and_join_back() {
        let (t, r) = ids();
        for len in [
            0,
            1,
            MAX_BINARY_BYTES - 1,
            MAX_BINARY_BYTES,
            MAX_BINARY_BYTES + 1,
            3 * MAX_BINARY_BYTES + 17,
            SNAPSHOT_CHUNK_MAX,
        ] {
            let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let e = chunk_entity(t, r, 7, &data);
            check_entity(SNAPSHOTS, &e).unwrap();
            assert_eq!(
                e.get(PARTS).and_then(Value::as_u64),
                Some(len.div_ceil(MAX_BINARY_BYTES) as u64)
            );
            assert_eq!(decode_chunk(&as_read(e)).unwrap(), data, "length {len}");
        }
    }

    /// The largest chunk's entity, as JSON on the wire, fits 1 MiB: the
    /// limit Azurite puts on the request body (the service itself counts
    /// the binary bytes, a smaller figure). One part more would not fit.
    #[test]
    fn the_largest_chunk_fits_a_one_mib_request_body() {
        let (t, r) = ids();
        let max = chunk_entity(t, r, u32::MAX, &vec![0xFF; SNAPSHOT_CHUNK_MAX]);
        let body = serde_json::to_vec(&max).unwrap().len();
        assert!(body <= MAX_ENTITY_BYTES, "{body} bytes");
        let over = chunk_entity(
            t,
            r,
            u32::MAX,
            &vec![0xFF; SNAPSHOT_CHUNK_MAX + MAX_BINARY_BYTES],
        );
        assert!(serde_json::to_vec(&over).unwrap().len() > MAX_ENTITY_BYTES);
    }

    /// RowKeys keep a run's chunks in index order.
    #[test]
    fn row_keys_sort_in_index_order() {
        let r = uuid::Uuid::new_v4();
        assert_eq!(snapshot_rk(r, 3), format!("{r}_00000003"));
        assert!(snapshot_rk(r, 9) < snapshot_rk(r, 10));
    }

    /// A missing part, a wrong recorded length, or no counts at all are
    /// Corrupt naming the table and the row, without the data.
    #[test]
    fn damaged_entities_are_corrupt_naming_the_row() {
        let (t, r) = ids();
        let data = vec![0xABu8; 2 * MAX_BINARY_BYTES + 5];
        let rk = snapshot_rk(r, 0);
        let good = as_read(chunk_entity(t, r, 0, &data));

        let mut missing = good.clone();
        missing.remove("D01");
        let mut short = good.clone();
        short.insert(LENGTH.into(), Value::from(data.len() + 1));
        let mut not_base64 = good.clone();
        not_base64.insert("D02".into(), Value::String("%%%".into()));
        let mut no_count = good.clone();
        no_count.remove(PARTS);
        for (what, e) in [
            ("D01", missing),
            ("recorded", short),
            ("D02", not_base64),
            (PARTS, no_count),
        ] {
            match decode_chunk(&e) {
                Err(StoreError::Corrupt(m)) => {
                    assert!(m.contains(SNAPSHOTS) && m.contains(&rk), "{m}");
                    assert!(m.contains(what), "{m} should say {what}");
                    assert!(!m.contains("q6ur") && m.len() < 300, "{m}");
                }
                other => panic!("{what}: expected Corrupt, got {other:?}"),
            }
        }
    }
}
