//! `guest-sync sync` (run tenant jobs now, with progress bars) and
//! `guest-sync plan` (compute the reconcile plan and print it, writing
//! nothing). Settings come from the environment, as in Azure.
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::App;
use crate::domain::plan::{ActionKind, HoldReason, Plan};
use crate::domain::{Guid, Job, SourceTenant};
use crate::engine::driver::Driven;
use crate::engine::{compute_plan, Progress};
use crate::settings::Settings;

/// Arguments of `guest-sync sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only this source tenant (id); default: every enabled tenant.
    #[arg(long)]
    pub tenant: Option<String>,
    /// The job to run: reconcile, photos or redemption.
    #[arg(long, default_value = "reconcile")]
    pub job: Job,
    /// Plan and audit only; write nothing to Graph (also GUESTSYNC_DRY_RUN).
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bars (e.g. in CI logs).
    #[arg(long)]
    pub quiet: bool,
    /// Reconcile reads both sides whole even when delta links would let it
    /// read only the changes (a manual safety net; takes new links).
    #[arg(long)]
    pub full: bool,
}

/// Arguments of `guest-sync plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The source tenant (id).
    #[arg(long)]
    pub tenant: String,
    /// Print the whole plan as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Progress bars: one bar per job, re-labelled per phase, with counts and
/// rate; a finished phase leaves a line behind.
struct Bars {
    bar: ProgressBar,
    label: String,
}

impl Bars {
    fn new(label: String, quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        bar.enable_steady_tick(Duration::from_millis(120));
        Bars { bar, label }
    }

    fn close(&self) {
        self.end_phase();
        self.bar.finish_and_clear();
    }

