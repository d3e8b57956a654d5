//! The records guest-sync keeps (`docs/design.md`, "Data kept") and the queue work
//! item. These are plain values; the store persists them, the engine
//! produces them, the report reads them.
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{Guid, SecretName};
use super::policy::TenantOptions;

/// The three kinds of tenant job a work item can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Job {
    /// Read the source group, invite/adopt/restore/update/disable/deprovision.
    Reconcile,
    /// Copy changed profile photos.
    Photos,
    /// Check invitation redemption (and, daily, secret expiry).
    Redemption,
}

impl Job {
    pub const ALL: [Job; 3] = [Job::Reconcile, Job::Photos, Job::Redemption];
    pub fn as_str(&self) -> &'static str {
        match self {
            Job::Reconcile => "reconcile",
            Job::Photos => "photos",
            Job::Redemption => "redemption",
        }
    }
}

impl fmt::Display for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Job {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "reconcile" => Ok(Job::Reconcile),
            "photos" => Ok(Job::Photos),
            "redemption" => Ok(Job::Redemption),
            other => Err(format!(
                "unknown job {other:?}: expected one of reconcile, photos, redemption"
            )),
        }
    }
}

/// A queue message body on `guestsync-work` (`docs/design.md`, "Work
/// items"). Field names are
/// chosen so they never collide with the host's trigger metadata (`Id`,
/// `DequeueCount`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkItem {
    pub job: Job,
    pub source_tenant_id: Guid,
    pub run_id: uuid::Uuid,
    /// Opaque continuation state of an unfinished job; `null` on the first item.
    #[serde(default)]
    pub cursor: Option<serde_json::Value>,
    pub enqueued_at: DateTime<Utc>,
}

/// A registered source tenant (the registry). Never holds a secret value,
/// only the name of the Key Vault secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceTenant {
    pub tenant_id: Guid,
    pub display_name: String,
    /// The source app registration's client id. For a secretless tenant:
    /// the host's multi-tenant app (`GUESTSYNC_FEDERATED_APP_ID`) it
    /// consented to, as it was when the tenant was registered.
    pub client_id: Guid,
    /// Key Vault secret holding that app's client secret. None for a
    /// secretless tenant (records written before secretless tenants
    /// existed always have one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<SecretName>,
    /// How tokens for this tenant are had; absent in older records, which
    /// are all `secret`.
    #[serde(default)]
    pub credential: TenantCredential,
    /// The security group whose (transitive) user members become guests.
    pub group_id: Guid,
    pub enabled: bool,
    #[serde(default)]
    pub options: TenantOptions,
    pub created_at: DateTime<Utc>,
    /// Expiry of the client secret as last read from the vault (daily check).
    #[serde(default)]
    pub secret_expires_at: Option<DateTime<Utc>>,
    /// Set when a run held back deprovisions because the guard tripped; the
    /// report alerts until an administrator confirms (`guest-sync tenant
    /// confirm-deprovision`).
    #[serde(default)]
    pub guard: Option<GuardHold>,
    /// The host's cross-tenant access settings for this tenant (automatic
    /// redemption, inbound B2B) as last read by `tenant add`/`test` or the
    /// daily job; None until read.
    #[serde(default)]
    pub cross_tenant: Option<super::cross_tenant::CrossTenantStatus>,
    /// The delta links the reconcile reads changes from (absent until the
    /// first full reconcile finishes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<super::delta::DeltaTracking>,
}

/// How guest-sync gets tokens for a source tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantCredential {
    /// A client secret of an app registration in the source tenant, kept
    /// in the secret source under the tenant's `secretName` (expires).
    #[default]
    Secret,
    /// No secret: the host's multi-tenant app, consented to by the source
    /// admin, authenticated with the function app's managed identity as a
    /// federated identity credential (`client_assertion`). Nothing expires.
    Secretless,
}

impl TenantCredential {
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantCredential::Secret => "secret",
            TenantCredential::Secretless => "secretless",
        }
    }
}

impl fmt::Display for TenantCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SourceTenant {
    /// The secret name of a tenant that uses a client secret (None for a
    /// secretless one).
    pub fn secret(&self) -> Option<&SecretName> {
        match self.credential {
            TenantCredential::Secret => self.secret_name.as_ref(),
            TenantCredential::Secretless => None,
        }
    }

