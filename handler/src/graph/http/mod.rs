//! The HTTP core: [`GraphClient`] (one per process) and [`TenantGraph`] (a
//! handle bound to one tenant's credentials), and the one function every
//! call goes through, `TenantGraph::send`: pace, authenticate, send with a
//! timeout and a fresh `client-request-id`, classify the answer, retry what
//! is worth retrying, map the rest to a [`GraphError`].
//!
//! # Layout
//! - this file: [`GraphClient`], [`TenantGraph`] and the call/answer types.
//! - [`operation`]: [`Operation`], what a call does and the permission it
//!   needs.
//! - [`send`]: `TenantGraph::send`, the loop every call goes through.
//! - [`error_map`]: reading Graph's error answers into [`GraphError`].
//! - [`paging`]: reading every page of a user collection.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use super::auth::{AppCredentials, TokenCache};
use super::error::{ErrorContext, GraphError};
use super::federated::{AzureTokens, Credential, CredentialIds};
use super::pacing::{Cost, TenantBudget};
use super::stats::{Counters, GraphStats};
use super::GraphConfig;
use crate::domain::Guid;

mod error_map;
mod operation;
mod paging;
mod send;

pub use error_map::map_error;
pub use operation::Operation;
pub use paging::{decode_page, Page};

/// A request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    None,
    Json(Value),
    Bytes(Bytes, String),
}

/// One logical call (retried as a unit).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub op: Operation,
    pub method: Method,
    pub url: Url,
    pub body: Body,
    pub cost: Cost,
    /// Send `ConsistencyLevel: eventual` (advanced queries, type casts).
    pub eventual: bool,
    /// The object the call is about, for fresh-object 404 retries.
    pub object: Option<Guid>,
    /// Read at most this many body bytes of a 2xx answer; a longer one is
    /// not read further (`Answer::oversize`).
    pub max_body: Option<usize>,
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: uuid::Uuid,
    /// The body was longer than the call's `max_body`: reading stopped
    /// after this many bytes (or the announced `Content-Length`), and
    /// `body` is empty.
    pub oversize: Option<u64>,
}

impl Answer {
    pub fn ctx(&self, op: Operation) -> ErrorContext {
        ErrorContext {
            operation: op.name(),
            status: Some(self.status),
            client_request_id: self.request_id,
            graph_code: None,
        }
    }
    /// The body as JSON; the error names the operation.
    pub fn json(&self, op: Operation) -> Result<Value, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::InvalidResponse {
            what: format!("the body is not JSON ({e})"),
            ctx: self.ctx(op),
        })
    }
}

pub(crate) struct Inner {
    pub cfg: GraphConfig,
    pub http: reqwest::Client,
    pub tokens: TokenCache,
    /// The `azure_identity` credentials (secretless tenants, the host's
    /// managed identity).
    pub azure: AzureTokens,
    budgets: Mutex<HashMap<Guid, Arc<TenantBudget>>>,
    /// Objects this client created, with when: a 404 on them within the
    /// fresh-object window is eventual consistency, not absence.
    fresh: Mutex<HashMap<Guid, Instant>>,
    pub counters: Counters,
}

