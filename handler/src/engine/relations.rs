//! Sponsors and managers (`docs/engine.md`, "Sponsors and managers"): the
//! phase of a reconcile slice that runs after the plan is applied (so the
//! guests created in this slice can already be managers), reads what it
//! needs once, plans with [`plan_relations`] and makes the `$ref` writes
//! through the same writer (and so the same pacing and write budget) as
//! every other write.
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{FutureExt, StreamExt};

use crate::domain::plan::{plan_relations, ManagerChange, RelationChange, RelationInputs};
use crate::domain::{AuditEntry, GuestRelations, Guid, RunCounts, SourceTenant};
use crate::graph::{GraphError, TenantGraph};

use super::execute::{is_fatal, HostWriter, MIN_PROGRESS_PER_CONCURRENCY};
use super::{source_credentials, Progress, SyncContext, SyncError};

/// What the relations phase did.
#[derive(Debug, Default)]
pub struct RelationsReport {
    pub counts: RunCounts,
    /// Guests whose writes were not started (deadline, fatal error).
    pub not_started: usize,
    /// Guests whose writes failed with a transient error.
    pub transient_failures: u64,
    /// The error that stops the run.
    pub fatal: Option<SyncError>,
    /// Why managers or sponsors could not be read this run (no changes of
    /// that kind were made), for the run's warning.
    pub warning: Option<String>,
}

/// Reads every source user's manager (`$expand=manager` on the user list).
pub async fn read_source_managers(
    src: &TenantGraph,
) -> Result<HashMap<Guid, Option<Guid>>, GraphError> {
    let mut all = HashMap::new();
    let read = src
        .for_each_user_manager_page(|page| all.extend(page))
        .await;
    match read.error {
        Some(e) => Err(e),
        None => Ok(all),
    }
}

/// The sponsors the tenant option names: its users, plus the owners of its
/// group (read once per run).
pub async fn wanted_sponsors(
    host: &TenantGraph,
    tenant: &SourceTenant,
) -> Result<BTreeSet<Guid>, GraphError> {
    let Some(sp) = &tenant.options.sponsors else {
        return Ok(BTreeSet::new());
    };
    let mut out: BTreeSet<Guid> = sp.users.iter().copied().collect();
    if let Some(g) = sp.group_owners {
        out.extend(host.group_owner_ids(g).await?);
    }
    Ok(out)
}

/// The users an incremental run touched, and the managers its source
/// users round reported (`manager@delta`): the relations phase then plans
/// only these users and reads only their managers.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    pub users: BTreeSet<Guid>,
    pub managers: HashMap<Guid, Option<Guid>>,
}

/// The records the phase plans: every record, or (incremental run) the
/// touched users' and their managers'.
async fn phase_records(
    ctx: &SyncContext,
    tenant: Guid,
    touched: Option<&Touched>,
    managers: Option<&HashMap<Guid, Option<Guid>>>,
) -> Result<Vec<crate::domain::GuestRecord>, SyncError> {
    let Some(t) = touched else {
        return ctx
            .store
            .list_guests(tenant)
            .await
            .map_err(SyncError::Store);
    };
    let mut ids: BTreeSet<Guid> = t.users.clone();
    if let Some(m) = managers {
        ids.extend(m.values().flatten().copied());
    }
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = ctx
            .store
            .get_guest(tenant, id)
            .await
            .map_err(SyncError::Store)?
        {
            out.push(r);
        }
    }
    Ok(out)
}

/// The managers of the touched users: as the delta round reported them,
/// else asked per user.
async fn touched_managers(
    src: &TenantGraph,
    t: &Touched,
    concurrency: usize,
) -> Result<HashMap<Guid, Option<Guid>>, GraphError> {
    let ask: Vec<Guid> = t
        .users
        .iter()
        .copied()
        .filter(|u| !t.managers.contains_key(u))
        .collect();
    let answers: Vec<(Guid, Result<Option<Guid>, GraphError>)> = futures::stream::iter(ask)
        .map(|u| async move { (u, src.manager_id(u).await) }.boxed())
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = t.managers.clone();
    out.retain(|u, _| t.users.contains(u));
    for (u, r) in answers {
        out.insert(u, r?);
    }
    Ok(out)
}

