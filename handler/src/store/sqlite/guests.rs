//! Guest records on SQLite (`guests` table): one row per (source tenant,
//! source user), with a row version for optimistic concurrency.
use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::{bad_token, db_err, write_tx, SqliteStore};
use crate::domain::{GuestRecord, GuestState, Guid};
use crate::store::codec::{self, guest_row};
use crate::store::{GuestStore, Page, StoreError, StoreResult, Versioned};

const UPSERT_GUEST: &str = "INSERT INTO guests (tenant_id, source_user_id, state, version, doc)
     VALUES (?1, ?2, ?3, 1, ?4)
     ON CONFLICT (tenant_id, source_user_id) DO UPDATE SET state = excluded.state,
       doc = excluded.doc, version = guests.version + 1";

#[async_trait]
impl GuestStore for SqliteStore {
    async fn get_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<Option<GuestRecord>> {
        Ok(self
            .get_guest_versioned(tenant, source_user)
            .await?
            .map(|v| v.record))
    }

    async fn put_guest(&self, g: &GuestRecord) -> StoreResult<()> {
        self.put_guests(std::slice::from_ref(g)).await
    }

    async fn put_guests(&self, gs: &[GuestRecord]) -> StoreResult<()> {
        // Validate and serialize everything first: one bad record writes none.
        let mut rows = gs.iter().map(guest_row).collect::<StoreResult<Vec<_>>>()?;
        // Inserting in key order keeps B-tree writes local (much faster for
        // large batches of random GUIDs).
        rows.sort_by(|a, b| (&a.tenant, &a.user).cmp(&(&b.tenant, &b.user)));
        if rows.is_empty() {
            return Ok(());
        }
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            {
                let mut st = tx.prepare_cached(UPSERT_GUEST).map_err(db_err)?;
                for r in &rows {
                    st.execute(params![r.tenant, r.user, r.state, r.doc])
                        .map_err(db_err)?;
                }
            }
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_guests_page(
        &self,
        tenant: Guid,
        continuation: Option<String>,
        limit: usize,
    ) -> StoreResult<Page<GuestRecord>> {
        let after = match &continuation {
            None => String::new(),
            Some(tok) => Guid::parse_named(tok, "continuation token")
                .map_err(|_| bad_token(tok))?
                .to_string(),
        };
        let limit = limit.clamp(1, 10_000);
        let tenant = tenant.to_string();
        self.with_conn(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT source_user_id, doc FROM guests WHERE tenant_id = ?1 AND source_user_id > ?2
                     ORDER BY source_user_id LIMIT ?3",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map(params![tenant, after, limit as i64 + 1], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            let more = rows.len() > limit;
            let mut items = Vec::with_capacity(rows.len().min(limit));
            let mut last = None;
            for (id, doc) in rows.into_iter().take(limit) {
                items.push(codec::decode::<GuestRecord>(&doc)?);
                last = Some(id);
            }
            Ok(Page {
                items,
                continuation: if more { last } else { None },
            })
        })
        .await
    }

    async fn delete_guest(&self, tenant: Guid, source_user: Guid) -> StoreResult<()> {
        let (t, u) = (tenant.to_string(), source_user.to_string());
        self.with_conn(move |c| {
            c.execute(
                "DELETE FROM guests WHERE tenant_id = ?1 AND source_user_id = ?2",
                params![t, u],
            )
            .map_err(db_err)
            .map(drop)
        })
        .await
    }

    async fn get_guest_versioned(
        &self,
        tenant: Guid,
        source_user: Guid,
    ) -> StoreResult<Option<Versioned<GuestRecord>>> {
        let (t, u) = (tenant.to_string(), source_user.to_string());
        self.with_conn(move |c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT version, doc FROM guests WHERE tenant_id = ?1 AND source_user_id = ?2",
                    params![t, u],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db_err)?;
            row.map(|(v, d)| {
                Ok(Versioned {
                    record: codec::decode(&d)?,
                    version: v.to_string(),
                })
            })
            .transpose()
        })
        .await
    }

    async fn put_guest_if(&self, g: &GuestRecord, expected: Option<&str>) -> StoreResult<String> {
        let row = guest_row(g)?;
        let expected = match expected {
            None => None,
            Some(v) => Some(v.parse::<i64>().map_err(|_| {
                StoreError::Conflict(format!("version {v:?} is not current for this record"))
            })?),
        };
        let what = format!("guest {}/{}", row.tenant, row.user);
        self.with_conn(move |c| {
            let tx = write_tx(c)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM guests WHERE tenant_id = ?1 AND source_user_id = ?2",
                    params![row.tenant, row.user],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            if current != expected {
                return Err(StoreError::Conflict(format!(
                    "{what} changed since it was read"
                )));
            }
            let next = current.unwrap_or(0) + 1;
            tx.execute(
                "INSERT INTO guests (tenant_id, source_user_id, state, version, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, source_user_id) DO UPDATE SET state = excluded.state,
                   doc = excluded.doc, version = excluded.version",
                params![row.tenant, row.user, row.state, next, row.doc],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(next.to_string())
        })
        .await
    }

    async fn guest_counts(&self, tenant: Guid) -> StoreResult<BTreeMap<GuestState, u64>> {
        let t = tenant.to_string();
        self.with_conn(move |c| {
            let mut st = c
                .prepare_cached(
                    "SELECT state, COUNT(*) FROM guests WHERE tenant_id = ?1 GROUP BY state",
                )
                .map_err(db_err)?;
            let rows = st
                .query_map([t], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            rows.into_iter()
                .map(|(s, n)| {
                    let st = s
                        .parse::<GuestState>()
                        .map_err(|e| StoreError::Corrupt(format!("guests.state: {e}")))?;
                    Ok((st, n.max(0) as u64))
                })
                .collect()
        })
        .await
    }
}
