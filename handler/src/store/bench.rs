//! The store benchmark (`guest-sync bench store`). Placeholder until filled.

/// Arguments of the store benchmark.
#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {}

pub async fn run(_args: StoreBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("this benchmark is not available in this build yet")
}
