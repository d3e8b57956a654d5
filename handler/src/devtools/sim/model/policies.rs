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
//! `automaticUserConsentSettings.inboundAllowed` is always false (read-only
//! there): automatic redemption is on only through a partner entry, which
//! onboarding adds per source tenant (tests add it with
//! [`SimCrossTenant::inbound_auto_redeem`]).
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
            },
            partners: BTreeMap::new(),
        }
    }
}

/// Inbound settings of one cross-tenant access configuration. In a partner
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
}
