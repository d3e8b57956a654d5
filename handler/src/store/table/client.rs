//! A small Azure Table Storage REST client over `reqwest` (there is no
//! maintained Rust crate for Tables).
//!
//! What it covers: Shared Key and Entra bearer auth, table creation,
//! insert / upsert (InsertOrReplace) / replace / merge / delete with ETag
//! optimistic concurrency (`If-Match`; 409 and 412 become
//! [`StoreError::Conflict`]), point reads, queries with `$filter`, `$select`,
//! `$top` and continuation tokens, and entity-group transactions
//! (`multipart/mixed` `$batch`, at most 100 operations on one partition).
//! The service's limits are checked before sending ([`check_entity`]), so a
//! record that cannot be stored fails with a clear [`StoreError::Invalid`].
//!
//! Entities are JSON objects (`odata=nometadata`); typed properties carry
//! `Name@odata.type` annotations (see [`put_datetime`]).
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value};

use super::auth::{bearer_header, SharedKey, TokenSource};
use crate::store::{StoreError, StoreResult};

/// An entity: property name -> JSON value (plus `@odata.type` annotations).
pub type Entity = Map<String, Value>;

/// x-ms-version sent with every request.
const API_VERSION: &str = "2019-02-02";
/// Most operations in one entity-group transaction.
pub const MAX_BATCH_OPS: usize = 100;
/// Largest `$batch` payload we send (the service allows 4 MiB).
pub const MAX_BATCH_BYTES: usize = 3 * 1024 * 1024 + 512 * 1024;
/// Largest entity (the service allows 1 MiB).
pub const MAX_ENTITY_BYTES: usize = 1024 * 1024;
/// Largest string property, in bytes of UTF-16.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Most properties per entity, counting PartitionKey, RowKey and Timestamp.
pub const MAX_PROPERTIES: usize = 255;
/// Largest PartitionKey / RowKey, in bytes of UTF-16.
pub const MAX_KEY_BYTES: usize = 1024;
/// Most entities one query page returns.
pub const MAX_PAGE: usize = 1000;

/// Azurite's well-known development account and key (public, documented).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Characters escaped by [`encode_key`]: those the service refuses in keys
/// (`/ \ # ?`, control characters), `%` (the escape itself) and `'` (so a
/// key never needs OData quoting).
const KEY_ESCAPES: &AsciiSet = &CONTROLS
    .add(b'/')
    .add(b'\\')
    .add(b'#')
    .add(b'?')
    .add(b'%')
    .add(b'\'');

/// Characters escaped when a key goes into a URL path.
const URL_KEY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\')
    .add(b'\'');

/// Makes any string a legal PartitionKey/RowKey by percent-escaping the
/// characters the service refuses. GUIDs and job names pass unchanged.
pub fn encode_key(s: &str) -> String {
    let out = utf8_percent_encode(s, KEY_ESCAPES).to_string();
    // DEL and C1 controls are not in CONTROLS' ASCII range handling for
    // multi-byte chars: escape any remaining control character by hand.
    if out.chars().any(char::is_control) {
        out.chars()
            .map(|c| {
                if c.is_control() {
                    let mut b = [0u8; 4];
                    c.encode_utf8(&mut b)
                        .bytes()
                        .map(|x| format!("%{x:02X}"))
                        .collect()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        out
    }
}

/// An OData string literal (`'` doubled).
pub fn odata_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An OData datetime literal.
pub fn odata_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "datetime'{}'",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// Sets a property of type `Edm.DateTime`.
pub fn put_datetime(e: &mut Entity, name: &str, t: chrono::DateTime<chrono::Utc>) {
    e.insert(
        name.to_string(),
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    e.insert(
        format!("{name}@odata.type"),
        Value::String("Edm.DateTime".into()),
    );
}

/// A new entity with its keys (already legal: see [`encode_key`]).
pub fn entity(pk: &str, rk: &str) -> Entity {
    let mut e = Map::new();
    e.insert("PartitionKey".into(), Value::String(pk.into()));
    e.insert("RowKey".into(), Value::String(rk.into()));
    e
}

fn utf16_bytes(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

fn check_key(which: &str, k: &str) -> StoreResult<()> {
    if utf16_bytes(k) > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{which} is longer than the Table service's {MAX_KEY_BYTES}-byte limit"
        )));
    }
    if k.chars()
        .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        return Err(StoreError::Invalid(format!(
            "{which} {k:?} contains a character the Table service refuses (/ \\ # ? or a control character)"
        )));
    }
    Ok(())
}

