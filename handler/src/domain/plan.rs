//! The planner: `plan(source, tracked, host, policy) -> Plan`, a pure
//! function that decides, for one source tenant, which guests to invite,
//! adopt, restore, update, disable, enable or remove, and why anything was
//! held back (`docs/design.md`, sync rules 1-6 and 10). [`plan_photos`] and
//! [`plan_redemption`] do the same for the photo and redemption jobs
//! (rules 7 and 8).
//!
//! Every decision compares the *wanted* state (source + policy) with the
//! *actual* state (the host's guests and deleted items) and with the
//! tracked records. Because nothing is compared with "what we did last
//! time", planning again after a partial or complete apply is naturally
//! convergent: that is what makes the executor crash-safe.
//!
//! Safety rules built in here, not left to callers:
//! - A host guest without a record of this tenant is never deprovisioned.
//! - Adopted guests are only deprovisioned when the tenant allows it;
//!   otherwise they are released (the record stops managing them).
//! - An incomplete source read deprovisions nobody.
//! - More removals than the guard allows removes nobody (unless an
//!   administrator confirmed that many).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::Guid;
use super::policy::MaxDeprovisions;
use super::policy::{DeprovisionMode, InviteAddress, TenantOptions};
use super::profile::{self, Changes, Profile};
use super::records::{GuestRecord, GuestState};

/// How long the host keeps deleted users restorable.
pub const RESTORE_WINDOW_DAYS: i64 = 30;

/// One in-scope user of the source group, as read from the source tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceUser {
    /// The user's object id in the source tenant (the record key).
    pub id: Guid,
    /// `userPrincipalName` (the default invite address).
    pub upn: String,
    #[serde(default)]
    pub mail: Option<String>,
    /// Rule 4: a disabled source account disables its guest.
    pub account_enabled: bool,
    /// `Member` or `Guest` (the source tenant's own guests).
    pub user_type: String,
    /// The selected Graph properties (`displayName`, `jobTitle`, ...), by
    /// their Graph names; the attribute mapping reads from here.
    #[serde(default)]
    pub attrs: Map<String, Value>,
    /// The photo's `@odata.mediaEtag` (None = no photo). Only the photo job
    /// reads photos; the reconcile plan ignores this field.
    #[serde(default)]
    pub photo_etag: Option<String>,
}

/// The source group as read: its in-scope users, and whether the read
/// finished. An incomplete picture never causes a deprovision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourcePicture {
    /// In-scope candidates (the planner still filters by user type).
    pub users: Vec<SourceUser>,
    /// False when the read failed part-way: then nobody is deprovisioned.
    pub complete: bool,
}

/// A user of the host tenant as it actually is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostGuest {
    /// Object id in the host.
    pub id: Guid,
    /// `userPrincipalName` (`ann_contoso.com#EXT#@host...` for B2B guests).
    pub upn: String,
    /// `mail`, `otherMails` and the UPN are where adoption looks for an address.
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub other_mails: Vec<String>,
    pub account_enabled: bool,
    /// `Guest` or `Member`.
    pub user_type: String,
    /// `PendingAcceptance` or `Accepted` (None for non-invited users).
    #[serde(default)]
    pub external_user_state: Option<String>,
    #[serde(default)]
    pub external_user_state_changed_at: Option<DateTime<Utc>>,
    /// `createdDateTime` (the photo cool-down counts from here).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    /// Profile attributes by Graph name (`displayName`, `jobTitle`, ...).
    #[serde(default)]
    pub attrs: Map<String, Value>,
}

impl HostGuest {
    /// Whether the invitation was redeemed.
    pub fn accepted(&self) -> bool {
        self.external_user_state.as_deref() == Some("Accepted")
    }
}

/// A user in the host's deleted items (restorable).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedHostUser {
    /// Object id (kept by a restore).
    pub id: Guid,
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub mail: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Profile attributes as they were at deletion (restore brings them back).
    #[serde(default)]
    pub attrs: Map<String, Value>,
    #[serde(default = "yes")]
    pub account_enabled: bool,
}

fn yes() -> bool {
    true
}

