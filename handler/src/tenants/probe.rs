//! The connection test of a source tenant, run before it is registered and
//! by `guest-sync tenant test` (and `secret-update`, `list --live`): get a
//! token with the tenant's app and secret, read the group, count its
//! (transitive) user members, and read one member's attributes (proving
//! `User.Read.All`: without it, members come back with their id only).
//!
//! It goes through the engine's Graph client ([`crate::graph`]): the same
//! token request, retries, paging and error mapping (AADSTS codes,
//! forbidden calls) as a sync run. This module only turns the client's
//! [`GraphError`]s into messages an administrator can act on
//! ([`ConnectionProblem`]).
use serde::Serialize;

use crate::domain::Guid;
use crate::graph::{
    is_token_operation, AadstsCode, AppCredentials, Credential, GraphClient, GraphConfig,
    GraphError, GraphUser, TenantGraph, MANAGED_IDENTITY_OPERATION,
};
use crate::secrets::SecretString;

/// Retries of one call of the test (429, 5xx, dropped connections): an
/// administrator is waiting for the answer, so fewer than a sync run's.
pub const PROBE_MAX_RETRIES: u32 = 4;

/// The member properties the test reads.
const MEMBER_SELECT: &[&str] = &["id", "displayName", "userPrincipalName", "mail"];

/// What the connection test found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionReport {
    /// The group's display name (shown to the admin, never logged).
    pub group_name: Option<String>,
    /// User members of the group, nested groups included.
    pub member_count: u64,
    /// True when a member's attributes were readable (User.Read.All works);
    /// None when the group is empty and the check fell back to reading one
    /// user of the tenant.
    pub attributes_readable: Option<bool>,
    /// Remarks that are not failures (e.g. "the group has no members yet").
    pub notes: Vec<String>,
}

/// Why the connection test failed, in words an administrator can act on.
/// Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionProblem {
    #[error("the client secret is wrong for app {client_id} in tenant {tenant_id} (AADSTS7000215): copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page and store it again with --secret-stdin")]
    WrongSecret { tenant_id: Guid, client_id: Guid },
    #[error("the client secret of app {client_id} in tenant {tenant_id} has expired (AADSTS7000222): the source admin creates a new one (re-run infra/source-tenant/setup.sh), then store it with --secret-stdin")]
    SecretExpired { tenant_id: Guid, client_id: Guid },
    #[error("app {client_id} is not known in tenant {tenant_id} (AADSTS700016): check the app (client) id, and have the source admin create the app there and grant admin consent (infra/source-tenant/setup.sh)")]
    AppNotInTenant { tenant_id: Guid, client_id: Guid },
    #[error("tenant {tenant_id} was not found (AADSTS90002): check the source tenant id (Directory (tenant) ID on the tenant's Entra overview page)")]
    TenantNotFound { tenant_id: Guid },
    #[error("token request for app {client_id} in tenant {tenant_id} was refused ({code}): {description}")]
    TokenRefused {
        tenant_id: Guid,
        client_id: Guid,
        code: String,
        description: String,
    },
    #[error("group {group_id} was not found in tenant {tenant_id}: check the group id (Object ID on the group's overview page)")]
    GroupNotFound { tenant_id: Guid, group_id: Guid },
    #[error("app {client_id} may not read group {group_id} in tenant {tenant_id}: grant the application permission GroupMember.Read.All with admin consent (HTTP {status}{code})")]
    GroupForbidden {
        tenant_id: Guid,
        client_id: Guid,
        group_id: Guid,
        status: u16,
        code: String,
    },
    #[error("app {client_id} can list the members of group {group_id} but not read their attributes: grant the application permission User.Read.All with admin consent in tenant {tenant_id}")]
    MissingUserReadAll {
        tenant_id: Guid,
        client_id: Guid,
        group_id: Guid,
    },
    #[error("{what} could not be reached: {detail}")]
    Unreachable { what: String, detail: String },
    #[error("app {app_id} has no admin consent in tenant {tenant_id} ({code}): a Global Administrator (or Privileged Role Administrator) of tenant {tenant_id} opens {consent_url} and accepts (grants GroupMember.Read.All and User.Read.All); then test again")]
    ConsentNotGranted {
        tenant_id: Guid,
        app_id: Guid,
        code: String,
        consent_url: String,
    },
    #[error("app {app_id} does not trust the function app's managed identity (AADSTS70021): in the host tenant, add to app {app_id} a federated identity credential with issuer https://login.microsoftonline.com/<host tenant id>/v2.0, subject = the managed identity's principal (object) id and audience api://AzureADTokenExchange (infra/secretless.sh creates it), and check that AZURE_CLIENT_ID is that identity's client id")]
    IdentityNotTrusted { tenant_id: Guid, app_id: Guid },
    #[error("the function app's managed identity gave no token: {detail}")]
    ManagedIdentity { detail: String },
    #[error("Microsoft Graph answered HTTP {status} {code} to {what}: {message}")]
    Graph {
        what: String,
        status: u16,
        code: String,
        message: String,
    },
}

