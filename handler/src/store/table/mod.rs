//! Azure Table Storage backend (work in progress on this branch).
pub mod auth;

use std::sync::Arc;

use super::{StoreError, StoreResult};

/// A Table service REST client.
#[derive(Clone)]
pub struct TableClient {
    _endpoint: url::Url,
}

impl TableClient {
    /// From a storage connection string (Shared Key).
    pub fn from_connection_string(_cs: &str) -> StoreResult<Self> {
        Err(StoreError::Other(
            "Azure Table Storage is not available in this build yet".into(),
        ))
    }
    /// For a table endpoint URL with bearer tokens.
    pub fn with_bearer(_e: url::Url, _t: Arc<dyn auth::TokenSource>) -> StoreResult<Self> {
        Err(StoreError::Other(
            "Azure Table Storage is not available in this build yet".into(),
        ))
    }
}

/// The Tables store.
pub struct TableStore;

impl TableStore {
    /// Opens the store, creating tables.
    pub async fn open(_c: TableClient) -> StoreResult<crate::store::sqlite::SqliteStore> {
        Err(StoreError::Other(
            "Azure Table Storage is not available in this build yet".into(),
        ))
    }
}
