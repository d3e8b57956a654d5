//! Reading a tenant's cross-tenant access settings for one partner: the
//! partner's own entry (`GET /policies/crossTenantAccessPolicy/partners/
//! {tenantId}`, 404 when it has none) with every `null` setting inherited
//! from the default (`GET .../crossTenantAccessPolicy/default`), as Graph
//! documents. Policy.Read.All. Shared by `guest-sync doctor`, `guest-sync
//! tenant add`/`test`/`list` and the daily job.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{GraphError, TenantGraph};
use crate::domain::{CrossTenantStatus, Guid, InboundB2b, Toggle};

/// The default configuration, read once per pass over many partners:
/// None until read, then the policy or why it could not be read.
pub type DefaultPolicy = Option<Result<Value, String>>;

/// The inbound settings that apply to one partner.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundPolicy {
    /// The partner has an entry of its own (else the default applies).
    pub own_entry: bool,
    /// The `b2bCollaborationInbound` in force (None: Graph's service
    /// default, allowed for all).
    pub b2b: Option<Value>,
    /// `automaticUserConsentSettings.inboundAllowed` in force (None: not
    /// set anywhere, which Graph documents as false).
    pub auto_redeem: Option<bool>,
}

/// Why the settings could not be read.
#[derive(Debug)]
pub enum PolicyReadError {
    /// The partner entry could not be read.
    Partner(GraphError),
    /// The partner entry inherits and the default could not be read.
    Default(String),
}

impl PolicyReadError {
    /// True when Graph refused the read (a missing permission).
    pub fn forbidden(&self) -> bool {
        match self {
            PolicyReadError::Partner(e) => {
                matches!(e, GraphError::Forbidden { .. } | GraphError::Auth { .. })
            }
            PolicyReadError::Default(_) => false,
        }
    }
}

impl std::fmt::Display for PolicyReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyReadError::Partner(e) => write!(f, "{e}"),
            PolicyReadError::Default(e) => write!(
                f,
                "the default cross-tenant access policy could not be read: {e}"
            ),
        }
    }
}

/// Who inbound B2B collaboration applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B2bAccess {
    AllowedAll,
    AllowedSome,
    BlockedAll,
    BlockedSome,
}

impl InboundPolicy {
    /// Inbound B2B collaboration for the partner's users.
    pub fn b2b_access(&self) -> B2bAccess {
        let ug = self.b2b.as_ref().and_then(|v| v.get("usersAndGroups"));
        let access = ug
            .and_then(|v| v.get("accessType"))
            .and_then(Value::as_str)
            .unwrap_or("allowed");
        let all_users = ug
            .and_then(|v| v.get("targets"))
            .and_then(Value::as_array)
            .is_none_or(|ts| {
                ts.iter()
                    .any(|t| t.get("target").and_then(Value::as_str) == Some("AllUsers"))
            });
        match (access, all_users) {
            ("blocked", true) => B2bAccess::BlockedAll,
            ("blocked", false) => B2bAccess::BlockedSome,
            (_, false) => B2bAccess::AllowedSome,
            _ => B2bAccess::AllowedAll,
        }
    }

    /// Inbound automatic redemption in force.
    pub fn auto_redeem(&self) -> bool {
        self.auto_redeem == Some(true)
    }

    /// The stored form.
    pub fn status(&self, checked_at: DateTime<Utc>) -> CrossTenantStatus {
        CrossTenantStatus {
            automatic_redemption: if self.auto_redeem() {
                Toggle::On
            } else {
                Toggle::Off
            },
            inbound_b2b: match self.b2b_access() {
                B2bAccess::AllowedAll => InboundB2b::Allowed,
                B2bAccess::BlockedAll => InboundB2b::Blocked,
                B2bAccess::AllowedSome | B2bAccess::BlockedSome => InboundB2b::Limited,
            },
            partner_entry: Some(self.own_entry),
            reason: None,
            checked_at,
        }
    }
}

/// A setting of `v` that is present and not `null`.
fn set(v: Option<&Value>, key: &str) -> Option<Value> {
    v.and_then(|v| v.get(key)).filter(|x| !x.is_null()).cloned()
}