/// The host as read: live users (at least the guests) and deleted users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPicture {
    /// Live users the planner may find guests among.
    pub guests: Vec<HostGuest>,
    /// Deleted users still restorable.
    pub deleted: Vec<DeletedHostUser>,
    /// Direct members of the host group, when one is configured (None = no
    /// host group: nothing is added).
    #[serde(default)]
    pub group_members: Option<BTreeSet<Guid>>,
}

/// Everything the planner needs to know about the rules in force.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanPolicy {
    /// The tenant's options (mapping, invite address, user type, ...).
    pub options: TenantOptions,
    /// The tenant's deprovision mode, already resolved (tenant option, else
    /// `GUESTSYNC_DEPROVISION`).
    pub deprovision: DeprovisionMode,
    /// `GUESTSYNC_MAX_DEPROVISIONS`.
    pub max_deprovisions: MaxDeprovisions,
    /// An administrator confirmed a tripped guard for this many removals
    /// (`GuardHold { confirmed: true, wanted }`): a run wanting at most this
    /// many may go ahead.
    pub confirmed_deprovisions: Option<u64>,
    /// The clock, passed in so the planner stays pure.
    pub now: DateTime<Utc>,
}

impl PlanPolicy {
    /// A policy with the tenant's options and the app-wide settings.
    pub fn new(
        options: TenantOptions,
        settings_mode: DeprovisionMode,
        max: MaxDeprovisions,
        guard: Option<&super::records::GuardHold>,
        now: DateTime<Utc>,
    ) -> Self {
        PlanPolicy {
            deprovision: options.deprovision.unwrap_or(settings_mode),
            options,
            max_deprovisions: max,
            confirmed_deprovisions: guard.filter(|g| g.confirmed).map(|g| g.wanted),
            now,
        }
    }
}

/// What to do for one source user. Each variant is at most one logical
/// Graph step (an invite is followed by the profile PATCH it carries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum ActionKind {
    /// New in scope: `POST /invitations` (no e-mail), then one PATCH with
    /// `changes` (the full wanted profile), then the host group if any.
    Invite {
        address: String,
        display_name: String,
        user_type: String,
        changes: Changes,
        add_to_group: bool,
    },
    /// A host user with the invite address already exists: take it over
    /// (`taken_over`) or, for a record of ours that lost its host id (a
    /// crash between invite and record), re-link it; then PATCH the
    /// differing fields.
    Adopt {
        host_id: Guid,
        host_upn: String,
        taken_over: bool,
        changes: Changes,
        add_to_group: bool,
    },
    /// Deprovisioned by us and still in deleted items: restore, then PATCH
    /// what differs from the deleted object.
    Restore {
        host_id: Guid,
        changes: Changes,
        add_to_group: bool,
    },
    /// One PATCH with the differing fields and/or the sign-in state.
    /// `returning` = the record was deprovisioned (disable mode) and the user
    /// is back in scope.
    Update {
        host_id: Guid,
        changes: Changes,
        returning: bool,
    },
    /// Add the managed guest to the host group (it is missing there).
    AddToGroup { host_id: Guid },
    /// Out of scope: soft delete (`Delete`) or block sign-in (`Disable`).
    Deprovision {
        host_id: Guid,
        mode: DeprovisionMode,
    },
    /// An adopted guest left scope and the tenant does not allow removing
    /// adopted guests: stop managing it, leave the host object alone.
    Release { host_id: Guid },
    /// Only the record changes (state, links, redemption date, a crash
    /// healed): no Graph write.
    RecordOnly { reason: String },
}

impl ActionKind {
    /// Stable short name (`invite`, `adopt`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Invite { .. } => "invite",
            ActionKind::Adopt { .. } => "adopt",
            ActionKind::Restore { .. } => "restore",
            ActionKind::Update { .. } => "update",
            ActionKind::AddToGroup { .. } => "group-add",
            ActionKind::Deprovision { .. } => "deprovision",
            ActionKind::Release { .. } => "release",
            ActionKind::RecordOnly { .. } => "record",
        }
    }

    /// Execution order: restores and re-links first, removals last.
    fn rank(&self) -> u8 {
        match self {
            ActionKind::RecordOnly { .. } => 0,
            ActionKind::Restore { .. } => 1,
            ActionKind::Adopt { .. } => 2,
            ActionKind::Invite { .. } => 3,
            ActionKind::Update { .. } => 4,
            ActionKind::AddToGroup { .. } => 5,
            ActionKind::Release { .. } => 6,
            ActionKind::Deprovision { .. } => 7,
        }
    }

    /// The most Graph writes this action makes (for dry-run counts and
    /// progress totals).
    pub fn writes(&self) -> u64 {
        let c = |ch: &Changes| u64::from(!ch.is_empty());
        match self {
            ActionKind::Invite {
                changes,
                add_to_group,
                ..
            } => 1 + c(changes) + u64::from(*add_to_group),
            ActionKind::Adopt {
                changes,
                add_to_group,
                ..
            } => c(changes) + u64::from(*add_to_group),
            ActionKind::Restore {
                changes,
                add_to_group,
                ..
            } => 1 + c(changes) + u64::from(*add_to_group),
            ActionKind::Update { changes, .. } => c(changes),
            ActionKind::AddToGroup { .. } | ActionKind::Deprovision { .. } => 1,
            ActionKind::Release { .. } | ActionKind::RecordOnly { .. } => 0,
        }
    }
}

