//! What the engine keeps per source tenant to read changes instead of
//! whole tenants (Graph delta queries; `docs/engine.md`, "Incremental
//! reconcile"). Stored in the tenant record; the links are opaque Graph
//! URLs (state tokens, not credentials), never shown or logged.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::Guid;

/// Graph filters `groups/delta` by at most this many ids: a scope with
/// more nested groups is always read whole.
pub const MAX_DELTA_GROUPS: usize = 50;

/// The delta links of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaTracking {
    /// The links in force: the next reconcile reads changes from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<DeltaLinks>,
    /// Links taken at the start of the full reconcile in progress; they
    /// become `active` when it finishes with a complete read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<DeltaLinks>,
}

/// Where each side's changes are read from next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaLinks {
    /// The scope group these links were taken for (a tenant whose group
    /// changed is read whole again).
    pub scope_group: Guid,
    /// The scope group and every group nested in it (transitively), whose
    /// direct member changes `groups_link` reports.
    pub groups: Vec<Guid>,
    /// `groups/delta` (filtered to `groups`, members) in the source.
    pub groups_link: String,
    /// `users/delta` in the source (profile changes, deleted users).
    pub users_link: String,
    /// `users/delta` in the host (changes by host administrators). Empty
    /// while pending: it is taken when the full reconcile ends.
    #[serde(default)]
    pub host_link: String,
    /// When the full read these links follow began.
    pub full_at: DateTime<Utc>,
    /// What the links were taken for (the properties read, the anchor
    /// attribute, the host group): links of other settings are not used.
    #[serde(default)]
    pub fingerprint: String,
}

impl DeltaLinks {
    /// Whether a full read is due: none since `hours` (0 = always), or the
    /// scope group changed.
    pub fn full_due(&self, scope_group: Guid, hours: u64, now: DateTime<Utc>) -> bool {
        hours == 0
            || self.scope_group != scope_group
            || self.host_link.is_empty()
            || now - self.full_at >= chrono::Duration::hours(hours as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(at: DateTime<Utc>) -> DeltaLinks {
        DeltaLinks {
            scope_group: Guid::from_uuid(uuid::Uuid::from_u128(1)),
            groups: vec![Guid::from_uuid(uuid::Uuid::from_u128(1))],
            groups_link: "g".into(),
            users_link: "u".into(),
            host_link: "h".into(),
            full_at: at,
            fingerprint: String::new(),
        }
    }

    #[test]
    fn a_full_read_is_due_after_the_interval_or_when_the_group_changed() {
        let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let l = links(t0);
        let g = Guid::from_uuid(uuid::Uuid::from_u128(1));
        assert!(!l.full_due(g, 24, t0 + chrono::Duration::hours(23)));
        assert!(l.full_due(g, 24, t0 + chrono::Duration::hours(24)));
        assert!(l.full_due(g, 0, t0));
        assert!(l.full_due(Guid::from_uuid(uuid::Uuid::from_u128(2)), 24, t0));
        let mut no_host = l.clone();
        no_host.host_link.clear();
        assert!(no_host.full_due(g, 24, t0));
    }

    #[test]
    fn old_records_without_links_decode() {
        let t: DeltaTracking = serde_json::from_str("{}").unwrap();
        assert_eq!(t, DeltaTracking::default());
    }
}
