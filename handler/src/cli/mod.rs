//! The `guest-sync` command line. Each subcommand lives in its own file with
//! its arguments (clap derive; doc comments are the help) and its `run`.
use clap::{Parser, Subcommand};

#[cfg(feature = "devtools")]
pub mod bench;
#[cfg(feature = "devtools")]
pub mod demo;
pub mod doctor;

pub mod explain;
pub mod guest;
pub mod report;
#[cfg(feature = "devtools")]
pub mod sim;
pub mod store;
pub mod sync;
pub mod tenant;

/// guest-sync: keep the users of many source Entra tenants present as B2B
/// guests in one host tenant.
///
/// Settings come from the environment (GUESTSYNC_*), as in Azure; see the
/// README. Locally the store defaults to sqlite:guest-sync.db.
#[derive(Debug, Parser)]
#[command(name = "guest-sync", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole product locally against the built-in Graph simulator
    /// (nothing but cargo needed).
    #[cfg(feature = "devtools")]
    Demo(demo::DemoArgs),
    /// Run tenant jobs now (reconcile, photos, redemption).
    Sync(sync::SyncArgs),
    /// Compute and print the reconcile plan without writing anything.
    Plan(sync::PlanArgs),
    /// Check the deployment read-only: host and source tenants' settings,
    /// permissions, store, secrets and schedules (exit 0 ok, 3 warnings,
    /// 1 failures).
    Doctor(doctor::DoctorArgs),
    /// Register and manage source tenants.
    Tenant(tenant::TenantArgs),
    /// Act on one guest (release a guest held by the host).
    Guest(guest::GuestArgs),
    /// Print the statistics, write the HTML dashboard or export CSV.
    Report(report::ReportArgs),
    /// Explain one user: in scope or not, which guest is theirs, its
    /// ownership, the last actions, and why nothing happened.
    Explain(explain::ExplainArgs),
    /// The state store (rebuild lost guest records from ownership anchors).
    Store(store::StoreArgs),
    /// The Microsoft Graph simulator.
    #[cfg(feature = "devtools")]
    Sim(sim::SimArgs),
    /// Benchmarks (Graph client throughput, store, full sync at scale).
    #[cfg(feature = "devtools")]
    Bench(bench::BenchArgs),
}

/// A command's verdict that is an exit status rather than an error (the
/// command printed its own report): the binary exits with it, printing
/// nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("exit status {0}")]
pub struct ExitStatus(pub u8);

/// Writes `text` to stdout; a closed pipe (`guest-sync report --csv guests
/// | head`) ends the output quietly instead of panicking like `print!`.
pub(crate) fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Opens the store `spec` names for a command that only reads or edits
/// what is there: a SQLite file that does not exist is an error (opening
/// would create an empty database), `hint` appended to its message.
pub(crate) async fn open_existing_store(
    spec: &crate::settings::StoreSpec,
    hint: &str,
) -> anyhow::Result<std::sync::Arc<dyn crate::store::Store>> {
    if let crate::settings::StoreSpec::Sqlite(path) = spec {
        anyhow::ensure!(
            path.exists(),
            "no store at {} (GUESTSYNC_STORE={spec}){hint}",
            path.display()
        );
    }
    Ok(crate::app::App::open_store(spec).await?)
}

/// Parses the command line and runs it.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        #[cfg(feature = "devtools")]
        Command::Demo(a) => demo::run(a).await,
        Command::Sync(a) => sync::run(a).await,
        Command::Plan(a) => sync::run_plan(a).await,
        Command::Doctor(a) => doctor::run(a).await,
        Command::Tenant(a) => tenant::run(a).await,
        Command::Guest(a) => guest::run(a).await,
        Command::Report(a) => report::run(a).await,
        Command::Explain(a) => explain::run(a).await,
        Command::Store(a) => store::run(a).await,
        #[cfg(feature = "devtools")]
        Command::Sim(a) => sim::run(a).await,
        #[cfg(feature = "devtools")]
        Command::Bench(a) => bench::run(a).await,
    }
}