fn is_identifier(n: &str) -> bool {
    let mut cs = n.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks an entity against the service's limits before it is sent: keys
/// present and legal, at most 255 properties, property names that are
/// identifiers of at most 255 characters, strings of at most 64 KiB and an
/// entity of at most 1 MiB. The error names the property.
pub fn check_entity(table: &str, e: &Entity) -> StoreResult<()> {
    let key = |n: &str| match e.get(n) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(StoreError::Invalid(format!(
            "{table}: entity has no string {n}"
        ))),
    };
    check_key("PartitionKey", key("PartitionKey")?)?;
    check_key("RowKey", key("RowKey")?)?;
    // + Timestamp, which the service adds.
    let props = e.keys().filter(|k| !k.contains('@')).count() + 1;
    if props > MAX_PROPERTIES {
        return Err(StoreError::Invalid(format!(
            "{table}: entity has {props} properties, more than the Table service's {MAX_PROPERTIES}"
        )));
    }
    let mut size = 4usize;
    for (name, v) in e {
        if name.contains('@') {
            continue;
        }
        if name.chars().count() > 255 || !is_identifier(name) {
            return Err(StoreError::Invalid(format!(
                "{table}: property name {name:?} is not an identifier of at most 255 characters"
            )));
        }
        size += 8 + utf16_bytes(name);
        size += match v {
            Value::String(s) => {
                let b = utf16_bytes(s);
                if b > MAX_STRING_BYTES {
                    return Err(StoreError::Invalid(format!(
                        "{table}: property {name} is {b} bytes, more than the Table service's {MAX_STRING_BYTES}-byte string limit"
                    )));
                }
                b + 4
            }
            Value::Bool(_) => 1,
            Value::Number(_) => 8,
            Value::Null => 0,
            Value::Array(_) | Value::Object(_) => {
                return Err(StoreError::Invalid(format!(
                    "{table}: property {name} is a JSON object or array; the Table service stores only scalar properties"
                )))
            }
        };
    }
    if size > MAX_ENTITY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{table}: entity is about {size} bytes, more than the Table service's 1 MiB limit"
        )));
    }
    Ok(())
}

/// How requests are authorized.
#[derive(Clone)]
enum Auth {
    SharedKey(SharedKey),
    Bearer(Arc<dyn TokenSource>),
}

/// A Table service client for one account.
#[derive(Clone)]
pub struct TableClient {
    http: reqwest::Client,
    /// The table endpoint, ending in `/` (path-style for Azurite:
    /// `http://127.0.0.1:10002/devstoreaccount1/`).
    base: url::Url,
    auth: Auth,
}

impl std::fmt::Debug for TableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableClient({})", self.base)
    }
}

/// One operation of an entity-group transaction.
#[derive(Debug, Clone)]
pub enum BatchOp {
    /// InsertOrReplace.
    Upsert(Entity),
    /// Delete regardless of ETag.
    Delete { pk: String, rk: String },
}

impl BatchOp {
    fn pk(&self) -> Option<&str> {
        match self {
            BatchOp::Upsert(e) => e.get("PartitionKey").and_then(Value::as_str),
            BatchOp::Delete { pk, .. } => Some(pk),
        }
    }
}

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

fn normalize_base(mut u: url::Url) -> url::Url {
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    u.set_query(None);
    u
}

fn http_client() -> StoreResult<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(16)
        .build()
        .map_err(|e| StoreError::Other(format!("cannot build the HTTP client: {e}")))
}

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

