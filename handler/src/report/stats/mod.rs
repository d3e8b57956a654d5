//! The statistics behind every report: one pure computation
//! ([`Statistics::compute`], [`Statistics::from_tallies`]) over the store's
//! records, and [`Statistics::load`], which reads a [`Store`] page by page so
//! that 100,000 guests are counted without being held in memory.
//!
//! The serialized shape is the stable JSON contract documented in
//! `docs/report.md`; bump [`SCHEMA_VERSION`] on any incompatible change.
//!
//! - `attention`: what needs an administrator ([`AttentionItem`]) and the
//!   rules that find it for one tenant.
//! - `secret`: how close a tenant's client secret is to expiry
//!   ([`SecretStatus`]).
mod attention;
mod secret;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    AuditEntry, GuestRecord, GuestState, Guid, Job, RunCounts, RunOutcome, RunRecord, SourceTenant,
};
use crate::report::explain::GuestView;
use crate::store::{Store, StoreError};

use attention::tenant_attention;
pub use attention::{
    AttentionItem, AttentionKind, FailedGuest, Severity, FAILED_GUEST_SAMPLE, QUARANTINE_OPERATION,
};
pub use secret::{SecretLevel, SecretStatus, SECRET_WARNING_DAYS};

/// Version of the JSON shape. Additive changes (new fields) keep it;
/// renamed, removed or retyped fields bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// How many runs [`Statistics::load`] reads (newest first) for the charts and
/// "last run" columns.
pub const DEFAULT_RUN_WINDOW: usize = 500;

/// How many audit entries [`Statistics::load`] reads (newest first).
pub const DEFAULT_AUDIT_WINDOW: usize = 2000;

/// How many guests the statistics list one by one ([`Statistics::guests`],
/// the dashboard's search); counts always cover every guest.
pub const GUEST_LIST_CAP: usize = 50_000;

/// How many days the managed-guests trend covers at most (ending today).
pub const TREND_DAYS: i64 = 366;

/// Page size used when streaming guest records from the store.
const GUEST_PAGE: usize = 1000;

/// Everything the dashboard, the JSON report and the CLI table show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statistics {
    /// Always [`SCHEMA_VERSION`] when produced by this build.
    pub schema_version: u32,
    /// The `now` the statistics were computed for.
    pub generated_at: DateTime<Utc>,
    /// Sums over all registered tenants.
    pub totals: Totals,
    /// One entry per registered source tenant, ordered by display name.
    pub tenants: Vec<TenantStats>,
    /// Runs in the loaded window, oldest first (chart data).
    pub runs_over_time: Vec<RunPoint>,
    /// Invitations accepted per day (UTC) over all tenants, oldest first.
    pub redemption_over_time: Vec<RedemptionPoint>,
    /// What needs an administrator, most severe first.
    pub attention: Vec<AttentionItem>,
    /// The newest audit entries, newest first.
    pub recent_audit: Vec<AuditRow>,
    /// Managed guests at the end of each day (UTC) over all tenants, oldest
    /// first, ending on the day of `generatedAt` (see [`GuestTally`] for how
    /// it is derived).
    #[serde(default)]
    pub managed_over_time: Vec<ManagedPoint>,
    /// Guests one by one (every state), by tenant then source UPN; at most
    /// [`GUEST_LIST_CAP`].
    #[serde(default)]
    pub guests: Vec<GuestRow>,
    /// True when more guests exist than `guests` lists.
    #[serde(default)]
    pub guests_truncated: bool,
}

/// Managed guests at the end of one day (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedPoint {
    pub date: NaiveDate,
    pub managed: u64,
}

/// One guest record as the dashboard's search and detail view show it:
/// the record as `guest-sync explain` shows it (its fields at the top level
/// of the JSON), the tenant, a name and explain's reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestRow {
    pub tenant_id: Guid,
    /// What to call the guest: the display name when the store keeps one
    /// (it does not today), else the source UPN.
    pub name: String,
    #[serde(flatten)]
    pub guest: GuestView,
    /// Why the guest is as it is, and what stops the engine when nothing
    /// happens: the sentences of `guest-sync explain`
    /// ([`crate::report::explain::reasons`]), from the record, its tenant,
    /// the runs and the audit entries the statistics read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
}

