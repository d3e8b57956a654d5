//! `guest-sync guest …`: one guest at a time.
//!
//! - `release TENANT USER`: hands a guest that a host administrator
//!   disabled or deleted (state `held`) back to the engine
//!   ([`crate::tenants::release_guest`]); the next reconcile syncs it again.
use clap::{Args, Subcommand};

use crate::domain::Guid;
use crate::settings::StoreSpec;

/// Arguments of `guest-sync guest`.
#[derive(Debug, Args)]
pub struct GuestArgs {
    #[command(subcommand)]
    pub command: GuestCommand,
    /// Where the state lives (as in Azure: sqlite:<path>, a table endpoint
    /// URL or a storage connection string).
    #[arg(
        long,
        global = true,
        env = "GUESTSYNC_STORE",
        default_value = "sqlite:guest-sync.db",
        hide_env_values = true
    )]
    pub store: String,
}

#[derive(Debug, Subcommand)]
pub enum GuestCommand {
    /// Hand a guest held by the host (disabled or deleted by a host
    /// administrator) back to the engine: the next reconcile enables or
    /// restores it if its source user is still in scope.
    Release {
        /// The source tenant (id).
        tenant: String,
        /// The source user (object id).
        user: String,
    },
}

/// Runs `guest-sync guest …`; returns what it prints.
pub async fn execute(args: GuestArgs) -> anyhow::Result<String> {
    let spec = StoreSpec::parse(&args.store)?;
    match args.command {
        GuestCommand::Release { tenant, user } => {
            let tenant = Guid::parse_named(&tenant, "tenant")?;
            let user = Guid::parse_named(&user, "user")?;
            let store = super::open_existing_store(&spec, "").await?;
            let r = crate::tenants::release_guest(store.as_ref(), tenant, user, chrono::Utc::now())
                .await?;
            Ok(format!(
                "guest of source user {user} released (now {}): the next reconcile syncs it again\n",
                r.state.as_str()
            ))
        }
    }
}

/// Runs `guest-sync guest …` and prints the result.
pub async fn run(args: GuestArgs) -> anyhow::Result<()> {
    print!("{}", execute(args).await?);
    Ok(())
}
