//! Contract tests: every envelope shape the host sends is decoded into the
//! values a function sees, and every kind of output is encoded the way the
//! host reads it (driven through `app()` with `oneshot`).
use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use guest_sync::domain::Job;
use guest_sync::protocol::{
    app, from_fn, FunctionName, FunctionOutput, FunctionSet, HttpResponse, InvokeError, Trigger,
};
use serde_json::{json, Value};

use super::*;

fn set_with(name: FunctionName, f: Arc<dyn Function>) -> Router {
    app(FunctionSet::unconfigured().with(name, f))
}

/// The timer payload captured from a real host decodes (no previous run,
/// the next one, DST flag) and a fan-out answer becomes `Outputs.workItems`.
#[tokio::test]
async fn captured_timer_payload_is_decoded_and_fan_out_is_an_array_of_objects() {
    let items = vec![work_item(), work_item()];
    let rec = Recorder::replying(Ok(FunctionOutput::enqueue(items.clone())));
    let router = set_with(FunctionName::SyncTimer, rec.clone());

    let (status, answer) = post_json(&router, "sync-timer", &captured_timer_envelope()).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"Outputs": {"workItems": items}, "Logs": [], "ReturnValue": null})
    );
    let inv = rec.only();
    assert_eq!(inv.function, FunctionName::SyncTimer);
    assert_eq!(
        inv.invocation_id.as_deref(),
        Some("0f0e0d0c-0b0a-4909-8807-060504030201")
    );
    assert_eq!(inv.metadata["sys"]["MethodName"], "sync-timer");
    let Trigger::Timer(t) = inv.trigger else {
        panic!("expected a timer trigger, got {:?}", inv.trigger)
    };
    assert!(!t.is_past_due);
    assert_eq!(t.last, None, "0001-01-01 means no previous run");
    assert_eq!(
        t.next,
        Some(Utc.with_ymd_and_hms(2024, 11, 30, 14, 45, 51).unwrap())
    );
    assert!(t.last_updated.is_some());
    assert_eq!(t.adjust_for_dst, Some(true));
}

