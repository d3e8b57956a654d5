//! The Microsoft Graph client (the Graph behaviour it relies on is listed
//! under "Graph facts" in `docs/graph-client.md`).
//!
//! - [`config`]: [`GraphConfig`] (URLs, timeouts, retry bounds, budgets,
//!   time scale), built from the settings.
//! - [`auth`]: client-credentials tokens cached per (tenant, app), refreshed
//!   early, one fetch in flight per key.
//! - [`federated`]: tokens without a secret (secretless source tenants,
//!   the host through its managed identity) through `azure_identity`.
//! - [`error`]: [`GraphError`]; every error carries the operation, the HTTP
//!   status and the `client-request-id`.
//! - [`pacing`]: one [`TenantBudget`] per tenant (writes, invitations, read
//!   units) shared by all tasks; AIMD on 429 and throttle headers.
//! - [`retry`]: `Retry-After` parsing and full-jitter back-off.
//! - [`http`]: [`GraphClient`], [`TenantGraph`] and the send loop.
//! - [`ops`]: typed operations (members, users, guests, invitations,
//!   patches, delete/restore, photos, group membership).
//! - [`batch`]: `$batch` with per-item results and per-item retries.
//! - [`models`]: [`GraphUser`] and friends.
//! - [`delta`]: delta rounds (`users/delta`, `groups/delta`),
//!   `checkMemberGroups` and nested groups.
//! - [`cross_tenant`]: a tenant's cross-tenant access settings for one
//!   partner (partner entry, inherited default).
//! - [`stats`]: counters the engine and the benchmark read.
//!
//! Design notes (pacing, retries, errors): docs/graph-client.md.
pub mod auth;
pub mod batch;
pub mod config;
pub mod cross_tenant;
pub mod delta;
pub mod error;
pub mod federated;
pub mod http;
pub mod models;
pub mod ops;
pub mod pacing;
pub mod retry;
pub mod stats;

pub use auth::{
    decode_token_answer, decode_token_refusal, token_roles, AppCredentials, TOKEN_OPERATION,
};
pub use batch::{BatchItemResult, BatchRequest, MAX_BATCH};
pub use config::{BucketSpec, GraphConfig, PacingConfig};
pub use delta::{
    DeltaFrom, DeltaGroup, DeltaRead, DeltaUser, ManagerDelta, MemberKind, MemberRef, Removal,
};
pub use error::{AadstsCode, ErrorContext, GraphError};
pub use federated::{is_token_operation, Credential, CredentialIds, MANAGED_IDENTITY_OPERATION};
pub use http::{GraphClient, Operation, TenantGraph};
pub use models::{
    FirstPage, GraphGroup, GraphUser, Invitation, InviteRequest, PagedRead, Photo, PhotoMeta,
    DEFAULT_USER_SELECT, GUEST_SELECT, MAX_PHOTO_BYTES,
};
pub use ops::{address_filter, odata_quote};
pub use pacing::{BudgetKind, Cost, TenantBudget};
pub use stats::GraphStats;
