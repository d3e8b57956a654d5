//! The reconcile job: read both sides, plan (pure), keep the deletion
//! guard's hold in step, apply. Also [`compute_plan`] for `guest-sync plan`.
use crate::domain::plan::{self, PlanPolicy, SourcePicture};
use crate::domain::policy::MaxDeprovisions;
use crate::domain::{GuardHold, GuestRecord, GuestState, RunCounts, RunOutcome, SourceTenant};
use crate::events;
use crate::graph::{GraphError, TenantGraph};

use super::cursor::{JobCursor, Resume};
use super::delta;
use super::read;
use super::run::{executor, writer};
use super::snapshot;
use super::{host_credentials, source_credentials, JobOutcome, Progress, SyncContext, SyncError};

/// Reconcile passes one run makes to retry transient failures before it
/// finishes as `partial` (the next scheduled run picks them up).
const MAX_PASSES: u64 = 3;

/// Reads both sides and computes the reconcile plan (no writes). Used by
/// `guest-sync plan` and by the reconcile job.
#[tracing::instrument(name = "compute_plan", skip_all, fields(tenant_id = %tenant.tenant_id))]
pub async fn compute_plan(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    progress: &dyn Progress,
) -> Result<ComputedPlan, SyncError> {
    let mut c = compute_parts(ctx, tenant, progress, usize::MAX).await?;
    c.more = None;
    Ok(c)
}

