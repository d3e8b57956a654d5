//! `guest-sync tenant`.

/// Arguments of `guest-sync tenant`.
#[derive(Debug, clap::Args)]
pub struct TenantArgs {}

pub async fn run(_args: TenantArgs) -> anyhow::Result<()> {
    anyhow::bail!("guest-sync tenant is not available in this build yet")
}
