//! The Graph client's errors. Every error carries an [`ErrorContext`]: the
//! operation, the HTTP status (when an answer came) and the
//! `client-request-id` sent with the request, which Microsoft support asks
//! for. Messages never hold secrets, tokens or e-mail addresses.
use std::fmt;
use std::time::Duration;

use crate::domain::Guid;

/// Where an error happened: enough to find the request in Graph's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorContext {
    /// What the client was doing (`"invite"`, `"patch user"`, ...).
    pub operation: &'static str,
    /// HTTP status of the answer; None when no answer came (timeout, dropped
    /// connection).
    pub status: Option<u16>,
    /// The `client-request-id` header sent with the (last) request.
    pub client_request_id: uuid::Uuid,
    /// Graph's `error.code` (or the token endpoint's `error`), when given.
    pub graph_code: Option<String>,
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, ", self.operation)?;
        match self.status {
            Some(s) => write!(f, "HTTP {s}")?,
            None => f.write_str("no HTTP answer")?,
        }
        if let Some(c) = &self.graph_code {
            write!(f, ", code {c}")?;
        }
        write!(f, ", client-request-id {}", self.client_request_id)
    }
}

/// The AADSTS codes of the token endpoint an administrator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AadstsCode {
    /// AADSTS7000215: the client secret is wrong.
    InvalidSecret,
    /// AADSTS7000222: the client secret has expired.
    ExpiredSecret,
    /// AADSTS700016: the app is not found in the tenant (not consented there,
    /// or a wrong client id).
    AppNotFound,
    /// AADSTS90002: the tenant does not exist.
    TenantNotFound,
    /// AADSTS7000229 (no service principal: consent never given) or
    /// AADSTS65001 (consent not granted): the source admin has not (yet)
    /// granted admin consent to the app.
    ConsentNotGranted(u32),
    /// AADSTS70021: no federated identity credential of the app matches the
    /// assertion (the managed identity is not trusted by the app).
    IdentityNotTrusted,
    /// AADSTS700024 (assertion expired or not valid now) or AADSTS50027
    /// (malformed assertion): the managed identity's token was refused.
    AssertionRejected(u32),
    /// Any other AADSTS number.
    Other(u32),
    /// No AADSTS code in the answer (e.g. Graph refused the token itself).
    Unknown,
}

impl AadstsCode {
    /// Maps an AADSTS number.
    pub fn from_number(n: u32) -> Self {
        match n {
            7_000_215 => AadstsCode::InvalidSecret,
            7_000_222 => AadstsCode::ExpiredSecret,
            700_016 => AadstsCode::AppNotFound,
            90_002 => AadstsCode::TenantNotFound,
            7_000_229 | 65_001 => AadstsCode::ConsentNotGranted(n),
            70_021 => AadstsCode::IdentityNotTrusted,
            700_024 | 50_027 => AadstsCode::AssertionRejected(n),
            n => AadstsCode::Other(n),
        }
    }

