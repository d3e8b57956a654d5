//! The doctor's host checks, all with the host app's own token: the token
//! itself and the application roles it carries, whether invitations are
//! allowed (`authorizationPolicy.allowInvitesFrom`), whether the app can
//! write guest photos (`photoUpdateSettings`), whether the ownership anchor
//! attribute is readable, and for each registered source tenant the host's
//! cross-tenant access settings (inbound B2B collaboration and automatic
//! redemption). Only GET requests.
use serde_json::Value;

use super::config::secret;
use super::{Check, Parts, Report};
use crate::domain::{AnchorAttribute, Guid, SourceTenant};
use crate::graph::cross_tenant::{read_inbound, B2bAccess, DefaultPolicy, PolicyReadError};
use crate::graph::{AadstsCode, AppCredentials, Credential, GraphError, TenantGraph};

/// An application role and the roles that include it.
pub(super) struct Role {
    pub name: &'static str,
    pub satisfied_by: &'static [&'static str],
}

const INVITE: Role = Role {
    name: "User.Invite.All",
    satisfied_by: &[
        "User.Invite.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ],
};
const WRITE_USERS: Role = Role {
    name: "User.ReadWrite.All",
    satisfied_by: &["User.ReadWrite.All", "Directory.ReadWrite.All"],
};
const WRITE_MEMBERS: Role = Role {
    name: "GroupMember.ReadWrite.All",
    satisfied_by: &[
        "GroupMember.ReadWrite.All",
        "Group.ReadWrite.All",
        "Directory.ReadWrite.All",
    ],
};
/// Needed by the doctor alone (policies, photo settings): a warning.
const READ_POLICY: Role = Role {
    name: "Policy.Read.All",
    satisfied_by: &[
        "Policy.Read.All",
        "Policy.ReadWrite.Authorization",
        "Policy.ReadWrite.CrossTenantAccess",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
};
const READ_PEOPLE_SETTINGS: Role = Role {
    name: "PeopleSettings.Read.All",
    satisfied_by: &["PeopleSettings.Read.All", "PeopleSettings.ReadWrite.All"],
};

/// The roles of `needed` that `granted` does not cover.
pub(super) fn missing<'a>(needed: &[&'a Role], granted: &[String]) -> Vec<&'a str> {
    needed
        .iter()
        .filter(|r| {
            !r.satisfied_by
                .iter()
                .any(|s| granted.iter().any(|g| g == s))
        })
        .map(|r| r.name)
        .collect()
}

/// The host checks, then the cross-tenant checks of each of `partners`.
pub async fn check(parts: &Parts, partners: &[SourceTenant], r: &mut Report) {
    let st = &parts.settings;
    let managed = st.host_credential == crate::settings::HostCredential::ManagedIdentity;
    let creds = if managed {
        // No secret: the function app's managed identity holds the roles.
        Credential::ManagedIdentity {
            tenant_id: st.host_tenant_id,
        }
    } else {
        let Some(secrets) = &parts.secrets else {
            return;
        };
        let Some(value) = secret(
            secrets.as_ref(),
            &st.host_secret_name,
            "host.secret".into(),
            "the host app",
            r,
        )
        .await
        else {
            return;
        };
        Credential::Secret(AppCredentials {
            tenant_id: st.host_tenant_id,
            client_id: st.host_client_id,
            secret: value,
        })
    };
    let roles = match parts.graph.roles(&creds).await {
        Ok(roles) => {
            r.push(Check::ok(
                "host.token",
                "host app token",
                if managed {
                    format!(
                        "the function app's managed identity signs in to tenant {}",
                        st.host_tenant_id
                    )
                } else {
                    format!(
                        "app {} signs in to tenant {}",
                        st.host_client_id, st.host_tenant_id
                    )
                },
            ));
            roles
        }
        Err(e) => {
            match &creds {
                Credential::Secret(c) => {
                    r.push(token_failure(&e, c, &st.host_secret_name.to_string()))
                }
                _ => r.push(Check::fail(
                    "host.token",
                    "host app token",
                    "the managed identity gave no host token",
                    format!("{e}; with GUESTSYNC_HOST_CREDENTIAL=managed-identity the function app's user-assigned identity (AZURE_CLIENT_ID) must hold the host's Graph application roles (infra/secretless.sh --host-roles assigns them)"),
                )),
            }
            return;
        }
    };
    roles_check(roles.as_deref(), st.host_group_id.is_some(), r);
    let host = parts.graph.tenant(creds);
    invitations(&host, r).await;
    photos(&host, r).await;
    anchor(&host, st.anchor_attribute.as_ref(), st.host_client_id, r).await;
    let mut default = None;
    for t in partners {
        cross_tenant(&host, t.tenant_id, &mut default, r).await;
    }
}

