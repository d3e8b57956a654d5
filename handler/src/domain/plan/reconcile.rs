//! The reconcile plan of one tenant ([`plan`]): for each source user in
//! scope, invite, adopt, restore, update or add to the host group; for each
//! record out of scope, deprovision or release (rules 1-6 and 10), and the
//! matching rules they rest on (invite address, host addresses, scope).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::guard::{self, HeldBack, HoldReason};
use super::{
    Action, ActionKind, DeletedHostUser, HostGuest, HostPicture, Plan, PlanPolicy, SourcePicture,
    SourceUser, RESTORE_WINDOW_DAYS,
};
use crate::domain::anchor::{Anchor, AnchorWrite};
use crate::domain::ids::Guid;
use crate::domain::policy::{DeprovisionMode, InviteAddress, TenantOptions};
use crate::domain::profile::{self, Changes, Profile};
use crate::domain::records::{GuestRecord, GuestState};

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
/// The lower-case domain of an address, if it has one.
fn domain_of(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
}

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
    /// Domains the source tenant owns (its users' UPN domains and the
    /// tenant's `mailDomains`), lower case: a mail invite goes only there.
    owned_domains: BTreeSet<String>,
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

    /// The anchor to write on a guest of ours that does not carry it yet
    /// (`current` = what it carries). A guest carrying another anchor is
    /// left alone: its anchor is not ours to rewrite.
    fn anchor_for(&self, src: Guid, current: Option<Anchor>, written: bool) -> Option<AnchorWrite> {
        let attribute = self.policy.anchor.clone()?;
        (current.is_none() && !written).then(|| AnchorWrite {
            attribute,
            anchor: Anchor::new(self.tenant, src),
        })
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
        anchored: false,
        relations: Default::default(),
    });
    r.source_upn = src.upn.clone();
    r.source_mail = src.mail.clone();
    r.last_synced_at = Some(now);
    r.last_error = None;
    r
}

/// Records for the host users anchored to this tenant that no record links
/// (the store was lost or restored from an old backup): each is re-linked
/// as *managed*, because the anchor proves the engine created it. A guest
/// found disabled while its source user is enabled or gone is *held*: we
/// cannot tell whether we or a host administrator disabled it, so it is
/// left as it is and reported. Used by [`plan`] and `guest-sync store
/// rebuild`.
pub fn relink_records(
    tenant: Guid,
    source: &SourcePicture,
    records: &[GuestRecord],
    host: &HostPicture,
    policy: &PlanPolicy,
) -> Vec<GuestRecord> {
    let known_sources: BTreeSet<Guid> = records
        .iter()
        .filter(|r| r.source_tenant_id == tenant)
        .map(|r| r.source_user_id)
        .collect();
    let known_hosts: BTreeSet<Guid> = records.iter().filter_map(|r| r.host_user_id).collect();
    let wanted: HashMap<Guid, &SourceUser> = source
        .users
        .iter()
        .filter(|u| in_scope(&policy.options, u))
        .map(|u| (u.id, u))
        .collect();
    let now = policy.now;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut guests: Vec<&HostGuest> = host.guests.iter().collect();
    guests.sort_by_key(|g| g.id);
    for g in guests {
        let Some(a) = g.anchor.filter(|a| a.tenant == tenant) else {
            continue;
        };
        if known_sources.contains(&a.user) || known_hosts.contains(&g.id) || !seen.insert(a.user) {
            continue;
        }
        let src = wanted.get(&a.user).copied();
        let held = !g.account_enabled && src.is_none_or(|s| s.account_enabled);
        let state = if held {
            GuestState::Held
        } else if !g.account_enabled {
            GuestState::Disabled
        } else if g.accepted() {
            GuestState::Accepted
        } else {
            GuestState::Invited
        };
        out.push(GuestRecord {
            source_tenant_id: tenant,
            source_user_id: a.user,
            source_upn: src
                .map(|s| s.upn.clone())
                .or_else(|| g.mail.clone())
                .unwrap_or_default(),
            source_mail: src.and_then(|s| s.mail.clone()),
            host_user_id: Some(g.id),
            host_upn: Some(g.upn.clone()),
            state,
            adopted: false,
            created_at: g.created_at.unwrap_or(now),
            redeemed_at: g
                .accepted()
                .then(|| g.external_user_state_changed_at.unwrap_or(now)),
            deprovisioned_at: None,
            last_synced_at: Some(now),
            profile_fingerprint: None,
            photo_etag: None,
            photo_copied_at: None,
            last_error: held.then(|| {
                "held: found disabled when re-linked by its ownership anchor (we cannot tell who disabled it); left as it is (guest-sync guest release hands it back)".to_string()
            }),
            anchored: true,
            relations: Default::default(),
        });
    }
    out
}

