//! `guest-sync sync` and `guest-sync plan`.

/// Arguments of `guest-sync sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {}

/// Arguments of `guest-sync plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

pub async fn run(_args: SyncArgs) -> anyhow::Result<()> {
    anyhow::bail!("guest-sync sync is not available in this build yet")
}

pub async fn run_plan(_args: PlanArgs) -> anyhow::Result<()> {
    anyhow::bail!("guest-sync plan is not available in this build yet")
}
