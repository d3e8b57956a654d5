//! A tenant's policies that `guest-sync doctor` reads: the authorization
//! policy's `allowInvitesFrom`, the people admin photo update settings and
//! the cross-tenant access policy (its default and one entry per partner
//! tenant). Tests set them through [`crate::devtools::sim::Sim::set_policies`]
//! (or `PUT /_sim/tenants/{t}/policies`) to model each misconfiguration.
//!
//! The default state is a host set up as `docs/onboarding.md` says, so that
//! every doctor check passes: invitations from everyone (Entra's default),
//! photos updated in the cloud by anyone allowed by permissions, and a
//! default cross-tenant policy that allows inbound B2B collaboration. As
//! in Graph, the default configuration's
//! `automaticUserConsentSettings.inboundAllowed` and `outboundAllowed` are
//! always false (read-only there): automatic redemption is on only through
//! partner entries, which onboarding adds per source tenant (tests add them
//! with [`SimCrossTenant::inbound_auto_redeem`] in the host and
//! [`SimCrossTenant::outbound_auto_redeem`] in the source).
//!
//! The policies change what invitations do ([`SimPolicies::auto_redeems`]):
//! an invitation of a user of another simulated tenant is redeemed at once
//! (answer `Completed`, `externalUserState` Accepted) when the host's entry
//! for that tenant allows inbound automatic redemption, the source's entry
//! for the host allows it outbound, and inbound B2B collaboration is not
//! blocked. Microsoft documents that with both settings the consent prompt
//! and the invitation e-mail are suppressed and "users don't need to access
//! the tenant first" (cross-tenant access overview, "Automatic redemption
//! setting").
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::Guid;

/// The policies of one simulated tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimPolicies {
    /// `authorizationPolicy.allowInvitesFrom`: `none`,
    /// `adminsAndGuestInviters`, `adminsGuestInvitersAndAllMembers` or
    /// `everyone`. `none` also makes `POST /invitations` answer 403.
    pub allow_invites_from: String,
    /// `photoUpdateSettings.source`: `cloud` or `onPremises`.
    pub photo_source: String,
    /// `photoUpdateSettings.allowedRoles`: role template ids allowed to
    /// edit photos in the cloud; empty = no restriction.
    pub photo_allowed_roles: Vec<String>,
    /// `crossTenantAccessPolicy/default` (its `inbound_auto_redeem` is
    /// answered as false whatever it holds, as Graph does).
    pub cross_tenant_default: SimCrossTenant,
    /// `crossTenantAccessPolicy/partners/{tenantId}`; a tenant not listed
    /// answers 404 (it uses the default).
    pub partners: BTreeMap<Guid, SimCrossTenant>,
}

impl Default for SimPolicies {
    fn default() -> Self {
        SimPolicies {
            allow_invites_from: "everyone".into(),
            photo_source: "cloud".into(),
            photo_allowed_roles: Vec::new(),
            cross_tenant_default: SimCrossTenant {
                inbound_auto_redeem: Some(false),
                b2b_inbound_blocked: Some(false),
                outbound_auto_redeem: Some(false),
            },
            partners: BTreeMap::new(),
        }
    }
}

/// Settings of one cross-tenant access configuration. In a partner
/// entry, `None` is Graph's `null`: the setting is inherited from the
/// default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SimCrossTenant {
    /// `automaticUserConsentSettings.inboundAllowed`.
    pub inbound_auto_redeem: Option<bool>,
    /// `b2bCollaborationInbound.usersAndGroups.accessType` is `blocked` for
    /// `AllUsers`.
    pub b2b_inbound_blocked: Option<bool>,
    /// `automaticUserConsentSettings.outboundAllowed`: this tenant's users
    /// are redeemed automatically in the partner (the source's side).
    pub outbound_auto_redeem: Option<bool>,
}

impl SimPolicies {
    /// Inbound B2B collaboration blocked for `partner`'s users: the
    /// partner entry's setting, else the default's.
    pub fn b2b_inbound_blocked(&self, partner: Guid) -> bool {
        self.partners
            .get(&partner)
            .and_then(|p| p.b2b_inbound_blocked)
            .or(self.cross_tenant_default.b2b_inbound_blocked)
            .unwrap_or(false)
    }

    /// Inbound automatic redemption for `partner` (only a partner entry can
    /// allow it: the default's is always false).
    pub fn inbound_auto_redeem(&self, partner: Guid) -> bool {
        self.partners
            .get(&partner)
            .and_then(|p| p.inbound_auto_redeem)
            .unwrap_or(false)
    }

    /// Outbound automatic redemption towards `partner` (partner entry only).
    pub fn outbound_auto_redeem(&self, partner: Guid) -> bool {
        self.partners
            .get(&partner)
            .and_then(|p| p.outbound_auto_redeem)
            .unwrap_or(false)
    }

    /// Whether a user of `source` invited into the host holding `self`
    /// (whose `source` holds `source_policies`) is redeemed at once.
    pub fn auto_redeems(&self, host: Guid, source: Guid, source_policies: &SimPolicies) -> bool {
        self.inbound_auto_redeem(source)
            && source_policies.outbound_auto_redeem(host)
            && !self.b2b_inbound_blocked(source)
    }
}