/// The connection tester.
#[derive(Debug, Clone)]
pub struct SourceProbe {
    cfg: GraphConfig,
}

/// The ids one test is about, for the messages.
#[derive(Clone, Copy)]
struct Subject {
    tenant_id: Guid,
    client_id: Guid,
    group_id: Guid,
    /// The client is the host's multi-tenant app (consent, not secrets).
    secretless: bool,
}

impl SourceProbe {
    /// A tester reaching the Graph and authority of `cfg` (usually
    /// [`GraphConfig::from_settings`]), with at most [`PROBE_MAX_RETRIES`]
    /// retries per call.
    pub fn new(mut cfg: GraphConfig) -> Self {
        cfg.max_retries = cfg.max_retries.min(PROBE_MAX_RETRIES);
        SourceProbe { cfg }
    }

    /// Runs the whole test. The secret is only sent to the token endpoint.
    pub async fn test(
        &self,
        tenant_id: Guid,
        client_id: Guid,
        secret: &SecretString,
        group_id: Guid,
    ) -> Result<ConnectionReport, ConnectionProblem> {
        let creds = AppCredentials {
            tenant_id,
            client_id,
            secret: secret.clone(),
        };
        self.test_credential(Credential::Secret(creds), group_id)
            .await
    }

    /// The test of a secretless tenant: the host's multi-tenant app
    /// `app_id` signed in to `tenant_id` with the managed identity's
    /// assertion.
    pub async fn test_secretless(
        &self,
        tenant_id: Guid,
        app_id: Guid,
        group_id: Guid,
    ) -> Result<ConnectionReport, ConnectionProblem> {
        self.test_credential(Credential::Federated { tenant_id, app_id }, group_id)
            .await
    }

    /// The admin-consent URL of `app_id` for `tenant_id` (Microsoft
    /// identity platform's `/adminconsent` endpoint, v2.0): the source
    /// admin opens it and accepts the app's Graph application permissions.
    pub fn admin_consent_url(&self, tenant_id: Guid, app_id: Guid) -> String {
        admin_consent_url(&self.cfg, tenant_id, app_id)
    }

    /// Runs the whole test with `creds`.
    pub async fn test_credential(
        &self,
        creds: Credential,
        group_id: Guid,
    ) -> Result<ConnectionReport, ConnectionProblem> {
        use crate::graph::CredentialIds;
        let tenant_id = creds.tenant_id();
        let who = Subject {
            tenant_id,
            client_id: creds.client_id(),
            group_id,
            secretless: matches!(creds, Credential::Federated { .. }),
        };
        // A client of its own for each test: its token cache starts empty,
        // so the token is really requested with `secret` (a token cached for
        // an earlier secret must not vouch for a new one), and its pacing
        // budget is shared with nothing else.
        let client = GraphClient::new(self.cfg.clone())
            .map_err(|e| self.graph_problem("building the HTTP client", e))?;
        client
            .check(&creds)
            .await
            .map_err(|e| self.token_problem(e, who))?;
        tracing::debug!(tenant_id = %tenant_id, "connection test: token ok");
        let graph = client.tenant(creds);

        // 1. The group itself.
        let group = graph
            .get_group(group_id, &[])
            .await
            .map_err(|e| self.group_problem(e, &format!("reading group {group_id}"), who))?;
        let group_name = group.display_name().map(str::to_string);

        // 2. Count the user members (transitively) and look at the first.
        let (member_count, first) = self.members(&graph, who).await?;

        // 3. Attributes readable? (User.Read.All)
        let mut notes = Vec::new();
        let attributes_readable = match &first {
            Some(m) => {
                let readable = [m.display_name(), m.user_principal_name()]
                    .iter()
                    .any(|v| v.is_some_and(|s| !s.is_empty()));
                if !readable {
                    return Err(missing_user_read_all(who));
                }
                Some(true)
            }
            None => {
                notes.push(format!(
                    "group {group_id} has no user members yet: add users (or groups of users) to it; the first sync will find them"
                ));
                self.any_user_readable(&graph, who).await?
            }
        };
        tracing::info!(tenant_id = %tenant_id, group_id = %group_id, member_count, "connection test passed");
        Ok(ConnectionReport {
            group_name,
            member_count,
            attributes_readable,
            notes,
        })
    }