/// One planned step for one source user, and the record to store once it
/// succeeded (for an invite, the executor fills in the new host id and UPN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    /// The source user this action is for.
    pub source_user_id: Guid,
    /// What to do.
    #[serde(flatten)]
    pub kind: ActionKind,
    /// The record after success.
    pub record: GuestRecord,
}

/// Why a removal was not made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum HoldReason {
    /// Reading the source group failed or was partial (rule 6).
    IncompleteSourceRead,
    /// The run would remove more than the guard allows (rule 6).
    GuardLimit { wanted: u64, limit: u64 },
}

/// A removal held back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldBack {
    /// The source user no longer in scope.
    pub source_user_id: Guid,
    /// Its guest, left in place.
    pub host_id: Guid,
    /// Why.
    #[serde(flatten)]
    pub reason: HoldReason,
}

/// The guard tripped: `wanted` removals, `limit` allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardTrip {
    pub wanted: u64,
    pub limit: u64,
}

/// The reconcile plan of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// Ordered by (kind, source user id): deterministic.
    pub actions: Vec<Action>,
    /// Removals not made, with the reason.
    pub held_back: Vec<HeldBack>,
    /// Set when the deprovision guard tripped.
    pub guard: Option<GuardTrip>,
    /// In-scope users needing nothing.
    pub unchanged: u64,
    /// In-scope users in the source picture.
    pub in_scope: u64,
}

impl Plan {
    /// True when nothing is to be written or recorded.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// How many actions of each kind (`invite` -> 3, ...), for summaries.
    pub fn summary(&self) -> BTreeMap<&'static str, u64> {
        let mut m = BTreeMap::new();
        for a in &self.actions {
            *m.entry(a.kind.name()).or_insert(0) += 1;
        }
        m
    }

    /// The most Graph writes applying this plan makes.
    pub fn writes(&self) -> u64 {
        self.actions.iter().map(|a| a.kind.writes()).sum()
    }
}

/// Lower-cased addresses under which a host user can be found: `mail`,
/// each of `otherMails`, the UPN, and for a B2B UPN
/// (`ann_contoso.com#EXT#@host...`) the address it was made from.
pub fn host_addresses(g: &HostGuest) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    if let Some(m) = &g.mail {
        v.push(m.to_lowercase());
    }
    v.extend(g.other_mails.iter().map(|m| m.to_lowercase()));
    let upn = g.upn.to_lowercase();
    if let Some((local, _)) = upn.split_once("#ext#") {
        if let Some(i) = local.rfind('_') {
            v.push(format!("{}@{}", &local[..i], &local[i + 1..]));
        }
    }
    v.push(upn);
    v.sort();
    v.dedup();
    v
}

/// The address a source user is invited under (tenant option; a user
/// without mail falls back to the UPN).
pub fn invite_address(opts: &TenantOptions, upn: &str, mail: Option<&str>) -> String {
    match opts.invite_address {
        InviteAddress::Mail => mail
            .filter(|m| !m.trim().is_empty())
            .unwrap_or(upn)
            .to_string(),
        InviteAddress::UserPrincipalName => upn.to_string(),
    }
}

/// Whether a source user is in scope (rule 1: users; the source tenant's
/// own guests only when the tenant option says so).
pub fn in_scope(opts: &TenantOptions, u: &SourceUser) -> bool {
    opts.include_source_guests || !u.user_type.eq_ignore_ascii_case("guest")
}

