//! Looking one user up live in a source tenant (`guest-sync explain
//! --live`, `docs/explain.md`): does the user exist there, and are they a
//! transitive member of the tenant's scope group right now?
//!
//! Read-only: the user by object id or UPN (else by mail, the adoption
//! pre-check's address filter), then the group's transitive user members
//! (the same read a reconcile makes, ids only). The answer carries object
//! ids and the tenant's name; the user's UPN is the caller's.
use serde::Serialize;

use crate::domain::{Guid, SourceTenant};
use crate::graph::GraphUser;

use super::{source_credentials, SyncContext};

/// What a live lookup in one source tenant found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveLookup {
    pub tenant_id: Guid,
    pub tenant_name: String,
    pub group_id: Guid,
    /// The user's object id in the source tenant (None: not found).
    pub user_id: Option<Guid>,
    /// A transitive member of the scope group (None: unknown, the lookup
    /// failed or the user was not found).
    pub in_group: Option<bool>,
    /// The answer in a sentence ("in scope through group …", "not in the
    /// group …", "not found in …", or why the lookup failed).
    pub sentence: String,
}

const SELECT: &[&str] = &[
    "id",
    "userPrincipalName",
    "mail",
    "userType",
    "accountEnabled",
];

/// Looks `query` (object id, UPN or mail) up in `tenant` and checks the
/// scope group's transitive membership. Never fails: a failure is the
/// sentence (with the error text).
pub async fn lookup_user(ctx: &SyncContext, tenant: &SourceTenant, query: &str) -> LiveLookup {
    let mut out = LiveLookup {
        tenant_id: tenant.tenant_id,
        tenant_name: tenant.display_name.clone(),
        group_id: tenant.group_id,
        user_id: None,
        in_group: None,
        sentence: String::new(),
    };
    let name = &tenant.display_name;
    let creds = match source_credentials(ctx, tenant).await {
        Ok(c) => c,
        Err(e) => {
            out.sentence = format!("could not look the user up in tenant {name}: {e}");
            return out;
        }
    };
    let g = ctx.graph.tenant(creds);
    let q = query.trim();
    let found: Result<Option<GraphUser>, crate::graph::GraphError> = match q.parse::<Guid>() {
        Ok(id) => match g.get_user(id, SELECT).await {
            Ok(u) => Ok(Some(u)),
            Err(crate::graph::GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        },
        Err(_) => match g.get_user_by_upn(q, SELECT).await {
            Ok(Some(u)) => Ok(Some(u)),
            Ok(None) => g
                .find_users_by_address(q, SELECT)
                .await
                .map(|us| us.into_iter().next()),
            Err(e) => Err(e),
        },
    };
    let user = match found {
        Ok(Some(u)) => u,
        Ok(None) => {
            out.sentence = format!("not found in tenant {name}");
            return out;
        }
        Err(e) => {
            out.sentence = format!("could not look the user up in tenant {name}: {e}");
            return out;
        }
    };
    out.user_id = Some(user.id);
    match g.group_user_members(tenant.group_id, &["id"]).await {
        Ok(members) => {
            let member = members.iter().any(|m| m.id == user.id);
            out.in_group = Some(member);
            let guest_note = if user.is_guest() && !tenant.options.include_source_guests {
                " (but a guest of the source tenant: out of scope unless includeSourceGuests)"
            } else {
                ""
            };
            out.sentence = if member {
                format!(
                    "in scope through group {} of tenant {name} (transitive member, read now){guest_note}",
                    tenant.group_id
                )
            } else {
                format!(
                    "not in the group {} of tenant {name} (read now): not in scope",
                    tenant.group_id
                )
            };
        }
        Err(e) => {
            out.sentence = format!(
                "found in tenant {name}, but reading group {} failed: {e}",
                tenant.group_id
            );
        }
    }
    tracing::info!(
        tenant_id = %tenant.tenant_id,
        user_id = %user.id,
        in_group = out.in_group,
        "looked a user up live"
    );
    out
}
