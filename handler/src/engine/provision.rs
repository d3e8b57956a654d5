//! Provision one source user now (`provision` function, on demand).
use std::collections::BTreeSet;

use crate::domain::plan::{self, HostPicture, PlanPolicy, SourcePicture};
use crate::domain::{GuestRecord, Guid, RunCounts, SourceTenant};
use crate::graph::GraphError;

use super::read::{self, host_select, source_select, to_host_guest, to_source_user};
use super::run::{executor, writer};
use super::{host_credentials, source_credentials, ProvisionOutcome, SyncContext, SyncError};

/// Provisions one source user now (`preview` = plan only), like Entra's
/// "provision on demand": reads the user (object id or UPN) and its group
/// membership, finds its guest in the host (by record, then by address),
/// plans, and applies. A user out of scope is reported and left alone.
#[tracing::instrument(name = "provision", skip_all, fields(tenant_id = %tenant.tenant_id, preview))]
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
    let anchor = ctx.settings.anchor_attribute.as_ref();
    let hsel = host_select(opts, anchor);
    let hrefs: Vec<&str> = hsel.iter().map(String::as_str).collect();
    let record = ctx
        .store
        .get_guest(tenant.tenant_id, su.id)
        .await
        .map_err(SyncError::Store)?;
    let mut host_picture = HostPicture::default();
    if let Some(h) = record.as_ref().and_then(|r| r.host_user_id) {
        match host.get_user(h, &hrefs).await {
            Ok(u) => host_picture.guests.push(to_host_guest(u, anchor)),
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
                    .map(|u| read::to_deleted(u, anchor))
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
            host_picture.guests.push(to_host_guest(u, anchor));
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
    )
    .with_anchor(ctx.settings.anchor_attribute.clone());
    let picture = SourcePicture {
        users: if in_scope { vec![su.clone()] } else { vec![] },
        complete: false,
    };
    let mut p = plan::plan(tenant.tenant_id, &picture, &records, &host_picture, &policy);
    // Only this user: a guest found by address may carry another user's
    // anchor, which the full reconcile re-links with everything in view.
    p.actions.retain(|a| a.source_user_id == su.id);
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
    let exec = executor(
        ctx,
        tenant.tenant_id,
        uuid::Uuid::new_v4(),
        w,
        std::sync::Arc::new(records),
    );
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