    fn end_phase(&self) {
        let msg = self.bar.message();
        if !msg.is_empty() {
            let pos = self.bar.position();
            let secs = self.bar.elapsed().as_secs_f64().max(0.001);
            self.bar.println(format!(
                "{} {msg}: {pos} in {secs:.1}s ({:.0}/s)",
                self.label,
                pos as f64 / secs
            ));
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.end_phase();
        let style = match total {
            Some(_) => ProgressStyle::with_template(
                "{prefix} {msg:>12} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            ),
            None => ProgressStyle::with_template("{prefix} {spinner} {msg:>12} {pos} {per_sec}"),
        };
        if let Ok(s) = style {
            self.bar.set_style(s.progress_chars("=> "));
        }
        self.bar.set_prefix(self.label.clone());
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_message(name.to_string());
    }
    fn inc(&self, n: u64) {
        self.bar.inc(n);
    }
}

/// The app from the environment; `dry_run` adds to `GUESTSYNC_DRY_RUN`.
async fn app(dry_run: bool) -> anyhow::Result<App> {
    let mut settings = Settings::from_env()?;
    settings.dry_run |= dry_run;
    // Development only: the client's clock runs as fast as a local
    // simulator's (benchmarks of several processes); refused elsewhere.
    let scale = time_scale(
        std::env::var("GUESTSYNC_TIME_SCALE").ok().as_deref(),
        &settings.graph_url,
    )?;
    if let Some(scale) = scale {
        return Ok(App::open_with_graph(settings, |g| g.with_time_scale(scale)).await?);
    }
    Ok(App::open(settings).await?)
}

/// `GUESTSYNC_TIME_SCALE` (development only): a positive factor, accepted
/// only when Graph is the local simulator (a loopback URL).
fn time_scale(value: Option<&str>, graph_url: &url::Url) -> anyhow::Result<Option<f64>> {
    let Some(v) = value else {
        return Ok(None);
    };
    anyhow::ensure!(
        crate::settings::is_loopback(graph_url),
        "GUESTSYNC_TIME_SCALE is a development setting for the local simulator only and is refused because GUESTSYNC_GRAPH_URL ({graph_url}) is not a loopback address; unset GUESTSYNC_TIME_SCALE"
    );
    let scale: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s > 0.0)
        .with_context(|| format!("GUESTSYNC_TIME_SCALE: {v:?} is not a positive number"))?;
    Ok(Some(scale))
}

async fn tenant(app: &App, id: &str) -> anyhow::Result<SourceTenant> {
    let id = Guid::parse_named(id, "--tenant")?;
    app.store.get_tenant(id).await?.with_context(|| {
        format!("source tenant {id} is not registered (see guest-sync tenant list)")
    })
}

/// `guest-sync sync`: runs the job for one or every enabled tenant to the
/// end through the job driver (the lease held and renewed, so it never
/// runs beside the Functions app's worker; continuations followed).
pub async fn run(args: SyncArgs) -> anyhow::Result<()> {
    let app = app(args.dry_run).await?;
    let tenants = match &args.tenant {
        Some(id) => vec![tenant(&app, id).await?],
        None => app
            .store
            .list_tenants()
            .await?
            .into_iter()
            .filter(|t| t.enabled)
            .collect(),
    };
    if tenants.is_empty() {
        anyhow::bail!("no enabled source tenant is registered (see guest-sync tenant add)");
    }
    let mut engine = app.engine();
    engine.force_full = args.full;
    let driver = app.driver_for(engine);
    let mut failures = 0;
    for t in tenants {
        let bars = Bars::new(format!("{} {}", t.display_name, args.job), args.quiet);
        let result = driver.run_to_end(&t, args.job, &bars).await;
        bars.close();
        match result {
            Ok(Driven::Skipped(why)) => {
                eprintln!("{} ({}): {why}; skipped", t.display_name, t.tenant_id);
                failures += 1;
            }
            Ok(Driven::Finished(end)) => {
                let out = &end.last;
                println!(
                    "{} ({}): {} {}{}",
                    t.display_name,
                    t.tenant_id,
                    args.job,
                    out.outcome.as_str(),
                    if out.dry_run { " (dry run)" } else { "" }
                );
                println!("  {}", counts_line(&end.counts));
                if let Some(problem) = &out.attention {
                    eprintln!("  needs attention: {problem}");
                    failures += 1;
                }
                if let Some(w) = &out.warning {
                    eprintln!("  warning: {w}");
                }
                if let Some(g) = out.guard {
                    println!(
                        "  deprovision guard: {} removals wanted, limit {}; held back until confirmed (guest-sync tenant confirm-deprovision)",
                        g.wanted, g.limit
                    );
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!(
                    "{} ({}): {} failed: {}",
                    t.display_name,
                    t.tenant_id,
                    args.job,
                    e.describe()
                );
            }
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} tenant job(s) did not complete");
    }
    Ok(())
}

fn counts_line(c: &crate::domain::RunCounts) -> String {
    let v = serde_json::to_value(c).unwrap_or_default();
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, n)| n.as_u64().is_some_and(|n| n > 0))
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "nothing to do".into())
}

/// `guest-sync plan`: reads both sides, plans, prints; writes nothing.
pub async fn run_plan(args: PlanArgs) -> anyhow::Result<()> {
    let app = app(true).await?;
    let t = tenant(&app, &args.tenant).await?;
    let bars = Bars::new(t.display_name.clone(), args.json);
    let computed = compute_plan(&app.engine(), &t, &bars).await;
    bars.close();
    let computed = computed?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&computed.plan)?);
        return Ok(());
    }
    print!("{}", summary(&t, &computed.plan, computed.source_complete));
    Ok(())
}

