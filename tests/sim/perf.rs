//! Throughput benchmark of the simulator itself (ignored by default; it
//! prints numbers instead of asserting times):
//! `cargo test --release --test integration sim::perf -- --ignored --nocapture`.
use std::time::Instant;

use super::*;
use guest_sync::devtools::sim::GenerateSpec;

/// Prints requests per second for small reads with 16 concurrent clients, and
/// the time to generate and page through a 100,000-user group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly with --ignored --nocapture"]
async fn benchmark_prints_requests_per_second_and_a_100k_member_read() {
    let mut cfg = SimConfig::fast();
    cfg.throttling = false;
    let e = env(cfg).await;
    let t0 = Instant::now();
    let g = e.sim.generate_source(
        e.src,
        &GenerateSpec {
            users: 100_000,
            ..GenerateSpec::default()
        },
    );
    println!("generate 100k users: {:?}", t0.elapsed());
    let tok = e.src_token().await;
    let t0 = Instant::now();
    let mut url = format!(
        "groups/{}/transitiveMembers/microsoft.graph.user?$select=id,displayName,mail,userPrincipalName,accountEnabled,jobTitle,department&$top=999",
        g.group_id
    );
    let mut n = 0;
    let mut pages = 0;
    loop {
        let (_, v) = e.get(&tok, &url).await;
        n += v["value"].as_array().map(Vec::len).unwrap_or(0);
        pages += 1;
        match v["@odata.nextLink"].as_str() {
            Some(l) => url = l.to_string(),
            None => break,
        }
    }
    println!("read {n} members in {pages} pages: {:?}", t0.elapsed());

    let user = g.user_ids[0];
    let total = 20_000;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let http = e.http.clone();
        let url = format!("{}/v1.0/users/{user}?$select=id,displayName", e.base());
        let tok = tok.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / 16 {
                let r = http.get(&url).bearer_auth(&tok).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let _ = r.bytes().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{total} GET /users/{{id}} with 16 clients: {:.0} requests/s (client and server share the machine)",
        total as f64 / secs
    );
}