/// The Graph client: one per process, cheap to clone. Holds the HTTP
/// connection pool, the token cache and one pacing budget per tenant.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_url", &self.inner.cfg.graph_url.as_str())
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    /// Builds the client (HTTP pool with the request timeout and user agent).
    pub fn new(cfg: GraphConfig) -> Result<Self, GraphError> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = &cfg.tls_ca_pem {
            // Development only (settings refuse it unless the URLs are
            // loopback): the simulator's https listener.
            let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                GraphError::Permanent {
                    detail: format!("GUESTSYNC_TLS_CA_FILE holds no usable PEM certificate: {e}"),
                    ctx: ErrorContext {
                        operation: "build client",
                        status: None,
                        client_request_id: uuid::Uuid::nil(),
                        graph_code: None,
                    },
                }
            })?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(std::time::Duration::from_secs(10)))
            .user_agent(cfg.user_agent.clone())
            .pool_max_idle_per_host(256)
            // Never follow a redirect: a 307 keeps the method and body, so
            // the token request's client secret (or a bearer token) would
            // go to wherever the Location says. A 3xx is an error.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::Permanent {
                detail: format!("the HTTP client could not be built: {e}"),
                ctx: ErrorContext {
                    operation: "build client",
                    status: None,
                    client_request_id: uuid::Uuid::nil(),
                    graph_code: None,
                },
            })?;
        let azure = AzureTokens::new(&cfg, http.clone());
        Ok(GraphClient {
            inner: Arc::new(Inner {
                cfg,
                http,
                tokens: TokenCache::default(),
                azure,
                budgets: Mutex::new(HashMap::new()),
                fresh: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GraphConfig {
        &self.inner.cfg
    }

    /// A handle for calls into `creds.tenant_id` as `creds.client_id`. All
    /// handles of one tenant share one pacing budget.
    pub fn tenant(&self, creds: impl Into<Credential>) -> TenantGraph {
        let creds: Credential = creds.into();
        let budget = self.budget(creds.tenant_id());
        TenantGraph {
            client: self.clone(),
            creds: Arc::new(creds),
            budget,
        }
    }

    /// The pacing budget of `tenant` (created on first use).
    pub fn budget(&self, tenant: Guid) -> Arc<TenantBudget> {
        let mut m = self.inner.budgets.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(tenant)
            .or_insert_with(|| {
                Arc::new(TenantBudget::new(
                    &self.inner.cfg.pacing,
                    self.inner.cfg.effective_scale(),
                ))
            })
            .clone()
    }

    /// The counters since the client was built.
    pub fn stats(&self) -> GraphStats {
        self.inner.counters.snapshot()
    }

    /// Fetches a token for `creds` (or uses the cached one): checks a
    /// tenant's registration without touching Graph's budgets.
    pub async fn check_credentials(&self, creds: &AppCredentials) -> Result<(), GraphError> {
        let i = &self.inner;
        i.tokens
            .token(&i.http, &i.cfg, &i.counters, creds)
            .await
            .map(|_| ())
    }

    /// Fetches a token for any credential (or uses the cached one): checks
    /// a tenant's sign-in without touching Graph's budgets.
    pub async fn check(&self, cred: &Credential) -> Result<(), GraphError> {
        let i = &self.inner;
        i.tokens
            .token_for(&i.http, &i.cfg, &i.counters, &i.azure, cred)
            .await
            .map(|_| ())
    }

    /// Like [`Self::app_roles`] for any credential.
    pub async fn roles(&self, cred: &Credential) -> Result<Option<Vec<String>>, GraphError> {
        let i = &self.inner;
        let token = i
            .tokens
            .token_for(&i.http, &i.cfg, &i.counters, &i.azure, cred)
            .await?;
        Ok(super::auth::token_roles(token.expose()))
    }

    /// The application roles granted to `creds`' app, read from the
    /// `roles` claim of its access token (fetched, or the cached one):
    /// `None` when the token is not a JWT. The token itself is never
    /// returned.
    pub async fn app_roles(
        &self,
        creds: &AppCredentials,
    ) -> Result<Option<Vec<String>>, GraphError> {
        let i = &self.inner;
        let token = i.tokens.token(&i.http, &i.cfg, &i.counters, creds).await?;
        Ok(super::auth::token_roles(token.expose()))
    }

    pub(crate) fn remember_fresh(&self, id: Guid) {
        let mut m = self.inner.fresh.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if m.len() > 50_000 {
            let window = self.inner.cfg.real(self.inner.cfg.fresh_object_window);
            m.retain(|_, t| now.saturating_duration_since(*t) < window);
        }
        m.insert(id, now);
    }

    /// How long a write to `id` should wait until the object is
    /// [`GraphConfig::fresh_write_settle`] old (None: created long enough
    /// ago, or not by this client).
    pub(crate) fn settle_wait(&self, id: Guid) -> Option<std::time::Duration> {
        let settle = self.inner.cfg.real(self.inner.cfg.fresh_write_settle);
        if settle.is_zero() {
            return None;
        }
        let m = self.inner.fresh.lock().unwrap_or_else(|p| p.into_inner());
        let age = Instant::now().saturating_duration_since(*m.get(&id)?);
        (age < settle).then(|| settle - age)
    }

    pub(crate) fn is_fresh(&self, id: Guid) -> bool {
        let m = self.inner.fresh.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.inner.cfg.real(self.inner.cfg.fresh_object_window);
        m.get(&id)
            .is_some_and(|t| Instant::now().saturating_duration_since(*t) < window)
    }
}

/// A handle bound to one tenant and app; cheap to clone. The typed
/// operations live in `ops.rs` and `batch.rs`.
#[derive(Clone)]
pub struct TenantGraph {
    pub(crate) client: GraphClient,
    pub(crate) creds: Arc<Credential>,
    pub(crate) budget: Arc<TenantBudget>,
}

impl std::fmt::Debug for TenantGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantGraph")
            .field("tenant_id", &self.creds.tenant_id())
            .field("client_id", &self.creds.client_id())
            .field("credential", &self.creds.kind())
            .finish_non_exhaustive()
    }
}

impl TenantGraph {
    /// The tenant this handle calls into.
    pub fn tenant_id(&self) -> Guid {
        self.creds.tenant_id()
    }

    /// How this handle gets its tokens.
    pub fn credential(&self) -> &Credential {
        &self.creds
    }

    /// The client behind this handle.
    pub fn client(&self) -> &GraphClient {
        &self.client
    }

    /// Tells the client `id` was created recently (e.g. by an earlier run):
    /// 404s on it are retried for the fresh-object window.
    pub fn mark_fresh(&self, id: Guid) {
        self.client.remember_fresh(id);
    }

    /// `{graph}/v1.0/{segments...}`, each segment percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut u = self.client.inner.cfg.graph_url.clone();
        u.set_query(None);
        if let Ok(mut s) = u.path_segments_mut() {
            s.pop_if_empty();
            s.push("v1.0");
            s.extend(segments);
        }
        u
    }
}
