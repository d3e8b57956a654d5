//! Bearer tokens for the Table service.
use std::sync::Arc;

use async_trait::async_trait;

use crate::store::{StoreError, StoreResult};

/// Source of bearer tokens for `https://storage.azure.com/.default`.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token.
    async fn token(&self) -> StoreResult<String>;
}

/// The default credential chain.
pub fn default_token_source() -> StoreResult<Arc<dyn TokenSource>> {
    Err(StoreError::Other(
        "Entra auth for tables is not available in this build yet".into(),
    ))
}