fn inbound_allowed(v: Option<&Value>) -> Option<bool> {
    v.and_then(|v| v.pointer("/automaticUserConsentSettings/inboundAllowed"))
        .and_then(Value::as_bool)
}

/// Reads the inbound settings `host` applies to `partner`. `default` caches
/// the default configuration across calls (pass `&mut None` for one).
pub async fn read_inbound(
    host: &TenantGraph,
    partner: Guid,
    default: &mut DefaultPolicy,
) -> Result<InboundPolicy, PolicyReadError> {
    let own = match host
        .get_policy(&["crossTenantAccessPolicy", "partners", &partner.to_string()])
        .await
    {
        Ok(v) => Some(v),
        Err(GraphError::NotFound { .. }) => None,
        Err(e) => return Err(PolicyReadError::Partner(e)),
    };
    let mut b2b = set(own.as_ref(), "b2bCollaborationInbound");
    let mut auto = inbound_allowed(own.as_ref());
    if b2b.is_none() || auto.is_none() {
        if default.is_none() {
            *default = Some(
                host.get_policy(&["crossTenantAccessPolicy", "default"])
                    .await
                    .map_err(|e| e.to_string()),
            );
        }
        match default.as_ref() {
            Some(Ok(d)) => {
                b2b = b2b.or_else(|| set(Some(d), "b2bCollaborationInbound"));
                auto = auto.or_else(|| inbound_allowed(Some(d)));
            }
            Some(Err(e)) => return Err(PolicyReadError::Default(e.clone())),
            None => {}
        }
    }
    Ok(InboundPolicy {
        own_entry: own.is_some(),
        b2b,
        auto_redeem: auto,
    })
}

/// [`read_inbound`] as the stored status; a failed read is `unknown` with
/// the reason (naming Policy.Read.All when Graph refused it). Never fails.
pub async fn inbound_status(
    host: &TenantGraph,
    partner: Guid,
    default: &mut DefaultPolicy,
    now: DateTime<Utc>,
) -> CrossTenantStatus {
    match read_inbound(host, partner, default).await {
        Ok(p) => p.status(now),
        Err(e) => CrossTenantStatus::unknown(unreadable_reason(&e), now),
    }
}

/// Why a read failed, in words naming the fix.
pub fn unreadable_reason(e: &PolicyReadError) -> String {
    if e.forbidden() {
        "the host app may not read the cross-tenant access policy (grant it Policy.Read.All with admin consent)".to_string()
    } else {
        format!("the cross-tenant access policy could not be read: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(b2b: Value) -> InboundPolicy {
        InboundPolicy {
            own_entry: true,
            b2b: Some(b2b),
            auto_redeem: Some(true),
        }
    }

    #[test]
    fn b2b_access_of_targets() {
        let all = |a: &str| json!({"usersAndGroups": {"accessType": a, "targets": [{"target": "AllUsers", "targetType": "user"}]}});
        let some = |a: &str| json!({"usersAndGroups": {"accessType": a, "targets": [{"target": "6f546279-4da5-4b53-a095-09ea0cef9971", "targetType": "group"}]}});
        assert_eq!(policy(all("blocked")).b2b_access(), B2bAccess::BlockedAll);
        assert_eq!(policy(some("blocked")).b2b_access(), B2bAccess::BlockedSome);
        assert_eq!(policy(some("allowed")).b2b_access(), B2bAccess::AllowedSome);
        assert_eq!(policy(all("allowed")).b2b_access(), B2bAccess::AllowedAll);
        let none = InboundPolicy {
            own_entry: false,
            b2b: None,
            auto_redeem: None,
        };
        assert_eq!(none.b2b_access(), B2bAccess::AllowedAll);
        let s = none.status(DateTime::<Utc>::MIN_UTC);
        assert_eq!(s.automatic_redemption, Toggle::Off);
        assert_eq!(s.inbound_b2b, InboundB2b::Allowed);
        assert_eq!(
            policy(all("blocked"))
                .status(DateTime::<Utc>::MIN_UTC)
                .inbound_b2b,
            InboundB2b::Blocked
        );
    }
}
