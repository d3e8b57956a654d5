//! The real `handler` binary, spawned as the Functions host would spawn it:
//! start-up errors, the readiness probe, and SIGTERM (idle, and during a
//! request still being received).
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::*;

/// A spawned handler process, its address, and its stdout lines (JSON).
pub struct Spawned {
    pub child: Child,
    pub base: String,
    pub addr: String,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Holds the handler's SQLite store and local secrets file.
    _state: tempfile::TempDir,
}

/// The settings a handler needs to start, with its state in `dir`.
pub fn handler_settings(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        (
            "GUESTSYNC_HOST_TENANT_ID",
            "11111111-1111-4111-8111-111111111111".into(),
        ),
        (
            "GUESTSYNC_HOST_CLIENT_ID",
            "22222222-2222-4222-8222-222222222222".into(),
        ),
        ("GUESTSYNC_HOST_SECRET_NAME", "host-app-secret".into()),
        (
            "GUESTSYNC_STORE",
            format!("sqlite:{}", dir.join("guest-sync.db").display()),
        ),
        (
            "GUESTSYNC_LOCAL_SECRETS",
            dir.join("secrets.json").display().to_string(),
        ),
    ]
}

impl Spawned {
    /// Starts `binary` on a free port with JSON logs at `rust_log` and
    /// waits for its "handler listening" line.
    pub async fn start(binary: &Path, rust_log: &str) -> Spawned {
        Spawned::start_with(binary, rust_log, &[]).await
    }

    /// [`Spawned::start`] with settings added or overridden.
    pub async fn start_with(binary: &Path, rust_log: &str, extra: &[(&str, &str)]) -> Spawned {
        let state = tempfile::tempdir().unwrap();
        let mut child = Command::new(binary)
            .envs(handler_settings(state.path()))
            .envs(extra.iter().copied())
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
            .env("GUESTSYNC_LOG_FORMAT", "json")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("stdout line is not JSON: {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut spawned = Spawned {
            child,
            base: String::new(),
            addr: String::new(),
            lines,
            _state: state,
        };
        let listening = spawned.wait_for_message("handler listening").await;
        spawned.addr = listening["addr"].as_str().unwrap().to_string();
        spawned.base = format!("http://{}", spawned.addr);
        spawned
    }

    /// Waits for a stdout line whose `message` is `message`.
    pub async fn wait_for_message(&mut self, message: &str) -> Value {
        within(&format!("log line {message:?}"), async {
            loop {
                let line = self.lines.recv().await.expect("handler stdout closed");
                if line["message"] == message {
                    return line;
                }
            }
        })
        .await
    }

    /// Sends SIGTERM to this process (by its id).
    pub fn sigterm(&self) {
        let pid = self.child.id().expect("handler already exited");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn exit_code(mut self) -> Option<i32> {
        within("handler exit", self.child.wait())
            .await
            .unwrap()
            .code()
    }
}

fn handler_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_handler"))
}

/// Without a port variable, or with a bad one, the handler exits 1 with a
/// message naming the variable.
#[tokio::test]
async fn handler_refuses_to_start_without_a_valid_port() {
    for port in [None, Some("seventy")] {
        let mut cmd = Command::new(handler_binary());
        cmd.env_remove("FUNCTIONS_CUSTOMHANDLER_PORT")
            .env_remove("FUNCTIONS_HTTPWORKER_PORT")
            .env("GUESTSYNC_LOG_FORMAT", "json");
        if let Some(p) = port {
            cmd.env("FUNCTIONS_CUSTOMHANDLER_PORT", p);
        }
        let out = within("handler start-up failure", cmd.output())
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{port:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("FUNCTIONS_CUSTOMHANDLER_PORT"), "{stderr}");
    }
}