impl From<&GuestRecord> for GuestRow {
    fn from(g: &GuestRecord) -> Self {
        GuestRow {
            tenant_id: g.source_tenant_id,
            name: g.source_upn.clone(),
            guest: GuestView::from(g),
            why: Vec::new(),
        }
    }
}

/// Guest counts; shared by the totals and each tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuestCounts {
    /// Guests currently managed: every record not `deprovisioned`.
    pub managed: u64,
    /// Invitations pending (state `invited`).
    pub invited: u64,
    pub accepted: u64,
    /// `accepted / (invited + accepted)`, 0..=1; `null` when both are 0.
    pub redemption_rate: Option<f64>,
    pub disabled: u64,
    pub deprovisioned: u64,
    /// Managed guests that already existed in the host and were taken over.
    pub adopted: u64,
    /// Guests stuck in state `failed`.
    pub failed: u64,
    /// Source users whose address belongs to a host user that is not ours
    /// (state `conflict`): never touched, reported.
    #[serde(default)]
    pub conflicts: u64,
    /// Guests of ours a host administrator disabled or deleted (state
    /// `held`): left as they are until released.
    #[serde(default)]
    pub held: u64,
}

impl GuestCounts {
    fn finish(&mut self) {
        let asked = self.invited + self.accepted;
        self.redemption_rate = if asked == 0 {
            None
        } else {
            Some(self.accepted as f64 / asked as f64)
        };
    }
    fn add(&mut self, o: &GuestCounts) {
        self.managed += o.managed;
        self.invited += o.invited;
        self.accepted += o.accepted;
        self.disabled += o.disabled;
        self.deprovisioned += o.deprovisioned;
        self.adopted += o.adopted;
        self.failed += o.failed;
        self.conflicts += o.conflicts;
        self.held += o.held;
    }
}

/// Totals over all registered tenants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Registered source tenants.
    pub tenants: u64,
    /// Of those, the enabled ones (timers fan out to these only).
    pub enabled_tenants: u64,
    #[serde(flatten)]
    pub guests: GuestCounts,
    /// Attention items of severity `critical`.
    pub critical: u64,
    /// Attention items of severity `warning`.
    pub warnings: u64,
}

/// The newest run of one job for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastRun {
    pub job: Job,
    pub run_id: uuid::Uuid,
    pub outcome: RunOutcome,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    /// The recorded error of a failed run.
    pub error: Option<String>,
    /// The run planned only and wrote nothing to Graph.
    pub dry_run: bool,
    /// The work item was parked in the poison queue.
    pub parked: bool,
}

impl From<&RunRecord> for LastRun {
    fn from(r: &RunRecord) -> Self {
        LastRun {
            job: r.job,
            run_id: r.run_id,
            outcome: r.outcome,
            started_at: r.started_at,
            finished_at: r.finished_at,
            counts: r.counts.clone(),
            error: r.error.clone(),
            dry_run: r.dry_run,
            parked: r.parked,
        }
    }
}

/// One source tenant's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantStats {
    pub tenant_id: Guid,
    pub display_name: String,
    pub enabled: bool,
    #[serde(flatten)]
    pub guests: GuestCounts,
    pub secret: SecretStatus,
    /// True while a tripped deprovision guard waits for confirmation.
    pub guard_pending: bool,
    /// The newest run of each job found in the window; a job never run (or
    /// older than the window) is absent.
    pub last_runs: Vec<LastRun>,
    /// This tenant's managed guests at the end of each day, oldest first.
    #[serde(default)]
    pub managed_over_time: Vec<ManagedPoint>,
    /// The host's cross-tenant access settings for the tenant (automatic
    /// redemption, inbound B2B) as last read by `tenant add`/`test` or the
    /// daily job; None until read.
    #[serde(default)]
    pub cross_tenant: Option<crate::domain::CrossTenantStatus>,
}

