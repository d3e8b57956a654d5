//! The host harness: plays the Azure Functions host against the handler's
//! real HTTP server, with real queues in Azurite.
//!
//! What it does, as the host does (`docs/protocol.md`):
//! - fires a timer by POSTing the captured timer envelope;
//! - turns `Outputs.workItems` into messages on `guestsync-work`
//!   (base64 message encoding, as the host's default);
//! - delivers queued messages to `tenant-worker` with the host's envelope
//!   (the message text double- or single-encoded, `DequeueCount` as a number
//!   or a string, quoted `Id`/`PopReceipt`), several at once;
//! - deletes a message on a 2xx answer and enqueues its outputs; leaves it on
//!   a non-2xx answer so it comes back after the visibility timeout; after
//!   `maxDequeueCount` deliveries moves it to `guestsync-work-poison`, whose
//!   messages go to `poison-watch`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use guest_sync::protocol::{self, FunctionSet};
use serde_json::{json, Value};

use super::queue::{QueueClient, ReceivedMessage};

pub const WORK: &str = "guestsync-work";
pub const POISON: &str = "guestsync-work-poison";
/// Azurite's well-known development account key.
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// What the harness saw, for assertions.
#[derive(Debug, Default)]
pub struct Tally {
    pub deliveries: AtomicU64,
    pub non_2xx: AtomicU64,
    pub poisoned: AtomicU64,
    pub poison_deliveries: AtomicU64,
    /// Deliveries of a work item seen before (dequeue count above 1).
    pub redeliveries: AtomicU64,
    /// The bodies of the non-2xx answers (the error the handler named).
    pub errors: std::sync::Mutex<Vec<Value>>,
    /// The `Logs` of every 2xx answer to a queue delivery.
    pub logs: std::sync::Mutex<Vec<String>>,
}