/// What the record says the guest's state should be, given the source and
/// the host as they are (after the planned step).
fn live_state(src: &SourceUser, host_accepted: bool, was_redeemed: bool) -> GuestState {
    if !src.account_enabled {
        GuestState::Disabled
    } else if host_accepted || was_redeemed {
        GuestState::Accepted
    } else {
        GuestState::Invited
    }
}

/// True when the stored record `a` differs from the wanted record `b` in
/// anything the planner decides. Timestamps that only say "when we last
/// looked" (`last_synced_at`) and photo fields (the photo job's) do not
/// count, nor does a host UPN the record never had (an invitation's answer
/// carries only the id; the UPN is filled in with the next real change).
pub fn record_differs(a: &GuestRecord, b: &GuestRecord) -> bool {
    a.host_user_id != b.host_user_id
        || (a.host_upn.is_some() && a.host_upn != b.host_upn)
        || a.state != b.state
        || a.adopted != b.adopted
        || a.redeemed_at != b.redeemed_at
        || a.deprovisioned_at != b.deprovisioned_at
        || a.profile_fingerprint != b.profile_fingerprint
        || a.source_upn != b.source_upn
        || a.source_mail != b.source_mail
        || a.last_error.is_some() != b.last_error.is_some()
}

struct Ctx<'a> {
    tenant: Guid,
    policy: &'a PlanPolicy,
    host_by_id: HashMap<Guid, &'a HostGuest>,
    host_by_addr: BTreeMap<String, Vec<&'a HostGuest>>,
    deleted_by_id: HashMap<Guid, &'a DeletedHostUser>,
    /// Host ids any record of this tenant points at.
    linked: BTreeSet<Guid>,
    group: Option<&'a BTreeSet<Guid>>,
}

impl<'a> Ctx<'a> {
    /// A live host user reachable under `address` that no other record of
    /// this tenant owns (lowest id first, so the choice is deterministic).
    fn find_by_address(&self, address: &str, own: Option<Guid>) -> Option<&'a HostGuest> {
        self.host_by_addr
            .get(&address.to_lowercase())?
            .iter()
            .copied()
            .filter(|g| Some(g.id) == own || !self.linked.contains(&g.id))
            .min_by_key(|g| g.id)
    }

    fn wants_group(&self, host_id: Option<Guid>) -> bool {
        match (self.group, host_id) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(m), Some(id)) => !m.contains(&id),
        }
    }
}

fn base_record(
    tenant: Guid,
    src: &SourceUser,
    old: Option<&GuestRecord>,
    now: DateTime<Utc>,
) -> GuestRecord {
    let mut r = old.cloned().unwrap_or_else(|| GuestRecord {
        source_tenant_id: tenant,
        source_user_id: src.id,
        source_upn: src.upn.clone(),
        source_mail: src.mail.clone(),
        host_user_id: None,
        host_upn: None,
        state: GuestState::Invited,
        adopted: false,
        created_at: now,
        redeemed_at: None,
        deprovisioned_at: None,
        last_synced_at: None,
        profile_fingerprint: None,
        photo_etag: None,
        photo_copied_at: None,
        last_error: None,
    });
    r.source_upn = src.upn.clone();
    r.source_mail = src.mail.clone();
    r.last_synced_at = Some(now);
    r.last_error = None;
    r
}

