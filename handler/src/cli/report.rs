//! `guest-sync report`.

/// Arguments of `guest-sync report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

pub async fn run(_args: ReportArgs) -> anyhow::Result<()> {
    anyhow::bail!("guest-sync report is not available in this build yet")
}
