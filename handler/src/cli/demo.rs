//! `guest-sync demo`: the whole product locally, against the built-in Graph
//! simulator, with nothing but cargo. Starts the simulator in-process with
//! Graph's real budgets at a time scale, generates a source tenant,
//! registers it on an embedded SQLite store, and runs reconcile, photos
//! (after the cool-down) and redemption through the job driver the
//! function app's worker uses ([`crate::engine::JobDriver`], built by the
//! composition root [`crate::app::App`]), with progress bars per phase.
//! Then it lives through `--days` days of history on the simulator's clock
//! (each day a few users join the source group, a few leave, some invited
//! guests redeem, and redemption and reconcile run), so the dashboard's
//! charts have a history. Then prints a summary and writes the dashboard.
//!
//! Time: the simulator runs `--time-scale` times faster than real time. The
//! engine's clock ([`crate::engine::SyncContext::clock`]) is set to the
//! simulator's clock, so the photo cool-down (counted from the guests'
//! `createdDateTime`, which the simulator stamps in simulated time) is
//! judged on the same time line the simulator enforces it on. The clock
//! starts `--days` days in the past, so the history ends about now.
//!
//! `--secretless` shows the path without secrets (`docs/onboarding.md`,
//! "Secretless source tenants"): the simulator's managed identity (its
//! endpoint set as this process's `IDENTITY_ENDPOINT`/`IDENTITY_HEADER`/
//! `AZURE_CLIENT_ID`, read by `azure_identity`'s `ManagedIdentityCredential`)
//! and its https listener (that crate insists on an https authority).
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::App;
use crate::devtools::sim::{GenerateSpec, LatencyModel, Sim, SimConfig};
use crate::domain::policy::DeprovisionMode;
use crate::domain::{GuestState, Guid, Job, RunCounts, SecretName, SourceTenant, TenantOptions};
use crate::engine::driver::Driven;
use crate::engine::{Clock, JobDriver, Progress};
use crate::secrets::SecretString;
use crate::settings::{MaxDeprovisions, Settings, StoreSpec};

/// Arguments of `guest-sync demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Users in the generated source tenant.
    #[arg(long, default_value_t = 3000)]
    pub users: usize,
    /// Seed of the simulator (same seed, same tenant).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How much faster than real time the simulator runs (budgets, latency,
    /// cool-downs, Retry-After).
    #[arg(long, default_value_t = 200.0)]
    pub time_scale: f64,
    /// Directory for the demo's store, secrets file and report (its old demo
    /// files are deleted first).
    #[arg(long, default_value = "guest-sync-demo")]
    pub dir: PathBuf,
    /// Days of history to simulate after the first runs (joins, leaves,
    /// gradual redemption, a reconcile and a redemption run a day).
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// No secret anywhere: the source tenant is registered secretless (the
    /// host's multi-tenant app, trusted by the function app's managed
    /// identity, consented to through the admin-consent URL) and the host
    /// signs in as that managed identity; the secrets file stays empty.
    #[arg(long)]
    pub secretless: bool,
}

/// Files of the demo inside `--dir` (only these are deleted on a re-run).
const DB_FILE: &str = "guest-sync.db";
const SECRETS_FILE: &str = "secrets.json";
const REPORT_FILE: &str = "report.html";

/// Share of new guests whose invitation the demo redeems on the first day.
const REDEEM_SHARE: f64 = 0.4;
/// Share of the invitations still pending that are redeemed on each later day.
const DAILY_REDEEM_SHARE: f64 = 0.08;
/// Users joining the source group each day, per 1,000 users.
const DAILY_JOINS_PER_MILLE: usize = 8;
/// Users leaving (deleted in the source) each day, per 1,000 users.
const DAILY_LEAVES_PER_MILLE: usize = 3;
/// The simulator's (and the tenant's) photo cool-down, in simulated seconds.
const PHOTO_COOLDOWN_SECS: u64 = 300;

/// The engine's clock reading the simulator's time line.
struct SimClock {
    sim: Sim,
    /// Wall time taken just before the simulator started (its own start
    /// instant is a few microseconds later, so this clock is never ahead).
    start_wall: DateTime<Utc>,
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        let ms = (self.sim.now_secs() * 1000.0).clamp(0.0, 1e15) as i64;
        self.start_wall + chrono::Duration::milliseconds(ms)
    }
}

/// Progress bars on an indicatif [`MultiProgress`]: one bar per phase, with
/// its count and rate; the previous phase's bar stays, finished.
pub struct Bars {
    multi: MultiProgress,
    current: Mutex<Option<ProgressBar>>,
    job: Mutex<String>,
}