    /// True when the tenant has no secret (nothing to read, nothing expires).
    pub fn is_secretless(&self) -> bool {
        self.credential == TenantCredential::Secretless
    }
}

/// A tripped deprovision guard, waiting for an administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardHold {
    pub tripped_at: DateTime<Utc>,
    /// How many guests the run wanted to remove.
    pub wanted: u64,
    /// The limit in force (absolute number).
    pub limit: u64,
    /// Set by the administrator: the next run may remove up to `wanted`.
    #[serde(default)]
    pub confirmed: bool,
}

/// The lifecycle state of a managed guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestState {
    Invited,
    Accepted,
    Disabled,
    Deprovisioned,
    Failed,
    /// Not ours and never touched: the invite address belongs to a host
    /// user the engine did not create and may not take over (an internal
    /// member, or a user another source user is linked to). Reported;
    /// re-checked each run.
    Conflict,
    /// Ours, but a host administrator disabled or deleted it: left exactly
    /// as they set it, reported, until `guest-sync guest release` hands it
    /// back (incident response is never undone by a sync).
    Held,
}

impl GuestState {
    pub const ALL: [GuestState; 7] = [
        GuestState::Invited,
        GuestState::Accepted,
        GuestState::Disabled,
        GuestState::Deprovisioned,
        GuestState::Failed,
        GuestState::Conflict,
        GuestState::Held,
    ];
    pub fn as_str(&self) -> &'static str {
        match self {
            GuestState::Invited => "invited",
            GuestState::Accepted => "accepted",
            GuestState::Disabled => "disabled",
            GuestState::Deprovisioned => "deprovisioned",
            GuestState::Failed => "failed",
            GuestState::Conflict => "conflict",
            GuestState::Held => "held",
        }
    }
}

impl fmt::Display for GuestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GuestState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GuestState::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| format!("unknown guest state {s:?}"))
    }
}

/// One record per (source tenant, source user).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestRecord {
    pub source_tenant_id: Guid,
    pub source_user_id: Guid,
    pub source_upn: String,
    #[serde(default)]
    pub source_mail: Option<String>,
    /// The guest's object id in the host tenant, once known.
    #[serde(default)]
    pub host_user_id: Option<Guid>,
    #[serde(default)]
    pub host_upn: Option<String>,
    pub state: GuestState,
    /// True when the guest already existed in the host and was taken over.
    #[serde(default)]
    pub adopted: bool,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub redeemed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deprovisioned_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Fingerprint of the last profile applied to the host guest.
    #[serde(default)]
    pub profile_fingerprint: Option<String>,
    /// The source photo's `@odata.mediaEtag` last copied (None = no photo copied).
    #[serde(default)]
    pub photo_etag: Option<String>,
    #[serde(default)]
    pub photo_copied_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// The engine wrote this guest's ownership anchor (so it is not
    /// written again on every run should the attribute not read back).
    #[serde(default)]
    pub anchored: bool,
    /// The sponsors and manager the engine last applied to the guest
    /// (`docs/engine.md`, "Sponsors and managers").
    #[serde(default, skip_serializing_if = "GuestRelations::is_empty")]
    pub relations: GuestRelations,
}

/// The guest's sponsors and manager as the engine last applied them in the
/// host (host object ids). The engine compares the wanted values with
/// these, not with the host (which it does not read back), and only ever
/// removes what it set itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GuestRelations {
    /// The host guest these were applied to: a guest invited again (a new
    /// object) starts with nothing applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guest: Option<Guid>,
    /// Sponsors the engine added (host user ids), sorted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sponsors: Vec<Guid>,
    /// The manager the engine set (the host id of the manager's guest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<Guid>,
}

impl GuestRelations {
    /// Nothing applied.
    pub fn is_empty(&self) -> bool {
        self.sponsors.is_empty() && self.manager.is_none()
    }

    /// What was applied to the host guest `guest` (nothing when the record
    /// kept values of an earlier guest object).
    pub fn applied_to(&self, guest: Guid) -> GuestRelations {
        if self.guest == Some(guest) {
            self.clone()
        } else {
            GuestRelations {
                guest: Some(guest),
                ..GuestRelations::default()
            }
        }
    }
}

