//! `guest-sync bench ...`: benchmarks that print their numbers. Each lives
//! beside the code it measures; this file only dispatches.
use clap::Subcommand;

/// Arguments of `guest-sync bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Bench,
}

#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Drive N writes through the Graph client into the simulator and print
    /// writes/s against the throttle budget's bound.
    Graph(crate::devtools::bench::graph::GraphBenchArgs),
    /// Save and load 100,000 guest records on each store backend.
    Store(crate::devtools::bench::store::StoreBenchArgs),
    /// First sync of N users, a no-change run and a 1% churn run, beside a
    /// naive baseline.
    Scale(crate::devtools::bench::scale::ScaleBenchArgs),
    /// The simulator's own throughput: generate a large tenant, page
    /// through its group, small reads with many clients.
    Sim(crate::devtools::bench::sim::SimBenchArgs),
    /// N `guest-sync sync` processes on N tenants against one simulated
    /// host tenant: the aggregate write rate against the shared budget.
    Instances(crate::devtools::bench::instances::InstancesBenchArgs),
    /// Onboarding, timed: from the source admin's setup output to the first
    /// guest created, each host-admin step run as the real CLI, on the
    /// secret and the secretless path (target: 2 minutes).
    Onboarding(crate::devtools::bench::onboarding::OnboardingBenchArgs),
    /// Join -> guest created and leave -> guest removed, p50/p95, with
    /// reconciles on the delta timer's schedule (target: p95 <= 3 minutes).
    Latency(crate::devtools::bench::latency::LatencyBenchArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Bench::Graph(a) => crate::devtools::bench::graph::run(a).await,
        Bench::Store(a) => crate::devtools::bench::store::run(a).await,
        Bench::Scale(a) => crate::devtools::bench::scale::run(a).await,
        Bench::Sim(a) => crate::devtools::bench::sim::run(a).await,
        Bench::Instances(a) => crate::devtools::bench::instances::run(a).await,
        Bench::Onboarding(a) => crate::devtools::bench::onboarding::run(a).await,
        Bench::Latency(a) => crate::devtools::bench::latency::run(a).await,
    }
}
