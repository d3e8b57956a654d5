//! Removals held back (rule 6): why a deprovision was not made, and the
//! deprovision guard that holds every removal of a run back when there are
//! more than it allows.
use serde::{Deserialize, Serialize};

use super::{Action, ActionKind, Plan, PlanPolicy};
use crate::domain::ids::Guid;

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

/// The deprovision guard: adds `removals` (the run's deprovisions) to the
/// plan when there are no more than the limit for `managed` guests allows,
/// or an administrator confirmed that many; otherwise holds every one back
/// and records the trip.
pub(super) fn admit_removals(
    out: &mut Plan,
    removals: Vec<Action>,
    managed: u64,
    policy: &PlanPolicy,
) {
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