impl GuestRecord {
    /// Whether the record counts as one of the tenant's managed guests
    /// (the report's `managed`, the deletion guard's base): every record
    /// but a deprovisioned one or a conflict (which is not ours).
    pub fn is_managed(&self) -> bool {
        !matches!(self.state, GuestState::Deprovisioned | GuestState::Conflict)
    }
}

/// Outcome of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Still going (or its holder crashed; the lease tells).
    Running,
    /// Out of time budget; a continuation item carries the rest.
    Continued,
    Succeeded,
    /// Finished, but some guests failed (see counts and audit).
    Partial,
    Failed,
}

impl RunOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Continued => "continued",
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Partial => "partial",
            RunOutcome::Failed => "failed",
        }
    }
}

impl FromStr for RunOutcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            RunOutcome::Running,
            RunOutcome::Continued,
            RunOutcome::Succeeded,
            RunOutcome::Partial,
            RunOutcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
        .ok_or_else(|| format!("unknown run outcome {s:?}"))
    }
}

/// What a run did, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunCounts {
    pub created: u64,
    pub adopted: u64,
    pub updated: u64,
    pub deprovisioned: u64,
    pub restored: u64,
    pub disabled: u64,
    pub enabled: u64,
    pub photos_copied: u64,
    pub photos_removed: u64,
    pub redeemed: u64,
    pub unchanged: u64,
    pub failed: u64,
    /// Graph answers with status 429 seen during the run.
    pub throttled: u64,
    /// Deprovisions held back by the guard or an incomplete source read.
    pub held_back: u64,
    /// Sponsor writes made (`POST`/`DELETE .../sponsors/$ref`).
    pub sponsor_writes: u64,
    /// Manager writes made (`PUT`/`DELETE .../manager/$ref`).
    pub manager_writes: u64,
}

impl RunCounts {
    /// Adds another run's counts (continuations of one run add up).
    pub fn add(&mut self, o: &RunCounts) {
        self.created += o.created;
        self.adopted += o.adopted;
        self.updated += o.updated;
        self.deprovisioned += o.deprovisioned;
        self.restored += o.restored;
        self.disabled += o.disabled;
        self.enabled += o.enabled;
        self.photos_copied += o.photos_copied;
        self.photos_removed += o.photos_removed;
        self.redeemed += o.redeemed;
        self.unchanged += o.unchanged;
        self.failed += o.failed;
        self.throttled += o.throttled;
        self.held_back += o.held_back;
        self.sponsor_writes += o.sponsor_writes;
        self.manager_writes += o.manager_writes;
    }
}

/// One run of one job for one tenant (continuations share the run id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub run_id: uuid::Uuid,
    pub job: Job,
    pub source_tenant_id: Guid,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: RunOutcome,
    #[serde(default)]
    pub counts: RunCounts,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
    /// Set by `poison-watch`: the work item was parked after failing
    /// `maxDequeueCount` deliveries.
    #[serde(default)]
    pub parked: bool,
}

/// The only places a run record is made from nothing: a run starting, a
/// run failing before it could start, a work item parked by the host.
impl RunRecord {
    /// A run of `job` for `tenant` that starts at `at` (outcome `running`).
    pub fn started(run_id: uuid::Uuid, job: Job, tenant: Guid, at: DateTime<Utc>) -> Self {
        RunRecord {
            run_id,
            job,
            source_tenant_id: tenant,
            started_at: at,
            finished_at: None,
            outcome: RunOutcome::Running,
            counts: RunCounts::default(),
            error: None,
            dry_run: false,
            parked: false,
        }
    }

    /// A run of `item` that failed before it could start (unknown tenant, ...).
    pub fn failed_to_start(item: &WorkItem, at: DateTime<Utc>, error: String) -> Self {
        let mut r = RunRecord::started(item.run_id, item.job, item.source_tenant_id, at);
        r.finish(RunOutcome::Failed, at);
        r.error = Some(error);
        r
    }

    /// The run of a work item the host parked in the poison queue: kept
    /// (with its counts) if it was recorded, made from the item if not.
    pub fn parked(
        existing: Option<RunRecord>,
        item: &WorkItem,
        at: DateTime<Utc>,
        error: String,
    ) -> Self {
        let mut r = existing.unwrap_or_else(|| {
            RunRecord::started(
                item.run_id,
                item.job,
                item.source_tenant_id,
                item.enqueued_at,
            )
        });
        r.finish(RunOutcome::Failed, at);
        r.parked = true;
        r.error = Some(error);
        r
    }

