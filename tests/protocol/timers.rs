//! The timers through the real handler (the app's own functions over the
//! test world, no Azurite): what a tick puts on the work queue.
use std::collections::BTreeSet;

use guest_sync::domain::Job;
use guest_sync::protocol::{FunctionName, QUEUE_OUTPUT_BINDING};

use super::*;
use crate::support::world::{SourceSpec, World};

/// The captured timer envelope, as the host sends it to `function`.
fn timer_envelope(function: &str) -> Value {
    let mut env = captured_timer_envelope();
    env["Metadata"]["sys"]["MethodName"] = json!(function);
    env
}

/// The `(job, sourceTenantId)` of every work item a timer answer carries;
/// each item also has its own run id, no cursor and an enqueue time.
fn work_items(answer: &Value) -> Vec<(String, String)> {
    let items = answer["Outputs"][QUEUE_OUTPUT_BINDING]
        .as_array()
        .unwrap_or_else(|| panic!("no {QUEUE_OUTPUT_BINDING} output: {answer}"));
    let runs: BTreeSet<&str> = items.iter().filter_map(|i| i["runId"].as_str()).collect();
    assert_eq!(
        runs.len(),
        items.len(),
        "one fresh run id per item: {answer}"
    );
    items
        .iter()
        .map(|i| {
            assert!(i["cursor"].is_null(), "{i}");
            assert!(i["enqueuedAt"].is_string(), "{i}");
            (
                i["job"].as_str().unwrap().to_string(),
                i["sourceTenantId"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `delta-timer` enqueues one `reconcile` work item per enabled source
/// tenant, as `sync-timer` does: a disabled tenant gets none, nor does a
/// tenant whose reconcile is still running (its lease held).
#[tokio::test]
async fn delta_timer_enqueues_one_reconcile_item_per_enabled_tenant() {
    let w = World::fast().await;
    let a = w.add_source(SourceSpec::new("Alpha")).await;
    let b = w.add_source(SourceSpec::new("Beta")).await;
    let off = w.add_source(SourceSpec::new("Off")).await;
    let mut t = off.tenant.clone();
    t.enabled = false;
    w.store.put_tenant(&t).await.unwrap();
    let busy = w.add_source(SourceSpec::new("Busy")).await;
    w.store
        .try_acquire(
            busy.tenant.tenant_id,
            Job::Reconcile,
            "a-running-worker",
            chrono::Duration::minutes(5),
        )
        .await
        .unwrap()
        .expect("the lease was free");
    let router = guest_sync::protocol::app(guest_sync::orchestration::function_set(w.app()));

    let (status, answer) = post_json(
        &router,
        FunctionName::DeltaTimer.as_str(),
        &timer_envelope("delta-timer"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut got = work_items(&answer);
    got.sort();
    let mut want: Vec<(String, String)> = [&a, &b]
        .iter()
        .map(|s| ("reconcile".to_string(), s.tenant.tenant_id.to_string()))
        .collect();
    want.sort();
    assert_eq!(got, want, "{answer}");
    let logs = answer["Logs"].to_string();
    assert!(
        logs.contains(&busy.tenant.tenant_id.to_string()) && logs.contains("already running"),
        "{logs}"
    );

    // The same fan-out as sync-timer's.
    let (status, answer) = post_json(&router, "sync-timer", &timer_envelope("sync-timer")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut same = work_items(&answer);
    same.sort();
    assert_eq!(same, want);
}