impl Bars {
    /// Bars drawn on stderr, or hidden.
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            current: Mutex::new(None),
            job: Mutex::new(String::new()),
        }
    }

    fn set_job(&self, job: Job) {
        if let Ok(mut j) = self.job.lock() {
            *j = job.to_string();
        }
    }

    fn finish(&self) {
        if let Ok(mut c) = self.current.lock() {
            if let Some(b) = c.take() {
                b.finish();
            }
        }
    }
}

impl Progress for Bars {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.finish();
        let job = self.job.lock().map(|j| j.clone()).unwrap_or_default();
        let bar = match total {
            Some(n) => {
                let b = self.multi.add(ProgressBar::new(n));
                if let Ok(s) = ProgressStyle::with_template(
                    "{prefix:>24} [{bar:30}] {pos:>6}/{len:6} {per_sec:>10} {elapsed:>4}",
                ) {
                    b.set_style(s.progress_chars("=> "));
                }
                b
            }
            None => {
                let b = self.multi.add(ProgressBar::new_spinner());
                if let Ok(s) = ProgressStyle::with_template(
                    "{prefix:>24} {spinner} {pos:>6} {per_sec:>10} {elapsed:>4}",
                ) {
                    b.set_style(s);
                }
                b.enable_steady_tick(Duration::from_millis(120));
                b
            }
        };
        bar.set_prefix(format!("{job}: {name}"));
        if let Ok(mut c) = self.current.lock() {
            *c = Some(bar);
        }
    }

    fn inc(&self, n: u64) {
        if let Ok(c) = self.current.lock() {
            if let Some(b) = c.as_ref() {
                b.inc(n);
            }
        }
    }
}

/// One job as the demo ran it (several runs of a job add up).
struct JobResult {
    job: Job,
    counts: RunCounts,
    outcome: String,
    slices: usize,
    wall: Duration,
}

/// Runs `job` for the tenant to the end through the job driver, its
/// phases on the bars.
async fn run_job(
    driver: &JobDriver,
    bars: &Bars,
    tenant: &SourceTenant,
    job: Job,
) -> anyhow::Result<JobResult> {
    let started = Instant::now();
    bars.set_job(job);
    let driven = driver.run_to_end(tenant, job, bars).await;
    bars.finish();
    let end = match driven.map_err(|e| anyhow::anyhow!("{job} failed: {}", e.describe()))? {
        Driven::Finished(end) => end,
        Driven::Skipped(why) => anyhow::bail!("{job} did not run: {why}"),
    };
    let run = driver
        .engine()
        .store
        .get_run(tenant.tenant_id, end.run_id)
        .await?
        .with_context(|| format!("run {} of {job} was not recorded", end.run_id))?;
    Ok(JobResult {
        job,
        counts: run.counts,
        outcome: run.outcome.as_str().to_string(),
        slices: end.slices,
        wall: started.elapsed(),
    })
}

/// Deletes the demo's own files from an earlier run (nothing else in the
/// directory). Returns whether anything was deleted.
fn clean_dir(dir: &std::path::Path) -> anyhow::Result<bool> {
    let mut any = false;
    for f in [
        DB_FILE,
        SECRETS_FILE,
        REPORT_FILE,
        "guest-sync.db-wal",
        "guest-sync.db-shm",
    ] {
        let p = dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).with_context(|| format!("cannot delete {}", p.display()))?;
            any = true;
        }
    }
    Ok(any)
}

