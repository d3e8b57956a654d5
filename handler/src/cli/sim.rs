//! `guest-sync sim`.

/// Arguments of `guest-sync sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {}

pub async fn run(_args: SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("guest-sync sim is not available in this build yet")
}
