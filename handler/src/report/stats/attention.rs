//! What needs an administrator: the attention list's items
//! ([`AttentionItem`], [`AttentionKind`], [`Severity`]) and the rules that
//! find them for one tenant ([`tenant_attention`]).
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{AuditEntry, Guid, Job, RunOutcome, RunRecord, SourceTenant};

use super::secret::{SecretLevel, SecretStatus};
use super::{GuestCounts, GuestTally};

/// At most this many failed guests are listed per tenant in the attention
/// list (the count is always exact).
pub const FAILED_GUEST_SAMPLE: usize = 20;

/// How urgent an attention item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is broken or blocked until an administrator acts.
    Critical,
    /// Will break soon or is partly failing.
    Warning,
}

/// What kind of problem an attention item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttentionKind {
    /// The newest run of a job failed (no later run finished).
    FailedRun,
    /// A work item was parked in the poison queue (no later run finished).
    ParkedItem,
    /// The deprovision guard held back removals; confirm to proceed.
    GuardTripped,
    SecretExpiring,
    SecretExpired,
    /// Guests in state `failed`.
    FailedGuests,
    /// The newest finished run of a job ended partial with a problem an
    /// administrator must fix (a lost permission, an incomplete read).
    IncompleteRun,
    /// Source users whose address belongs to a host user that is not ours.
    Conflicts,
    /// Guests a host administrator disabled or deleted (left as they are).
    HeldByHost,
    /// Queue messages that were no work item, kept on `guestsync-quarantine`.
    QuarantinedMessages,
}

impl AttentionKind {
    /// The JSON name (`failedRun`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            AttentionKind::FailedRun => "failedRun",
            AttentionKind::ParkedItem => "parkedItem",
            AttentionKind::GuardTripped => "guardTripped",
            AttentionKind::SecretExpiring => "secretExpiring",
            AttentionKind::SecretExpired => "secretExpired",
            AttentionKind::FailedGuests => "failedGuests",
            AttentionKind::IncompleteRun => "incompleteRun",
            AttentionKind::Conflicts => "conflicts",
            AttentionKind::HeldByHost => "heldByHost",
            AttentionKind::QuarantinedMessages => "quarantinedMessages",
        }
    }
}

/// A guest stuck in `failed` (no names or addresses: ids and the error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedGuest {
    pub source_user_id: Guid,
    pub host_user_id: Option<Guid>,
    /// Why the guest failed, as the engine recorded it.
    pub last_error: Option<String>,
    pub last_synced_at: Option<DateTime<Utc>>,
}

/// One thing that needs an administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttentionItem {
    pub severity: Severity,
    pub kind: AttentionKind,
    pub tenant_id: Guid,
    pub tenant_name: String,
    /// When it happened (run start, guard trip, secret expiry); `null` for
    /// failed guests.
    pub at: Option<DateTime<Utc>>,
    /// One line for humans.
    pub message: String,
    /// The run concerned (failed runs, parked items).
    pub run_id: Option<uuid::Uuid>,
    pub job: Option<Job>,
    /// The recorded error (failed runs, parked items).
    pub error: Option<String>,
    /// For `failedGuests`: the exact count.
    pub count: Option<u64>,
    /// For `failedGuests`: up to [`FAILED_GUEST_SAMPLE`] of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guests: Vec<FailedGuest>,
}

