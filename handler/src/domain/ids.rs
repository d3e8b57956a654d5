//! Validated identifiers. `parse()` returns a `Result` whose error names the
//! bad input, so a malformed id is rejected at the edge, never deep inside.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must be a GUID like 00000000-0000-0000-0000-000000000000, got {got:?}")]
    NotAGuid { what: &'static str, got: String },
    #[error("secret name {got:?} is invalid: Key Vault secret names are 1-127 characters of letters, digits and '-'")]
    BadSecretName { got: String },
}

/// A Microsoft Entra object or tenant id: a GUID, kept in lower-case
/// hyphenated form so that comparisons and store keys are canonical.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(uuid::Uuid);

impl Guid {
    /// Parses `s` as a GUID; `what` names the input in the error
    /// ("source tenant id", "group id", ...).
    pub fn parse_named(s: &str, what: &'static str) -> Result<Self, IdError> {
        let t = s.trim();
        // Only the canonical 36-character form (optionally braced) is accepted:
        // uuid's parser also takes 32 bare hex digits and URNs, which no Entra
        // tool prints, so they are more likely a paste error than an id.
        let inner = t
            .strip_prefix('{')
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or(t);
        if inner.len() != 36 {
            return Err(IdError::NotAGuid {
                what,
                got: s.to_string(),
            });
        }
        uuid::Uuid::parse_str(inner)
            .map(Guid)
            .map_err(|_| IdError::NotAGuid {
                what,
                got: s.to_string(),
            })
    }
    pub fn new_v4() -> Self {
        Guid(uuid::Uuid::new_v4())
    }
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
    pub fn from_uuid(u: uuid::Uuid) -> Self {
        Guid(u)
    }
}

impl FromStr for Guid {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Guid::parse_named(s, "id")
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl Serialize for Guid {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Guid::parse_named(&s, "id").map_err(serde::de::Error::custom)
    }
}

/// The name of a secret in Azure Key Vault (or the local secret file):
/// 1-127 characters of ASCII letters, digits and hyphens.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = !s.is_empty()
            && s.len() <= 127
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if ok {
            Ok(SecretName(s.to_string()))
        } else {
            Err(IdError::BadSecretName { got: s.to_string() })
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretName({})", self.0)
    }
}

impl<'de> Deserialize<'de> for SecretName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecretName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GUIDs are canonicalised to lower case and bad ones are named.
    #[test]
    fn guid_parse_canonicalises_and_names_bad_input() {
        let g = Guid::parse_named("  {A1B2C3D4-0000-4000-8000-00000000000F} ", "group id").unwrap();
        assert_eq!(g.to_string(), "a1b2c3d4-0000-4000-8000-00000000000f");
        let e = Guid::parse_named("a1b2c3d40000400080000000000000f", "group id").unwrap_err();
        assert!(e.to_string().contains("group id"), "{e}");
    }

    /// Secret names follow Key Vault's rules.
    #[test]
    fn secret_names_follow_key_vault_rules() {
        assert!(SecretName::parse("contoso-app-secret").is_ok());
        assert!(SecretName::parse("").is_err());
        assert!(SecretName::parse("has space").is_err());
        assert!(SecretName::parse(&"a".repeat(128)).is_err());
    }
}
