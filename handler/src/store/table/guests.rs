//! Guest records on Table Storage (`GuestSyncGuests`, sharded partitions;
//! versions are the service's ETags).
use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use super::client::{self, BatchOp, Query};
use super::entities::{decode_token, doc_of, encode_token, guest_entity, guest_pk, guest_range};
use super::{TableStore, GUESTS};
use crate::domain::{GuestRecord, GuestState, Guid};
use crate::store::{GuestStore, Page, StoreError, StoreResult, Versioned};

#[async_trait]
impl GuestStore for TableStore {
    async fn get_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<Option<GuestRecord>> {
        Ok(self
            .get_guest_versioned(tenant, source_user)
            .await?
            .map(|v| v.record))
    }

    async fn put_guest(&self, g: &GuestRecord) -> StoreResult<()> {
        let e = guest_entity(g)?;
        self.client.put(GUESTS, &e, None).await.map(drop)
    }

    async fn put_guests(&self, gs: &[GuestRecord]) -> StoreResult<()> {
        // Validate everything first: one bad record writes none.
        let ops = gs
            .iter()
            .map(|g| guest_entity(g).map(BatchOp::Upsert))
            .collect::<StoreResult<Vec<_>>>()?;
        self.run_batches(GUESTS, ops).await
    }

    async fn list_guests_page(
        &self,
        tenant: Guid,
        continuation: Option<String>,
        limit: usize,
    ) -> StoreResult<Page<GuestRecord>> {
        let t = tenant.to_string();
        let cont = continuation
            .as_deref()
            .map(|c| decode_token(c, &t))
            .transpose()?;
        let q = Query {
            filter: Some(guest_range(tenant)),
            select: Some("Doc".into()),
            top: Some(limit.clamp(1, client::MAX_PAGE)),
        };
        let (items, next) = self.client.query_page(GUESTS, &q, cont.as_ref()).await?;
        let items = items
            .iter()
            .map(doc_of::<GuestRecord>)
            .collect::<StoreResult<Vec<_>>>()?;
        // The service's NextPartitionKey is opaque (Azurite encodes it), so
        // it is passed back untouched; the filter keeps us in the tenant.
        Ok(Page {
            items,
            continuation: next.as_ref().map(|c| encode_token(&t, c)),
        })
    }

    async fn delete_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<()> {
        match self
            .client
            .delete(
                GUESTS,
                &guest_pk(tenant, source_user),
                &source_user.to_string(),
                None,
            )
            .await
        {
            Ok(()) | Err(StoreError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn get_guest_versioned(
        &self,
        tenant: Guid,
        source_user: Guid,
    ) -> StoreResult<Option<Versioned<GuestRecord>>> {
        match self
            .client
            .get(
                GUESTS,
                &guest_pk(tenant, source_user),
                &source_user.to_string(),
            )
            .await?
        {
            Some((e, etag)) => Ok(Some(Versioned {
                record: doc_of(&e)?,
                version: etag,
            })),
            None => Ok(None),
        }
    }

    async fn put_guest_if(&self, g: &GuestRecord, expected: Option<&str>) -> StoreResult<String> {
        let e = guest_entity(g)?;
        let r = match expected {
            None => self.client.insert(GUESTS, &e).await,
            Some(tag) => self.client.put(GUESTS, &e, Some(tag)).await,
        };
        r.map_err(|err| match err {
            StoreError::Conflict(_) | StoreError::NotFound(_) => StoreError::Conflict(format!(
                "guest {}/{} changed since it was read",
                g.source_tenant_id, g.source_user_id
            )),
            other => other,
        })
    }

    async fn guest_counts(&self, tenant: Guid) -> StoreResult<BTreeMap<GuestState, u64>> {
        let q = Query {
            filter: Some(guest_range(tenant)),
            select: Some("State".into()),
            top: None,
        };
        let mut out = BTreeMap::new();
        for e in self.client.query_all(GUESTS, &q).await? {
            let s = e.get("State").and_then(Value::as_str).unwrap_or_default();
            let st = s
                .parse::<GuestState>()
                .map_err(|err| StoreError::Corrupt(format!("{GUESTS}.State: {err}")))?;
            *out.entry(st).or_insert(0) += 1;
        }
        Ok(out)
    }
}