/// Computes the reconcile plan of one tenant. Pure and deterministic: the
/// same inputs (in any order) give the same plan.
pub fn plan(
    tenant: Guid,
    source: &SourcePicture,
    records: &[GuestRecord],
    host: &HostPicture,
    policy: &PlanPolicy,
) -> Plan {
    let opts = &policy.options;
    let mut host_by_addr: BTreeMap<String, Vec<&HostGuest>> = BTreeMap::new();
    for g in &host.guests {
        for a in host_addresses(g) {
            host_by_addr.entry(a).or_default().push(g);
        }
    }
    let ctx = Ctx {
        tenant,
        policy,
        host_by_id: host.guests.iter().map(|g| (g.id, g)).collect(),
        host_by_addr,
        deleted_by_id: host.deleted.iter().map(|d| (d.id, d)).collect(),
        linked: records.iter().filter_map(|r| r.host_user_id).collect(),
        group: host.group_members.as_ref(),
    };
    let by_source: BTreeMap<Guid, &GuestRecord> = records
        .iter()
        .filter(|r| r.source_tenant_id == tenant)
        .map(|r| (r.source_user_id, r))
        .collect();
    // In scope, deduplicated by id (a user reached through two nested
    // groups appears once), ordered by id.
    let wanted: BTreeMap<Guid, &SourceUser> = source
        .users
        .iter()
        .filter(|u| in_scope(opts, u))
        .map(|u| (u.id, u))
        .collect();

    let mut out = Plan {
        in_scope: wanted.len() as u64,
        ..Plan::default()
    };
    for (id, src) in &wanted {
        let before = out.actions.len();
        plan_in_scope(&ctx, src, by_source.get(id).copied(), &mut out.actions);
        if out.actions.len() == before {
            out.unchanged += 1;
        }
    }

    // Out of scope: records whose user is not in the picture.
    let mut removals: Vec<Action> = Vec::new();
    for (id, rec) in &by_source {
        if wanted.contains_key(id) || rec.state == GuestState::Deprovisioned {
            continue;
        }
        if !source.complete {
            // Nothing is known about this user: it may still be in scope.
            if let Some(h) = rec.host_user_id.filter(|h| ctx.host_by_id.contains_key(h)) {
                out.held_back.push(HeldBack {
                    source_user_id: *id,
                    host_id: h,
                    reason: HoldReason::IncompleteSourceRead,
                });
            }
            continue;
        }
        plan_out_of_scope(&ctx, rec, &mut out.actions, &mut removals);
    }

    if !removals.is_empty() {
        let managed = by_source
            .values()
            .filter(|r| r.state != GuestState::Deprovisioned)
            .count() as u64;
        let wanted_n = removals.len() as u64;
        let limit = policy.max_deprovisions.limit_for(managed);
        let confirmed = policy.confirmed_deprovisions.is_some_and(|c| wanted_n <= c);
        if wanted_n > limit && !confirmed {
            out.guard = Some(GuardTrip {
                wanted: wanted_n,
                limit,
            });
            for a in removals {
                if let ActionKind::Deprovision { host_id, .. } = a.kind {
                    out.held_back.push(HeldBack {
                        source_user_id: a.source_user_id,
                        host_id,
                        reason: HoldReason::GuardLimit {
                            wanted: wanted_n,
                            limit,
                        },
                    });
                }
            }
        } else {
            out.actions.extend(removals);
        }
    }

    out.actions
        .sort_by_key(|a| (a.kind.rank(), a.source_user_id));
    out.held_back.sort_by_key(|h| h.source_user_id);
    out
}