/// One row per job: the counts, slices and wall time of its runs added up,
/// the outcome of its worst run.
fn sum_by_job(results: &[JobResult]) -> Vec<JobResult> {
    let mut out: Vec<JobResult> = Vec::new();
    for r in results {
        match out.iter_mut().find(|o| o.job == r.job) {
            None => out.push(JobResult {
                job: r.job,
                counts: r.counts.clone(),
                outcome: r.outcome.clone(),
                slices: r.slices,
                wall: r.wall,
            }),
            Some(o) => {
                o.counts.add(&r.counts);
                if r.outcome != "succeeded" {
                    o.outcome = r.outcome.clone();
                }
                o.slices += r.slices;
                o.wall += r.wall;
            }
        }
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.users > 0, "--users must be at least 1");
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale >= 1.0,
        "--time-scale must be a number >= 1, not {}",
        args.time_scale
    );
    let total_start = Instant::now();
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create --dir {}", args.dir.display()))?;
    let dir = args.dir.canonicalize().unwrap_or_else(|_| args.dir.clone());
    let db = dir.join(DB_FILE);
    let secrets_path = dir.join(SECRETS_FILE);
    let report_path = dir.join(REPORT_FILE);
    println!(
        "guest-sync demo: {} users, seed {}, simulator at {}x real time",
        args.users, args.seed, args.time_scale
    );
    println!("  directory        {}", dir.display());
    if clean_dir(&dir)? {
        println!("  (deleted the previous demo's store, secrets and report there)");
    }

    // 1. The simulator, the host and the source. The simulator's clock
    // starts `--days` days ago so that the simulated history ends about now.
    let start_wall = Utc::now() - chrono::Duration::days(i64::from(args.days));
    let sim = Sim::start(SimConfig {
        seed: args.seed,
        time_scale: args.time_scale,
        throttling: true,
        latency: LatencyModel {
            base_ms: 30,
            jitter_ms: 20,
        },
        photo_cooldown_secs: PHOTO_COOLDOWN_SECS,
        ..SimConfig::default()
    })
    .await
    .context("cannot start the Graph simulator")?;
    sim.set_start_wall(start_wall);
    let host = Guid::new_v4();
    let host_app = Guid::new_v4();
    let host_secret = format!("demo-host-{}", uuid::Uuid::new_v4().simple());
    sim.add_tenant(host, "Demo Host", "demohost.onmicrosoft.com");
    sim.register_app(
        host,
        host_app,
        &host_secret,
        &["User.Invite.All", "User.ReadWrite.All"],
    );
    let source = Guid::new_v4();
    let source_app = Guid::new_v4();
    let source_secret = format!("demo-source-{}", uuid::Uuid::new_v4().simple());
    sim.add_tenant(source, "Demo Source", "demosource.onmicrosoft.com");
    sim.register_app(
        source,
        source_app,
        &source_secret,
        &crate::devtools::sim::SOURCE_APP_ROLES,
    );
    // --secretless: the deployment's part (the managed identity with the
    // host's roles, the multi-tenant app trusting it) and the source
    // admin's (opening the admin-consent URL).
    let secretless = if args.secretless {
        Some(secretless_setup(&sim, host, source).await?)
    } else {
        None
    };
    let generated = sim.generate_source(
        source,
        &GenerateSpec {
            users: args.users,
            nested_depth: 3,
            photo_share: 0.5,
            disabled_share: 0.05,
            non_ascii_share: 0.1,
            guest_share: 0.02,
            managers: true,
        },
    );
    println!("  simulator        {}", sim.url());
    println!(
        "  source tenant    {source}: {} users in scope, {} source guests (out of scope), {} nested groups",
        generated.user_ids.len(),
        generated.guest_ids.len(),
        generated.nested_group_ids.len()
    );
    println!("  host tenant      {host}");

    // 2. Settings, then the app from them (store, secrets file, Graph
    // client at the simulator's time scale, the simulator's clock).
    let host_secret_name = SecretName::parse("demo-host-app")?;
    let source_secret_name = SecretName::parse("demo-source-app")?;
    let expires = Utc::now() + chrono::Duration::days(365);
    let mut settings = Settings {
        host_tenant_id: host,
        host_client_id: host_app,
        host_secret_name: host_secret_name.clone(),
        keyvault_url: None,
        local_secrets: secrets_path.clone(),
        store: StoreSpec::Sqlite(db.clone()),
        graph_url: sim.url(),
        authority_url: sim.url(),
        invite_redirect_url: "https://myapps.microsoft.com".into(),
        host_group_id: None,
        deprovision: DeprovisionMode::Delete,
        max_deprovisions: MaxDeprovisions::Percent(10.0),
        dry_run: false,
        sync_schedule: crate::settings::DEFAULT_SYNC_SCHEDULE.into(),
        photo_schedule: crate::settings::DEFAULT_PHOTO_SCHEDULE.into(),
        redemption_schedule: crate::settings::DEFAULT_REDEMPTION_SCHEDULE.into(),
        delta_schedule: crate::settings::DEFAULT_DELTA_SCHEDULE.into(),
        full_reconcile_hours: crate::settings::DEFAULT_FULL_RECONCILE_HOURS,
        job_budget_secs: crate::settings::DEFAULT_JOB_BUDGET_SECS,
        retention_days: crate::settings::DEFAULT_RETENTION_DAYS,
        anchor_attribute: crate::settings::parse_anchor(None)?,
        allow_http: true,
        federated_app_id: None,
        host_credential: Default::default(),
        tls_ca_pem: None,
    };
    if let Some(s) = &secretless {
        settings.authority_url = s.https.clone();
        settings.tls_ca_pem = Some(s.ca_pem.clone());
        settings.federated_app_id = Some(s.app);
        settings.host_credential = crate::settings::HostCredential::ManagedIdentity;
    }
    let app = App::open_with_graph(settings, |g| g.with_time_scale(args.time_scale))
        .await?
        .with_clock(Arc::new(SimClock {
            sim: sim.clone(),
            start_wall,
        }));
    if secretless.is_none() {
        app.secrets
            .set(
                &host_secret_name,
                &SecretString::new(host_secret),
                Some(expires),
            )
            .await?;
        app.secrets
            .set(
                &source_secret_name,
                &SecretString::new(source_secret),
                Some(expires),
            )
            .await?;
    }
    app.store
        .put_tenant(&SourceTenant {
            tenant_id: source,
            display_name: "Demo Source".into(),
            client_id: secretless.as_ref().map(|s| s.app).unwrap_or(source_app),
            secret_name: secretless.is_none().then_some(source_secret_name),
            credential: if secretless.is_some() {
                crate::domain::TenantCredential::Secretless
            } else {
                crate::domain::TenantCredential::Secret
            },
            group_id: generated.group_id,
            enabled: true,
            options: TenantOptions {
                photo_cooldown_secs: PHOTO_COOLDOWN_SECS,
                ..TenantOptions::default()
            },
            created_at: start_wall,
            secret_expires_at: secretless.is_none().then_some(expires),
            guard: None,
            cross_tenant: None,
            delta: None,
        })
        .await?;
    let tenant = app
        .store
        .get_tenant(source)
        .await?
        .context("the demo tenant was not registered")?;
    let store = app.store.clone();
    let driver = app.driver();
    let bars = Arc::new(Bars::new(
        !args.quiet && std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
    ));
    println!();

    // Reconcile.
    let mut results = Vec::new();
    results.push(run_job(&driver, &bars, &tenant, Job::Reconcile).await?);

    // Photos after the cool-down: move the simulator's clock (and with it
    // the engine's) past it instead of waiting.
    let guests = store.list_guests(source).await?;
    let newest = guests.iter().map(|g| g.created_at).max();
    let cooled = newest.map(|n| n + chrono::Duration::seconds(PHOTO_COOLDOWN_SECS as i64 + 5));
    let now_sim = SimClock {
        sim: sim.clone(),
        start_wall,
    }
    .now();
    let skip = cooled
        .map(|c| (c - now_sim).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(PHOTO_COOLDOWN_SECS as f64 + 5.0)
        .max(PHOTO_COOLDOWN_SECS as f64 + 5.0);
    sim.advance(skip);
    results.push(run_job(&driver, &bars, &tenant, Job::Photos).await?);

    // Some guests accept their invitations.
    let invited: Vec<Guid> = guests
        .iter()
        .filter(|g| g.state == GuestState::Invited)
        .filter_map(|g| g.host_user_id)
        .collect();
    let redeem_n = ((invited.len() as f64) * REDEEM_SHARE).round() as usize;
    for id in invited.iter().take(redeem_n) {
        sim.redeem(host, *id);
    }
    results.push(run_job(&driver, &bars, &tenant, Job::Redemption).await?);

    // History: each day some users join, some leave (only guests that never
    // redeemed, so every accepted guest stays), some pending invitations are
    // redeemed; then redemption (which marks them accepted) and reconcile
    // (joins and leaves) run.
    let mut redeemed_total = redeem_n;
    let (mut joined, mut left) = (0usize, 0usize);
    let joins = (args.users * DAILY_JOINS_PER_MILLE / 1000).max(1);
    let leaves = (args.users * DAILY_LEAVES_PER_MILLE / 1000).max(1);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(args.seed);
    for day in 1..=args.days {
        sim.advance(86_400.0);
        for n in 0..joins {
            let upn = format!("joiner{day}x{n}@demosource.onmicrosoft.com");
            let id = sim.create_user(
                source,
                crate::devtools::sim::NewUser::simple(&format!("Joiner {day}.{n}"), &upn),
            );
            sim.add_member(source, generated.group_id, id);
            joined += 1;
        }
        let mut pending: Vec<crate::domain::GuestRecord> = store
            .list_guests(source)
            .await?
            .into_iter()
            .filter(|g| g.state == GuestState::Invited && g.host_user_id.is_some())
            .collect();
        rand::seq::SliceRandom::shuffle(pending.as_mut_slice(), &mut rng);
        for g in pending.iter().take(leaves) {
            sim.delete_user(source, g.source_user_id);
            left += 1;
        }
        let rest = &pending[leaves.min(pending.len())..];
        let n = ((rest.len() as f64) * DAILY_REDEEM_SHARE).round() as usize;
        for g in rest.iter().take(n) {
            if let Some(h) = g.host_user_id {
                sim.redeem(host, h);
            }
        }
        redeemed_total += n;
        results.push(run_job(&driver, &bars, &tenant, Job::Redemption).await?);
        results.push(run_job(&driver, &bars, &tenant, Job::Reconcile).await?);
    }
    drop(bars);
    let redeem_n = redeemed_total;

    // 5. Summary.
    let counts = sim.counts();
    let throttled = counts.by_status.get(&429).copied().unwrap_or(0);
    let report_now = SimClock {
        sim: sim.clone(),
        start_wall,
    }
    .now();
    let stats = crate::report::Statistics::load(store.as_ref(), report_now).await?;
    std::fs::write(&report_path, crate::report::render_html(&stats))
        .with_context(|| format!("cannot write {}", report_path.display()))?;

    println!("Jobs");
    println!(
        "  {:<11} {:>9} {:>7} {:>8} {:>7} {:>8} {:>7} {:>6} {:>8}",
        "job", "outcome", "created", "updated", "photos", "redeemed", "failed", "slices", "wall"
    );
    for r in &sum_by_job(&results) {
        let c = &r.counts;
        println!(
            "  {:<11} {:>9} {:>7} {:>8} {:>7} {:>8} {:>7} {:>6} {:>8}",
            r.job.to_string(),
            r.outcome,
            c.created,
            c.updated,
            c.photos_copied,
            c.redeemed,
            c.failed,
            r.slices,
            secs(r.wall)
        );
    }
    println!();
    println!("Graph");
    println!("  requests         {}", counts.total);
    println!("  throttled (429)  {throttled}");
    println!("  redemptions      {redeem_n} simulated");
    println!(
        "  history          {} days: {joined} joined, {left} left",
        args.days
    );
    println!();
    println!("Guests by state");
    print!("{}", crate::report::render_table(&stats));
    println!();
    println!("Where things are");
    println!("  store            sqlite:{}", db.display());
    println!("  secrets          {}", secrets_path.display());
    println!("  dashboard        {}", report_path.display());
    println!(
        "  statistics       guest-sync report --store sqlite:{}",
        db.display()
    );
    println!(
        "  HTML             guest-sync report --store sqlite:{} --html FILE",
        db.display()
    );
    println!();
    println!("Done in {}.", secs(total_start.elapsed()));
    Ok(())
}