/// A late timer with a null `ScheduleStatus`, and one whose `Last` has no
/// offset, both decode (the offset-less time is taken as UTC).
#[tokio::test]
async fn timer_with_null_status_or_offsetless_last_is_decoded() {
    let rec = Recorder::replying(Ok(FunctionOutput::default()));
    let router = set_with(FunctionName::PhotoTimer, rec.clone());
    let null_status = json!({"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}},"Metadata":{}});
    let (status, answer) = post_json(&router, "photo-timer", &null_status).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    {
        let seen = rec.seen.lock().unwrap();
        let Trigger::Timer(t) = &seen[0].trigger else {
            panic!("timer expected")
        };
        assert!(t.is_past_due);
        assert_eq!((t.last, t.next), (None, None));
    }

    let offsetless = json!({"Data":{"timer":{"ScheduleStatus":{"Last":"2024-11-30T14:15:00","Next":"2024-11-30T14:45:00"},"IsPastDue":false}}});
    let (status, _) = post_json(&router, "photo-timer", &offsetless).await;
    assert_eq!(status, StatusCode::OK);
    let seen = rec.seen.lock().unwrap();
    let Trigger::Timer(t) = &seen[1].trigger else {
        panic!("timer expected")
    };
    assert_eq!(
        t.last,
        Some(Utc.with_ymd_and_hms(2024, 11, 30, 14, 15, 0).unwrap())
    );
}

/// A double-encoded queue message arrives as the decoded object, its quoted
/// id and pop receipt unquoted and its string dequeue count read as a number;
/// it parses as a work item.
#[tokio::test]
async fn double_encoded_queue_message_is_unwrapped_with_its_metadata() {
    let rec = Recorder::replying(Ok(FunctionOutput::default()));
    let router = set_with(FunctionName::TenantWorker, rec.clone());

    let (status, answer) = post_json(
        &router,
        "tenant-worker",
        &double_encoded_queue_envelope(&work_item()),
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer,
        json!({"Outputs": {}, "Logs": [], "ReturnValue": null})
    );
    let Trigger::Queue(msg) = rec.only().trigger else {
        panic!("queue trigger expected")
    };
    assert_eq!(msg.body, work_item());
    assert_eq!(msg.raw, work_item().to_string());
    assert_eq!(msg.dequeue_count, 1);
    assert_eq!(
        msg.id.as_deref(),
        Some("5b6a5b4c-7f3e-4d3a-9d2f-6a1b2c3d4e5f")
    );
    assert_eq!(msg.pop_receipt.as_deref(), Some("AgAAAAMAAAAAAAAA"));
    assert_eq!(
        msg.insertion_time,
        Some(Utc.with_ymd_and_hms(2024, 11, 30, 14, 43, 51).unwrap())
    );
    assert!(msg.expiration_time.is_some() && msg.next_visible_time.is_some());
    assert_eq!(msg.work_item().unwrap().job, Job::Reconcile);
}

/// The single-encoded form of the documentation and a numeric dequeue
/// count decode to the same message.
#[tokio::test]
async fn single_encoded_queue_message_with_numeric_dequeue_count_is_decoded() {
    let rec = Recorder::replying(Ok(FunctionOutput::default()));
    let router = set_with(FunctionName::TenantWorker, rec.clone());
    let envelope = json!({
        "Data": {"workItem": work_item().to_string()},
        "Metadata": {"DequeueCount": 3, "Id": "abc", "PopReceipt": "xyz"}
    });

    let (status, _) = post_json(&router, "tenant-worker", &envelope).await;

    assert_eq!(status, StatusCode::OK);
    let Trigger::Queue(msg) = rec.only().trigger else {
        panic!("queue trigger expected")
    };
    assert_eq!(msg.body, work_item());
    assert_eq!(msg.dequeue_count, 3);
    assert_eq!(msg.id.as_deref(), Some("abc"));
}

/// A message that is not JSON still reaches poison-watch, as text, so it
/// can be recorded; as a work item it is refused as bad input.
#[tokio::test]
async fn non_json_poison_message_arrives_as_text() {
    let rec = Recorder::replying(Ok(FunctionOutput::default()));
    let router = set_with(FunctionName::PoisonWatch, rec.clone());
    let envelope = json!({"Data": {"workItem": "hello there"}, "Metadata": {"DequeueCount": "5"}});

    let (status, _) = post_json(&router, "poison-watch", &envelope).await;

    assert_eq!(status, StatusCode::OK);
    let Trigger::Queue(msg) = rec.only().trigger else {
        panic!("queue trigger expected")
    };
    assert_eq!(msg.body, Value::String("hello there".into()));
    assert_eq!(msg.dequeue_count, 5);
    assert!(matches!(msg.work_item(), Err(InvokeError::BadInput(_))));
}

/// A continuation from the worker is one object in `Outputs.workItems`.
#[tokio::test]
async fn worker_continuation_is_one_queue_output() {
    let mut next = work_item();
    next["cursor"] = json!({"skipToken": "abc"});
    let rec = Recorder::replying(Ok(FunctionOutput::enqueue(vec![next.clone()])));
    let router = set_with(FunctionName::TenantWorker, rec);

    let (status, answer) = post_json(
        &router,
        "tenant-worker",
        &double_encoded_queue_envelope(&work_item()),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Outputs"]["workItems"], json!([next]));
}

/// An HTTP request with a query, mixed-case headers and a base64 binary body
/// decodes (names lower-cased, body bytes restored), and the function's
/// response comes back as `Outputs.res` inside a 200.
#[tokio::test]
async fn http_request_is_decoded_and_answered_through_res() {
    let bytes: Vec<u8> = vec![0, 159, 146, 150, 255, 10];
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let reply = HttpResponse::json(202, &json!({"accepted": true}));
    let rec = Recorder::replying(Ok(FunctionOutput::http(reply)));
    let router = set_with(FunctionName::Provision, rec.clone());
    let envelope = json!({"Data": {"req": {
        "Url": "https://app.azurewebsites.net/api/provision?tenant=t1&dryRun=true",
        "Method": "post",
        "Query": {"tenant": "t1", "dryRun": "true"},
        "Headers": {"Content-Type": ["application/octet-stream"], "X-Trace": ["a", "b"]},
        "Params": {},
        "Identities": [],
        "Body": encoded
    }}, "Metadata": {"sys": {"MethodName": "provision"}}});

    let (status, answer) = post_json(&router, "provision", &envelope).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"Outputs": {"res": {
            "statusCode": 202,
            "headers": {"Content-Type": "application/json"},
            "body": "{\"accepted\":true}"
        }}, "Logs": [], "ReturnValue": null})
    );
    let Trigger::Http(req) = rec.only().trigger else {
        panic!("http trigger expected")
    };
    assert_eq!(req.method, "POST");
    assert!(req.url.ends_with("/api/provision?tenant=t1&dryRun=true"));
    assert_eq!(req.query.get("dryRun").map(String::as_str), Some("true"));
    assert_eq!(req.headers["x-trace"], vec!["a", "b"]);
    assert_eq!(req.header("CONTENT-TYPE"), Some("application/octet-stream"));
    assert_eq!(req.body, Some(bytes));
}