/// The readable plan: counts per kind, the guard and held-back removals,
/// and the first few actions of each kind (object ids only).
pub fn summary(t: &SourceTenant, plan: &Plan, complete: bool) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "Plan for {} ({})", t.display_name, t.tenant_id);
    let _ = writeln!(
        s,
        "  in scope: {}{}   unchanged: {}   Graph writes: {}",
        plan.in_scope,
        if complete {
            ""
        } else {
            " (source read incomplete: no removals)"
        },
        plan.unchanged,
        plan.writes()
    );
    if plan.actions.is_empty() {
        let _ = writeln!(s, "  nothing to do");
    }
    for (kind, n) in plan.summary() {
        let _ = writeln!(s, "  {kind:<12} {n}");
        for a in plan
            .actions
            .iter()
            .filter(|a| a.kind.name() == kind)
            .take(5)
        {
            let what = match &a.kind {
                ActionKind::Update { changes, .. }
                | ActionKind::Adopt { changes, .. }
                | ActionKind::Restore { changes, .. } => changes.field_names().join(","),
                ActionKind::RecordOnly { reason } => reason.clone(),
                ActionKind::Deprovision { mode, .. } => format!("{mode:?}").to_lowercase(),
                _ => String::new(),
            };
            let _ = writeln!(s, "      source user {} {what}", a.source_user_id);
        }
        if n > 5 {
            let _ = writeln!(s, "      ... and {} more (--json for all)", n - 5);
        }
    }
    if let Some(g) = plan.guard {
        let _ = writeln!(
            s,
            "  GUARD: {} removals wanted, limit {}: none will be made until an administrator confirms",
            g.wanted, g.limit
        );
    }
    let incomplete = plan
        .held_back
        .iter()
        .filter(|h| h.reason == HoldReason::IncompleteSourceRead)
        .count();
    if incomplete > 0 {
        let _ = writeln!(s, "  held back (incomplete source read): {incomplete}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::plan::{GuardTrip, HeldBack};

    fn tenant() -> SourceTenant {
        SourceTenant {
            tenant_id: Guid::parse_named("2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b", "t").unwrap(),
            display_name: "Contoso".into(),
            client_id: Guid::new_v4(),
            secret_name: Some(crate::domain::SecretName::parse("contoso").unwrap()),
            credential: Default::default(),
            group_id: Guid::new_v4(),
            enabled: true,
            options: Default::default(),
            created_at: chrono::Utc::now(),
            secret_expires_at: None,
            guard: None,
            cross_tenant: None,
            delta: None,
        }
    }

    /// GUESTSYNC_TIME_SCALE is accepted against a loopback Graph only, and
    /// the refusal names the setting.
    #[test]
    fn time_scale_is_for_the_local_simulator_only() {
        let local = url::Url::parse("http://127.0.0.1:8787/").unwrap();
        let graph = url::Url::parse("https://graph.microsoft.com/").unwrap();
        assert_eq!(time_scale(None, &graph).unwrap(), None);
        assert_eq!(time_scale(Some("20"), &local).unwrap(), Some(20.0));
        let e = time_scale(Some("20"), &graph).unwrap_err().to_string();
        assert!(e.contains("GUESTSYNC_TIME_SCALE"), "{e}");
        assert!(e.contains("loopback"), "{e}");
        assert!(time_scale(Some("-1"), &local).is_err());
        assert!(time_scale(Some("fast"), &local).is_err());
    }

    /// The readable plan names the tenant, says when nothing is to do, and
    /// spells out a tripped guard.
    #[test]
    fn summary_shows_counts_and_the_guard() {
        let t = tenant();
        let empty = Plan {
            in_scope: 3,
            unchanged: 3,
            ..Plan::default()
        };
        let s = summary(&t, &empty, true);
        assert!(s.contains("Contoso") && s.contains("nothing to do"), "{s}");
        let held = Plan {
            held_back: vec![HeldBack {
                source_user_id: Guid::new_v4(),
                host_id: Guid::new_v4(),
                reason: HoldReason::GuardLimit {
                    wanted: 7,
                    limit: 2,
                },
            }],
            guard: Some(GuardTrip {
                wanted: 7,
                limit: 2,
            }),
            ..Plan::default()
        };
        let s = summary(&t, &held, true);
        assert!(s.contains("GUARD: 7 removals wanted, limit 2"), "{s}");
    }
}