    /// The code of a token error answer: the first of `error_codes`, else the
    /// first `AADSTS<digits>` in `error_description`.
    pub fn from_answer(error_codes: &[u32], description: &str) -> Self {
        if let Some(n) = error_codes.first() {
            return Self::from_number(*n);
        }
        if let Some(pos) = description.find("AADSTS") {
            let digits: String = description[pos + 6..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = digits.parse() {
                return Self::from_number(n);
            }
        }
        AadstsCode::Unknown
    }

    /// The AADSTS number, when known.
    pub fn number(&self) -> Option<u32> {
        match self {
            AadstsCode::InvalidSecret => Some(7_000_215),
            AadstsCode::ExpiredSecret => Some(7_000_222),
            AadstsCode::AppNotFound => Some(700_016),
            AadstsCode::TenantNotFound => Some(90_002),
            AadstsCode::ConsentNotGranted(n) | AadstsCode::AssertionRejected(n) => Some(*n),
            AadstsCode::IdentityNotTrusted => Some(70_021),
            AadstsCode::Other(n) => Some(*n),
            AadstsCode::Unknown => None,
        }
    }

    /// What an administrator should do, for tenant `tenant` and app `client`.
    pub fn admin_message(&self, tenant: Guid, client: Guid) -> String {
        match self {
            AadstsCode::InvalidSecret => format!(
                "the client secret of app {client} is wrong for tenant {tenant}: store the current secret value (not its id) in Key Vault"
            ),
            AadstsCode::ExpiredSecret => format!(
                "the client secret of app {client} in tenant {tenant} has expired: create a new secret in the app registration and store it in Key Vault"
            ),
            AadstsCode::AppNotFound => format!(
                "app {client} was not found in tenant {tenant}: check the client id, and have an administrator of that tenant grant admin consent"
            ),
            AadstsCode::TenantNotFound => format!(
                "tenant {tenant} does not exist (or is not in this cloud): check the tenant id and GUESTSYNC_AUTHORITY_URL"
            ),
            AadstsCode::ConsentNotGranted(n) => format!(
                "app {client} has no admin consent in tenant {tenant} (AADSTS{n}): have an administrator of that tenant grant admin consent"
            ),
            AadstsCode::IdentityNotTrusted => format!(
                "app {client} does not trust this managed identity (AADSTS70021): add a federated identity credential for it to the app"
            ),
            AadstsCode::AssertionRejected(n) => format!(
                "the managed identity's assertion was refused for app {client} in tenant {tenant} (AADSTS{n}): check the function app's managed identity"
            ),
            AadstsCode::Other(n) => format!(
                "the token request for app {client} in tenant {tenant} was refused (AADSTS{n}); look the code up in the Entra error reference"
            ),
            AadstsCode::Unknown => format!(
                "Graph refused the token of app {client} for tenant {tenant}; check the app's credentials and consent"
            ),
        }
    }
}

impl AadstsCode {
    /// What to do when the secretless sign-in of the host's multi-tenant
    /// app `app` (`GUESTSYNC_FEDERATED_APP_ID`) in source tenant `tenant`
    /// is refused.
    pub fn secretless_message(&self, tenant: Guid, app: Guid) -> String {
        match self {
            AadstsCode::AppNotFound | AadstsCode::ConsentNotGranted(_) => format!(
                "app {app} has no admin consent in tenant {tenant} ({self}): a Global Administrator (or Privileged Role Administrator) of that tenant opens the admin-consent URL `guest-sync tenant add --secretless` prints and accepts"
            ),
            AadstsCode::IdentityNotTrusted => format!(
                "app {app} does not trust the function app's managed identity ({self}): add a federated identity credential to app {app} in the host tenant with issuer https://login.microsoftonline.com/<host tenant id>/v2.0, subject = the identity's principal (object) id, audience api://AzureADTokenExchange (infra/secretless.sh does this), and check AZURE_CLIENT_ID names that identity"
            ),
            AadstsCode::AssertionRejected(_) => format!(
                "the managed identity's assertion was refused by tenant {tenant} for app {app} ({self}): check that IDENTITY_ENDPOINT is the function app's identity endpoint and AZURE_CLIENT_ID the user-assigned identity's client id"
            ),
            AadstsCode::TenantNotFound => format!(
                "tenant {tenant} does not exist (AADSTS90002): check the source tenant id (Directory (tenant) ID on its Entra overview page) and GUESTSYNC_AUTHORITY_URL"
            ),
            other => other.admin_message(tenant, app),
        }
    }
}

impl fmt::Display for AadstsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number() {
            Some(n) => write!(f, "AADSTS{n}"),
            None => f.write_str("no AADSTS code"),
        }
    }
}

/// Why a Graph call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GraphError {
    /// Graph answered 429 (or a `$batch` item did) and the retries ran out.
    #[error("Graph throttled the request; retry after {retry_after:?} ({ctx})")]
    Throttled {
        retry_after: Duration,
        ctx: ErrorContext,
    },
    /// The object does not exist (after the fresh-object retries).
    #[error("not found: {what} ({ctx})")]
    NotFound { what: String, ctx: ErrorContext },
    /// The app lacks a permission; `missing_permission` names the one the
    /// operation needs (from Graph's message when it names one).
    #[error("forbidden: the app needs the application permission {} with admin consent ({ctx}): {detail}", .missing_permission.as_deref().unwrap_or("required for this operation"))]
    Forbidden {
        missing_permission: Option<String>,
        detail: String,
        ctx: ErrorContext,
    },
    /// No token could be had (or Graph refused it).
    #[error("authentication failed ({code}): {message} ({ctx})")]
    Auth {
        code: AadstsCode,
        /// What an administrator should do.
        message: String,
        /// What the authority (or Graph) said: the first line of its
        /// description without trace ids, addresses scrubbed.
        detail: String,
        ctx: ErrorContext,
    },
    /// The host tenant only lets admins (or nobody) invite guests.
    #[error("the host tenant does not let this app invite guests: in Entra admin center > External Identities > External collaboration settings, allow guest invitations by member users and users assigned to specific admin roles or more ({ctx})")]
    InvitationsRestricted { detail: String, ctx: ErrorContext },
    /// Worth retrying later (5xx, timeout, dropped connection) and the
    /// client's own retries ran out.
    #[error("transient Graph failure: {detail} ({ctx})")]
    Transient { detail: String, ctx: ErrorContext },
    /// Retrying will not help (bad request, conflict, ...).
    #[error("Graph refused the request: {detail} ({ctx})")]
    Permanent { detail: String, ctx: ErrorContext },
    /// Graph's answer was not what its documentation describes.
    #[error("malformed Graph answer: {what} ({ctx})")]
    InvalidResponse { what: String, ctx: ErrorContext },
}