/// One part of a plan: the source users whose id falls in it
/// ([`Part::contains`]). A large tenant is planned and applied part after
/// part, so that only one part's actions (profiles, records) are in memory
/// at a time; every part is planned from the same whole pictures, so the
/// parts together are exactly the whole plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// This part, `0..of`.
    pub index: u32,
    /// How many parts the plan is cut into (1 = whole).
    pub of: u32,
}

impl Part {
    /// The whole plan in one part.
    pub const WHOLE: Part = Part { index: 0, of: 1 };

    /// The parts a plan of `users` source users is cut into, so that each
    /// holds about `per_part` users (at least 1 part).
    pub fn count(users: usize, per_part: usize) -> u32 {
        let per = per_part.max(1);
        u32::try_from(users.div_ceil(per))
            .unwrap_or(u32::MAX)
            .max(1)
    }

    /// Whether the source user `id` belongs to this part: by a hash of the
    /// id, so the parts are about equal whatever the ids look like (the
    /// same in every part of one run: that is all it needs).
    pub fn contains(&self, id: Guid) -> bool {
        use std::hash::{Hash, Hasher};
        if self.of <= 1 {
            return true;
        }
        let mut h = std::hash::DefaultHasher::new();
        id.as_uuid().hash(&mut h);
        h.finish() % u64::from(self.of) == u64::from(self.index)
    }
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
    plan_part(tenant, source, records, host, policy, Part::WHOLE)
}

