//! Explaining one user: "why is (or isn't) this person a guest, and why
//! did nothing happen?" (`guest-sync explain`, `docs/explain.md`).
//!
//! Two layers, so the CLI and the dashboard's guest detail view share the
//! reasoning:
//! - [`reasons`] (pure): turns what a guest record, its tenant, the
//!   tenant's latest runs and the user's audit entries say into plain
//!   sentences (held, conflict, failed, guard held, cool-down, permission,
//!   secret expired, not yet synced, ...). No I/O, no clock: `now` is given.
//! - [`explain`]: finds the guest records a query names (object id of the
//!   source or host user, source UPN, source mail or host UPN, compared
//!   without regard to case) in a [`Store`] and builds one [`Explanation`]
//!   per match (the same UPN in two tenants gives two).
//!
//! The answer comes from the store alone: what the engine saw and did at
//! its last run (`scope` says "as of the sync of …"). The live Graph lookup
//! (is the user in the group right now?) needs Graph and secrets, so it is
//! in the engine layer: [`crate::engine::lookup`] (`guest-sync explain
//! --live`).
//!
//! The serialized shape ([`ExplainAnswer`], [`Explanation`]) is a stable
//! JSON contract (camelCase; [`EXPLAIN_SCHEMA_VERSION`]). It carries UPNs
//! (an administrator asked about that user) but never a secret; the log
//! event written by [`explain`] carries counts only.
use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AuditEntry, GuestRecord, GuestState, Guid, Job, RunOutcome, RunRecord, SourceTenant,
};
use crate::store::{Store, StoreError};

/// Version of the JSON shape of [`ExplainAnswer`]; additive changes keep it.
pub const EXPLAIN_SCHEMA_VERSION: u32 = 1;

/// How many of a tenant's runs (newest first) are read to find the latest
/// run of each job.
pub const RUN_WINDOW: usize = 50;

/// How many of a tenant's audit entries (newest first) are searched for the
/// user's actions.
pub const AUDIT_WINDOW: usize = 5_000;

/// How many of the user's actions an explanation lists (newest first).
pub const RECENT_ACTIONS: usize = 10;

/// Page size when scanning guest records.
const GUEST_PAGE: usize = 1000;

/// Why an explanation could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The query was empty (or only blanks).
    #[error("nothing to explain: give a UPN, a mail address or an object id")]
    EmptyQuery,
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
}

/// Which key of a guest record the query matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MatchKey {
    SourceUserId,
    HostUserId,
    SourceUpn,
    SourceMail,
    HostUpn,
}

/// The keys of `g` that `query` names (empty: no match). A GUID query
/// matches object ids, any other query UPNs and mail (case-insensitive).
pub fn match_keys(g: &GuestRecord, query: &str) -> Vec<MatchKey> {
    let q = query.trim();
    let mut out = Vec::new();
    if let Ok(id) = q.parse::<Guid>() {
        if g.source_user_id == id {
            out.push(MatchKey::SourceUserId);
        }
        if g.host_user_id == Some(id) {
            out.push(MatchKey::HostUserId);
        }
        return out;
    }
    let eq = |s: Option<&str>| s.is_some_and(|s| s.eq_ignore_ascii_case(q));
    if eq(Some(&g.source_upn)) {
        out.push(MatchKey::SourceUpn);
    }
    if eq(g.source_mail.as_deref()) {
        out.push(MatchKey::SourceMail);
    }
    if eq(g.host_upn.as_deref()) {
        out.push(MatchKey::HostUpn);
    }
    out
}

/// Who owns the host user (design rule 11), as far as the record tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Ownership {
    /// Created by the engine: synced, disabled and removed by it.
    Managed,
    /// Pre-existing in the host, taken over: profile sync, never removed
    /// unless the tenant's `deprovisionAdopted` says so.
    Adopted,
    /// The address belongs to a host user that is not ours: never touched.
    Conflict,
    /// Ours, but a host administrator disabled or deleted it: left alone
    /// until `guest-sync guest release`.
    HeldByHost,
    /// Removed by the engine (the user left the scope).
    Deprovisioned,
    /// No host user yet (the invitation has not been made or failed).
    None,
}

impl Ownership {
    /// The ownership a record implies.
    pub fn of(g: &GuestRecord) -> Ownership {
        match g.state {
            GuestState::Conflict => Ownership::Conflict,
            GuestState::Held => Ownership::HeldByHost,
            GuestState::Deprovisioned => Ownership::Deprovisioned,
            _ if g.host_user_id.is_none() => Ownership::None,
            _ if g.adopted => Ownership::Adopted,
            _ => Ownership::Managed,
        }
    }
}

