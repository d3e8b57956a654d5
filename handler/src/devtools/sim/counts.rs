//! Request counters: what tests and the benchmark read to assert
//! count-based outcomes (429 share, requests per write, exactly-once writes).
use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::Guid;

/// A snapshot of what the simulator answered since start or the last reset.
///
/// Every Graph call counts once, and so does every `$batch` sub-request
/// (kind `batch` counts the envelopes themselves); token requests count as
/// kind `token`. Control calls (`/_sim`) are not counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimCounts {
    /// Graph calls + `$batch` sub-requests + token requests (+ envelopes).
    pub total: u64,
    /// HTTP requests received (a `$batch` envelope counts once).
    pub http_requests: u64,
    /// By kind: `read`, `write`, `invite`, `token`, `batch`.
    pub by_kind: BTreeMap<String, u64>,
    /// By HTTP status (200, 201, 204, 400, 401, 403, 404, 424, 429, 500, 503, ...).
    pub by_status: BTreeMap<u16, u64>,
    /// By kind, then status.
    pub by_kind_status: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Connections dropped without an answer (injected fault).
    pub dropped: u64,
    /// Writes applied (state changed) per target object id: the user for
    /// invitations, PATCH, DELETE, restore, photo writes and group adds (the
    /// added member), so tests can assert exactly-once.
    pub writes_applied: BTreeMap<Guid, u64>,
    /// Writes applied by operation (`invite`, `patch`, `delete`, `restore`,
    /// `photo_put`, `photo_delete`, `member_add`, `member_remove`), then object id.
    pub writes_by_op: BTreeMap<String, BTreeMap<Guid, u64>>,
    /// Pages of a group's (transitive) members answered: a whole read of a
    /// scope group lists them, an incremental or resumed reconcile does not.
    pub member_pages: u64,
}

impl SimCounts {
    /// How many answers had this status.
    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }
    /// How many answers had a status in `[class*100, class*100+99]` (e.g. 5 for 5xx).
    pub fn status_class(&self, class: u16) -> u64 {
        self.by_status
            .iter()
            .filter(|(s, _)| **s / 100 == class)
            .map(|(_, n)| *n)
            .sum()
    }
    /// How many requests of this kind.
    pub fn kind(&self, kind: &str) -> u64 {
        self.by_kind.get(kind).copied().unwrap_or(0)
    }
    /// Writes applied to one object.
    pub fn writes_for(&self, id: Guid) -> u64 {
        self.writes_applied.get(&id).copied().unwrap_or(0)
    }
    /// Writes of one operation applied to one object.
    pub fn op_for(&self, op: &str, id: Guid) -> u64 {
        self.writes_by_op
            .get(op)
            .and_then(|m| m.get(&id))
            .copied()
            .unwrap_or(0)
    }
    /// Total writes applied.
    pub fn writes_total(&self) -> u64 {
        self.writes_applied.values().sum()
    }

    /// Writes and invitations answered 2xx: cheap to read often (not per
    /// object), for timelines.
    pub fn writes_ok(&self) -> u64 {
        ["write", "invite"]
            .iter()
            .filter_map(|k| self.by_kind_status.get(*k))
            .flat_map(|m| m.range(200..300).map(|(_, n)| n))
            .sum()
    }

    pub(crate) fn record(&mut self, kind: &str, status: u16) {
        self.total += 1;
        *self.by_kind.entry(kind.to_string()).or_default() += 1;
        *self.by_status.entry(status).or_default() += 1;
        *self
            .by_kind_status
            .entry(kind.to_string())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    pub(crate) fn applied(&mut self, op: &str, id: Guid) {
        *self.writes_applied.entry(id).or_default() += 1;
        *self
            .writes_by_op
            .entry(op.to_string())
            .or_default()
            .entry(id)
            .or_default() += 1;
    }
}
