//! The host's cross-tenant access settings for one source tenant, as last
//! read ([`CrossTenantStatus`]): whether the host lets that tenant's users
//! be redeemed automatically (the host's inbound side of automatic
//! redemption) and whether it allows their B2B collaboration at all.
//!
//! `guest-sync tenant add`/`test` and the daily job write it on the
//! tenant's record, so `tenant list` and the dashboard can show it without
//! calling Graph. The source tenant's outbound side cannot be read with the
//! source app's permissions; the source setup script sets it.
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// On, off, or not known (the reason is on the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    On,
    Off,
    #[default]
    Unknown,
}

impl Toggle {
    pub fn as_str(self) -> &'static str {
        match self {
            Toggle::On => "on",
            Toggle::Off => "off",
            Toggle::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Toggle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Inbound B2B collaboration for the tenant's users
/// (`b2bCollaborationInbound.usersAndGroups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundB2b {
    /// Allowed for all users.
    Allowed,
    /// Allowed only for some users or groups, or blocked for some: the
    /// invitations of the others fail.
    Limited,
    /// Blocked for all users: no guest of this tenant can sign in.
    Blocked,
    #[default]
    Unknown,
}

impl InboundB2b {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundB2b::Allowed => "allowed",
            InboundB2b::Limited => "limited",
            InboundB2b::Blocked => "blocked",
            InboundB2b::Unknown => "unknown",
        }
    }
}

impl fmt::Display for InboundB2b {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host's cross-tenant access settings for one source tenant, as last
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossTenantStatus {
    /// The host's inbound automatic redemption for the tenant
    /// (`automaticUserConsentSettings.inboundAllowed`). Guests are redeemed
    /// without a consent prompt only when the source's outbound side is on
    /// too (set by the source setup script; not readable from the host).
    #[serde(default)]
    pub automatic_redemption: Toggle,
    /// Inbound B2B collaboration for the tenant's users.
    #[serde(default)]
    pub inbound_b2b: InboundB2b,
    /// True when the host has a partner entry of its own for the tenant;
    /// false when the default settings apply; None when not read.
    #[serde(default)]
    pub partner_entry: Option<bool>,
    /// Why the settings are unknown (e.g. the host app lacks
    /// Policy.Read.All).
    #[serde(default)]
    pub reason: Option<String>,
    pub checked_at: DateTime<Utc>,
}

impl CrossTenantStatus {
    /// Settings that could not be read, and why.
    pub fn unknown(reason: impl Into<String>, checked_at: DateTime<Utc>) -> Self {
        CrossTenantStatus {
            automatic_redemption: Toggle::Unknown,
            inbound_b2b: InboundB2b::Unknown,
            partner_entry: None,
            reason: Some(reason.into()),
            checked_at,
        }
    }

    /// One line for people: `automatic redemption on (host inbound); …`.
    pub fn summary(&self) -> String {
        match (self.automatic_redemption, &self.reason) {
            (Toggle::Unknown, Some(r)) => format!("automatic redemption unknown: {r}"),
            (a, _) => format!(
                "automatic redemption {a} (host inbound{}; outbound: set by the source setup script), inbound B2B {}",
                match self.partner_entry {
                    Some(true) => ", partner entry",
                    Some(false) => ", default settings",
                    None => "",
                },
                self.inbound_b2b
            ),
        }
    }

    /// What to do when automatic redemption is not on (None when it is).
    pub fn hint(&self) -> Option<String> {
        match self.automatic_redemption {
            Toggle::On => None,
            Toggle::Off => Some(AUTO_REDEEM_HINT.to_string()),
            Toggle::Unknown => Some(format!(
                "{}; {AUTO_REDEEM_HINT}",
                self.reason.as_deref().unwrap_or("not read yet")
            )),
        }
    }
}

/// The fix when automatic redemption is off.
pub const AUTO_REDEEM_HINT: &str = "guests see a consent prompt at their first sign-in; to spare them, the host admin ticks \"Automatically redeem invitations\" in the inbound trust settings for this tenant (infra/host-cross-tenant.sh) and the source admin the same outbound (infra/source-tenant/setup.sh)";

/// The fix when inbound B2B collaboration is blocked.
pub const B2B_BLOCKED_FIX: &str = "the host admin allows B2B collaboration for this tenant: Entra admin center > External Identities > Cross-tenant access settings > Organizational settings > the tenant (add it if missing) > Inbound access > B2B collaboration > Allow access (or run infra/host-cross-tenant.sh)";

#[cfg(test)]
mod tests {
    use super::*;

    /// An old record without the field, and the wire names.
    #[test]
    fn serde_shape() {
        let s = CrossTenantStatus::unknown("no Policy.Read.All", DateTime::<Utc>::MIN_UTC);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["automaticRedemption"], "unknown");
        assert_eq!(v["inboundB2b"], "unknown");
        let back: CrossTenantStatus = serde_json::from_value(serde_json::json!({
            "checkedAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(back.automatic_redemption, Toggle::Unknown);
        assert!(s.hint().unwrap().contains("no Policy.Read.All"));
    }
}