/// The source tenant of a match.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub id: Guid,
    pub name: String,
    pub enabled: bool,
    /// The scope group (transitive members are in scope).
    pub group_id: Guid,
}

/// The guest record, as an administrator reads it (also each guest of the
/// dashboard's search: [`crate::report::GuestRow`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestView {
    pub source_user_id: Guid,
    pub source_upn: String,
    pub source_mail: Option<String>,
    pub host_user_id: Option<Guid>,
    pub host_upn: Option<String>,
    pub state: GuestState,
    pub adopted: bool,
    pub created_at: DateTime<Utc>,
    pub redeemed_at: Option<DateTime<Utc>>,
    pub deprovisioned_at: Option<DateTime<Utc>>,
    pub last_synced_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub photo_copied_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The sponsors guest-sync set on the guest (host user ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sponsors: Vec<Guid>,
    /// The manager guest-sync set on the guest (the host id of the
    /// manager's guest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Guid>,
}

impl From<&GuestRecord> for GuestView {
    fn from(g: &GuestRecord) -> Self {
        GuestView {
            source_user_id: g.source_user_id,
            source_upn: g.source_upn.clone(),
            source_mail: g.source_mail.clone(),
            host_user_id: g.host_user_id,
            host_upn: g.host_upn.clone(),
            state: g.state,
            adopted: g.adopted,
            created_at: g.created_at,
            redeemed_at: g.redeemed_at,
            deprovisioned_at: g.deprovisioned_at,
            last_synced_at: g.last_synced_at,
            photo_copied_at: g.photo_copied_at,
            last_error: g.last_error.clone(),
            sponsors: g.relations.sponsors.clone(),
            manager: g.relations.manager,
        }
    }
}

/// The latest run of one job of the tenant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub job: Job,
    pub run_id: uuid::Uuid,
    pub outcome: RunOutcome,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub dry_run: bool,
    pub parked: bool,
    pub error: Option<String>,
}

impl From<&RunRecord> for RunView {
    fn from(r: &RunRecord) -> Self {
        RunView {
            job: r.job,
            run_id: r.run_id,
            outcome: r.outcome,
            started_at: r.started_at,
            finished_at: r.finished_at,
            dry_run: r.dry_run,
            parked: r.parked,
            error: r.error.clone(),
        }
    }
}

/// One write the engine made or attempted on this user's guest.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionView {
    pub at: DateTime<Utc>,
    pub operation: String,
    pub outcome: String,
    pub detail: Option<String>,
    pub run_id: uuid::Uuid,
}

impl From<&AuditEntry> for ActionView {
    fn from(e: &AuditEntry) -> Self {
        ActionView {
            at: e.at,
            operation: e.operation.clone(),
            outcome: e.outcome.clone(),
            detail: e.detail.clone(),
            run_id: e.run_id,
        }
    }
}

/// Everything known about one matched guest record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The record's keys the query matched.
    pub matched_by: Vec<MatchKey>,
    pub tenant: TenantView,
    /// In scope at the last sync (`null`: the store cannot tell, e.g. a
    /// guest held by the host is not re-evaluated).
    pub in_scope: Option<bool>,
    /// The scope in a sentence (through which group, as of when).
    pub scope: String,
    pub guest: GuestView,
    pub ownership: Ownership,
    /// The latest run of each job of the tenant (reconcile, photos,
    /// redemption), in that order; jobs never run are absent.
    pub last_runs: Vec<RunView>,
    /// The engine's latest writes on this guest, newest first.
    pub recent_actions: Vec<ActionView>,
    /// Why the guest is as it is, and why nothing happened when nothing
    /// did: plain sentences from [`reasons`].
    pub reasons: Vec<String>,
}

/// The answer to one query (`guest-sync explain --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplainAnswer {
    pub schema_version: u32,
    pub query: String,
    /// False when no guest record matches.
    pub found: bool,
    pub matches: Vec<Explanation>,
    /// Set when nothing matched: what that means.
    pub note: Option<String>,
}

impl ExplainAnswer {
    /// The answer for `query` with these matches.
    pub fn new(query: &str, matches: Vec<Explanation>) -> Self {
        let found = !matches.is_empty();
        ExplainAnswer {
            schema_version: EXPLAIN_SCHEMA_VERSION,
            query: query.trim().to_string(),
            found,
            note: (!found).then(|| NOT_FOUND.to_string()),
            matches,
        }
    }
}

