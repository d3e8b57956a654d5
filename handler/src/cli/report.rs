//! `guest-sync report`: the statistics from the local (or any) store, as a
//! terminal table (default), JSON (`--json`) or the HTML dashboard written
//! to a file (`--html FILE`).
use std::path::PathBuf;

use anyhow::Context as _;

use crate::domain::Guid;
use crate::report::{render_html, render_table, Statistics};
use crate::settings::StoreSpec;

/// Arguments of `guest-sync report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Print the statistics as JSON (the schema is documented in
    /// docs/report.md) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Write the self-contained HTML dashboard to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Only this source tenant (its id).
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    /// Where the state lives (as in Azure: sqlite:<path>, a table endpoint
    /// URL or a storage connection string).
    #[arg(
        long,
        env = "GUESTSYNC_STORE",
        default_value = "sqlite:guest-sync.db",
        hide_env_values = true
    )]
    pub store: String,
}

/// Runs `guest-sync report`.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let out = execute(&args, chrono::Utc::now()).await?;
    print!("{out}");
    Ok(())
}

/// Does the work of `guest-sync report` at time `now` and returns what it
/// prints (separate from [`run`] so tests can check the output).
pub async fn execute(
    args: &ReportArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let spec = StoreSpec::parse(&args.store)?;
    if let StoreSpec::Sqlite(path) = &spec {
        // Opening would create an empty database; a report should not.
        if !path.exists() {
            anyhow::bail!(
                "no store at {} (GUESTSYNC_STORE={spec}): register a source tenant with `guest-sync tenant add`, run `guest-sync demo`, or point GUESTSYNC_STORE at an existing store",
                path.display()
            );
        }
    }
    let tenant = args
        .tenant
        .as_deref()
        .map(|t| Guid::parse_named(t, "--tenant"))
        .transpose()?;
    let store = crate::app::App::open_store(&spec).await?;
    let mut stats = Statistics::load(store.as_ref(), now)
        .await
        .with_context(|| format!("reading statistics from the store ({spec})"))?;
    if let Some(id) = tenant {
        stats = stats
            .for_tenant(id)
            .with_context(|| format!("source tenant {id} is not registered in {spec}"))?;
    }
    let mut out = String::new();
    if let Some(file) = &args.html {
        std::fs::write(file, render_html(&stats))
            .with_context(|| format!("writing the dashboard to {}", file.display()))?;
        if !args.json {
            out.push_str(&format!("wrote the dashboard to {}\n", file.display()));
        }
    }
    if args.json {
        out.push_str(&serde_json::to_string_pretty(&stats)?);
        out.push('\n');
    } else if args.html.is_none() {
        out.push_str(&render_table(&stats));
    }
    Ok(out)
}
