//! The executor: applies a [`Plan`] to the host through a [`HostWriter`],
//! many actions at once (the Graph client's pacer holds the rate), and
//! records every outcome: the guest record after each action, one
//! [`AuditEntry`] per write made or attempted.
//!
//! Crash safety comes from the write order, together with the planner
//! comparing actual state:
//! - An invite first stores a *pending* record (no host id), then invites,
//!   then stores the host id at once. A crash after the invite but before
//!   the id was stored is healed next run: the pending record's address
//!   finds the guest and re-links it (never a duplicate, never "adopted").
//! - Every other action writes Graph first and the record after; a lost
//!   record write just means the next plan sees the host already as wanted
//!   and only fixes the record.
//!
//! Dry run is not an `if` in here: [`DryRunWriter`] stands in for Graph,
//! answers every write with success, writes nothing, and makes the
//! executor keep guest records out of the store; audit entries then carry
//! the outcome `dry-run`.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::domain::plan::{Action, ActionKind, Plan};
use crate::domain::profile::Changes;
use crate::domain::{
    Anchor, AnchorAttribute, AuditEntry, DeprovisionMode, GuestRecord, GuestState, Guid, RunCounts,
};
use crate::graph::{GraphError, InviteRequest};
use crate::store::Store;

use super::ownership::{self, Existing};
pub use super::writer::{DryRunWriter, GraphWriter, HostWriter};
use super::{Clock, Progress, SyncError};

/// Graph errors after which no further write of this job can succeed:
/// stop launching and fail the job with the error.
pub(crate) fn is_fatal(e: &GraphError) -> bool {
    matches!(
        e,
        GraphError::Auth { .. }
            | GraphError::Forbidden { .. }
            | GraphError::InvitationsRestricted { .. }
    )
}

/// Actions (per unit of concurrency) every slice starts even past its
/// deadline, so that each continuation makes progress.
pub const MIN_PROGRESS_PER_CONCURRENCY: usize = 4;

/// What applying (part of) a plan did.
#[derive(Debug, Default)]
pub struct ExecReport {
    /// What the finished actions did.
    pub counts: RunCounts,
    /// Actions finished (succeeded or failed).
    pub done: usize,
    /// Actions not started (deadline, or a fatal error stopped the run):
    /// always the plan's tail.
    pub not_started: usize,
    /// The plan-order key ([`Action::order_key`]) of the first action not
    /// started, where a continuation resumes.
    pub first_not_started: Option<(u8, Guid)>,
    /// Actions that failed with a transient error (worth another pass).
    pub transient_failures: u64,
    /// The error that stopped the run (a fatal Graph error or the store).
    pub fatal: Option<SyncError>,
    /// Why the ownership anchor could not be written (the rest of each
    /// PATCH was still made), for the run's attention.
    pub anchor_problem: Option<String>,
}

impl ExecReport {
    /// Adds what applying another part of the plan did.
    pub fn merge(&mut self, o: ExecReport) {
        self.counts.add(&o.counts);
        self.done += o.done;
        self.not_started += o.not_started;
        if self.first_not_started.is_none() {
            self.first_not_started = o.first_not_started;
        }
        self.transient_failures += o.transient_failures;
        if self.fatal.is_none() {
            self.fatal = o.fatal;
        }
        if self.anchor_problem.is_none() {
            self.anchor_problem = o.anchor_problem;
        }
    }
}