/// A refused or failed token request of the host app.
fn token_failure(e: &GraphError, creds: &AppCredentials, secret_name: &str) -> Check {
    const ID: &str = "host.token";
    const TITLE: &str = "host app token";
    let (tenant, app) = (creds.tenant_id, creds.client_id);
    match e {
        GraphError::Auth { code, detail, .. } => {
            let fix = match code {
                AadstsCode::InvalidSecret => format!("copy the secret's Value (not its Secret ID) from app {app}'s Certificates & secrets page and store it under {secret_name}"),
                AadstsCode::ExpiredSecret => format!("create a new client secret for app {app} and store it under {secret_name}"),
                AadstsCode::AppNotFound => format!("check GUESTSYNC_HOST_CLIENT_ID: app {app} does not exist in tenant {tenant} (infra/README.md creates it)"),
                AadstsCode::TenantNotFound => format!("check GUESTSYNC_HOST_TENANT_ID: tenant {tenant} does not exist"),
                _ => "see the authority's description; check the host app registration".into(),
            };
            Check::fail(ID, TITLE, format!("refused ({code}): {detail}"), fix)
        }
        e if e.status().is_none() => Check::fail(
            ID,
            TITLE,
            format!("the authority could not be reached: {e}"),
            "check GUESTSYNC_AUTHORITY_URL and the network path to it",
        ),
        e => Check::fail(
            ID,
            TITLE,
            e.to_string(),
            "check GUESTSYNC_AUTHORITY_URL and the host app registration",
        ),
    }
}

/// The roles the engine needs (a failure when missing) and the ones the
/// doctor reads with (a warning).
fn roles_check(roles: Option<&[String]>, host_group: bool, r: &mut Report) {
    const ID: &str = "host.roles";
    const TITLE: &str = "host app roles";
    let Some(roles) = roles else {
        r.push(Check::warn(
            ID,
            TITLE,
            "the access token is not a JWT: its roles cannot be read",
            "check the roles on the app registration's API permissions page",
        ));
        return;
    };
    let mut needed = vec![&INVITE, &WRITE_USERS];
    if host_group {
        needed.push(&WRITE_MEMBERS);
    }
    let engine = missing(&needed, roles);
    let doctor = missing(&[&READ_POLICY, &READ_PEOPLE_SETTINGS], roles);
    let grant = |m: &[&str]| {
        format!(
            "add the Microsoft Graph application permission(s) {} to the host app and grant admin consent (infra/README.md)",
            m.join(", ")
        )
    };
    if !engine.is_empty() {
        let mut all = engine.clone();
        all.extend(&doctor);
        r.push(Check::fail(
            ID,
            TITLE,
            format!("missing {} (the sync needs them)", engine.join(", ")),
            grant(&all),
        ));
    } else if !doctor.is_empty() {
        r.push(Check::warn(
            ID,
            TITLE,
            format!(
                "the sync's roles are granted; missing {} (the doctor reads the tenant's settings with them)",
                doctor.join(", ")
            ),
            grant(&doctor),
        ));
    } else {
        let mut have: Vec<&str> = roles.iter().map(String::as_str).collect();
        have.sort_unstable();
        r.push(Check::ok(ID, TITLE, have.join(", ")));
    }
}

/// A read the doctor could not make: a warning naming the permission when
/// Graph refused it.
fn unreadable(id: &str, title: &str, what: &str, e: &GraphError, permission: &str) -> Check {
    match e {
        GraphError::Forbidden { .. } | GraphError::Auth { .. } => Check::warn(
            id,
            title,
            format!("{what} could not be read: {e}"),
            format!("grant the host app {permission} (admin consent) so the doctor can check it, or check it in the Entra admin center"),
        ),
        _ => Check::warn(
            id,
            title,
            format!("{what} could not be read: {e}"),
            "check it in the Entra admin center",
        ),
    }
}

