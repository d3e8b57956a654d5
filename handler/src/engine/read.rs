//! Reading the two sides for the planner: the source group's in-scope users
//! and the host's guests, deleted users and host group members, turned
//! from Graph objects into the planner's plain values
//! ([`SourceUser`], [`HostGuest`], [`DeletedHostUser`]).
use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;

use crate::domain::plan::{DeletedHostUser, HostGuest, HostPicture, SourcePicture, SourceUser};
use crate::domain::{
    Anchor, AnchorAttribute, Attrs, GuestRecord, GuestState, Guid, MappingSource, TenantOptions,
};
use crate::graph::{GraphError, GraphUser, TenantGraph, DEFAULT_USER_SELECT, GUEST_SELECT};

use super::{Progress, SyncError};

/// The properties read from source users: the defaults plus every source
/// attribute the tenant's mapping reads.
pub fn source_select(opts: &TenantOptions) -> Vec<String> {
    let mut v: Vec<String> = DEFAULT_USER_SELECT.iter().map(|s| s.to_string()).collect();
    for m in &opts.attribute_mapping {
        if let MappingSource::Attribute { name, .. } = &m.source {
            if !v.contains(name) {
                v.push(name.clone());
            }
        }
    }
    v
}

/// The properties read from host guests: adoption, redemption and every
/// mapped target (the profile is compared with these actual values).
pub fn host_select(opts: &TenantOptions, anchor: Option<&AnchorAttribute>) -> Vec<String> {
    let mut v: Vec<String> = GUEST_SELECT.iter().map(|s| s.to_string()).collect();
    if let Some(a) = anchor {
        v.push(a.select_name().to_string());
    }
    for m in &opts.attribute_mapping {
        if !v.contains(&m.target) {
            v.push(m.target.clone());
        }
    }
    v
}

/// The attribute names the planner reads from source users (mapping
/// sources, and `displayName` for the invitation).
pub(super) fn source_keep(opts: &TenantOptions) -> BTreeSet<String> {
    let mut k: BTreeSet<String> = opts
        .attribute_mapping
        .iter()
        .filter_map(|m| match &m.source {
            MappingSource::Attribute { name, .. } => Some(name.clone()),
            MappingSource::Constant { .. } => None,
        })
        .collect();
    k.insert("displayName".into());
    k
}

/// The attribute names the planner compares on host guests (the mapped
/// targets).
pub(super) fn host_keep(opts: &TenantOptions) -> BTreeSet<String> {
    opts.attribute_mapping
        .iter()
        .map(|m| m.target.clone())
        .collect()
}

/// Drops the attributes the planner never reads: at 100,000 users the
/// pictures must stay small (the typed fields are already extracted).
pub(super) fn trim(attrs: &mut Attrs, keep: &BTreeSet<String>) {
    attrs.retain(|k, _| keep.contains(k));
}