/// Reads both sides and plans the first [`plan::Part`] of about
/// `per_part` source users; [`ComputedPlan::more`] plans the others from
/// the same pictures (and keeps them for a snapshot).
async fn compute_parts(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    progress: &dyn Progress,
    per_part: usize,
) -> Result<ComputedPlan, SyncError> {
    let opts = &tenant.options;
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let (picture, read_error) = if opts.offboarding {
        // The tenant is being removed: nobody is in scope any more.
        (
            SourcePicture {
                users: vec![],
                complete: true,
            },
            None,
        )
    } else {
        let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
        read::read_source(&src, tenant.group_id, opts, progress).await?
    };
    let mut host_picture = read::read_host(
        &host,
        opts,
        ctx.settings.host_group_id,
        ctx.settings.anchor_attribute.as_ref(),
        progress,
    )
    .await?;
    let records = ctx
        .store
        .list_guests(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?;
    // Anchors this run: none when Graph refused to read the attribute.
    let anchor = ctx
        .settings
        .anchor_attribute
        .clone()
        .filter(|_| host_picture.anchor_unreadable.is_none());
    read::add_unlisted(
        &host,
        &mut host_picture,
        &records,
        opts,
        anchor.as_ref(),
        ctx.concurrency,
    )
    .await?;
    let now = ctx.clock.now();
    let limit = guard_limit(
        ctx.settings.max_deprovisions,
        &records,
        !opts.offboarding && picture.complete && picture.users.is_empty(),
        now,
    );
    let policy = PlanPolicy::new(
        opts.clone(),
        ctx.settings.deprovision,
        limit,
        tenant.guard.as_ref(),
        now,
    )
    .with_anchor(anchor.clone());
    progress.phase("plan", None);
    let source_complete = picture.complete;
    let anchor_unreadable = host_picture.anchor_unreadable.clone();
    let mut parts = MoreParts {
        tenant: tenant.tenant_id,
        of: plan::Part::count(picture.users.len(), per_part),
        next: 0,
        picture,
        host_picture,
        policy,
    };
    let plan = parts.next(ctx, &records).await?.unwrap_or_default();
    Ok(ComputedPlan {
        plan,
        records,
        host,
        source_complete,
        read_error,
        anchor,
        anchor_unreadable,
        more: Some(Box::new(parts)),
        resumed: false,
    })
}

/// Continues a full read from its snapshot (`engine/snapshot.rs`) at
/// `at`: the pictures and records it was planned from, so the plan's parts
/// are the same as the slice that stopped planned them; the actions
/// already started are left out. Nothing is read from Graph.
async fn resume_full(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    at: Resume,
    progress: &dyn Progress,
) -> Result<Result<ComputedPlan, snapshot::Unusable>, SyncError> {
    progress.phase("snapshot", None);
    let started = std::time::Instant::now();
    let fp = snapshot::fingerprint(ctx, tenant);
    let snap = match snapshot::load(
        ctx.store.as_ref(),
        tenant.tenant_id,
        run_id,
        &fp,
        ctx.clock.now(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    let snapshot::Snapshot {
        header,
        source,
        host: host_picture,
        records,
    } = snap;
    if at.part > header.parts {
        return Ok(Err(snapshot::Unusable::Corrupt(format!(
            "the cursor names part {} of {}",
            at.part, header.parts
        ))));
    }
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let policy = PlanPolicy::new(
        tenant.options.clone(),
        ctx.settings.deprovision,
        header.limit.into(),
        tenant.guard.as_ref(),
        header.taken_at,
    )
    .with_anchor(header.anchor.clone());
    let mut parts = MoreParts {
        tenant: tenant.tenant_id,
        of: header.parts,
        // Every action started: the last part planned again only for the
        // whole plan's guard decision.
        next: at.part.min(header.parts.saturating_sub(1)),
        picture: source,
        host_picture,
        policy,
    };
    let mut plan = parts.next(ctx, &records).await?.unwrap_or_default();
    let done_before = if at.part >= header.parts {
        plan.actions.clear();
        true
    } else if let Some(from) = at.from {
        plan.actions.retain(|a| a.order_key() >= from);
        true
    } else {
        false
    };
    if done_before {
        // Counted by the slice that planned this part first.
        plan.held_back.clear();
        plan.unchanged = 0;
    }
    tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, part = at.part, parts = header.parts, taken_at = %header.taken_at, secs = started.elapsed().as_secs_f64(), "reconcile resumes a full read from its snapshot (nothing read again)");
    Ok(Ok(ComputedPlan {
        plan,
        records,
        host,
        source_complete: header.source_complete,
        read_error: None,
        anchor: header.anchor,
        anchor_unreadable: header.anchor_unreadable,
        more: Some(Box::new(parts)),
        resumed: true,
    }))
}

/// The parts of a full read's plan not planned yet (a large tenant is
/// planned and applied [`plan::Part`] after part, so that one part's
/// actions are in memory at a time), with the pictures they are planned
/// from.
pub struct MoreParts {
    tenant: crate::domain::Guid,
    picture: SourcePicture,
    host_picture: plan::HostPicture,
    policy: PlanPolicy,
    next: u32,
    of: u32,
}

impl MoreParts {
    /// Plans the next part (actions on guests another tenant owns taken
    /// out), or None when every part was planned.
    pub async fn next(
        &mut self,
        ctx: &SyncContext,
        records: &[GuestRecord],
    ) -> Result<Option<plan::Plan>, SyncError> {
        if self.next >= self.of {
            return Ok(None);
        }
        let part = plan::Part {
            index: self.next,
            of: self.of,
        };
        self.next += 1;
        let mut p = plan::plan_part(
            self.tenant,
            &self.picture,
            records,
            &self.host_picture,
            &self.policy,
            part,
        );
        super::ownership::isolate_tenants(ctx.store.as_ref(), self.tenant, &mut p)
            .await
            .map_err(SyncError::Store)?;
        Ok(Some(p))
    }

    /// How many parts the plan is cut into.
    pub fn of(&self) -> u32 {
        self.of
    }

    /// The part planned last (where a slice that stops resumes).
    fn last(&self) -> u32 {
        self.next.saturating_sub(1)
    }

    /// Keeps a snapshot of what the parts are planned from, for the
    /// continuations of run `run_id` (`engine/snapshot.rs`).
    async fn save(
        &self,
        ctx: &SyncContext,
        run_id: uuid::Uuid,
        tenant: &SourceTenant,
        records: &[GuestRecord],
    ) -> Result<snapshot::Header, crate::store::StoreError> {
        let taken = snapshot::Taken {
            run_id,
            fingerprint: snapshot::fingerprint(ctx, tenant),
            taken_at: self.policy.now,
            limit: self.policy.max_deprovisions,
            anchor: self.policy.anchor.as_ref(),
            anchor_unreadable: self.host_picture.anchor_unreadable.as_deref(),
            parts: self.of,
        };
        snapshot::save(
            ctx.store.as_ref(),
            self.tenant,
            taken,
            &self.picture,
            &self.host_picture,
            records,
        )
        .await
    }
}

/// A plan with what it was made from.
pub struct ComputedPlan {
    pub plan: plan::Plan,
    /// The records the plan was made from.
    pub records: Vec<GuestRecord>,
    /// The host handle (for applying).
    pub host: TenantGraph,
    /// Whether the source read was complete.
    pub source_complete: bool,
    /// The error that cut the source read short, if any.
    pub read_error: Option<GraphError>,
    /// The anchor attribute in force this run (None: off, or unreadable).
    pub anchor: Option<crate::domain::AnchorAttribute>,
    /// Why the anchor could not be read, if Graph refused it.
    pub anchor_unreadable: Option<String>,
    /// A full read's other parts (`plan` is the first part's; a large
    /// tenant's plan is cut into several) and the pictures they are
    /// planned from. None for an incremental run and `guest-sync plan`.
    pub more: Option<Box<MoreParts>>,
    /// Whether this continues a full read from its snapshot.
    pub resumed: bool,
}

/// The plan of a full read; the first slice of a full reconcile first
/// takes the delta links the next runs will read changes from.
async fn full_plan(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    pass: u64,
    progress: &dyn Progress,
) -> Result<ComputedPlan, SyncError> {
    let pending = tenant.delta.as_ref().is_some_and(|d| d.pending.is_some());
    if !ctx.dry_run && (pass == 1 || !pending) {
        delta::begin_full(ctx, tenant).await?;
    }
    compute_parts(ctx, tenant, progress, ctx.plan_part_users).await
}

pub(super) async fn reconcile(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    (pass, resume): (u64, Option<Resume>),
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    // Changes only (delta) when the links allow it; else both sides whole.
    let mut delta_links = None;
    // The links and the guard as stored now (the caller's copy of the
    // tenant may be older than the last run).
    let mut now_tenant = tenant.clone();
    if let Some(t) = stored(ctx, tenant).await? {
        now_tenant.delta = t.delta;
    }
    let now_tenant = &now_tenant;
    // A full read that stopped for time goes on from its snapshot.
    let mut computed = None;
    if let Some(at) = resume.filter(|_| !ctx.dry_run) {
        match resume_full(ctx, now_tenant, run_id, at, progress).await? {
            Ok(c) => computed = Some(c),
            Err(why) => {
                tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, reason = %why, "reconcile cannot resume from its snapshot; it reads again");
                forget_snapshot(ctx, tenant.tenant_id).await;
            }
        }
    }
    let computed = match computed {
        Some(c) => c,
        None => choose_and_plan(ctx, now_tenant, run_id, pass, progress, &mut delta_links).await?,
    };
    // Whether this run keeps a snapshot (to delete when it ends).
    let mut kept = computed.resumed;
    let result = apply(
        ctx,
        tenant,
        (run_id, pass),
        computed,
        delta_links,
        &mut kept,
        deadline,
        progress,
    )
    .await;
    let resuming = matches!(&result, Ok(o) if matches!(o.cursor, Some(JobCursor::Reconcile { resume: Some(_), .. })));
    if kept && !resuming {
        // The run ended, failed, or goes on by reading again.
        forget_snapshot(ctx, tenant.tenant_id).await;
    }
    result
}

/// Removes the tenant's snapshot; a failure only leaves it for the next
/// snapshot to replace (it is never used by another run).
async fn forget_snapshot(ctx: &SyncContext, tenant: crate::domain::Guid) {
    if let Err(e) = ctx.store.delete_snapshots(tenant).await {
        tracing::warn!(tenant_id = %tenant, error = %e, "could not remove the reconcile snapshot; the next snapshot replaces it");
    }
}

/// Reads changes (delta) or both sides whole, as the links allow, and
/// plans.
async fn choose_and_plan(
    ctx: &SyncContext,
    now_tenant: &SourceTenant,
    run_id: uuid::Uuid,
    pass: u64,
    progress: &dyn Progress,
    delta_links: &mut Option<(Box<crate::domain::DeltaLinks>, super::relations::Touched)>,
) -> Result<ComputedPlan, SyncError> {
    let tenant = now_tenant;
    Ok(match delta::choose(ctx, now_tenant) {
        delta::Mode::Delta(links) => {
            match delta::compute_delta_plan(ctx, now_tenant, links, progress).await? {
                delta::DeltaPlan::Planned {
                    computed,
                    links,
                    touched,
                } => {
                    tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, mode = "delta", touched = touched.users.len(), "reconcile reads changes only");
                    *delta_links = Some((links, touched));
                    *computed
                }
                // Anything delta cannot settle (an expired link, a nested
                // group added, a round that failed part-way, a Graph that
                // has no delta) is read whole: never less than before.
                delta::DeltaPlan::NeedsFull(why) => {
                    tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, mode = "full", reason = %why, "reconcile reads both sides whole");
                    delta::forget(ctx, tenant.tenant_id).await?;
                    full_plan(ctx, now_tenant, pass, progress).await?
                }
            }
        }
        delta::Mode::Full(why) => {
            tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, mode = "full", reason = why, "reconcile reads both sides whole");
            full_plan(ctx, now_tenant, pass, progress).await?
        }
    })
}