/// What `--secretless` set up in the simulator.
struct Secretless {
    /// The simulator's https listener (the authority for the exchange).
    https: url::Url,
    ca_pem: String,
    /// The multi-tenant app (`GUESTSYNC_FEDERATED_APP_ID`).
    app: Guid,
}

/// The managed identity (host roles assigned) and the multi-tenant app
/// trusting it; the identity endpoint as this process's environment (which
/// is where `ManagedIdentityCredential` reads it, as on App Service); the
/// admin-consent URL opened in the source tenant, as its admin would.
async fn secretless_setup(sim: &Sim, host: Guid, source: Guid) -> anyhow::Result<Secretless> {
    let https = sim
        .serve_tls()
        .await
        .context("cannot start the simulator's https listener")?;
    let ca_pem = sim.tls_ca_pem().unwrap_or_default();
    let mi = sim.add_managed_identity(host, &["User.Invite.All", "User.ReadWrite.All"]);
    let app = sim.add_federated_app(host, Some(mi.principal_id));
    // Before any credential exists; nothing else reads the environment
    // concurrently at this point of the demo.
    std::env::set_var("IDENTITY_ENDPOINT", sim.identity_endpoint());
    std::env::set_var("IDENTITY_HEADER", sim.identity_header());
    std::env::set_var("AZURE_CLIENT_ID", mi.client_id.to_string());
    let consent = format!(
        "{}/{source}/v2.0/adminconsent?client_id={app}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        https.as_str().trim_end_matches('/')
    );
    let answer = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(ca_pem.as_bytes()).context("the simulator's CA")?
        ])
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(consent.clone())
        .send()
        .await
        .context("cannot open the admin-consent URL")?;
    anyhow::ensure!(
        answer.status().is_success() && sim.has_consented(source, app),
        "the admin-consent URL answered {}",
        answer.status()
    );
    println!("  secretless       no secret anywhere: managed identity {} (host roles), multi-tenant app {app}", mi.client_id);
    println!("  admin consent    {consent}");
    Ok(Secretless { https, ca_pem, app })
}
