//! Tests of the custom-handler protocol layer: the envelope contract, the
//! error policy, concurrency, graceful shutdown, the real `handler` binary,
//! the function definitions (mirror check) and the packaging command.
//!
//! The Functions host itself (`func`) cannot run here, so these tests play
//! it: they POST the envelopes it sends (captured payloads from
//! docs/protocol.md) and check what it would receive back.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use guest_sync::protocol::{
    from_fn, Function, FunctionOutput, Invocation, InvokeError, INVOCATION_ID_HEADER,
};
use serde_json::{json, Value};
use tower::ServiceExt;

pub mod binary;
mod contract;
mod definitions;
mod errors;
mod lifecycle;
mod packaging;
mod timers;

/// The repository root (where `functions/`, `host.json` live).
pub fn repo_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A timer envelope exactly as captured from a real host.
pub fn captured_timer_envelope() -> Value {
    json!({"Data":{"timer":{"Schedule":{"AdjustForDST":true},
      "ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2024-11-30T14:45:51+00:00","LastUpdated":"2024-11-30T14:43:50.403838+00:00"},
      "IsPastDue":false}},
     "Metadata":{"sys":{"MethodName":"sync-timer","UtcNow":"2024-11-30T14:43:50.46239Z","RandGuid":"5f1e0f4a-3a0c-4a53-9a7f-1f2d3c4b5a69"}}})
}

/// A valid work item (the shape in `docs/design.md`, "Work items").
pub fn work_item() -> Value {
    json!({
        "job": "reconcile",
        "sourceTenantId": "33333333-3333-4333-8333-333333333333",
        "runId": "44444444-4444-4444-8444-444444444444",
        "cursor": null,
        "enqueuedAt": "2024-11-30T14:43:50Z"
    })
}

/// A queue envelope the way the host sends it: the message text
/// JSON-encoded once more, the metadata with quoted id and pop receipt and
/// a string dequeue count.
pub fn double_encoded_queue_envelope(message: &Value) -> Value {
    let text = message.to_string();
    let once_more = serde_json::to_string(&text).unwrap();
    json!({
        "Data": { "workItem": once_more },
        "Metadata": {
            "DequeueCount": "1",
            "Id": "\"5b6a5b4c-7f3e-4d3a-9d2f-6a1b2c3d4e5f\"",
            "PopReceipt": "\"AgAAAAMAAAAAAAAA\"",
            "InsertionTime": "2024-11-30T14:43:51+00:00",
            "ExpirationTime": "2024-12-07T14:43:51+00:00",
            "NextVisibleTime": "2024-11-30T14:53:51+00:00",
            "job": "reconcile",
            "sys": { "MethodName": "tenant-worker", "UtcNow": "2024-11-30T14:43:52Z" }
        }
    })
}

/// A function that records every invocation it gets and answers `reply`.
pub struct Recorder {
    pub seen: Mutex<Vec<Invocation>>,
    reply: Result<FunctionOutput, InvokeError>,
}

impl Recorder {
    pub fn replying(reply: Result<FunctionOutput, InvokeError>) -> Arc<Recorder> {
        Arc::new(Recorder {
            seen: Mutex::new(Vec::new()),
            reply,
        })
    }

    /// The single invocation seen so far.
    pub fn only(&self) -> Invocation {
        let seen = self.seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "expected exactly one invocation");
        seen[0].clone()
    }
}

#[async_trait::async_trait]
impl Function for Recorder {
    async fn invoke(&self, inv: Invocation) -> Result<FunctionOutput, InvokeError> {
        self.seen.lock().unwrap().push(inv);
        self.reply.clone()
    }
}

/// A function that answers `Ok` with nothing (for "still serves" checks).
pub fn ok_function() -> Arc<dyn Function> {
    from_fn(|_inv| async { Ok(FunctionOutput::default()) })
}

/// POSTs `body` to `/{function}` through the router, returning the status
/// and the JSON answer (`Value::Null` when the body is not JSON).
pub async fn post(router: &Router, function: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let req = Request::post(format!("/{function}"))
        .header("content-type", "application/json")
        .header(INVOCATION_ID_HEADER, "0f0e0d0c-0b0a-4909-8807-060504030201")
        .body(body.into())
        .unwrap();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// POSTs a JSON envelope.
pub async fn post_json(router: &Router, function: &str, envelope: &Value) -> (StatusCode, Value) {
    post(router, function, envelope.to_string()).await
}

/// A guard against a hung test: fails instead of waiting forever.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish"))
}