/// What "no match" means, for the answer and the CLI.
pub const NOT_FOUND: &str = "no guest record matches: the user was never in scope of a registered source tenant's group at a sync, the tenant's first reconcile has not run yet, or the query names neither an object id, a source UPN, a source mail nor a host UPN";

fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The latest run of `job` among `runs` (any order).
fn latest(runs: &[RunRecord], job: Job) -> Option<&RunRecord> {
    runs.iter()
        .filter(|r| r.job == job)
        .max_by_key(|r| r.started_at)
}

/// The sentences that explain `record`: its state, its tenant's holds,
/// the latest runs of the tenant (`runs`, any order, any job; other
/// tenants' runs are ignored) and the user's audit entries (`audit`, any
/// order), at time `now`. Pure; the dashboard's guest detail view calls it
/// with what it has loaded.
///
/// The sentences, in this order, when they apply:
/// - the state: `held: …` (with `guest-sync guest release`), `conflict: …`,
///   `failed: <last error>`, `deprovisioned on …`, `disabled: …`,
///   `invited: …` / `not yet synced: …`, `accepted: …`;
/// - the tenant: disabled, being removed (offboarding), client secret
///   expired, deletion guard holding removals (with
///   `guest-sync tenant confirm-deprovision`);
/// - the latest run of each job: failed (permission lost, parked), still
///   running, a dry run;
/// - the photo cool-down after creation (rule 7), while no photo was copied;
/// - the user's latest failed write in the audit.
pub fn reasons(
    record: &GuestRecord,
    tenant: &SourceTenant,
    runs: &[RunRecord],
    audit: &[AuditEntry],
    now: DateTime<Utc>,
) -> Vec<String> {
    let mut out = Vec::new();
    let name = &tenant.display_name;
    let release = format!(
        "`guest-sync guest release {} {}` hands it back",
        tenant.tenant_id, record.source_user_id
    );
    let err = record.last_error.as_deref();
    match record.state {
        GuestState::Held => out.push(format!(
            "held: a host administrator disabled or deleted this guest{}; the engine leaves it exactly as they set it; {release}{}",
            record
                .last_synced_at
                .map(|t| format!(" (noticed at the sync of {})", day(t)))
                .unwrap_or_default(),
            err.map(|e| format!(" ({e})")).unwrap_or_default()
        )),
        GuestState::Conflict => out.push(format!(
            "conflict: the address belongs to a host user the engine did not create and may not take over (an internal member, or the guest of another source user): {}; nothing is written to it, and it is re-checked at each run",
            err.unwrap_or("no detail recorded")
        )),
        GuestState::Failed => out.push(format!(
            "failed: {}; the next reconcile retries",
            err.unwrap_or("no error text recorded")
        )),
        GuestState::Deprovisioned => out.push(format!(
            "deprovisioned{}: the source user left group {} (or was deleted in the source); a return within 30 days restores the guest",
            record
                .deprovisioned_at
                .map(|t| format!(" on {}", day(t)))
                .unwrap_or_default(),
            tenant.group_id
        )),
        GuestState::Disabled => out.push(
            "disabled: the source account is disabled (or the tenant deprovisions by disabling); the guest is enabled again when the source account is"
                .to_string(),
        ),
        GuestState::Invited if record.host_user_id.is_none() || record.last_synced_at.is_none() => {
            out.push(
                "not yet synced: no run has invited this user yet (the next reconcile does)"
                    .to_string(),
            )
        }
        GuestState::Invited => out.push(
            "invited: the invitation is not redeemed yet; the redemption job records it when it is"
                .to_string(),
        ),
        GuestState::Accepted => out.push(format!(
            "accepted{}: the guest is live and synced",
            record
                .redeemed_at
                .map(|t| format!(" on {}", day(t)))
                .unwrap_or_default()
        )),
    }
    let stated = matches!(
        record.state,
        GuestState::Held | GuestState::Conflict | GuestState::Failed
    );
    if let Some(e) = err.filter(|_| !stated) {
        out.push(format!("last error: {e}"));
    }
    if !tenant.enabled {
        out.push(format!(
            "tenant {name} is disabled: the timers start none of its jobs"
        ));
    }
    if tenant.options.offboarding {
        out.push(format!(
            "tenant {name} is being removed: nobody is in scope any more and its guests are being deprovisioned"
        ));
    }
    if let Some(exp) = tenant.secret_expires_at.filter(|e| *e <= now) {
        out.push(format!(
            "the client secret of tenant {name} expired on {}: its runs fail until a new secret is set",
            day(exp)
        ));
    }
    if let Some(g) = tenant.guard.as_ref().filter(|g| !g.confirmed) {
        out.push(format!(
            "deletion guard held the last run of tenant {name}: it wanted to remove {} guests, the limit is {} (since {}); no guest of this tenant is removed until `guest-sync tenant confirm-deprovision` is run",
            g.wanted,
            g.limit,
            day(g.tripped_at)
        ));
    }
    let own: Vec<RunRecord> = runs
        .iter()
        .filter(|r| r.source_tenant_id == tenant.tenant_id)
        .cloned()
        .collect();
    for job in Job::ALL {
        let Some(r) = latest(&own, job) else {
            if job == Job::Reconcile {
                out.push(format!("no reconcile of tenant {name} has run yet"));
            }
            continue;
        };
        let e = r.error.as_deref().unwrap_or("no error text recorded");
        if r.parked {
            out.push(format!(
                "the last {job} run of tenant {name} (started {}) was parked in the poison queue after repeated failures: {e}",
                day(r.started_at)
            ));
        } else if r.outcome == RunOutcome::Failed {
            let kind = if e.contains("permission") {
                "permission: "
            } else {
                ""
            };
            out.push(format!(
                "{kind}the last {job} run of tenant {name} (started {}) failed: {e}",
                day(r.started_at)
            ));
        } else if r.outcome == RunOutcome::Partial && r.error.is_some() {
            out.push(format!(
                "the last {job} run of tenant {name} (started {}) finished partially: {e}",
                day(r.started_at)
            ));
        } else if matches!(r.outcome, RunOutcome::Running | RunOutcome::Continued) {
            out.push(format!(
                "a {job} run of tenant {name} is under way (started {})",
                day(r.started_at)
            ));
        }
        if r.dry_run {
            out.push(format!(
                "the last {job} run of tenant {name} was a dry run: it wrote nothing"
            ));
        }
    }
    if tenant.options.photos
        && record.host_user_id.is_some()
        && record.photo_copied_at.is_none()
        && record.is_managed()
    {
        let secs =
            i64::try_from(tenant.options.photo_cooldown_secs.min(10 * 365 * 86_400)).unwrap_or(0);
        let until = record.created_at + Duration::seconds(secs);
        if now < until {
            out.push(format!(
                "cool-down: no photo is copied before {} ({} s after the guest was created)",
                day(until),
                secs
            ));
        }
    }
    if let Some(f) = audit
        .iter()
        .filter(|e| e.outcome == "failed")
        .max_by_key(|e| e.at)
    {
        out.push(format!(
            "the last failed write was {} at {}: {}",
            f.operation,
            day(f.at),
            f.detail.as_deref().unwrap_or("no detail recorded")
        ));
    }
    out
}

