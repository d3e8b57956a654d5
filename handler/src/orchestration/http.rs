//! The HTTP functions: `report` (statistics as JSON, or the HTML dashboard)
//! and `provision` (provision or preview one source user now, like Entra's
//! "provision on demand"). Both are behind the function key (authLevel
//! function).
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use serde::Deserialize;

use crate::app::App;
use crate::domain::Guid;
use crate::engine::SyncError;
use crate::protocol::{Function, FunctionOutput, HttpResponse, Invocation, InvokeError, Trigger};
use crate::report::Statistics;

fn http_request(inv: &Invocation) -> Result<&crate::protocol::HttpRequest, InvokeError> {
    match &inv.trigger {
        Trigger::Http(r) => Ok(r),
        _ => Err(InvokeError::BadInput("expected an HTTP trigger".into())),
    }
}

/// The `report` function.
pub struct Report {
    app: Arc<App>,
}

impl Report {
    pub fn new(app: Arc<App>) -> Self {
        Report { app }
    }
}

#[async_trait]
impl Function for Report {
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        let req = http_request(&inv)?;
        let stats = Statistics::load(self.app.store.as_ref(), Utc::now())
            .await
            .map_err(|e| InvokeError::Transient(format!("cannot read the store: {e}")))?;
        let (status, content_type, body) = crate::report::respond(
            &stats,
            req.header("accept"),
            req.query.get("format").map(String::as_str),
        );
        let mut res = HttpResponse::new(status, content_type, body);
        res.headers
            .insert("Cache-Control".into(), "no-store".into());
        // The page's own policy, as a header too: no inline script but
        // the page's pinned one, nothing fetched; and no MIME sniffing.
        res.headers
            .insert("Content-Security-Policy".into(), crate::report::html_csp());
        res.headers
            .insert("X-Content-Type-Options".into(), "nosniff".into());
        Ok(FunctionOutput::http(res))
    }
}

/// The body of a `provision` request.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionRequest {
    /// The source tenant (GUID).
    pub tenant_id: String,
    /// The source user: object id or user principal name.
    pub user: String,
    /// Compute and show what would be done, write nothing.
    #[serde(default)]
    pub preview: bool,
}

/// The `provision` function.
pub struct Provision {
    app: Arc<App>,
}

impl Provision {
    pub fn new(app: Arc<App>) -> Self {
        Provision { app }
    }
}

fn bad_request(msg: impl Into<String>) -> FunctionOutput {
    FunctionOutput::http(HttpResponse::json(
        400,
        &serde_json::json!({ "error": msg.into() }),
    ))
}

#[async_trait]
impl Function for Provision {
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        let req = http_request(&inv)?;
        if req.method != "POST" {
            return Ok(FunctionOutput::http(HttpResponse::json(
                405,
                &serde_json::json!({ "error": format!("provision takes POST, not {}", req.method) }),
            )));
        }
        let Some(body) = req.body.as_deref() else {
            return Ok(bad_request(
                "the body must be JSON: {\"tenantId\": \"<guid>\", \"user\": \"<object id or UPN>\", \"preview\": false}",
            ));
        };
        let p: ProvisionRequest = match serde_json::from_slice(body) {
            Ok(p) => p,
            Err(e) => {
                return Ok(bad_request(format!(
                    "the body is not a provision request: {e}"
                )))
            }
        };
        let tid = match Guid::parse_named(&p.tenant_id, "tenantId") {
            Ok(t) => t,
            Err(e) => return Ok(bad_request(e.to_string())),
        };
        if p.user.trim().is_empty() {
            return Ok(bad_request(
                "user must be a source object id or user principal name",
            ));
        }
        let tenant = match self.app.store.get_tenant(tid).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Ok(FunctionOutput::http(HttpResponse::json(
                    404,
                    &serde_json::json!({ "error": format!("source tenant {tid} is not registered") }),
                )))
            }
            Err(e) => {
                return Err(InvokeError::Transient(format!(
                    "cannot read the tenant registry: {e}"
                )))
            }
        };
        let engine = self.app.engine();
        match crate::engine::provision_user(&engine, &tenant, p.user.trim(), p.preview).await {
            Ok(outcome) => match serde_json::to_value(&outcome) {
                Ok(v) => Ok(FunctionOutput::http(HttpResponse::json(200, &v))),
                Err(e) => Err(InvokeError::Permanent(format!(
                    "provision result encoding: {e}"
                ))),
            },
            Err(SyncError::UserNotFound(u)) => Ok(FunctionOutput::http(HttpResponse::json(
                422,
                &serde_json::json!({ "error": format!("source user {u:?} was not found in source tenant {tid}") }),
            ))),
            Err(e) if e.is_transient() => Ok(FunctionOutput::http(HttpResponse::json(
                503,
                &serde_json::json!({ "error": e.describe(), "retry": true }),
            ))),
            Err(e) => Ok(FunctionOutput::http(HttpResponse::json(
                422,
                &serde_json::json!({ "error": e.describe() }),
            ))),
        }
    }
}