/// One run, for the "changes per run" chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunPoint {
    pub run_id: uuid::Uuid,
    pub job: Job,
    pub tenant_id: Guid,
    pub started_at: DateTime<Utc>,
    pub outcome: RunOutcome,
    pub created: u64,
    pub updated: u64,
    pub deprovisioned: u64,
    pub photos_copied: u64,
    /// Sponsor writes of the run (`docs/engine.md`, "Sponsors and managers").
    #[serde(default)]
    pub sponsor_writes: u64,
    /// Manager writes of the run.
    #[serde(default)]
    pub manager_writes: u64,
}

/// Invitations accepted on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedemptionPoint {
    pub date: NaiveDate,
    pub accepted: u64,
    /// Accepted on or before this day.
    pub cumulative: u64,
}

/// One audit entry as shown to administrators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub run_id: uuid::Uuid,
    pub tenant_id: Guid,
    /// The tenant's display name, or its id when no longer registered.
    pub tenant_name: String,
    pub operation: String,
    pub outcome: String,
    pub target_id: Option<Guid>,
    /// The guest's host UPN (the only personal data in the report).
    pub target_upn: Option<String>,
    pub detail: Option<String>,
    pub client_request_id: Option<String>,
    /// The source user the write was about, when recorded.
    #[serde(default)]
    pub source_user_id: Option<Guid>,
    /// That user's source UPN, joined from the listed guests.
    #[serde(default)]
    pub source_upn: Option<String>,
}

/// Per-tenant guest numbers gathered one record at a time, so a caller can
/// stream pages from the store instead of holding every record.
///
/// The managed-guests trend comes from the records themselves: a managed
/// record counts from the day it was created, a deprovisioned one from its
/// creation until the day of `deprovisionedAt` (one without that time is
/// left out), a conflict never. So the last day equals today's `managed`;
/// records the store no longer has (deleted by hand) are missing from every
/// day, and a guest deprovisioned then restored counts from its creation.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestTally {
    counts: GuestCounts,
    /// Accepted invitations per redemption day.
    redeemed_by_day: BTreeMap<NaiveDate, u64>,
    /// First [`FAILED_GUEST_SAMPLE`] failed guests.
    failed_sample: Vec<FailedGuest>,
    /// Change of the managed count per day.
    managed_delta_by_day: BTreeMap<NaiveDate, i64>,
    /// Guests listed one by one, at most `row_cap`.
    rows: Vec<GuestRow>,
    row_cap: usize,
    /// Records beyond `row_cap`.
    rows_left_out: u64,
}

impl Default for GuestTally {
    fn default() -> Self {
        GuestTally::with_row_cap(GUEST_LIST_CAP)
    }
}

impl GuestTally {
    /// A tally that lists at most `cap` guests one by one.
    pub fn with_row_cap(cap: usize) -> Self {
        GuestTally {
            counts: GuestCounts::default(),
            redeemed_by_day: BTreeMap::new(),
            failed_sample: Vec::new(),
            managed_delta_by_day: BTreeMap::new(),
            rows: Vec::new(),
            row_cap: cap,
            rows_left_out: 0,
        }
    }

    /// Guests listed so far.
    pub fn listed(&self) -> usize {
        self.rows.len()
    }

