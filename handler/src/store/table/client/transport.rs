//! The transport: a prepared request, the send loop (date, auth, retries
//! of transient failures with back-off) and the mapping of the Table
//! service's error answers to [`StoreError`].
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{Auth, TableClient, API_VERSION};
use crate::store::table::auth::bearer_header;
use crate::store::{StoreError, StoreResult};

/// Extracts `code: message` from a Table service error body.
fn service_error(body: &str) -> String {
    let v: Option<Value> = serde_json::from_str(body).ok();
    let err = v.as_ref().and_then(|v| v.get("odata.error"));
    match err {
        Some(e) => {
            let code = e.get("code").and_then(Value::as_str).unwrap_or("");
            let msg = e
                .get("message")
                .and_then(|m| m.get("value"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let first = msg.lines().next().unwrap_or("");
            format!("{code}: {first}")
        }
        None => body.chars().take(300).collect(),
    }
}

pub(super) fn status_error(what: &str, status: StatusCode, body: &str) -> StoreError {
    let detail = service_error(body);
    match status.as_u16() {
        404 => StoreError::NotFound(format!("{what}: {detail}")),
        409 | 412 => StoreError::Conflict(format!("{what}: {detail}")),
        408 | 429 | 500 | 502 | 503 | 504 => {
            StoreError::Unavailable(format!("{what}: HTTP {status}: {detail}"))
        }
        400 => StoreError::Invalid(format!("{what}: the Table service refused it: {detail}")),
        401 | 403 => StoreError::Other(format!(
            "{what}: not authorized by the Table service (HTTP {status}): {detail}"
        )),
        _ => StoreError::Other(format!("{what}: HTTP {status}: {detail}")),
    }
}

/// A prepared request, re-sendable on transient failures.
pub(super) struct Req<'a> {
    pub(super) method: Method,
    /// Relative to the base (e.g. `Tables`, `GuestSyncGuests()`).
    pub(super) path: String,
    pub(super) query: Vec<(&'a str, String)>,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) content_type: String,
    pub(super) body: Option<bytes::Bytes>,
}

impl<'a> Req<'a> {
    pub(super) fn new(method: Method, path: impl Into<String>) -> Self {
        Req {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            content_type: String::new(),
            body: None,
        }
    }
    pub(super) fn json(mut self, v: &Value) -> StoreResult<Self> {
        let b = serde_json::to_vec(v)
            .map_err(|e| StoreError::Invalid(format!("entity cannot be serialized: {e}")))?;
        self.content_type = "application/json".into();
        self.body = Some(b.into());
        Ok(self)
    }
    pub(super) fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
}

/// The response parts callers use.
pub(super) struct Resp {
    pub(super) status: StatusCode,
    headers: reqwest::header::HeaderMap,
    pub(super) body: String,
}

impl Resp {
    /// A header's raw bytes (a value need not be text).
    pub(super) fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl TableClient {
    pub(super) async fn send(&self, what: &str, req: &Req<'_>) -> StoreResult<Resp> {
        let mut url = self.url(&req.path)?;
        if !req.query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &req.query {
                q.append_pair(k, v);
            }
        }
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let date = chrono::Utc::now()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            let auth = match &self.auth {
                Auth::SharedKey(k) => {
                    let comp = url
                        .query_pairs()
                        .find(|(k, _)| k == "comp")
                        .map(|(_, v)| v.into_owned());
                    k.authorization(
                        req.method.as_str(),
                        &req.content_type,
                        &date,
                        url.path(),
                        comp.as_deref(),
                    )
                }
                Auth::Bearer(t) => bearer_header(&t.token().await?),
            };
            let mut rb = self
                .http
                .request(req.method.clone(), url.clone())
                .header("x-ms-date", &date)
                .header("x-ms-version", API_VERSION)
                .header("Accept", "application/json;odata=nometadata")
                .header("DataServiceVersion", "3.0;NetFx")
                .header("MaxDataServiceVersion", "3.0;NetFx")
                .header("Authorization", auth);
            if !req.content_type.is_empty() {
                rb = rb.header("Content-Type", &req.content_type);
            }
            for (k, v) in &req.headers {
                rb = rb.header(*k, v);
            }
            if let Some(b) = &req.body {
                rb = rb.body(b.clone());
            }
            let result = rb.send().await;
            let transient = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    let body = resp.text().await.map_err(|e| {
                        StoreError::Unavailable(format!("{what}: reading the answer failed: {e}"))
                    })?;
                    let r = Resp {
                        status,
                        headers,
                        body,
                    };
                    let retry = matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504);
                    if !retry || attempt >= 4 {
                        return Ok(r);
                    }
                    format!("HTTP {status}")
                }
                Err(e) => {
                    if attempt >= 4 {
                        return Err(StoreError::Unavailable(format!(
                            "{what}: cannot reach the Table service at {}: {e}",
                            self.base
                        )));
                    }
                    e.to_string()
                }
            };
            tracing::debug!(what, attempt, error = %transient, "table request retried");
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt))).await;
        }
    }
}