/// Applies plans of one tenant for one run.
pub struct Executor {
    /// The source tenant whose plan this is.
    pub tenant: Guid,
    /// Written on every audit entry.
    pub run_id: uuid::Uuid,
    /// Graph, or the dry-run stand-in.
    pub writer: Arc<dyn HostWriter>,
    /// Guest records and audit go here.
    pub store: Arc<dyn Store>,
    /// Timestamps of records and audit entries.
    pub clock: Arc<dyn Clock>,
    /// `inviteRedirectUrl`.
    pub redirect_url: String,
    /// `GUESTSYNC_HOST_GROUP_ID`.
    pub host_group: Option<Guid>,
    /// Records as they were when the plan was made (for counting
    /// transitions such as invited -> accepted).
    pub before: Before,
    /// Actions in flight at once.
    pub concurrency: usize,
    /// `GUESTSYNC_ANCHOR_ATTRIBUTE` (selected by the invite pre-check).
    pub anchor: Option<AnchorAttribute>,
    /// Set when Graph refused the anchor: later PATCHes of this run leave
    /// it out instead of failing again.
    pub anchor_problem: Mutex<Option<String>>,
    /// Actions this executor started (over every part of the plan).
    pub launched: std::sync::atomic::AtomicUsize,
}

/// The records a plan was made from, shared with the caller (not copied:
/// a large tenant's records are tens of MB), indexed by source user and by
/// host user.
pub struct Before {
    records: Arc<Vec<GuestRecord>>,
    by_source: HashMap<Guid, usize>,
    /// Host user -> the source user of a record linking it, and whether
    /// more than one record links it.
    by_host: HashMap<Guid, (Guid, bool)>,
}

impl Before {
    pub fn new(records: Arc<Vec<GuestRecord>>) -> Before {
        let mut by_source = HashMap::with_capacity(records.len());
        let mut by_host: HashMap<Guid, (Guid, bool)> = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            by_source.insert(r.source_user_id, i);
            if let Some(h) = r.host_user_id {
                by_host
                    .entry(h)
                    .and_modify(|e| e.1 = true)
                    .or_insert((r.source_user_id, false));
            }
        }
        Before {
            records,
            by_source,
            by_host,
        }
    }

    /// The record of a source user.
    pub fn get(&self, source_user: &Guid) -> Option<&GuestRecord> {
        self.by_source.get(source_user).map(|&i| &self.records[i])
    }

    /// Whether a record of another source user than `me` links host user
    /// `host`.
    pub fn linked_elsewhere(&self, host: Guid, me: Guid) -> bool {
        self.by_host
            .get(&host)
            .is_some_and(|&(first, shared)| shared || first != me)
    }
}

/// Per-action result.
enum Done {
    Ok(RunCounts),
    /// Failed; `transient` says whether a retry may help.
    Failed {
        transient: bool,
    },
}

/// Whether the action's PATCH carries the ownership anchor.
fn carries_anchor(a: &Action) -> bool {
    match &a.kind {
        ActionKind::Invite { changes, .. }
        | ActionKind::Adopt { changes, .. }
        | ActionKind::Restore { changes, .. }
        | ActionKind::Update { changes, .. } => changes.anchor.is_some(),
        _ => false,
    }
}

fn audit_op_for_patch(ch: &Changes) -> &'static str {
    match (ch.set.is_empty(), ch.account_enabled) {
        (true, Some(false)) => "disable",
        (true, Some(true)) => "enable",
        _ => "patch",
    }
}

/// Whether this action is where the guest's redemption is first recorded:
/// an invitation answered `Completed`, or a guest we knew (linked, no
/// redemption date) that now has one, whatever its state (a disabled guest
/// can redeem too).
fn newly_redeemed(old: Option<&GuestRecord>, rec: &GuestRecord, kind: &ActionKind) -> bool {
    rec.redeemed_at.is_some()
        && match kind {
            ActionKind::Invite { .. } => old.is_none_or(|o| o.redeemed_at.is_none()),
            _ => old.is_some_and(|o| o.redeemed_at.is_none() && o.host_user_id.is_some()),
        }
}