    /// Counts one record; returns its row when it is listed one by one.
    pub fn add(&mut self, g: &GuestRecord) -> Option<&mut GuestRow> {
        let listed = self.rows.len() < self.row_cap;
        if listed {
            self.rows.push(GuestRow::from(g));
        } else {
            self.rows_left_out += 1;
        }
        let created = g.created_at.date_naive();
        if g.is_managed() {
            *self.managed_delta_by_day.entry(created).or_default() += 1;
        } else if let (GuestState::Deprovisioned, Some(gone)) = (g.state, g.deprovisioned_at) {
            *self.managed_delta_by_day.entry(created).or_default() += 1;
            *self
                .managed_delta_by_day
                .entry(gone.date_naive())
                .or_default() -= 1;
        }
        let c = &mut self.counts;
        match g.state {
            GuestState::Invited => c.invited += 1,
            GuestState::Accepted => c.accepted += 1,
            GuestState::Disabled => c.disabled += 1,
            GuestState::Deprovisioned => c.deprovisioned += 1,
            GuestState::Conflict => c.conflicts += 1,
            GuestState::Held => c.held += 1,
            GuestState::Failed => {
                c.failed += 1;
                if self.failed_sample.len() < FAILED_GUEST_SAMPLE {
                    self.failed_sample.push(FailedGuest {
                        source_user_id: g.source_user_id,
                        host_user_id: g.host_user_id,
                        last_error: g.last_error.clone(),
                        last_synced_at: g.last_synced_at,
                    });
                }
            }
        }
        if g.is_managed() {
            c.managed += 1;
            if g.adopted {
                c.adopted += 1;
            }
        }
        if let Some(at) = g.redeemed_at {
            *self.redeemed_by_day.entry(at.date_naive()).or_default() += 1;
        }
        if listed {
            self.rows.last_mut()
        } else {
            None
        }
    }
}

/// What [`crate::report::explain::reasons`] needs beside a record, indexed
/// once so that the reasons of 50,000 listed guests cost one lookup each:
/// the runs per tenant and the audit entries per user (by source user and
/// by host object id).
struct WhyContext<'a> {
    runs: HashMap<Guid, Vec<RunRecord>>,
    by_source: HashMap<(Guid, Guid), Vec<&'a AuditEntry>>,
    by_target: HashMap<(Guid, Guid), Vec<&'a AuditEntry>>,
    now: DateTime<Utc>,
}

impl<'a> WhyContext<'a> {
    fn new(runs: &[RunRecord], audit: &'a [AuditEntry], now: DateTime<Utc>) -> Self {
        let mut by_tenant: HashMap<Guid, Vec<RunRecord>> = HashMap::new();
        for r in runs {
            by_tenant
                .entry(r.source_tenant_id)
                .or_default()
                .push(r.clone());
        }
        let (mut by_source, mut by_target) = (HashMap::new(), HashMap::new());
        for e in audit {
            if let Some(u) = e.source_user_id {
                by_source
                    .entry((e.source_tenant_id, u))
                    .or_insert_with(Vec::new)
                    .push(e);
            }
            if let Some(h) = e.target_id {
                by_target
                    .entry((e.source_tenant_id, h))
                    .or_insert_with(Vec::new)
                    .push(e);
            }
        }
        WhyContext {
            runs: by_tenant,
            by_source,
            by_target,
            now,
        }
    }

    /// The reasons for one record of tenant `t`.
    fn reasons(&self, g: &GuestRecord, t: &SourceTenant) -> Vec<String> {
        let t_id = g.source_tenant_id;
        let mut refs: Vec<&AuditEntry> = self
            .by_source
            .get(&(t_id, g.source_user_id))
            .cloned()
            .unwrap_or_default();
        if let Some(by_host) = g.host_user_id.and_then(|h| self.by_target.get(&(t_id, h))) {
            for e in by_host {
                if !refs.iter().any(|m| std::ptr::eq(*m, *e)) {
                    refs.push(e);
                }
            }
        }
        // Newest first, as the store lists them.
        refs.sort_by_key(|e| std::cmp::Reverse(e.at));
        let mine: Vec<AuditEntry> = refs.into_iter().cloned().collect();
        let runs = self.runs.get(&t_id).map(Vec::as_slice).unwrap_or(&[]);
        crate::report::explain::reasons(g, t, runs, &mine, self.now)
    }
}

