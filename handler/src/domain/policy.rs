//! Per-tenant policy: which source attributes become which guest attributes,
//! which address the invitation goes to, and how leaving users are handled.
//! Stored with the tenant record as JSON; every field has a default so an
//! empty `{}` is the seed solution's behaviour.
use serde::{Deserialize, Serialize};

/// How a guest leaves when its source user is out of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionMode {
    /// Soft delete (restorable for 30 days from the host's deleted items).
    #[default]
    Delete,
    /// Block sign-in (`accountEnabled: false`), keep the object.
    Disable,
}

impl std::str::FromStr for DeprovisionMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "delete" => Ok(DeprovisionMode::Delete),
            "disable" => Ok(DeprovisionMode::Disable),
            other => Err(format!("expected delete or disable, got {other:?}")),
        }
    }
}

/// Which source attribute the invitation is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum InviteAddress {
    #[default]
    #[serde(rename = "userPrincipalName")]
    UserPrincipalName,
    #[serde(rename = "mail")]
    Mail,
}

/// Where a guest attribute's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum MappingSource {
    /// A source user attribute, e.g. `department`, with optional affixes
    /// (e.g. `suffix: " (Contoso)"` on `companyName`).
    Attribute {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suffix: Option<String>,
    },
    /// The same value for every guest of the tenant, e.g. `companyName`.
    Constant { value: String },
}

/// One guest attribute and where its value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeMapping {
    /// The host guest's attribute (`displayName`, `jobTitle`, ...).
    pub target: String,
    pub source: MappingSource,
}

impl AttributeMapping {
    /// `target` copied from the same-named source attribute.
    pub fn same(name: &str) -> Self {
        AttributeMapping {
            target: name.to_string(),
            source: MappingSource::Attribute {
                name: name.to_string(),
                prefix: None,
                suffix: None,
            },
        }
    }
}

/// The four attributes the seed solution synchronised.
pub fn default_mapping() -> Vec<AttributeMapping> {
    ["displayName", "jobTitle", "department", "companyName"]
        .into_iter()
        .map(AttributeMapping::same)
        .collect()
}

/// Guest attributes a mapping may target: user properties that are
/// writable on a B2B guest with `User.ReadWrite.All`.
pub const MAPPABLE_TARGETS: &[&str] = &[
    "displayName",
    "jobTitle",
    "department",
    "companyName",
    "givenName",
    "surname",
    "officeLocation",
    "employeeId",
    "employeeType",
    "usageLocation",
    "city",
    "country",
    "state",
    "streetAddress",
    "postalCode",
    "mobilePhone",
    "businessPhones",
];

/// The most sponsor users the option may name: every sponsor is one write
/// per guest on the first sync.
pub const MAX_SPONSOR_USERS: usize = 20;

fn default_user_type() -> String {
    "Guest".to_string()
}
fn default_cooldown() -> u64 {
    300
}
fn yes() -> bool {
    true
}

/// The host sponsors set on every guest of a tenant (`sponsors` option):
/// host users by object id and/or the user owners of one host group. The
/// group's owners are read once per reconcile run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SponsorOptions {
    /// Host users (object ids) who sponsor every guest of the tenant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<crate::domain::Guid>,
    /// A host group whose user owners sponsor every guest of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_owners: Option<crate::domain::Guid>,
}

/// Per-tenant options (`docs/design.md`, "Settings": attribute mapping, invite address
/// attribute, userType, and the rest of the policy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantOptions {
    #[serde(default = "default_mapping")]
    pub attribute_mapping: Vec<AttributeMapping>,
    #[serde(default)]
    pub invite_address: InviteAddress,
    /// `Guest` (default) or `Member`.
    #[serde(default = "default_user_type")]
    pub user_type: String,
    /// Include the source tenant's own guests (userType Guest) in scope.
    #[serde(default)]
    pub include_source_guests: bool,
    /// Deprovision mode for this tenant; None = the app-wide setting.
    #[serde(default)]
    pub deprovision: Option<DeprovisionMode>,
    /// Adopted guests (pre-existing in the host) may be deprovisioned.
    #[serde(default)]
    pub deprovision_adopted: bool,
    /// Copy profile photos.
    #[serde(default = "yes")]
    pub photos: bool,
    /// No photo is written within this many seconds of a guest's creation.
    #[serde(default = "default_cooldown")]
    pub photo_cooldown_secs: u64,
    /// Set by `guest-sync tenant remove --guests deprovision`: the tenant is
    /// being removed and nobody is in scope any more. Reconcile then
    /// deprovisions every managed guest of the tenant (per the deprovision
    /// mode, through the deletion guard; adopted guests only with
    /// `deprovisionAdopted`) without reading the source tenant, whose app
    /// may already be gone. Not meant to be set by hand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offboarding: bool,
    /// With `inviteAddress: mail`: mail domains this source tenant owns
    /// besides the domains of its users' UPNs. A mail address at any other
    /// domain is never invited (it could be anyone's: a conflict).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mail_domains: Vec<String>,
    /// Host sponsors set on each managed guest (none by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsors: Option<SponsorOptions>,
    /// The guest's manager follows the source user's manager when that
    /// manager is in scope too (mapped to the manager's guest). On by
    /// default; `false` turns it off.
    #[serde(default = "yes")]
    pub manager: bool,
}

