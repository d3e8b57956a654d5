//! `$batch`: up to 20 requests in one round trip, with a result per item.
//!
//! Each item counts against the budgets on its own, so the batch acquires
//! the sum of its items' costs. Items answered 429 (with their own
//! `Retry-After`), 5xx, or 404 on a fresh object are re-submitted alone in
//! a new batch (up to `max_retries` rounds); the others keep their result.
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::error::{ErrorContext, GraphError};
use super::http::{map_error, Body, Call, Operation, TenantGraph};
use super::models::InviteRequest;
use super::ops::is_already_member;
use super::pacing::Cost;
use super::retry::retry_after_from;
use super::stats::Counters;
use crate::domain::Guid;

/// Most requests Graph accepts in one `$batch`.
pub const MAX_BATCH: usize = 20;

/// One request inside a `$batch`.
#[derive(Debug, Clone)]
pub struct BatchRequest {
    pub op: Operation,
    pub method: Method,
    /// Relative to `/v1.0`, e.g. `/users/{id}`.
    pub url: String,
    pub body: Option<Value>,
    /// The object the item is about (fresh-object 404 retries).
    pub object: Option<Guid>,
    cost: Cost,
}

impl BatchRequest {
    /// PATCH `/users/{id}`.
    pub fn patch_user(id: Guid, patch: &Map<String, Value>) -> Self {
        BatchRequest {
            op: Operation::PatchUser,
            method: Method::PATCH,
            url: format!("/users/{id}"),
            body: Some(Value::Object(patch.clone())),
            object: Some(id),
            cost: Cost::write(),
        }
    }
    /// DELETE `/users/{id}`.
    pub fn delete_user(id: Guid) -> Self {
        BatchRequest {
            op: Operation::DeleteUser,
            method: Method::DELETE,
            url: format!("/users/{id}"),
            body: None,
            object: Some(id),
            cost: Cost::write(),
        }
    }
    /// GET `/users/{id}?$select=...`.
    pub fn get_user(id: Guid, select: &[&str]) -> Self {
        let sel: String =
            url::form_urlencoded::byte_serialize(select.join(",").as_bytes()).collect();
        BatchRequest {
            op: Operation::GetUser,
            method: Method::GET,
            url: format!("/users/{id}?$select={sel}"),
            body: None,
            object: Some(id),
            cost: Cost::read(1),
        }
    }
    /// POST `/invitations` (no e-mail sent).
    pub fn invite(req: &InviteRequest) -> Self {
        let mut body = json!({
            "invitedUserEmailAddress": req.email,
            "inviteRedirectUrl": req.redirect_url,
            "sendInvitationMessage": false,
            "invitedUserType": if req.user_type.is_empty() { "Guest" } else { req.user_type.as_str() },
        });
        if let (Some(n), Some(o)) = (&req.display_name, body.as_object_mut()) {
            o.insert("invitedUserDisplayName".into(), Value::String(n.clone()));
        }
        BatchRequest {
            op: Operation::Invite,
            method: Method::POST,
            url: "/invitations".into(),
            body: Some(body),
            object: None,
            cost: Cost::invite(),
        }
    }
}

/// The outcome of one batch item.
#[derive(Debug)]
pub struct BatchItemResult {
    /// The item's final HTTP status (0 when the batch never answered for it).
    pub status: u16,
    /// The item's body on success (None when empty, e.g. 204).
    pub result: Result<Option<Value>, GraphError>,
}