/// A JSON body stays text (it is not mistaken for base64), and a GET
/// without a body has none.
#[tokio::test]
async fn http_json_body_stays_text_and_get_has_no_body() {
    let rec = Recorder::replying(Ok(FunctionOutput::http(HttpResponse::html(
        200,
        "<p>ok</p>",
    ))));
    let router = app(FunctionSet::unconfigured()
        .with(FunctionName::Provision, rec.clone())
        .with(FunctionName::Report, rec.clone()));
    let json_body = json!({"Data": {"req": {"Url": "http://localhost/api/provision", "Method": "POST",
        "Headers": {"content-type": ["application/json"]}, "Body": "{\"userId\":\"abcd\"}"}}});
    let get = json!({"Data": {"req": {"Url": "http://localhost/api/report?format=json", "Method": "GET",
        "Query": {"format": "json"}, "Headers": {}}}});

    assert_eq!(
        post_json(&router, "provision", &json_body).await.0,
        StatusCode::OK
    );
    let (status, answer) = post_json(&router, "report", &get).await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Outputs"]["res"]["body"], "<p>ok</p>");
    let seen = rec.seen.lock().unwrap();
    let (Trigger::Http(post_req), Trigger::Http(get_req)) = (&seen[0].trigger, &seen[1].trigger)
    else {
        panic!("http triggers expected")
    };
    assert_eq!(
        post_req.body.as_deref(),
        Some(&b"{\"userId\":\"abcd\"}"[..])
    );
    assert_eq!(get_req.body, None);
}

/// The error policy: a transient failure fails a queue invocation (non-2xx,
/// so the host redelivers), a permanent one or bad input completes it with
/// the error in `Logs`; HTTP functions always answer 200 with the matching
/// `res` status.
#[tokio::test]
async fn error_policy_separates_transient_from_permanent_failures() {
    let cases = [
        (
            InvokeError::Transient("graph down".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
            503,
        ),
        (
            InvokeError::Permanent("tenant disabled".into()),
            StatusCode::OK,
            500,
        ),
        (
            InvokeError::BadInput("no work item".into()),
            StatusCode::OK,
            400,
        ),
    ];
    for (err, queue_status, http_status) in cases {
        let rec = Recorder::replying(Err(err.clone()));
        let router = app(FunctionSet::unconfigured()
            .with(FunctionName::TenantWorker, rec.clone())
            .with(FunctionName::Report, rec.clone()));

        let (status, answer) = post_json(
            &router,
            "tenant-worker",
            &double_encoded_queue_envelope(&work_item()),
        )
        .await;
        assert_eq!(status, queue_status, "{err:?}: {answer}");
        if status == StatusCode::OK {
            assert_eq!(answer["Outputs"], json!({}));
            assert!(answer["Logs"][0]
                .as_str()
                .unwrap()
                .contains(&err.to_string()));
        } else {
            assert!(answer["error"].as_str().unwrap().contains("graph down"));
        }

        let get = json!({"Data": {"req": {"Url": "http://localhost/api/report", "Method": "GET"}}});
        let (status, answer) = post_json(&router, "report", &get).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            answer["Outputs"]["res"]["statusCode"], http_status,
            "{err:?}"
        );
    }
}