fn plan_in_scope(
    ctx: &Ctx<'_>,
    src: &SourceUser,
    rec: Option<&GuestRecord>,
    out: &mut Vec<Action>,
) {
    let policy = ctx.policy;
    let now = policy.now;
    let opts = &policy.options;
    let wanted = profile::wanted_profile(&opts.attribute_mapping, &src.attrs);
    let fp = profile::fingerprint(&wanted, src.account_enabled);
    let mut record = base_record(ctx.tenant, src, rec, now);
    record.profile_fingerprint = Some(fp);
    record.deprovisioned_at = None;
    let was_redeemed = rec.and_then(|r| r.redeemed_at).is_some();
    let returning = rec.is_some_and(|r| r.state == GuestState::Deprovisioned);
    let push = |out: &mut Vec<Action>, kind: ActionKind, record: GuestRecord| {
        out.push(Action {
            source_user_id: src.id,
            kind,
            record,
        })
    };
    let diff_live = |g: &HostGuest| Changes {
        set: profile::diff(&wanted, &g.attrs),
        account_enabled: (g.account_enabled != src.account_enabled).then_some(src.account_enabled),
    };
    let settle = |record: &mut GuestRecord, g: &HostGuest| {
        record.host_user_id = Some(g.id);
        record.host_upn = Some(g.upn.clone());
        record.state = live_state(src, g.accepted(), was_redeemed);
        if record.state == GuestState::Accepted && record.redeemed_at.is_none() {
            record.redeemed_at = Some(g.external_user_state_changed_at.unwrap_or(now));
        }
    };

    // 1. The record's own host object, live.
    if let Some(g) = rec
        .and_then(|r| r.host_user_id)
        .and_then(|h| ctx.host_by_id.get(&h).copied())
    {
        settle(&mut record, g);
        let changes = diff_live(g);
        if !changes.is_empty() {
            push(
                out,
                ActionKind::Update {
                    host_id: g.id,
                    changes,
                    returning,
                },
                record.clone(),
            );
        } else if rec.is_some_and(|r| record_differs(r, &record)) {
            let reason = if returning {
                "back in scope; the guest is already as wanted"
            } else {
                "record brought in line with the host"
            };
            push(
                out,
                ActionKind::RecordOnly {
                    reason: reason.into(),
                },
                record.clone(),
            );
        }
        if ctx.wants_group(Some(g.id)) {
            push(out, ActionKind::AddToGroup { host_id: g.id }, record);
        }
        return;
    }

    // 2. Our host object is in deleted items: restore it.
    if let Some(d) = rec
        .and_then(|r| r.host_user_id)
        .and_then(|h| ctx.deleted_by_id.get(&h).copied())
    {
        let in_window = rec
            .and_then(|r| r.deprovisioned_at.or(d.deleted_at))
            .is_none_or(|t| now - t <= Duration::days(RESTORE_WINDOW_DAYS));
        if in_window {
            record.host_user_id = Some(d.id);
            record.host_upn = d.upn.clone().or(record.host_upn);
            record.state = live_state(src, was_redeemed, was_redeemed);
            let changes = Changes {
                set: profile::diff(&wanted, &d.attrs),
                account_enabled: (d.account_enabled != src.account_enabled)
                    .then_some(src.account_enabled),
            };
            push(
                out,
                ActionKind::Restore {
                    host_id: d.id,
                    changes,
                    add_to_group: ctx.group.is_some(),
                },
                record,
            );
            return;
        }
    }

    // 3. A live host user with the invite address: adopt or re-link.
    let address = invite_address(opts, &src.upn, src.mail.as_deref());
    if let Some(g) = ctx.find_by_address(&address, rec.and_then(|r| r.host_user_id)) {
        let taken_over = rec.is_none_or(|r| r.adopted);
        record.adopted = taken_over;
        settle(&mut record, g);
        push(
            out,
            ActionKind::Adopt {
                host_id: g.id,
                host_upn: g.upn.clone(),
                taken_over,
                changes: diff_live(g),
                add_to_group: ctx.wants_group(Some(g.id)),
            },
            record,
        );
        return;
    }

    // 4. Invite.
    let display_name = wanted
        .get("displayName")
        .and_then(Value::as_str)
        .or_else(|| src.attrs.get("displayName").and_then(Value::as_str))
        .unwrap_or(&address)
        .to_string();
    record.host_user_id = None;
    record.host_upn = None;
    record.adopted = false;
    record.redeemed_at = None;
    record.state = live_state(src, false, false);
    let changes = Changes {
        set: wanted
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .collect::<Profile>(),
        account_enabled: (!src.account_enabled).then_some(false),
    };
    push(
        out,
        ActionKind::Invite {
            address,
            display_name,
            user_type: opts.user_type.clone(),
            changes,
            add_to_group: ctx.group.is_some(),
        },
        record,
    );
}

fn plan_out_of_scope(
    ctx: &Ctx<'_>,
    rec: &GuestRecord,
    out: &mut Vec<Action>,
    removals: &mut Vec<Action>,
) {
    let now = ctx.policy.now;
    let mut record = rec.clone();
    record.state = GuestState::Deprovisioned;
    record.deprovisioned_at = Some(now);
    record.last_synced_at = Some(now);
    record.last_error = None;
    let only = |out: &mut Vec<Action>, record: GuestRecord, reason: &str| {
        out.push(Action {
            source_user_id: rec.source_user_id,
            kind: ActionKind::RecordOnly {
                reason: reason.into(),
            },
            record,
        })
    };
    let Some(host_id) = rec.host_user_id else {
        // Never linked to a host object: nothing of ours to remove. (An
        // invite lost in a crash before its id was recorded is not removed:
        // without the id we cannot prove the object is ours.)
        only(out, record, "left scope before its guest was recorded");
        return;
    };
    let Some(g) = ctx.host_by_id.get(&host_id) else {
        only(
            out,
            record,
            "left scope; its guest is already gone from the host",
        );
        return;
    };
    if rec.adopted && !ctx.policy.options.deprovision_adopted {
        out.push(Action {
            source_user_id: rec.source_user_id,
            kind: ActionKind::Release { host_id },
            record,
        });
        return;
    }
    match ctx.policy.deprovision {
        DeprovisionMode::Disable if !g.account_enabled => {
            only(out, record, "left scope; its guest is already disabled")
        }
        mode => removals.push(Action {
            source_user_id: rec.source_user_id,
            kind: ActionKind::Deprovision { host_id, mode },
            record,
        }),
    }
}

