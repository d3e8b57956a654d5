//! The structured log events guest-sync writes (one JSON line each on stdout
//! in Azure, so Application Insights keeps them as traces). The monitoring
//! workbook and alert rules in `infra/` query exactly these names; a test
//! keeps the two in step. Every event carries `event` = one of the names
//! below; fields are listed beside each. Object ids only, never names or
//! e-mail addresses.

/// One line per function invocation: `function`, `invocation_id`,
/// `duration_ms`, `outcome` (`ok`, `transient_error`, `permanent_error`,
/// `bad_request`).
pub const INVOCATION: &str = "invocation";
/// One line per finished tenant job: `tenant_id`, `job`, `run_id`,
/// `outcome`, `duration_ms`, and every [`RUN_COUNT_FIELDS`] count.
pub const RUN_SUMMARY: &str = "run_summary";
/// The deprovision guard held removals back: `tenant_id`, `run_id`,
/// `wanted`, `limit`.
pub const GUARD_TRIPPED: &str = "guard_tripped";
/// A client secret is close to or past expiry: `tenant_id` (or `host`),
/// `secret_name`, `days_left`, `level` (`warning`, `expired`).
pub const SECRET_EXPIRY: &str = "secret_expiry";
/// A work item was parked in the poison queue: `tenant_id`, `job`,
/// `run_id`, `dequeue_count`.
pub const WORK_ITEM_PARKED: &str = "work_item_parked";
/// Graph answered 429: `tenant_id`, `scope`, `retry_after_ms`.
pub const GRAPH_THROTTLED: &str = "graph_throttled";

/// All event names (for mirror checks).
pub const ALL_EVENTS: &[&str] = &[
    INVOCATION,
    RUN_SUMMARY,
    GUARD_TRIPPED,
    SECRET_EXPIRY,
    WORK_ITEM_PARKED,
    GRAPH_THROTTLED,
];

/// The count fields of a `run_summary` event (snake_case of
/// [`crate::domain::RunCounts`]).
pub const RUN_COUNT_FIELDS: &[&str] = &[
    "created",
    "adopted",
    "updated",
    "deprovisioned",
    "restored",
    "disabled",
    "enabled",
    "photos_copied",
    "photos_removed",
    "redeemed",
    "unchanged",
    "failed",
    "throttled",
    "held_back",
    "sponsor_writes",
    "manager_writes",
];
