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
//!
//! # Layout
//! - this file: the planner's inputs (source and host pictures, the policy)
//!   and its output ([`Plan`], [`Action`], [`ActionKind`]).
//! - [`reconcile`]: [`plan`] itself, the reconcile plan (rules 1-6, 10).
//! - [`guard`]: removals held back (incomplete read, the deprovision guard).
//! - [`photos`]: [`plan_photos`] (rule 7).
//! - [`redemption`]: [`plan_redemption`] (rule 8).
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::anchor::{Anchor, AnchorAttribute};
use super::ids::Guid;
use super::policy::MaxDeprovisions;
use super::policy::{DeprovisionMode, TenantOptions};
use super::profile::Changes;
use super::records::GuestRecord;

mod guard;
mod photos;
mod reconcile;
mod redemption;
mod relations;

pub use guard::{GuardTrip, HeldBack, HoldReason};
pub use photos::{plan_photos, PhotoAction, PhotoActionKind, PhotoPlan};
pub use reconcile::{
    host_addresses, in_scope, invite_address, plan, plan_part, record_differs, relink_records, Part,
};
pub use redemption::{awaits_redemption, plan_redemption};
pub use relations::{plan_relations, ManagerChange, RelationChange, RelationInputs};

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
    pub attrs: crate::domain::Attrs,
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
    pub attrs: crate::domain::Attrs,
    /// The ownership anchor it carries (whose guest it is), if any.
    #[serde(default)]
    pub anchor: Option<Anchor>,
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
    pub attrs: crate::domain::Attrs,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// The ownership anchor it carried, if any.
    #[serde(default)]
    pub anchor: Option<Anchor>,
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
    /// Set when Graph refused to select the anchor attribute: the picture
    /// was read without it, so this run neither reads nor writes anchors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_unreadable: Option<String>,
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
    /// Where guests we create carry their ownership anchor
    /// (`GUESTSYNC_ANCHOR_ATTRIBUTE`; None = anchors off).
    pub anchor: Option<AnchorAttribute>,
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
            anchor: None,
        }
    }

    /// The same policy writing anchors to `attribute`.
    pub fn with_anchor(mut self, attribute: Option<AnchorAttribute>) -> Self {
        self.anchor = attribute;
        self
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

impl Action {
    /// Where the action sorts in a plan: (kind rank, source user id),
    /// unique in a plan (one action per source user).
    pub fn order_key(&self) -> (u8, Guid) {
        (self.kind.rank(), self.source_user_id)
    }
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
    /// Removals (deprovisions) the deletion guard admitted in the whole
    /// plan; when the plan is applied part by part
    /// ([`Part`]), `actions` holds only the part's.
    #[serde(default)]
    pub removals: u64,
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

#[cfg(test)]
mod tests;