/// The actions and holds of one [`Part`] of the plan [`plan`] computes:
/// the in-scope users of the part are planned, while removals and the
/// deletion guard are decided over the whole tenant (the guard sees every
/// removal, whichever part applies it). `in_scope`, `guard` and `removals`
/// are the whole plan's; `actions`, `held_back` and `unchanged` the part's.
pub fn plan_part(
    tenant: Guid,
    source: &SourcePicture,
    records: &[GuestRecord],
    host: &HostPicture,
    policy: &PlanPolicy,
    part: Part,
) -> Plan {
    let opts = &policy.options;
    // Guests anchored to this tenant that no record links: ours, re-linked.
    let relinked = relink_records(tenant, source, records, host, policy);
    let records_all = || records.iter().chain(relinked.iter());
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
        linked: records_all().filter_map(|r| r.host_user_id).collect(),
        owned_domains: source
            .users
            .iter()
            .filter_map(|u| domain_of(&u.upn))
            .chain(
                policy
                    .options
                    .mail_domains
                    .iter()
                    .map(|d| d.trim().to_lowercase()),
            )
            .collect(),
        group: host.group_members.as_ref(),
    };
    let by_source: BTreeMap<Guid, &GuestRecord> = records_all()
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
        if !part.contains(*id) {
            continue;
        }
        let before = out.actions.len();
        plan_in_scope(&ctx, src, by_source.get(id).copied(), &mut out.actions);
        if out.actions.len() == before {
            out.unchanged += 1;
        }
    }

    // Out of scope: records whose user is not in the picture.
    let mut removals: Vec<Action> = Vec::new();
    for (id, rec) in &by_source {
        if wanted.contains_key(id)
            || matches!(rec.state, GuestState::Deprovisioned | GuestState::Held)
        {
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
        let managed = by_source.values().filter(|r| r.is_managed()).count() as u64;
        guard::admit_removals(&mut out, removals, managed, policy);
    }
    out.removals = out
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Deprovision { .. }))
        .count() as u64;
    // Only this part's out-of-scope actions and holds (the guard above
    // counted them all).
    out.actions.retain(|a| part.contains(a.source_user_id));
    out.held_back.retain(|h| part.contains(h.source_user_id));

    // A re-linked record nothing else stores is stored on its own.
    let acted: BTreeSet<Guid> = out.actions.iter().map(|a| a.source_user_id).collect();
    for r in relinked {
        if acted.contains(&r.source_user_id) || !part.contains(r.source_user_id) {
            continue;
        }
        if wanted.contains_key(&r.source_user_id) {
            out.unchanged = out.unchanged.saturating_sub(1);
        }
        out.actions.push(Action {
            source_user_id: r.source_user_id,
            kind: ActionKind::RecordOnly {
                reason: "re-linked to its guest by the ownership anchor".into(),
            },
            record: r,
        });
    }

    // An unstable sort needs no buffer (a stable one copies half the
    // plan); it is as deterministic, and the keys hardly ever tie.
    out.actions.sort_unstable_by_key(Action::order_key);
    out.actions.shrink_to_fit();
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
    let (wanted, truncated) = profile::wanted_profile_noting(&opts.attribute_mapping, &src.attrs);
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
    let diff_live = |g: &HostGuest| {
        Changes {
            set: profile::diff(&wanted, &g.attrs),
            account_enabled: (g.account_enabled != src.account_enabled)
                .then_some(src.account_enabled),
            ..Changes::default()
        }
        .noting(&truncated)
    };
    let settle = |record: &mut GuestRecord, g: &HostGuest| {
        record.host_user_id = Some(g.id);
        record.host_upn = Some(g.upn.clone());
        record.state = live_state(src, g.accepted(), was_redeemed);
        // A redemption is recorded whatever the record's state: a disabled
        // guest can redeem too (it keeps its state).
        if g.accepted() && record.redeemed_at.is_none() {
            record.redeemed_at = Some(g.external_user_state_changed_at.unwrap_or(now));
        }
    };

    // 0. Held by the host: a host administrator took this guest over;
    // it stays exactly as they left it until released.
    if rec.is_some_and(|r| r.state == GuestState::Held) {
        return;
    }
    // What we last did to it: only a guest we believe live and enabled can
    // be found disabled or deleted by someone else.
    let believed_live = rec.is_some_and(|r| {
        r.host_user_id.is_some() && matches!(r.state, GuestState::Invited | GuestState::Accepted)
    });
    let hold = |record: &mut GuestRecord, out: &mut Vec<Action>, why: &str, deleted_at| {
        record.state = GuestState::Held;
        record.deprovisioned_at = deleted_at;
        record.last_error = Some(format!(
            "held by the host: {why}; left as it is (guest-sync guest release hands it back)"
        ));
        out.push(Action {
            source_user_id: src.id,
            kind: ActionKind::RecordOnly {
                reason: format!("{why}: held by the host"),
            },
            record: record.clone(),
        });
    };

    // 1. The record's own host object, live.
    if let Some(g) = rec
        .and_then(|r| r.host_user_id)
        .and_then(|h| ctx.host_by_id.get(&h).copied())
    {
        if believed_live && !g.account_enabled && src.account_enabled {
            // Blocked by a host administrator (incident response): never
            // re-enabled by a sync.
            hold(&mut record, out, "disabled by a host administrator", None);
            return;
        }
        settle(&mut record, g);
        let mut changes = diff_live(g);
        if !record.adopted {
            changes.anchor = ctx.anchor_for(src.id, g.anchor, record.anchored);
            record.anchored |= changes.anchor.is_some();
        }
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

    // 2. Our host object is in deleted items: restore it, unless someone
    // else deleted it.
    if let Some(d) = rec
        .and_then(|r| r.host_user_id)
        .and_then(|h| ctx.deleted_by_id.get(&h).copied())
    {
        if believed_live || rec.is_some_and(|r| r.state == GuestState::Disabled) {
            let at = Some(d.deleted_at.unwrap_or(now));
            hold(&mut record, out, "deleted by a host administrator", at);
            return;
        }
        let in_window = rec
            .and_then(|r| r.deprovisioned_at.or(d.deleted_at))
            .is_none_or(|t| now - t <= Duration::days(RESTORE_WINDOW_DAYS));
        if in_window {
            record.host_user_id = Some(d.id);
            record.host_upn = d.upn.clone().or(record.host_upn);
            record.state = live_state(src, was_redeemed, was_redeemed);
            let mut changes = Changes {
                set: profile::diff(&wanted, &d.attrs),
                account_enabled: (d.account_enabled != src.account_enabled)
                    .then_some(src.account_enabled),
                ..Changes::default()
            }
            .noting(&truncated);
            if !record.adopted {
                changes.anchor = ctx.anchor_for(src.id, d.anchor, record.anchored);
                record.anchored |= changes.anchor.is_some();
            }
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

    // 2b. Our guest is gone for good (neither live nor in deleted items)
    // and we did not remove it: a host administrator did. A guest younger
    // than an hour may just not be visible yet (eventual consistency).
    if believed_live && rec.is_some_and(|r| now - r.created_at > Duration::hours(1)) {
        hold(
            &mut record,
            out,
            "removed by a host administrator",
            Some(now),
        );
        return;
    }

    // 3. A live host user with the invite address: adopt or re-link.
    let address = invite_address(opts, &src.upn, src.mail.as_deref());
    // A mail address at a domain the source tenant does not own could be
    // anyone's (rule 11): never invited or linked, a reported conflict.
    let conflict = |mut record: GuestRecord, out: &mut Vec<Action>, why: String, reason: &str| {
        record.state = GuestState::Conflict;
        record.host_user_id = None;
        record.host_upn = None;
        record.adopted = false;
        record.last_error = Some(why);
        if rec.is_none_or(|r| record_differs(r, &record) || r.state != GuestState::Conflict) {
            out.push(Action {
                source_user_id: src.id,
                kind: ActionKind::RecordOnly {
                    reason: reason.into(),
                },
                record,
            });
        }
    };
    if opts.invite_address == InviteAddress::Mail
        && domain_of(&address).is_none_or(|d| !ctx.owned_domains.contains(&d))
    {
        conflict(
            record,
            out,
            "the user's mail is at a domain the source tenant does not own (not one of its users' UPN domains nor the tenant's mailDomains): not invited".into(),
            "mail domain not owned by the source tenant: conflict",
        );
        return;
    }
    let me = Anchor::new(ctx.tenant, src.id);
    if let Some(g) = ctx.find_by_address(&address, rec.and_then(|r| r.host_user_id)) {
        if let Some(other) = g.anchor.filter(|a| *a != me) {
            let whose = if other.tenant == ctx.tenant {
                format!("source user {} of this tenant", other.user)
            } else {
                format!("source tenant {}", other.tenant)
            };
            conflict(
                record,
                out,
                format!(
                    "the address belongs to host user {}, anchored to {whose}: never taken over",
                    g.id
                ),
                "address held by a guest anchored elsewhere: conflict",
            );
            return;
        }
        let taken_over = rec.is_none_or(|r| r.adopted) && g.anchor != Some(me);
        record.adopted = taken_over;
        settle(&mut record, g);
        let mut changes = diff_live(g);
        if !taken_over {
            changes.anchor = ctx.anchor_for(src.id, g.anchor, record.anchored);
            record.anchored |= changes.anchor.is_some();
        }
        push(
            out,
            ActionKind::Adopt {
                host_id: g.id,
                host_upn: g.upn.clone(),
                taken_over,
                changes,
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
        anchor: ctx.anchor_for(src.id, None, false),
        ..Changes::default()
    }
    .noting(&truncated);
    record.anchored = changes.anchor.is_some();
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