/// The scope in store terms: `(in scope, sentence)`.
fn scope(record: &GuestRecord, tenant: &SourceTenant) -> (Option<bool>, String) {
    let as_of = record
        .last_synced_at
        .map(|t| format!("as of the sync of {}", day(t)))
        .unwrap_or_else(|| "when it was recorded".to_string());
    match record.state {
        GuestState::Deprovisioned => (
            Some(false),
            format!(
                "not in scope: no longer a (transitive) member of group {} of tenant {} ({as_of})",
                tenant.group_id, tenant.display_name
            ),
        ),
        GuestState::Held => (
            None,
            format!(
                "unknown: a guest held by the host is not re-evaluated until released (scope group {})",
                tenant.group_id
            ),
        ),
        _ => (
            Some(true),
            format!(
                "in scope through group {} of tenant {} (transitive members; {as_of})",
                tenant.group_id, tenant.display_name
            ),
        ),
    }
}

/// Builds the explanation of one record from what was read.
pub fn explanation(
    record: &GuestRecord,
    matched_by: Vec<MatchKey>,
    tenant: &SourceTenant,
    runs: &[RunRecord],
    audit: &[AuditEntry],
    now: DateTime<Utc>,
) -> Explanation {
    let (in_scope, scope) = scope(record, tenant);
    let mut mine: Vec<&AuditEntry> = audit.iter().collect();
    mine.sort_by_key(|e| std::cmp::Reverse(e.at));
    let own: Vec<RunRecord> = runs
        .iter()
        .filter(|r| r.source_tenant_id == tenant.tenant_id)
        .cloned()
        .collect();
    let last_runs = Job::ALL
        .iter()
        .filter_map(|j| latest(&own, *j).map(RunView::from))
        .collect();
    Explanation {
        matched_by,
        tenant: TenantView {
            id: tenant.tenant_id,
            name: tenant.display_name.clone(),
            enabled: tenant.enabled,
            group_id: tenant.group_id,
        },
        in_scope,
        scope,
        guest: GuestView::from(record),
        ownership: Ownership::of(record),
        last_runs,
        recent_actions: mine
            .iter()
            .take(RECENT_ACTIONS)
            .map(|e| ActionView::from(*e))
            .collect(),
        reasons: reasons(record, tenant, runs, audit, now),
    }
}

