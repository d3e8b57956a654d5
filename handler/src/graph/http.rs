//! The HTTP core: [`GraphClient`] (one per process) and [`TenantGraph`] (a
//! handle bound to one tenant's credentials), and the one function every
//! call goes through, `TenantGraph::send`: pace, authenticate, send with a
//! timeout and a fresh `client-request-id`, classify the answer, retry what
//! is worth retrying, map the rest to a [`GraphError`].
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use super::auth::{AppCredentials, TokenCache};
use super::error::{scrub_addresses, transport_detail, AadstsCode, ErrorContext, GraphError};
use super::models::{FirstPage, GraphUser, PagedRead};
use super::pacing::{limit_percentage, Cost, TenantBudget};
use super::retry::{backoff, retry_after_from};
use super::stats::{Counters, GraphStats};
use super::GraphConfig;
use crate::domain::Guid;

/// What a call does; names the operation in errors and the permission it
/// needs in [`GraphError::Forbidden`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /groups/{id}/transitiveMembers/microsoft.graph.user`.
    ReadGroupMembers,
    /// `GET /groups/{id}`.
    GetGroup,
    /// `@odata.count` of the transitive user members.
    CountGroupMembers,
    /// `GET /users/{id or UPN}`.
    GetUser,
    /// `GET /users?$filter=` by address.
    FindUsers,
    /// `GET /users?$top=` (no filter): a look at the tenant's users.
    ListUsers,
    /// `GET /users?$filter=userType eq 'Guest'`.
    ListGuests,
    /// `GET /directory/deletedItems/microsoft.graph.user`.
    ListDeletedUsers,
    /// `POST /invitations`.
    Invite,
    /// `PATCH /users/{id}`.
    PatchUser,
    /// `DELETE /users/{id}`.
    DeleteUser,
    /// `POST /directory/deletedItems/{id}/restore`.
    RestoreUser,
    /// `GET /users/{id}/photo`.
    GetPhoto,
    /// `GET /users/{id}/photo/$value`.
    GetPhotoBytes,
    /// `PUT /users/{id}/photo/$value`.
    PutPhoto,
    /// `DELETE /users/{id}/photo/$value`.
    DeletePhoto,
    /// `POST /groups/{id}/members/$ref`.
    AddGroupMember,
    /// `POST /$batch` (the envelope; items carry their own operation).
    Batch,
}

