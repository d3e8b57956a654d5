//! Incremental reconcile: read what changed (Graph delta queries) instead
//! of both whole tenants, and plan only the users a change touched
//! (`docs/engine.md`, "Incremental reconcile").
//!
//! - A full reconcile takes "latest" links of the source's scope groups and
//!   users before it reads ([`begin_full`]), and of the host's users when it
//!   ends with a complete read ([`finish_full`]): changes made while it ran
//!   are read again by the next delta run (planning is idempotent).
//! - A delta run ([`compute_delta_plan`]) reads the three rounds, gathers
//!   the source users touched (joined, left, profile changed, deleted, their
//!   guest changed in the host), reads just those users on both sides, and
//!   plans them with the same planner and safety rules as a full run. Its
//!   new links are stored only once its plan is fully applied.
//! - Anything delta cannot settle cheaply and surely (an expired link, a
//!   nested group added or removed, a held deletion guard, changed options)
//!   falls back to a full read, which stays the safety net once a day.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::future::BoxFuture;
use futures::StreamExt;
use sha2::Digest;

use crate::domain::plan::{
    self, DeletedHostUser, HostGuest, PlanPolicy, SourcePicture, SourceUser,
};
use crate::domain::policy::MaxDeprovisions;
use crate::domain::{
    Anchor, DeltaLinks, DeltaTracking, GuestRecord, GuestState, Guid, SourceTenant,
    MAX_DELTA_GROUPS,
};
use crate::graph::delta::{DeltaFrom, DeltaGroup, DeltaUser, ManagerDelta, MemberKind};
use crate::graph::{GraphError, GraphUser, TenantGraph};

use super::read::{self, as_refs, host_keep, source_keep, trim};
use super::reconcile::{guard_limit, ComputedPlan};
use super::{host_credentials, source_credentials, Progress, SyncContext, SyncError};

/// How a reconcile reads this time.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Both sides whole; the reason is shown in the run's log.
    Full(&'static str),
    /// Only changes, from these links.
    Delta(DeltaLinks),
}