fn status_error(what: &str, status: StatusCode, body: &str) -> StoreError {
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
struct Req<'a> {
    method: Method,
    /// Relative to the base (e.g. `Tables`, `GuestSyncGuests()`).
    path: String,
    query: Vec<(&'a str, String)>,
    headers: Vec<(&'static str, String)>,
    content_type: String,
    body: Option<bytes::Bytes>,
}

impl<'a> Req<'a> {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Req {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            content_type: String::new(),
            body: None,
        }
    }
    fn json(mut self, v: &Value) -> StoreResult<Self> {
        let b = serde_json::to_vec(v)
            .map_err(|e| StoreError::Invalid(format!("entity cannot be serialized: {e}")))?;
        self.content_type = "application/json".into();
        self.body = Some(b.into());
        Ok(self)
    }
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Self {
        self.headers.push((k, v.into()));
        self
    }
}

/// The response parts callers use.
struct Resp {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl TableClient {
    /// From a storage connection string: `UseDevelopmentStorage=true`, or
    /// `AccountName=...;AccountKey=...` with an optional `TableEndpoint`
    /// (else `DefaultEndpointsProtocol` + `EndpointSuffix`). Shared Key auth.
    pub fn from_connection_string(cs: &str) -> StoreResult<Self> {
        let bad = |m: &str| StoreError::Other(format!("storage connection string: {m}"));
        let mut account = None;
        let mut key = None;
        let mut endpoint = None;
        let mut protocol = "https".to_string();
        let mut suffix = "core.windows.net".to_string();
        let mut dev = false;
        for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad("every part must be Name=Value"))?;
            match k.to_ascii_lowercase().as_str() {
                "usedevelopmentstorage" => dev = v.eq_ignore_ascii_case("true"),
                "accountname" => account = Some(v.to_string()),
                "accountkey" => key = Some(v.to_string()),
                "tableendpoint" => endpoint = Some(v.to_string()),
                "defaultendpointsprotocol" => protocol = v.to_string(),
                "endpointsuffix" => suffix = v.to_string(),
                _ => {}
            }
        }
        if dev {
            account.get_or_insert_with(|| DEV_ACCOUNT.to_string());
            key.get_or_insert_with(|| DEV_KEY.to_string());
            endpoint.get_or_insert_with(|| format!("http://127.0.0.1:10002/{DEV_ACCOUNT}"));
        }
        let account = account.ok_or_else(|| bad("AccountName is missing"))?;
        let key = key.ok_or_else(|| {
            bad("AccountKey is missing (for keyless access set GUESTSYNC_STORE to the table endpoint URL)")
        })?;
        let endpoint = endpoint.unwrap_or_else(|| format!("{protocol}://{account}.table.{suffix}"));
        let base = url::Url::parse(&endpoint)
            .map_err(|e| bad(&format!("TableEndpoint is not a URL: {e}")))?;
        Ok(TableClient {
            http: http_client()?,
            base: normalize_base(base),
            auth: Auth::SharedKey(SharedKey::new(&account, &key)?),
        })
    }

    /// For a table endpoint URL with Entra bearer tokens.
    pub fn with_bearer(endpoint: url::Url, tokens: Arc<dyn TokenSource>) -> StoreResult<Self> {
        Ok(TableClient {
            http: http_client()?,
            base: normalize_base(endpoint),
            auth: Auth::Bearer(tokens),
        })
    }

    /// The table endpoint this client talks to.
    pub fn endpoint(&self) -> &url::Url {
        &self.base
    }

    fn url(&self, path: &str) -> StoreResult<url::Url> {
        self.base
            .join(path)
            .map_err(|e| StoreError::Other(format!("bad table URL path {path:?}: {e}")))
    }

    async fn send(&self, what: &str, req: &Req<'_>) -> StoreResult<Resp> {
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

    fn entity_path(table: &str, pk: &str, rk: &str) -> String {
        format!(
            "{table}(PartitionKey='{}',RowKey='{}')",
            utf8_percent_encode(&pk.replace('\'', "''"), URL_KEY),
            utf8_percent_encode(&rk.replace('\'', "''"), URL_KEY)
        )
    }

    /// Creates `table` unless it exists.
    pub async fn create_table_if_missing(&self, table: &str) -> StoreResult<()> {
        let req = Req::new(Method::POST, "Tables")
            .json(&serde_json::json!({ "TableName": table }))?
            .header("Prefer", "return-no-content");
        let r = self.send("create table", &req).await?;
        match r.status.as_u16() {
            200..=299 | 409 => Ok(()),
            _ => Err(status_error(
                &format!("creating table {table}"),
                r.status,
                &r.body,
            )),
        }
    }

    /// Deletes `table` (tests and the benchmark clean up with it).
    pub async fn delete_table(&self, table: &str) -> StoreResult<()> {
        let req = Req::new(Method::DELETE, format!("Tables('{table}')"));
        let r = self.send("delete table", &req).await?;
        match r.status.as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(status_error(
                &format!("deleting table {table}"),
                r.status,
                &r.body,
            )),
        }
    }

    fn keys(e: &Entity) -> (String, String) {
        let g = |n: &str| {
            e.get(n)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        (g("PartitionKey"), g("RowKey"))
    }

    /// Inserts a new entity; `Err(Conflict)` if it exists. Returns its ETag.
    pub async fn insert(&self, table: &str, e: &Entity) -> StoreResult<String> {
        check_entity(table, e)?;
        let req = Req::new(Method::POST, table)
            .json(&Value::Object(e.clone()))?
            .header("Prefer", "return-no-content");
        let r = self.send("insert", &req).await?;
        if r.status.is_success() {
            Ok(r.header("etag").unwrap_or_default())
        } else {
            Err(status_error(
                &format!("insert into {table}"),
                r.status,
                &r.body,
            ))
        }
    }

    /// Writes an entity: InsertOrReplace when `if_match` is None, else
    /// Replace only if its ETag still is `if_match` (`Err(Conflict)` when it
    /// changed, `Err(NotFound)` when it is gone). Returns the new ETag.
    pub async fn put(
        &self,
        table: &str,
        e: &Entity,
        if_match: Option<&str>,
    ) -> StoreResult<String> {
        check_entity(table, e)?;
        let (pk, rk) = Self::keys(e);
        let mut req = Req::new(Method::PUT, Self::entity_path(table, &pk, &rk))
            .json(&Value::Object(e.clone()))?;
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        let r = self.send("put", &req).await?;
        if r.status.is_success() {
            Ok(r.header("etag").unwrap_or_default())
        } else {
            Err(status_error(
                &format!("write to {table}"),
                r.status,
                &r.body,
            ))
        }
    }

    /// Merges properties into an entity: InsertOrMerge when `if_match` is
    /// None, else Merge only if its ETag still is `if_match`.
    pub async fn merge(
        &self,
        table: &str,
        e: &Entity,
        if_match: Option<&str>,
    ) -> StoreResult<String> {
        check_entity(table, e)?;
        let (pk, rk) = Self::keys(e);
        let merge = Method::from_bytes(b"MERGE")
            .map_err(|e| StoreError::Other(format!("MERGE method: {e}")))?;
        let mut req =
            Req::new(merge, Self::entity_path(table, &pk, &rk)).json(&Value::Object(e.clone()))?;
        if let Some(tag) = if_match {
            req = req.header("If-Match", tag);
        }
        let r = self.send("merge", &req).await?;
        if r.status.is_success() {
            Ok(r.header("etag").unwrap_or_default())
        } else {
            Err(status_error(
                &format!("merge into {table}"),
                r.status,
                &r.body,
            ))
        }
    }

    /// Deletes an entity (`if_match` None = whatever its ETag).
    pub async fn delete(
        &self,
        table: &str,
        pk: &str,
        rk: &str,
        if_match: Option<&str>,
    ) -> StoreResult<()> {
        let req = Req::new(Method::DELETE, Self::entity_path(table, pk, rk))
            .header("If-Match", if_match.unwrap_or("*"));
        let r = self.send("delete", &req).await?;
        if r.status.is_success() {
            Ok(())
        } else {
            Err(status_error(
                &format!("delete from {table}"),
                r.status,
                &r.body,
            ))
        }
    }

    /// Reads one entity and its ETag.
    pub async fn get(
        &self,
        table: &str,
        pk: &str,
        rk: &str,
    ) -> StoreResult<Option<(Entity, String)>> {
        let req = Req::new(Method::GET, Self::entity_path(table, pk, rk));
        let r = self.send("get", &req).await?;
        match r.status.as_u16() {
            404 => Ok(None),
            200 => {
                let e: Entity = serde_json::from_str(&r.body).map_err(|e| {
                    StoreError::Corrupt(format!("{table}: entity is not JSON: {e}"))
                })?;
                Ok(Some((e, r.header("etag").unwrap_or_default())))
            }
            _ => Err(status_error(
                &format!("read from {table}"),
                r.status,
                &r.body,
            )),
        }
    }

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

    /// Runs one entity-group transaction: all operations succeed or none.
    /// At most [`MAX_BATCH_OPS`] operations, all on one partition
    /// (checked: `Err(Invalid)` otherwise; see [`split_batches`]).
    pub async fn batch(&self, table: &str, ops: &[BatchOp]) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        if ops.len() > MAX_BATCH_OPS {
            return Err(StoreError::Invalid(format!(
                "a batch holds at most {MAX_BATCH_OPS} operations, got {}",
                ops.len()
            )));
        }
        let pk = ops[0].pk().unwrap_or_default().to_string();
        if ops.iter().any(|o| o.pk() != Some(pk.as_str())) {
            return Err(StoreError::Invalid(
                "a batch must stay within one partition".into(),
            ));
        }
        let batch_id = format!("batch_{}", uuid::Uuid::new_v4());
        let cs_id = format!("changeset_{}", uuid::Uuid::new_v4());
        let mut body = String::new();
        body.push_str(&format!(
            "--{batch_id}\r\nContent-Type: multipart/mixed; boundary={cs_id}\r\n\r\n"
        ));
        for op in ops {
            body.push_str(&format!(
                "--{cs_id}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            ));
            match op {
                BatchOp::Upsert(e) => {
                    check_entity(table, e)?;
                    let (pk, rk) = Self::keys(e);
                    let url = self.url(&Self::entity_path(table, &pk, &rk))?;
                    let json = serde_json::to_string(e).map_err(|e| {
                        StoreError::Invalid(format!("entity cannot be serialized: {e}"))
                    })?;
                    body.push_str(&format!(
                        "PUT {url} HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json;odata=nometadata\r\nDataServiceVersion: 3.0;\r\n\r\n{json}\r\n"
                    ));
                }
                BatchOp::Delete { pk, rk } => {
                    let url = self.url(&Self::entity_path(table, pk, rk))?;
                    body.push_str(&format!(
                        "DELETE {url} HTTP/1.1\r\nAccept: application/json;odata=nometadata\r\nIf-Match: *\r\nDataServiceVersion: 3.0;\r\n\r\n"
                    ));
                }
            }
        }
        body.push_str(&format!("--{cs_id}--\r\n\r\n--{batch_id}--\r\n"));
        if body.len() > 4 * 1024 * 1024 {
            return Err(StoreError::Invalid(format!(
                "a batch payload is {} bytes, more than the Table service's 4 MiB",
                body.len()
            )));
        }
        let mut req = Req::new(Method::POST, "$batch");
        req.content_type = format!("multipart/mixed; boundary={batch_id}");
        req.body = Some(body.into_bytes().into());
        let r = self.send("batch", &req).await?;
        if !r.status.is_success() {
            return Err(status_error(
                &format!("batch on {table}"),
                r.status,
                &r.body,
            ));
        }
        // The changeset's answers: any failed operation fails them all.
        for line in r.body.lines() {
            if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                let code: u16 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                if code >= 400 {
                    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
                    let json = r.body.find("{\"odata.error\"").map(|i| &r.body[i..]);
                    let detail = json.and_then(|j| j.lines().next()).unwrap_or(rest);
                    return Err(status_error(&format!("batch on {table}"), status, detail));
                }
            }
        }
        Ok(())
    }
}

/// Splits operations into batches the service accepts: one partition each,
/// at most [`MAX_BATCH_OPS`] operations and about [`MAX_BATCH_BYTES`].
pub fn split_batches(ops: Vec<BatchOp>) -> Vec<Vec<BatchOp>> {
    let mut by_pk: std::collections::BTreeMap<String, Vec<BatchOp>> = Default::default();
    for op in ops {
        by_pk
            .entry(op.pk().unwrap_or_default().to_string())
            .or_default()
            .push(op);
    }
    let mut out = Vec::new();
    for (_, ops) in by_pk {
        let mut cur = Vec::new();
        let mut bytes = 0usize;
        for op in ops {
            let sz = match &op {
                BatchOp::Upsert(e) => serde_json::to_string(e).map(|s| s.len()).unwrap_or(0) + 400,
                BatchOp::Delete { .. } => 400,
            };
            if !cur.is_empty() && (cur.len() == MAX_BATCH_OPS || bytes + sz > MAX_BATCH_BYTES) {
                out.push(std::mem::take(&mut cur));
                bytes = 0;
            }
            bytes += sz;
            cur.push(op);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys with characters the service refuses are escaped; GUIDs pass
    /// unchanged, and an escaped key passes the checks.
    #[test]
    fn keys_are_escaped_only_where_needed() {
        assert_eq!(
            encode_key("2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b|reconcile"),
            "2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b|reconcile"
        );
        let k = encode_key("a/b\\c#d?e%f'g\u{1}h\u{85}i");
        assert_eq!(k, "a%2Fb%5Cc%23d%3Fe%25f%27g%01h%C2%85i");
        check_key("RowKey", &k).unwrap();
    }

    /// An entity over a limit is refused before sending, naming the property.
    #[test]
    fn entities_over_the_limits_are_refused_naming_the_property() {
        let mut e = entity("p", "r");
        e.insert("Doc".into(), Value::String("x".repeat(40_000)));
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("Doc") && m.contains("65536"), "{m}");

        let mut e = entity("p", "r");
        for i in 0..300 {
            e.insert(format!("P{i}"), Value::Bool(true));
        }
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("properties"), "{m}");

        let mut e = entity("p/q", "r");
        e.insert("A".into(), Value::Bool(true));
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("PartitionKey"), "{m}");

        let mut e = entity("p", "r");
        e.insert("bad name".into(), Value::Bool(true));
        assert!(check_entity("T", &e).is_err());
    }

    /// Batches never mix partitions nor exceed 100 operations.
    #[test]
    fn batches_split_by_partition_and_size() {
        let ops: Vec<_> = (0..250)
            .map(|i| BatchOp::Upsert(entity(if i % 2 == 0 { "a" } else { "b" }, &i.to_string())))
            .collect();
        let bs = split_batches(ops);
        assert_eq!(bs.iter().map(Vec::len).sum::<usize>(), 250);
        assert!(bs.iter().all(|b| b.len() <= MAX_BATCH_OPS));
        assert!(bs.iter().all(|b| b.iter().all(|o| o.pk() == b[0].pk())));
        assert_eq!(bs.len(), 4);
    }

    /// A connection string's key is never shown in the client's Debug form,
    /// and Azurite's shorthand points at the local emulator.
    #[test]
    fn dev_storage_connection_string_targets_azurite() {
        let c = TableClient::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(
            c.endpoint().as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/"
        );
        assert!(!format!("{c:?}").contains(DEV_KEY));
        let e = TableClient::from_connection_string("AccountName=x").unwrap_err();
        assert!(e.to_string().contains("AccountKey"), "{e}");
    }
}