/// Adds the tenant's attention items. `runs` are the tenant's runs, oldest
/// first.
pub(super) fn tenant_attention(
    t: &SourceTenant,
    secret: &SecretStatus,
    runs: &[&RunRecord],
    tally: &GuestTally,
    counts: &GuestCounts,
    out: &mut Vec<AttentionItem>,
) {
    let item = |severity, kind, at, message: String| AttentionItem {
        severity,
        kind,
        tenant_id: t.tenant_id,
        tenant_name: t.display_name.clone(),
        at,
        message,
        run_id: None,
        job: None,
        error: None,
        count: None,
        guests: Vec::new(),
    };

    // A failed or parked run matters until a later run of the same job finishes.
    for (i, r) in runs.iter().enumerate() {
        if r.outcome != RunOutcome::Failed && !r.parked {
            continue;
        }
        let superseded = runs[i + 1..].iter().any(|later| {
            later.job == r.job
                && matches!(later.outcome, RunOutcome::Succeeded | RunOutcome::Partial)
                && !later.parked
        });
        if superseded {
            continue;
        }
        let (kind, message) = if r.parked {
            (
                AttentionKind::ParkedItem,
                format!(
                    "{} work item parked in the poison queue after repeated failures",
                    r.job
                ),
            )
        } else {
            (AttentionKind::FailedRun, format!("{} run failed", r.job))
        };
        let mut it = item(Severity::Critical, kind, Some(r.started_at), message);
        it.run_id = Some(r.run_id);
        it.job = Some(r.job);
        it.error = r.error.clone();
        out.push(it);
    }

    // The newest finished run of each job, when it ended partial with a
    // problem recorded (the engine writes what needs an administrator).
    for job in crate::domain::Job::ALL {
        let newest = runs
            .iter()
            .rev()
            .find(|r| r.job == job && r.finished_at.is_some() && !r.parked);
        if let Some(r) = newest.filter(|r| r.outcome == RunOutcome::Partial && r.error.is_some()) {
            let mut it = item(
                Severity::Critical,
                AttentionKind::IncompleteRun,
                r.finished_at,
                format!(
                    "{} run ended partial: nothing is synced until this is fixed",
                    r.job
                ),
            );
            it.run_id = Some(r.run_id);
            it.job = Some(r.job);
            it.error = r.error.clone();
            out.push(it);
        }
    }

    if let Some(g) = t.guard.as_ref().filter(|g| !g.confirmed) {
        out.push(item(
            Severity::Critical,
            AttentionKind::GuardTripped,
            Some(g.tripped_at),
            format!(
                "deprovision guard tripped: a run wanted to remove {} guests, limit {}; confirm with `guest-sync tenant confirm-deprovision`",
                g.wanted, g.limit
            ),
        ));
    }

    match secret.level {
        SecretLevel::Expired => out.push(item(
            Severity::Critical,
            AttentionKind::SecretExpired,
            secret.expires_at,
            "client secret expired: the tenant's runs fail until it is renewed".to_string(),
        )),
        SecretLevel::Warning => out.push(item(
            Severity::Warning,
            AttentionKind::SecretExpiring,
            secret.expires_at,
            format!(
                "client secret expires in {} days",
                secret.days_left.unwrap_or_default()
            ),
        )),
        SecretLevel::Ok | SecretLevel::Unknown | SecretLevel::None => {}
    }

    if counts.failed > 0 {
        let mut it = item(
            Severity::Warning,
            AttentionKind::FailedGuests,
            None,
            format!(
                "{} {} stuck in state failed",
                counts.failed,
                if counts.failed == 1 {
                    "guest"
                } else {
                    "guests"
                }
            ),
        );
        it.count = Some(counts.failed);
        it.guests = tally.failed_sample.clone();
        out.push(it);
    }

    if counts.conflicts > 0 {
        let mut it = item(
            Severity::Warning,
            AttentionKind::Conflicts,
            None,
            format!(
                "{} source user(s) not synced: their address belongs to a host user guest-sync did not create and may not take over (an internal member, or a guest linked to another user)",
                counts.conflicts
            ),
        );
        it.count = Some(counts.conflicts);
        out.push(it);
    }

    if counts.held > 0 {
        let mut it = item(
            Severity::Warning,
            AttentionKind::HeldByHost,
            None,
            format!(
                "{} guest(s) disabled or deleted by a host administrator: left as they are; hand one back with `guest-sync guest release`",
                counts.held
            ),
        );
        it.count = Some(counts.held);
        out.push(it);
    }
}

/// The audit operation of a quarantined queue message.
pub const QUARANTINE_OPERATION: &str = "quarantine";

/// One item for the queue messages quarantined in the audit window
/// (they belong to no tenant: the tenant id is the one the message named,
/// or nil).
pub(super) fn quarantine_attention(audit: &[AuditEntry], out: &mut Vec<AttentionItem>) {
    let q: Vec<&AuditEntry> = audit
        .iter()
        .filter(|e| e.operation == QUARANTINE_OPERATION)
        .collect();
    let Some(newest) = q.iter().max_by_key(|e| e.at) else {
        return;
    };
    out.push(AttentionItem {
        severity: Severity::Warning,
        kind: AttentionKind::QuarantinedMessages,
        tenant_id: newest.source_tenant_id,
        tenant_name: "(queue)".into(),
        at: Some(newest.at),
        message: format!(
            "{} queue message(s) were no work item and were kept on guestsync-quarantine with the reason",
            q.len()
        ),
        run_id: None,
        job: None,
        error: newest.detail.clone(),
        count: Some(q.len() as u64),
        guests: Vec::new(),
    });
}