/// What the delta links were taken for: the tenant's options (the
/// properties read, and every rule a change of options may apply to
/// users nobody changed), the anchor attribute and the host group. Links
/// taken for other settings are not used: the next run reads whole.
pub fn fingerprint(ctx: &SyncContext, tenant: &SourceTenant) -> String {
    let anchor = ctx.settings.anchor_attribute.as_ref();
    let options = serde_json::to_string(&tenant.options).unwrap_or_default();
    let digest = sha2::Sha256::digest(options.as_bytes());
    format!(
        "options={};src={};host={};group={}",
        hex(&digest[..12]),
        read::source_select(&tenant.options).join(","),
        read::host_select(&tenant.options, anchor).join(","),
        ctx.settings
            .host_group_id
            .map(|g| g.to_string())
            .unwrap_or_default()
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether this reconcile reads changes or both sides whole.
pub fn choose(ctx: &SyncContext, tenant: &SourceTenant) -> Mode {
    let hours = ctx.settings.full_reconcile_hours;
    if hours == 0 {
        return Mode::Full("delta off (GUESTSYNC_FULL_RECONCILE_HOURS=0)");
    }
    if ctx.force_full {
        return Mode::Full("a full read was asked for");
    }
    if ctx.dry_run {
        return Mode::Full("dry run");
    }
    if tenant.options.offboarding {
        return Mode::Full("the tenant is being removed");
    }
    if tenant.guard.is_some() {
        // Held removals are settled by a full read only.
        return Mode::Full("the deletion guard holds removals");
    }
    let Some(links) = tenant.delta.as_ref().and_then(|d| d.active.clone()) else {
        return Mode::Full("no delta links yet");
    };
    if links.full_due(tenant.group_id, hours, ctx.clock.now()) {
        return Mode::Full("the periodic full read is due");
    }
    if links.fingerprint != fingerprint(ctx, tenant) {
        return Mode::Full("the tenant's options or settings changed");
    }
    Mode::Delta(links)
}

/// A change to a tenant's delta links.
enum Change {
    /// Delta is off: forget everything.
    Clear,
    /// A full read begins: these links (or none) wait for its end.
    Pending(Option<DeltaLinks>),
    /// These links are read from next (a finished full read clears the
    /// pending ones; an applied delta run replaces the active ones).
    Active(DeltaLinks),
    /// The active links cannot be used: read whole next.
    Forget,
}

/// Applies `change` to the tenant record as it is now.
async fn update_tracking(ctx: &SyncContext, tenant: Guid, change: Change) -> Result<(), SyncError> {
    let Some(mut t) = ctx
        .store
        .get_tenant(tenant)
        .await
        .map_err(SyncError::Store)?
    else {
        return Ok(());
    };
    let before = t.delta.clone();
    let mut d = t.delta.take().unwrap_or_default();
    match change {
        Change::Clear => d = DeltaTracking::default(),
        Change::Pending(p) => d.pending = p,
        Change::Active(l) => {
            if d.pending.as_ref().is_some_and(|p| p.full_at <= l.full_at) {
                d.pending = None;
            }
            d.active = Some(l);
        }
        Change::Forget => d.active = None,
    }
    t.delta = (d != DeltaTracking::default()).then_some(d);
    if t.delta != before {
        ctx.store.put_tenant(&t).await.map_err(SyncError::Store)?;
    }
    Ok(())
}

/// The scope group and every group nested in it; None when there are too
/// many to follow with one filtered `groups/delta`.
async fn scope_groups(src: &TenantGraph, scope: Guid) -> Result<Option<Vec<Guid>>, GraphError> {
    let mut groups = vec![scope];
    for g in src.nested_groups(scope).await? {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    Ok((groups.len() <= MAX_DELTA_GROUPS).then_some(groups))
}

/// At the start of a full reconcile (first slice): "latest" links of the
/// source's scope groups and users, kept pending until the full read ends.
/// A failure here only means the next run reads whole again.
pub async fn begin_full(ctx: &SyncContext, tenant: &SourceTenant) -> Result<(), SyncError> {
    if ctx.settings.full_reconcile_hours == 0 {
        if tenant.delta.is_some() {
            update_tracking(ctx, tenant.tenant_id, Change::Clear).await?;
        }
        return Ok(());
    }
    let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
    let taken = async {
        let Some(groups) = scope_groups(&src, tenant.group_id).await? else {
            return Ok::<_, GraphError>(None);
        };
        let g = src.groups_delta(&DeltaFrom::Latest, &groups, |_| {}).await;
        let select = read::source_select(&tenant.options);
        let u = src
            .users_delta(
                &DeltaFrom::Latest,
                &as_refs(&select),
                tenant.options.manager,
                |_| {},
            )
            .await;
        if let Some(e) = g.error.or(u.error) {
            return Err(e);
        }
        Ok(g.delta_link.zip(u.delta_link).map(|(gl, ul)| DeltaLinks {
            scope_group: tenant.group_id,
            groups,
            groups_link: gl,
            users_link: ul,
            host_link: String::new(),
            full_at: ctx.clock.now(),
            fingerprint: fingerprint(ctx, tenant),
        }))
    }
    .await;
    let pending = match taken {
        Ok(Some(l)) => Some(l),
        Ok(None) => {
            tracing::info!(tenant_id = %tenant.tenant_id, "the scope has more than {MAX_DELTA_GROUPS} nested groups: every reconcile reads it whole");
            None
        }
        Err(e) => {
            tracing::warn!(tenant_id = %tenant.tenant_id, error = %e, "could not start delta tracking; the next reconcile reads whole again");
            None
        }
    };
    update_tracking(ctx, tenant.tenant_id, Change::Pending(pending)).await
}

/// When a full reconcile ends with a complete read: the host's "latest"
/// link, and the pending links become the active ones.
pub async fn finish_full(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    host: &TenantGraph,
) -> Result<(), SyncError> {
    let Some(stored) = ctx
        .store
        .get_tenant(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?
    else {
        return Ok(());
    };
    let Some(mut links) = stored.delta.and_then(|d| d.pending) else {
        return Ok(());
    };
    let select = read::host_select(&tenant.options, ctx.settings.anchor_attribute.as_ref());
    let h = host
        .users_delta(&DeltaFrom::Latest, &as_refs(&select), false, |_| {})
        .await;
    match (h.delta_link, h.error) {
        (Some(l), None) => {
            links.host_link = l;
            update_tracking(ctx, tenant.tenant_id, Change::Active(links)).await
        }
        (_, e) => {
            tracing::warn!(tenant_id = %tenant.tenant_id, error = ?e.map(|e| e.to_string()), "could not take the host's delta link; the next reconcile reads whole again");
            Ok(())
        }
    }
}

/// Stores the links a delta run read up to, once its plan is applied.
pub async fn advance(ctx: &SyncContext, tenant: Guid, links: DeltaLinks) -> Result<(), SyncError> {
    update_tracking(ctx, tenant, Change::Active(links)).await
}

/// Forgets the active links (expired, or the scope's structure changed):
/// the next reconcile reads whole.
pub async fn forget(ctx: &SyncContext, tenant: Guid) -> Result<(), SyncError> {
    update_tracking(ctx, tenant, Change::Forget).await
}

/// What a delta run found.
pub enum DeltaPlan {
    /// Planned: the plan, and the links to store once it is applied.
    Planned {
        computed: Box<ComputedPlan>,
        links: Box<DeltaLinks>,
        /// The source users touched (the relations phase plans only these).
        touched: super::relations::Touched,
    },
    /// Delta cannot settle this; read whole (the reason is logged).
    NeedsFull(String),
}

/// One round's rows and its new link, or why only a full read will do
/// (`side` names the round in that reason).
fn round<T>(
    rows: Vec<T>,
    read: crate::graph::delta::DeltaRead,
    side: &str,
) -> Result<(Vec<T>, String), String> {
    match (read.error, read.delta_link) {
        (Some(e), _) if e.is_resync_required() => {
            Err(format!("the {side}' delta link expired ({e})"))
        }
        (Some(e), _) => Err(format!("reading changes failed ({e})")),
        (None, Some(l)) => Ok((rows, l)),
        (None, None) => Err(format!(
            "reading changes failed ({})",
            GraphError::InvalidResponse {
                what: "a delta round ended without an @odata.deltaLink".into(),
                ctx: crate::graph::ErrorContext {
                    operation: "read changes (delta)",
                    status: Some(200),
                    client_request_id: uuid::Uuid::nil(),
                    graph_code: None,
                },
            }
        )),
    }
}

/// A membership change seen in the scope's groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Membership {
    Added,
    Removed,
}

/// The direct user-member changes of the scope's groups; Err when the
/// groups themselves changed (a nested group added or removed, a group
/// deleted): then only a full read knows the scope.
fn membership_changes(
    rows: Vec<DeltaGroup>,
    groups: &[Guid],
) -> Result<BTreeMap<Guid, Membership>, String> {
    let mut out = BTreeMap::new();
    for g in rows {
        if !groups.contains(&g.id) {
            continue;
        }
        if g.removed {
            return Err(format!("group {} of the scope was deleted", g.id));
        }
        for (refs, m) in [
            (g.members_added, Membership::Added),
            (g.members_removed, Membership::Removed),
        ] {
            for r in refs {
                match r.kind {
                    MemberKind::User => {
                        out.insert(r.id, m);
                    }
                    MemberKind::Group => {
                        return Err(format!(
                            "a group was added to or removed from group {} of the scope",
                            g.id
                        ))
                    }
                    MemberKind::Other => {}
                }
            }
        }
    }
    Ok(out)
}

/// Reads the changes since `links` and plans the users they touch.
pub async fn compute_delta_plan(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    links: DeltaLinks,
    progress: &dyn Progress,
) -> Result<DeltaPlan, SyncError> {
    let opts = &tenant.options;
    let tid = tenant.tenant_id;
    let anchor_attr = ctx.settings.anchor_attribute.clone();
    let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    progress.phase("read changes", None);

    // 1. The scope's membership changes.
    let mut rows = Vec::new();
    let r = src
        .groups_delta(
            &DeltaFrom::Link(links.groups_link.clone()),
            &links.groups,
            |p| {
                progress.inc(p.len() as u64);
                rows.extend(p);
            },
        )
        .await;
    let (group_rows, groups_link) = match round(rows, r, "source groups") {
        Ok(x) => x,
        Err(why) => return Ok(DeltaPlan::NeedsFull(why)),
    };
    let membership = match membership_changes(group_rows, &links.groups) {
        Ok(m) => m,
        Err(why) => return Ok(DeltaPlan::NeedsFull(why)),
    };

    // 2. Source users changed (profile, enabled, deleted).
    let select = read::source_select(opts);
    let keep = source_keep(opts);
    let mut rows: Vec<DeltaUser> = Vec::new();
    let r = src
        .users_delta(
            &DeltaFrom::Link(links.users_link.clone()),
            &as_refs(&select),
            opts.manager,
            |p| {
                progress.inc(p.len() as u64);
                rows.extend(p.into_iter().map(|mut u| {
                    u.user.attrs.retain(|k, _| keep.contains(k));
                    u
                }));
            },
        )
        .await;
    let (user_rows, users_link) = match round(rows, r, "source users") {
        Ok(x) => x,
        Err(why) => return Ok(DeltaPlan::NeedsFull(why)),
    };
    let user_rows: HashMap<Guid, DeltaUser> = user_rows.into_iter().map(|u| (u.id, u)).collect();

    // 3. Host users changed (by us, or by an administrator).
    let hselect = read::host_select(opts, anchor_attr.as_ref());
    let hkeep = host_keep(opts);
    let mut rows: Vec<DeltaUser> = Vec::new();
    let r = host
        .users_delta(
            &DeltaFrom::Link(links.host_link.clone()),
            &as_refs(&hselect),
            false,
            |p| {
                progress.inc(p.len() as u64);
                rows.extend(p);
            },
        )
        .await;
    let (host_rows, host_link) = match round(rows, r, "host users") {
        Ok(x) => x,
        Err(why) => return Ok(DeltaPlan::NeedsFull(why)),
    };
    let new_links = DeltaLinks {
        groups_link,
        users_link,
        host_link,
        ..links.clone()
    };

    // 4. The source users touched, and their records.
    let mut touched: BTreeSet<Guid> = membership.keys().copied().collect();
    let mut records: BTreeMap<Guid, GuestRecord> = BTreeMap::new();
    let candidates: Vec<Guid> = user_rows
        .keys()
        .copied()
        .filter(|id| !touched.contains(id))
        .collect();
    for (id, rec) in get_records(ctx, tid, candidates).await? {
        if let Some(r) = rec {
            touched.insert(id);
            records.insert(id, r);
        }
    }
    // Host rows: whose guest is it? The anchor says so without the store;
    // rows without one are looked up among the records.
    let member_guests = opts.user_type.eq_ignore_ascii_case("member");
    let mut unresolved: BTreeSet<Guid> = BTreeSet::new();
    for row in host_rows {
        let anchor = anchor_attr
            .as_ref()
            .and_then(|a| a.read(&row.user.attrs))
            .and_then(Anchor::parse);
        match anchor {
            Some(a) if a.tenant == tid => {
                touched.insert(a.user);
            }
            Some(_) => continue, // another tenant's guest
            None => {
                let member = row
                    .user
                    .attrs
                    .get("userType")
                    .and_then(|v| v.as_str())
                    .is_some_and(|t| t.eq_ignore_ascii_case("member"));
                if member && !member_guests {
                    continue; // a host employee, not a guest of ours
                }
                unresolved.insert(row.id);
            }
        }
    }
    if !unresolved.is_empty() {
        for r in records_with_host_ids(ctx, tid, &unresolved).await? {
            touched.insert(r.source_user_id);
            records.insert(r.source_user_id, r);
        }
    }
    let missing: Vec<Guid> = touched
        .iter()
        .copied()
        .filter(|id| !records.contains_key(id))
        .collect();
    for (id, rec) in get_records(ctx, tid, missing).await? {
        if let Some(r) = rec {
            records.insert(id, r);
        }
    }
    if touched.is_empty() {
        return Ok(DeltaPlan::Planned {
            computed: Box::new(empty_plan(ctx, tenant, host, anchor_attr)),
            links: Box::new(new_links),
            touched: super::relations::Touched::default(),
        });
    }
    progress.phase("read touched users", Some(touched.len() as u64));

    // 5. Which touched users are in scope now, and as what.
    let nested = links.groups.len() > 1;
    let scope = tenant.group_id;
    let src_ref = &src;
    let user_rows_ref = &user_rows;
    let records_ref = &records;
    let membership_ref = &membership;
    let select_refs = as_refs(&select);
    let select_refs = &select_refs;
    let decided: Vec<(Guid, Result<Option<SourceUser>, GraphError>)> =
        futures::stream::iter(touched.iter().copied())
            .map(|id| -> BoxFuture<'_, _> {
                Box::pin(async move {
                    let row = user_rows_ref.get(&id);
                    let r = source_now(
                        src_ref,
                        id,
                        scope,
                        nested,
                        membership_ref.get(&id).copied(),
                        row,
                        records_ref.get(&id),
                        select_refs,
                    )
                    .await;
                    progress.inc(1);
                    (id, r)
                })
            })
            .buffer_unordered(ctx.concurrency.max(1))
            .collect()
            .await;
    let mut users = Vec::new();
    for (id, r) in decided {
        match r {
            Ok(Some(mut u)) => {
                trim(&mut u.attrs, &keep);
                users.push(u);
            }
            // Someone left whom no record knows: the store may have lost
            // the record of a guest that is still in the host (its anchor
            // says whose it is); only a full read can find and remove it.
            Ok(None) if !records.contains_key(&id) => {
                return Ok(DeltaPlan::NeedsFull(format!(
                    "source user {id} left scope without a record"
                )));
            }
            Ok(None) => {}
            Err(e) => {
                return Ok(DeltaPlan::NeedsFull(format!(
                    "source user {id} could not be read ({e})"
                )));
            }
        }
    }

    // 6. Their guests in the host as they are now.
    let host_ids: BTreeSet<Guid> = records.values().filter_map(|r| r.host_user_id).collect();
    let mut guests = Vec::new();
    let mut gone = false;
    let host_ref = &host;
    let hselect_refs = as_refs(&hselect);
    let hselect_refs = &hselect_refs;
    let fetched: Vec<(Guid, Result<GraphUser, GraphError>)> = futures::stream::iter(host_ids)
        .map(|id| -> BoxFuture<'_, _> {
            Box::pin(async move { (id, host_ref.get_user(id, hselect_refs).await) })
        })
        .buffer_unordered(ctx.concurrency.max(1))
        .collect()
        .await;
    for (id, r) in fetched {
        match r {
            Ok(u) => {
                let mut h = read::to_host_guest(u, anchor_attr.as_ref());
                trim(&mut h.attrs, &hkeep);
                guests.push(h);
            }
            Err(GraphError::NotFound { .. }) => {
                tracing::info!(host_user_id = %id, "a touched guest is gone from the host");
                gone = true;
            }
            Err(e) => {
                return Ok(DeltaPlan::NeedsFull(format!(
                    "host user {id} could not be read ({e})"
                )))
            }
        }
    }
    let deleted = if gone {
        deleted_users(&host, &hselect, anchor_attr.as_ref(), &hkeep).await?
    } else {
        Vec::new()
    };
    let group_members = match ctx.settings.host_group_id {
        None => None,
        Some(gid) => Some(host_group_members(&host, gid, &guests, ctx.concurrency).await?),
    };
    let host_picture = plan::HostPicture {
        guests,
        deleted,
        group_members,
        anchor_unreadable: None,
    };

    // 7. Plan them, under the same guard as a full run. The guard counts
    // against every managed guest of the tenant, so its limit is read only
    // when the plan removes anybody: planned first with none allowed.
    let records: Vec<GuestRecord> = records.into_values().collect();
    let now = ctx.clock.now();
    let policy = |limit| {
        PlanPolicy::new(
            opts.clone(),
            ctx.settings.deprovision,
            limit,
            tenant.guard.as_ref(),
            now,
        )
        .with_anchor(anchor_attr.clone())
    };
    progress.phase("plan", None);
    let picture = SourcePicture {
        users,
        complete: true,
    };
    let mut p = plan::plan(
        tid,
        &picture,
        &records,
        &host_picture,
        &policy(MaxDeprovisions::Count(0)),
    );
    if let Some(trip) = p.guard {
        let all = ctx.store.list_guests(tid).await.map_err(SyncError::Store)?;
        let managed = all.iter().filter(|r| r.is_managed()).count() as u64;
        // Everyone managed leaving is a scope that reads empty: held until
        // an administrator confirms, as in a full read.
        let emptied = trip.wanted >= managed;
        let limit = match guard_limit(ctx.settings.max_deprovisions, &all, emptied, now) {
            MaxDeprovisions::Percent(_) => {
                MaxDeprovisions::Count(ctx.settings.max_deprovisions.limit_for(managed))
            }
            count => count,
        };
        drop(all);
        p = plan::plan(tid, &picture, &records, &host_picture, &policy(limit));
    }
    super::ownership::isolate_tenants(ctx.store.as_ref(), tid, &mut p)
        .await
        .map_err(SyncError::Store)?;
    let managers = user_rows
        .values()
        .filter_map(|r| {
            r.manager.map(|m| match m {
                ManagerDelta::Set(g) => (r.id, Some(g)),
                ManagerDelta::Removed => (r.id, None),
            })
        })
        .collect();
    let touched = super::relations::Touched {
        users: touched,
        managers,
    };
    Ok(DeltaPlan::Planned {
        computed: Box::new(ComputedPlan {
            plan: p,
            records,
            host,
            source_complete: true,
            read_error: None,
            anchor: anchor_attr,
            anchor_unreadable: None,
            more: None,
            resumed: false,
        }),
        links: Box::new(new_links),
        touched,
    })
}

/// Nothing touched: an empty plan.
fn empty_plan(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    host: TenantGraph,
    anchor: Option<crate::domain::AnchorAttribute>,
) -> ComputedPlan {
    let policy = PlanPolicy::new(
        tenant.options.clone(),
        ctx.settings.deprovision,
        ctx.settings.max_deprovisions,
        tenant.guard.as_ref(),
        ctx.clock.now(),
    );
    let plan = plan::plan(
        tenant.tenant_id,
        &SourcePicture {
            users: vec![],
            complete: true,
        },
        &[],
        &plan::HostPicture::default(),
        &policy,
    );
    ComputedPlan {
        plan,
        records: vec![],
        host,
        source_complete: true,
        read_error: None,
        anchor,
        anchor_unreadable: None,
        more: None,
        resumed: false,
    }
}

/// The records of `ids` (None where there is none).
async fn get_records(
    ctx: &SyncContext,
    tenant: Guid,
    ids: Vec<Guid>,
) -> Result<Vec<(Guid, Option<GuestRecord>)>, SyncError> {
    let store = ctx.store.as_ref();
    let got: Vec<(Guid, Result<Option<GuestRecord>, crate::store::StoreError>)> =
        futures::stream::iter(ids)
            .map(|id| -> BoxFuture<'_, _> {
                Box::pin(async move { (id, store.get_guest(tenant, id).await) })
            })
            .buffer_unordered(16)
            .collect()
            .await;
    let mut out = Vec::with_capacity(got.len());
    for (id, r) in got {
        out.push((id, r.map_err(SyncError::Store)?));
    }
    Ok(out)
}

