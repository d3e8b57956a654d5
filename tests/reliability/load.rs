//! Load: many concurrent invocations against ONE real `handler` process
//! (the binary, spawned as the Functions host spawns it, over the World's
//! Graph simulator and SQLite store).
//!
//! Each wave fires [`CONCURRENCY`] invocations at once: the three timers,
//! `tenant-worker` queue items for the registered tenants (several runs of
//! the same tenant and job, so the job lease is contended; duplicate
//! deliveries of one run; the previous wave's timer outputs, as the host
//! would enqueue them) and `report` GETs (HTML and JSON). Afterwards:
//! every request got an HTTP answer with the status and body shape the
//! protocol promises, every queue item either ran (its run record is in
//! the store, finished) or was skipped with a reason, no run ran twice, the
//! handler still answers the readiness probe and a report, and the process
//! is alive (and stops cleanly on SIGTERM).
//!
//! Figures: wall time, client-side latency percentiles (report, worker,
//! timers), the handler's peak memory (VmHWM) and its RSS after.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use guest_sync::devtools::sim::GenerateSpec;
use guest_sync::domain::{GuestState, Guid, Job, RunOutcome};
use guest_sync::report::SCHEMA_VERSION;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::protocol::binary::Spawned;
use crate::support::world::{SourceSpec, World};

/// Invocations in flight at once (one wave).
const CONCURRENCY: usize = 200;
/// A request without an answer after this long counts as dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// Source tenants registered in the world.
const TENANTS: usize = 3;
/// Per wave: timers of each of the three kinds, and report GETs.
const TIMERS_PER_KIND: usize = 6;
const REPORTS: usize = 60;
/// Deliveries of the one duplicated run of each tenant, per wave.
const DUPLICATES: usize = 8;

const TIMERS: [(&str, Job); 3] = [
    ("sync-timer", Job::Reconcile),
    ("photo-timer", Job::Photos),
    ("redemption-timer", Job::Redemption),
];

/// One invocation the "host" sends.
#[derive(Debug, Clone)]
enum Call {
    Timer {
        function: &'static str,
        job: Job,
    },
    Work {
        item: Value,
        dequeue_count: u32,
    },
    Report {
        html: bool,
        /// `?format=` rather than the `Accept` header.
        by_query: bool,
    },
}

impl Call {
    fn function(&self) -> &'static str {
        match self {
            Call::Timer { function, .. } => function,
            Call::Work { .. } => "tenant-worker",
            Call::Report { .. } => "report",
        }
    }

    /// The envelope the Functions host POSTs (`docs/protocol.md`).
    fn envelope(&self) -> Value {
        let now = chrono::Utc::now().to_rfc3339();
        match self {
            Call::Timer { function, .. } => json!({
                "Data": {"timer": {"Schedule": {"AdjustForDST": true},
                    "ScheduleStatus": {"Last": "0001-01-01T00:00:00",
                        "Next": "2026-11-23T14:45:51+00:00",
                        "LastUpdated": "2026-11-23T14:43:50.403838+00:00"},
                    "IsPastDue": false}},
                "Metadata": {"sys": {"MethodName": function, "UtcNow": now,
                    "RandGuid": uuid::Uuid::new_v4().to_string()}}
            }),
            Call::Work {
                item,
                dequeue_count,
            } => {
                let text = item.to_string();
                // The host sends both encodings; alternate them, and the
                // dequeue count as a number or a string.
                let (data, count) = if dequeue_count % 2 == 1 {
                    (
                        Value::String(Value::String(text).to_string()),
                        json!(dequeue_count),
                    )
                } else {
                    (Value::String(text), json!(dequeue_count.to_string()))
                };
                let mut meta = json!({
                    "DequeueCount": count,
                    "Id": format!("\"{}\"", uuid::Uuid::new_v4()),
                    "PopReceipt": "\"AgAAAAMAAAAAAAAA\"",
                    "InsertionTime": now,
                    "ExpirationTime": now,
                    "NextVisibleTime": now,
                    "sys": {"MethodName": "tenant-worker", "UtcNow": now}
                });
                // The host merges the message's own fields into metadata.
                for (k, v) in item.as_object().unwrap() {
                    meta[k] = v.clone();
                }
                json!({"Data": {"workItem": data}, "Metadata": meta})
            }
            Call::Report { html, by_query } => {
                let format = if *html { "html" } else { "json" };
                let (query, headers) = if *by_query {
                    (json!({ "format": format }), json!({}))
                } else if *html {
                    (
                        json!({}),
                        json!({"Accept": ["text/html,application/xhtml+xml,*/*;q=0.8"]}),
                    )
                } else {
                    (json!({}), json!({"Accept": ["application/json"]}))
                };
                json!({"Data": {"req": {
                    "Url": "https://app.example/api/report", "Method": "GET",
                    "Query": query, "Headers": headers, "Params": {}, "Identities": []}},
                    "Metadata": {}})
            }
        }
    }
}

