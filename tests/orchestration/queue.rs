//! A minimal Azure Queue Storage REST client (Shared Key), used by the host
//! harness to keep work items in Azurite's real queue service: the messages
//! the handler emits are enqueued, dequeued with a visibility timeout,
//! redelivered with a growing dequeue count, and moved to the poison queue,
//! as the Functions host does.
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A message as received from the queue service.
#[derive(Debug, Clone)]
pub struct ReceivedMessage {
    pub id: String,
    pub pop_receipt: String,
    pub dequeue_count: u32,
    /// The message text (base64-decoded, as the host's default encoding).
    pub text: String,
}

/// Queue service client for one storage account (path-style, as Azurite).
#[derive(Clone)]
pub struct QueueClient {
    http: reqwest::Client,
    /// e.g. http://127.0.0.1:10001/devstoreaccount1
    endpoint: String,
    account: String,
    key: Vec<u8>,
}

const API_VERSION: &str = "2021-08-06";

impl QueueClient {
    pub fn new(endpoint: &str, account: &str, key_b64: &str) -> anyhow::Result<Self> {
        Ok(QueueClient {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            account: account.to_string(),
            key: base64::engine::general_purpose::STANDARD.decode(key_b64)?,
        })
    }

    fn sign(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        content_len: usize,
        ms_headers: &[(&str, String)],
    ) -> anyhow::Result<String> {
        let mut hs: Vec<(String, String)> = ms_headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        hs.sort();
        let canon_headers: String = hs.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        q.sort();
        let mut resource = format!("/{}{}", self.account, path);
        for (k, v) in q {
            resource.push_str(&format!("\n{k}:{v}"));
        }
        let len = if content_len == 0 {
            String::new()
        } else {
            content_len.to_string()
        };
        let content_type = if content_len == 0 {
            ""
        } else {
            "application/xml"
        };
        let to_sign =
            format!("{method}\n\n\n{len}\n\n{content_type}\n\n\n\n\n\n\n{canon_headers}{resource}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)?;
        mac.update(to_sign.as_bytes());
        let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        Ok(format!("SharedKey {}:{}", self.account, sig))
    }

    /// Sends one request, retrying connection failures (a loaded Azurite
    /// closes idle keep-alive connections; the host's SDK retries too).
    async fn send(
        &self,
        method: reqwest::Method,
        rel: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> anyhow::Result<(u16, reqwest::header::HeaderMap, String)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .send_once(method.clone(), rel, query, body.clone())
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) if attempt < 5 => {
                    eprintln!("queue request failed (attempt {attempt}): {e:#}; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        rel: &str,
        query: &[(&str, String)],
        body: Option<String>,
    ) -> anyhow::Result<(u16, reqwest::header::HeaderMap, String)> {
        let url_path = format!("{}{}", self.endpoint, rel);
        let path = url::Url::parse(&url_path)?.path().to_string();
        let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let ms = [
            ("x-ms-date", date.clone()),
            ("x-ms-version", API_VERSION.to_string()),
        ];
        let len = body.as_ref().map(|b| b.len()).unwrap_or(0);
        let auth = self.sign(method.as_str(), &path, query, len, &ms)?;
        let mut req = self
            .http
            .request(method, &url_path)
            .query(query)
            .header("x-ms-date", date)
            .header("x-ms-version", API_VERSION)
            .header("Authorization", auth);
        if let Some(b) = body {
            req = req.header("Content-Type", "application/xml").body(b);
        } else {
            req = req.header("Content-Length", "0");
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        Ok((status, headers, text))
    }

    /// Creates a queue (no error if it exists).
    pub async fn create_queue(&self, queue: &str) -> anyhow::Result<()> {
        let (s, _, t) = self
            .send(reqwest::Method::PUT, &format!("/{queue}"), &[], None)
            .await?;
        anyhow::ensure!(s == 201 || s == 204, "create queue {queue}: {s} {t}");
        Ok(())
    }

    /// Puts a message (text is base64-encoded, the host's default encoding).
    pub async fn put(&self, queue: &str, text: &str) -> anyhow::Result<()> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        let body = format!("<QueueMessage><MessageText>{b64}</MessageText></QueueMessage>");
        let (s, _, t) = self
            .send(
                reqwest::Method::POST,
                &format!("/{queue}/messages"),
                &[],
                Some(body),
            )
            .await?;
        anyhow::ensure!(s == 201, "put message on {queue}: {s} {t}");
        Ok(())
    }

    /// Gets up to `n` messages, hiding them for `visibility_secs`.
    pub async fn get(
        &self,
        queue: &str,
        n: u32,
        visibility_secs: u32,
    ) -> anyhow::Result<Vec<ReceivedMessage>> {
        let q = [
            ("numofmessages", n.to_string()),
            ("visibilitytimeout", visibility_secs.to_string()),
        ];
        let (s, _, t) = self
            .send(
                reqwest::Method::GET,
                &format!("/{queue}/messages"),
                &q,
                None,
            )
            .await?;
        anyhow::ensure!(s == 200, "get messages from {queue}: {s} {t}");
        let mut out = Vec::new();
        for chunk in t.split("<QueueMessage>").skip(1) {
            let field = |name: &str| -> String {
                let open = format!("<{name}>");
                let close = format!("</{name}>");
                chunk
                    .split_once(&open)
                    .and_then(|(_, r)| r.split_once(&close))
                    .map(|(v, _)| v.to_string())
                    .unwrap_or_default()
            };
            let raw = field("MessageText");
            let bytes = base64::engine::general_purpose::STANDARD.decode(raw.trim())?;
            out.push(ReceivedMessage {
                id: field("MessageId"),
                pop_receipt: xml_unescape(&field("PopReceipt")),
                dequeue_count: field("DequeueCount").parse().unwrap_or(1),
                text: String::from_utf8(bytes)?,
            });
        }
        Ok(out)
    }

    /// Deletes a received message.
    pub async fn delete(&self, queue: &str, m: &ReceivedMessage) -> anyhow::Result<()> {
        let q = [("popreceipt", m.pop_receipt.clone())];
        let (s, _, t) = self
            .send(
                reqwest::Method::DELETE,
                &format!("/{queue}/messages/{}", m.id),
                &q,
                None,
            )
            .await?;
        anyhow::ensure!(s == 204, "delete message from {queue}: {s} {t}");
        Ok(())
    }

    /// Makes a received message visible again after `visibility_secs`
    /// (what the host does when an invocation fails).
    pub async fn release(
        &self,
        queue: &str,
        m: &ReceivedMessage,
        visibility_secs: u32,
    ) -> anyhow::Result<()> {
        let q = [
            ("popreceipt", m.pop_receipt.clone()),
            ("visibilitytimeout", visibility_secs.to_string()),
        ];
        let (s, _, t) = self
            .send(
                reqwest::Method::PUT,
                &format!("/{queue}/messages/{}", m.id),
                &q,
                None,
            )
            .await?;
        anyhow::ensure!(s == 204, "update message on {queue}: {s} {t}");
        Ok(())
    }

    /// Approximate number of messages in a queue.
    pub async fn count(&self, queue: &str) -> anyhow::Result<u64> {
        let q = [("comp", "metadata".to_string())];
        let (s, headers, t) = self
            .send(reqwest::Method::GET, &format!("/{queue}"), &q, None)
            .await?;
        anyhow::ensure!(s == 200, "queue metadata {queue}: {s} {t}");
        Ok(headers
            .get("x-ms-approximate-messages-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}
