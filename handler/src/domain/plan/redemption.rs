//! The redemption job's plan ([`plan_redemption`], rule 8).
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::HostGuest;
use crate::domain::ids::Guid;
use crate::domain::records::{GuestRecord, GuestState};

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
