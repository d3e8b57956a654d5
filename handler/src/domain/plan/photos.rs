//! The photo job's plan ([`plan_photos`], rule 7): which guests' photos to
//! copy or remove, and which wait out the cool-down after creation.
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::SourceUser;
use crate::domain::ids::Guid;
use crate::domain::policy::TenantOptions;
use crate::domain::records::{GuestRecord, GuestState};

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