impl Executor {
    fn audit(
        &self,
        a: &Action,
        operation: &str,
        target: Option<Guid>,
        result: Result<(), &GraphError>,
        detail: Option<String>,
    ) -> AuditEntry {
        let (outcome, detail, crid) = match result {
            Ok(()) => (self.writer.outcome_label().to_string(), detail, None),
            Err(e) => (
                "failed".to_string(),
                Some(e.to_string()),
                Some(e.client_request_id().to_string()),
            ),
        };
        AuditEntry {
            at: self.clock.now(),
            run_id: self.run_id,
            source_tenant_id: self.tenant,
            source_user_id: Some(a.source_user_id),
            target_id: target.filter(|t| !t.as_uuid().is_nil()),
            target_upn: a.record.host_upn.clone(),
            operation: operation.to_string(),
            outcome,
            detail,
            client_request_id: crid,
        }
    }

    /// Stores a guest record. The photo fields belong to the photo job,
    /// which may run at the same time, and the applied sponsors and manager
    /// to the relations phase: they are kept as stored.
    async fn put(&self, r: &GuestRecord) -> Result<(), SyncError> {
        if !self.writer.persists() {
            return Ok(());
        }
        let cur = self
            .store
            .get_guest(r.source_tenant_id, r.source_user_id)
            .await
            .map_err(SyncError::Store)?;
        let mut r = r.clone();
        if let Some(c) = cur {
            r.photo_etag = c.photo_etag;
            r.photo_copied_at = c.photo_copied_at;
            // Sponsors and managers belong to the relations phase.
            r.relations = c.relations;
        }
        self.store.put_guest(&r).await.map_err(SyncError::Store)
    }

    async fn log(&self, entries: Vec<AuditEntry>) -> Result<(), SyncError> {
        if entries.is_empty() {
            return Ok(());
        }
        self.store
            .append_audit(&entries)
            .await
            .map_err(SyncError::Store)
    }

