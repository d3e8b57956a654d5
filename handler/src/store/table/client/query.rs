//! Queries: `$filter`, `$select`, `$top`, one page at a time or all of
//! them (following the service's continuation headers).
use reqwest::Method;

use super::transport::{status_error, Req};
use super::{Entity, TableClient};
use crate::store::{StoreError, StoreResult};

/// Most entities one query page returns.
pub const MAX_PAGE: usize = 1000;

/// A query: `$filter`, `$select`, `$top`.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub filter: Option<String>,
    pub select: Option<String>,
    pub top: Option<usize>,
}

/// Where the next query page starts (`x-ms-continuation-Next*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    pub next_pk: String,
    pub next_rk: Option<String>,
}

impl TableClient {
    /// One page of a query. The service may return fewer entities than
    /// `$top` (even none) together with a continuation.
    pub async fn query_page(
        &self,
        table: &str,
        q: &Query,
        cont: Option<&Continuation>,
    ) -> StoreResult<(Vec<Entity>, Option<Continuation>)> {
        let mut req = Req::new(Method::GET, format!("{table}()"));
        if let Some(f) = &q.filter {
            req.query.push(("$filter", f.clone()));
        }
        if let Some(s) = &q.select {
            req.query.push(("$select", s.clone()));
        }
        if let Some(t) = q.top {
            req.query.push(("$top", t.clamp(1, MAX_PAGE).to_string()));
        }
        if let Some(c) = cont {
            req.query.push(("NextPartitionKey", c.next_pk.clone()));
            if let Some(rk) = &c.next_rk {
                req.query.push(("NextRowKey", rk.clone()));
            }
        }
        let r = self.send("query", &req).await?;
        if !r.status.is_success() {
            return Err(status_error(&format!("query {table}"), r.status, &r.body));
        }
        #[derive(serde::Deserialize)]
        struct Body {
            value: Vec<Entity>,
        }
        let b: Body = serde_json::from_str(&r.body)
            .map_err(|e| StoreError::Corrupt(format!("{table}: query answer is not JSON: {e}")))?;
        let next = r
            .header("x-ms-continuation-NextPartitionKey")
            .map(|pk| Continuation {
                next_pk: pk,
                next_rk: r.header("x-ms-continuation-NextRowKey"),
            });
        Ok((b.value, next))
    }

    /// Every entity a query matches (follows continuations).
    pub async fn query_all(&self, table: &str, q: &Query) -> StoreResult<Vec<Entity>> {
        let mut out = Vec::new();
        let mut cont = None;
        loop {
            let (items, next) = self.query_page(table, q, cont.as_ref()).await?;
            out.extend(items);
            match next {
                Some(c) => cont = Some(c),
                None => return Ok(out),
            }
        }
    }
}
