//! Eventual consistency of fresh objects and the photo cool-down.
use super::*;

/// A fresh guest answers 404 to reads and PATCH inside the window, then 200.
#[tokio::test]
async fn a_fresh_guest_answers_404_until_the_window_has_passed() {
    let mut cfg = SimConfig::fast();
    cfg.consistency_window_ms = 5_000;
    let e = env(cfg).await;
    let tok = e.host_token().await;
    let (_, v) = e.invite(&tok, "ann@fabrikam.com").await;
    let id = v["invitedUser"]["id"].as_str().unwrap().to_string();
    let (s, _) = e.get(&tok, &format!("users/{id}")).await;
    assert_eq!(s, 404);
    let r = e
        .req(reqwest::Method::PATCH, &tok, &format!("users/{id}"))
        .json(&serde_json::json!({"jobTitle": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    e.sim.advance(6.0);
    let (s, _) = e.get(&tok, &format!("users/{id}")).await;
    assert_eq!(s, 200);
}

/// PUT photo on a new guest fails during the cool-down and works after it.
#[tokio::test]
async fn a_photo_on_a_new_guest_fails_during_the_cool_down() {
    let mut cfg = SimConfig::fast();
    cfg.photo_cooldown_secs = 300;
    let e = env(cfg).await;
    let tok = e.host_token().await;
    let (_, v) = e.invite(&tok, "ann@fabrikam.com").await;
    let id = v["invitedUser"]["id"].as_str().unwrap().to_string();
    let put = || {
        e.req(
            reqwest::Method::PUT,
            &tok,
            &format!("users/{id}/photo/$value"),
        )
        .header("Content-Type", "image/jpeg")
        .body(vec![0xFF, 0xD8, 7, 0xFF, 0xD9])
        .send()
    };
    let r = put().await.unwrap();
    assert_eq!(r.status(), 404);
    e.sim.advance(301.0);
    let r = put().await.unwrap();
    assert_eq!(r.status(), 200);
    let u = e.sim.user(e.host, id.parse().unwrap()).unwrap();
    assert_eq!(u.photo.unwrap().1, vec![0xFF, 0xD8, 7, 0xFF, 0xD9]);
}