/// `authorizationPolicy.allowInvitesFrom`.
async fn invitations(host: &TenantGraph, r: &mut Report) {
    const ID: &str = "host.invitations";
    const TITLE: &str = "guest invitations";
    const WHERE: &str = "Entra admin center > External Identities > External collaboration settings > Guest invite settings";
    let v = match host.get_policy(&["authorizationPolicy"]).await {
        Ok(v) => v,
        Err(e) => {
            r.push(unreadable(
                ID,
                TITLE,
                "the authorization policy",
                &e,
                READ_POLICY.name,
            ));
            return;
        }
    };
    let allow = v
        .get("allowInvitesFrom")
        .and_then(Value::as_str)
        .unwrap_or("");
    r.push(match allow {
        "everyone" | "adminsGuestInvitersAndAllMembers" => Check::ok(
            ID,
            TITLE,
            format!("allowInvitesFrom is {allow}: the app may invite"),
        ),
        "none" => Check::fail(
            ID,
            TITLE,
            "allowInvitesFrom is none: nobody may invite guests, so every invitation of the app is refused (403)",
            format!("allow guest invitations ({WHERE}), at least for admins and users in the Guest Inviter role"),
        ),
        "adminsAndGuestInviters" => Check::warn(
            ID,
            TITLE,
            "allowInvitesFrom is adminsAndGuestInviters: invitations are limited to admins and the Guest Inviter role",
            format!("if the first run's invitations are refused (403), assign the host app's service principal the Guest Inviter role or widen the setting ({WHERE})"),
        ),
        other => Check::warn(
            ID,
            TITLE,
            format!("allowInvitesFrom is {other:?}, a value the doctor does not know"),
            format!("check {WHERE}"),
        ),
    });
}

/// `photoUpdateSettings`: photos written in the cloud, by anyone the
/// permissions allow.
async fn photos(host: &TenantGraph, r: &mut Report) {
    const ID: &str = "host.photos";
    const TITLE: &str = "photo updates";
    let v = match host.photo_update_settings().await {
        Ok(v) => v,
        Err(e) => {
            r.push(unreadable(
                ID,
                TITLE,
                "the photo update settings",
                &e,
                READ_PEOPLE_SETTINGS.name,
            ));
            return;
        }
    };
    let source = v.get("source").and_then(Value::as_str).unwrap_or("cloud");
    let roles: Vec<&str> = v
        .get("allowedRoles")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if source.eq_ignore_ascii_case("onPremises") {
        r.push(Check::warn(
            ID,
            TITLE,
            "photoUpdateSettings.source is onPremises: photos can only be changed on-premises, so the photo job cannot write guest photos",
            "set the source to cloud (PATCH /beta/admin/people/photoUpdateSettings, PeopleSettings.ReadWrite.All), or leave the photo job's failures be",
        ));
    } else if !roles.is_empty() {
        r.push(Check::warn(
            ID,
            TITLE,
            format!(
                "photo edits are restricted to the role(s) {}: the app's photo writes may be refused",
                roles.join(", ")
            ),
            "clear photoUpdateSettings.allowedRoles, or assign the host app's service principal one of those roles",
        ));
    } else {
        r.push(Check::ok(
            ID,
            TITLE,
            "updated in the cloud, no role restriction",
        ));
    }
}

