//! `$batch`: mixed results, dependsOn with 424, per-item 429.
use super::*;
use guest_sync::devtools::sim::NewUser;
use serde_json::json;

async fn batch(e: &Env, tok: &str, requests: Value) -> (u16, Value) {
    let r = e
        .req(reqwest::Method::POST, tok, "$batch")
        .json(&json!({ "requests": requests }))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

fn status_of(v: &Value, id: &str) -> u64 {
    v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap()["status"]
        .as_u64()
        .unwrap()
}

/// A batch answers each sub-request on its own; a failed dependency gives 424 and is not run.
#[tokio::test]
async fn a_batch_has_mixed_results_and_424_for_failed_dependencies() {
    let e = env(SimConfig::fast()).await;
    let u = e.sim.create_user(
        e.host,
        NewUser::simple("Ann Lee", "ann@host.onmicrosoft.com"),
    );
    let tok = e.host_token().await;
    let missing = Guid::new_v4();
    let (s, v) = batch(
        &e,
        &tok,
        json!([
            {"id": "1", "method": "PATCH", "url": format!("/users/{u}"), "headers": {"Content-Type": "application/json"}, "body": {"jobTitle": "Lead"}},
            {"id": "2", "method": "GET", "url": format!("/users/{missing}")},
            {"id": "3", "method": "PATCH", "url": format!("/users/{u}"), "dependsOn": ["2"], "headers": {"Content-Type": "application/json"}, "body": {"department": "Never"}},
            {"id": "4", "method": "GET", "url": format!("/users/{u}?$select=jobTitle"), "dependsOn": ["1"]},
            {"id": "5", "method": "POST", "url": "/invitations", "headers": {"Content-Type": "application/json"}, "body": {"invitedUserEmailAddress": "b@fabrikam.com", "inviteRedirectUrl": "https://x.example"}}
        ]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(status_of(&v, "1"), 204);
    assert_eq!(status_of(&v, "2"), 404);
    assert_eq!(status_of(&v, "3"), 424);
    assert_eq!(status_of(&v, "4"), 200);
    assert_eq!(status_of(&v, "5"), 201);
    let four = v["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "4")
        .unwrap();
    assert_eq!(four["body"]["jobTitle"], "Lead");
    let user = e.sim.user(e.host, u).unwrap();
    assert_eq!(
        user.attributes["department"],
        Value::Null,
        "424 was not run"
    );
    assert_eq!(e.sim.counts().op_for("patch", u), 1);
}

/// More than 20 sub-requests are refused as a whole.
#[tokio::test]
async fn a_batch_of_more_than_twenty_is_refused() {
    let e = env(SimConfig::fast()).await;
    let tok = e.host_token().await;
    let reqs: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users?$top=1"}))
        .collect();
    let (s, _) = batch(&e, &tok, Value::Array(reqs)).await;
    assert_eq!(s, 400);
}

/// Sub-requests are throttled on their own: past the invitation budget they answer 429 with their own Retry-After.
#[tokio::test]
async fn batch_items_past_the_budget_answer_429_with_their_own_retry_after() {
    let mut cfg = SimConfig::fast();
    cfg.time_scale = 1.0;
    let e = env(cfg).await;
    let tok = e.host_token().await;
    let mut throttled = 0;
    let mut ok = 0;
    for b in 0..9 {
        let reqs: Vec<Value> = (0..20)
            .map(|i| json!({"id": i.to_string(), "method": "POST", "url": "/invitations",
                "headers": {"Content-Type": "application/json"},
                "body": {"invitedUserEmailAddress": format!("p{b}x{i}@fabrikam.com"), "inviteRedirectUrl": "https://x.example"}}))
            .collect();
        let (s, v) = batch(&e, &tok, Value::Array(reqs)).await;
        assert_eq!(s, 200);
        for r in v["responses"].as_array().unwrap() {
            match r["status"].as_u64().unwrap() {
                201 => ok += 1,
                429 => {
                    throttled += 1;
                    let ra: u64 = r["headers"]["Retry-After"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(ra >= 1);
                    assert!(r["headers"]["x-ms-throttle-scope"]
                        .as_str()
                        .unwrap()
                        .starts_with("Tenant/Invitations/"));
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert!(ok >= 150, "{ok}");
    assert!(throttled > 0);
    assert_eq!(e.sim.counts().writes_by_op["invite"].len(), ok);
}
