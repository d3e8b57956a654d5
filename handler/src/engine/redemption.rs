//! The redemption job: invited guests who redeemed become `accepted` (a
//! disabled guest who redeemed gets its date and stays disabled), each with
//! a `redeemed` audit entry, and the display name redemption overwrote is
//! re-applied. Guests redeemed automatically at invitation are recorded by
//! the reconcile run that invited them.
use std::collections::BTreeSet;

use futures::{FutureExt, StreamExt};

use crate::domain::plan::{self, HostPicture, PlanPolicy, SourcePicture, SourceUser};
use crate::domain::{
    AuditEntry, GuestRecord, GuestState, Guid, RunCounts, RunOutcome, SourceTenant,
};

use super::read::{host_select, source_select, to_host_guest, to_source_user};
use super::run::{executor, writer};
use super::{host_credentials, source_credentials, JobOutcome, Progress, SyncContext, SyncError};

/// The redemption job: records still `invited` whose guest redeemed become
/// `accepted` with the date; then the display name that redemption
/// overwrote is re-applied for those guests (rules 3 and 8).
pub(super) async fn redemption(
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
        .filter(|r| plan::awaits_redemption(r))
        .filter_map(|r| r.host_user_id)
        .collect();
    progress.phase("redemption", Some(waiting.len() as u64));
    let mut guests = Vec::new();
    if !waiting.is_empty() {
        let anchor = ctx.settings.anchor_attribute.as_ref();
        let sel = host_select(opts, anchor);
        let refs: Vec<&str> = sel.iter().map(String::as_str).collect();
        let read = host
            .for_each_guest_page(&refs, |page| {
                guests.extend(
                    page.into_iter()
                        .filter(|u| waiting.contains(&u.id))
                        .map(|u| to_host_guest(u, anchor)),
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
    if persist {
        let mut audit = Vec::new();
        for r in &redeemed {
            if mark_accepted(ctx, r).await? {
                audit.push(AuditEntry {
                    at: ctx.clock.now(),
                    run_id,
                    source_tenant_id: r.source_tenant_id,
                    source_user_id: Some(r.source_user_id),
                    target_id: r.host_user_id,
                    target_upn: r.host_upn.clone(),
                    operation: "redeemed".into(),
                    outcome: "ok".into(),
                    detail: Some("the guest shows externalUserState Accepted".into()),
                    client_request_id: None,
                });
            }
        }
        if !audit.is_empty() {
            ctx.store
                .append_audit(&audit)
                .await
                .map_err(SyncError::Store)?;
        }
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
            anchor_unreadable: None,
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
        )
        .with_anchor(ctx.settings.anchor_attribute.clone());
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
        let exec = executor(
            ctx,
            tenant.tenant_id,
            run_id,
            w,
            std::sync::Arc::new(subset),
        );
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
        attention: None,
        warning: None,
    })
}

/// Stores a redemption: only the state (`invited` becomes `accepted`; a
/// `disabled` record keeps its state) and the date change, with optimistic
/// concurrency so a reconcile or photo job writing the same record at the
/// same time loses nothing. True when this call recorded it.
async fn mark_accepted(ctx: &SyncContext, r: &GuestRecord) -> Result<bool, SyncError> {
    for _ in 0..5 {
        let Some(v) = ctx
            .store
            .get_guest_versioned(r.source_tenant_id, r.source_user_id)
            .await
            .map_err(SyncError::Store)?
        else {
            return Ok(false);
        };
        if !plan::awaits_redemption(&v.record) || v.record.host_user_id != r.host_user_id {
            return Ok(false);
        }
        let mut rec = v.record;
        if rec.state == GuestState::Invited {
            rec.state = GuestState::Accepted;
        }
        rec.redeemed_at = r.redeemed_at;
        match ctx.store.put_guest_if(&rec, Some(&v.version)).await {
            Ok(_) => return Ok(true),
            Err(crate::store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(SyncError::Store(e)),
        }
    }
    Ok(false)
}