impl Default for TenantOptions {
    fn default() -> Self {
        TenantOptions {
            attribute_mapping: default_mapping(),
            invite_address: InviteAddress::default(),
            user_type: default_user_type(),
            include_source_guests: false,
            deprovision: None,
            deprovision_adopted: false,
            photos: true,
            photo_cooldown_secs: default_cooldown(),
            offboarding: false,
            mail_domains: Vec::new(),
            sponsors: None,
            manager: true,
        }
    }
}

impl TenantOptions {
    /// Checks the options an administrator wrote; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.user_type != "Guest" && self.user_type != "Member" {
            return Err(format!(
                "options.userType must be Guest or Member, got {:?}",
                self.user_type
            ));
        }
        if let Some(sp) = &self.sponsors {
            if sp.users.is_empty() && sp.group_owners.is_none() {
                return Err(
                    "options.sponsors names nobody: give \"users\": [\"<host user object id>\", ...] and/or \"groupOwners\": \"<host group object id>\", or leave sponsors out".into(),
                );
            }
            if sp.users.len() > MAX_SPONSOR_USERS {
                return Err(format!(
                    "options.sponsors.users lists {} users; at most {MAX_SPONSOR_USERS} (use groupOwners for more)",
                    sp.users.len()
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for m in &self.attribute_mapping {
            if !MAPPABLE_TARGETS.contains(&m.target.as_str()) {
                return Err(format!(
                    "options.attributeMapping: target {:?} is not a writable guest attribute (one of {})",
                    m.target,
                    MAPPABLE_TARGETS.join(", ")
                ));
            }
            if !seen.insert(m.target.as_str()) {
                return Err(format!(
                    "options.attributeMapping: target {:?} is mapped twice",
                    m.target
                ));
            }
            if let MappingSource::Attribute { name, .. } = &m.source {
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(format!(
                        "options.attributeMapping: source attribute {name:?} for {:?} is not a Graph property name",
                        m.target
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The deletion guard: the most guests one run may remove
/// (`GUESTSYNC_MAX_DEPROVISIONS`, read in [`crate::settings`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDeprovisions {
    Count(u64),
    /// Percentage of the tenant's managed guests (0-100).
    Percent(f64),
}

impl MaxDeprovisions {
    /// The absolute limit for a tenant with `managed` guests. A percentage
    /// always allows at least one removal so tiny tenants are not stuck.
    pub fn limit_for(&self, managed: u64) -> u64 {
        match *self {
            MaxDeprovisions::Count(n) => n,
            MaxDeprovisions::Percent(p) => ((managed as f64) * p / 100.0).floor().max(1.0) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{}` means the seed behaviour; unknown fields and bad targets are named.
    #[test]
    fn options_default_and_validation() {
        let o: TenantOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, TenantOptions::default());
        assert_eq!(o.attribute_mapping.len(), 4);
        assert!(o.validate().is_ok());
        let e = serde_json::from_str::<TenantOptions>(r#"{"inviteAdress":"mail"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("inviteAdress"), "{e}");
        let mut bad = o.clone();
        bad.attribute_mapping
            .push(AttributeMapping::same("passwordProfile"));
        assert!(bad.validate().unwrap_err().contains("passwordProfile"));
    }

    /// Sponsors and manager: defaults, a full value, and bad values named.
    #[test]
    fn sponsor_and_manager_options() {
        let o: TenantOptions = serde_json::from_str("{}").unwrap();
        assert!(o.manager);
        assert!(o.sponsors.is_none());
        let o: TenantOptions = serde_json::from_str(
            r#"{"manager":false,"sponsors":{"users":["6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"],"groupOwners":"2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b"}}"#,
        )
        .unwrap();
        assert!(!o.manager);
        assert!(o.validate().is_ok());
        let sp = o.sponsors.unwrap();
        assert_eq!(sp.users.len(), 1);
        assert!(sp.group_owners.is_some());
        let e = serde_json::from_str::<TenantOptions>(r#"{"sponsors":{"owners":"x"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("owners"), "{e}");
        let e = serde_json::from_str::<TenantOptions>(r#"{"sponsors":{"users":["nope"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{e}");
        let empty: TenantOptions = serde_json::from_str(r#"{"sponsors":{}}"#).unwrap();
        assert!(empty.validate().unwrap_err().contains("options.sponsors"));
        // Through `tenant add --options-json`: the flag and the field named.
        let e = crate::tenants::parse_options(r#"{"sponsors":{"groupOwner":"x"}}"#).unwrap_err();
        assert!(
            e.contains("--options-json") && e.contains("groupOwner"),
            "{e}"
        );
        let e = crate::tenants::parse_options(r#"{"manager":"yes"}"#).unwrap_err();
        assert!(e.contains("manager"), "{e}");
        let e = crate::tenants::parse_options(r#"{"sponsors":{}}"#).unwrap_err();
        assert!(e.contains("options.sponsors"), "{e}");
    }
}
