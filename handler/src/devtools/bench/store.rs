//! The store benchmark (`guest-sync bench store`): saves and loads N guest
//! records of one tenant on each backend, then a reconcile snapshot of N
//! source users, N host guests and the N records
//! ([`crate::engine::snapshot`]), and prints the time of each phase, the
//! snapshot's stored size, and the peak memory (`VmHWM` from `/proc/self/status`, reset between
//! backends through `/proc/self/clear_refs` where the kernel allows it).
//!
//! The Azure Tables backend runs against the connection string in
//! `GUESTSYNC_BENCH_TABLES`, or a private Azurite started from `.tools`.
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;

use crate::devtools::azurite::Azurite;
use crate::domain::{GuestRecord, GuestState, Guid};
use crate::settings::StoreSpec;
use crate::store::Store;

/// Which backends to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchBackend {
    Sqlite,
    Azurite,
    Both,
}

/// Arguments of the store benchmark.
#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {
    /// Guest records to save and load.
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Backend(s) to measure. For azurite, GUESTSYNC_BENCH_TABLES may hold a
    /// storage connection string; otherwise Azurite is started from .tools.
    #[arg(long, value_enum, default_value_t = BenchBackend::Both)]
    pub backend: BenchBackend,
}

/// A realistic guest record (UPN, mail, host ids, fingerprint, ETag).
fn record(tenant: Guid, n: usize) -> GuestRecord {
    let now = Utc::now();
    GuestRecord {
        source_tenant_id: tenant,
        source_user_id: Guid::new_v4(),
        source_upn: format!("user{n:06}@source.example.com"),
        source_mail: Some(format!("first.last{n:06}@source.example.com")),
        host_user_id: Some(Guid::new_v4()),
        host_upn: Some(format!(
            "user{n:06}_source.example.com#EXT#@host.onmicrosoft.com"
        )),
        state: if n % 4 == 0 {
            GuestState::Invited
        } else {
            GuestState::Accepted
        },
        adopted: false,
        created_at: now,
        redeemed_at: (n % 4 != 0).then_some(now),
        deprovisioned_at: None,
        last_synced_at: Some(now),
        profile_fingerprint: Some(format!("{:064x}", n as u128 * 7919)),
        photo_etag: Some(format!("W/\"{:032x}\"", n as u128 * 104_729)),
        photo_copied_at: Some(now),
        last_error: None,
        anchored: false,
        relations: Default::default(),
    }
}

/// A line of `/proc/self/status` in KiB (Linux only; None elsewhere).
fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

async fn measure(name: &str, store: Arc<dyn Store>, n: usize) -> anyhow::Result<()> {
    // Reset the peak-RSS mark so each backend's figure is its own.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let tenant = Guid::new_v4();
    let records: Vec<_> = (0..n).map(|i| record(tenant, i)).collect();
    let t0 = Instant::now();
    store
        .put_guests(&records)
        .await
        .with_context(|| format!("{name}: saving {n} records"))?;
    let save = t0.elapsed();
    drop(records);
    let t1 = Instant::now();
    let back = store
        .list_guests(tenant)
        .await
        .with_context(|| format!("{name}: loading {n} records"))?;
    let load = t1.elapsed();
    anyhow::ensure!(
        back.len() == n,
        "{name}: loaded {} records, saved {n}",
        back.len()
    );
    let snap = snapshot(&*store, tenant, back).await?;
    let per = |d: std::time::Duration| n as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{name:8} records {n:>7}  save {:>8.2} s ({:>8.0}/s)  load {:>8.2} s ({:>8.0}/s)  peak RSS {}{}  (RSS now {})",
        save.as_secs_f64(),
        per(save),
        load.as_secs_f64(),
        per(load),
        mib(status_kib("VmHWM:")),
        if reset { "" } else { " (process-wide: reset unsupported)" },
        mib(status_kib("VmRSS:")),
    );
    println!("{name:8} {snap}");
    Ok(())
}