    /// The group's transitive user member count (Graph's `@odata.count`,
    /// or every page counted when Graph gives none) and its first member.
    async fn members(
        &self,
        graph: &TenantGraph,
        who: Subject,
    ) -> Result<(u64, Option<GraphUser>), ConnectionProblem> {
        let what = format!("listing the members of group {}", who.group_id);
        let page = graph
            .group_members_first_page(who.group_id, MEMBER_SELECT, 1)
            .await
            .map_err(|e| self.group_problem(e, &what, who))?;
        let count = match (page.count, page.more) {
            (Some(n), _) => n,
            (None, false) => page.users.len() as u64,
            (None, true) => {
                let read = graph
                    .for_each_group_member_page(who.group_id, &["id"], |_| {})
                    .await;
                if let Some(e) = read.error {
                    return Err(self.group_problem(e, &what, who));
                }
                read.items
            }
        };
        Ok((count, page.users.into_iter().next()))
    }

    /// For an empty group: reads one user of the tenant to see whether
    /// attributes are readable; None when the tenant shows no user or the
    /// read fails for another reason than a refusal.
    async fn any_user_readable(
        &self,
        graph: &TenantGraph,
        who: Subject,
    ) -> Result<Option<bool>, ConnectionProblem> {
        let select = ["id", "displayName", "userPrincipalName"];
        match graph.first_users(&select, 1).await {
            Ok(users) => match users.first() {
                Some(u) if is_null(u, "displayName") && is_null(u, "userPrincipalName") => {
                    Err(missing_user_read_all(who))
                }
                Some(_) => Ok(Some(true)),
                None => Ok(None),
            },
            Err(e) if is_token_operation(e.context().operation) => Err(self.token_problem(e, who)),
            Err(GraphError::Forbidden { .. } | GraphError::Auth { .. }) => {
                Err(missing_user_read_all(who))
            }
            Err(e) if e.status().is_none() => {
                Err(self.graph_problem("reading one user of the tenant", e))
            }
            Err(_) => Ok(None),
        }
    }

    /// The problem a failed token request of `client_id` in `tenant_id`
    /// names, in the connection test's words (`guest-sync doctor` gets
    /// its tokens itself, to read their roles).
    pub fn token_error(
        &self,
        e: GraphError,
        tenant_id: Guid,
        client_id: Guid,
    ) -> ConnectionProblem {
        self.token_problem(
            e,
            Subject {
                tenant_id,
                client_id,
                group_id: tenant_id,
                secretless: false,
            },
        )
    }

    /// Like [`Self::token_error`] for any credential (a secretless one
    /// names the consent URL and the federated credential fix).
    pub fn credential_error(&self, e: GraphError, cred: &Credential) -> ConnectionProblem {
        use crate::graph::CredentialIds;
        self.token_problem(
            e,
            Subject {
                tenant_id: cred.tenant_id(),
                client_id: cred.client_id(),
                group_id: cred.tenant_id(),
                secretless: matches!(cred, Credential::Federated { .. }),
            },
        )
    }