pub(super) fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A source user as the planner sees it; None when Graph gave no UPN (the
/// source app lacks `User.Read.All`: members come back with ids only).
pub fn to_source_user(u: GraphUser) -> Option<SourceUser> {
    let upn = u.user_principal_name()?.to_string();
    Some(SourceUser {
        id: u.id,
        mail: u.mail().map(str::to_string),
        account_enabled: u.account_enabled().unwrap_or(true),
        user_type: u.user_type().unwrap_or("Member").to_string(),
        upn,
        attrs: Attrs::from(u.attrs),
        photo_etag: None,
    })
}

/// A live host user as the planner sees it.
pub fn to_host_guest(u: GraphUser, anchor: Option<&AnchorAttribute>) -> HostGuest {
    HostGuest {
        anchor: anchor
            .and_then(|a| a.read(&u.attrs))
            .and_then(Anchor::parse),
        id: u.id,
        upn: u.user_principal_name().unwrap_or_default().to_string(),
        mail: u.mail().map(str::to_string),
        other_mails: u.other_mails().into_iter().map(str::to_string).collect(),
        account_enabled: u.account_enabled().unwrap_or(true),
        user_type: u.user_type().unwrap_or("Guest").to_string(),
        external_user_state: u.external_user_state().map(str::to_string),
        external_user_state_changed_at: u.external_user_state_changed(),
        created_at: u.created(),
        attrs: Attrs::from(u.attrs),
    }
}

/// A deleted host user as the planner sees it.
pub fn to_deleted(u: GraphUser, anchor: Option<&AnchorAttribute>) -> DeletedHostUser {
    let anchor_value = anchor
        .and_then(|a| a.read(&u.attrs))
        .and_then(Anchor::parse);
    let deleted_at = u
        .str("deletedDateTime")
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
    DeletedHostUser {
        anchor: anchor_value,
        id: u.id,
        upn: u.user_principal_name().map(str::to_string),
        mail: u.mail().map(str::to_string),
        deleted_at,
        account_enabled: u.account_enabled().unwrap_or(true),
        attrs: Attrs::from(u.attrs),
    }
}

/// Reads the source group's transitive user members. A read that fails
/// part-way gives an incomplete picture (which deprovisions nobody); a read
/// that fails before any page is an error. Users without a UPN make the
/// picture incomplete too.
pub async fn read_source(
    g: &TenantGraph,
    group: Guid,
    opts: &TenantOptions,
    progress: &dyn Progress,
) -> Result<(SourcePicture, Option<GraphError>), SyncError> {
    let select = source_select(opts);
    let keep = source_keep(opts);
    let mut users = Vec::new();
    let mut missing_upn = 0u64;
    progress.phase("read source", None);
    let read = g
        .for_each_group_member_page(group, &as_refs(&select), |page| {
            progress.inc(page.len() as u64);
            for u in page {
                match to_source_user(u) {
                    Some(mut s) => {
                        trim(&mut s.attrs, &keep);
                        users.push(s);
                    }
                    None => missing_upn += 1,
                }
            }
        })
        .await;
    // Held for the whole plan: give back the growth room.
    users.shrink_to_fit();
    if let Some(e) = read.error {
        if read.pages == 0 {
            return Err(SyncError::graph("reading the source group", e));
        }
        tracing::warn!(group_id = %group, pages = read.pages, error = %e, "source group read stopped part-way; no guest is deprovisioned this run");
        return Ok((
            SourcePicture {
                users,
                complete: false,
            },
            Some(e),
        ));
    }
    // Graph's own count of the members disagrees with the rows read: a
    // change between pages, or a page lost; treat the read as incomplete
    // (nobody is removed on it). Transitive members can repeat (a user in
    // two nested groups), so only fewer rows than counted is a gap.
    let problem = if let Some(expected) = read.reported_count.filter(|n| read.items < *n) {
        tracing::warn!(group_id = %group, expected, read = read.items, "source group read fewer members than Graph counted; no guest is deprovisioned this run");
        Some(GraphError::InvalidResponse {
            what: format!(
                "the source group's @odata.count is {expected} but {} member(s) were read; removals are held until a complete read",
                read.items
            ),
            ctx: member_read_context(),
        })
    } else if missing_upn > 0 {
        tracing::warn!(group_id = %group, missing_upn, "source members came back without userPrincipalName (does the source app have User.Read.All?); nothing is written this run");
        // Graph answers members with id only when the app lacks
        // User.Read.All: that is a lost permission, not an empty profile.
        Some(GraphError::Forbidden {
            missing_permission: Some("User.Read.All".into()),
            detail: format!(
                "{missing_upn} source member(s) came back with id only: the source app has lost User.Read.All (grant admin consent again); nothing was written this run"
            ),
            ctx: member_read_context(),
        })
    } else {
        None
    };
    Ok((
        SourcePicture {
            users,
            complete: problem.is_none(),
        },
        problem,
    ))
}

/// The context of a problem found in a member read that Graph answered.
fn member_read_context() -> crate::graph::ErrorContext {
    crate::graph::ErrorContext {
        operation: "read the source group's members",
        status: Some(200),
        client_request_id: uuid::Uuid::nil(),
        graph_code: None,
    }
}

/// Reads the host: every guest, the deleted users and, when configured,
/// the host group's members.
pub async fn read_host(
    g: &TenantGraph,
    opts: &TenantOptions,
    host_group: Option<Guid>,
    anchor: Option<&AnchorAttribute>,
    progress: &dyn Progress,
) -> Result<HostPicture, SyncError> {
    let keep = host_keep(opts);
    progress.phase("read host", None);
    let mut anchor = anchor;
    let mut anchor_unreadable = None;
    let mut guests = Vec::new();
    let select = loop {
        let select = host_select(opts, anchor);
        let read = g
            .for_each_guest_page(&as_refs(&select), |page| {
                progress.inc(page.len() as u64);
                guests.extend(page.into_iter().map(|u| {
                    let mut h = to_host_guest(u, anchor);
                    trim(&mut h.attrs, &keep);
                    h
                }));
            })
            .await;
        match (read.error, anchor) {
            (None, _) => break select,
            // Graph refused to select the anchor attribute (an extension
            // that does not exist): read without it, say so, and leave
            // anchors alone this run rather than failing every run.
            (Some(e), Some(a)) if read.pages == 0 && e.status() == Some(400) => {
                tracing::warn!(attribute = %a, error = %e, "Graph refused to select the ownership anchor attribute; reading without it");
                anchor_unreadable = Some(format!(
                    "Graph refused to read the ownership anchor attribute {a} ({e}); anchors are neither read nor written: create the attribute or set GUESTSYNC_ANCHOR_ATTRIBUTE"
                ));
                anchor = None;
                guests.clear();
            }
            (Some(e), _) => return Err(SyncError::graph("reading the host's guests", e)),
        }
    };
    let mut deleted_select = select.clone();
    deleted_select.push("deletedDateTime".into());
    let deleted = g
        .list_deleted_users(&as_refs(&deleted_select))
        .await
        .map_err(|e| SyncError::graph("reading the host's deleted users", e))?
        .into_iter()
        .map(|u| {
            let mut d = to_deleted(u, anchor);
            trim(&mut d.attrs, &keep);
            d
        })
        .collect();
    let group_members = match host_group {
        None => None,
        Some(gid) => {
            let mut set = BTreeSet::new();
            let read = g
                .for_each_group_member_page(gid, &["id"], |page| {
                    set.extend(page.into_iter().map(|u| u.id));
                })
                .await;
            if let Some(e) = read.error {
                return Err(SyncError::graph("reading the host group's members", e));
            }
            Some(set)
        }
    };
    guests.shrink_to_fit();
    Ok(HostPicture {
        guests,
        deleted,
        group_members,
        anchor_unreadable,
    })
}

/// Managed guests the listing did not show are looked up by id: a listing
/// (an advanced query) can lag behind objects created moments ago, and
/// guests invited as `Member` are not in a guest listing at all. Without
/// this they would be invited again. Ids Graph does not know stay missing
/// (the planner then re-invites or restores).
pub async fn add_unlisted(
    g: &TenantGraph,
    host: &mut HostPicture,
    records: &[GuestRecord],
    opts: &TenantOptions,
    anchor: Option<&AnchorAttribute>,
    concurrency: usize,
) -> Result<(), SyncError> {
    let known: HashSet<Guid> = host
        .guests
        .iter()
        .map(|h| h.id)
        .chain(host.deleted.iter().map(|d| d.id))
        .collect();
    let missing: BTreeSet<Guid> = records
        .iter()
        .filter(|r| r.state != GuestState::Deprovisioned)
        .filter_map(|r| r.host_user_id)
        .filter(|id| !known.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let select = host_select(opts, anchor);
    let refs = as_refs(&select);
    let keep = host_keep(opts);
    let found: Vec<(Guid, Result<GraphUser, GraphError>)> = futures::stream::iter(missing)
        .map(|id| {
            let refs = &refs;
            async move { (id, g.get_user(id, refs).await) }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (id, r) in found {
        match r {
            Ok(u) => {
                let mut h = to_host_guest(u, anchor);
                trim(&mut h.attrs, &keep);
                host.guests.push(h);
            }
            Err(GraphError::NotFound { .. }) => {
                tracing::info!(host_user_id = %id, "a managed guest is gone from the host");
            }
            Err(e) => return Err(SyncError::graph("reading a managed guest", e)),
        }
    }
    Ok(())
}