/// The daily series from per-day changes: one point per day from the first
/// change (at most [`TREND_DAYS`] back) to `today`, carrying earlier changes
/// into the first point.
fn managed_series(deltas: &BTreeMap<NaiveDate, i64>, today: NaiveDate) -> Vec<ManagedPoint> {
    let Some(first) = deltas.keys().next().copied() else {
        return Vec::new();
    };
    let start = first.max(today - chrono::Duration::days(TREND_DAYS - 1));
    let end = today.max(start);
    let mut running: i64 = deltas.range(..start).map(|(_, d)| d).sum();
    let mut out = Vec::new();
    let mut day = start;
    while day <= end {
        running += deltas.get(&day).copied().unwrap_or(0);
        out.push(ManagedPoint {
            date: day,
            managed: running.max(0) as u64,
        });
        day += chrono::Duration::days(1);
    }
    // Changes stamped after `today` (clock skew) still land on the last day.
    let later: i64 = deltas
        .iter()
        .filter(|(d, _)| **d > end)
        .map(|(_, n)| n)
        .sum();
    if let Some(last) = out.last_mut() {
        last.managed = (last.managed as i64 + later).max(0) as u64;
    }
    out
}

impl Statistics {
    /// Computes the statistics from records in memory (pure). Guests of a
    /// tenant missing from `tenants` are ignored, as [`Statistics::load`]
    /// only reads registered tenants. `runs` and `audit` may come in any
    /// order.
    pub fn compute(
        tenants: &[SourceTenant],
        guests: &HashMap<Guid, Vec<GuestRecord>>,
        runs: &[RunRecord],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Statistics {
        let why = WhyContext::new(runs, audit, now);
        let mut listed = 0usize;
        let tallies = tenants
            .iter()
            .map(|t| {
                let mut tally = GuestTally::with_row_cap(GUEST_LIST_CAP - listed);
                for g in guests.get(&t.tenant_id).into_iter().flatten() {
                    if let Some(row) = tally.add(g) {
                        row.why = why.reasons(g, t);
                    }
                }
                listed += tally.listed();
                (t.tenant_id, tally)
            })
            .collect();
        Statistics::from_tallies(tenants, &tallies, runs, audit, now)
    }

    /// Computes the statistics from per-tenant tallies (pure); a tenant
    /// without a tally has no guests.
    pub fn from_tallies(
        tenants: &[SourceTenant],
        tallies: &HashMap<Guid, GuestTally>,
        runs: &[RunRecord],
        audit: &[AuditEntry],
        now: DateTime<Utc>,
    ) -> Statistics {
        let empty = GuestTally::default();
        let mut sorted_tenants: Vec<&SourceTenant> = tenants.iter().collect();
        sorted_tenants.sort_by(|a, b| {
            a.display_name
                .to_lowercase()
                .cmp(&b.display_name.to_lowercase())
                .then(a.tenant_id.cmp(&b.tenant_id))
        });
        let names: HashMap<Guid, &str> = tenants
            .iter()
            .map(|t| (t.tenant_id, t.display_name.as_str()))
            .collect();

        let mut runs_sorted: Vec<&RunRecord> = runs.iter().collect();
        runs_sorted.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then(a.run_id.cmp(&b.run_id))
        });

        let mut totals = Totals::default();
        let mut tenant_stats = Vec::with_capacity(tenants.len());
        let mut attention = Vec::new();
        let mut redeemed_by_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        let mut managed_delta_by_day: BTreeMap<NaiveDate, i64> = BTreeMap::new();
        let mut guests: Vec<GuestRow> = Vec::new();
        let mut guests_truncated = false;
        let today = now.date_naive();