    /// A failed token request.
    fn token_problem(&self, e: GraphError, who: Subject) -> ConnectionProblem {
        let Subject {
            tenant_id,
            client_id,
            ..
        } = who;
        if e.context().operation == MANAGED_IDENTITY_OPERATION {
            return ConnectionProblem::ManagedIdentity {
                detail: transport_detail(&e),
            };
        }
        if who.secretless {
            if let GraphError::Auth { code, .. } = &e {
                match code {
                    AadstsCode::AppNotFound | AadstsCode::ConsentNotGranted(_) => {
                        return ConnectionProblem::ConsentNotGranted {
                            tenant_id,
                            app_id: client_id,
                            code: code.to_string(),
                            consent_url: self.admin_consent_url(tenant_id, client_id),
                        }
                    }
                    AadstsCode::IdentityNotTrusted => {
                        return ConnectionProblem::IdentityNotTrusted {
                            tenant_id,
                            app_id: client_id,
                        }
                    }
                    _ => {}
                }
            }
        }
        match e {
            GraphError::Auth {
                code, detail, ctx, ..
            } => match code {
                AadstsCode::InvalidSecret => ConnectionProblem::WrongSecret {
                    tenant_id,
                    client_id,
                },
                AadstsCode::ExpiredSecret => ConnectionProblem::SecretExpired {
                    tenant_id,
                    client_id,
                },
                AadstsCode::AppNotFound => ConnectionProblem::AppNotInTenant {
                    tenant_id,
                    client_id,
                },
                AadstsCode::TenantNotFound => ConnectionProblem::TenantNotFound { tenant_id },
                AadstsCode::ConsentNotGranted(_) => ConnectionProblem::AppNotInTenant {
                    tenant_id,
                    client_id,
                },
                AadstsCode::Other(_)
                | AadstsCode::IdentityNotTrusted
                | AadstsCode::AssertionRejected(_) => ConnectionProblem::TokenRefused {
                    tenant_id,
                    client_id,
                    code: code.to_string(),
                    description: detail,
                },
                AadstsCode::Unknown => ConnectionProblem::TokenRefused {
                    tenant_id,
                    client_id,
                    code: ctx
                        .status
                        .map(|s| format!("HTTP {s}"))
                        .unwrap_or_else(|| code.to_string()),
                    description: detail,
                },
            },
            GraphError::InvalidResponse { .. } => ConnectionProblem::TokenRefused {
                tenant_id,
                client_id,
                code: "no access_token".into(),
                description: "the token answer carried no access token".into(),
            },
            e => match e.status() {
                None => ConnectionProblem::Unreachable {
                    what: format!("the Entra token endpoint {}", self.cfg.authority_url),
                    detail: transport_detail(&e),
                },
                Some(status) => ConnectionProblem::TokenRefused {
                    tenant_id,
                    client_id,
                    code: format!("HTTP {status}"),
                    description: transport_detail(&e),
                },
            },
        }
    }

    /// A failed read of the group or its members.
    fn group_problem(&self, e: GraphError, what: &str, who: Subject) -> ConnectionProblem {
        if is_token_operation(e.context().operation) {
            // The token was fetched again (Graph refused the cached one).
            return self.token_problem(e, who);
        }
        match &e {
            GraphError::NotFound { .. } => ConnectionProblem::GroupNotFound {
                tenant_id: who.tenant_id,
                group_id: who.group_id,
            },
            GraphError::Forbidden { ctx, .. } | GraphError::Auth { ctx, .. } => {
                ConnectionProblem::GroupForbidden {
                    tenant_id: who.tenant_id,
                    client_id: who.client_id,
                    group_id: who.group_id,
                    status: ctx.status.unwrap_or(403),
                    code: ctx
                        .graph_code
                        .as_deref()
                        .filter(|c| !c.is_empty())
                        .map(|c| format!(" {c}"))
                        .unwrap_or_default(),
                }
            }
            _ => self.graph_problem(what, e),
        }
    }

    /// Any other failure of a Graph call: no answer, or an answer that is
    /// neither a refusal nor "not found".
    fn graph_problem(&self, what: &str, e: GraphError) -> ConnectionProblem {
        match e.status() {
            None => ConnectionProblem::Unreachable {
                what: format!("Microsoft Graph {}", self.cfg.graph_url),
                detail: transport_detail(&e),
            },
            Some(status) => {
                let code = e.graph_code().unwrap_or_default().to_string();
                ConnectionProblem::Graph {
                    what: what.to_string(),
                    status,
                    message: graph_message(&e, &code),
                    code,
                }
            }
        }
    }
}

