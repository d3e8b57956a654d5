//! A running reconcile's snapshot on SQLite (`snapshots` table: one BLOB
//! row per chunk).
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{db_err, SqliteStore};
use crate::domain::Guid;
use crate::store::{check_snapshot_chunk, SnapshotStore, StoreResult};

#[async_trait]
impl SnapshotStore for SqliteStore {
    async fn put_snapshot_chunk(
        &self,
        tenant: Guid,
        run: uuid::Uuid,
        index: u32,
        data: &[u8],
    ) -> StoreResult<()> {
        check_snapshot_chunk(data)?;
        let (t, r, d) = (tenant.to_string(), run.to_string(), data.to_vec());
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO snapshots (tenant_id, run_id, idx, data) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id, run_id, idx) DO UPDATE SET data = excluded.data",
                params![t, r, index, d],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn get_snapshot_chunk(
        &self,
        tenant: Guid,
        run: uuid::Uuid,
        index: u32,
    ) -> StoreResult<Option<Vec<u8>>> {
        let (t, r) = (tenant.to_string(), run.to_string());
        self.with_conn(move |c| {
            c.query_row(
                "SELECT data FROM snapshots WHERE tenant_id = ?1 AND run_id = ?2 AND idx = ?3",
                params![t, r, index],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn delete_snapshots(&self, tenant: Guid) -> StoreResult<u64> {
        let t = tenant.to_string();
        self.with_conn(move |c| {
            c.execute("DELETE FROM snapshots WHERE tenant_id = ?1", [t])
                .map_err(db_err)
                .map(|n| n as u64)
        })
        .await
    }
}
