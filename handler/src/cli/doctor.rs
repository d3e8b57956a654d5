//! `guest-sync doctor`: the read-only preflight ([`crate::doctor`]) with
//! the settings from the environment, as `guest-sync sync` reads them.
//! Prints one line per check (or `--json`) and exits by the worst result:
//! 0 all ok, 3 warnings only, 1 at least one failure (`docs/doctor.md`).
use anyhow::Context;

use super::ExitStatus;
use crate::doctor;
use crate::domain::Guid;

/// Arguments of `guest-sync doctor`.
#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the report as JSON ({"status", "exitCode", "checks": [{"id",
    /// "title", "status", "detail", "fix"}]}).
    #[arg(long)]
    pub json: bool,
    /// Only this source tenant (id); the host checks always run.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// Runs every check and prints the report; the exit status is the
/// verdict.
pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let only = args
        .tenant
        .as_deref()
        .map(|t| Guid::parse_named(t, "--tenant"))
        .transpose()
        .context("--tenant takes a source tenant id (a GUID)")?;
    let report = doctor::run(&|k| std::env::var(k).ok(), only).await;
    if args.json {
        super::print_stdout(&format!("{}\n", report.to_json()))?;
    } else {
        super::print_stdout(&report.to_text())?;
    }
    match report.exit_code() {
        0 => Ok(()),
        code => Err(ExitStatus(code).into()),
    }
}