        for t in sorted_tenants {
            let tally = tallies.get(&t.tenant_id).unwrap_or(&empty);
            let mut counts = tally.counts.clone();
            counts.finish();
            totals.tenants += 1;
            if t.enabled {
                totals.enabled_tenants += 1;
            }
            totals.guests.add(&counts);
            for (day, n) in &tally.redeemed_by_day {
                *redeemed_by_day.entry(*day).or_default() += n;
            }
            for (day, n) in &tally.managed_delta_by_day {
                *managed_delta_by_day.entry(*day).or_default() += n;
            }
            let mut rows = tally.rows.clone();
            rows.sort_by(|a, b| {
                a.guest
                    .source_upn
                    .to_lowercase()
                    .cmp(&b.guest.source_upn.to_lowercase())
                    .then(a.guest.source_user_id.cmp(&b.guest.source_user_id))
            });
            let room = GUEST_LIST_CAP.saturating_sub(guests.len());
            if rows.len() > room || tally.rows_left_out > 0 {
                guests_truncated = true;
            }
            guests.extend(rows.into_iter().take(room));

            let own_runs: Vec<&RunRecord> = runs_sorted
                .iter()
                .copied()
                .filter(|r| r.source_tenant_id == t.tenant_id)
                .collect();
            let last_runs: Vec<LastRun> = Job::ALL
                .iter()
                .filter_map(|job| own_runs.iter().rev().find(|r| r.job == *job))
                .map(|r| LastRun::from(*r))
                .collect();

            let secret = if t.credential == crate::domain::TenantCredential::Secretless {
                SecretStatus::none()
            } else {
                SecretStatus::new(t.secret_expires_at, now)
            };
            let guard_pending = t.guard.as_ref().is_some_and(|g| !g.confirmed);
            tenant_attention(t, &secret, &own_runs, tally, &counts, &mut attention);

            tenant_stats.push(TenantStats {
                tenant_id: t.tenant_id,
                display_name: t.display_name.clone(),
                enabled: t.enabled,
                guests: counts,
                secret,
                guard_pending,
                last_runs,
                managed_over_time: managed_series(&tally.managed_delta_by_day, today),
                cross_tenant: t.cross_tenant.clone(),
            });
        }
        totals.guests.finish();
        attention::quarantine_attention(audit, &mut attention);

        attention.sort_by(|a, b| a.severity.cmp(&b.severity).then(b.at.cmp(&a.at)));
        totals.critical = attention
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count() as u64;
        totals.warnings = attention.len() as u64 - totals.critical;

        let runs_over_time = runs_sorted
            .iter()
            .filter(|r| names.contains_key(&r.source_tenant_id))
            .map(|r| RunPoint {
                run_id: r.run_id,
                job: r.job,
                tenant_id: r.source_tenant_id,
                started_at: r.started_at,
                outcome: r.outcome,
                created: r.counts.created,
                updated: r.counts.updated,
                deprovisioned: r.counts.deprovisioned,
                photos_copied: r.counts.photos_copied,
                sponsor_writes: r.counts.sponsor_writes,
                manager_writes: r.counts.manager_writes,
            })
            .collect();

        let mut cumulative = 0;
        let redemption_over_time = redeemed_by_day
            .into_iter()
            .map(|(date, accepted)| {
                cumulative += accepted;
                RedemptionPoint {
                    date,
                    accepted,
                    cumulative,
                }
            })
            .collect();