/// `{authority}/{tenant}/v2.0/adminconsent?client_id=…&scope={graph}/.default`.
pub fn admin_consent_url(cfg: &GraphConfig, tenant_id: Guid, app_id: Guid) -> String {
    let mut u = cfg.authority_url.clone();
    if let Ok(mut s) = u.path_segments_mut() {
        s.pop_if_empty();
        s.push(&tenant_id.to_string());
        s.extend(["v2.0", "adminconsent"]);
    }
    u.set_query(None);
    let scope = {
        let mut g = cfg.graph_url.clone();
        g.set_path("/.default");
        g.set_query(None);
        g.to_string()
    };
    u.query_pairs_mut()
        .append_pair("client_id", &app_id.to_string())
        .append_pair("scope", &scope);
    u.to_string()
}

fn missing_user_read_all(who: Subject) -> ConnectionProblem {
    ConnectionProblem::MissingUserReadAll {
        tenant_id: who.tenant_id,
        client_id: who.client_id,
        group_id: who.group_id,
    }
}

/// The property is absent or null (what Graph answers without
/// `User.Read.All`).
fn is_null(u: &GraphUser, name: &str) -> bool {
    u.attrs.get(name).is_none_or(serde_json::Value::is_null)
}

/// Why a call got no usable answer: the client's own words for transient
/// failures (e.g. `could not connect: … Connection refused`), else the
/// whole error.
fn transport_detail(e: &GraphError) -> String {
    match e {
        GraphError::Transient { detail, .. } | GraphError::Permanent { detail, .. } => {
            detail.clone()
        }
        e => e.to_string(),
    }
}

