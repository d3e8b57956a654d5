//! Injected faults: 5xx, dropped connections, determinism by seed.
use super::*;
use guest_sync::devtools::sim::Faults;

async fn statuses(seed: u64) -> Vec<u16> {
    let mut cfg = SimConfig::fast();
    cfg.seed = seed;
    cfg.faults = Faults {
        error_5xx_rate: 0.3,
        ..Faults::default()
    };
    let e = env(cfg).await;
    let tok = e.host_token().await;
    let mut out = Vec::new();
    for _ in 0..60 {
        let (s, _) = e.get(&tok, "users?$top=1").await;
        out.push(s);
    }
    out
}

/// The same seed and request sequence give the same fault sequence; another seed another one.
#[tokio::test]
async fn the_same_seed_gives_the_same_fault_sequence() {
    let a = statuses(7).await;
    let b = statuses(7).await;
    let c = statuses(8).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().any(|s| *s >= 500) && a.contains(&200));
}

/// A faulted write changes nothing; a dropped connection gives the client no answer.
#[tokio::test]
async fn faulted_calls_change_nothing_and_drops_give_no_answer() {
    let e = env(SimConfig::fast()).await;
    let tok = e.host_token().await;
    e.sim.set_faults(Faults {
        error_5xx_rate: 1.0,
        ..Faults::default()
    });
    let (s, v) = e.invite(&tok, "a@fabrikam.com").await;
    assert!(s >= 500, "{s}");
    assert!(v["error"]["code"].is_string());
    assert!(e.sim.users(e.host).is_empty());
    e.sim.set_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    });
    let r = e
        .req(reqwest::Method::GET, &tok, "users?$top=1")
        .send()
        .await;
    let failed = match r {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(
        failed,
        "a dropped connection must not yield a complete answer"
    );
    assert_eq!(e.sim.counts().dropped, 1);
    e.sim.set_faults(Faults::default());
    let (s, _) = e.get(&tok, "users?$top=1").await;
    assert_eq!(s, 200);
}
