//! The tenant registry on SQLite (`tenants` table).
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{db_err, SqliteStore};
use crate::domain::{Guid, SourceTenant};
use crate::store::{codec, StoreResult, TenantRegistry};

#[async_trait]
impl TenantRegistry for SqliteStore {
    async fn put_tenant(&self, t: &SourceTenant) -> StoreResult<()> {
        let doc = codec::encode(t)?;
        let (id, name, enabled) = (t.tenant_id.to_string(), t.display_name.clone(), t.enabled);
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO tenants (tenant_id, display_name, enabled, doc) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id) DO UPDATE SET display_name = excluded.display_name,
                   enabled = excluded.enabled, doc = excluded.doc",
                params![id, name, enabled, doc],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn get_tenant(&self, id: Guid) -> StoreResult<Option<SourceTenant>> {
        let id = id.to_string();
        self.with_conn(move |c| {
            let doc: Option<String> = c
                .query_row("SELECT doc FROM tenants WHERE tenant_id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err)?;
            doc.map(|d| codec::decode(&d)).transpose()
        })
        .await
    }

    async fn list_tenants(&self) -> StoreResult<Vec<SourceTenant>> {
        self.with_conn(|c| {
            let mut st = c
                .prepare("SELECT doc FROM tenants ORDER BY display_name COLLATE NOCASE, tenant_id")
                .map_err(db_err)?;
            let docs = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            docs.iter().map(|d| codec::decode(d)).collect()
        })
        .await
    }

    async fn delete_tenant(&self, id: Guid) -> StoreResult<()> {
        let id = id.to_string();
        self.with_conn(move |c| {
            c.execute("DELETE FROM tenants WHERE tenant_id = ?1", [id])
                .map_err(db_err)
                .map(drop)
        })
        .await
    }
}