/// Graph's message of a refused call, without the error code the client
/// puts in front of it (`code: message`).
fn graph_message(e: &GraphError, code: &str) -> String {
    match e {
        GraphError::Transient { detail, .. } | GraphError::Permanent { detail, .. } => match detail
            .strip_prefix(code)
        {
            Some(rest) if !code.is_empty() => rest.strip_prefix(": ").unwrap_or(rest).to_string(),
            _ => detail.clone(),
        },
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(status: Option<u16>, code: Option<&str>) -> crate::graph::ErrorContext {
        crate::graph::ErrorContext {
            operation: "get group",
            status,
            client_request_id: uuid::Uuid::nil(),
            graph_code: code.map(str::to_string),
        }
    }

    fn probe() -> SourceProbe {
        let u: url::Url = "https://graph.microsoft.com".parse().unwrap();
        SourceProbe::new(GraphConfig::new(u.clone(), u))
    }

    fn who() -> Subject {
        Subject {
            tenant_id: Guid::new_v4(),
            client_id: Guid::new_v4(),
            group_id: Guid::new_v4(),
            secretless: false,
        }
    }

    /// Graph's message loses the code the client put in front of it; an
    /// answer without a Graph error keeps the client's words.
    #[test]
    fn graph_messages_lose_the_code_prefix() {
        let e = GraphError::Permanent {
            detail: "BadRequest: Invalid select".into(),
            ctx: ctx(Some(400), Some("BadRequest")),
        };
        assert_eq!(graph_message(&e, "BadRequest"), "Invalid select");
        let e = GraphError::Permanent {
            detail: "HTTP 400".into(),
            ctx: ctx(Some(400), None),
        };
        assert_eq!(graph_message(&e, ""), "HTTP 400");
    }

    /// Token errors map to the problem naming what to fix; an unlisted
    /// AADSTS code keeps the authority's description.
    #[test]
    fn token_errors_map_to_problems() {
        let p = probe();
        let w = who();
        let auth = |code, detail: &str| GraphError::Auth {
            code,
            message: String::new(),
            detail: detail.into(),
            ctx: ctx(Some(400), Some("invalid_client")),
        };
        assert!(matches!(
            p.token_problem(auth(AadstsCode::InvalidSecret, ""), w),
            ConnectionProblem::WrongSecret { .. }
        ));
        assert_eq!(
            p.token_problem(auth(AadstsCode::Other(50034), "AADSTS50034: Nope."), w)
                .to_string(),
            format!(
                "token request for app {} in tenant {} was refused (AADSTS50034): AADSTS50034: Nope.",
                w.client_id, w.tenant_id
            )
        );
        let e = p.token_problem(auth(AadstsCode::Unknown, ""), w);
        assert!(e.to_string().contains("(HTTP 400)"), "{e}");
    }

    /// A 401/403 on the group names GroupMember.Read.All with Graph's code;
    /// a 404 is "group not found".
    #[test]
    fn group_refusals_and_absence_are_named() {
        let p = probe();
        let w = who();
        let e = p.group_problem(
            GraphError::Forbidden {
                missing_permission: Some("GroupMember.Read.All".into()),
                detail: String::new(),
                ctx: ctx(Some(403), Some("Authorization_RequestDenied")),
            },
            "reading group",
            w,
        );
        assert!(
            e.to_string()
                .ends_with("(HTTP 403 Authorization_RequestDenied)"),
            "{e}"
        );
        let e = p.group_problem(
            GraphError::NotFound {
                what: String::new(),
                ctx: ctx(Some(404), None),
            },
            "reading group",
            w,
        );
        assert_eq!(
            e,
            ConnectionProblem::GroupNotFound {
                tenant_id: w.tenant_id,
                group_id: w.group_id
            }
        );
    }

    /// The admin-consent URL is the v2.0 endpoint of the source tenant at
    /// the configured authority, with the app and the Graph scope.
    #[test]
    fn admin_consent_url_names_tenant_app_and_scope() {
        let cfg = GraphConfig::new(
            url::Url::parse("https://graph.microsoft.com").unwrap(),
            url::Url::parse("https://login.microsoftonline.com/").unwrap(),
        );
        let t = Guid::new_v4();
        let a = Guid::new_v4();
        assert_eq!(
            admin_consent_url(&cfg, t, a),
            format!("https://login.microsoftonline.com/{t}/v2.0/adminconsent?client_id={a}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default")
        );
    }

    /// A secretless sign-in refused for want of consent names the URL; an
    /// untrusted identity names the federated credential; the managed
    /// identity's own failure is told apart.
    #[test]
    fn secretless_token_errors_name_consent_and_trust() {
        let p = probe();
        let t = Guid::new_v4();
        let a = Guid::new_v4();
        let cred = Credential::Federated {
            tenant_id: t,
            app_id: a,
        };
        let auth = |code| GraphError::Auth {
            code,
            message: String::new(),
            detail: String::new(),
            ctx: crate::graph::ErrorContext {
                operation: crate::graph::TOKEN_OPERATION,
                status: Some(400),
                client_request_id: uuid::Uuid::nil(),
                graph_code: None,
            },
        };
        for code in [
            AadstsCode::AppNotFound,
            AadstsCode::ConsentNotGranted(65001),
        ] {
            let e = p.credential_error(auth(code), &cred);
            assert!(
                matches!(e, ConnectionProblem::ConsentNotGranted { .. }),
                "{e:?}"
            );
            assert!(
                e.to_string().contains("/v2.0/adminconsent?client_id="),
                "{e}"
            );
        }
        let e = p.credential_error(auth(AadstsCode::IdentityNotTrusted), &cred);
        assert!(
            e.to_string().contains("federated identity credential"),
            "{e}"
        );
        let e = p.credential_error(
            GraphError::Transient {
                detail: "could not connect".into(),
                ctx: crate::graph::ErrorContext {
                    operation: MANAGED_IDENTITY_OPERATION,
                    status: None,
                    client_request_id: uuid::Uuid::nil(),
                    graph_code: None,
                },
            },
            &cred,
        );
        assert!(
            matches!(e, ConnectionProblem::ManagedIdentity { .. }),
            "{e:?}"
        );
        // A secret tenant's 700016 keeps its old advice.
        let e = p.token_error(auth(AadstsCode::AppNotFound), t, a);
        assert!(
            matches!(e, ConnectionProblem::AppNotInTenant { .. }),
            "{e:?}"
        );
    }
}