        let by_source: HashMap<(Guid, Guid), &GuestRow> = guests
            .iter()
            .map(|g| ((g.tenant_id, g.guest.source_user_id), g))
            .collect();
        let by_host: HashMap<Guid, &GuestRow> = guests
            .iter()
            .filter_map(|g| g.guest.host_user_id.map(|h| (h, g)))
            .collect();
        let mut audit_sorted: Vec<&AuditEntry> = audit.iter().collect();
        audit_sorted.sort_by_key(|a| std::cmp::Reverse(a.at));
        let recent_audit = audit_sorted
            .into_iter()
            .map(|a| {
                let guest = a
                    .source_user_id
                    .and_then(|u| by_source.get(&(a.source_tenant_id, u)))
                    .or_else(|| a.target_id.and_then(|h| by_host.get(&h)))
                    .copied();
                (a, guest)
            })
            .map(|(a, guest)| AuditRow {
                at: a.at,
                run_id: a.run_id,
                tenant_id: a.source_tenant_id,
                tenant_name: names
                    .get(&a.source_tenant_id)
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| a.source_tenant_id.to_string()),
                operation: a.operation.clone(),
                outcome: a.outcome.clone(),
                target_id: a.target_id,
                target_upn: a
                    .target_upn
                    .clone()
                    .or_else(|| guest.and_then(|g| g.guest.host_upn.clone())),
                detail: a.detail.clone(),
                client_request_id: a.client_request_id.clone(),
                source_user_id: a.source_user_id.or(guest.map(|g| g.guest.source_user_id)),
                source_upn: guest.map(|g| g.guest.source_upn.clone()),
            })
            .collect();

        Statistics {
            schema_version: SCHEMA_VERSION,
            generated_at: now,
            totals,
            tenants: tenant_stats,
            runs_over_time,
            redemption_over_time,
            attention,
            recent_audit,
            managed_over_time: managed_series(&managed_delta_by_day, today),
            guests,
            guests_truncated,
        }
    }

    /// Reads the store and computes the statistics: every registered
    /// tenant, its guests streamed page by page (only counts are kept), the
    /// newest [`DEFAULT_RUN_WINDOW`] runs and [`DEFAULT_AUDIT_WINDOW`] audit
    /// entries.
    pub async fn load(store: &dyn Store, now: DateTime<Utc>) -> Result<Statistics, StoreError> {
        Statistics::load_with(store, now, DEFAULT_RUN_WINDOW, DEFAULT_AUDIT_WINDOW).await
    }

    /// [`Statistics::load`] with explicit run and audit windows.
    pub async fn load_with(
        store: &dyn Store,
        now: DateTime<Utc>,
        run_window: usize,
        audit_window: usize,
    ) -> Result<Statistics, StoreError> {
        let tenants = store.list_tenants().await?;
        let runs = store.list_runs(None, run_window).await?;
        let audit = store.list_audit(None, audit_window).await?;
        let why = WhyContext::new(&runs, &audit, now);
        let mut tallies = HashMap::with_capacity(tenants.len());
        let mut listed = 0usize;
        for t in &tenants {
            let mut tally = GuestTally::with_row_cap(GUEST_LIST_CAP - listed);
            let mut cont = None;
            loop {
                let page = store
                    .list_guests_page(t.tenant_id, cont, GUEST_PAGE)
                    .await?;
                for g in &page.items {
                    if let Some(row) = tally.add(g) {
                        row.why = why.reasons(g, t);
                    }
                }
                match page.continuation {
                    Some(c) => cont = Some(c),
                    None => break,
                }
            }
            listed += tally.listed();
            tallies.insert(t.tenant_id, tally);
        }
        tracing::debug!(
            tenants = tenants.len(),
            runs = runs.len(),
            audit = audit.len(),
            "report statistics loaded"
        );
        Ok(Statistics::from_tallies(
            &tenants, &tallies, &runs, &audit, now,
        ))
    }

    /// The tenant's statistics, by id.
    pub fn tenant(&self, id: Guid) -> Option<&TenantStats> {
        self.tenants.iter().find(|t| t.tenant_id == id)
    }

    /// The same statistics restricted to one tenant (totals recomputed from
    /// that tenant's numbers; attention, runs and audit filtered). `None`
    /// when the tenant is not registered.
    pub fn for_tenant(&self, id: Guid) -> Option<Statistics> {
        let t = self.tenant(id)?.clone();
        let managed_over_time = t.managed_over_time.clone();
        let mut totals = Totals {
            tenants: 1,
            enabled_tenants: u64::from(t.enabled),
            guests: t.guests.clone(),
            critical: 0,
            warnings: 0,
        };
        let attention: Vec<AttentionItem> = self
            .attention
            .iter()
            .filter(|a| a.tenant_id == id)
            .cloned()
            .collect();
        totals.critical = attention
            .iter()
            .filter(|a| a.severity == Severity::Critical)
            .count() as u64;
        totals.warnings = attention.len() as u64 - totals.critical;
        Some(Statistics {
            schema_version: self.schema_version,
            generated_at: self.generated_at,
            totals,
            tenants: vec![t],
            runs_over_time: self
                .runs_over_time
                .iter()
                .filter(|r| r.tenant_id == id)
                .cloned()
                .collect(),
            // Redemption days are kept over all tenants only.
            redemption_over_time: self.redemption_over_time.clone(),
            attention,
            recent_audit: self
                .recent_audit
                .iter()
                .filter(|a| a.tenant_id == id)
                .cloned()
                .collect(),
            managed_over_time,
            guests: self
                .guests
                .iter()
                .filter(|g| g.tenant_id == id)
                .cloned()
                .collect(),
            guests_truncated: self.guests_truncated,
        })
    }
}