pub struct Host {
    pub base: String,
    pub queues: QueueClient,
    http: reqwest::Client,
    pub max_dequeue: u32,
    pub visibility_secs: u32,
    pub tally: Arc<Tally>,
    server: tokio::task::JoinHandle<()>,
    _azurite: guest_sync::devtools::azurite::Azurite,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Host {
    /// Serves `set` on a loopback port (the handler's real router) and
    /// starts Azurite's queue service.
    pub async fn start(set: FunctionSet) -> Host {
        let azurite = crate::support::azurite::start();
        let queues =
            QueueClient::new(&azurite.queue_endpoint, "devstoreaccount1", DEV_KEY).unwrap();
        queues.create_queue(WORK).await.unwrap();
        queues.create_queue(POISON).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = protocol::serve(listener, set, std::future::pending()).await;
        });
        Host {
            base,
            queues,
            http: reqwest::Client::new(),
            max_dequeue: 5,
            visibility_secs: 1,
            tally: Arc::new(Tally::default()),
            server,
            _azurite: azurite,
        }
    }

    async fn post(&self, function: &str, envelope: Value) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}/{function}", self.base))
            .header(
                "X-Azure-Functions-InvocationId",
                uuid::Uuid::new_v4().to_string(),
            )
            .json(&envelope)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    async fn enqueue_outputs(&self, body: &Value) -> usize {
        enqueue_outputs(&self.queues, body).await
    }

    /// Fires a timer function; returns how many work items it enqueued.
    pub async fn fire_timer(&self, function: &str) -> usize {
        let env = json!({"Data":{"timer":{"Schedule":{"AdjustForDST":true},
            "ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-11-23T14:45:51+00:00","LastUpdated":"2026-11-23T14:43:50.403838+00:00"},
            "IsPastDue":false}},
            "Metadata":{"sys":{"MethodName":function,"UtcNow":chrono::Utc::now().to_rfc3339(),"RandGuid":uuid::Uuid::new_v4().to_string()}}});
        let (status, body) = self.post(function, env).await;
        assert_eq!(status, 200, "{function}: {body}");
        self.enqueue_outputs(&body).await
    }

    /// Puts a work item on the queue as a previous output would.
    pub async fn enqueue(&self, item: &Value) {
        self.queues.put(WORK, &item.to_string()).await.unwrap();
    }

    /// The host's queue-trigger envelope for a received message.
    pub fn queue_envelope(m: &ReceivedMessage) -> Value {
        // The host sends both encodings in the wild; alternate them.
        let data = if m.dequeue_count % 2 == 1 {
            Value::String(Value::String(m.text.clone()).to_string())
        } else {
            Value::String(m.text.clone())
        };
        let count = if m.dequeue_count % 2 == 1 {
            json!(m.dequeue_count)
        } else {
            json!(m.dequeue_count.to_string())
        };
        let mut meta = json!({
            "DequeueCount": count,
            "Id": format!("\"{}\"", m.id),
            "PopReceipt": format!("\"{}\"", m.pop_receipt),
            "InsertionTime": chrono::Utc::now().to_rfc3339(),
            "ExpirationTime": chrono::Utc::now().to_rfc3339(),
            "NextVisibleTime": chrono::Utc::now().to_rfc3339(),
            "sys": {"MethodName": "tenant-worker", "UtcNow": chrono::Utc::now().to_rfc3339()}
        });
        // The host merges the message's own top-level fields into metadata.
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&m.text) {
            if let Value::Object(md) = &mut meta {
                for (k, v) in fields {
                    md.entry(k).or_insert(v);
                }
            }
        }
        json!({"Data": {"workItem": data}, "Metadata": meta})
    }

    async fn deliver(&self, queue: &str, function: &str, m: ReceivedMessage) {
        if queue == WORK {
            self.tally.deliveries.fetch_add(1, Ordering::SeqCst);
            if m.dequeue_count > 1 {
                self.tally.redeliveries.fetch_add(1, Ordering::SeqCst);
            }
        } else {
            self.tally.poison_deliveries.fetch_add(1, Ordering::SeqCst);
        }
        let (status, body) = self.post(function, Self::queue_envelope(&m)).await;
        if (200..300).contains(&status) {
            if let Some(lines) = body["Logs"].as_array() {
                let mut logs = self.tally.logs.lock().unwrap();
                logs.extend(lines.iter().filter_map(|l| l.as_str().map(String::from)));
            }
            self.enqueue_outputs(&body).await;
            self.queues.delete(queue, &m).await.unwrap();
        } else {
            self.tally.non_2xx.fetch_add(1, Ordering::SeqCst);
            self.tally.errors.lock().unwrap().push(body);
            if retry_or_poison(
                &self.queues,
                queue,
                &m,
                self.max_dequeue,
                self.visibility_secs,
            )
            .await
            {
                self.tally.poisoned.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// Delivers messages (up to 16 at once, as the host's batch) until both
    /// queues are empty, or `limit` passes. Returns false on timeout.
    pub async fn run_until_idle(&self, limit: Duration) -> bool {
        drain(&self.queues, 16, 120, limit, |q, f, m| {
            self.deliver(q, f, m)
        })
        .await
    }

    /// Calls an HTTP function; returns `Outputs.res` (status, headers, body).
    pub async fn http(
        &self,
        function: &str,
        method: &str,
        query: Value,
        headers: Value,
        body: Option<&str>,
    ) -> (u16, Value, String) {
        let mut req = json!({"Url": format!("https://app.example/api/{function}"), "Method": method,
            "Query": query, "Headers": headers, "Params": {}, "Identities": []});
        if let Some(b) = body {
            req["Body"] = Value::String(b.to_string());
        }
        let (status, out) = self
            .post(function, json!({"Data": {"req": req}, "Metadata": {}}))
            .await;
        assert_eq!(status, 200, "{out}");
        let res = &out["Outputs"]["res"];
        (
            res["statusCode"].as_u64().unwrap_or(0) as u16,
            res["headers"].clone(),
            res["body"].as_str().unwrap_or_default().to_string(),
        )
    }
}

/// The host's queue loop: fetches up to `batch` messages (invisible for
/// `hold_secs` while delivered) from the work queue, else from the poison
/// queue, hands each to `deliver(queue, function, message)` at once, until
/// both queues are empty or `limit` passes. Returns false on timeout.
pub async fn drain<'a, F, Fut>(
    queues: &QueueClient,
    batch: u32,
    hold_secs: u32,
    limit: Duration,
    deliver: F,
) -> bool
where
    F: Fn(&'static str, &'static str, ReceivedMessage) -> Fut,
    Fut: std::future::Future<Output = ()> + 'a,
{
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        let mut delivered = false;
        for (queue, function) in [(WORK, "tenant-worker"), (POISON, "poison-watch")] {
            let msgs = queues.get(queue, batch, hold_secs).await.unwrap();
            if !msgs.is_empty() {
                futures::future::join_all(msgs.into_iter().map(|m| deliver(queue, function, m)))
                    .await;
                delivered = true;
                break;
            }
        }
        if delivered {
            continue;
        }
        if queues.count(WORK).await.unwrap() == 0 && queues.count(POISON).await.unwrap() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Puts a 2xx answer's `Outputs.workItems` on the work queue, as the host
/// does with an output binding; returns how many.
pub async fn enqueue_outputs(queues: &QueueClient, body: &Value) -> usize {
    let items = body["Outputs"]["workItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for i in &items {
        assert!(i.is_object(), "queue outputs must be objects: {i}");
        queues.put(WORK, &i.to_string()).await.unwrap();
    }
    items.len()
}

/// A failed delivery, as the host handles it: after `max_dequeue`
/// deliveries a work message moves to the poison queue (returns true);
/// otherwise it is visible again after `visibility_secs`, then delivered
/// once more with a higher dequeue count.
pub async fn retry_or_poison(
    queues: &QueueClient,
    queue: &str,
    m: &ReceivedMessage,
    max_dequeue: u32,
    visibility_secs: u32,
) -> bool {
    if m.dequeue_count >= max_dequeue && queue == WORK {
        queues.put(POISON, &m.text).await.unwrap();
        queues.delete(queue, m).await.unwrap();
        true
    } else {
        queues.release(queue, m, visibility_secs).await.unwrap();
        false
    }
}
