//! The redemption job's plan ([`plan_redemption`], rule 8).
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::HostGuest;
use crate::domain::ids::Guid;
use crate::domain::records::{GuestRecord, GuestState};

/// Whether the redemption job looks at this record: still `invited`, or
/// `disabled` without a redemption date (a disabled guest can redeem too).
pub fn awaits_redemption(r: &GuestRecord) -> bool {
    r.host_user_id.is_some()
        && (r.state == GuestState::Invited
            || (r.state == GuestState::Disabled && r.redeemed_at.is_none()))
}

/// Rule 8: records still `invited` whose host guest has redeemed become
/// `accepted` with the redemption date; `disabled` records get the date and
/// keep their state. Returns the updated records.
pub fn plan_redemption(
    records: &[GuestRecord],
    host: &[HostGuest],
    now: DateTime<Utc>,
) -> Vec<GuestRecord> {
    let by_id: HashMap<Guid, &HostGuest> = host.iter().map(|g| (g.id, g)).collect();
    let mut out: Vec<GuestRecord> = records
        .iter()
        .filter(|r| awaits_redemption(r))
        .filter_map(|r| {
            let g = by_id.get(&r.host_user_id?)?;
            g.accepted().then(|| {
                let mut n = r.clone();
                if n.state == GuestState::Invited {
                    n.state = GuestState::Accepted;
                }
                n.redeemed_at = Some(g.external_user_state_changed_at.unwrap_or(now));
                n
            })
        })
        .collect();
    out.sort_by_key(|r| r.source_user_id);
    out
}