/// Applies a plan (part after part for a full read), then sponsors and
/// managers; keeps a snapshot when a full read stops for time.
#[allow(clippy::too_many_arguments)]
async fn apply(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    (run_id, pass): (uuid::Uuid, u64),
    computed: ComputedPlan,
    delta_links: Option<(Box<crate::domain::DeltaLinks>, super::relations::Touched)>,
    kept: &mut bool,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let ComputedPlan {
        plan,
        records,
        host,
        source_complete,
        read_error,
        anchor,
        anchor_unreadable,
        mut more,
        resumed: _,
    } = computed;
    let host = &host;
    let w = writer(ctx, host);
    if let Some(problem) = read_error.as_ref().and_then(permission_lost) {
        // Rule: when a permission is gone, nothing is written (the picture
        // is missing users, not telling us they left); the run ends partial
        // with the missing permission named for the administrator.
        tracing::warn!(tenant_id = %tenant.tenant_id, run_id = %run_id, "{problem}");
        let mut held_back = plan.actions.len() as u64 + plan.held_back.len() as u64;
        if let Some(m) = more.as_deref_mut() {
            while let Some(p) = m.next(ctx, &records).await? {
                held_back += p.actions.len() as u64 + p.held_back.len() as u64;
            }
        }
        return Ok(JobOutcome {
            counts: RunCounts {
                held_back,
                ..RunCounts::default()
            },
            cursor: None,
            outcome: RunOutcome::Partial,
            guard: None,
            dry_run: !w.persists(),
            attention: Some(problem),
            warning: None,
        });
    }
    // Whether the plan removes guests: in a plan cut into parts, the
    // removals may all be in later parts.
    let removing = plan
        .actions
        .iter()
        .any(|a| matches!(a.kind, plan::ActionKind::Deprovision { .. }))
        || (more.is_some() && plan.removals > 0);
    update_guard(
        ctx,
        tenant,
        run_id,
        (plan.guard, removing),
        source_complete,
        w.persists(),
    )
    .await?;
    // Shared with the executor, not copied (tens of MB at 100,000 users).
    let records = std::sync::Arc::new(records);
    let mut exec = executor(ctx, tenant.tenant_id, run_id, w.clone(), records.clone());
    exec.anchor = anchor;
    let mut rep = exec.execute(&plan, deadline, progress).await;
    let mut unchanged = plan.unchanged;
    let mut held_back = plan.held_back.len() as u64;
    // Only the guard decision is needed from here: the applied part's
    // actions go before the next part is planned.
    let guard = plan.guard;
    drop(plan);
    if let Some(m) = more.as_deref_mut() {
        // A large tenant: the other parts, one at a time, while every
        // action so far could start (else the continuation resumes where
        // this slice stopped).
        let of = m.of();
        if of > 1 {
            tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, parts = of, "the plan is applied in parts");
        }
        while rep.fatal.is_none() && rep.not_started == 0 {
            let Some(p) = m.next(ctx, &records).await? else {
                break;
            };
            unchanged += p.unchanged;
            held_back += p.held_back.len() as u64;
            let r = exec.execute(&p, deadline, progress).await;
            rep.merge(r);
        }
    }
    if let Some(e) = rep.fatal {
        return Err(e);
    }
    // Whether a continuation retries failures (it reads again, for the
    // directory as it is now) rather than resuming from the snapshot.
    let retry = rep.transient_failures > 0 && pass < MAX_PASSES;
    // Where a full read goes on: the first action not started, or (every
    // action started) only sponsors and managers are left.
    let mut resume = None;
    if let Some(m) = more
        .as_deref()
        .filter(|_| read_error.is_none() && w.persists() && !retry)
    {
        let at = match rep.first_not_started {
            Some(from) => Some(Resume {
                part: m.last(),
                from: Some(from),
            }),
            None => Some(Resume {
                part: m.of(),
                from: None,
            }),
        };
        let usable = if !*kept && rep.not_started > 0 {
            // Stopped for time: keep what the parts are planned from.
            progress.phase("snapshot", None);
            // Removed when the run ends, even if only partly written.
            *kept = true;
            let started = std::time::Instant::now();
            match m.save(ctx, run_id, tenant, &records).await {
                Ok(h) => {
                    tracing::info!(tenant_id = %tenant.tenant_id, run_id = %run_id, chunks = h.chunks, bytes = h.bytes, secs = started.elapsed().as_secs_f64(), source_users = h.counts.source, host_users = h.counts.guests, records = h.counts.records, "reconcile kept a snapshot for its continuation");
                    true
                }
                Err(e) => {
                    // The continuation reads again, as before snapshots.
                    tracing::warn!(tenant_id = %tenant.tenant_id, run_id = %run_id, error = %e, "could not keep a snapshot; the continuation reads both sides again");
                    false
                }
            }
        } else {
            *kept
        };
        resume = at.filter(|_| usable);
    }
    // The pictures and the records go before the relations phase reads
    // what it needs.
    drop(more);
    drop(exec);
    drop(records);
    let mut counts = rep.counts;
    counts.unchanged += unchanged;
    counts.held_back += held_back;
    // Sponsors and managers: after the plan, so the guests this slice
    // created can already be managers; only when the whole plan was
    // launched (a continuation comes back for them otherwise).
    let mut relations_warning = None;
    let mut relations_pending = false;
    if rep.not_started == 0
        && delta_links
            .as_ref()
            .is_none_or(|(_, t)| !t.users.is_empty())
    {
        let rel = super::relations::sync_relations(
            ctx,
            tenant,
            run_id,
            w.clone(),
            host,
            deadline,
            progress,
            delta_links.as_ref().map(|(_, t)| t),
        )
        .await;
        if let Some(e) = rel.fatal {
            return Err(e);
        }
        counts.add(&rel.counts);
        relations_warning = rel.warning;
        relations_pending =
            rel.not_started > 0 || (rel.transient_failures > 0 && pass < MAX_PASSES);
    }
    let more = w.persists()
        && (rep.not_started > 0
            || relations_pending
            || (rep.transient_failures > 0 && pass < MAX_PASSES));
    if !more && guard.is_none() && source_complete && w.persists() {
        // The confirmed removals are done: the confirmation is used up.
        clear_confirmed_hold(ctx, tenant).await?;
    }
    if !more && w.persists() {
        match delta_links {
            // The changes read are applied: the next run reads from here.
            Some((links, _)) => delta::advance(ctx, tenant.tenant_id, *links).await?,
            // A full read that saw everything: its links become active.
            None if source_complete && read_error.is_none() => {
                delta::finish_full(ctx, tenant, host).await?
            }
            None => {}
        }
    }
    let outcome = if more {
        RunOutcome::Continued
    } else if counts.failed > 0 || read_error.is_some() {
        RunOutcome::Partial
    } else {
        RunOutcome::Succeeded
    };
    Ok(JobOutcome {
        counts,
        cursor: more.then_some(JobCursor::Reconcile {
            pass: pass + 1,
            resume,
        }),
        outcome,
        guard,
        dry_run: !w.persists(),
        attention: read_error.map(|e| format!("source read incomplete: {e}")),
        warning: rep
            .anchor_problem
            .or(anchor_unreadable)
            .or(relations_warning),
    })
}