impl Operation {
    /// A short name for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ReadGroupMembers => "read group members",
            Operation::GetGroup => "get group",
            Operation::CountGroupMembers => "count group members",
            Operation::GetUser => "get user",
            Operation::FindUsers => "find users",
            Operation::ListUsers => "list users",
            Operation::ListGuests => "list guests",
            Operation::ListDeletedUsers => "list deleted users",
            Operation::Invite => "invite",
            Operation::PatchUser => "patch user",
            Operation::DeleteUser => "delete user",
            Operation::RestoreUser => "restore deleted user",
            Operation::GetPhoto => "get photo metadata",
            Operation::GetPhotoBytes => "get photo",
            Operation::PutPhoto => "put photo",
            Operation::DeletePhoto => "delete photo",
            Operation::AddGroupMember => "add group member",
            Operation::Batch => "$batch",
        }
    }

    /// The least-privileged application permission the operation needs
    /// (`docs/graph-client.md`, "Permissions").
    pub fn permission(&self) -> Option<&'static str> {
        Some(match self {
            Operation::ReadGroupMembers | Operation::GetGroup | Operation::CountGroupMembers => {
                "GroupMember.Read.All"
            }
            Operation::GetUser
            | Operation::FindUsers
            | Operation::ListUsers
            | Operation::ListGuests
            | Operation::GetPhoto
            | Operation::GetPhotoBytes => "User.Read.All",
            Operation::ListDeletedUsers
            | Operation::PatchUser
            | Operation::DeleteUser
            | Operation::RestoreUser => "User.ReadWrite.All",
            Operation::Invite => "User.Invite.All",
            Operation::PutPhoto | Operation::DeletePhoto => "ProfilePhoto.ReadWrite.All",
            Operation::AddGroupMember => "GroupMember.ReadWrite.All",
            Operation::Batch => return None,
        })
    }
}

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
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: uuid::Uuid,
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
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.request_timeout.min(std::time::Duration::from_secs(10)))
            .user_agent(cfg.user_agent.clone())
            .pool_max_idle_per_host(256)
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
        Ok(GraphClient {
            inner: Arc::new(Inner {
                cfg,
                http,
                tokens: TokenCache::default(),
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
    pub fn tenant(&self, creds: AppCredentials) -> TenantGraph {
        let budget = self.budget(creds.tenant_id);
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

    pub(crate) fn remember_fresh(&self, id: Guid) {
        let mut m = self.inner.fresh.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if m.len() > 50_000 {
            let window = self.inner.cfg.real(self.inner.cfg.fresh_object_window);
            m.retain(|_, t| now.saturating_duration_since(*t) < window);
        }
        m.insert(id, now);
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
    pub(crate) creds: Arc<AppCredentials>,
    pub(crate) budget: Arc<TenantBudget>,
}

impl std::fmt::Debug for TenantGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantGraph")
            .field("tenant_id", &self.creds.tenant_id)
            .field("client_id", &self.creds.client_id)
            .finish_non_exhaustive()
    }
}

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

/// Graph's `{"error":{"code","message"}}`, when present.
pub(crate) fn parse_graph_error(body: &[u8]) -> (Option<String>, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = v.get("error");
    let code = e
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let msg = e
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    (code, scrub_addresses(msg))
}

/// A permission named in Graph's message (`User.Invite.All`, ...).
pub(crate) fn named_permission(message: &str) -> Option<String> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() >= 2
                && parts.last().is_some_and(|l| *l == "All")
                && parts
                    .iter()
                    .all(|p| p.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        })
        .map(str::to_string)
}

/// Graph's refusal of an invitation because of the tenant's guest invite
/// settings (as opposed to a missing permission).
pub(crate) fn looks_like_invitation_restriction(code: Option<&str>, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let code_says = code.is_some_and(|c| {
        let c = c.to_ascii_lowercase();
        c.contains("invit") && (c.contains("restrict") || c.contains("notallowed"))
    });
    code_says
        || (m.contains("invit")
            && (m.contains("not allowed")
                || m.contains("restrict")
                || m.contains("admin")
                || m.contains("disabled")))
}

/// Maps a non-2xx answer that is not retried.
pub(crate) fn map_error(
    op: Operation,
    status: u16,
    body: &[u8],
    what: &str,
    request_id: uuid::Uuid,
    creds: &AppCredentials,
) -> GraphError {
    let (code, message) = parse_graph_error(body);
    let ctx = ErrorContext {
        operation: op.name(),
        status: Some(status),
        client_request_id: request_id,
        graph_code: code.clone(),
    };
    let detail = match &code {
        Some(c) if !message.is_empty() => format!("{c}: {message}"),
        Some(c) => c.clone(),
        None if !message.is_empty() => message.clone(),
        None => format!("HTTP {status}"),
    };
    match status {
        401 => GraphError::Auth {
            code: AadstsCode::Unknown,
            message: format!(
                "{} (Graph said: {detail})",
                AadstsCode::Unknown.admin_message(creds.tenant_id, creds.client_id)
            ),
            detail,
            ctx,
        },
        403 if op == Operation::Invite
            && looks_like_invitation_restriction(code.as_deref(), &message) =>
        {
            GraphError::InvitationsRestricted { detail, ctx }
        }
        403 => GraphError::Forbidden {
            missing_permission: named_permission(&message)
                .or_else(|| op.permission().map(str::to_string)),
            detail,
            ctx,
        },
        404 | 410 => GraphError::NotFound {
            what: what.to_string(),
            ctx,
        },
        429 => GraphError::Throttled {
            retry_after: std::time::Duration::ZERO,
            ctx,
        },
        s if s >= 500 => GraphError::Transient { detail, ctx },
        _ => GraphError::Permanent { detail, ctx },
    }
}

impl TenantGraph {
    /// The tenant this handle calls into.
    pub fn tenant_id(&self) -> Guid {
        self.creds.tenant_id
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
        loop {
            self.budget.acquire(call.cost).await;
            let token = inner.tokens.token(&inner.http, cfg, c, &self.creds).await?;
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
                    let body = resp.bytes().await.ok();
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
                                    inner.tokens.invalidate(&self.creds, &token).await;
                                    continue;
                                }
                                s if s >= 500 => {
                                    Counters::add(&c.transient_failures, 1);
                                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                                    (
                                        map_error(call.op, status, &body, "", rid, &self.creds),
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
                                        &self.creds,
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
                                        &self.creds,
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

    /// Reads every page into one vector, or the error.
    pub(crate) async fn all_pages(&self, first: Call) -> Result<Vec<GraphUser>, GraphError> {
        let mut all = Vec::new();
        let read = self.pages(first, |p| all.extend(p)).await;
        match read.error {
            Some(e) => Err(e),
            None => Ok(all),
        }
    }
}

struct Page {
    users: Vec<GraphUser>,
    next: Option<Url>,
    count: Option<u64>,
}

fn parse_page(answer: &Answer, op: Operation, graph_url: &Url) -> Result<Page, GraphError> {
    let invalid = |what: String| GraphError::InvalidResponse {
        what,
        ctx: answer.ctx(op),
    };
    let v = answer.json(op)?;
    let Some(items) = v.get("value").and_then(Value::as_array) else {
        return Err(invalid("a collection page has no \"value\" array".into()));
    };
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        users.push(
            GraphUser::from_value(item.clone())
                .map_err(|e| invalid(format!("item {i} of the page: {e}")))?,
        );
    }
    let next = match v.get("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let u = Url::parse(s).map_err(|_| invalid("@odata.nextLink is not a URL".into()))?;
            // The bearer token must never go to another host.
            if u.origin() != graph_url.origin() {
                return Err(invalid(format!(
                    "@odata.nextLink points to another host ({})",
                    u.host_str().unwrap_or("none")
                )));
            }
            Some(u)
        }
        Some(_) => return Err(invalid("@odata.nextLink is not a string".into())),
    };
    let count = v.get("@odata.count").and_then(Value::as_u64);
    Ok(Page { users, next, count })
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

    /// Permissions named in Graph's messages are found.
    #[test]
    fn permissions_named_in_messages_are_found() {
        assert_eq!(
            named_permission("Missing role permissions on the request. API requires one of 'User.Invite.All, User.ReadWrite.All'."),
            Some("User.Invite.All".to_string())
        );
        assert_eq!(
            named_permission("Insufficient privileges to complete the operation."),
            None
        );
    }

    /// A 403 on an invitation is "restricted" only when Graph talks about
    /// invitations being disallowed; otherwise it names User.Invite.All.
    #[test]
    fn invitation_403s_are_told_apart() {
        let creds = AppCredentials {
            tenant_id: Guid::new_v4(),
            client_id: Guid::new_v4(),
            secret: crate::secrets::SecretString::new("x"),
        };
        let restricted = br#"{"error":{"code":"Authorization_RequestDenied","message":"Guest invitations not allowed for your company. Contact your company administrator for more details."}}"#;
        let e = map_error(
            Operation::Invite,
            403,
            restricted,
            "",
            uuid::Uuid::nil(),
            &creds,
        );
        assert!(matches!(e, GraphError::InvitationsRestricted { .. }), "{e}");
        let denied = br#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#;
        let e = map_error(
            Operation::Invite,
            403,
            denied,
            "",
            uuid::Uuid::nil(),
            &creds,
        );
        match e {
            GraphError::Forbidden {
                missing_permission, ..
            } => assert_eq!(missing_permission.as_deref(), Some("User.Invite.All")),
            other => panic!("{other}"),
        }
        let e = map_error(
            Operation::ReadGroupMembers,
            403,
            denied,
            "",
            uuid::Uuid::nil(),
            &creds,
        );
        assert!(e.to_string().contains("GroupMember.Read.All"), "{e}");
    }
}
