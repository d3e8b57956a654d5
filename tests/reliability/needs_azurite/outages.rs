//! Outages: the services the handler depends on go away mid-run and come
//! back. Each scenario runs two source tenants of a few hundred users
//! through the host harness (timers, real Azurite queues, redelivery of
//! non-2xx answers, poison queue) and checks what the issue asks for:
//! invocations fail *transiently* while a dependency is away (non-2xx,
//! the cause named, no secret in any message), nothing is half-written,
//! and once it is back the state converges: every in-scope source user is
//! exactly one guest, every guest record has its host user, every run
//! record is terminal, no lease is left held.
//!
//! 1. The Table store (a persistent Azurite of its own, apart from the
//!    harness's queues) is stopped mid-reconcile and restarted on the same
//!    ports with the same data.
//! 2. Key Vault (the fake vault, behind a gate that refuses connections
//!    and cuts open ones) is unreachable for a while.
//! 3. Graph answers 5xx, drops connections and answers past the client's
//!    timeout, in bursts, with quiet spells between.
//!
//! The harness's visibility timeout is chosen so that a message's five
//! deliveries span more than the outage, as host.json's (60 s × 5 spans
//! four minutes) does for outages of minutes. A work item that is parked
//! anyway is a failed run; the next timer tick runs the tenant again
//! (counted as `ticks`).
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use guest_sync::app::App;
use guest_sync::devtools::azurite::Azurite;
use guest_sync::devtools::sim::{Faults, GenerateSpec, LatencyModel, SimConfig};
use guest_sync::domain::{Job, RunOutcome, SecretName, TenantOptions};
use guest_sync::graph::{GraphClient, GraphConfig};
use guest_sync::orchestration::function_set;
use guest_sync::secrets::keyvault::{KeyVaultOptions, KeyVaultSource};
use guest_sync::secrets::SecretSource;
use tokio::net::{TcpListener, TcpStream};

use crate::orchestration::harness::Host;
use crate::reliability::{record, size};
use crate::secrets::fake_vault::FakeVault;
use crate::secrets::EnvGuard;
use crate::support::world::{Source, SourceSpec, World, HOST_APP_SECRET, HOST_SECRET_NAME};

/// Source tenants: two of a few hundred users.
const TENANTS: [(&str, usize); 2] = [("Alpha", 300), ("Beta", 200)];

fn spec(users: usize) -> GenerateSpec {
    GenerateSpec {
        users,
        nested_depth: 2,
        photo_share: 0.0,
        disabled_share: 0.05,
        non_ascii_share: 0.1,
        guest_share: 0.0,
        managers: false,
    }
}

async fn add_sources(w: &World) -> Vec<Source> {
    let mut out = Vec::new();
    for (name, users) in TENANTS {
        let s = SourceSpec::new(name)
            .generate(spec(users))
            .options(TenantOptions {
                photo_cooldown_secs: 0,
                ..TenantOptions::default()
            });
        out.push(w.add_source(s).await);
    }
    out
}

/// Graph latency that makes a reconcile of [`TENANTS`] last seconds, so
/// that an outage can land in the middle of it.
fn slow_sim() -> SimConfig {
    SimConfig {
        latency: LatencyModel {
            base_ms: 20_000,
            jitter_ms: 10_000,
        },
        ..SimConfig::fast()
    }
}

/// What the harness saw, and what the checks found.
#[derive(Debug, Default)]
struct Figures {
    invocations: u64,
    non_2xx: u64,
    redeliveries: u64,
    poisoned: u64,
    ticks: u32,
    outage: Duration,
    converge: Duration,
    violations: Vec<String>,
}

impl Figures {
    fn row(&self, scenario: &str) -> String {
        format!(
            "| {scenario} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {} |",
            self.outage.as_secs_f64(),
            self.invocations,
            self.non_2xx,
            self.redeliveries,
            self.poisoned,
            self.ticks,
            self.converge.as_secs_f64(),
            self.violations.len()
        )
    }
}

const HEADER: &str = "| scenario | outage (s) | invocations | non-2xx | redeliveries | parked | timer ticks | converged after (s) | violations |\n|---|---|---|---|---|---|---|---|---|";

