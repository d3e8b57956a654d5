//! `guest-sync explain <USER>`: why a user is (or is not) a guest, and why
//! nothing happened when nothing did, from the store
//! ([`crate::report::explain`]; `docs/explain.md`).
//!
//! USER is an object id (source or host user), a source UPN, a source mail
//! address or a host UPN. Prints plain text, or the stable JSON of
//! [`ExplainAnswer`] with `--json`. With `--live` and no matching record,
//! the user is looked up in each enabled source tenant through Graph
//! ([`crate::engine::lookup`]; settings from the environment). Exit code 0 when a guest record
//! matches, [`EXIT_NO_MATCH`] (3) when none does (1 stays "error", 2 is a
//! usage error).
use anyhow::Context as _;

use crate::domain::Guid;
use crate::engine::lookup::{lookup_user, LiveLookup};
use crate::report::explain::{explain, ExplainAnswer, Explanation};
use crate::settings::StoreSpec;

/// The exit code of `guest-sync explain` when no guest record matches.
pub const EXIT_NO_MATCH: u8 = 3;

/// Arguments of `guest-sync explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// The user: object id (source or host side), source UPN, source mail
    /// or host UPN (case-insensitive).
    pub user: String,
    /// Print the answer as JSON (schema in docs/explain.md).
    #[arg(long)]
    pub json: bool,
    /// When no guest record matches: look the user up in each enabled
    /// source tenant through Graph (GUESTSYNC_* settings and secrets as for
    /// `guest-sync sync`) and say whether they are in its scope group now.
    #[arg(long)]
    pub live: bool,
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

/// What `guest-sync explain` prints, and whether anything matched.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainOutput {
    pub text: String,
    pub found: bool,
}

/// Runs `guest-sync explain`: prints the answer; when nothing matched, says
/// so on stderr and exits with [`EXIT_NO_MATCH`].
pub async fn run(args: ExplainArgs) -> anyhow::Result<()> {
    let out = execute(&args, chrono::Utc::now()).await?;
    super::print_stdout(&out.text)?;
    if !out.found {
        eprintln!("no guest record matches {:?}", args.user.trim());
        return Err(super::ExitStatus(EXIT_NO_MATCH).into());
    }
    Ok(())
}

/// Does the work of `guest-sync explain` at time `now` and returns what it
/// prints (separate from [`run`] so tests can check the output).
pub async fn execute(
    args: &ExplainArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<ExplainOutput> {
    let spec = StoreSpec::parse(&args.store)?;
    let store = super::open_existing_store(
        &spec,
        ": point --store or GUESTSYNC_STORE at an existing store",
    )
    .await?;
    let matches = explain(store.as_ref(), &args.user, now)
        .await
        .with_context(|| format!("explaining {:?} from the store ({spec})", args.user.trim()))?;
    let answer = ExplainAnswer::new(&args.user, matches);
    let live = if args.live && !answer.found {
        let settings = crate::settings::Settings::from_env()?;
        let app = crate::app::App::open(settings).await?;
        let ctx = app.engine();
        let mut out = Vec::new();
        for t in store.list_tenants().await?.iter().filter(|t| t.enabled) {
            out.push(lookup_user(&ctx, t, &args.user).await);
        }
        Some(out)
    } else {
        None
    };
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&CliAnswer {
            answer: &answer,
            live: live.as_deref(),
        })?;
        s.push('\n');
        s
    } else {
        let mut s = render_text(&answer);
        for l in live.iter().flatten() {
            s.push_str(&format!("  live: {}\n", l.sentence));
        }
        s
    };
    Ok(ExplainOutput {
        text,
        found: answer.found,
    })
}

/// The `--json` document: the answer, plus `live` with `--live`.
#[derive(serde::Serialize)]
struct CliAnswer<'a> {
    #[serde(flatten)]
    answer: &'a ExplainAnswer,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<&'a [LiveLookup]>,
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|v| v.to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn one(e: &Explanation, out: &mut String) {
    let g = &e.guest;
    let keys: Vec<String> = e
        .matched_by
        .iter()
        .map(|k| {
            serde_json::to_value(k)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        })
        .collect();
    let own = serde_json::to_value(e.ownership)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    out.push_str(&format!(
        "{} (source user {}) in tenant {} ({})\n",
        g.source_upn, g.source_user_id, e.tenant.name, e.tenant.id
    ));
    out.push_str(&format!("  matched by:   {}\n", keys.join(", ")));
    out.push_str(&format!("  scope:        {}\n", e.scope));
    out.push_str(&format!("  source mail:  {}\n", opt(&g.source_mail)));
    out.push_str(&format!(
        "  host user:    {} ({})\n",
        opt(&g.host_upn),
        opt(&g.host_user_id)
    ));
    out.push_str(&format!("  state:        {}\n", g.state));
    out.push_str(&format!("  ownership:    {own}\n"));
    if !g.sponsors.is_empty() || g.manager.is_some() {
        let sponsors: Vec<String> = g.sponsors.iter().map(Guid::to_string).collect();
        out.push_str(&format!(
            "  sponsors:     {}\n",
            if sponsors.is_empty() {
                "none set".to_string()
            } else {
                sponsors.join(", ")
            }
        ));
        out.push_str(&format!("  manager:      {}\n", opt(&g.manager)));
    }
    out.push_str(&format!(
        "  last synced:  {}\n",
        opt(&g.last_synced_at.map(|t| t.format("%Y-%m-%d %H:%M UTC")))
    ));
    if !e.last_runs.is_empty() {
        out.push_str("  last runs:\n");
        for r in &e.last_runs {
            out.push_str(&format!(
                "    {:<10} {} {}{}\n",
                r.job.as_str(),
                r.started_at.format("%Y-%m-%d %H:%M"),
                r.outcome.as_str(),
                if r.dry_run { " (dry run)" } else { "" }
            ));
        }
    }
    if !e.recent_actions.is_empty() {
        out.push_str("  last actions:\n");
        for a in &e.recent_actions {
            out.push_str(&format!(
                "    {} {} {}{}\n",
                a.at.format("%Y-%m-%d %H:%M"),
                a.operation,
                a.outcome,
                a.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ));
        }
    }
    out.push_str("  why:\n");
    for r in &e.reasons {
        out.push_str(&format!("    - {r}\n"));
    }
}

/// The plain-text form of an answer.
pub fn render_text(answer: &ExplainAnswer) -> String {
    let mut out = String::new();
    if !answer.found {
        out.push_str(&format!(
            "{:?}: {}\n",
            answer.query,
            answer.note.as_deref().unwrap_or("no match")
        ));
        return out;
    }
    for (i, e) in answer.matches.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        one(e, &mut out);
    }
    out
}