/// The tenant's records whose guest is one of `host_ids`, read page by
/// page (only the matches are kept).
async fn records_with_host_ids(
    ctx: &SyncContext,
    tenant: Guid,
    host_ids: &BTreeSet<Guid>,
) -> Result<Vec<GuestRecord>, SyncError> {
    let mut out = Vec::new();
    let mut cont = None;
    loop {
        let p = ctx
            .store
            .list_guests_page(tenant, cont, 1000)
            .await
            .map_err(SyncError::Store)?;
        out.extend(
            p.items
                .into_iter()
                .filter(|r| r.host_user_id.is_some_and(|h| host_ids.contains(&h))),
        );
        match p.continuation {
            Some(c) => cont = Some(c),
            None => return Ok(out),
        }
    }
}

/// The touched source user as it is now, when it is in scope; None when
/// it is not (left, deleted, never was).
#[allow(clippy::too_many_arguments)]
async fn source_now(
    src: &TenantGraph,
    id: Guid,
    scope: Guid,
    nested: bool,
    membership: Option<Membership>,
    row: Option<&DeltaUser>,
    record: Option<&GuestRecord>,
    select: &[&str],
) -> Result<Option<SourceUser>, GraphError> {
    if row.is_some_and(|r| r.removed.is_some()) {
        return Ok(None); // deleted in the source
    }
    let member = match (membership, nested) {
        (Some(Membership::Added), false) => true,
        (Some(Membership::Removed), false) => false,
        // With nested groups a user removed from one group may still be in
        // scope through another: Graph answers transitively.
        (Some(_), true) => is_member(src, id, scope).await?,
        // No membership change: in scope as the record last saw it; a
        // record of a user who left is asked again (restored users).
        (None, _) => match record {
            Some(r) if r.state != GuestState::Deprovisioned => true,
            _ => is_member(src, id, scope).await?,
        },
    };
    if !member {
        return Ok(None);
    }
    let user = match row.filter(|r| r.user.attrs.contains_key("userPrincipalName")) {
        Some(r) => r.user.clone(),
        None => match src.get_user(id, select).await {
            Ok(u) => u,
            Err(GraphError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    // No UPN: the source app lost User.Read.All; reading again cannot help.
    read::to_source_user(user)
        .map(Some)
        .ok_or_else(|| GraphError::Forbidden {
            missing_permission: Some("User.Read.All".into()),
            detail: "a source user came back without userPrincipalName".into(),
            ctx: crate::graph::ErrorContext {
                operation: "read a changed source user",
                status: Some(200),
                client_request_id: uuid::Uuid::nil(),
                graph_code: None,
            },
        })
}

async fn is_member(src: &TenantGraph, user: Guid, group: Guid) -> Result<bool, GraphError> {
    match src.check_member_groups(user, &[group]).await {
        Ok(v) => Ok(v.contains(&group)),
        Err(GraphError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The host's deleted users (read only when a touched guest is gone).
async fn deleted_users(
    host: &TenantGraph,
    select: &[String],
    anchor: Option<&crate::domain::AnchorAttribute>,
    keep: &BTreeSet<String>,
) -> Result<Vec<DeletedHostUser>, SyncError> {
    let mut s = select.to_vec();
    s.push("deletedDateTime".into());
    Ok(host
        .list_deleted_users(&as_refs(&s))
        .await
        .map_err(|e| SyncError::graph("reading the host's deleted users", e))?
        .into_iter()
        .map(|u| {
            let mut d = read::to_deleted(u, anchor);
            trim(&mut d.attrs, keep);
            d
        })
        .collect())
}

/// Which of `guests` are in the host group (asked per guest).
async fn host_group_members(
    host: &TenantGraph,
    group: Guid,
    guests: &[HostGuest],
    concurrency: usize,
) -> Result<BTreeSet<Guid>, SyncError> {
    let answers: Vec<(Guid, Result<Vec<Guid>, GraphError>)> =
        futures::stream::iter(guests.iter().map(|g| g.id).collect::<Vec<Guid>>())
            .map(|id| -> BoxFuture<'_, _> {
                Box::pin(async move { (id, host.check_member_groups(id, &[group]).await) })
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let mut set = BTreeSet::new();
    for (id, r) in answers {
        match r {
            Ok(v) if v.contains(&group) => {
                set.insert(id);
            }
            Ok(_) => {}
            Err(e) => return Err(SyncError::graph("checking the host group's members", e)),
        }
    }
    Ok(set)
}
