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
//! `Name@odata.type` annotations (see [`put_datetime`], [`put_binary`]).
//!
//! # Layout
//! - this file: [`TableClient`] (endpoint, credentials), table creation and
//!   single-entity operations.
//! - [`transport`]: the request/response types, the send loop with retries,
//!   and the mapping of the service's errors.
//! - [`entity`]: building entities, key escaping, OData literals and the
//!   service's limits.
//! - [`query`]: queries and continuation.
//! - [`batch`]: entity-group transactions and splitting operations into them.
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::Method;
use serde_json::{Map, Value};

use super::auth::{SharedKey, TokenSource};
use crate::store::{StoreError, StoreResult};

mod batch;
mod entity;
mod query;
mod transport;

pub use batch::{split_batches, BatchOp, MAX_BATCH_BYTES, MAX_BATCH_OPS};
pub use entity::{
    binary_prop, check_entity, encode_key, entity, odata_datetime, odata_str, put_binary,
    put_datetime, MAX_BINARY_BYTES, MAX_ENTITY_BYTES, MAX_KEY_BYTES, MAX_PROPERTIES,
    MAX_STRING_BYTES,
};
pub use query::{
    decode_continuation, decode_query_page, Continuation, Query, MAX_PAGE, NEXT_PK_HEADER,
    NEXT_RK_HEADER,
};
use transport::{status_error, Req};

/// An entity: property name -> JSON value (plus `@odata.type` annotations).
pub type Entity = Map<String, Value>;

/// x-ms-version sent with every request.
const API_VERSION: &str = "2019-02-02";

/// Azurite's well-known development account and key (public, documented).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

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
}

#[cfg(test)]
mod tests {
    use super::*;

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
