//! Orchestration end to end: a host harness plays the Functions host
//! (timers, real queues in Azurite, redelivery, poison queue) against the
//! handler's functions.
pub mod queue;

use queue::QueueClient;

/// Azurite's well-known development account key.
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

async fn start_queue_service() -> (std::process::Child, QueueClient) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/node_modules/.bin/azurite-queue");
    let child = std::process::Command::new(bin)
        .args([
            "--queuePort",
            &port.to_string(),
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let c = QueueClient::new(
        &format!("http://127.0.0.1:{port}/devstoreaccount1"),
        "devstoreaccount1",
        DEV_KEY,
    )
    .unwrap();
    for _ in 0..100 {
        if c.create_queue("probe").await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (child, c)
}

/// Messages put on an Azurite queue come back with growing dequeue counts.
#[tokio::test]
async fn queue_client_round_trips_through_azurite() {
    let (mut child, c) = start_queue_service().await;
    c.create_queue("guestsync-work").await.unwrap();
    c.put("guestsync-work", r#"{"job":"reconcile"}"#)
        .await
        .unwrap();
    assert_eq!(c.count("guestsync-work").await.unwrap(), 1);
    let got = c.get("guestsync-work", 16, 1).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, r#"{"job":"reconcile"}"#);
    assert_eq!(got[0].dequeue_count, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let again = c.get("guestsync-work", 16, 30).await.unwrap();
    assert_eq!(again[0].dequeue_count, 2);
    c.delete("guestsync-work", &again[0]).await.unwrap();
    assert_eq!(c.count("guestsync-work").await.unwrap(), 0);
    child.kill().ok();
}