impl GraphError {
    /// Worth retrying later (the queue's retry): throttling and transient
    /// failures.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GraphError::Throttled { .. } | GraphError::Transient { .. }
        )
    }

    /// A delta token Graph no longer honours (410 Gone, or the codes
    /// `syncStateNotFound` / `resyncRequired`): start a new full round.
    pub fn is_resync_required(&self) -> bool {
        self.status() == Some(410)
            || self.graph_code().is_some_and(|c| {
                c.eq_ignore_ascii_case("syncStateNotFound")
                    || c.eq_ignore_ascii_case("resyncRequired")
            })
    }

    /// The context (operation, status, client-request-id).
    pub fn context(&self) -> &ErrorContext {
        match self {
            GraphError::Throttled { ctx, .. }
            | GraphError::NotFound { ctx, .. }
            | GraphError::Forbidden { ctx, .. }
            | GraphError::Auth { ctx, .. }
            | GraphError::InvitationsRestricted { ctx, .. }
            | GraphError::Transient { ctx, .. }
            | GraphError::Permanent { ctx, .. }
            | GraphError::InvalidResponse { ctx, .. } => ctx,
        }
    }

    /// The `client-request-id` sent with the failed request.
    pub fn client_request_id(&self) -> uuid::Uuid {
        self.context().client_request_id
    }

    /// The HTTP status, when an answer came.
    pub fn status(&self) -> Option<u16> {
        self.context().status
    }

    /// Graph's error code, when given.
    pub fn graph_code(&self) -> Option<&str> {
        self.context().graph_code.as_deref()
    }
}

/// Why a request got no answer, e.g. `could not connect: client error
/// (Connect): tcp connect error: Connection refused (os error 111)`: the
/// kind of failure and its causes (refused, DNS, TLS), never the URL
/// (reqwest's own message holds it, and a URL may hold a UPN or a filter
/// with an address).
pub(crate) fn transport_detail(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

/// Replaces every word holding an `@` (an e-mail address or UPN) by
/// `[address]`, so Graph's messages can be carried in errors and logs.
pub fn scrub_addresses(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, w) in s.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if w.contains('@') {
            out.push_str("[address]");
        } else {
            out.push_str(w);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ErrorContext {
        ErrorContext {
            operation: "invite",
            status: Some(403),
            client_request_id: uuid::Uuid::nil(),
            graph_code: None,
        }
    }

    /// The four documented AADSTS codes map to their variants, from the
    /// code list or from the description.
    #[test]
    fn aadsts_codes_map_from_codes_or_description() {
        assert_eq!(
            AadstsCode::from_answer(&[7000215], ""),
            AadstsCode::InvalidSecret
        );
        assert_eq!(
            AadstsCode::from_answer(
                &[],
                "AADSTS7000222: The provided client secret keys are expired."
            ),
            AadstsCode::ExpiredSecret
        );
        assert_eq!(
            AadstsCode::from_answer(&[700016], ""),
            AadstsCode::AppNotFound
        );
        assert_eq!(
            AadstsCode::from_answer(&[], "AADSTS90002: Tenant not found"),
            AadstsCode::TenantNotFound
        );
        assert_eq!(
            AadstsCode::from_answer(&[50034], ""),
            AadstsCode::Other(50034)
        );
        assert_eq!(AadstsCode::from_answer(&[], "nothing"), AadstsCode::Unknown);
    }

    /// Admin messages say what to do and name the tenant and app.
    #[test]
    fn admin_messages_name_tenant_app_and_action() {
        let t = Guid::new_v4();
        let c = Guid::new_v4();
        let m = AadstsCode::ExpiredSecret.admin_message(t, c);
        assert!(m.contains(&t.to_string()) && m.contains(&c.to_string()));
        assert!(m.contains("new secret"));
    }

    /// Every error shows its client-request-id and status; Forbidden names
    /// the permission.
    #[test]
    fn errors_show_request_id_status_and_permission() {
        let e = GraphError::Forbidden {
            missing_permission: Some("User.Invite.All".into()),
            detail: "Insufficient privileges".into(),
            ctx: ctx(),
        };
        let s = e.to_string();
        assert!(s.contains("User.Invite.All"), "{s}");
        assert!(s.contains("HTTP 403"), "{s}");
        assert!(s.contains(&uuid::Uuid::nil().to_string()), "{s}");
        assert!(!e.is_transient());
        let t = GraphError::Throttled {
            retry_after: Duration::from_secs(3),
            ctx: ctx(),
        };
        assert!(t.is_transient());
    }

    /// Addresses are scrubbed out of carried messages.
    #[test]
    fn addresses_are_scrubbed() {
        assert_eq!(
            scrub_addresses("user alice@contoso.com already exists"),
            "user [address] already exists"
        );
    }
}
