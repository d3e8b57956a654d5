//! Eventual consistency of fresh objects and the photo cool-down.
use super::*;

/// A fresh guest answers 404 to reads and PATCH inside the window, then 200.
#[tokio::test]
async fn a_fresh_guest_answers_404_until_the_window_has_passed() {
    let mut cfg = SimConfig::fast();
    cfg.consistency_window_ms = 5_000;
    // Real time: at fast()'s 1000x the window would be 5 ms of wall time,
    // which a loaded machine can spend between two requests.
    cfg.time_scale = 1.0;
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
    cfg.time_scale = 1.0;
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

/// The simulator's clock follows tokio's: in a runtime whose clock is
/// paused, simulated time moves exactly as far as tokio's clock does
/// (scaled), and nothing else moves it. This is what lets `bench scale`
/// and `bench graph` measure Graph time on a virtual clock.
#[tokio::test(start_paused = true)]
async fn the_simulated_clock_follows_a_paused_tokio_clock() {
    let sim = guest_sync::devtools::sim::Sim::start(SimConfig {
        time_scale: 10.0,
        ..SimConfig::fast()
    })
    .await
    .unwrap();
    let t0 = sim.now_secs();
    // Work that takes wall time but no tokio time.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(sim.now_secs(), t0);
    tokio::time::sleep(std::time::Duration::from_secs(90)).await;
    let moved = sim.now_secs() - t0;
    assert!((moved - 900.0).abs() < 1e-3, "{moved}");
    sim.advance(5.0);
    assert!((sim.now_secs() - t0 - 905.0).abs() < 1e-3);
}
