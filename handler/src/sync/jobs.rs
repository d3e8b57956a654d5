//! The three tenant jobs (reconcile, photos, redemption), provisioning one
//! user on demand, and the run bookkeeping around them (the run record,
//! the `run_summary` and `guard_tripped` events).
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures::FutureExt;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::domain::plan::{
    self, HostPicture, PhotoActionKind, PlanPolicy, SourcePicture, SourceUser,
};
use crate::domain::{
    AuditEntry, GuardHold, GuestRecord, GuestState, Guid, Job, RunCounts, RunOutcome, RunRecord,
    SourceTenant,
};
use crate::events;
use crate::graph::{GraphError, TenantGraph};

use super::execute::{is_fatal, DryRunWriter, Executor, GraphWriter, HostWriter};
use super::read::{self, host_select, source_select, to_host_guest, to_source_user};
use super::{
    host_credentials, source_credentials, JobOutcome, Progress, ProvisionOutcome, SyncContext,
    SyncError,
};

/// Reconcile passes one run makes to retry transient failures before it
/// finishes as `partial` (the next scheduled run picks them up).
const MAX_PASSES: u64 = 3;
/// Users whose photo metadata is read, planned and applied together.
const PHOTO_CHUNK: usize = 256;

/// Runs one job for one tenant: see the module docs of [`crate::sync`] for
/// the contract (cursor, deadline, run record, errors).
pub async fn run_job(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    job: Job,
    run_id: uuid::Uuid,
    cursor: Option<Value>,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let span = tracing::info_span!("tenant_job", tenant_id = %tenant.tenant_id, job = %job, run_id = %run_id);
    let _enter = span.enter();
    let started = ctx.clock.now();
    let mut run = match ctx
        .store
        .get_run(tenant.tenant_id, run_id)
        .await
        .map_err(SyncError::Store)?
    {
        Some(r) => r,
        None => RunRecord {
            run_id,
            job,
            source_tenant_id: tenant.tenant_id,
            started_at: started,
            finished_at: None,
            outcome: RunOutcome::Running,
            counts: RunCounts::default(),
            error: None,
            dry_run: ctx.dry_run,
            parked: false,
        },
    };
    run.outcome = RunOutcome::Running;
    ctx.store.put_run(&run).await.map_err(SyncError::Store)?;
    let throttled_before = ctx.graph.stats().throttled;
    let res = match job {
        Job::Reconcile => {
            let pass = cursor
                .as_ref()
                .and_then(|c| c.get("pass"))
                .and_then(Value::as_u64)
                .unwrap_or(1);
            reconcile(ctx, tenant, run_id, pass, deadline, progress).await
        }
        Job::Photos => {
            let after = cursor
                .as_ref()
                .and_then(|c| c.get("after"))
                .and_then(Value::as_str)
                .and_then(|s| Guid::parse_named(s, "cursor").ok());
            photos(ctx, tenant, run_id, after, deadline, progress).await
        }
        Job::Redemption => redemption(ctx, tenant, run_id, deadline, progress).await,
    };
    let throttled = ctx.graph.stats().throttled.saturating_sub(throttled_before);
    let now = ctx.clock.now();
    match res {
        Ok(mut out) => {
            out.counts.throttled += throttled;
            run.counts.add(&out.counts);
            run.outcome = out.outcome;
            run.error = None;
            if out.cursor.is_none() {
                run.finished_at = Some(now);
            }
            ctx.store.put_run(&run).await.map_err(SyncError::Store)?;
            if out.cursor.is_none() {
                summary(&run);
            }
            Ok(out)
        }
        Err(e) => {
            run.counts.throttled += throttled;
            run.error = Some(e.to_string());
            if !e.is_transient() {
                run.outcome = RunOutcome::Failed;
                run.finished_at = Some(now);
                summary(&run);
            }
            if let Err(se) = ctx.store.put_run(&run).await {
                tracing::warn!(error = %se, "could not record the failed run");
            }
            Err(e)
        }
    }
}