    /// Applies `plan`: launches actions in plan order, at most
    /// `concurrency` at once, and none after a fatal error nor, beyond the
    /// first `MIN_PROGRESS_PER_CONCURRENCY × concurrency`, after `deadline`. Every finished action has its record and audit stored.
    pub async fn execute(
        &self,
        plan: &Plan,
        deadline: tokio::time::Instant,
        progress: &dyn Progress,
    ) -> ExecReport {
        progress.phase("apply", Some(plan.actions.len() as u64));
        let stop = AtomicBool::new(false);
        let fatal: Mutex<Option<SyncError>> = Mutex::new(None);
        let min_progress = MIN_PROGRESS_PER_CONCURRENCY * self.concurrency.max(1);
        // Each result with its action's index: they come in the order the
        // actions finish.
        let results: Vec<(usize, Option<Done>)> = futures::stream::iter(0..plan.actions.len())
            .map(|i| {
                // Indices, not `iter()`: a stream of borrowed items makes
                // this future not provably `Send` (rustc #102211).
                let a = &plan.actions[i];
                let fatal = &fatal;
                // Decided here, as the stream takes action `i` (in plan
                // order, when a slot is free), so the actions not started
                // are always the plan's tail: a continuation resumes at the
                // first of them. Past the deadline, only the slice's first
                // `min_progress` actions (over all the parts it applies)
                // still start: a slice whose reads used up the whole
                // budget must still move the tenant forward, or a large
                // tenant would continue forever.
                let skip = stop.load(Ordering::SeqCst)
                    || (self.launched.load(Ordering::SeqCst) >= min_progress
                        && tokio::time::Instant::now() >= deadline);
                if !skip {
                    self.launched.fetch_add(1, Ordering::SeqCst);
                }
                let stop = &stop;
                async move {
                    if skip {
                        return (i, None);
                    }
                    let r = match self.apply(a).await {
                        Ok(d) => d,
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            let mut f = fatal.lock().unwrap_or_else(|p| p.into_inner());
                            f.get_or_insert(e);
                            Done::Failed { transient: false }
                        }
                    };
                    progress.inc(1);
                    (i, Some(r))
                }
                .boxed()
            })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        let mut rep = ExecReport {
            fatal: fatal.into_inner().unwrap_or_else(|p| p.into_inner()),
            anchor_problem: self
                .anchor_problem
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            ..ExecReport::default()
        };
        let mut first_skipped: Option<usize> = None;
        for (i, r) in results {
            match r {
                None => {
                    rep.not_started += 1;
                    first_skipped = Some(first_skipped.map_or(i, |f| f.min(i)));
                }
                Some(Done::Ok(c)) => {
                    rep.done += 1;
                    rep.counts.add(&c);
                }
                Some(Done::Failed { transient }) => {
                    rep.done += 1;
                    rep.counts.failed += 1;
                    if transient {
                        rep.transient_failures += 1;
                    }
                }
            }
        }
        rep.first_not_started = first_skipped.map(|i| plan.actions[i].order_key());
        rep
    }

    /// Records a conflict: the address belongs to a host user that is not
    /// ours. Nothing is written to Graph; the record says why (object ids
    /// only), audited once per change of state.
    async fn conflict(
        &self,
        a: &Action,
        mut rec: GuestRecord,
        id: Guid,
        why: String,
        mut audit: Vec<AuditEntry>,
    ) -> Result<Done, SyncError> {
        let again = self
            .before
            .get(&a.source_user_id)
            .is_some_and(|r| r.state == GuestState::Conflict);
        rec.state = GuestState::Conflict;
        rec.host_user_id = None;
        rec.host_upn = None;
        rec.adopted = false;
        rec.last_error = Some(why.clone());
        rec.last_synced_at = Some(self.clock.now());
        self.put(&rec).await?;
        if !again {
            let mut e = self.audit(a, "invite", Some(id), Ok(()), Some(why));
            e.outcome = "conflict".into();
            audit.push(e);
            tracing::warn!(source_user_id = %a.source_user_id, host_user_id = %id, "invite address belongs to a host user that is not ours; not touched");
        }
        self.log(audit).await?;
        let counts = RunCounts {
            held_back: 1,
            ..RunCounts::default()
        };
        Ok(Done::Ok(counts))
    }

    /// Records a failed action: the record keeps what is true (a pending
    /// invite becomes `failed`) plus the error; one audit entry. A fatal
    /// error is returned so the run stops.
    async fn failed(
        &self,
        a: &Action,
        mut rec: GuestRecord,
        audit: Vec<AuditEntry>,
        e: GraphError,
    ) -> Result<Done, SyncError> {
        rec.last_error = Some(e.to_string());
        rec.last_synced_at = Some(self.clock.now());
        if carries_anchor(a) {
            // Not written: the next run tries again.
            rec.anchored = false;
        }
        self.put(&rec).await?;
        self.log(audit).await?;
        tracing::warn!(source_user_id = %a.source_user_id, action = a.kind.name(), error = %e, "guest action failed");
        if is_fatal(&e) {
            return Err(SyncError::graph("writing to the host", e));
        }
        Ok(Done::Failed {
            transient: e.is_transient() || matches!(e, GraphError::NotFound { .. }),
        })
    }

    /// Applies one action. `Err` only for what stops the whole run (store
    /// failures, fatal Graph errors).
    async fn apply(&self, a: &Action) -> Result<Done, SyncError> {
        let w = &self.writer;
        let now = self.clock.now();
        let mut rec = a.record.clone();
        rec.last_synced_at = Some(now);
        let mut counts = RunCounts::default();
        let mut audit = Vec::new();
        let old = self.before.get(&a.source_user_id);
        match &a.kind {
            ActionKind::Invite {
                address,
                display_name,
                user_type,
                changes,
                add_to_group,
            } => {
                rec.created_at = now;
                // Rule 11: an invitation proves nothing about who created
                // the user it answers with; look first.
                let found = match w.users_with_address(address, self.anchor.as_ref()).await {
                    Ok(f) => f,
                    Err(e) => {
                        audit.push(self.audit(a, "lookup", None, Err(&e), None));
                        return self.failed(a, rec, audit, e).await;
                    }
                };
                let me = a.source_user_id;
                let linked_elsewhere = |id: Guid| self.before.linked_elsewhere(id, me);
                let anchor_of = |u: &crate::graph::GraphUser| {
                    self.anchor
                        .as_ref()
                        .and_then(|at| at.read(&u.attrs))
                        .and_then(Anchor::parse)
                };
                let mine = Anchor::new(self.tenant, me);
                match ownership::classify(found, linked_elsewhere, anchor_of, mine) {
                    Existing::Nobody => {}
                    Existing::Conflict { id, why } => {
                        return self.conflict(a, rec, id, why, audit).await;
                    }
                    Existing::External { user: u, ours } => {
                        // Ours (it carries our anchor: a record lost) is
                        // managed; anybody else's is adopted, and never
                        // gets our anchor.
                        rec.adopted = !ours;
                        rec.anchored = ours;
                        let changes = &changes.without_anchor();
                        rec.host_user_id = Some(u.id);
                        rec.host_upn = u.user_principal_name().map(str::to_string);
                        if u.external_user_state() == Some("Accepted")
                            && rec.state == GuestState::Invited
                        {
                            rec.state = GuestState::Accepted;
                            rec.redeemed_at = Some(u.external_user_state_changed().unwrap_or(now));
                        }
                        // Link first: from here on the guest is ours to sync.
                        self.put(&rec).await?;
                        if let Err(e) = self.patch(a, u.id, changes, &mut audit).await {
                            return self.failed(a, rec, audit, e).await;
                        }
                        if *add_to_group {
                            if let Err(e) = self.group_add(a, u.id, &mut audit).await {
                                return self.failed(a, rec, audit, e).await;
                            }
                        }
                        if !ours {
                            counts.adopted += 1;
                        }
                        self.log(audit).await?;
                        return Ok(Done::Ok(counts));
                    }
                }
                let mut pending = rec.clone();
                pending.host_user_id = None;
                pending.host_upn = None;
                pending.state = GuestState::Invited;
                self.put(&pending).await?;
                let req = InviteRequest {
                    email: address.clone(),
                    display_name: Some(display_name.clone()),
                    redirect_url: self.redirect_url.clone(),
                    user_type: user_type.clone(),
                };
                let inv = match w.invite(&req).await {
                    Ok(inv) => inv,
                    Err(e) if ownership::is_member_conflict(&e) => {
                        let why = "Graph refused the invitation: the address belongs to an internal member of the host".to_string();
                        return self
                            .conflict(a, pending, Guid::from_uuid(uuid::Uuid::nil()), why, audit)
                            .await;
                    }
                    Err(e) => {
                        audit.push(self.audit(a, "invite", None, Err(&e), None));
                        pending.state = GuestState::Failed;
                        return self.failed(a, pending, audit, e).await;
                    }
                };
                let id = inv.user_id;
                audit.push(self.audit(a, "invite", Some(id), Ok(()), None));
                rec.host_user_id = Some(id).filter(|i| !i.as_uuid().is_nil());
                pending.host_user_id = rec.host_user_id;
                // Automatic redemption: the answer already says redeemed;
                // recorded now rather than by the redemption job.
                if inv.status.eq_ignore_ascii_case("Completed") {
                    rec.redeemed_at = Some(now);
                    if rec.state == GuestState::Invited {
                        rec.state = GuestState::Accepted;
                    }
                    pending.redeemed_at = rec.redeemed_at;
                    pending.state = rec.state;
                }
                // The id is stored before anything else happens to the guest.
                self.put(&pending).await?;
                self.log(std::mem::take(&mut audit)).await?;
                counts.created += 1;
                if let Err(e) = self.patch(a, id, changes, &mut audit).await {
                    return self.failed(a, pending, audit, e).await;
                }
                if *add_to_group {
                    if let Err(e) = self.group_add(a, id, &mut audit).await {
                        return self.failed(a, pending, audit, e).await;
                    }
                }
            }
            ActionKind::Adopt {
                host_id,
                taken_over,
                changes,
                add_to_group,
                ..
            } => {
                // Link first: from here on the guest is ours.
                self.put(&rec).await?;
                if let Err(e) = self.patch(a, *host_id, changes, &mut audit).await {
                    return self.failed(a, rec, audit, e).await;
                }
                if *add_to_group {
                    if let Err(e) = self.group_add(a, *host_id, &mut audit).await {
                        return self.failed(a, rec, audit, e).await;
                    }
                }
                if *taken_over {
                    counts.adopted += 1;
                } else if !changes.is_empty() {
                    counts.updated += 1;
                } else {
                    counts.unchanged += 1;
                }
            }
            ActionKind::Restore {
                host_id,
                changes,
                add_to_group,
            } => {
                let r = w.restore_user(*host_id).await;
                audit.push(self.audit(a, "restore", Some(*host_id), r.as_ref().map(|_| ()), None));
                if let Err(e) = r {
                    let mut keep = old.cloned().unwrap_or(rec);
                    keep.last_synced_at = Some(now);
                    return self.failed(a, keep, audit, e).await;
                }
                if let Err(e) = self.patch(a, *host_id, changes, &mut audit).await {
                    return self.failed(a, rec, audit, e).await;
                }
                if *add_to_group {
                    if let Err(e) = self.group_add(a, *host_id, &mut audit).await {
                        return self.failed(a, rec, audit, e).await;
                    }
                }
                counts.restored += 1;
            }
            ActionKind::Update {
                host_id,
                changes,
                returning,
            } => {
                if let Err(e) = self.patch(a, *host_id, changes, &mut audit).await {
                    let mut keep = old.cloned().unwrap_or(rec);
                    keep.last_synced_at = Some(now);
                    return self.failed(a, keep, audit, e).await;
                }
                if *returning {
                    counts.restored += 1;
                } else {
                    match changes.account_enabled {
                        Some(false) => counts.disabled += 1,
                        Some(true) => counts.enabled += 1,
                        None => {}
                    }
                    if !changes.set.is_empty() {
                        counts.updated += 1;
                    }
                }
            }
            ActionKind::AddToGroup { host_id } => {
                if let Err(e) = self.group_add(a, *host_id, &mut audit).await {
                    let keep = old.cloned().unwrap_or(rec);
                    return self.failed(a, keep, audit, e).await;
                }
                counts.updated += 1;
            }
            ActionKind::Deprovision { host_id, mode } => {
                let (op, r) = match mode {
                    DeprovisionMode::Delete => ("delete", w.delete_user(*host_id).await),
                    DeprovisionMode::Disable => {
                        let mut p = Map::new();
                        p.insert("accountEnabled".into(), Value::Bool(false));
                        ("disable", w.patch_user(*host_id, &p).await)
                    }
                };
                audit.push(self.audit(a, op, Some(*host_id), r.as_ref().map(|_| ()), None));
                if let Err(e) = r {
                    let mut keep = old.cloned().unwrap_or(rec);
                    keep.last_synced_at = Some(now);
                    return self.failed(a, keep, audit, e).await;
                }
                counts.deprovisioned += 1;
            }
            ActionKind::Release { .. } | ActionKind::RecordOnly { .. } => {}
        }
        if newly_redeemed(old, &rec, &a.kind) {
            counts.redeemed += 1;
            audit.push(self.audit(
                a,
                "redeemed",
                rec.host_user_id,
                Ok(()),
                Some(if matches!(a.kind, ActionKind::Invite { .. }) {
                    "redeemed automatically: the invitation answered Completed".to_string()
                } else {
                    "the guest shows externalUserState Accepted".to_string()
                }),
            ));
        }
        if carries_anchor(a) && self.anchor_refused() {
            // Written without it: the next run tries again.
            rec.anchored = false;
        }
        self.put(&rec).await?;
        self.log(audit).await?;
        Ok(Done::Ok(counts))
    }

    async fn patch(
        &self,
        a: &Action,
        id: Guid,
        changes: &Changes,
        audit: &mut Vec<AuditEntry>,
    ) -> Result<(), GraphError> {
        let refused = self.anchor_refused();
        let stripped;
        let changes = if refused && changes.anchor.is_some() {
            stripped = changes.without_anchor();
            &stripped
        } else {
            changes
        };
        if changes.is_empty() {
            return Ok(());
        }
        let r = self.writer.patch_user(id, &changes.to_patch()).await;
        audit.push(self.audit(
            a,
            audit_op_for_patch(changes),
            Some(id),
            r.as_ref().map(|_| ()),
            Some(changes.audit_detail()),
        ));
        match r {
            // Graph refused the anchor attribute (not created, not
            // writable here): the rest of the PATCH must still land, and
            // the run says what is wrong instead of failing every guest.
            Err(GraphError::Permanent {
                ref ctx,
                ref detail,
            }) if ctx.status == Some(400) && changes.anchor.is_some() => {
                let attr = changes
                    .anchor
                    .as_ref()
                    .map(|w| w.attribute.to_string())
                    .unwrap_or_default();
                tracing::warn!(host_user_id = %id, attribute = %attr, "Graph refused a PATCH carrying the ownership anchor; writing the rest without it");
                self.anchor_problem
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| format!(
                        "the ownership anchor attribute {attr} could not be written ({detail}); guests are still synced, but a lost store cannot be re-linked: create the attribute or set GUESTSYNC_ANCHOR_ATTRIBUTE"
                    ));
                Box::pin(self.patch(a, id, changes, audit)).await
            }
            r => r,
        }
    }

    fn anchor_refused(&self) -> bool {
        self.anchor_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    async fn group_add(
        &self,
        a: &Action,
        id: Guid,
        audit: &mut Vec<AuditEntry>,
    ) -> Result<(), GraphError> {
        let Some(group) = self.host_group else {
            return Ok(());
        };
        let r = self.writer.add_group_member(group, id).await;
        audit.push(self.audit(a, "group-add", Some(id), r.as_ref().map(|_| ()), None));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(source: u128, host: Option<u128>) -> GuestRecord {
        let g = |i: u128| Guid::from_uuid(uuid::Uuid::from_u128(i));
        let mut r: GuestRecord = serde_json::from_value(serde_json::json!({
            "sourceTenantId": g(1), "sourceUserId": g(source), "sourceUpn": "u@src.example",
            "state": "accepted", "createdAt": "2026-11-01T00:00:00Z"
        }))
        .unwrap();
        r.host_user_id = host.map(g);
        r
    }

    /// The shared records answer by source user, and say whether a host
    /// user is linked by another source user's record (one, or several
    /// including this one's).
    #[test]
    fn before_finds_records_and_other_links() {
        let g = |i: u128| Guid::from_uuid(uuid::Uuid::from_u128(i));
        let b = Before::new(Arc::new(vec![
            rec(10, Some(100)),
            rec(11, Some(101)),
            rec(12, Some(101)),
            rec(13, None),
        ]));
        assert_eq!(b.get(&g(10)).unwrap().host_user_id, Some(g(100)));
        assert!(b.get(&g(99)).is_none());
        assert!(!b.linked_elsewhere(g(100), g(10)), "its own link");
        assert!(b.linked_elsewhere(g(100), g(13)), "another's link");
        assert!(b.linked_elsewhere(g(101), g(11)), "shared with 12");
        assert!(!b.linked_elsewhere(g(102), g(10)), "nobody links it");
    }
}