/// Runs the phase for one tenant: nothing is read when the tenant uses
/// neither option and nothing was applied before. `touched` (an
/// incremental run) limits it to those users.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sync_relations(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    writer: Arc<dyn HostWriter>,
    host: &TenantGraph,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
    touched: Option<&Touched>,
) -> RelationsReport {
    let mut rep = RelationsReport::default();
    let opts = &tenant.options;
    if opts.offboarding {
        return rep;
    }
    if touched.is_some_and(|t| t.users.is_empty()) {
        return rep;
    }
    let records = match phase_records(ctx, tenant.tenant_id, touched, None).await {
        Ok(r) => r,
        Err(e) => {
            rep.fatal = Some(e);
            return rep;
        }
    };
    let applied_any = records.iter().any(|r| !r.relations.is_empty());
    if !opts.manager && opts.sponsors.is_none() && !applied_any {
        return rep;
    }
    progress.phase("read sponsors and managers", None);
    let mut warnings = Vec::new();
    let managers = if opts.manager {
        let src = match source_credentials(ctx, tenant).await {
            Ok(c) => Some(ctx.graph.tenant(c)),
            Err(e) => {
                warnings.push(format!(
                    "source managers not read ({e}); managers unchanged this run"
                ));
                None
            }
        };
        match src {
            None => None,
            Some(src) => match match touched {
                None => read_source_managers(&src).await,
                Some(t) => touched_managers(&src, t, ctx.concurrency).await,
            } {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant.tenant_id, error = %e, "source managers could not be read; managers unchanged this run");
                    warnings.push(format!(
                        "source managers could not be read ({e}); managers unchanged this run"
                    ));
                    None
                }
            },
        }
    } else {
        Some(HashMap::new())
    };
    let sponsors = match wanted_sponsors(host, tenant).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(tenant_id = %tenant.tenant_id, error = %e, "sponsor group owners could not be read; sponsors unchanged this run");
            warnings.push(format!(
                "the sponsors' group owners could not be read ({e}); sponsors unchanged this run"
            ));
            None
        }
    };
    if !warnings.is_empty() {
        rep.warning = Some(warnings.join("; "));
    }
    // An incremental run also needs the records of the touched users'
    // managers (their guests are the managers to set).
    let records = match (touched, managers.as_ref()) {
        (Some(t), Some(m)) => match phase_records(ctx, tenant.tenant_id, Some(t), Some(m)).await {
            Ok(r) => r,
            Err(e) => {
                rep.fatal = Some(e);
                return rep;
            }
        },
        _ => records,
    };
    let mut changes = plan_relations(
        &records,
        &RelationInputs {
            manager_on: opts.manager,
            managers: managers.as_ref(),
            sponsors: sponsors.as_ref(),
        },
    );
    if let Some(t) = touched {
        changes.retain(|c| t.users.contains(&c.source_user_id));
    }
    if changes.is_empty() {
        return rep;
    }
    progress.phase("apply sponsors and managers", Some(changes.len() as u64));
    let applier = Applier {
        ctx,
        tenant: tenant.tenant_id,
        run_id,
        writer,
    };
    let stop = AtomicBool::new(false);
    let fatal: Mutex<Option<SyncError>> = Mutex::new(None);
    let min_progress = MIN_PROGRESS_PER_CONCURRENCY * ctx.concurrency.max(1);
    let results: Vec<Option<Outcome>> = futures::stream::iter(0..changes.len())
        .map(|i| {
            let c = &changes[i];
            let stop = &stop;
            let fatal = &fatal;
            let applier = &applier;
            async move {
                if stop.load(Ordering::SeqCst)
                    || (i >= min_progress && tokio::time::Instant::now() >= deadline)
                {
                    return None;
                }
                let r = match applier.apply(c).await {
                    Ok(o) => o,
                    Err(e) => {
                        stop.store(true, Ordering::SeqCst);
                        let mut f = fatal.lock().unwrap_or_else(|p| p.into_inner());
                        f.get_or_insert(e);
                        Outcome::default()
                    }
                };
                progress.inc(1);
                Some(r)
            }
            .boxed()
        })
        .buffer_unordered(ctx.concurrency.max(1))
        .collect()
        .await;
    rep.fatal = fatal.into_inner().unwrap_or_else(|p| p.into_inner());
    for r in results {
        match r {
            None => rep.not_started += 1,
            Some(o) => {
                rep.counts.sponsor_writes += o.sponsor_writes;
                rep.counts.manager_writes += o.manager_writes;
                if let Some(transient) = o.failed {
                    rep.counts.failed += 1;
                    if transient {
                        rep.transient_failures += 1;
                    }
                }
            }
        }
    }
    rep
}

/// One guest's result.
#[derive(Debug, Default)]
struct Outcome {
    sponsor_writes: u64,
    manager_writes: u64,
    /// Some(transient) when a write failed.
    failed: Option<bool>,
}

struct Applier<'a> {
    ctx: &'a SyncContext,
    tenant: Guid,
    run_id: uuid::Uuid,
    writer: Arc<dyn HostWriter>,
}