/// The photo job's plan for one guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PhotoActionKind {
    /// Copy the source photo (its media ETag is `etag`).
    Copy { etag: String },
    /// The source photo is gone: remove the guest's.
    Remove,
}

/// One photo write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoAction {
    /// Whose photo (source side).
    pub source_user_id: Guid,
    /// The guest written.
    pub host_id: Guid,
    /// Copy or remove.
    #[serde(flatten)]
    pub kind: PhotoActionKind,
}

/// The photo plan of one tenant (rule 7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhotoPlan {
    /// Ordered by source user id.
    pub actions: Vec<PhotoAction>,
    /// Changed photos not copied yet because their guest is inside the
    /// cool-down after creation (a later photo run copies them).
    pub cooling_down: Vec<Guid>,
    /// Guests whose photo is as recorded.
    pub unchanged: u64,
}

/// Plans photo copies and removals: copy when the source photo's media
/// ETag differs from the one recorded as copied, never within the cool-down
/// after the guest's creation; remove when the source photo is gone.
/// `host_created` gives each host guest's creation time when known (else
/// the record's `created_at` counts).
pub fn plan_photos(
    source: &[SourceUser],
    records: &[GuestRecord],
    host_created: &HashMap<Guid, DateTime<Utc>>,
    options: &TenantOptions,
    now: DateTime<Utc>,
) -> PhotoPlan {
    let mut out = PhotoPlan::default();
    if !options.photos {
        return out;
    }
    let by_source: BTreeMap<Guid, &GuestRecord> =
        records.iter().map(|r| (r.source_user_id, r)).collect();
    let users: BTreeMap<Guid, &SourceUser> = source.iter().map(|u| (u.id, u)).collect();
    let cooldown = Duration::seconds(
        i64::try_from(options.photo_cooldown_secs.min(10 * 365 * 86_400)).unwrap_or(0),
    );
    for (id, u) in users {
        let Some(rec) = by_source.get(&id) else {
            continue;
        };
        let Some(host_id) = rec.host_user_id else {
            continue;
        };
        if rec.state == GuestState::Deprovisioned {
            continue;
        }
        match (&u.photo_etag, &rec.photo_etag) {
            (Some(e), old) if old.as_ref() != Some(e) => {
                let born = host_created
                    .get(&host_id)
                    .copied()
                    .unwrap_or(rec.created_at);
                if now - born < cooldown {
                    out.cooling_down.push(id);
                } else {
                    out.actions.push(PhotoAction {
                        source_user_id: id,
                        host_id,
                        kind: PhotoActionKind::Copy { etag: e.clone() },
                    });
                }
            }
            (None, Some(_)) => out.actions.push(PhotoAction {
                source_user_id: id,
                host_id,
                kind: PhotoActionKind::Remove,
            }),
            _ => out.unchanged += 1,
        }
    }
    out
}

/// Rule 8: records still `invited` whose host guest has redeemed become
/// `accepted` with the redemption date. Returns the updated records.
pub fn plan_redemption(
    records: &[GuestRecord],
    host: &[HostGuest],
    now: DateTime<Utc>,
) -> Vec<GuestRecord> {
    let by_id: HashMap<Guid, &HostGuest> = host.iter().map(|g| (g.id, g)).collect();
    let mut out: Vec<GuestRecord> = records
        .iter()
        .filter(|r| r.state == GuestState::Invited)
        .filter_map(|r| {
            let g = by_id.get(&r.host_user_id?)?;
            g.accepted().then(|| {
                let mut n = r.clone();
                n.state = GuestState::Accepted;
                n.redeemed_at = Some(g.external_user_state_changed_at.unwrap_or(now));
                n
            })
        })
        .collect();
    out.sort_by_key(|r| r.source_user_id);
    out
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