    /// Sets the final outcome and the finishing time.
    pub fn finish(&mut self, outcome: RunOutcome, at: DateTime<Utc>) {
        self.outcome = outcome;
        self.finished_at = Some(at);
    }

    /// Whether the run has ended (a redelivered item of it is a duplicate).
    pub fn is_finished(&self) -> bool {
        self.finished_at.is_some() && self.outcome != RunOutcome::Running
    }
}

/// One write the engine made or attempted in Graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub run_id: uuid::Uuid,
    pub source_tenant_id: Guid,
    #[serde(default)]
    pub source_user_id: Option<Guid>,
    /// Host object id written (when known).
    #[serde(default)]
    pub target_id: Option<Guid>,
    /// The guest's host UPN when known (shown to admins in the audit table).
    #[serde(default)]
    pub target_upn: Option<String>,
    /// `invite`, `patch`, `delete`, `restore`, `disable`, `enable`,
    /// `photo-put`, `photo-delete`, `group-add`; `redeemed` records a
    /// redemption (no Graph write).
    pub operation: String,
    /// `ok`, `failed`, `dry-run`.
    pub outcome: String,
    /// Short description (fields changed, or the error).
    #[serde(default)]
    pub detail: Option<String>,
    /// Graph's `client-request-id`, for support cases.
    #[serde(default)]
    pub client_request_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A work item round-trips in the wire shape of `docs/design.md` and never uses a
    /// field name the host reserves.
    #[test]
    fn work_item_wire_shape() {
        let raw = r#"{"job":"reconcile","sourceTenantId":"2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b","runId":"6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","cursor":null,"enqueuedAt":"2026-11-23T01:00:00Z"}"#;
        let w: WorkItem = serde_json::from_str(raw).unwrap();
        assert_eq!(w.job, Job::Reconcile);
        let v = serde_json::to_value(&w).unwrap();
        for reserved in [
            "Id",
            "DequeueCount",
            "PopReceipt",
            "InsertionTime",
            "ExpirationTime",
            "NextVisibleTime",
        ] {
            assert!(v.get(reserved).is_none());
        }
        assert_eq!(v["sourceTenantId"], "2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b");
    }

    /// An unknown job names itself in the error.
    #[test]
    fn bad_job_is_named() {
        let raw = r#"{"job":"photo","sourceTenantId":"2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b","runId":"6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","cursor":null,"enqueuedAt":"2026-11-23T01:00:00Z"}"#;
        let e = serde_json::from_str::<WorkItem>(raw)
            .unwrap_err()
            .to_string();
        assert!(e.contains("photo"), "{e}");
    }

    /// A tenant record written before secretless tenants existed (no
    /// `credential`) decodes as a secret tenant with its secret name; a
    /// secretless one has no `secretName` and writes none.
    #[test]
    fn old_tenant_records_decode_as_secret_tenants() {
        let old = r#"{"tenantId":"2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b","displayName":"Contoso","clientId":"6f1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e","secretName":"contoso-app","groupId":"a1b2c3d4-0000-4000-8000-00000000000f","enabled":true,"createdAt":"2026-11-23T01:00:00Z","secretExpiresAt":"2027-11-23T00:00:00Z"}"#;
        let t: SourceTenant = crate::domain::json::from_str(old).unwrap();
        assert_eq!(t.credential, TenantCredential::Secret);
        assert!(!t.is_secretless());
        assert_eq!(t.secret().map(|s| s.as_str()), Some("contoso-app"));
        let again = serde_json::to_value(&t).unwrap();
        assert_eq!(again["credential"], "secret");
        assert_eq!(again["secretName"], "contoso-app");

        let mut s = t.clone();
        s.credential = TenantCredential::Secretless;
        s.secret_name = None;
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["credential"], "secretless");
        assert!(v.get("secretName").is_none(), "{v}");
        let back: SourceTenant = serde_json::from_value(v).unwrap();
        assert!(back.is_secretless() && back.secret().is_none());
        let bad = old.replace(r#""enabled""#, r#""credential":"certificate","enabled""#);
        let e = crate::domain::json::from_str::<SourceTenant>(&bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("credential"), "{e}");
    }
}
