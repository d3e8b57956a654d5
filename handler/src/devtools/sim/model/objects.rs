//! The directory's objects: users (with their photos), groups, app
//! registrations and what a bearer token stands for; and the user types of
//! the Rust and control API ([`NewUser`], [`SimUser`]).
use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::Guid;

/// A user to create through the Rust or control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub display_name: String,
    /// `userPrincipalName`.
    pub upn: String,
    pub mail: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    #[serde(default = "member")]
    pub user_type: String,
    /// Any further Graph attributes (camelCase names), merged last.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}
fn member() -> String {
    "Member".into()
}

impl NewUser {
    /// An enabled member with only a name and UPN (mail = UPN).
    pub fn simple(display_name: &str, upn: &str) -> Self {
        NewUser {
            display_name: display_name.into(),
            upn: upn.into(),
            mail: Some(upn.into()),
            job_title: None,
            department: None,
            company_name: None,
            account_enabled: true,
            user_type: "Member".into(),
            extra: Map::new(),
        }
    }
}

/// A user as the Rust API shows it (a snapshot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimUser {
    pub id: Guid,
    /// Graph attributes by their Graph names (displayName, mail, otherMails,
    /// userPrincipalName, userType, accountEnabled, externalUserState, ...).
    pub attributes: Map<String, Value>,
    /// `(media ETag, bytes)`.
    #[serde(skip)]
    pub photo: Option<(String, Vec<u8>)>,
}

impl SimUser {
    /// A string attribute, if set.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Photo {
    pub etag: String,
    pub bytes: Bytes,
    pub content_type: String,
}

/// What a user is indexed under (lower case).
pub(super) struct IndexKeys {
    pub upn: Option<String>,
    pub mail: Vec<String>,
    pub other: Vec<String>,
    /// `proxyAddresses` entries as stored (`smtp:…` lower-cased).
    pub proxy: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: Guid,
    pub attrs: Map<String, Value>,
    pub photo: Option<Photo>,
    /// Simulated instant of creation (consistency window, photo cool-down).
    pub created_at: f64,
}

impl User {
    pub fn s(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).and_then(Value::as_str)
    }
    pub(super) fn index_keys(&self) -> IndexKeys {
        let list = |name: &str| -> Vec<String> {
            self.attrs
                .get(name)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_lowercase)
                        .collect()
                })
                .unwrap_or_default()
        };
        IndexKeys {
            upn: self.s("userPrincipalName").map(str::to_lowercase),
            mail: self.s("mail").map(str::to_lowercase).into_iter().collect(),
            other: list("otherMails"),
            proxy: list("proxyAddresses"),
        }
    }
    pub(super) fn snapshot(&self) -> SimUser {
        SimUser {
            id: self.id,
            attributes: self.attrs.clone(),
            photo: self
                .photo
                .as_ref()
                .map(|p| (p.etag.clone(), p.bytes.to_vec())),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub display_name: String,
    /// Direct members: user or group ids.
    pub members: BTreeSet<Guid>,
    pub created_at: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    /// The client secret; empty = the app has none (a managed identity, a
    /// secretless app, or the service principal a consent created in a
    /// foreign tenant): a `client_secret` never matches it.
    pub secret: String,
    pub expired: bool,
    pub permissions: HashSet<String>,
    /// Federated identity credentials of an app registration (its home
    /// tenant's entry): who may sign in as it with a `client_assertion`.
    pub federated: Vec<super::identity::FederatedCredential>,
    /// For the service principal an admin consent created in another
    /// tenant: the tenant holding the app registration (and so its
    /// federated credentials). None = registered here.
    pub home: Option<Guid>,
}

/// What a bearer token stands for.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub tenant: Guid,
    pub app: Guid,
    pub expires_at: f64,
}
