//! `guest-sync demo`.

/// Arguments of `guest-sync demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub async fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("guest-sync demo is not available in this build yet")
}