/// An unconfigured function fails clearly ("not configured") and never
/// answers success: a queue message is kept for redelivery, an HTTP caller
/// gets 503.
#[tokio::test]
async fn unconfigured_functions_fail_clearly() {
    let router = app(FunctionSet::unconfigured());

    let (status, answer) = post_json(
        &router,
        "tenant-worker",
        &double_encoded_queue_envelope(&work_item()),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["error"].as_str().unwrap().contains("not configured"));

    let (status, answer) = post_json(&router, "sync-timer", &captured_timer_envelope()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("sync-timer is not configured"));

    let get = json!({"Data": {"req": {"Url": "http://localhost/api/report", "Method": "GET"}}});
    let (status, answer) = post_json(&router, "report", &get).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Outputs"]["res"]["statusCode"], 503);
    assert!(answer["Outputs"]["res"]["body"]
        .as_str()
        .unwrap()
        .contains("not configured"));
}

/// A function that panics fails its invocation (500) and the server keeps
/// answering.
#[tokio::test]
async fn a_panicking_function_fails_only_its_invocation() {
    let router = app(FunctionSet::unconfigured()
        .with(
            FunctionName::TenantWorker,
            from_fn(|_| async { panic!("boom") }),
        )
        .with(FunctionName::SyncTimer, ok_function()));

    let (status, answer) = post_json(
        &router,
        "tenant-worker",
        &double_encoded_queue_envelope(&work_item()),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["error"].as_str().unwrap().contains("panicked"));

    let (status, _) = post_json(&router, "sync-timer", &captured_timer_envelope()).await;
    assert_eq!(status, StatusCode::OK);
}

/// Outputs the bindings cannot carry are refused rather than sent: a bare
/// string queue message, queue messages from a function without the
/// output, and an HTTP function without a response.
#[tokio::test]
async fn outputs_the_bindings_cannot_carry_are_refused() {
    let router = app(FunctionSet::unconfigured()
        .with(
            FunctionName::SyncTimer,
            from_fn(|_| async { Ok(FunctionOutput::enqueue(vec![json!("bare string")])) }),
        )
        .with(
            FunctionName::PoisonWatch,
            from_fn(|_| async { Ok(FunctionOutput::enqueue(vec![json!({"job": "x"})])) }),
        )
        .with(FunctionName::Report, ok_function()));

    let (status, answer) = post_json(&router, "sync-timer", &captured_timer_envelope()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("must be JSON objects"));

    let poison = json!({"Data": {"workItem": "{}"}, "Metadata": {"DequeueCount": 5}});
    let (status, answer) = post_json(&router, "poison-watch", &poison).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("no workItems output"));

    let get = json!({"Data": {"req": {"Url": "http://localhost/api/report", "Method": "GET"}}});
    let (status, answer) = post_json(&router, "report", &get).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["Outputs"]["res"]["statusCode"], 500);
}

/// `GET /` answers the readiness probe with the served functions.
#[tokio::test]
async fn readiness_probe_lists_the_functions() {
    let res = app(FunctionSet::unconfigured())
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["functions"],
        json!(guest_sync::protocol::FUNCTION_NAMES)
    );
}

/// A body under the documented 4 MiB limit (here 3 MiB, above axum's own
/// 2 MB default) is accepted: the documented limit is the effective one.
#[tokio::test]
async fn a_body_under_the_documented_limit_is_accepted() {
    let rec = Recorder::replying(Ok(FunctionOutput::default()));
    let router = set_with(FunctionName::SyncTimer, rec.clone());
    let mut envelope = captured_timer_envelope();
    envelope["Metadata"]["padding"] = json!("x".repeat(3 * 1024 * 1024));

    let (status, answer) = post_json(&router, "sync-timer", &envelope).await;

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        rec.only().metadata["padding"].as_str().unwrap().len(),
        3 * 1024 * 1024
    );
}
