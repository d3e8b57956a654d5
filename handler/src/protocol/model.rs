//! The values a function receives and returns, already decoded from (or
//! not yet encoded into) the host's envelope. No wire details leak out of
//! here: a function sees a [`QueueMessage`] with its decoded body, not the
//! host's double-encoded string.
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::names::FunctionName;
use crate::domain::WorkItem;

/// One invocation of one function, as the host asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub function: FunctionName,
    /// From the `X-Azure-Functions-InvocationId` header; correlates our log
    /// lines with the host's in Application Insights.
    pub invocation_id: Option<String>,
    pub trigger: Trigger,
    /// The envelope's `Metadata` as sent (`sys.UtcNow`, queue message
    /// properties, ...); an empty object when the host sent none.
    pub metadata: serde_json::Value,
}

/// What triggered the invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Timer(TimerInfo),
    Queue(QueueMessage),
    Http(HttpRequest),
}

/// A timer trigger's `Data.timer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimerInfo {
    /// The run is late (e.g. the app was down at the scheduled time).
    pub is_past_due: bool,
    /// Previous scheduled run; `None` when the host reports none (it sends
    /// `0001-01-01T00:00:00` before the first run) or `ScheduleStatus` is null.
    pub last: Option<DateTime<Utc>>,
    /// Next scheduled run, when the host reports it.
    pub next: Option<DateTime<Utc>>,
    /// When the host last updated the schedule status.
    pub last_updated: Option<DateTime<Utc>>,
    /// `Schedule.AdjustForDST`, when present.
    pub adjust_for_dst: Option<bool>,
}

/// A queue trigger's message and its properties.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    /// The message decoded as JSON, after unwrapping the host's extra JSON
    /// string encoding. A message text that is not JSON at all arrives as
    /// `Value::String(text)` so that `poison-watch` can still record it.
    pub body: serde_json::Value,
    /// The message text (after unwrapping the extra encoding).
    pub raw: String,
    /// How many times this message has been delivered, this time included.
    /// The host moves it to the poison queue after `maxDequeueCount`.
    pub dequeue_count: u32,
    /// The queue message id (quotes the host adds are removed).
    pub id: Option<String>,
    pub pop_receipt: Option<String>,
    pub insertion_time: Option<DateTime<Utc>>,
    pub expiration_time: Option<DateTime<Utc>>,
    pub next_visible_time: Option<DateTime<Utc>>,
}

impl QueueMessage {
    /// The body as a [`WorkItem`]; [`InvokeError::BadInput`] naming what is
    /// wrong when it is not one (such a message never becomes valid).
    pub fn work_item(&self) -> Result<WorkItem, InvokeError> {
        if !self.body.is_object() {
            // Text that did not parse: say why (serde_json's syntax
            // messages say what and where, never quoting the text).
            if let (serde_json::Value::String(_), Err(e)) = (
                &self.body,
                serde_json::from_str::<serde_json::Value>(&self.raw),
            ) {
                return Err(InvokeError::BadInput(format!(
                    "the queue message is not JSON the handler can read ({e}), so it is no work item"
                )));
            }
            return Err(InvokeError::BadInput(
                "the queue message is not a JSON object, so it is no work item \
                 ({\"job\",\"sourceTenantId\",\"runId\",\"cursor\",\"enqueuedAt\"})"
                    .into(),
            ));
        }
        crate::domain::json::from_value::<WorkItem>(&self.body)
            .map_err(|e| InvokeError::BadInput(format!("the queue message is no work item: {e}")))
    }
}

/// An HTTP trigger's request (`Data.req`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    /// The full URL the client called (`https://<app>.azurewebsites.net/api/report?...`).
    pub url: String,
    /// Upper case (`GET`, `POST`).
    pub method: String,
    /// Query parameters; a repeated parameter keeps its values comma-joined,
    /// as the host sends them.
    pub query: BTreeMap<String, String>,
    /// Header names in lower case (HTTP names are case-insensitive).
    pub headers: BTreeMap<String, Vec<String>>,
    /// The body bytes; base64-decoded when the host sent a binary body.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .and_then(|v| v.first())
            .map(String::as_str)
    }
}

