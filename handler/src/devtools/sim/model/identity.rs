//! Secretless sign-in, as Entra does it (`docs/graph-client.md`,
//! "Cross-tenant access and secretless credentials"):
//! - a **managed identity** (user-assigned) lives in its own tenant as a
//!   service principal; Graph application roles can be assigned to it there
//!   and it is issued tokens by the local identity endpoint
//!   (`sim/identity.rs`), for Graph or, with the audience
//!   `api://AzureADTokenExchange`, as an *assertion* for a token exchange;
//! - a **multi-tenant app registration** in the same tenant trusts that
//!   identity through a federated identity credential (issuer
//!   `https://login.microsoftonline.com/{tenant}/v2.0`, subject = the
//!   identity's principal id, audience `api://AzureADTokenExchange`);
//! - **admin consent** in another tenant creates the app's service principal
//!   there with the application permissions the app requires; until then
//!   the token endpoint answers AADSTS700016 for that tenant, as for any app
//!   unknown to a directory;
//! - the token endpoint (`sim/token.rs`) then accepts the identity's
//!   assertion as `client_assertion` for that app in the consenting tenant.
use std::collections::HashMap;

use serde::Serialize;

use super::objects::App;
use super::{SimError, World};
use crate::domain::Guid;

/// The audience of a managed identity's token used as a federated
/// credential's assertion.
pub(crate) const EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// The application permissions a source tenant's app needs (the
/// multi-tenant app requires them and an admin consent grants them).
pub const SOURCE_APP_ROLES: [&str; 2] = ["GroupMember.Read.All", "User.Read.All"];

/// The Graph application roles of a host app (or of the managed identity
/// standing in for it) in the simulator's ready-made setups.
pub const HOST_APP_ROLES: [&str; 3] = [
    "User.Invite.All",
    "User.ReadWrite.All",
    "GroupMember.ReadWrite.All",
];

/// The issuer of a tenant's v2.0 tokens, as a federated credential names it.
pub(crate) fn issuer(tenant: Guid) -> String {
    format!("https://login.microsoftonline.com/{tenant}/v2.0")
}

/// A federated identity credential on an app registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
}

/// A user-assigned managed identity: its client (app) id, the object id of
/// its service principal (`principal_id`, the federated credential's
/// subject), and its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimIdentity {
    pub tenant: Guid,
    pub client_id: Guid,
    pub principal_id: Guid,
}

/// An assertion the identity endpoint issued (the claims the token endpoint
/// checks against the federated credentials).
#[derive(Debug, Clone)]
pub(crate) struct AssertionInfo {
    pub issuer: String,
    pub subject: String,
    pub audience: String,
    /// Simulated seconds.
    pub expires_at: f64,
}

/// The secretless part of the world.
#[derive(Default)]
pub(crate) struct Identities {
    pub identities: Vec<SimIdentity>,
    /// The `IDENTITY_HEADER` value the identity endpoint insists on (set at
    /// start from the seed).
    pub header: String,
    /// Assertions issued, by token value.
    pub assertions: HashMap<String, AssertionInfo>,
    /// Multi-tenant app registrations: app id -> home tenant.
    pub multi_tenant: HashMap<Guid, Guid>,
}

impl Identities {
    /// The identity a request names: by client id, or by principal
    /// (object) id; with neither, the only identity there is (the app's
    /// identity, as on an app with exactly one).
    pub fn find(&self, client_id: Option<&str>, principal_id: Option<&str>) -> Option<SimIdentity> {
        let parse = |s: &str| Guid::parse_named(s, "id").ok();
        match (client_id, principal_id) {
            (Some(c), _) => {
                let c = parse(c)?;
                self.identities.iter().find(|i| i.client_id == c).copied()
            }
            (None, Some(p)) => {
                let p = parse(p)?;
                self.identities
                    .iter()
                    .find(|i| i.principal_id == p)
                    .copied()
            }
            (None, None) if self.identities.len() == 1 => self.identities.first().copied(),
            (None, None) => None,
        }
    }
}

fn app_without_secret(permissions: &[&str], home: Option<Guid>) -> App {
    App {
        secret: String::new(),
        expired: false,
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
        federated: Vec::new(),
        home,
    }
}

