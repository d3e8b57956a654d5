//! `guest-sync store …`: the state store itself.
//!
//! - `rebuild [--tenant ID] [--dry-run]`: re-makes the guest records of a
//!   lost (or restored-from-old-backup) store from the ownership anchors in
//!   the host ([`crate::engine::rebuild_records`]). Register the tenants
//!   again first (`guest-sync tenant add`): their registrations are not in
//!   the directory.
use anyhow::Context;
use clap::{Args, Subcommand};

use crate::app::App;
use crate::domain::Guid;
use crate::engine::{rebuild_records, NoProgress};
use crate::settings::Settings;

/// Arguments of `guest-sync store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Re-make missing guest records from the ownership anchors the host's
    /// guests carry (GUESTSYNC_ANCHOR_ATTRIBUTE): each anchored guest is
    /// re-linked as managed, or held when found disabled. Reads Graph,
    /// writes only the store.
    Rebuild {
        /// Only this source tenant (id); default: every registered tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Count what would be re-made; store nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `guest-sync store …`; returns what it prints.
pub async fn execute(args: StoreArgs) -> anyhow::Result<String> {
    match args.command {
        StoreCommand::Rebuild { tenant, dry_run } => {
            let app = App::open(Settings::from_env()?).await?;
            let tenants = match tenant {
                Some(id) => {
                    let id = Guid::parse_named(&id, "--tenant")?;
                    vec![app.store.get_tenant(id).await?.with_context(|| {
                        format!("source tenant {id} is not registered (see guest-sync tenant list)")
                    })?]
                }
                None => app.store.list_tenants().await?,
            };
            anyhow::ensure!(
                !tenants.is_empty(),
                "no source tenant is registered: register them again (guest-sync tenant add), then rebuild"
            );
            let engine = app.engine();
            let mut out = String::new();
            let mut total = 0;
            for t in &tenants {
                let r = rebuild_records(&engine, t, !dry_run, &NoProgress)
                    .await
                    .with_context(|| format!("rebuilding tenant {}", t.tenant_id))?;
                total += r.relinked;
                out.push_str(&format!(
                    "{} ({}): {} guest record(s) {}re-linked from anchors ({} held: found disabled), {} already kept{}\n",
                    t.display_name,
                    t.tenant_id,
                    r.relinked,
                    if dry_run { "would be " } else { "" },
                    r.held,
                    r.kept,
                    if r.source_complete { "" } else { "; the source read was incomplete" }
                ));
            }
            out.push_str(&format!(
                "{total} record(s) {}\n",
                if dry_run {
                    "would be re-made (dry run: nothing stored)"
                } else {
                    "re-made"
                }
            ));
            Ok(out)
        }
    }
}

/// Runs `guest-sync store …` and prints the result.
pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    print!("{}", execute(args).await?);
    Ok(())
}
