//! Graph objects as the client returns them. Users keep every property
//! Graph sent in `attrs` (attribute mapping needs arbitrary properties),
//! with typed accessors for the common ones.
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::Guid;

/// Properties read for every user unless the caller asks for others.
pub const DEFAULT_USER_SELECT: &[&str] = &[
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "otherMails",
    "userPrincipalName",
    "userType",
    "accountEnabled",
    "jobTitle",
    "department",
    "companyName",
];

/// Properties read for host guests (redemption, adoption, profile compare).
pub const GUEST_SELECT: &[&str] = &[
    "id",
    "displayName",
    "mail",
    "otherMails",
    "userPrincipalName",
    "userType",
    "accountEnabled",
    "jobTitle",
    "department",
    "companyName",
    "creationType",
    "createdDateTime",
    "externalUserState",
    "externalUserStateChangeDateTime",
];

/// A user (or guest) as Graph returned it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphUser {
    pub id: Guid,
    /// Every property Graph returned except `id` and `@odata.*` annotations.
    pub attrs: Map<String, Value>,
}

impl GraphUser {
    /// Reads a user object; the error names what is wrong.
    pub fn from_value(v: Value) -> Result<Self, String> {
        let Value::Object(mut m) = v else {
            return Err("a user is not a JSON object".into());
        };
        let id = match m.remove("id") {
            Some(Value::String(s)) => Guid::parse_named(&s, "user id")
                .map_err(|_| format!("user id {s:?} is not a GUID"))?,
            Some(_) => return Err("user id is not a string".into()),
            None => return Err("a user has no id".into()),
        };
        m.retain(|k, _| !k.starts_with("@odata."));
        Ok(GraphUser { id, attrs: m })
    }

    /// A string property.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }
    pub fn display_name(&self) -> Option<&str> {
        self.str("displayName")
    }
    pub fn mail(&self) -> Option<&str> {
        self.str("mail")
    }
    pub fn user_principal_name(&self) -> Option<&str> {
        self.str("userPrincipalName")
    }
    /// `Member` or `Guest`.
    pub fn user_type(&self) -> Option<&str> {
        self.str("userType")
    }
    pub fn is_guest(&self) -> bool {
        self.user_type()
            .is_some_and(|t| t.eq_ignore_ascii_case("guest"))
    }
    pub fn account_enabled(&self) -> Option<bool> {
        self.attrs.get("accountEnabled").and_then(Value::as_bool)
    }
    pub fn other_mails(&self) -> Vec<&str> {
        self.attrs
            .get("otherMails")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    /// `PendingAcceptance`, `Accepted`, ... (only when `$select`ed).
    pub fn external_user_state(&self) -> Option<&str> {
        self.str("externalUserState")
    }
    /// When `externalUserState` last changed.
    pub fn external_user_state_changed(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.date("externalUserStateChangeDateTime")
    }
    /// `Invitation` for invited guests.
    pub fn creation_type(&self) -> Option<&str> {
        self.str("creationType")
    }
    pub fn created(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.date("createdDateTime")
    }
    fn date(&self, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.str(name)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
    }
    /// True when `address` is this user's mail, one of its other mails or
    /// its UPN (case-insensitive).
    pub fn has_address(&self, address: &str) -> bool {
        let eq = |s: &str| s.eq_ignore_ascii_case(address);
        self.mail().is_some_and(eq)
            || self.user_principal_name().is_some_and(eq)
            || self.other_mails().into_iter().any(eq)
    }
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphGroup {
    pub id: Guid,
    /// Every property Graph returned except `id` and annotations.
    pub attrs: Map<String, Value>,
}

impl GraphGroup {
    pub fn display_name(&self) -> Option<&str> {
        self.attrs.get("displayName").and_then(Value::as_str)
    }
}

/// The answer to an invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitation {
    /// `invitedUser.id`: the guest's object id in the host.
    pub user_id: Guid,
    /// `PendingAcceptance`, `Completed`, ...
    pub status: String,
    /// The redemption link (sent by the engine's own channel, if ever).
    pub redeem_url: Option<String>,
}

/// What to invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRequest {
    /// `invitedUserEmailAddress` (personal data: never logged).
    pub email: String,
    /// `invitedUserDisplayName`; redemption may overwrite it.
    pub display_name: Option<String>,
    /// `inviteRedirectUrl` (GUESTSYNC_INVITE_REDIRECT_URL).
    pub redirect_url: String,
    /// `Guest` (default) or `Member`.
    pub user_type: String,
}

