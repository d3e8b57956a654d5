//! Malformed requests: each gets the documented JSON error naming what was
//! wrong, and the same running server then still answers a valid request.
//! Also: the invocation event the host's log pipeline receives.
use axum::http::StatusCode;
use guest_sync::protocol::{app, serve, FunctionName, FunctionSet, MAX_BODY_BYTES};
use guest_sync::telemetry::{self, Format};
use serde_json::json;

use super::*;
use crate::support::logs::Capture;

/// A running in-process server (real TCP) and the means to stop it.
struct Running {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(set: FunctionSet) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, set, async move {
        let _ = stopped.await;
    }));
    Running {
        base,
        stop: Some(stop),
        task,
    }
}

impl Running {
    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        within("server shutdown", self.task).await.unwrap().unwrap();
    }
}

/// Each malformed request gets its documented status and a JSON error that
/// names the offending field; afterwards a valid invocation still succeeds.
#[tokio::test]
async fn malformed_requests_get_named_errors_and_the_server_keeps_serving() {
    let server = start(
        FunctionSet::unconfigured()
            .with(FunctionName::SyncTimer, ok_function())
            .with(FunctionName::TenantWorker, ok_function())
            .with(FunctionName::Report, ok_function()),
    )
    .await;
    let client = reqwest::Client::new();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("sync-timer", "this is not json".into(), 400, "not JSON"),
        (
            "sync-timer",
            "[1,2]".into(),
            400,
            "body: expected a JSON object",
        ),
        (
            "sync-timer",
            json!({"Metadata": {}}).to_string(),
            400,
            "Data",
        ),
        (
            "sync-timer",
            json!({"Data": "timer"}).to_string(),
            400,
            "Data: expected an object",
        ),
        (
            "sync-timer",
            json!({"Data": {"tick": {}}}).to_string(),
            400,
            "Data.timer",
        ),
        (
            "sync-timer",
            json!({"Data": {"timer": {"IsPastDue": 5}}}).to_string(),
            400,
            "Data.timer.IsPastDue: expected a boolean",
        ),
        (
            "sync-timer",
            json!({"Data": {"timer": {"ScheduleStatus": {"Next": "soon"}}}}).to_string(),
            400,
            "Data.timer.ScheduleStatus.Next",
        ),
        (
            "tenant-worker",
            json!({"Data": {"workItem": "{}"}, "Metadata": {"DequeueCount": "many"}}).to_string(),
            400,
            "Metadata.DequeueCount",
        ),
        (
            "tenant-worker",
            json!({"Data": {"workItem": "{}"}, "Metadata": {}}).to_string(),
            400,
            "Metadata.DequeueCount",
        ),
        (
            "tenant-worker",
            json!({"Data": {"workItem": null}, "Metadata": {"DequeueCount": 1}}).to_string(),
            400,
            "Data.workItem",
        ),
        (
            "tenant-worker",
            json!({"Data": {"workItem": "{}"}, "Metadata": "x"}).to_string(),
            400,
            "Metadata: expected an object",
        ),
        (
            "report",
            json!({"Data": {"req": {"Method": "GET"}}}).to_string(),
            400,
            "Data.req.Url",
        ),
        (
            "report",
            json!({"Data": {"req": {"Url": "u", "Method": "GET", "Headers": []}}}).to_string(),
            400,
            "Data.req.Headers",
        ),
        (
            "no-such-function",
            json!({"Data": {}}).to_string(),
            404,
            "unknown function",
        ),
        ("sync-timer", "x".repeat(MAX_BODY_BYTES + 1), 413, "limit"),
    ];
    for (function, body, want_status, want_text) in cases {
        let res = client
            .post(format!("{}/{function}", server.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let answer: serde_json::Value = res.json().await.unwrap();
        assert_eq!(status, want_status, "{function}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(want_text),
            "{function}: {error:?} lacks {want_text:?}"
        );
    }
    let wrong_method = client
        .get(format!("{}/sync-timer", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status().as_u16(), 405);

    let valid = client
        .post(format!("{}/sync-timer", server.base))
        .body(captured_timer_envelope().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(valid.status().as_u16(), 200);
    server.shut_down().await;
}

/// Every invocation writes one JSON line with the `invocation` event, the
/// function, the host's invocation id, the duration and the outcome.
#[tokio::test]
async fn each_invocation_writes_one_json_event_line() {
    let buffer = Capture::default();
    let subscriber = telemetry::subscriber(
        Format::Json,
        tracing_subscriber::EnvFilter::new("info"),
        buffer.clone(),
    );
    let _guard = tracing::subscriber::set_default(subscriber);
    let router = app(FunctionSet::unconfigured().with(FunctionName::SyncTimer, ok_function()));

    let (status, _) = post_json(&router, "sync-timer", &captured_timer_envelope()).await;
    let (failed, _) = post_json(
        &router,
        "tenant-worker",
        &double_encoded_queue_envelope(&work_item()),
    )
    .await;

    assert_eq!(
        (status, failed),
        (StatusCode::OK, StatusCode::INTERNAL_SERVER_ERROR)
    );
    let text = buffer.text();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["event"] == guest_sync::events::INVOCATION)
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(events[0]["function"], "sync-timer");
    assert_eq!(
        events[0]["invocation_id"],
        "0f0e0d0c-0b0a-4909-8807-060504030201"
    );
    assert_eq!(events[0]["outcome"], "ok");
    assert!(events[0]["duration_ms"].is_u64());
    assert_eq!(events[1]["function"], "tenant-worker");
    assert_eq!(events[1]["outcome"], "transient_error");
    assert!(events[1]["error"]
        .as_str()
        .unwrap()
        .contains("not configured"));
}

/// Nothing dropped: a message on the work queue that is no work item is
/// answered 2xx (it would fail the same way again) but kept, with the
/// reason, on `guestsync-quarantine` through the quarantine output
/// binding; the audit records it without its text, and the report's
/// attention list counts it. The same for one parked in the poison queue.
#[tokio::test]
async fn a_message_that_is_no_work_item_is_quarantined_not_dropped() {
    use guest_sync::report::{AttentionKind, Statistics};
    let w = crate::support::world::World::fast().await;
    let router = guest_sync::protocol::app(guest_sync::orchestration::function_set(w.app()));
    let bad = json!({"job": "reconcile", "sourceTenantId": "33333333-3333-4333-8333-333333333333", "note": "Ann Example <ann@contoso.example>"});
    let (status, out) = post_json(
        &router,
        "tenant-worker",
        &double_encoded_queue_envelope(&bad),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let q = out["Outputs"]["quarantine"]
        .as_array()
        .expect("no quarantine output");
    assert_eq!(q.len(), 1, "{out}");
    assert!(q[0]["reason"].as_str().unwrap().contains("runId"), "{out}");
    assert_eq!(q[0]["message"].as_str().unwrap(), bad.to_string());
    assert_eq!(q[0]["function"], "tenant-worker");
    assert!(out["Outputs"].get("workItems").is_none());

    let mut parked = double_encoded_queue_envelope(&json!("not json at all"));
    parked["Metadata"]["DequeueCount"] = json!(5);
    let (status, out) = post_json(&router, "poison-watch", &parked).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["Outputs"]["quarantine"][0]["function"], "poison-watch");

    let audit = w.store.list_audit(None, 100).await.unwrap();
    let q: Vec<_> = audit
        .iter()
        .filter(|e| e.operation == "quarantine")
        .collect();
    assert_eq!(q.len(), 2);
    for e in &q {
        let d = e.detail.clone().unwrap_or_default();
        assert!(
            !d.contains("ann@contoso.example"),
            "message text in the audit: {d}"
        );
    }
    let stats = Statistics::load(w.store.as_ref(), chrono::Utc::now())
        .await
        .unwrap();
    let item = stats
        .attention
        .iter()
        .find(|a| a.kind == AttentionKind::QuarantinedMessages)
        .expect("no attention item");
    assert_eq!(item.count, Some(2));
}

/// The report's HTTP answer carries the page's own Content-Security-Policy
/// (no inline script but the page's pinned one, nothing fetched), nosniff
/// and no-store; the header policy equals the one in the page.
#[tokio::test]
async fn the_report_answers_with_a_strict_csp_and_nosniff() {
    let w = crate::support::world::World::fast().await;
    let router = guest_sync::protocol::app(guest_sync::orchestration::function_set(w.app()));
    let req = json!({"Url": "https://app.example/api/report?format=html", "Method": "GET",
        "Query": {"format": "html"}, "Headers": {}, "Params": {}, "Identities": []});
    let (status, out) = post_json(
        &router,
        "report",
        &json!({"Data": {"req": req}, "Metadata": {}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let res = &out["Outputs"]["res"];
    let headers = &res["headers"];
    let csp = headers["Content-Security-Policy"].as_str().unwrap();
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(
        !csp.split(';')
            .any(|d| d.trim().starts_with("script-src") && d.contains("unsafe-inline")),
        "{csp}"
    );
    assert_eq!(headers["X-Content-Type-Options"], "nosniff");
    assert_eq!(headers["Cache-Control"], "no-store");
    let body = res["body"].as_str().unwrap();
    let hash = csp
        .split("'sha256-")
        .nth(1)
        .and_then(|h| h.split('\'').next())
        .unwrap();
    assert!(
        body.contains(hash),
        "the page's script hash differs from the header's"
    );
}

/// A parked copy of a run that finished well meanwhile (a duplicate
/// delivery) does not turn that run into a failure.
#[tokio::test]
async fn a_stale_parked_copy_does_not_fail_a_finished_run() {
    use guest_sync::domain::{Guid, Job, RunOutcome, RunRecord};
    let w = crate::support::world::World::fast().await;
    let router = guest_sync::protocol::app(guest_sync::orchestration::function_set(w.app()));
    let item = work_item();
    let tenant = Guid::parse_named(item["sourceTenantId"].as_str().unwrap(), "t").unwrap();
    let run_id = uuid::Uuid::parse_str(item["runId"].as_str().unwrap()).unwrap();
    let mut run = RunRecord::started(run_id, Job::Reconcile, tenant, chrono::Utc::now());
    run.finish(RunOutcome::Succeeded, chrono::Utc::now());
    w.store.put_run(&run).await.unwrap();
    let mut env = double_encoded_queue_envelope(&item);
    env["Metadata"]["DequeueCount"] = json!(5);
    let (status, out) = post_json(&router, "poison-watch", &env).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert!(out["Logs"].to_string().contains("stale duplicate"), "{out}");
    let after = w.store.get_run(tenant, run_id).await.unwrap().unwrap();
    assert_eq!(after.outcome, RunOutcome::Succeeded);
    assert!(!after.parked);
}