/// An HTTP function's answer (`Outputs.res`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpResponse {
    #[serde(rename = "statusCode")]
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl HttpResponse {
    /// A response with a `Content-Type` header.
    pub fn new(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        HttpResponse {
            status,
            headers: BTreeMap::from([("Content-Type".to_string(), content_type.to_string())]),
            body: body.into(),
        }
    }

    /// `application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }

    /// `text/html; charset=utf-8`.
    pub fn html(status: u16, body: impl Into<String>) -> Self {
        Self::new(status, "text/html; charset=utf-8", body)
    }
}

/// What a successful invocation produces.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionOutput {
    /// Work items to enqueue on `guestsync-work` (`Outputs.workItems`), one
    /// message per element. Each must be a JSON object: the host would try
    /// to base64-decode a bare string.
    pub queue_messages: Vec<serde_json::Value>,
    /// Messages to keep on `guestsync-quarantine` (`Outputs.quarantine`):
    /// a queue message that is no work item, with the reason. JSON objects.
    pub quarantine: Vec<serde_json::Value>,
    /// The answer of an HTTP function (`Outputs.res`); required for
    /// `report` and `provision`, refused for the others.
    pub http: Option<HttpResponse>,
    /// Lines the host adds to the function's logs (`Logs`).
    pub logs: Vec<String>,
    /// `ReturnValue`; `null` when `None`.
    pub return_value: Option<serde_json::Value>,
}

impl FunctionOutput {
    /// An HTTP answer and nothing else.
    pub fn http(res: HttpResponse) -> Self {
        FunctionOutput {
            http: Some(res),
            ..Default::default()
        }
    }

    /// Work items to enqueue and nothing else.
    pub fn enqueue(items: Vec<serde_json::Value>) -> Self {
        FunctionOutput {
            queue_messages: items,
            ..Default::default()
        }
    }
}

/// Why an invocation failed; the variant decides whether the host retries
/// (see the error policy table in [`crate::protocol`]). The message is
/// logged in the invocation event and returned to the host (and to HTTP
/// callers): name objects by id, never by name or e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// Worth retrying (Graph or storage unavailable, throttled past the
    /// budget): answered non-2xx so the host redelivers a queue message.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will fail the same way again and is already recorded (on the run, in
    /// the store): answered 200 so the message does not loop to the poison
    /// queue.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The input itself is wrong (a malformed work item, a bad provision
    /// request): answered 200 with the error in `Logs` for queue and timer
    /// functions (the function records it first), `res` 400 for HTTP ones.
    #[error("bad input: {0}")]
    BadInput(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A work item with a value of the wrong type names the field (found
    /// by the reliability fuzzing: serde's message named only the type).
    #[test]
    fn a_bad_work_item_field_is_named() {
        let msg = QueueMessage {
            body: serde_json::json!({"job": "reconcile", "sourceTenantId": 5,
                "runId": "6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "enqueuedAt": "2026-11-23T01:00:00Z"}),
            raw: String::new(),
            dequeue_count: 1,
            id: None,
            pop_receipt: None,
            insertion_time: None,
            expiration_time: None,
            next_visible_time: None,
        };
        let e = msg.work_item().unwrap_err().to_string();
        assert!(e.contains("sourceTenantId"), "{e}");
        // Nested deeper than the parser goes: said so, not "no object".
        let raw = format!("{{\"job\":{}{}}}", "[".repeat(200), "]".repeat(200));
        let deep = QueueMessage {
            body: serde_json::Value::String(raw.clone()),
            raw,
            ..msg
        };
        let e = deep.work_item().unwrap_err().to_string();
        assert!(e.contains("recursion limit"), "{e}");
    }
}