/// The tenant as stored now (the guard hold changes under a running job).
async fn stored(
    ctx: &SyncContext,
    tenant: &SourceTenant,
) -> Result<Option<SourceTenant>, SyncError> {
    ctx.store
        .get_tenant(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)
}

/// Clears a confirmed guard hold once the run that used it has finished.
async fn clear_confirmed_hold(ctx: &SyncContext, tenant: &SourceTenant) -> Result<(), SyncError> {
    let Some(mut t) = stored(ctx, tenant).await? else {
        return Ok(());
    };
    if t.guard.as_ref().is_some_and(|g| g.confirmed) {
        t.guard = None;
        ctx.store.put_tenant(&t).await.map_err(SyncError::Store)?;
    }
    Ok(())
}

/// How long removals count against the deletion guard.
pub const GUARD_WINDOW_HOURS: i64 = 24;

/// The deletion guard's limit for this run, as an absolute count:
/// - the configured limit applies to a window of [`GUARD_WINDOW_HOURS`],
///   not to each run: it is computed against the guests managed when the
///   window's removals began, minus the removals already made in it (so
///   10% + 10% + ... does not compound);
/// - a scope group that reads empty while guests are managed is an
///   unexpected drop: every removal is held (limit 0) until an
///   administrator confirms (`guest-sync tenant confirm-deprovision`).
pub fn guard_limit(
    configured: MaxDeprovisions,
    records: &[GuestRecord],
    source_read_empty: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> MaxDeprovisions {
    let managed = records.iter().filter(|r| r.is_managed()).count() as u64;
    if source_read_empty && managed > 0 {
        return MaxDeprovisions::Count(0);
    }
    let since = now - chrono::Duration::hours(GUARD_WINDOW_HOURS);
    let recent = records
        .iter()
        .filter(|r| r.state == GuestState::Deprovisioned)
        .filter(|r| r.deprovisioned_at.is_some_and(|t| t > since))
        .count() as u64;
    if recent == 0 {
        return configured;
    }
    MaxDeprovisions::Count(
        configured
            .limit_for(managed + recent)
            .saturating_sub(recent),
    )
}

/// The administrator-facing message when `e` says a permission was lost.
fn permission_lost(e: &GraphError) -> Option<String> {
    match e {
        GraphError::Forbidden {
            missing_permission,
            detail,
            ..
        } => Some(format!(
            "permission lost: {} ({detail})",
            missing_permission
                .as_deref()
                .unwrap_or("a Graph permission")
        )),
        _ => None,
    }
}

/// Keeps the tenant's guard hold in step with the plan: set (and alert)
/// when the guard trips, cleared when removals went ahead or nothing is
/// held back any more.
async fn update_guard(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    (guard, removing): (Option<plan::GuardTrip>, bool),
    complete: bool,
    persist: bool,
) -> Result<(), SyncError> {
    if let Some(g) = guard {
        tracing::warn!(
            event = events::GUARD_TRIPPED,
            tenant_id = %tenant.tenant_id,
            run_id = %run_id,
            wanted = g.wanted,
            limit = g.limit,
            "deprovision guard held removals back until an administrator confirms"
        );
    }
    if !persist {
        return Ok(());
    }
    let wanted_hold = match guard {
        Some(g) => Some(GuardHold {
            tripped_at: ctx.clock.now(),
            wanted: g.wanted,
            limit: g.limit,
            confirmed: false,
        }),
        None if complete => None,
        // An incomplete read says nothing about the guard: keep the hold.
        None => return Ok(()),
    };
    let Some(mut t) = stored(ctx, tenant).await? else {
        return Ok(());
    };
    // A confirmation covers the held set until it is removed: while this
    // plan still removes guests (a run continuing over several slices),
    // the confirmed hold stays.
    if wanted_hold.is_none() && removing && t.guard.as_ref().is_some_and(|g| g.confirmed) {
        return Ok(());
    }
    let same = match (&t.guard, &wanted_hold) {
        (None, None) => true,
        (Some(a), Some(b)) => a.wanted == b.wanted && a.limit == b.limit && !a.confirmed,
        _ => false,
    };
    if !same {
        t.guard = wanted_hold;
        ctx.store.put_tenant(&t).await.map_err(SyncError::Store)?;
    }
    Ok(())
}
