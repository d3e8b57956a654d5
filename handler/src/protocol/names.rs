//! The eight functions of the app and their bindings, as code.
//!
//! `functions/<name>/function.json` must say the same thing (trigger type,
//! binding names, queue names, schedules, HTTP methods); the integration test
//! `protocol::definitions` is the mirror check that fails when they drift.
use std::fmt;
use std::str::FromStr;

/// The work queue: tenant jobs and their continuations.
pub const WORK_QUEUE: &str = "guestsync-work";
/// Where the host parks a work item after `maxDequeueCount` failed tries.
pub const POISON_QUEUE: &str = "guestsync-work-poison";
/// The app setting naming the storage account of both queues.
pub const STORAGE_CONNECTION: &str = "AzureWebJobsStorage";
/// Output binding of the functions that enqueue work items (`Outputs.workItems`).
pub const QUEUE_OUTPUT_BINDING: &str = "workItems";
/// Where a queue message that is no work item is kept, with the reason,
/// instead of vanishing (nothing reads it: inspect it with Storage
/// Explorer; the report counts the quarantined messages).
pub const QUARANTINE_QUEUE: &str = "guestsync-quarantine";
/// Output binding of the queue functions onto [`QUARANTINE_QUEUE`]
/// (`Outputs.quarantine`).
pub const QUARANTINE_OUTPUT_BINDING: &str = "quarantine";
/// Output binding of the HTTP functions (`Outputs.res`).
pub const HTTP_OUTPUT_BINDING: &str = "res";

/// The function names, i.e. the folders under `functions/` and the routes
/// the handler serves (`POST /{name}`). Same order as [`FunctionName::ALL`].
pub const FUNCTION_NAMES: &[&str] = &[
    "sync-timer",
    "photo-timer",
    "redemption-timer",
    "delta-timer",
    "tenant-worker",
    "poison-watch",
    "report",
    "provision",
];

/// One function of the app. Typed so that wiring a behaviour to a function
/// that does not exist is a compile error, not a start-up surprise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FunctionName {
    /// Timer: one `reconcile` work item per enabled source tenant.
    SyncTimer,
    /// Timer: one `photos` work item per tenant.
    PhotoTimer,
    /// Timer: one `redemption` work item per tenant (and the secret-expiry check).
    RedemptionTimer,
    /// Timer: one `reconcile` work item per enabled source tenant, more
    /// often than [`FunctionName::SyncTimer`]; the reconcile job itself
    /// decides whether to read changes (Graph delta queries) or whole
    /// tenants (`GUESTSYNC_FULL_RECONCILE_HOURS`).
    DeltaTimer,
    /// Queue `guestsync-work`: runs one tenant job within its time budget.
    TenantWorker,
    /// Queue `guestsync-work-poison`: records work items that kept failing.
    PoisonWatch,
    /// HTTP GET: the dashboard or the statistics.
    Report,
    /// HTTP POST: provision (or preview) one source user now.
    Provision,
}

/// The kind of trigger a function has, which decides how its envelope is
/// decoded and how errors are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    /// `timerTrigger`, binding `timer`.
    Timer,
    /// `queueTrigger`, binding `workItem`.
    Queue,
    /// `httpTrigger`, binding `req`, answered through `res`.
    Http,
}

impl TriggerKind {
    /// The trigger's binding name, i.e. its key in the envelope's `Data`.
    pub const fn binding_name(self) -> &'static str {
        match self {
            TriggerKind::Timer => "timer",
            TriggerKind::Queue => "workItem",
            TriggerKind::Http => "req",
        }
    }

    /// The binding `type` in function.json.
    pub const fn binding_type(self) -> &'static str {
        match self {
            TriggerKind::Timer => "timerTrigger",
            TriggerKind::Queue => "queueTrigger",
            TriggerKind::Http => "httpTrigger",
        }
    }
}

impl FunctionName {
    /// Every function, in the order of [`FUNCTION_NAMES`].
    pub const ALL: [FunctionName; 8] = [
        FunctionName::SyncTimer,
        FunctionName::PhotoTimer,
        FunctionName::RedemptionTimer,
        FunctionName::DeltaTimer,
        FunctionName::TenantWorker,
        FunctionName::PoisonWatch,
        FunctionName::Report,
        FunctionName::Provision,
    ];