/// The `run_summary` event: one per finished run, object ids and counts only.
fn summary(run: &RunRecord) {
    let c = &run.counts;
    let duration_ms = run
        .finished_at
        .map(|f| (f - run.started_at).num_milliseconds().max(0))
        .unwrap_or(0);
    tracing::info!(
        event = events::RUN_SUMMARY,
        tenant_id = %run.source_tenant_id,
        job = %run.job,
        run_id = %run.run_id,
        outcome = run.outcome.as_str(),
        duration_ms,
        dry_run = run.dry_run,
        created = c.created,
        adopted = c.adopted,
        updated = c.updated,
        deprovisioned = c.deprovisioned,
        restored = c.restored,
        disabled = c.disabled,
        enabled = c.enabled,
        photos_copied = c.photos_copied,
        photos_removed = c.photos_removed,
        redeemed = c.redeemed,
        unchanged = c.unchanged,
        failed = c.failed,
        throttled = c.throttled,
        held_back = c.held_back,
        "run finished"
    );
}

fn writer(ctx: &SyncContext, host: &TenantGraph) -> Arc<dyn HostWriter> {
    if ctx.dry_run {
        Arc::new(DryRunWriter)
    } else {
        Arc::new(GraphWriter(host.clone()))
    }
}

fn executor(
    ctx: &SyncContext,
    tenant: Guid,
    run_id: uuid::Uuid,
    writer: Arc<dyn HostWriter>,
    records: &[GuestRecord],
) -> Executor {
    Executor {
        tenant,
        run_id,
        writer,
        store: ctx.store.clone(),
        clock: ctx.clock.clone(),
        redirect_url: ctx.settings.invite_redirect_url.clone(),
        host_group: ctx.settings.host_group_id,
        before: records
            .iter()
            .map(|r| (r.source_user_id, r.clone()))
            .collect(),
        concurrency: ctx.concurrency,
    }
}