/// The ownership anchor attribute (design rule 11): set, and readable on a
/// host user (a directory extension must have been created).
async fn anchor(host: &TenantGraph, a: Option<&AnchorAttribute>, app: Guid, r: &mut Report) {
    const ID: &str = "host.anchor";
    const TITLE: &str = "ownership anchor";
    let Some(a) = a else {
        r.push(Check::warn(
            ID,
            TITLE,
            "GUESTSYNC_ANCHOR_ATTRIBUTE is none: guests carry no anchor, so a lost store loses which guests the engine owns",
            "set GUESTSYNC_ANCHOR_ATTRIBUTE (default extensionAttribute15; docs/engine.md, Ownership anchor)",
        ));
        return;
    };
    match host.first_users(&["id", a.select_name()], 1).await {
        Ok(_) => r.push(Check::ok(
            ID,
            TITLE,
            format!("{a} is readable on host users"),
        )),
        Err(e @ GraphError::Permanent { .. }) if e.status() == Some(400) => {
            let fix = match a {
                AnchorAttribute::Directory(_) => format!(
                    "create the directory extension on its app (POST /applications/{{id}}/extensionProperties, targetObjects User; see docs/engine.md, Ownership anchor), or set GUESTSYNC_ANCHOR_ATTRIBUTE to extensionAttribute1..15 (host app {app})"
                ),
                AnchorAttribute::Extension(_) => "check GUESTSYNC_ANCHOR_ATTRIBUTE".into(),
            };
            r.push(Check::fail(
                ID,
                TITLE,
                format!("{a} cannot be read: {e}"),
                fix,
            ));
        }
        Err(e) => r.push(Check::fail(
            ID,
            TITLE,
            format!("{a} cannot be read: {e}"),
            "the host app needs User.ReadWrite.All; check GUESTSYNC_ANCHOR_ATTRIBUTE",
        )),
    }
}

/// The inbound settings of one cross-tenant access configuration: the
/// partner's own where set, else the default's (read by
/// [`crate::graph::cross_tenant::read_inbound`], shared with `tenant add`).
async fn cross_tenant(
    host: &TenantGraph,
    partner: Guid,
    default: &mut DefaultPolicy,
    r: &mut Report,
) {
    let id_b2b = format!("source.{partner}.b2b-inbound");
    let id_auto = format!("source.{partner}.auto-redeem");
    let title_b2b = format!("inbound B2B collaboration from {partner}");
    let title_auto = format!("automatic redemption for {partner}");
    let p = match read_inbound(host, partner, default).await {
        Ok(p) => p,
        Err(PolicyReadError::Partner(e)) => {
            r.push(unreadable(
                &id_b2b,
                &title_b2b,
                "the cross-tenant access policy",
                &e,
                READ_POLICY.name,
            ));
            return;
        }
        Err(PolicyReadError::Default(e)) => {
            r.push(Check::warn(
                id_b2b,
                title_b2b,
                format!("the default cross-tenant access policy could not be read: {e}"),
                format!(
                    "grant the host app {} (admin consent), or check it in the Entra admin center",
                    READ_POLICY.name
                ),
            ));
            return;
        }
    };
    let whose = if p.own_entry {
        "the partner's own settings"
    } else {
        "the default settings (no partner entry)"
    };
    let where_ = format!("Entra admin center > External Identities > Cross-tenant access settings > Organizational settings > {partner} (add the organization if missing) > Inbound access");
    r.push(b2b_check(p.b2b_access(), id_b2b, title_b2b, whose, &where_));
    r.push(if p.auto_redeem() {
        Check::ok(id_auto, title_auto, format!("inbound automatic redemption is allowed ({whose})"))
    } else {
        Check::warn(
            id_auto,
            title_auto,
            format!("inbound automatic redemption is off ({whose}): guests must redeem their invitation by hand (a consent prompt at first sign-in)"),
            format!("{where_} > Trust settings: tick \"Automatically redeem invitations with the tenant\" (or run infra/host-cross-tenant.sh); the source tenant ticks the same in its outbound settings for the host (infra/source-tenant/setup.sh does)"),
        )
    });
}

/// Inbound B2B collaboration: blocked for all users fails, limited to or
/// blocked for some users warns.
fn b2b_check(access: B2bAccess, id: String, title: String, whose: &str, where_: &str) -> Check {
    match access {
        B2bAccess::BlockedAll => Check::fail(
            id,
            title,
            format!("blocked for all users ({whose}): invitations of this tenant's users are refused"),
            format!("{where_} > B2B collaboration: allow access for all users (or the synced group)"),
        ),
        B2bAccess::BlockedSome => Check::warn(
            id,
            title,
            format!("blocked for some users or groups ({whose}): their invitations are refused"),
            format!("{where_} > B2B collaboration: check the blocked users and groups"),
        ),
        B2bAccess::AllowedSome => Check::warn(
            id,
            title,
            format!("allowed only for some users or groups ({whose}): other members' invitations are refused"),
            format!("{where_} > B2B collaboration: allow all users, or make sure the synced group is among the allowed ones"),
        ),
        B2bAccess::AllowedAll => Check::ok(id, title, format!("allowed for all users ({whose})")),
    }
}
