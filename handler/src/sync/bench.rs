//! The sync benchmark (`guest-sync bench sync`). Placeholder until filled.

/// Arguments of the sync benchmark.
#[derive(Debug, clap::Args)]
pub struct ScaleBenchArgs {}

pub async fn run(_args: ScaleBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("this benchmark is not available in this build yet")
}
