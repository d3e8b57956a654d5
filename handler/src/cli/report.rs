//! `guest-sync report`: the statistics from the local (or any) store, as a
//! terminal table (default), JSON (`--json`) or the HTML dashboard written
//! to a file (`--html FILE`); or a CSV export of the guest records or the
//! audit (`--csv guests|audit`, to stdout or `--out FILE`; safe against
//! formula injection, see [`crate::report::csv`]).
use std::path::PathBuf;

use anyhow::Context as _;

use crate::domain::{GuestRecord, Guid, SourceTenant};
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
    /// Export CSV instead: `guests` (one row per guest record) or `audit`
    /// (the newest audit entries), columns in docs/report.md.
    #[arg(long, value_enum, value_name = "WHAT", conflicts_with_all = ["json", "html"])]
    pub csv: Option<CsvExport>,
    /// With --csv: write the CSV to FILE instead of stdout.
    #[arg(long, value_name = "FILE", requires = "csv")]
    pub out: Option<PathBuf>,
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

/// What `--csv` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CsvExport {
    /// One row per guest record.
    Guests,
    /// One row per audit entry, newest first (at most [`CSV_AUDIT_WINDOW`]).
    Audit,
}

/// The most audit entries `--csv audit` exports (newest first).
pub const CSV_AUDIT_WINDOW: usize = 100_000;

/// Runs `guest-sync report`.
pub async fn run(args: ReportArgs) -> anyhow::Result<()> {
    let out = execute(&args, chrono::Utc::now()).await?;
    super::print_stdout(&out)
}

/// Does the work of `guest-sync report` at time `now` and returns what it
/// prints (separate from [`run`] so tests can check the output).
pub async fn execute(
    args: &ReportArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let spec = StoreSpec::parse(&args.store)?;
    let store = super::open_existing_store(
        &spec,
        ": register a source tenant with `guest-sync tenant add`, run `guest-sync demo`, or point GUESTSYNC_STORE at an existing store",
    )
    .await?;
    let tenant = args
        .tenant
        .as_deref()
        .map(|t| Guid::parse_named(t, "--tenant"))
        .transpose()?;
    if let Some(kind) = args.csv {
        return export_csv(store.as_ref(), kind, tenant, args.out.as_deref(), &spec).await;
    }
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

/// `--csv`: reads the tenants (one with `--tenant`), their guest records and
/// (for `audit`) the newest audit entries, and writes the CSV to `out` or
/// returns it for stdout.
async fn export_csv(
    store: &dyn crate::store::Store,
    kind: CsvExport,
    tenant: Option<Guid>,
    out: Option<&std::path::Path>,
    spec: &StoreSpec,
) -> anyhow::Result<String> {
    let mut tenants: Vec<SourceTenant> = store
        .list_tenants()
        .await
        .with_context(|| format!("reading the tenants from the store ({spec})"))?;
    if let Some(id) = tenant {
        tenants.retain(|t| t.tenant_id == id);
        anyhow::ensure!(
            !tenants.is_empty(),
            "source tenant {id} is not registered in {spec}"
        );
    }
    let mut guests: Vec<GuestRecord> = Vec::new();
    for t in &tenants {
        guests.extend(
            store
                .list_guests(t.tenant_id)
                .await
                .with_context(|| format!("reading the guests of tenant {}", t.tenant_id))?,
        );
    }
    let mut buf = Vec::new();
    let rows = match kind {
        CsvExport::Guests => crate::report::csv::write_guests(&mut buf, &tenants, &guests),
        CsvExport::Audit => {
            let audit = store
                .list_audit(tenant, CSV_AUDIT_WINDOW)
                .await
                .with_context(|| format!("reading the audit from the store ({spec})"))?;
            crate::report::csv::write_audit(&mut buf, &tenants, &guests, &audit)
        }
    }
    .context("writing the CSV")?;
    match out {
        Some(file) => {
            std::fs::write(file, &buf)
                .with_context(|| format!("writing the CSV to {}", file.display()))?;
            Ok(format!("wrote {rows} rows to {}\n", file.display()))
        }
        None => String::from_utf8(buf).context("the CSV is not UTF-8"),
    }
}
