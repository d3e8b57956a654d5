//! Paged reads: every page of a user collection, following
//! `@odata.nextLink` (never to another host), stopping at the first error.
use serde_json::Value;
use url::Url;

use super::{Answer, Call, Operation, TenantGraph};
use crate::graph::error::GraphError;
use crate::graph::models::{FirstPage, GraphUser, PagedRead};

impl TenantGraph {
    /// Reads every page of a user collection starting at `first`, handing
    /// each page to `on_page`. Stops at the first error, reported in the
    /// result (never deprovision on an incomplete read).
    pub(crate) async fn pages<F>(&self, first: Call, mut on_page: F) -> PagedRead
    where
        F: FnMut(Vec<GraphUser>) + Send,
    {
        let mut read = PagedRead {
            pages: 0,
            items: 0,
            reported_count: None,
            error: None,
        };
        let mut call = first;
        loop {
            let answer = match self.send(&call).await {
                Ok(a) => a,
                Err(e) => {
                    read.error = Some(e);
                    return read;
                }
            };
            let page = match parse_page(&answer, call.op, &self.client.inner.cfg.graph_url) {
                Ok(p) => p,
                Err(e) => {
                    read.error = Some(e);
                    return read;
                }
            };
            if read.pages == 0 {
                read.reported_count = page.count;
            }
            read.pages += 1;
            read.items += page.users.len() as u64;
            on_page(page.users);
            match page.next {
                Some(next) => call.url = next,
                None => return read,
            }
        }
    }

    /// Reads every page into one vector, or the error.
    /// Reads the first page only: its users, Graph's count of all of them
    /// and whether more pages follow.
    pub(crate) async fn first_page(&self, call: Call) -> Result<FirstPage, GraphError> {
        let answer = self.send(&call).await?;
        let page = parse_page(&answer, call.op, &self.client.inner.cfg.graph_url)?;
        Ok(FirstPage {
            users: page.users,
            count: page.count,
            more: page.next.is_some(),
        })
    }

    pub(crate) async fn all_pages(&self, first: Call) -> Result<Vec<GraphUser>, GraphError> {
        let mut all = Vec::new();
        let read = self.pages(first, |p| all.extend(p)).await;
        match read.error {
            Some(e) => Err(e),
            None => Ok(all),
        }
    }
}

/// One page of a user collection, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub users: Vec<GraphUser>,
    /// `@odata.nextLink`, checked to point at the Graph endpoint itself.
    pub next: Option<Url>,
    /// `@odata.count`, when Graph sent it.
    pub count: Option<u64>,
}

fn parse_page(answer: &Answer, op: Operation, graph_url: &Url) -> Result<Page, GraphError> {
    decode_page(&answer.body, graph_url).map_err(|what| GraphError::InvalidResponse {
        what,
        ctx: answer.ctx(op),
    })
}

/// Decodes a page of a user collection (`{"value":[users],
/// "@odata.nextLink":..., "@odata.count":...}`) read from `graph_url`. The
/// next link must stay on `graph_url`'s origin: the bearer token goes
/// with it. The error says what is wrong.
pub fn decode_page(body: &[u8], graph_url: &Url) -> Result<Page, String> {
    let mut v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    // Taken, not copied: a page holds up to 999 users.
    let Some(Value::Array(items)) = v.get_mut("value").map(Value::take) else {
        return Err("a collection page has no \"value\" array".into());
    };
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        users.push(
            GraphUser::from_value(item)
                .map_err(|e| format!("item {i} of the page (value[{i}]): {e}"))?,
        );
    }
    let next = match v.get("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let u = Url::parse(s).map_err(|_| "@odata.nextLink is not a URL".to_string())?;
            // The bearer token must never go to another host.
            if u.origin() != graph_url.origin() {
                return Err(format!(
                    "@odata.nextLink points to another host ({})",
                    u.host_str().unwrap_or("none")
                ));
            }
            Some(u)
        }
        Some(_) => return Err("@odata.nextLink is not a string".into()),
    };
    let count = v.get("@odata.count").and_then(Value::as_u64);
    Ok(Page { users, next, count })
}