/// Saves and loads a reconcile snapshot of `records.len()` users (source
/// and host pictures built beside the records); its line.
async fn snapshot(
    store: &dyn Store,
    tenant: Guid,
    records: Vec<GuestRecord>,
) -> anyhow::Result<String> {
    use crate::domain::plan::{HostGuest, HostPicture, SourcePicture, SourceUser};
    use crate::engine::snapshot;
    let now = Utc::now();
    let attrs = |n: usize| {
        crate::domain::Attrs::from_iter([
            (
                "displayName".to_string(),
                format!("First Last {n:06}").into(),
            ),
            ("jobTitle".to_string(), "Senior Engineer".into()),
            (
                "department".to_string(),
                format!("Department {}", n % 40).into(),
            ),
            ("companyName".to_string(), "Source Example Ltd".into()),
        ])
    };
    let source = SourcePicture {
        users: records
            .iter()
            .enumerate()
            .map(|(n, r)| SourceUser {
                id: r.source_user_id,
                upn: r.source_upn.clone(),
                mail: r.source_mail.clone(),
                account_enabled: true,
                user_type: "Member".into(),
                attrs: attrs(n),
                photo_etag: None,
            })
            .collect(),
        complete: true,
    };
    let host = HostPicture {
        guests: records
            .iter()
            .enumerate()
            .filter_map(|(n, r)| {
                Some(HostGuest {
                    id: r.host_user_id?,
                    upn: r.host_upn.clone()?,
                    mail: r.source_mail.clone(),
                    other_mails: r.source_mail.iter().cloned().collect(),
                    account_enabled: true,
                    user_type: "Guest".into(),
                    external_user_state: Some("Accepted".into()),
                    external_user_state_changed_at: Some(now),
                    created_at: Some(now),
                    attrs: attrs(n),
                    anchor: Some(crate::domain::Anchor::new(tenant, r.source_user_id)),
                })
            })
            .collect(),
        deleted: Vec::new(),
        group_members: None,
        anchor_unreadable: None,
    };
    let run = uuid::Uuid::new_v4();
    let taken = snapshot::Taken {
        run_id: run,
        fingerprint: "bench".into(),
        taken_at: now,
        limit: crate::domain::policy::MaxDeprovisions::Count(100),
        anchor: None,
        anchor_unreadable: None,
        parts: 20,
    };
    let t0 = Instant::now();
    let h = snapshot::save(store, tenant, taken, &source, &host, &records)
        .await
        .context("saving a snapshot")?;
    let save = t0.elapsed();
    drop((source, host, records));
    let t1 = Instant::now();
    let back = snapshot::load(store, tenant, run, "bench", now)
        .await
        .map_err(|e| anyhow::anyhow!("loading the snapshot: {e}"))?;
    let load = t1.elapsed();
    anyhow::ensure!(
        back.records.len() as u64 == h.counts.records,
        "the snapshot lost records"
    );
    drop(back);
    store.delete_snapshots(tenant).await?;
    Ok(format!(
        "snapshot of {} source users, {} host guests, {} records: {} chunks, {:.1} MiB stored  save {:>6.2} s  load {:>6.2} s  peak RSS {}",
        h.counts.source,
        h.counts.guests,
        h.counts.records,
        h.chunks,
        h.bytes as f64 / (1024.0 * 1024.0),
        save.as_secs_f64(),
        load.as_secs_f64(),
        mib(status_kib("VmHWM:")),
    ))
}

/// Runs the benchmark and prints one line per backend.
pub async fn run(args: StoreBenchArgs) -> anyhow::Result<()> {
    let n = args.records;
    println!("store benchmark: save then load {n} guest records of one tenant");
    if matches!(args.backend, BenchBackend::Sqlite | BenchBackend::Both) {
        let dir = std::env::temp_dir().join(format!("guest-sync-bench-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).context("creating the benchmark's temp dir")?;
        let spec = StoreSpec::Sqlite(dir.join("bench.db"));
        let result = async {
            let store = crate::app::App::open_store(&spec).await?;
            measure("sqlite", store, n).await
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        result?;
    }
    if matches!(args.backend, BenchBackend::Azurite | BenchBackend::Both) {
        let (cs, _azurite) = match std::env::var("GUESTSYNC_BENCH_TABLES") {
            Ok(cs) if !cs.trim().is_empty() => (cs, None),
            _ => {
                let a = Azurite::start().context("starting Azurite for the benchmark")?;
                (a.connection_string.clone(), Some(a))
            }
        };
        let spec = StoreSpec::ConnectionString(cs);
        let store = crate::app::App::open_store(&spec).await?;
        measure("azurite", store, n).await?;
    }
    Ok(())
}
