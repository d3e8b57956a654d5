//! Profile values: what a guest's attributes *should* be, given its source
//! user and the tenant's attribute mapping, and the field-level difference
//! between those wanted values and the guest's *actual* values in the host.
//!
//! Pure functions only. Comparing with the actual host values (never with
//! what we last wrote) is what corrects manual edits in the host and
//! re-applies the display name after redemption overwrote it
//! (`docs/design.md`, sync rule 3).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Digest;

use super::attrs::AttrSource;
use super::policy::{AttributeMapping, MappingSource};

/// The wanted profile of one guest: target attribute -> value (`null` =
/// the attribute should be empty). Ordered, so plans and fingerprints are
/// deterministic.
pub type Profile = BTreeMap<String, Value>;

/// Normalises a value for comparison and writing: empty strings and empty
/// arrays mean "no value" in Graph, so they become `null`.
pub fn normalise(v: &Value) -> Value {
    match v {
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Array(a) if a.is_empty() => Value::Null,
        other => other.clone(),
    }
}

/// Computes the wanted profile from the source user's attributes (`attrs`,
/// Graph property names) and the tenant's mapping.
///
/// - `Attribute { name, prefix, suffix }`: the source value; a string gets
///   the affixes; a missing or empty source value stays empty (no affix on
///   nothing); non-string values (e.g. `businessPhones`) are copied as is.
/// - `Constant { value }`: the same value for everyone.
pub fn wanted_profile(mapping: &[AttributeMapping], attrs: &impl AttrSource) -> Profile {
    wanted_profile_noting(mapping, attrs).0
}

/// The longest value Graph accepts for a user attribute, in UTF-16 code
/// units (`docs/graph-client.md`): a longer one fails the whole PATCH.
pub fn graph_limit(target: &str) -> Option<usize> {
    Some(match target {
        "displayName" | "mail" => 256,
        "jobTitle" | "officeLocation" | "city" | "state" | "country" => 128,
        "department" | "companyName" | "givenName" | "surname" | "mobilePhone"
        | "preferredLanguage" | "employeeType" | "mailNickname" | "faxNumber" => 64,
        "postalCode" => 40,
        "employeeId" | "userType" => 16,
        "usageLocation" => 2,
        "streetAddress" => 1024,
        _ => return None,
    })
}

/// `s` cut to at most `limit` UTF-16 code units, on a character boundary.
fn cut(s: &str, limit: usize) -> Option<String> {
    if s.encode_utf16().count() <= limit {
        return None;
    }
    let mut units = 0;
    let mut out = String::new();
    for c in s.chars() {
        units += c.len_utf16();
        if units > limit {
            break;
        }
        out.push(c);
    }
    Some(out)
}

/// [`wanted_profile`], and the targets whose value was cut to Graph's
/// length limit ([`graph_limit`]) so the PATCH does not fail (audited).
pub fn wanted_profile_noting(
    mapping: &[AttributeMapping],
    attrs: &impl AttrSource,
) -> (Profile, std::collections::BTreeSet<String>) {
    let mut truncated = std::collections::BTreeSet::new();
    let mut out = Profile::new();
    for m in mapping {
        let v = match &m.source {
            MappingSource::Constant { value } => Value::String(value.clone()),
            MappingSource::Attribute {
                name,
                prefix,
                suffix,
            } => match attrs.attr(name).map(normalise).unwrap_or(Value::Null) {
                Value::String(s) => Value::String(format!(
                    "{}{}{}",
                    prefix.as_deref().unwrap_or(""),
                    s,
                    suffix.as_deref().unwrap_or("")
                )),
                other => other,
            },
        };
        let mut v = normalise(&v);
        if let (Value::String(text), Some(limit)) = (&v, graph_limit(&m.target)) {
            if let Some(short) = cut(text, limit) {
                truncated.insert(m.target.clone());
                v = Value::String(short);
            }
        }
        out.insert(m.target.clone(), v);
    }
    (out, truncated)
}