/// Photo metadata (`GET /users/{id}/photo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhotoMeta {
    /// `@odata.mediaEtag`: changes whenever the photo changes.
    pub media_etag: Option<String>,
    /// `@odata.mediaContentType`.
    pub content_type: Option<String>,
    /// Pixels, when Graph says.
    pub width: Option<u64>,
    /// Pixels, when Graph says.
    pub height: Option<u64>,
}

/// A photo's bytes and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    /// The image.
    pub bytes: bytes::Bytes,
    /// `Content-Type` of the answer (`image/jpeg` when absent).
    pub content_type: String,
    /// The photo was larger than the read cap ([`crate::graph::MAX_PHOTO_BYTES`]):
    /// not downloaded past it, `bytes` is empty, this is the size seen.
    pub oversize: Option<u64>,
}

/// The largest photo Graph accepts (`PUT …/photo/$value`), and so the most
/// the client downloads of one.
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;

/// The first page of a user collection, for a look without reading it
/// whole.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstPage {
    /// The page's users.
    pub users: Vec<GraphUser>,
    /// `@odata.count`: all the collection's users, when Graph gave it.
    pub count: Option<u64>,
    /// More pages follow (`@odata.nextLink`).
    pub more: bool,
}

/// How a paged read ended: the engine must not deprovision anybody on a
/// read that did not complete (`docs/design.md`, rule 6).
#[derive(Debug)]
pub struct PagedRead {
    /// Pages received.
    pub pages: u32,
    /// Objects received (and handed to the callback).
    pub items: u64,
    /// `@odata.count` of the first page, when Graph gave it.
    pub reported_count: Option<u64>,
    /// None = every page was read.
    pub error: Option<super::GraphError>,
}

impl PagedRead {
    /// Every page was read.
    pub fn complete(&self) -> bool {
        self.error.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A user keeps arbitrary properties and exposes the common ones.
    #[test]
    fn user_keeps_attrs_and_reads_common_fields() {
        let u = GraphUser::from_value(json!({
            "@odata.type": "#microsoft.graph.user",
            "id": "a1b2c3d4-0000-4000-8000-00000000000f",
            "displayName": "Zoë", "mail": "z@contoso.com", "otherMails": ["Z@Fabrikam.com"],
            "userType": "Guest", "accountEnabled": false, "extension_x_costCenter": "42",
            "externalUserState": "Accepted", "externalUserStateChangeDateTime": "2026-01-02T03:04:05Z"
        }))
        .unwrap();
        assert_eq!(u.display_name(), Some("Zoë"));
        assert_eq!(u.account_enabled(), Some(false));
        assert!(u.is_guest());
        assert!(u.has_address("z@fabrikam.com"));
        assert_eq!(u.str("extension_x_costCenter"), Some("42"));
        assert!(u.external_user_state_changed().is_some());
        assert!(!u.attrs.contains_key("@odata.type") && !u.attrs.contains_key("id"));
    }

    /// A user without a GUID id is rejected with a reason.
    #[test]
    fn user_without_guid_is_rejected() {
        assert!(GraphUser::from_value(json!({"id": "nope"}))
            .unwrap_err()
            .contains("nope"));
        assert!(GraphUser::from_value(json!({"displayName": "x"})).is_err());
    }
}