/// Keeps the figures of the scenarios that ran, and records them all.
fn keep(scenario: &str, f: &Figures, note: &str) {
    static ROWS: std::sync::Mutex<Vec<(String, String, String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut rows = ROWS.lock().unwrap();
    rows.retain(|(s, _, _)| s != scenario);
    rows.push((scenario.to_string(), f.row(scenario), note.to_string()));
    rows.sort();
    let table: Vec<&str> = rows.iter().map(|(_, r, _)| r.as_str()).collect();
    let notes: Vec<String> = rows.iter().map(|(s, _, n)| format!("- {s}: {n}")).collect();
    let users: usize = TENANTS.iter().map(|(_, n)| n).sum();
    record(
        "outages",
        &format!(
            "Two source tenants ({users} users) through the host harness; a dependency goes away mid-run and comes back.\n\n{HEADER}\n{}\n\n{}",
            table.join("\n"),
            notes.join("\n")
        ),
    );
}

/// Everything that must hold once the state has converged; one line per
/// violation.
async fn violations(w: &World, sources: &[Source]) -> Vec<String> {
    let mut bad = Vec::new();
    for s in sources {
        let name = &s.tenant.display_name;
        let tid = s.tenant.tenant_id;
        // Every in-scope source user is exactly one host guest.
        let guests = w.host_guests_of(s);
        let mut mails: Vec<String> = guests
            .iter()
            .filter_map(|g| g.str("mail").map(str::to_lowercase))
            .collect();
        mails.sort();
        let total = mails.len();
        mails.dedup();
        if total != mails.len() {
            bad.push(format!("{name}: {} duplicate guests", total - mails.len()));
        }
        for u in &s.generated.user_ids {
            let mail = w
                .sim
                .user(tid, *u)
                .and_then(|su| su.str("mail").map(str::to_lowercase))
                .unwrap_or_default();
            if mails.binary_search(&mail).is_err() {
                bad.push(format!("{name}: source user {u} has no guest"));
            }
        }
        if guests.len() > s.generated.user_ids.len() {
            bad.push(format!(
                "{name}: {} guests for {} in-scope users",
                guests.len(),
                s.generated.user_ids.len()
            ));
        }
        // Every guest record has its host user, and that user exists.
        let records = w.store.list_guests(tid).await.unwrap();
        if records.len() != s.generated.user_ids.len() {
            bad.push(format!(
                "{name}: {} guest records for {} in-scope users",
                records.len(),
                s.generated.user_ids.len()
            ));
        }
        for r in &records {
            match r.host_user_id {
                None => bad.push(format!(
                    "{name}: record of {} is {:?} without a host user",
                    r.source_user_id, r.state
                )),
                Some(h) if w.sim.user(w.host, h).is_none() => bad.push(format!(
                    "{name}: record of {} names host user {h}, which does not exist",
                    r.source_user_id
                )),
                Some(_) => {}
            }
        }
        // Every run record is terminal; no lease is left held.
        for r in w.store.list_runs(Some(tid), 100).await.unwrap() {
            if !r.is_finished() {
                bad.push(format!(
                    "{name}: run {} of {} is not terminal ({}; error {:?})",
                    r.run_id,
                    r.job,
                    r.outcome.as_str(),
                    r.error
                ));
            }
        }
        if let Some(l) = w.store.current_lease(tid, Job::Reconcile).await.unwrap() {
            bad.push(format!("{name}: lease still held by {}", l.holder));
        }
    }
    // Nothing was deleted: every user is in scope throughout.
    let deleted = w.sim.deleted_users(w.host).len();
    if deleted > 0 {
        bad.push(format!("{deleted} host users were deleted"));
    }
    bad
}

/// Whether every tenant's latest reconcile run finished successfully.
async fn converged(w: &World, sources: &[Source]) -> bool {
    for s in sources {
        let runs = w
            .store
            .list_runs(Some(s.tenant.tenant_id), 100)
            .await
            .unwrap();
        let ok = runs
            .iter()
            .filter(|r| r.job == Job::Reconcile)
            .max_by_key(|r| r.started_at)
            .is_some_and(|r| r.outcome == RunOutcome::Succeeded);
        if !ok {
            return false;
        }
    }
    true
}

/// Runs the harness until its queues are idle; then, while the tenants
/// have not converged (a parked item, a run left unfinished), fires the
/// next timer tick, at most `max_ticks` in all. Returns the ticks fired.
async fn drain_and_tick(host: &Host, w: &World, sources: &[Source], max_ticks: u32) -> u32 {
    let mut ticks = 1;
    loop {
        assert!(
            host.run_until_idle(Duration::from_secs(240)).await,
            "queues did not drain"
        );
        if ticks >= max_ticks || converged(w, sources).await {
            return ticks;
        }
        ticks += 1;
        host.fire_timer("sync-timer").await;
    }
}

fn figures(host: &Host) -> Figures {
    let t = &host.tally;
    Figures {
        invocations: t.deliveries.load(Ordering::SeqCst)
            + t.poison_deliveries.load(Ordering::SeqCst),
        non_2xx: t.non_2xx.load(Ordering::SeqCst),
        redeliveries: t.redeliveries.load(Ordering::SeqCst),
        poisoned: t.poisoned.load(Ordering::SeqCst),
        ..Figures::default()
    }
}

/// The error messages of the non-2xx answers.
fn errors(host: &Host) -> Vec<String> {
    host.tally
        .errors
        .lock()
        .unwrap()
        .iter()
        .map(|b| match b["error"].as_str() {
            Some(e) => e.to_string(),
            None => b.to_string(),
        })
        .collect()
}

/// Waits until `n` host guests exist (the run is under way).
async fn wait_for_guests(w: &World, n: usize) -> usize {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(180) {
        let have = w.sim.users(w.host).len();
        if have >= n {
            return have;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("fewer than {n} host users after 180 s: the run did not start");
}

fn total_users() -> usize {
    TENANTS.iter().map(|(_, n)| n).sum()
}

/// Scenario 1: the Table store's Azurite is stopped mid-reconcile and
/// restarted (same ports, same data) some seconds later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_store_going_away_mid_reconcile_is_transient_and_converges() {
    let outage = Duration::from_secs(size(6, 15) as u64);
    let store_az = Azurite::start_persistent().unwrap_or_else(|e| panic!("{e}"));
    let w = World::builder()
        .sim(slow_sim())
        .budget_secs(60)
        .graph_retries(3)
        .setting("GUESTSYNC_STORE", &store_az.connection_string)
        .build()
        .await;
    let sources = add_sources(&w).await;
    let mut host = Host::start(function_set(w.app())).await;
    host.visibility_secs = outage.as_secs() as u32 / 2 + 1;
    let host = Arc::new(host);

    assert_eq!(host.fire_timer("sync-timer").await, 2);
    let runner = {
        let host = host.clone();
        tokio::spawn(async move { host.run_until_idle(Duration::from_secs(240)).await })
    };
    let at_stop = wait_for_guests(&w, total_users() / 4).await;
    let mut store_az = tokio::task::spawn_blocking(move || {
        let mut a = store_az;
        a.stop();
        a
    })
    .await
    .unwrap();
    let stopped = Instant::now();
    assert!(
        at_stop < total_users(),
        "the outage must land mid-reconcile ({at_stop} guests at the stop)"
    );
    tokio::time::sleep(outage).await;
    let store_az = tokio::task::spawn_blocking(move || {
        store_az.restart().unwrap();
        store_az
    })
    .await
    .unwrap();
    let back = Instant::now();
    assert!(runner.await.unwrap(), "queues did not drain");
    let ticks = drain_and_tick(&host, &w, &sources, 3).await;

    let mut f = figures(&host);
    f.ticks = ticks;
    f.outage = back - stopped;
    f.converge = back.elapsed();
    f.violations = violations(&w, &sources).await;
    keep(
        "1. Table store stopped mid-reconcile",
        &f,
        &format!("Azurite (tables) stopped with {at_stop} of {} guests invited, restarted on the same ports with its data.", total_users()),
    );

    assert!(f.violations.is_empty(), "{:#?}", f.violations);
    // The invocations the outage hit failed transiently, naming the store
    // (those in flight answer once their store retries are spent).
    assert!(f.non_2xx > 0, "no invocation failed");
    let errs = errors(&host);
    assert!(
        errs.iter().all(|e| e.contains("store")),
        "a non-2xx answer that does not name the store: {errs:?}"
    );
    assert!(f.redeliveries > 0);
    assert!(f.violations.is_empty(), "{:#?}", f.violations);
    drop(store_az);
}

/// A TCP forwarder on a fixed loopback port that can be shut (new
/// connections refused, open ones cut) and opened again on the same port:
/// the vault's network path going away.
struct Gate {
    port: u16,
    target: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Gate {
    async fn open(target: SocketAddr) -> Gate {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let mut g = Gate {
            port,
            target,
            task: None,
        };
        g.serve(l);
        g
    }

    fn serve(&mut self, l: TcpListener) {
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            // Dropped with this task: every forwarded connection ends too.
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    Ok((mut inbound, _)) = l.accept() => {
                        conns.spawn(async move {
                            if let Ok(mut out) = TcpStream::connect(target).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            }
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        }));
    }

    /// Refuses connections and cuts the open ones.
    async fn shut(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Accepts again, on the same port.
    async fn reopen(&mut self) {
        for _ in 0..50 {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", self.port)).await {
                self.serve(l);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("port {} could not be bound again", self.port);
    }
}

/// Scenario 2: Key Vault is unreachable for a while (the host secret and
/// the source secrets are read from it, with no cache, so every slice
/// needs it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_key_vault_is_transient_and_converges() {
    let outage = Duration::from_secs(size(4, 12) as u64);
    let w = World::builder()
        .sim(slow_sim())
        // Short slices, so that continuations need the vault mid-run.
        .budget_secs(1)
        .graph_retries(3)
        .build()
        .await;
    let sources = add_sources(&w).await;

    let vault = FakeVault::start().await;
    let mut secrets = vec![(HOST_SECRET_NAME.to_string(), HOST_APP_SECRET.to_string())];
    for (name, _) in TENANTS {
        secrets.push((
            format!("{}-app", name.to_lowercase()),
            World::source_secret(name),
        ));
    }
    for (n, v) in &secrets {
        vault.put(n, v, true, None);
    }
    let vault_addr = SocketAddr::from((
        [127, 0, 0, 1],
        vault.vault_url.port().expect("the fake vault's port"),
    ));
    let mut gate = Gate::open(vault_addr).await;
    let _env = EnvGuard::set(&[
        ("IDENTITY_ENDPOINT", Some(&vault.identity_endpoint)),
        ("IDENTITY_HEADER", Some(&vault.identity_header)),
        ("AZURE_CLIENT_ID", None),
        ("IDENTITY_SERVER_THUMBPRINT", None),
        ("IMDS_ENDPOINT", None),
        ("MSI_ENDPOINT", None),
    ])
    .await;
    // The vault reached through the gate (the URL's port is the one used).
    let mut gated_url = vault.vault_url.clone();
    gated_url.set_port(Some(gate.port)).unwrap();
    let kv: Arc<dyn SecretSource> = Arc::new(
        KeyVaultSource::from_env_with_options(
            &gated_url,
            KeyVaultOptions {
                client_options: vault.client_options_to_port(gate.port),
                cache_ttl: Duration::ZERO,
                verify_challenge_resource: true,
            },
        )
        .unwrap(),
    );
    // The vault is reachable and holds every secret.
    let probe = SecretName::parse(HOST_SECRET_NAME).unwrap();
    assert_eq!(
        kv.get(&probe).await.unwrap().value.expose(),
        HOST_APP_SECRET
    );
    let app = App::from_parts(w.settings.clone(), w.store.clone(), kv, w.graph.clone())
        .with_clock(w.clock.clone());
    let mut host = Host::start(function_set(Arc::new(app))).await;
    host.visibility_secs = outage.as_secs() as u32 / 2 + 1;
    let host = Arc::new(host);

    // Outage 1, from the start: the first deliveries need the secrets and
    // fail; the vault stays away for `outage` and at least until an
    // invocation has failed on it (a loaded machine delays deliveries).
    gate.shut().await;
    let stopped = Instant::now();
    assert_eq!(host.fire_timer("sync-timer").await, 2);
    let runner = {
        let host = host.clone();
        tokio::spawn(async move { host.run_until_idle(Duration::from_secs(300)).await })
    };
    let non_2xx_during = loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = host.tally.non_2xx.load(Ordering::SeqCst);
        if (n > 0 && stopped.elapsed() >= outage) || stopped.elapsed() > Duration::from_secs(120) {
            break n;
        }
    };
    gate.reopen().await;
    let mut away = stopped.elapsed();
    // Outage 2, mid-run at the first guest: the slices in flight hold
    // their token, continuations need the vault again. On a loaded machine
    // a slice can outlast this outage, so it is not counted on to fail.
    let at_stop = wait_for_guests(&w, 1).await;
    gate.shut().await;
    let stopped = Instant::now();
    tokio::time::sleep(outage).await;
    gate.reopen().await;
    away += stopped.elapsed();
    let back = Instant::now();
    assert!(runner.await.unwrap(), "queues did not drain");
    let ticks = drain_and_tick(&host, &w, &sources, 3).await;

    let mut f = figures(&host);
    f.ticks = ticks;
    f.outage = away;
    f.converge = back.elapsed();
    f.violations = violations(&w, &sources).await;
    keep(
        "2. Key Vault unreachable",
        &f,
        &format!("the vault's port refused connections twice: from the start of the run, then again from {at_stop} of {} guests on (1 s slices, no secret cache); the outage column is both together.", total_users()),
    );

    assert!(
        non_2xx_during > 0,
        "no invocation failed in the {away:?} the vault was away from the start"
    );
    let errs = errors(&host);
    assert!(
        errs.iter().all(|e| e.contains("Key Vault")
            && e.contains(&gate.port.to_string())
            && e.contains("unreachable")),
        "a non-2xx answer that does not name the vault: {errs:?}"
    );
    // No secret in any message: answers, logs, run records.
    let logs = host.tally.logs.lock().unwrap().clone();
    let mut texts: Vec<String> = errs.into_iter().chain(logs).collect();
    for s in &sources {
        for r in w
            .store
            .list_runs(Some(s.tenant.tenant_id), 100)
            .await
            .unwrap()
        {
            texts.extend(r.error);
        }
    }
    for (name, value) in &secrets {
        assert!(
            !texts.iter().any(|t| t.contains(value.as_str())),
            "the secret {name} appears in a message"
        );
    }
    assert!(f.violations.is_empty(), "{:#?}", f.violations);
}

/// Scenario 3: Graph faults in bursts (5xx, dropped connections, answers
/// slower than the client's timeout), quiet between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_fault_bursts_converge_without_duplicates_or_half_written_records() {
    let bursts = size(3, 8);
    let w = World::builder()
        .sim(slow_sim())
        .budget_secs(60)
        .graph_retries(3)
        .build()
        .await;
    let sources = add_sources(&w).await;
    // The app's client with a short request timeout, so that slow answers
    // time out (the production client waits 60 s).
    let timeout = Duration::from_millis(500);
    let mut cfg =
        GraphConfig::from_settings(&w.settings).with_time_scale(w.sim.config().time_scale);
    cfg.max_retries = 3;
    cfg.request_timeout = timeout;
    let graph = GraphClient::new(cfg).unwrap();
    let app = App::from_parts(
        w.settings.clone(),
        w.store.clone(),
        w.secrets.clone(),
        graph,
    )
    .with_clock(w.clock.clone());
    let mut host = Host::start(function_set(Arc::new(app))).await;
    host.visibility_secs = 2;
    let host = Arc::new(host);
    let scale = w.sim.config().time_scale;
    let faults = Faults {
        error_5xx_rate: 0.3,
        drop_rate: 0.1,
        slow_rate: 0.1,
        // Unscaled: twice the client's timeout in real time.
        slow_ms: (2.0 * timeout.as_secs_f64() * 1000.0 * scale) as u64,
    };

    let started = Instant::now();
    assert_eq!(host.fire_timer("sync-timer").await, 2);
    let runner = {
        let host = host.clone();
        tokio::spawn(async move { host.run_until_idle(Duration::from_secs(240)).await })
    };
    let mut faulted = Duration::ZERO;
    for _ in 0..bursts {
        tokio::time::sleep(Duration::from_millis(700)).await;
        w.sim.set_faults(faults.clone());
        let on = Instant::now();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        w.sim.set_faults(Faults::default());
        faulted += on.elapsed();
    }
    assert!(runner.await.unwrap(), "queues did not drain");
    let ticks = drain_and_tick(&host, &w, &sources, 3).await;

    let counts = w.sim.counts();
    let mut f = figures(&host);
    f.ticks = ticks;
    f.outage = faulted;
    f.converge = started.elapsed();
    f.violations = violations(&w, &sources).await;
    keep(
        "3. Graph fault bursts",
        &f,
        &format!(
            "{bursts} bursts of 1.5 s (30 % 5xx, 10 % dropped, 10 % slower than the {} ms client timeout), 0.7 s quiet between; the simulator dropped {} connections; convergence counted from the first timer.",
            timeout.as_millis(),
            counts.dropped
        ),
    );
    assert!(counts.dropped > 0, "no connection was dropped");
    assert!(f.violations.is_empty(), "{:#?}", f.violations);
    // Graph's faults are transient: no run failed for good.
    for s in &sources {
        for r in w
            .store
            .list_runs(Some(s.tenant.tenant_id), 100)
            .await
            .unwrap()
        {
            assert_ne!(r.outcome, RunOutcome::Failed, "{:?}", r.error);
        }
    }
}