impl Applier<'_> {
    fn audit(
        &self,
        c: &RelationChange,
        operation: &str,
        result: Result<(), &GraphError>,
        detail: String,
    ) -> AuditEntry {
        let (outcome, detail, crid) = match result {
            Ok(()) => (self.writer.outcome_label().to_string(), detail, None),
            Err(e) => (
                "failed".to_string(),
                format!("{detail}: {e}"),
                Some(e.client_request_id().to_string()),
            ),
        };
        AuditEntry {
            at: self.ctx.clock.now(),
            run_id: self.run_id,
            source_tenant_id: self.tenant,
            source_user_id: Some(c.source_user_id),
            target_id: Some(c.host_id),
            target_upn: None,
            operation: operation.to_string(),
            outcome,
            detail: Some(detail),
            client_request_id: crid,
        }
    }

    /// Makes one guest's writes in order (sponsors added, sponsors removed,
    /// the manager), stops at the first failure, and records what was
    /// applied. `Err` only for what stops the run.
    async fn apply(&self, c: &RelationChange) -> Result<Outcome, SyncError> {
        let w = &self.writer;
        let mut now = c.applied.clone();
        let mut audit = Vec::new();
        let mut out = Outcome::default();
        let mut error: Option<GraphError> = None;
        for s in &c.add_sponsors {
            let r = w.add_sponsor(c.host_id, *s).await;
            audit.push(self.audit(
                c,
                "sponsor-add",
                r.as_ref().map(|_| ()),
                format!("sponsor {s}"),
            ));
            match r {
                Ok(()) => {
                    out.sponsor_writes += 1;
                    now.sponsors.push(*s);
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if error.is_none() {
            for s in &c.remove_sponsors {
                let r = w.remove_sponsor(c.host_id, *s).await;
                audit.push(self.audit(
                    c,
                    "sponsor-remove",
                    r.as_ref().map(|_| ()),
                    format!("sponsor {s}"),
                ));
                match r {
                    Ok(()) => {
                        out.sponsor_writes += 1;
                        now.sponsors.retain(|x| x != s);
                    }
                    Err(e) => {
                        error = Some(e);
                        break;
                    }
                }
            }
        }
        if error.is_none() {
            let r = match c.manager {
                None => None,
                Some(ManagerChange::Set(m)) => {
                    let r = w.set_manager(c.host_id, m).await;
                    audit.push(self.audit(
                        c,
                        "manager-set",
                        r.as_ref().map(|_| ()),
                        format!("manager {m}"),
                    ));
                    Some(r.map(|_| Some(m)))
                }
                Some(ManagerChange::Remove) => {
                    let r = w.remove_manager(c.host_id).await;
                    let was = c.applied.manager.map(|m| m.to_string()).unwrap_or_default();
                    audit.push(self.audit(
                        c,
                        "manager-remove",
                        r.as_ref().map(|_| ()),
                        format!("manager {was}"),
                    ));
                    Some(r.map(|_| None))
                }
            };
            match r {
                None => {}
                Some(Ok(m)) => {
                    out.manager_writes += 1;
                    now.manager = m;
                }
                Some(Err(e)) => error = Some(e),
            }
        }
        now.sponsors.sort();
        now.sponsors.dedup();
        self.record(c, now).await?;
        self.log(audit).await?;
        if let Some(e) = error {
            tracing::warn!(source_user_id = %c.source_user_id, host_user_id = %c.host_id, error = %e, "sponsor or manager write failed");
            if is_fatal(&e) {
                return Err(SyncError::graph("writing sponsors or managers", e));
            }
            out.failed = Some(e.is_transient());
        }
        Ok(out)
    }

    /// Stores what is applied now in the guest's record (only that field:
    /// the rest of the record is as stored, re-read with its version).
    async fn record(&self, c: &RelationChange, now: GuestRelations) -> Result<(), SyncError> {
        if !self.writer.persists() || now == c.applied {
            return Ok(());
        }
        let store = &self.ctx.store;
        for _ in 0..5 {
            let Some(v) = store
                .get_guest_versioned(self.tenant, c.source_user_id)
                .await
                .map_err(SyncError::Store)?
            else {
                return Ok(());
            };
            if v.record.host_user_id != Some(c.host_id) {
                return Ok(());
            }
            let mut rec = v.record;
            rec.relations = now.clone();
            match store.put_guest_if(&rec, Some(&v.version)).await {
                Ok(_) => return Ok(()),
                Err(crate::store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(SyncError::Store(e)),
            }
        }
        Ok(())
    }

    async fn log(&self, entries: Vec<AuditEntry>) -> Result<(), SyncError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.ctx
            .store
            .append_audit(&entries)
            .await
            .map_err(SyncError::Store)
    }
}