/// The spawned handler answers the host's readiness probe on 127.0.0.1, and
/// an invocation of a function not yet configured fails clearly.
#[tokio::test]
async fn spawned_handler_answers_readiness_and_invocations() {
    let handler = Spawned::start(handler_binary(), "info").await;
    assert!(handler.addr.starts_with("127.0.0.1:"), "{}", handler.addr);
    let client = reqwest::Client::new();

    let ready = client
        .get(format!("{}/", handler.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);

    let res = client
        .post(format!("{}/tenant-worker", handler.base))
        .body(double_encoded_queue_envelope(&work_item()).to_string())
        .send()
        .await
        .unwrap();
    // A work item for a tenant that is not registered is a permanent
    // failure: recorded, answered 200 so it does not loop.
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["Logs"].to_string().contains("is not registered"),
        "{body}"
    );
}

/// A bad setting stops start-up with exit code 1 and names the setting.
#[tokio::test]
async fn handler_refuses_to_start_with_a_bad_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = within(
        "handler start-up failure",
        Command::new(handler_binary())
            .envs(handler_settings(dir.path()))
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
            .env("GUESTSYNC_MAX_DEPROVISIONS", "lots")
            .output(),
    )
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GUESTSYNC_MAX_DEPROVISIONS"), "{stderr}");
}

/// SIGTERM to an idle handler stops it with exit code 0.
#[tokio::test]
async fn sigterm_stops_an_idle_handler_with_exit_code_zero() {
    let handler = Spawned::start(handler_binary(), "info").await;
    handler.sigterm();
    assert_eq!(handler.exit_code().await, Some(0));
}

/// SIGTERM while a request is still arriving: the handler finishes that
/// invocation (the client gets its full answer) and only then exits 0.
#[tokio::test]
async fn sigterm_during_an_invocation_lets_it_finish_then_exits_zero() {
    let mut handler = Spawned::start(handler_binary(), "info,guest_sync=debug").await;
    let body = captured_timer_envelope().to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = tokio::net::TcpStream::connect(&handler.addr).await.unwrap();
    let head = format!(
        "POST /sync-timer HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        handler.addr,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    handler.wait_for_message("invocation received").await;

    handler.sigterm();
    handler.wait_for_message("received SIGTERM").await;
    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = String::new();
    within("the answer", conn.read_to_string(&mut answer))
        .await
        .unwrap();

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains("0 reconcile work item(s) enqueued"),
        "{answer}"
    );
    let finished = handler.wait_for_message("invocation finished").await;
    assert_eq!(finished["function"], "sync-timer");
    assert_eq!(handler.exit_code().await, Some(0));
}

/// Start-up does not wait for Azure: with the store unreachable (a table
/// endpoint nobody listens on, as when role assignments have not
/// propagated yet) the handler still listens and answers the readiness
/// probe; invocations fail transiently naming the cause (the host
/// redelivers) and the process keeps serving.
#[tokio::test]
async fn an_unreachable_store_does_not_stop_start_up() {
    let store = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;TableEndpoint=http://127.0.0.1:9/devstoreaccount1";
    let mut handler =
        Spawned::start_with(handler_binary(), "info", &[("GUESTSYNC_STORE", store)]).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let ready = client
            .get(format!("{}/", handler.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status().as_u16(), 200);
        let res = client
            .post(format!("{}/tenant-worker", handler.base))
            .body(double_encoded_queue_envelope(&work_item()).to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert!(status >= 500, "{status} {body}");
        assert!(body.contains("not ready"), "{body}");
        assert!(
            !body.contains("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1"),
            "key in the answer"
        );
    }
    let warn = handler.wait_for_message("app not ready yet (store or vault unreachable); invocations fail transiently until it is").await;
    assert!(
        warn["error"].as_str().unwrap_or_default().contains("store"),
        "{warn}"
    );
    assert!(!body_has_key(&warn));
    handler.sigterm();
    assert_eq!(handler.exit_code().await, Some(0));
}

/// True when a log line shows the storage account key.
fn body_has_key(v: &Value) -> bool {
    v.to_string().contains("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1")
}