impl World {
    /// Creates a user-assigned managed identity in `tenant`, its service
    /// principal holding the Graph application roles `roles`.
    pub fn add_managed_identity(
        &mut self,
        tenant: Guid,
        roles: &[&str],
    ) -> Result<SimIdentity, SimError> {
        self.tenant(tenant)?;
        let client_id = self.new_id();
        let principal_id = self.new_id();
        self.tenant_mut(tenant)?
            .apps
            .insert(client_id, app_without_secret(roles, None));
        let id = SimIdentity {
            tenant,
            client_id,
            principal_id,
        };
        self.identity.identities.push(id);
        Ok(id)
    }

    /// Registers a multi-tenant app in `home` with no secret; with
    /// `trusted` (an identity's principal id) it gets a federated credential
    /// trusting that identity. Returns the app (client) id.
    pub fn add_federated_app(
        &mut self,
        home: Guid,
        trusted: Option<Guid>,
    ) -> Result<Guid, SimError> {
        self.tenant(home)?;
        let app_id = self.new_id();
        self.tenant_mut(home)?
            .apps
            .insert(app_id, app_without_secret(&[], None));
        self.identity.multi_tenant.insert(app_id, home);
        if let Some(p) = trusted {
            self.trust_identity(app_id, p)?;
        }
        Ok(app_id)
    }

    /// Adds a federated credential trusting the identity `principal` to the
    /// multi-tenant app `app_id`.
    pub fn trust_identity(&mut self, app_id: Guid, principal: Guid) -> Result<(), SimError> {
        let home = self.home_of(app_id)?;
        let cred = FederatedCredential {
            issuer: issuer(home),
            subject: principal.to_string(),
            audiences: vec![EXCHANGE_AUDIENCE.to_string()],
        };
        let app = self
            .tenant_mut(home)?
            .apps
            .get_mut(&app_id)
            .ok_or(SimError::UnknownApp {
                tenant: home,
                client_id: app_id,
            })?;
        if !app.federated.contains(&cred) {
            app.federated.push(cred);
        }
        Ok(())
    }

    fn home_of(&self, app_id: Guid) -> Result<Guid, SimError> {
        self.identity
            .multi_tenant
            .get(&app_id)
            .copied()
            .ok_or(SimError::UnknownApp {
                tenant: Guid::from_uuid(uuid::Uuid::nil()),
                client_id: app_id,
            })
    }

    /// An administrator of `tenant` consents to the multi-tenant app: its
    /// service principal appears there holding the permissions the app
    /// requires. Consenting again changes nothing.
    pub fn grant_admin_consent(&mut self, tenant: Guid, app_id: Guid) -> Result<(), SimError> {
        let home = self.home_of(app_id)?;
        let t = self.tenant_mut(tenant)?;
        if tenant == home {
            if let Some(a) = t.apps.get_mut(&app_id) {
                a.permissions = SOURCE_APP_ROLES.iter().map(|p| p.to_string()).collect();
            }
        } else {
            t.apps
                .entry(app_id)
                .or_insert_with(|| app_without_secret(&SOURCE_APP_ROLES, Some(home)));
        }
        Ok(())
    }

    /// Removes the app's service principal from `tenant` (an admin deleting
    /// the enterprise application): tokens for it are refused from then on.
    pub fn revoke_consent(&mut self, tenant: Guid, app_id: Guid) -> Result<(), SimError> {
        let home = self.home_of(app_id)?;
        let t = self.tenant_mut(tenant)?;
        if tenant == home {
            if let Some(a) = t.apps.get_mut(&app_id) {
                a.permissions.clear();
            }
        } else {
            t.apps.remove(&app_id);
        }
        Ok(())
    }

    /// Whether `assertion` matches a federated credential of the app
    /// registration behind `app` (found in `tenant` under `client_id`).
    pub fn assertion_trusted(
        &self,
        tenant: Guid,
        client_id: Guid,
        app: &App,
        assertion: &AssertionInfo,
    ) -> bool {
        let home = app.home.unwrap_or(tenant);
        let Some(reg) = self.tenants.get(&home).and_then(|t| t.apps.get(&client_id)) else {
            return false;
        };
        reg.federated.iter().any(|c| {
            c.issuer == assertion.issuer
                && c.subject == assertion.subject
                && c.audiences.contains(&assertion.audience)
        })
    }
}