    /// The folder name under `functions/` and the route.
    pub const fn as_str(self) -> &'static str {
        match self {
            FunctionName::SyncTimer => "sync-timer",
            FunctionName::PhotoTimer => "photo-timer",
            FunctionName::RedemptionTimer => "redemption-timer",
            FunctionName::DeltaTimer => "delta-timer",
            FunctionName::TenantWorker => "tenant-worker",
            FunctionName::PoisonWatch => "poison-watch",
            FunctionName::Report => "report",
            FunctionName::Provision => "provision",
        }
    }

    /// How the function is triggered.
    pub const fn trigger(self) -> TriggerKind {
        match self {
            FunctionName::SyncTimer
            | FunctionName::PhotoTimer
            | FunctionName::RedemptionTimer
            | FunctionName::DeltaTimer => TriggerKind::Timer,
            FunctionName::TenantWorker | FunctionName::PoisonWatch => TriggerKind::Queue,
            FunctionName::Report | FunctionName::Provision => TriggerKind::Http,
        }
    }

    /// True when the function may enqueue work items (`Outputs.workItems`
    /// on [`WORK_QUEUE`]): the four timers and the worker (continuations).
    pub const fn has_queue_output(self) -> bool {
        matches!(
            self,
            FunctionName::SyncTimer
                | FunctionName::PhotoTimer
                | FunctionName::RedemptionTimer
                | FunctionName::DeltaTimer
                | FunctionName::TenantWorker
        )
    }

    /// True when the function may quarantine a message it cannot read
    /// (`Outputs.quarantine` on [`QUARANTINE_QUEUE`]): the queue functions.
    pub const fn has_quarantine_output(self) -> bool {
        matches!(self, FunctionName::TenantWorker | FunctionName::PoisonWatch)
    }

    /// The queue a queue-triggered function reads.
    pub const fn trigger_queue(self) -> Option<&'static str> {
        match self {
            FunctionName::TenantWorker => Some(WORK_QUEUE),
            FunctionName::PoisonWatch => Some(POISON_QUEUE),
            _ => None,
        }
    }

    /// The app setting holding a timer's NCRONTAB schedule (function.json
    /// says `%SETTING%`).
    pub const fn schedule_setting(self) -> Option<&'static str> {
        match self {
            FunctionName::SyncTimer => Some("GUESTSYNC_SYNC_SCHEDULE"),
            FunctionName::PhotoTimer => Some("GUESTSYNC_PHOTO_SCHEDULE"),
            FunctionName::RedemptionTimer => Some("GUESTSYNC_REDEMPTION_SCHEDULE"),
            FunctionName::DeltaTimer => Some("GUESTSYNC_DELTA_SCHEDULE"),
            _ => None,
        }
    }

    /// The one HTTP method an HTTP function accepts (lower case, as in
    /// function.json).
    pub const fn http_method(self) -> Option<&'static str> {
        match self {
            FunctionName::Report => Some("get"),
            FunctionName::Provision => Some("post"),
            _ => None,
        }
    }
}

impl fmt::Display for FunctionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`FUNCTION_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown function {name:?}: this app has {}", FUNCTION_NAMES.join(", "))]
pub struct UnknownFunction {
    /// The name as received (truncated to 128 characters).
    pub name: String,
}

impl FromStr for FunctionName {
    type Err = UnknownFunction;

    /// Exact names; ASCII case is ignored because the host's routing is
    /// case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FunctionName::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownFunction {
                name: s.chars().take(128).collect(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string list and the enum list name the same functions in the same order.
    #[test]
    fn function_names_and_enum_agree() {
        let from_enum: Vec<&str> = FunctionName::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(from_enum, FUNCTION_NAMES);
        for name in FUNCTION_NAMES {
            assert_eq!(name.parse::<FunctionName>().unwrap().as_str(), *name);
        }
    }

    /// An unknown name is refused with a message listing the real ones.
    #[test]
    fn unknown_name_lists_the_known_ones() {
        let e = "sync".parse::<FunctionName>().unwrap_err();
        assert!(e.to_string().contains("tenant-worker"), "{e}");
    }
}
