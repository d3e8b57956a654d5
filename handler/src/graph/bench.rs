//! The graph benchmark (`guest-sync bench graph`). Placeholder until filled.

/// Arguments of the graph benchmark.
#[derive(Debug, clap::Args)]
pub struct GraphBenchArgs {}

pub async fn run(_args: GraphBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("this benchmark is not available in this build yet")
}