/// Reads both sides and computes the reconcile plan (no writes). Used by
/// `guest-sync plan` and by the reconcile job.
pub async fn compute_plan(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    progress: &dyn Progress,
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
    let host_picture = read::read_host(&host, opts, ctx.settings.host_group_id, progress).await?;
    let records = ctx
        .store
        .list_guests(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?;
    let policy = PlanPolicy::new(
        opts.clone(),
        ctx.settings.deprovision,
        ctx.settings.max_deprovisions,
        tenant.guard.as_ref(),
        ctx.clock.now(),
    );
    progress.phase("plan", None);
    let plan = plan::plan(tenant.tenant_id, &picture, &records, &host_picture, &policy);
    Ok(ComputedPlan {
        plan,
        records,
        host,
        source_complete: picture.complete,
        read_error,
    })
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
}

async fn reconcile(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    pass: u64,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let ComputedPlan {
        plan,
        records,
        host,
        source_complete,
        read_error,
    } = compute_plan(ctx, tenant, progress).await?;
    let w = writer(ctx, &host);
    update_guard(ctx, tenant, run_id, &plan, source_complete, w.persists()).await?;
    let exec = executor(ctx, tenant.tenant_id, run_id, w.clone(), &records);
    let rep = exec.execute(&plan, deadline, progress).await;
    if let Some(e) = rep.fatal {
        return Err(e);
    }
    let mut counts = rep.counts;
    counts.unchanged += plan.unchanged;
    counts.held_back += plan.held_back.len() as u64;
    let more =
        w.persists() && (rep.not_started > 0 || (rep.transient_failures > 0 && pass < MAX_PASSES));
    let outcome = if more {
        RunOutcome::Continued
    } else if counts.failed > 0 || read_error.is_some() {
        RunOutcome::Partial
    } else {
        RunOutcome::Succeeded
    };
    Ok(JobOutcome {
        counts,
        cursor: more.then(|| json!({ "pass": pass + 1 })),
        outcome,
        guard: plan.guard,
        dry_run: !w.persists(),
    })
}

/// Keeps the tenant's guard hold in step with the plan: set (and alert)
/// when the guard trips, cleared when removals went ahead or nothing is
/// held back any more.
async fn update_guard(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    plan: &plan::Plan,
    complete: bool,
    persist: bool,
) -> Result<(), SyncError> {
    if let Some(g) = plan.guard {
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
    let wanted_hold = match plan.guard {
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
    let Some(mut t) = ctx
        .store
        .get_tenant(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?
    else {
        return Ok(());
    };
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

/// The photo job: copies changed photos (media ETag differs from the one
/// recorded), removes photos gone from the source, skips guests inside the
/// cool-down. Works through the in-scope users in id order, a chunk at a
/// time; the cursor is the last user id done.
async fn photos(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    after: Option<Guid>,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let opts = &tenant.options;
    let mut counts = RunCounts::default();
    let done = |counts: RunCounts, outcome| JobOutcome {
        counts,
        cursor: None,
        outcome,
        guard: None,
        dry_run: ctx.dry_run,
    };
    if !opts.photos || opts.offboarding {
        return Ok(done(counts, RunOutcome::Succeeded));
    }
    let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let w = writer(ctx, &host);
    let (picture, _) = read::read_source(&src, tenant.group_id, opts, progress).await?;
    let records = ctx
        .store
        .list_guests(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?;
    let managed: HashMap<Guid, &GuestRecord> = records
        .iter()
        .filter(|r| r.host_user_id.is_some() && r.state != GuestState::Deprovisioned)
        .map(|r| (r.source_user_id, r))
        .collect();
    let ids: Vec<Guid> = picture
        .users
        .iter()
        .filter(|u| plan::in_scope(opts, u) && managed.contains_key(&u.id))
        .map(|u| u.id)
        .filter(|id| after.is_none_or(|a| *id > a))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    progress.phase("photos", Some(ids.len() as u64));
    let conc = ctx.concurrency.max(1);
    for chunk in ids.chunks(PHOTO_CHUNK) {
        if tokio::time::Instant::now() >= deadline && w.persists() {
            let last = chunk.first().copied();
            // Resume before this chunk: the last id fully done precedes it.
            let cursor = ids
                .iter()
                .take_while(|i| Some(**i) != last)
                .last()
                .map(|i| json!({ "after": i.to_string() }))
                .unwrap_or_else(|| json!({}));
            return Ok(JobOutcome {
                counts,
                cursor: Some(cursor),
                outcome: RunOutcome::Continued,
                guard: None,
                dry_run: false,
            });
        }
        // 1. Source photo metadata for the chunk.
        let metas: Vec<(Guid, Result<Option<String>, GraphError>)> =
            futures::stream::iter(chunk.iter().copied())
                .map(|id| {
                    let src = &src;
                    async move {
                        (
                            id,
                            src.photo_meta(id)
                                .await
                                .map(|m| m.and_then(|m| m.media_etag)),
                        )
                    }
                })
                .buffer_unordered(conc)
                .collect()
                .await;
        let mut users: Vec<SourceUser> = Vec::new();
        for (id, m) in metas {
            match m {
                Ok(etag) => {
                    if let Some(u) = picture.users.iter().find(|u| u.id == id) {
                        users.push(SourceUser {
                            photo_etag: etag,
                            ..u.clone()
                        });
                    }
                }
                Err(e) => {
                    if is_fatal(&e) {
                        return Err(SyncError::graph("reading source photos", e));
                    }
                    counts.failed += 1;
                }
            }
        }
        // 2. Plan and apply.
        let chunk_records: Vec<GuestRecord> = users
            .iter()
            .filter_map(|u| managed.get(&u.id).map(|r| (*r).clone()))
            .collect();
        let p = plan::plan_photos(
            &users,
            &chunk_records,
            &HashMap::new(),
            opts,
            ctx.clock.now(),
        );
        counts.unchanged += p.unchanged;
        let results: Vec<Result<RunCounts, SyncError>> = futures::stream::iter(0..p.actions.len())
            .map(|i| {
                photo_action(
                    ctx,
                    tenant.tenant_id,
                    run_id,
                    &src,
                    w.as_ref(),
                    &p.actions[i],
                )
                .boxed()
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        for r in results {
            counts.add(&r?);
        }
        progress.inc(chunk.len() as u64);
    }
    let outcome = if counts.failed > 0 {
        RunOutcome::Partial
    } else {
        RunOutcome::Succeeded
    };
    Ok(done(counts, outcome))
}

/// Copies or removes one photo, records it (photo fields only, with
/// optimistic concurrency against the reconcile job) and audits it.
async fn photo_action(
    ctx: &SyncContext,
    tenant: Guid,
    run_id: uuid::Uuid,
    src: &TenantGraph,
    w: &dyn HostWriter,
    a: &plan::PhotoAction,
) -> Result<RunCounts, SyncError> {
    let mut counts = RunCounts::default();
    let (op, r, etag) = match &a.kind {
        PhotoActionKind::Copy { etag } => match src.photo(a.source_user_id).await {
            Ok(Some(photo)) => (
                "photo-put",
                w.put_photo(a.host_id, photo.bytes, &photo.content_type)
                    .await,
                Some(etag.clone()),
            ),
            // Removed between the metadata read and now: the next run sees it.
            Ok(None) => return Ok(counts),
            Err(e) if is_fatal(&e) => {
                return Err(SyncError::graph("reading a source photo", e));
            }
            Err(_) => {
                counts.failed += 1;
                return Ok(counts);
            }
        },
        PhotoActionKind::Remove => ("photo-delete", w.delete_photo(a.host_id).await, None),
    };
    let entry = AuditEntry {
        at: ctx.clock.now(),
        run_id,
        source_tenant_id: tenant,
        source_user_id: Some(a.source_user_id),
        target_id: Some(a.host_id),
        target_upn: None,
        operation: op.to_string(),
        outcome: match &r {
            Ok(()) => w.outcome_label().to_string(),
            Err(_) => "failed".to_string(),
        },
        detail: r.as_ref().err().map(|e| e.to_string()),
        client_request_id: r.as_ref().err().map(|e| e.client_request_id().to_string()),
    };
    ctx.store
        .append_audit(&[entry])
        .await
        .map_err(SyncError::Store)?;
    match r {
        Err(e) if is_fatal(&e) => return Err(SyncError::graph("writing a photo", e)),
        Err(_) => {
            counts.failed += 1;
            return Ok(counts);
        }
        Ok(()) => {}
    }
    match etag {
        Some(_) => counts.photos_copied += 1,
        None => counts.photos_removed += 1,
    }
    if w.persists() {
        let now = ctx.clock.now();
        for _ in 0..5 {
            let Some(v) = ctx
                .store
                .get_guest_versioned(tenant, a.source_user_id)
                .await
                .map_err(SyncError::Store)?
            else {
                break;
            };
            let mut rec = v.record;
            rec.photo_etag = etag.clone();
            rec.photo_copied_at = Some(now);
            match ctx.store.put_guest_if(&rec, Some(&v.version)).await {
                Ok(_) => break,
                Err(crate::store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(SyncError::Store(e)),
            }
        }
    }
    Ok(counts)
}

/// The redemption job: records still `invited` whose guest redeemed become
/// `accepted` with the date; then the display name that redemption
/// overwrote is re-applied for those guests (rules 3 and 8).
async fn redemption(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let mut counts = RunCounts::default();
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let opts = &tenant.options;
    let records = ctx
        .store
        .list_guests(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?;
    let waiting: BTreeSet<Guid> = records
        .iter()
        .filter(|r| r.state == GuestState::Invited)
        .filter_map(|r| r.host_user_id)
        .collect();
    progress.phase("redemption", Some(waiting.len() as u64));
    let mut guests = Vec::new();
    if !waiting.is_empty() {
        let sel = host_select(opts);
        let refs: Vec<&str> = sel.iter().map(String::as_str).collect();
        let read = host
            .for_each_guest_page(&refs, |page| {
                guests.extend(
                    page.into_iter()
                        .filter(|u| waiting.contains(&u.id))
                        .map(to_host_guest),
                );
            })
            .await;
        if let Some(e) = read.error {
            return Err(SyncError::graph("reading the host's guests", e));
        }
    }
    let redeemed = plan::plan_redemption(&records, &guests, ctx.clock.now());
    progress.inc(waiting.len() as u64);
    counts.redeemed = redeemed.len() as u64;
    let persist = !ctx.dry_run;
    if persist && !redeemed.is_empty() {
        ctx.store
            .put_guests(&redeemed)
            .await
            .map_err(SyncError::Store)?;
    }
    // Re-apply the profile (display name) of the guests that just redeemed.
    let mut outcome = RunOutcome::Succeeded;
    if !redeemed.is_empty() && !opts.offboarding {
        let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
        let sel = source_select(opts);
        let users: Vec<SourceUser> = futures::stream::iter(
            redeemed
                .iter()
                .map(|r| r.source_user_id)
                .collect::<Vec<Guid>>(),
        )
        .map(|id| {
            let src = &src;
            let sel = &sel;
            async move {
                let refs: Vec<&str> = sel.iter().map(String::as_str).collect();
                src.get_user(id, &refs).await
            }
            .boxed()
        })
        .buffer_unordered(ctx.concurrency.max(1))
        .filter_map(|r| async move { r.ok().and_then(to_source_user) })
        .collect()
        .await;
        let hosts: BTreeSet<Guid> = redeemed.iter().filter_map(|r| r.host_user_id).collect();
        let host_picture = HostPicture {
            guests: guests
                .into_iter()
                .filter(|g| hosts.contains(&g.id))
                .collect(),
            deleted: vec![],
            group_members: None,
        };
        let subset: Vec<GuestRecord> = if persist {
            redeemed.clone()
        } else {
            records
                .iter()
                .filter(|r| r.host_user_id.is_some_and(|h| hosts.contains(&h)))
                .cloned()
                .collect()
        };
        let policy = PlanPolicy::new(
            opts.clone(),
            ctx.settings.deprovision,
            ctx.settings.max_deprovisions,
            None,
            ctx.clock.now(),
        );
        let p = plan::plan(
            tenant.tenant_id,
            &SourcePicture {
                users,
                complete: false,
            },
            &subset,
            &host_picture,
            &policy,
        );
        let w = writer(ctx, &host);
        let exec = executor(ctx, tenant.tenant_id, run_id, w, &subset);
        let rep = exec.execute(&p, deadline, progress).await;
        if let Some(e) = rep.fatal {
            return Err(e);
        }
        counts.updated += rep.counts.updated;
        counts.failed += rep.counts.failed;
        if rep.counts.failed > 0 || rep.not_started > 0 {
            outcome = RunOutcome::Partial;
        }
    }
    Ok(JobOutcome {
        counts,
        cursor: None,
        outcome,
        guard: None,
        dry_run: ctx.dry_run,
    })
}

/// Provisions one source user now (`preview` = plan only), like Entra's
/// "provision on demand": reads the user (object id or UPN) and its group
/// membership, finds its guest in the host (by record, then by address),
/// plans, and applies. A user out of scope is reported and left alone.
pub async fn provision_user(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    user: &str,
    preview: bool,
) -> Result<ProvisionOutcome, SyncError> {
    let opts = &tenant.options;
    let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
    let sel = source_select(opts);
    let refs: Vec<&str> = sel.iter().map(String::as_str).collect();
    let found = match Guid::parse_named(user, "user") {
        Ok(id) => match src.get_user(id, &refs).await {
            Ok(u) => Some(u),
            Err(GraphError::NotFound { .. }) => None,
            Err(e) => return Err(SyncError::graph("reading the source user", e)),
        },
        Err(_) => src
            .get_user_by_upn(user, &refs)
            .await
            .map_err(|e| SyncError::graph("reading the source user", e))?,
    };
    let gu = found.ok_or_else(|| SyncError::UserNotFound(user.to_string()))?;
    let su = to_source_user(gu).ok_or_else(|| SyncError::Tenant {
        tenant: tenant.tenant_id,
        problem: "the source app cannot read userPrincipalName: grant it User.Read.All".into(),
    })?;
    let mut member = false;
    let read = src
        .for_each_group_member_page(tenant.group_id, &["id"], |page| {
            member |= page.iter().any(|u| u.id == su.id);
        })
        .await;
    if let (Some(e), false) = (read.error, member) {
        return Err(SyncError::graph("reading the source group", e));
    }
    let in_scope = member && plan::in_scope(opts, &su) && !opts.offboarding;

    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let hsel = host_select(opts);
    let hrefs: Vec<&str> = hsel.iter().map(String::as_str).collect();
    let record = ctx
        .store
        .get_guest(tenant.tenant_id, su.id)
        .await
        .map_err(SyncError::Store)?;
    let mut host_picture = HostPicture::default();
    if let Some(h) = record.as_ref().and_then(|r| r.host_user_id) {
        match host.get_user(h, &hrefs).await {
            Ok(u) => host_picture.guests.push(to_host_guest(u)),
            Err(GraphError::NotFound { .. }) => {
                host_picture.deleted = host
                    .list_deleted_users(&[
                        "displayName",
                        "mail",
                        "userPrincipalName",
                        "accountEnabled",
                        "deletedDateTime",
                    ])
                    .await
                    .map_err(|e| SyncError::graph("reading the host's deleted users", e))?
                    .into_iter()
                    .filter(|d| d.id == h)
                    .map(read::to_deleted)
                    .collect();
            }
            Err(e) => return Err(SyncError::graph("reading the guest", e)),
        }
    }
    let address = plan::invite_address(opts, &su.upn, su.mail.as_deref());
    for u in host
        .find_users_by_address(&address, &hrefs)
        .await
        .map_err(|e| SyncError::graph("looking up the guest by address", e))?
    {
        if !host_picture.guests.iter().any(|g| g.id == u.id) {
            host_picture.guests.push(to_host_guest(u));
        }
    }
    if let Some(gid) = ctx.settings.host_group_id {
        let mut set = BTreeSet::new();
        let read = host
            .for_each_group_member_page(gid, &["id"], |page| {
                set.extend(page.into_iter().map(|u| u.id));
            })
            .await;
        if let Some(e) = read.error {
            return Err(SyncError::graph("reading the host group's members", e));
        }
        host_picture.group_members = Some(set);
    }
    let records: Vec<GuestRecord> = record.iter().cloned().collect();
    let policy = PlanPolicy::new(
        opts.clone(),
        ctx.settings.deprovision,
        ctx.settings.max_deprovisions,
        None,
        ctx.clock.now(),
    );
    let picture = SourcePicture {
        users: if in_scope { vec![su.clone()] } else { vec![] },
        complete: false,
    };
    let p = plan::plan(tenant.tenant_id, &picture, &records, &host_picture, &policy);
    if preview {
        return Ok(ProvisionOutcome {
            source_user_id: su.id,
            in_scope,
            plan: p,
            applied: false,
            counts: RunCounts::default(),
            record,
        });
    }
    let w = writer(ctx, &host);
    let persists = w.persists();
    let exec = executor(ctx, tenant.tenant_id, uuid::Uuid::new_v4(), w, &records);
    let far = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
    let rep = exec.execute(&p, far, &super::NoProgress).await;
    if let Some(e) = rep.fatal {
        return Err(e);
    }
    let after = if persists {
        ctx.store
            .get_guest(tenant.tenant_id, su.id)
            .await
            .map_err(SyncError::Store)?
    } else {
        record
    };
    Ok(ProvisionOutcome {
        source_user_id: su.id,
        in_scope,
        plan: p,
        applied: persists,
        counts: rep.counts,
        record: after,
    })
}
