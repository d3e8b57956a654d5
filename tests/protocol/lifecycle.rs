//! Concurrency and graceful shutdown of the in-process server (`serve` on a
//! real TCP listener), with test functions that block until released, so
//! nothing depends on timing.
use std::time::Duration;

use guest_sync::protocol::{from_fn, serve, serve_with_grace, FunctionName, FunctionSet};
use tokio::sync::{Barrier, Notify};

use super::*;

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}

/// 50 invocations are in flight at the same time: each waits on a barrier
/// of 50, so they can only complete if the handler runs all of them
/// concurrently; all 50 answer 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_invocations_all_complete() {
    const N: usize = 50;
    let barrier = Arc::new(Barrier::new(N));
    let slow = from_fn(move |_inv| {
        let barrier = Arc::clone(&barrier);
        async move {
            barrier.wait().await;
            Ok(FunctionOutput::enqueue(vec![work_item()]))
        }
    });
    let (listener, base) = bind().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        FunctionSet::unconfigured().with(FunctionName::SyncTimer, slow),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();

    let calls = (0..N).map(|i| {
        let client = client.clone();
        let url = format!("{base}/sync-timer");
        async move {
            let res = client
                .post(url)
                .header("X-Azure-Functions-InvocationId", format!("inv-{i}"))
                .body(captured_timer_envelope().to_string())
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }
    });
    let results = within(
        "50 concurrent invocations",
        futures::future::join_all(calls),
    )
    .await;

    assert_eq!(results.len(), N);
    for (status, body) in results {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Outputs"]["workItems"], json!([work_item()]));
    }
    let _ = stop.send(());
    within("shutdown", server).await.unwrap().unwrap();
}

/// A shutdown request during a slow invocation lets it finish with its
/// normal answer, refuses new connections meanwhile, and then `serve`
/// returns Ok.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_invocation_finish() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    let slow = from_fn(move |_inv| {
        let (s, r) = (Arc::clone(&s), Arc::clone(&r));
        async move {
            s.notify_one();
            r.notified().await;
            Ok(FunctionOutput::enqueue(vec![work_item()]))
        }
    });
    let (listener, base) = bind().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        FunctionSet::unconfigured().with(FunctionName::SyncTimer, slow),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/sync-timer");
        async move {
            let res = client
                .post(url)
                .body(captured_timer_envelope().to_string())
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    });
    within("the slow invocation to start", started.notified()).await;

    stop.send(()).unwrap();
    // Once shutdown began, the listener is closed: a new connection fails.
    let refused = within("a refused connection", async {
        loop {
            match reqwest::Client::new().get(format!("{base}/")).send().await {
                Err(e) => break e,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
    assert!(refused.is_connect(), "{refused}");
    assert!(
        !server.is_finished(),
        "serve returned with an invocation in flight"
    );

    release.notify_one();
    let (status, body) = within("the slow invocation", in_flight).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["Outputs"]["workItems"], json!([work_item()]));
    within("serve to return", server).await.unwrap().unwrap();
}

/// An invocation that never finishes does not hold shutdown hostage: after
/// the grace period `serve` returns anyway.
#[tokio::test]
async fn shutdown_gives_up_on_a_stuck_invocation_after_the_grace_period() {
    let started = Arc::new(Notify::new());
    let s = Arc::clone(&started);
    let stuck = from_fn(move |_inv| {
        let s = Arc::clone(&s);
        async move {
            s.notify_one();
            std::future::pending::<()>().await;
            Ok(FunctionOutput::default())
        }
    });
    let (listener, base) = bind().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_grace(
        listener,
        FunctionSet::unconfigured().with(FunctionName::SyncTimer, stuck),
        async move {
            let _ = stopped.await;
        },
        Duration::from_millis(200),
    ));
    let _call = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(format!("{base}/sync-timer"))
            .body(captured_timer_envelope().to_string())
            .send()
            .await;
    });
    within("the stuck invocation to start", started.notified()).await;

    stop.send(()).unwrap();

    within("serve to give up", server).await.unwrap().unwrap();
}
