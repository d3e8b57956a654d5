//! `TenantGraph::send`, the one function every call goes through: pace,
//! authenticate, send with a timeout and a fresh `client-request-id`,
//! classify the answer, retry what is worth retrying (back-off,
//! `Retry-After`, one token refresh, fresh-object 404s), map the rest.
use tokio::time::Instant;
use url::Url;

use super::error_map::{map_error, parse_graph_error};
use super::{Answer, Body, Call, TenantGraph};
use crate::graph::error::{transport_detail, ErrorContext, GraphError};
use crate::graph::pacing::limit_percentage;
use crate::graph::retry::{backoff, retry_after_from};
use crate::graph::stats::Counters;

/// The path of `url` for logs: segments holding an `@` (UPNs) are hidden,
/// and the query (filters with addresses) is left out.
pub(crate) fn log_path(url: &Url) -> String {
    url.path()
        .split('/')
        .map(|s| {
            if s.contains('@') || s.contains("%40") {
                "[upn]"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl TenantGraph {
    fn backoff(&self, attempt: u32) -> std::time::Duration {
        let cfg = &self.client.inner.cfg;
        cfg.real(backoff(
            attempt,
            cfg.backoff_base,
            cfg.backoff_cap,
            &mut rand::thread_rng(),
        ))
    }

    /// Sends `call` with pacing, auth, timeout and retries; a 2xx answer or
    /// the error.
    pub(crate) async fn send(&self, call: &Call) -> Result<Answer, GraphError> {
        let inner = &self.client.inner;
        let cfg = &inner.cfg;
        let c = &inner.counters;
        let mut attempt = 0u32;
        let mut token_retried = false;
        // A write to an object created a moment ago waits for Graph to
        // replicate it rather than spend a write on a 404.
        if let Some(wait) = call
            .object
            .filter(|_| call.cost.writes > 0)
            .and_then(|id| self.client.settle_wait(id))
        {
            tokio::time::sleep(wait).await;
        }
        loop {
            self.budget.acquire(call.cost).await;
            let token = inner
                .tokens
                .token_for(&inner.http, cfg, c, &inner.azure, &self.creds)
                .await?;
            let rid = uuid::Uuid::new_v4();
            Counters::add(&c.requests, 1);
            Counters::add(&c.writes, u64::from(call.cost.writes));
            Counters::add(&c.invitations, u64::from(call.cost.invitations));
            let mut rb = inner
                .http
                .request(call.method.clone(), call.url.clone())
                .bearer_auth(token.expose())
                .header("client-request-id", rid.to_string())
                .header("return-client-request-id", "true");
            if call.eventual {
                rb = rb.header("ConsistencyLevel", "eventual");
            }
            rb = match &call.body {
                Body::None => rb,
                Body::Json(v) => rb.json(v),
                Body::Bytes(b, ct) => rb.header("Content-Type", ct.as_str()).body(b.clone()),
            };
            let started = Instant::now();
            let sent = rb.send().await;
            let ctx = |status: Option<u16>, graph_code: Option<String>| ErrorContext {
                operation: call.op.name(),
                status,
                client_request_id: rid,
                graph_code,
            };
            // (error to return if out of retries, wall-clock wait before retrying)
            let (err, wait) = match sent {
                Err(e) => {
                    Counters::add(&c.transient_failures, 1);
                    let detail = if e.is_timeout() {
                        format!("no answer within {:?}", cfg.request_timeout)
                    } else {
                        transport_detail(&e)
                    };
                    tracing::debug!(method = %call.method, path = %log_path(&call.url), client_request_id = %rid, attempt, error = %detail, "graph request failed");
                    (
                        GraphError::Transient {
                            detail,
                            ctx: ctx(None, None),
                        },
                        self.backoff(attempt),
                    )
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    let limit = call.max_body.filter(|_| (200..300).contains(&status));
                    let (body, oversize) = match limit {
                        None => (resp.bytes().await.ok(), None),
                        Some(max) => read_capped(resp, max).await,
                    };
                    tracing::debug!(method = %call.method, path = %log_path(&call.url), status, client_request_id = %rid, attempt, elapsed_ms = started.elapsed().as_millis() as u64, "graph request");
                    if let Some(p) = headers
                        .get("x-ms-throttle-limit-percentage")
                        .and_then(|v| v.to_str().ok())
                        .and_then(limit_percentage)
                    {
                        self.budget.on_pressure(call.cost.primary(), p);
                    }
                    let retry_after =
                        retry_after_from(|n| headers.get(n).and_then(|v| v.to_str().ok()));
                    match body {
                        None => {
                            Counters::add(&c.transient_failures, 1);
                            (
                                GraphError::Transient {
                                    detail: "the answer was cut off".into(),
                                    ctx: ctx(Some(status), None),
                                },
                                self.backoff(attempt),
                            )
                        }
                        Some(body) if (200..300).contains(&status) => {
                            return Ok(Answer {
                                status,
                                headers,
                                body,
                                request_id: rid,
                                oversize,
                            });
                        }
                        Some(body) => {
                            let (code, _) = parse_graph_error(&body);
                            let fresh = call.object.is_some_and(|id| self.client.is_fresh(id));
                            match status {
                                429 => {
                                    Counters::add(&c.throttled, 1);
                                    let real = retry_after;
                                    tracing::warn!(
                                        event = crate::events::GRAPH_THROTTLED,
                                        tenant_id = %self.tenant_id(),
                                        scope = headers
                                            .get("x-ms-throttle-scope")
                                            .and_then(|v| v.to_str().ok())
                                            .unwrap_or(""),
                                        retry_after_ms = real.map(|d| d.as_millis() as u64).unwrap_or(0),
                                        "Graph throttled a request"
                                    );
                                    self.budget.on_throttled(call.cost.primary(), real);
                                    // The budget itself waits out Retry-After
                                    // before the next acquire; without one,
                                    // back off here.
                                    let wait = match real {
                                        Some(_) => std::time::Duration::ZERO,
                                        None => self.backoff(attempt),
                                    };
                                    (
                                        GraphError::Throttled {
                                            retry_after: real.unwrap_or(wait),
                                            ctx: ctx(Some(status), code),
                                        },
                                        wait,
                                    )
                                }
                                401 if !token_retried => {
                                    // The token may have expired or been
                                    // revoked between fetch and use: fetch a
                                    // new one once.
                                    token_retried = true;
                                    inner.tokens.invalidate_for(&self.creds, &token).await;
                                    continue;
                                }
                                s if s >= 500 => {
                                    Counters::add(&c.transient_failures, 1);
                                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                                    (
                                        map_error(
                                            call.op,
                                            status,
                                            &body,
                                            "",
                                            rid,
                                            self.creds.as_ref(),
                                        ),
                                        wait,
                                    )
                                }
                                404 if fresh => (
                                    map_error(
                                        call.op,
                                        status,
                                        &body,
                                        &log_path(&call.url),
                                        rid,
                                        self.creds.as_ref(),
                                    ),
                                    self.backoff(attempt + 1),
                                ),
                                _ => {
                                    return Err(map_error(
                                        call.op,
                                        status,
                                        &body,
                                        &log_path(&call.url),
                                        rid,
                                        self.creds.as_ref(),
                                    ))
                                }
                            }
                        }
                    }
                }
            };
            if attempt >= cfg.max_retries {
                return Err(err);
            }
            attempt += 1;
            Counters::add(&c.retries, 1);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Reads a body of at most `max` bytes. A longer one (announced by
/// `Content-Length`, or found while streaming) is not read further: the
/// answer is an empty body and how many bytes were seen. `None` = the
/// connection broke (retried like any cut-off answer).
async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> (Option<bytes::Bytes>, Option<u64>) {
    if let Some(n) = resp.content_length().filter(|n| *n > max as u64) {
        return (Some(bytes::Bytes::new()), Some(n));
    }
    let mut buf = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                buf.extend_from_slice(&chunk);
                if buf.len() > max {
                    return (Some(bytes::Bytes::new()), Some(buf.len() as u64));
                }
            }
            Ok(None) => return (Some(buf.freeze()), None),
            Err(_) => return (None, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log paths hide UPN segments and drop the query.
    #[test]
    fn log_paths_hide_upns_and_queries() {
        let u = Url::parse(
            "https://graph.microsoft.com/v1.0/users/alice_contoso.com%23EXT%23@host.onmicrosoft.com?$filter=mail%20eq%20'a@b.c'",
        )
        .unwrap();
        let p = log_path(&u);
        assert_eq!(p, "/v1.0/users/[upn]");
    }
}
