//! The doctor's checks of one source tenant: its secret readable, a token
//! obtainable with it (the app exists and is consented there; a wrong or
//! expired secret named), the roles `GroupMember.Read.All` and
//! `User.Read.All` in that token, and the scope group readable with its
//! members' attributes, through the onboarding connection test
//! ([`SourceProbe`]), so the words and fixes are the same as `guest-sync
//! tenant test`'s.
use super::config::secret;
use super::host::{missing, Role};
use super::{Check, Parts, Report};
use crate::domain::SourceTenant;
use crate::graph::{AppCredentials, Credential};
use crate::tenants::{ConnectionProblem, SourceProbe};

const READ_MEMBERS: Role = Role {
    name: "GroupMember.Read.All",
    satisfied_by: &[
        "GroupMember.Read.All",
        "GroupMember.ReadWrite.All",
        "Group.Read.All",
        "Group.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
};
const READ_USERS: Role = Role {
    name: "User.Read.All",
    satisfied_by: &[
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
};

/// What went wrong, in a few words (the problem's message is the fix).
fn summary(p: &ConnectionProblem) -> String {
    match p {
        ConnectionProblem::WrongSecret { .. } => {
            "refused: wrong client secret (AADSTS7000215)".into()
        }
        ConnectionProblem::SecretExpired { .. } => {
            "refused: the client secret has expired (AADSTS7000222)".into()
        }
        ConnectionProblem::AppNotInTenant { .. } => {
            "refused: the app is not in the tenant, admin consent not given (AADSTS700016)".into()
        }
        ConnectionProblem::TenantNotFound { .. } => {
            "refused: tenant not found (AADSTS90002)".into()
        }
        ConnectionProblem::TokenRefused { code, .. } => format!("refused ({code})"),
        ConnectionProblem::GroupNotFound { group_id, .. } => format!("group {group_id} not found"),
        ConnectionProblem::GroupForbidden { group_id, .. } => {
            format!("group {group_id} may not be read (GroupMember.Read.All)")
        }
        ConnectionProblem::MissingUserReadAll { .. } => {
            "members' attributes cannot be read (User.Read.All)".into()
        }
        ConnectionProblem::Unreachable { what, .. } => format!("{what} could not be reached"),
        ConnectionProblem::ConsentNotGranted { code, .. } => {
            format!("refused: no admin consent for the secretless app ({code})")
        }
        ConnectionProblem::IdentityNotTrusted { .. } => {
            "refused: the app does not trust the managed identity (AADSTS70021)".into()
        }
        ConnectionProblem::ManagedIdentity { .. } => {
            "the function app's managed identity gave no token".into()
        }
        ConnectionProblem::Graph { status, code, .. } => {
            format!("Graph answered HTTP {status} {code}")
        }
    }
}

/// The checks of `t`.
pub async fn check(parts: &Parts, t: &SourceTenant, r: &mut Report) {
    let tid = t.tenant_id;
    let pre = format!("source.{tid}");
    let name = if t.enabled {
        format!("source tenant {tid}")
    } else {
        format!("source tenant {tid} (disabled)")
    };
    // A secretless tenant has no secret to read: the host's multi-tenant
    // app signs in with the managed identity's assertion.
    let creds = match t.secret() {
        None => Credential::Federated {
            tenant_id: tid,
            app_id: t.client_id,
        },
        Some(secret_name) => {
            let Some(secrets) = &parts.secrets else {
                return;
            };
            let Some(value) = secret(
                secrets.as_ref(),
                secret_name,
                format!("{pre}.secret"),
                &name,
                r,
            )
            .await
            else {
                return;
            };
            Credential::Secret(AppCredentials {
                tenant_id: tid,
                client_id: t.client_id,
                secret: value,
            })
        }
    };
    let probe = SourceProbe::new(parts.graph.config().clone());
    let token_title = format!("{name}: app token");
    let roles = match parts.graph.roles(&creds).await {
        Ok(roles) => {
            r.push(Check::ok(
                format!("{pre}.token"),
                token_title,
                format!("app {} signs in ({}, consented)", t.client_id, t.credential),
            ));
            roles
        }
        Err(e) => {
            let p = probe.credential_error(e, &creds);
            r.push(Check::fail(
                format!("{pre}.token"),
                token_title,
                summary(&p),
                p.to_string(),
            ));
            return;
        }
    };
    let roles_title = format!("{name}: app roles");
    match roles {
        None => r.push(Check::warn(
            format!("{pre}.roles"),
            roles_title,
            "the access token is not a JWT: its roles cannot be read",
            "check the roles on the app registration's API permissions page in the source tenant",
        )),
        Some(roles) => {
            let lacking = missing(&[&READ_MEMBERS, &READ_USERS], &roles);
            if lacking.is_empty() {
                r.push(Check::ok(
                    format!("{pre}.roles"),
                    roles_title,
                    "GroupMember.Read.All and User.Read.All granted",
                ));
            } else {
                r.push(Check::fail(
                    format!("{pre}.roles"),
                    roles_title,
                    format!("missing {}", lacking.join(", ")),
                    format!(
                        "the source admin adds the Microsoft Graph application permission(s) {} to app {} and grants admin consent in tenant {tid} (infra/source-tenant/setup.sh)",
                        lacking.join(", "),
                        t.client_id
                    ),
                ));
            }
        }
    }
    let group_title = format!("{name}: group {}", t.group_id);
    match probe.test_credential(creds, t.group_id).await {
        Ok(rep) if rep.member_count == 0 => r.push(Check::warn(
            format!("{pre}.group"),
            group_title,
            "readable, no user members yet",
            rep.notes.join("; "),
        )),
        Ok(rep) => r.push(Check::ok(
            format!("{pre}.group"),
            group_title,
            format!(
                "readable, {} user member(s), attributes readable",
                rep.member_count
            ),
        )),
        Err(p) => r.push(Check::fail(
            format!("{pre}.group"),
            group_title,
            summary(&p),
            p.to_string(),
        )),
    }
}
