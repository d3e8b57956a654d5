//! The tenant registry on Table Storage (`GuestSyncTenants`, one partition).
use async_trait::async_trait;
use serde_json::Value;

use super::client::{entity, odata_str, Query};
use super::entities::{doc_of, str_prop};
use super::{TableStore, TENANTS, TENANT_PK};
use crate::domain::{Guid, SourceTenant};
use crate::store::{codec, StoreError, StoreResult, TenantRegistry};

#[async_trait]
impl TenantRegistry for TableStore {
    async fn put_tenant(&self, t: &SourceTenant) -> StoreResult<()> {
        let doc = codec::encode(t)?;
        let mut e = entity(TENANT_PK, &t.tenant_id.to_string());
        str_prop(&mut e, "DisplayName", &t.display_name);
        e.insert("Enabled".into(), Value::Bool(t.enabled));
        str_prop(&mut e, "Doc", &doc);
        self.client.put(TENANTS, &e, None).await.map(drop)
    }

    async fn get_tenant(&self, id: Guid) -> StoreResult<Option<SourceTenant>> {
        match self.client.get(TENANTS, TENANT_PK, &id.to_string()).await? {
            Some((e, _)) => Ok(Some(doc_of(&e)?)),
            None => Ok(None),
        }
    }

    async fn list_tenants(&self) -> StoreResult<Vec<SourceTenant>> {
        let q = Query {
            filter: Some(format!("PartitionKey eq {}", odata_str(TENANT_PK))),
            select: Some("Doc".into()),
            top: None,
        };
        let mut out = self
            .client
            .query_all(TENANTS, &q)
            .await?
            .iter()
            .map(doc_of::<SourceTenant>)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by(|a, b| {
            a.display_name
                .to_ascii_lowercase()
                .cmp(&b.display_name.to_ascii_lowercase())
                .then(a.tenant_id.to_string().cmp(&b.tenant_id.to_string()))
        });
        Ok(out)
    }

    async fn delete_tenant(&self, id: Guid) -> StoreResult<()> {
        match self
            .client
            .delete(TENANTS, TENANT_PK, &id.to_string(), None)
            .await
        {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