/// The fields of `wanted` whose value differs from the host's `actual`
/// attributes (a missing actual attribute counts as `null`).
pub fn diff(wanted: &Profile, actual: &impl AttrSource) -> Profile {
    wanted
        .iter()
        .filter(|(k, v)| actual.attr(k).map(normalise).unwrap_or(Value::Null) != **v)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A short, stable fingerprint of a profile plus the account state, kept on
/// the guest record for the report ("what did we last apply").
pub fn fingerprint(wanted: &Profile, account_enabled: bool) -> String {
    let doc = serde_json::json!({ "p": wanted, "e": account_enabled });
    let d = sha2::Sha256::digest(doc.to_string().as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// One PATCH of a host guest: the profile fields to set and, optionally,
/// the sign-in state. Empty = no write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Changes {
    /// Attributes to set (`null` clears).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set: Profile,
    /// `Some(false)` disables sign-in, `Some(true)` enables it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_enabled: Option<bool>,
    /// Fields of `set` whose source value was cut to Graph's length limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    /// The ownership anchor to write (a guest we created that lacks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<super::anchor::AnchorWrite>,
}

impl Changes {
    /// True when nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.account_enabled.is_none() && self.anchor.is_none()
    }

    /// These changes without the anchor (a user we did not create).
    pub fn without_anchor(&self) -> Changes {
        Changes {
            anchor: None,
            ..self.clone()
        }
    }

    /// The body of `PATCH /users/{id}`.
    pub fn to_patch(&self) -> Map<String, Value> {
        let mut m: Map<String, Value> = self
            .set
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(e) = self.account_enabled {
            m.insert("accountEnabled".into(), Value::Bool(e));
        }
        if let Some(a) = &self.anchor {
            a.attribute.write_into(&mut m, &a.anchor.value());
        }
        m
    }

    /// Notes which of the fields written were cut to Graph's limit.
    pub fn noting(mut self, truncated: &std::collections::BTreeSet<String>) -> Self {
        self.truncated = self
            .set
            .keys()
            .filter(|k| truncated.contains(*k))
            .cloned()
            .collect();
        self
    }

    /// The audit detail of this PATCH: the field names (never values), and
    /// the ones cut to Graph's length limit.
    pub fn audit_detail(&self) -> String {
        let mut d = self.field_names().join(",");
        if !self.truncated.is_empty() {
            d.push_str(&format!(
                "; truncated to Graph's length limit: {}",
                self.truncated.join(",")
            ));
        }
        d
    }

    /// The names of the fields written (for audit details: names, never values).
    pub fn field_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.set.keys().cloned().collect();
        if self.account_enabled.is_some() {
            v.push("accountEnabled".into());
        }
        if let Some(a) = &self.anchor {
            v.push(format!("{} (ownership anchor)", a.attribute));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values over Graph's limits are cut (by UTF-16 units, on character
    /// boundaries) and noted; others are left alone.
    #[test]
    fn values_over_graphs_limits_are_cut_and_noted() {
        let mapping = crate::domain::policy::default_mapping();
        let long = "x".repeat(200);
        let a =
            attrs(json!({"displayName": "Ann", "jobTitle": long, "department": "é".repeat(64)}));
        let (p, cut_fields) = wanted_profile_noting(&mapping, &a);
        assert_eq!(p["jobTitle"].as_str().map(str::len), Some(128));
        assert_eq!(p["displayName"], json!("Ann"));
        assert_eq!(
            p["department"].as_str().map(|s| s.chars().count()),
            Some(64)
        );
        assert_eq!(
            cut_fields.into_iter().collect::<Vec<_>>(),
            vec!["jobTitle".to_string()]
        );
        // An astral character (2 UTF-16 units) is never split.
        assert_eq!(
            cut(&"😀".repeat(40), 64).map(|s| s.chars().count()),
            Some(32)
        );
        let c = Changes {
            set: p,
            ..Changes::default()
        }
        .noting(&["jobTitle".to_string()].into_iter().collect());
        assert!(
            c.audit_detail()
                .contains("truncated to Graph's length limit: jobTitle"),
            "{}",
            c.audit_detail()
        );
    }
    use crate::domain::policy::default_mapping;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    /// Affixes apply to strings only, constants are constant, and an empty
    /// source value stays empty.
    #[test]
    fn mapping_applies_affixes_and_constants() {
        let mapping = vec![
            AttributeMapping {
                target: "companyName".into(),
                source: MappingSource::Attribute {
                    name: "companyName".into(),
                    prefix: None,
                    suffix: Some(" (Contoso)".into()),
                },
            },
            AttributeMapping {
                target: "department".into(),
                source: MappingSource::Constant {
                    value: "Partners".into(),
                },
            },
            AttributeMapping {
                target: "jobTitle".into(),
                source: MappingSource::Attribute {
                    name: "jobTitle".into(),
                    prefix: Some("X ".into()),
                    suffix: None,
                },
            },
        ];
        let p = wanted_profile(
            &mapping,
            &attrs(json!({"companyName": "Fabrikam", "jobTitle": ""})),
        );
        assert_eq!(p["companyName"], json!("Fabrikam (Contoso)"));
        assert_eq!(p["department"], json!("Partners"));
        assert_eq!(p["jobTitle"], Value::Null);
    }

    /// Only fields whose actual value differs are in the diff; missing
    /// actual attributes count as empty.
    #[test]
    fn diff_keeps_only_differing_fields() {
        let wanted = wanted_profile(
            &default_mapping(),
            &attrs(json!({"displayName": "Ann", "jobTitle": "Dev", "department": null})),
        );
        let d = diff(
            &wanted,
            &attrs(json!({"displayName": "Ann", "jobTitle": "Boss", "companyName": ""})),
        );
        assert_eq!(d.keys().collect::<Vec<_>>(), vec!["jobTitle"]);
    }
}
