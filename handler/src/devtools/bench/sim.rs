//! `guest-sync bench sim`: the simulator's own throughput, through the
//! real Graph client (what every other benchmark and test stands on):
//! generating a large source tenant, paging through its group, and small
//! reads with many clients at once. Prints numbers; asserts nothing.
use std::time::Instant;

use anyhow::Context;

use crate::devtools::sim::{GenerateSpec, Sim, SimConfig};
use crate::domain::Guid;
use crate::graph::{AppCredentials, GraphClient, GraphConfig};
use crate::secrets::SecretString;

/// Arguments of the simulator benchmark.
#[derive(Debug, clap::Args)]
pub struct SimBenchArgs {
    /// Users in the generated source group.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// Small reads (`GET /users/{id}`) to time.
    #[arg(long, default_value_t = 20_000)]
    pub reads: usize,
    /// Clients reading at once.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
}

/// What the benchmark counted (the times are printed, not returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBenchReport {
    /// Members read through the group's pages.
    pub members_read: usize,
    pub pages: u32,
    /// Small reads answered.
    pub reads: usize,
}

/// Runs the benchmark and prints its numbers.
pub async fn run(args: SimBenchArgs) -> anyhow::Result<()> {
    measure(&args).await.map(|_| ())
}

/// Runs the benchmark, prints the numbers, returns the counts.
pub async fn measure(args: &SimBenchArgs) -> anyhow::Result<SimBenchReport> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    let sim = Sim::start(SimConfig {
        throttling: false,
        ..SimConfig::fast()
    })
    .await
    .context("starting the simulator")?;
    let tenant = Guid::new_v4();
    let app = Guid::new_v4();
    sim.add_tenant(tenant, "Bench source", "benchsource.onmicrosoft.com");
    sim.register_app(
        tenant,
        app,
        "bench-secret",
        &["GroupMember.Read.All", "User.Read.All"],
    );
    let t0 = Instant::now();
    let g = sim.generate_source(
        tenant,
        &GenerateSpec {
            users: args.users,
            ..GenerateSpec::default()
        },
    );
    println!("generate {} users: {:.1?}", args.users, t0.elapsed());
    sim.advance(60.0);

    let client = GraphClient::new(GraphConfig::new(sim.url(), sim.url()))
        .context("building the Graph client")?;
    let src = client.tenant(AppCredentials {
        tenant_id: tenant,
        client_id: app,
        secret: SecretString::new("bench-secret"),
    });
    let select = [
        "id",
        "displayName",
        "mail",
        "userPrincipalName",
        "accountEnabled",
    ];
    let t0 = Instant::now();
    let mut members = 0usize;
    let read = src
        .for_each_group_member_page(g.group_id, &select, |page| members += page.len())
        .await;
    if let Some(e) = read.error {
        anyhow::bail!("reading the group: {e}");
    }
    println!(
        "read {members} members in {} pages: {:.1?}",
        read.pages,
        t0.elapsed()
    );

    let user = g
        .user_ids
        .first()
        .copied()
        .context("the generated group has no user")?;
    let per_client = (args.reads / args.clients).max(1);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let src = src.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_client {
                src.get_user(user, &["id", "displayName"]).await?;
            }
            Ok::<(), crate::graph::GraphError>(())
        }));
    }
    for t in tasks {
        t.await.context("a reading task")??;
    }
    let n = per_client * args.clients;
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    println!(
        "{n} GET /users/{{id}} with {} clients: {:.0} requests/s (client and simulator share the machine)",
        args.clients,
        n as f64 / secs
    );
    Ok(SimBenchReport {
        members_read: members,
        pages: read.pages,
        reads: n,
    })
}
