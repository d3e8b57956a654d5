//! The `/_sim` control interface mirrors the Rust API over HTTP.
use super::*;
use serde_json::json;

/// Generating, mutating and reading counts work over HTTP.
#[tokio::test]
async fn the_control_interface_generates_mutates_and_counts() {
    let e = env(SimConfig::fast()).await;
    let base = format!("{}/_sim", e.base());
    let r = e
        .http
        .post(format!("{base}/tenants/{}/generate", e.src))
        .json(&json!({"users": 30, "nested_depth": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let g: Value = r.json().await.unwrap();
    assert_eq!(
        g["userIds"].as_array().unwrap().len() + g["guestIds"].as_array().unwrap().len(),
        30
    );
    let uid = g["userIds"][0].as_str().unwrap();
    let r = e
        .http
        .patch(format!("{base}/tenants/{}/users/{uid}", e.src))
        .json(&json!({"jobTitle": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        e.sim
            .user(e.src, uid.parse().unwrap())
            .unwrap()
            .str("jobTitle"),
        Some("Renamed")
    );
    let r = e
        .http
        .post(format!(
            "{base}/tenants/{}/users/{uid}/redeem",
            Guid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "unknown tenant is named, not ignored");
    let _ = e.src_token().await;
    let c: Value = e
        .http
        .get(format!("{base}/counts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["by_kind"]["token"], 1);
}