impl TenantGraph {
    /// Sends up to [`MAX_BATCH`] requests in one `$batch`; results come back
    /// in the order of `items`. Throttled and transient items are retried
    /// on their own; an error of the whole batch is returned as `Err`.
    pub async fn batch(
        &self,
        items: Vec<BatchRequest>,
    ) -> Result<Vec<BatchItemResult>, GraphError> {
        let cfg = &self.client.inner.cfg;
        let counters = &self.client.inner.counters;
        if items.len() > MAX_BATCH {
            return Err(GraphError::Permanent {
                detail: format!(
                    "a $batch holds at most {MAX_BATCH} requests, got {}",
                    items.len()
                ),
                ctx: ErrorContext {
                    operation: Operation::Batch.name(),
                    status: None,
                    client_request_id: uuid::Uuid::nil(),
                    graph_code: None,
                },
            });
        }
        let mut results: Vec<Option<BatchItemResult>> = items.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut round = 0u32;
        while !pending.is_empty() {
            let requests: Vec<Value> = pending
                .iter()
                .map(|&i| {
                    let it = &items[i];
                    let mut r = json!({
                        "id": (i + 1).to_string(),
                        "method": it.method.as_str(),
                        "url": it.url,
                    });
                    if let (Some(b), Some(o)) = (&it.body, r.as_object_mut()) {
                        o.insert("body".into(), b.clone());
                        o.insert(
                            "headers".into(),
                            json!({"Content-Type": "application/json"}),
                        );
                    }
                    r
                })
                .collect();
            let cost = pending
                .iter()
                .fold(Cost::default(), |c, &i| c.plus(items[i].cost));
            let call = Call {
                op: Operation::Batch,
                method: Method::POST,
                url: self.url(&["$batch"]),
                body: Body::Json(json!({ "requests": requests })),
                cost,
                eventual: false,
                object: None,
                max_body: None,
            };
            let answer = self.send(&call).await?;
            let v = answer.json(call.op)?;
            let Some(responses) = v.get("responses").and_then(Value::as_array) else {
                return Err(GraphError::InvalidResponse {
                    what: "the $batch answer has no \"responses\" array".into(),
                    ctx: answer.ctx(call.op),
                });
            };
            let mut retry = Vec::new();
            let mut wait = std::time::Duration::ZERO;
            let mut answered = vec![false; items.len()];
            for r in responses {
                let Some(i) = r
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<usize>().ok())
                    .and_then(|n| n.checked_sub(1))
                    .filter(|i| pending.contains(i))
                else {
                    return Err(GraphError::InvalidResponse {
                        what: "a $batch response has an id that was not sent".into(),
                        ctx: answer.ctx(call.op),
                    });
                };
                answered[i] = true;
                let it = &items[i];
                let status = r
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0);
                let body = r.get("body").cloned().filter(|b| !b.is_null());
                let header = |name: &str| {
                    r.get("headers").and_then(Value::as_object).and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .and_then(|(_, v)| v.as_str())
                    })
                };
                if (200..300).contains(&status) {
                    results[i] = Some(BatchItemResult {
                        status,
                        result: Ok(body),
                    });
                    continue;
                }
                let body_bytes = body
                    .as_ref()
                    .map(|b| serde_json::to_vec(b).unwrap_or_default())
                    .unwrap_or_default();
                let mut err = map_error(
                    it.op,
                    status,
                    &body_bytes,
                    &it.url
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .replace('@', "[at]"),
                    answer.request_id,
                    self.creds.as_ref(),
                );
                let fresh = it.object.is_some_and(|id| self.client.is_fresh(id));
                let retryable = match status {
                    429 => {
                        Counters::add(&counters.throttled, 1);
                        let ra = retry_after_from(header);
                        self.budget.on_throttled(it.cost.primary(), ra);
                        let d = ra.unwrap_or_else(|| {
                            cfg.real(super::retry::backoff(
                                round,
                                cfg.backoff_base,
                                cfg.backoff_cap,
                                &mut rand::thread_rng(),
                            ))
                        });
                        if let GraphError::Throttled { retry_after, .. } = &mut err {
                            *retry_after = d;
                        }
                        if ra.is_none() {
                            wait = wait.max(d);
                        }
                        true
                    }
                    s if s >= 500 => {
                        Counters::add(&counters.transient_failures, 1);
                        true
                    }
                    404 => fresh,
                    _ => false,
                };
                if it.op == Operation::AddGroupMember && is_already_member(&err) {
                    results[i] = Some(BatchItemResult {
                        status,
                        result: Ok(None),
                    });
                } else if retryable && round < cfg.max_retries {
                    if status >= 500 || status == 404 {
                        wait = wait.max(cfg.real(super::retry::backoff(
                            round,
                            cfg.backoff_base,
                            cfg.backoff_cap,
                            &mut rand::thread_rng(),
                        )));
                    }
                    retry.push(i);
                } else {
                    results[i] = Some(BatchItemResult {
                        status,
                        result: Err(err),
                    });
                }
            }
            for &i in &pending {
                if !answered[i] {
                    results[i] = Some(BatchItemResult {
                        status: 0,
                        result: Err(GraphError::InvalidResponse {
                            what: format!("the $batch answer has no response for item {}", i + 1),
                            ctx: answer.ctx(call.op),
                        }),
                    });
                }
            }
            if !retry.is_empty() {
                Counters::add(&counters.retries, retry.len() as u64);
                round += 1;
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
            pending = retry;
        }
        for (i, it) in items.iter().enumerate() {
            if it.op == Operation::Invite {
                if let Some(Some(id)) = results[i].as_ref().map(|r| {
                    r.result
                        .as_ref()
                        .ok()
                        .and_then(|b| b.as_ref())
                        .and_then(|b| b.pointer("/invitedUser/id"))
                        .and_then(Value::as_str)
                        .and_then(|s| Guid::parse_named(s, "invited user id").ok())
                }) {
                    self.client.remember_fresh(id);
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or(BatchItemResult {
                    status: 0,
                    result: Err(GraphError::InvalidResponse {
                        what: "no result for a $batch item".into(),
                        ctx: ErrorContext {
                            operation: Operation::Batch.name(),
                            status: None,
                            client_request_id: uuid::Uuid::nil(),
                            graph_code: None,
                        },
                    }),
                })
            })
            .collect())
    }
}
