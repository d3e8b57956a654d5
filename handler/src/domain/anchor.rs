//! The ownership anchor (design rule 11, `docs/engine.md` "Ownership
//! anchor"): every guest the engine creates carries
//! `<sourceTenantId>/<sourceObjectId>` in one host attribute, chosen by
//! `GUESTSYNC_ANCHOR_ATTRIBUTE`. It proves the guest is ours when the store
//! does not (a lost store is re-linked from it) and tells a guest of another
//! source tenant apart (never touched).
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::Guid;

/// The complex property that holds `extensionAttribute1..15`.
pub const ON_PREM_EXTENSIONS: &str = "onPremisesExtensionAttributes";

/// The default anchor attribute: built into every user, nothing to create.
pub const DEFAULT_ANCHOR_ATTRIBUTE: &str = "extensionAttribute15";

/// Where the anchor lives on a host user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AnchorAttribute {
    /// `onPremisesExtensionAttributes.extensionAttribute<n>` (n = 1..=15).
    Extension(u8),
    /// A directory extension property, `extension_<appId without dashes>_<name>`.
    Directory(String),
}

impl AnchorAttribute {
    /// Parses a setting value: `extensionAttribute1`..`extensionAttribute15`
    /// (any case) or `extension_<32 hex digits>_<name>`. The error says
    /// what is accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("extensionattribute") {
            return match n.parse::<u8>() {
                Ok(n @ 1..=15) => Ok(AnchorAttribute::Extension(n)),
                _ => Err(format!(
                    "{t:?}: the on-premises extension attributes are extensionAttribute1 to extensionAttribute15"
                )),
            };
        }
        if let Some(rest) = t.strip_prefix("extension_") {
            let ok = rest.split_once('_').is_some_and(|(app, name)| {
                app.len() == 32
                    && app.chars().all(|c| c.is_ascii_hexdigit())
                    && !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if ok {
                return Ok(AnchorAttribute::Directory(t.to_string()));
            }
            return Err(format!(
                "{t:?}: a directory extension is named extension_<app id without dashes>_<name>, e.g. extension_0123456789abcdef0123456789abcdef_guestSyncAnchor"
            ));
        }
        Err(format!(
            "{t:?} is not an anchor attribute: expected extensionAttribute1..15, a directory extension extension_<appId>_<name>, or none"
        ))
    }

    /// The name to `$select` to read it.
    pub fn select_name(&self) -> &str {
        match self {
            AnchorAttribute::Extension(_) => ON_PREM_EXTENSIONS,
            AnchorAttribute::Directory(n) => n,
        }
    }

    /// The raw value on a user (its Graph properties), if any.
    pub fn read<'a>(&self, attrs: &'a Map<String, Value>) -> Option<&'a str> {
        match self {
            AnchorAttribute::Extension(n) => attrs
                .get(ON_PREM_EXTENSIONS)?
                .get(format!("extensionAttribute{n}"))?
                .as_str(),
            AnchorAttribute::Directory(name) => attrs.get(name)?.as_str(),
        }
    }

    /// Adds `value` to a `PATCH /users/{id}` body.
    pub fn write_into(&self, patch: &mut Map<String, Value>, value: &str) {
        match self {
            AnchorAttribute::Extension(n) => {
                let entry = patch
                    .entry(ON_PREM_EXTENSIONS)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = entry {
                    m.insert(
                        format!("extensionAttribute{n}"),
                        Value::String(value.into()),
                    );
                }
            }
            AnchorAttribute::Directory(name) => {
                patch.insert(name.clone(), Value::String(value.into()));
            }
        }
    }
}

impl fmt::Display for AnchorAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnchorAttribute::Extension(n) => write!(f, "extensionAttribute{n}"),
            AnchorAttribute::Directory(n) => f.write_str(n),
        }
    }
}

impl TryFrom<String> for AnchorAttribute {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        AnchorAttribute::parse(&s)
    }
}

impl From<AnchorAttribute> for String {
    fn from(a: AnchorAttribute) -> String {
        a.to_string()
    }
}

/// Whose guest a host user is, by its anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Anchor {
    pub tenant: Guid,
    pub user: Guid,
}

impl Anchor {
    pub fn new(tenant: Guid, user: Guid) -> Self {
        Anchor { tenant, user }
    }

    /// Reads `<tenant>/<user>`; anything else (another tool's value in a
    /// shared extension attribute) is not an anchor.
    pub fn parse(s: &str) -> Option<Self> {
        let (t, u) = s.trim().split_once('/')?;
        Some(Anchor {
            tenant: Guid::parse_named(t, "anchor tenant").ok()?,
            user: Guid::parse_named(u, "anchor user").ok()?,
        })
    }

    /// The value written to the host attribute.
    pub fn value(&self) -> String {
        format!("{}/{}", self.tenant, self.user)
    }
}

/// The anchor to write with a PATCH: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnchorWrite {
    pub attribute: AnchorAttribute,
    pub anchor: Anchor,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_values_are_parsed_or_named() {
        assert_eq!(
            AnchorAttribute::parse("ExtensionAttribute7"),
            Ok(AnchorAttribute::Extension(7))
        );
        let d = "extension_0123456789abcdef0123456789abcdef_guestSyncAnchor";
        assert_eq!(
            AnchorAttribute::parse(d),
            Ok(AnchorAttribute::Directory(d.into()))
        );
        for bad in [
            "extensionAttribute0",
            "extensionAttribute16",
            "extension_abc_x",
            "department",
        ] {
            let e = AnchorAttribute::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn anchors_round_trip_through_both_kinds_of_attribute() {
        let a = Anchor::new(Guid::new_v4(), Guid::new_v4());
        for attr in [
            AnchorAttribute::Extension(15),
            AnchorAttribute::Directory(
                "extension_0123456789abcdef0123456789abcdef_guestSyncAnchor".into(),
            ),
        ] {
            let mut patch = Map::new();
            patch.insert("jobTitle".into(), json!("Engineer"));
            attr.write_into(&mut patch, &a.value());
            assert_eq!(patch["jobTitle"], json!("Engineer"));
            let read = attr.read(&patch).and_then(Anchor::parse);
            assert_eq!(read, Some(a), "{attr}");
        }
        assert_eq!(Anchor::parse("not an anchor"), None);
        assert_eq!(Anchor::parse("cost-centre/4711"), None);
    }
}