/// Whether audit entry `e` concerns `record` (its source user, or its host
/// user).
pub fn concerns(e: &AuditEntry, record: &GuestRecord) -> bool {
    e.source_tenant_id == record.source_tenant_id
        && (e.source_user_id == Some(record.source_user_id)
            || (record.host_user_id.is_some() && e.target_id == record.host_user_id))
}

/// Finds every guest record `query` names in `store` (all registered
/// tenants, ordered by tenant name then source user id) and explains each
/// at `now`. An empty result means no record matches.
pub async fn explain(
    store: &dyn Store,
    query: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Explanation>, ExplainError> {
    let q = query.trim();
    if q.is_empty() {
        return Err(ExplainError::EmptyQuery);
    }
    let mut out = Vec::new();
    for tenant in store.list_tenants().await? {
        let mut found: BTreeMap<Guid, (GuestRecord, Vec<MatchKey>)> = BTreeMap::new();
        let mut cont = None;
        loop {
            let page = store
                .list_guests_page(tenant.tenant_id, cont, GUEST_PAGE)
                .await?;
            for g in page.items {
                let keys = match_keys(&g, q);
                if !keys.is_empty() {
                    found.insert(g.source_user_id, (g, keys));
                }
            }
            match page.continuation {
                Some(c) => cont = Some(c),
                None => break,
            }
        }
        if found.is_empty() {
            continue;
        }
        let runs = store.list_runs(Some(tenant.tenant_id), RUN_WINDOW).await?;
        let audit = store
            .list_audit(Some(tenant.tenant_id), AUDIT_WINDOW)
            .await?;
        for (record, keys) in found.into_values() {
            let mine: Vec<AuditEntry> = audit
                .iter()
                .filter(|e| concerns(e, &record))
                .cloned()
                .collect();
            out.push(explanation(&record, keys, &tenant, &runs, &mine, now));
        }
    }
    tracing::info!(matches = out.len(), "explained a user");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> GuestRecord {
        GuestRecord {
            source_tenant_id: Guid::new_v4(),
            source_user_id: Guid::new_v4(),
            source_upn: "Alice@Contoso.example".into(),
            source_mail: Some("alice.m@contoso.example".into()),
            host_user_id: Some(Guid::new_v4()),
            host_upn: Some("alice_contoso.example#EXT#@host.example".into()),
            state: GuestState::Accepted,
            adopted: false,
            created_at: Utc::now(),
            redeemed_at: None,
            deprovisioned_at: None,
            last_synced_at: None,
            profile_fingerprint: None,
            photo_etag: None,
            photo_copied_at: None,
            last_error: None,
            anchored: true,
            relations: Default::default(),
        }
    }

    #[test]
    fn each_key_matches_without_regard_to_case() {
        let g = rec();
        assert_eq!(
            match_keys(&g, "alice@contoso.EXAMPLE"),
            [MatchKey::SourceUpn]
        );
        assert_eq!(
            match_keys(&g, " ALICE.M@contoso.example "),
            [MatchKey::SourceMail]
        );
        assert_eq!(
            match_keys(&g, "ALICE_contoso.example#ext#@host.example"),
            [MatchKey::HostUpn]
        );
        assert_eq!(
            match_keys(&g, &g.source_user_id.to_string()),
            [MatchKey::SourceUserId]
        );
        assert_eq!(
            match_keys(&g, &g.host_user_id.unwrap().to_string().to_uppercase()),
            [MatchKey::HostUserId]
        );
        assert!(match_keys(&g, "bob@contoso.example").is_empty());
    }
}