/// The answer to one invocation (any HTTP answer; a connection error,
/// reset or timeout is an `Err`).
struct Answer {
    call: Call,
    status: u16,
    body: Value,
    latency: Duration,
}

async fn invoke(client: &reqwest::Client, base: &str, call: Call) -> Result<Answer, String> {
    let function = call.function();
    let envelope = call.envelope().to_string();
    let started = Instant::now();
    let res = client
        .post(format!("{base}/{function}"))
        .header(
            "X-Azure-Functions-InvocationId",
            uuid::Uuid::new_v4().to_string(),
        )
        .header("Content-Type", "application/json")
        .body(envelope)
        .send()
        .await
        .map_err(|e| format!("{function}: no answer: {e:?}"))?;
    let status = res.status().as_u16();
    let text = res
        .text()
        .await
        .map_err(|e| format!("{function}: answer cut off: {e:?}"))?;
    let latency = started.elapsed();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer {
        call,
        status,
        body,
        latency,
    })
}

/// Fires `calls` all at once (each on its own task) and waits for every
/// answer.
async fn storm(
    client: &reqwest::Client,
    base: &str,
    calls: Vec<Call>,
) -> Vec<Result<Answer, String>> {
    let start = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|call| {
            let (client, base, start) = (client.clone(), base.to_string(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                invoke(&client, &base, call).await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn work_item(job: Job, tenant: Guid, run_id: uuid::Uuid) -> Value {
    json!({
        "job": job.as_str(),
        "sourceTenantId": tenant.to_string(),
        "runId": run_id.to_string(),
        "cursor": null,
        "enqueuedAt": chrono::Utc::now().to_rfc3339(),
    })
}

/// One wave of `n` invocations: timers, reports, the previous wave's timer
/// outputs, then fresh work items (distinct runs per tenant and job, and
/// one run per tenant delivered [`DUPLICATES`] times), shuffled.
fn wave(
    n: usize,
    tenants: &[Guid],
    pending: &mut Vec<Value>,
    rng: &mut impl rand::Rng,
) -> Vec<Call> {
    let mut calls = Vec::with_capacity(n);
    for (function, job) in TIMERS {
        for _ in 0..TIMERS_PER_KIND {
            calls.push(Call::Timer { function, job });
        }
    }
    for i in 0..REPORTS {
        calls.push(Call::Report {
            html: i % 2 == 0,
            by_query: i % 4 < 2,
        });
    }
    let take = pending.len().min(n.saturating_sub(calls.len()) / 2);
    for item in pending.drain(..take) {
        calls.push(Call::Work {
            item,
            dequeue_count: 1,
        });
    }
    // One duplicated run per tenant, of each job in turn.
    for (t, &tenant) in tenants.iter().enumerate() {
        let job = Job::ALL[t % Job::ALL.len()];
        let dup = work_item(job, tenant, uuid::Uuid::new_v4());
        for d in 0..DUPLICATES {
            if calls.len() >= n {
                break;
            }
            // As redeliveries: rising dequeue counts.
            calls.push(Call::Work {
                item: dup.clone(),
                dequeue_count: d as u32 + 1,
            });
        }
    }
    let pairs: Vec<(Guid, Job)> = tenants
        .iter()
        .flat_map(|&t| Job::ALL.into_iter().map(move |j| (t, j)))
        .collect();
    let mut i = 0;
    while calls.len() < n {
        let (tenant, job) = pairs[i % pairs.len()];
        calls.push(Call::Work {
            item: work_item(job, tenant, uuid::Uuid::new_v4()),
            dequeue_count: 1,
        });
        i += 1;
    }
    calls.shuffle(rng);
    calls
}

/// `VmHWM`/`VmRSS`/... of a process, in KiB.
fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The `p` quantile (0..=1, nearest rank) of `samples`, in ms.
fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort();
    let rank = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1].as_secs_f64() * 1000.0
}

fn logs(body: &Value) -> Vec<String> {
    body["Logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// What a `tenant-worker` answer says happened to its item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fate {
    Ran,
    /// The tenant's job lease was held (by another run, or a live
    /// delivery of the same run).
    SkippedLeaseHeld,
    /// The run had already finished: a duplicate delivery.
    SkippedDuplicate,
}

/// Checks a `tenant-worker` answer: 200 (no transient failure is expected:
/// no Graph fault, one store connection in this process), the item either
/// ran (no continuation: the budget is far away) or was skipped naming why.
fn worker_fate(status: u16, body: &Value) -> Fate {
    assert_eq!(status, 200, "tenant-worker answered {status}: {body}");
    let lines = logs(body);
    let items = body["Outputs"]["workItems"].as_array().map_or(0, Vec::len);
    assert_eq!(items, 0, "unexpected continuation: {body}");
    if lines
        .iter()
        .any(|l| l.contains("already running elsewhere; this work item was not run"))
    {
        Fate::SkippedLeaseHeld
    } else if lines
        .iter()
        .any(|l| l.contains("already finished") && l.contains("duplicate delivery ignored"))
    {
        Fate::SkippedDuplicate
    } else {
        assert!(
            lines.iter().all(|l| !l.contains("skipped")),
            "neither ran nor a known skip: {body}"
        );
        Fate::Ran
    }
}

/// Checks a timer answer: 200, `Outputs.workItems` are work items of the
/// timer's job for registered tenants, and every enabled tenant got an
/// item or a logged skip (its job lease held). Returns the items.
fn timer_items(job: Job, status: u16, body: &Value, tenants: &[Guid]) -> Vec<Value> {
    assert_eq!(status, 200, "{job} timer answered {status}: {body}");
    let items = body["Outputs"]["workItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut covered = BTreeSet::new();
    for i in &items {
        assert!(i.is_object(), "queue output not an object: {i}");
        assert_eq!(i["job"], job.as_str(), "{i}");
        assert!(i["cursor"].is_null(), "{i}");
        let tid: Guid = i["sourceTenantId"].as_str().unwrap().parse().unwrap();
        assert!(
            tenants.contains(&tid),
            "work item for an unknown tenant: {i}"
        );
        assert!(covered.insert(tid), "two items for one tenant: {body}");
        uuid::Uuid::parse_str(i["runId"].as_str().unwrap()).unwrap();
    }
    let lines = logs(body);
    for l in lines
        .iter()
        .filter(|l| l.contains("skipped, already running"))
    {
        let tid = tenants
            .iter()
            .find(|t| l.contains(&t.to_string()))
            .unwrap_or_else(|| panic!("skip of an unknown tenant: {l}"));
        assert!(
            covered.insert(*tid),
            "tenant both enqueued and skipped: {body}"
        );
    }
    assert_eq!(
        covered.len(),
        tenants.len(),
        "a tenant neither enqueued nor skipped: {body}"
    );
    let summary = format!("{} {job} work item(s) enqueued", items.len());
    assert!(lines.iter().any(|l| l == &summary), "{body}");
    items
}

/// Checks a report answer: 200 to the host, `res` 200 with the asked
/// representation: the dashboard page, or the statistics JSON.
fn check_report(html: bool, status: u16, body: &Value, tenants: usize) {
    assert_eq!(status, 200, "report answered {status}: {body}");
    let res = &body["Outputs"]["res"];
    assert_eq!(res["statusCode"], 200, "{res}");
    let ct = res["headers"]["Content-Type"].as_str().unwrap_or_default();
    let text = res["body"].as_str().unwrap_or_default();
    if html {
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(text.starts_with("<!DOCTYPE html>"), "not the dashboard");
        assert!(text.trim_end().ends_with("</html>"), "page cut off");
    } else {
        assert_eq!(ct, "application/json");
        let stats: Value = serde_json::from_str(text).unwrap();
        assert_eq!(stats["schemaVersion"], SCHEMA_VERSION, "{stats}");
        assert_eq!(stats["totals"]["tenants"], tenants as u64, "{stats}");
        assert_eq!(stats["tenants"].as_array().unwrap().len(), tenants);
    }
}

/// A work item delivered, and what its answer said.
struct Delivered {
    tenant: Guid,
    job: Job,
    run_id: uuid::Uuid,
    fate: Fate,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_invocations_against_one_handler() {
    let total = crate::reliability::size(200, 1000);
    let users = crate::reliability::size(100, 150);
    let world = World::builder().build().await;
    let mut tenants = Vec::new();
    let mut in_scope = 0;
    for name in ["Alpha", "Bravo", "Charlie"].into_iter().take(TENANTS) {
        let s = world
            .add_source(SourceSpec::new(name).generate(GenerateSpec {
                users,
                ..GenerateSpec::default()
            }))
            .await;
        in_scope += s.generated.user_ids.len();
        tenants.push(s.tenant.tenant_id);
    }

    let env: Vec<(&str, &str)> = world
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let handler = Spawned::start_with(
        Path::new(env!("CARGO_BIN_EXE_handler")),
        "warn,handler=info",
        &env,
    )
    .await;
    let pid = handler.child.id().unwrap();
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let ready = client
        .get(format!("{}/", handler.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let rss_idle = proc_kib(pid, "VmRSS").unwrap();
    let mut rss_per_wave = Vec::new();

    // Peak RSS as sampled while the storm runs (VmHWM is the kernel's).
    let sampling = Arc::new(AtomicBool::new(true));
    let peak_sampled = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let (sampling, peak) = (sampling.clone(), peak_sampled.clone());
        async move {
            while sampling.load(Ordering::SeqCst) {
                if let Some(rss) = proc_kib(pid, "VmRSS") {
                    peak.fetch_max(rss, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });

    let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
    let mut pending: Vec<Value> = Vec::new();
    let mut delivered: Vec<Delivered> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut latencies: BTreeMap<&'static str, Vec<Duration>> = BTreeMap::new();
    let mut per_function: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut timer_emitted = BTreeMap::<Job, usize>::new();
    let mut waves = 0;
    let mut invocations = 0;
    let started = Instant::now();
    let mut remaining = total;
    // The waves of the run, then one last wave delivering the timer
    // outputs still pending (as the host would).
    // After the storm, with every lease free again, each timer fires once
    // more and must fan out one work item per tenant; those are delivered
    // in the last wave too.
    let mut quiet_timers = false;
    while remaining > 0 || !pending.is_empty() || !quiet_timers {
        let quiet = remaining == 0 && pending.is_empty();
        let calls = if remaining > 0 {
            let n = remaining.min(CONCURRENCY);
            remaining -= n;
            wave(n, &tenants, &mut pending, &mut rng)
        } else if quiet {
            quiet_timers = true;
            TIMERS
                .iter()
                .map(|&(function, job)| Call::Timer { function, job })
                .collect()
        } else {
            let n = pending.len().min(CONCURRENCY);
            pending
                .drain(..n)
                .map(|item| Call::Work {
                    item,
                    dequeue_count: 1,
                })
                .collect()
        };
        waves += 1;
        invocations += calls.len();
        let answers = storm(&client, &handler.base, calls).await;
        rss_per_wave.push(proc_kib(pid, "VmRSS").unwrap());
        let mut ran_in_wave = BTreeSet::new();
        let mut sent_in_wave = BTreeSet::new();
        for a in answers {
            let a = match a {
                Ok(a) => a,
                Err(e) => {
                    dropped.push(e);
                    continue;
                }
            };
            let function = a.call.function();
            *per_function.entry(function).or_default() += 1;
            latencies.entry(function).or_default().push(a.latency);
            match &a.call {
                Call::Timer { job, .. } => {
                    let items = timer_items(*job, a.status, &a.body, &tenants);
                    if quiet {
                        assert_eq!(items.len(), tenants.len(), "quiet {job} timer: {}", a.body);
                    }
                    *timer_emitted.entry(*job).or_default() += items.len();
                    pending.extend(items);
                }
                Call::Report { html, .. } => check_report(*html, a.status, &a.body, tenants.len()),
                Call::Work { item, .. } => {
                    let fate = worker_fate(a.status, &a.body);
                    let d = Delivered {
                        tenant: item["sourceTenantId"].as_str().unwrap().parse().unwrap(),
                        job: item["job"].as_str().unwrap().parse().unwrap(),
                        run_id: item["runId"].as_str().unwrap().parse().unwrap(),
                        fate,
                    };
                    sent_in_wave.insert((d.tenant, d.job));
                    if fate == Fate::Ran {
                        ran_in_wave.insert((d.tenant, d.job));
                    }
                    delivered.push(d);
                }
            }
        }
        assert!(
            dropped.is_empty(),
            "wave {waves}: requests without an answer: {dropped:?}"
        );
        // A skip only ever defers to a run that holds the lease: every
        // tenant and job sent in a wave ran at least once in it.
        assert_eq!(
            ran_in_wave, sent_in_wave,
            "wave {waves}: a job that nobody ran"
        );
    }
    let wall = started.elapsed();
    sampling.store(false, Ordering::SeqCst);
    sampler.await.unwrap();
    let hwm = proc_kib(pid, "VmHWM").unwrap();
    // Bounded: a debug handler settles near 60 MiB under these waves; a
    // leak per invocation would show far above this.
    assert!(hwm < 512 * 1024, "handler peak memory {}", mib(hwm));

    // The store agrees with the answers: a run that ran has its finished
    // record; a run whose every delivery was skipped has none; no run ran
    // twice (duplicate deliveries of one run included).
    let mut by_run: BTreeMap<uuid::Uuid, Vec<&Delivered>> = BTreeMap::new();
    for d in &delivered {
        by_run.entry(d.run_id).or_default().push(d);
    }
    let mut fates: BTreeMap<Fate, usize> = BTreeMap::new();
    for d in &delivered {
        *fates.entry(d.fate).or_default() += 1;
    }
    for (run_id, ds) in &by_run {
        let ran = ds.iter().filter(|d| d.fate == Fate::Ran).count();
        assert!(
            ran <= 1,
            "run {run_id} ran {ran} times ({} deliveries)",
            ds.len()
        );
        let (tenant, job) = (ds[0].tenant, ds[0].job);
        let record = world.store.get_run(tenant, *run_id).await.unwrap();
        if ran == 1 {
            let r = record.unwrap_or_else(|| panic!("run {run_id} ran but has no record"));
            assert_eq!((r.job, r.source_tenant_id), (job, tenant));
            assert!(r.is_finished(), "run {run_id}: {r:?}");
            assert_eq!(r.outcome, RunOutcome::Succeeded, "run {run_id}: {r:?}");
        } else {
            assert!(
                ds.iter().all(|d| d.fate == Fate::SkippedLeaseHeld),
                "run {run_id}: a duplicate of a run that never ran"
            );
            assert!(
                record.is_none(),
                "run {run_id} was skipped but has a record: {record:?}"
            );
        }
    }
    let runs_ran = fates.get(&Fate::Ran).copied().unwrap_or(0);
    assert!(runs_ran >= TENANTS * Job::ALL.len());

    // Healthy afterwards: the process lives, answers the readiness probe
    // and a final report that agrees with the store.
    let mut handler = handler;
    assert!(
        handler.child.try_wait().unwrap().is_none(),
        "the handler exited"
    );
    let ready = client
        .get(format!("{}/", handler.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["service"], "guest-sync handler");
    let last = invoke(
        &client,
        &handler.base,
        Call::Report {
            html: false,
            by_query: true,
        },
    )
    .await
    .unwrap();
    check_report(false, last.status, &last.body, tenants.len());
    let stats: Value =
        serde_json::from_str(last.body["Outputs"]["res"]["body"].as_str().unwrap()).unwrap();
    let mut managed = 0;
    for t in &tenants {
        managed += world
            .store
            .list_guests(*t)
            .await
            .unwrap()
            .iter()
            .filter(|g| g.state != GuestState::Deprovisioned)
            .count();
    }
    assert_eq!(
        stats["totals"]["managed"], managed as u64,
        "{}",
        stats["totals"]
    );
    assert!(
        managed > 0 && managed <= in_scope,
        "{managed} of {in_scope}"
    );
    let rss_after = proc_kib(pid, "VmRSS").unwrap();
    assert!(
        handler.child.try_wait().unwrap().is_none(),
        "the handler exited"
    );

    let mut all: Vec<Duration> = latencies.values().flatten().copied().collect();
    let row = |name: &str, samples: &mut [Duration]| {
        format!(
            "| {name} latency p50 / p95 / p99 / max | {:.0} / {:.0} / {:.0} / {:.0} ms ({} samples) |\n",
            percentile(samples, 0.50),
            percentile(samples, 0.95),
            percentile(samples, 0.99),
            percentile(samples, 1.0),
            samples.len()
        )
    };
    let mut md = String::new();
    md.push_str("One real `handler` process (debug build), SQLite store, Graph simulator; client-side times.\n\n");
    md.push_str("| figure | value |\n|---|---|\n");
    md.push_str(&format!(
        "| source tenants / in-scope users | {} / {in_scope} |\n",
        tenants.len()
    ));
    md.push_str(&format!(
        "| invocations | {invocations} in {waves} waves of at most {CONCURRENCY} at once ({} mixed waves of {CONCURRENCY}, then the timer outputs still pending, one quiet tick of each timer and its items) |\n",
        total.div_ceil(CONCURRENCY)
    ));
    md.push_str(&format!(
        "| by function | {} |\n",
        per_function
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    md.push_str(&format!(
        "| dropped (no HTTP answer) | {} |\n",
        dropped.len()
    ));
    md.push_str(&format!(
        "| work items: ran / skipped, lease held / skipped, duplicate | {} / {} / {} |\n",
        runs_ran,
        fates.get(&Fate::SkippedLeaseHeld).copied().unwrap_or(0),
        fates.get(&Fate::SkippedDuplicate).copied().unwrap_or(0)
    ));
    md.push_str(&format!(
        "| timer work items emitted (reconcile / photos / redemption) | {} / {} / {} |\n",
        timer_emitted.get(&Job::Reconcile).copied().unwrap_or(0),
        timer_emitted.get(&Job::Photos).copied().unwrap_or(0),
        timer_emitted.get(&Job::Redemption).copied().unwrap_or(0)
    ));
    md.push_str(&format!(
        "| total wall time | {:.1} s |\n",
        wall.as_secs_f64()
    ));
    md.push_str(&row("report", latencies.get_mut("report").unwrap()));
    md.push_str(&row(
        "tenant-worker",
        latencies.get_mut("tenant-worker").unwrap(),
    ));
    let mut timers: Vec<Duration> = TIMERS
        .iter()
        .flat_map(|(f, _)| latencies.get(f).cloned().unwrap_or_default())
        .collect();
    md.push_str(&row("timers", &mut timers));
    md.push_str(&row("all invocations", &mut all));
    md.push_str(&format!(
        "| handler RSS idle / peak sampled / VmHWM / after | {} / {} / {} / {} |\n",
        mib(rss_idle),
        mib(peak_sampled.load(Ordering::SeqCst)),
        mib(hwm),
        mib(rss_after)
    ));
    md.push_str(&format!(
        "| handler RSS after each wave | {} |\n",
        rss_per_wave
            .iter()
            .map(|k| format!("{:.0}", *k as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(" / ")
            + " MiB"
    ));
    crate::reliability::record("load", &md);

    // And it still stops cleanly.
    handler.sigterm();
    assert_eq!(handler.exit_code().await, Some(0));
}
