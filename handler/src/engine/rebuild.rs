//! `guest-sync store rebuild`: guest records re-made from the ownership
//! anchors in the host (design rule 11, `docs/engine.md` "Ownership
//! anchor"). Reads both sides, writes nothing to Graph: each host user
//! anchored to the tenant that no record links gets its record back as
//! *managed* (or *held* when found disabled). A reconcile does the same
//! on its own; this command does it at once, for every tenant, and says
//! how many.
use crate::domain::plan::{relink_records, PlanPolicy, SourcePicture};
use crate::domain::{GuestRecord, GuestState, SourceTenant};

use super::{host_credentials, read, source_credentials, Progress, SyncContext, SyncError};

/// What a rebuild found for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Records re-made (managed, or held when found disabled).
    pub relinked: u64,
    /// Of those, held.
    pub held: u64,
    /// Records already there (left as they are).
    pub kept: u64,
    /// Whether the source read was complete (an incomplete one still
    /// re-links; the anchor needs no source).
    pub source_complete: bool,
}

/// Re-makes the missing records of one tenant from the host's anchors;
/// `apply = false` only counts.
pub async fn rebuild_records(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    apply: bool,
    progress: &dyn Progress,
) -> Result<Rebuilt, SyncError> {
    let Some(anchor) = ctx.settings.anchor_attribute.clone() else {
        return Err(SyncError::Tenant {
            tenant: tenant.tenant_id,
            problem: "GUESTSYNC_ANCHOR_ATTRIBUTE is none: there are no anchors to rebuild from"
                .into(),
        });
    };
    let opts = &tenant.options;
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let picture = if opts.offboarding {
        SourcePicture {
            users: vec![],
            complete: true,
        }
    } else {
        let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
        read::read_source(&src, tenant.group_id, opts, progress)
            .await?
            .0
    };
    let host_picture = read::read_host(
        &host,
        opts,
        ctx.settings.host_group_id,
        Some(&anchor),
        progress,
    )
    .await?;
    // Every tenant's records: a host user another tenant links is not
    // this tenant's to re-link, whatever its anchor says.
    let mut records: Vec<GuestRecord> = Vec::new();
    for t in ctx.store.list_tenants().await.map_err(SyncError::Store)? {
        records.extend(
            ctx.store
                .list_guests(t.tenant_id)
                .await
                .map_err(SyncError::Store)?,
        );
    }
    let kept = records
        .iter()
        .filter(|r| r.source_tenant_id == tenant.tenant_id)
        .count() as u64;
    let policy = PlanPolicy::new(
        opts.clone(),
        ctx.settings.deprovision,
        ctx.settings.max_deprovisions,
        None,
        ctx.clock.now(),
    )
    .with_anchor(Some(anchor));
    let relinked = relink_records(tenant.tenant_id, &picture, &records, &host_picture, &policy);
    progress.phase("store", Some(relinked.len() as u64));
    if apply && !relinked.is_empty() {
        ctx.store
            .put_guests(&relinked)
            .await
            .map_err(SyncError::Store)?;
    }
    progress.inc(relinked.len() as u64);
    Ok(Rebuilt {
        relinked: relinked.len() as u64,
        held: relinked
            .iter()
            .filter(|r| r.state == GuestState::Held)
            .count() as u64,
        kept,
        source_complete: picture.complete,
    })
}
