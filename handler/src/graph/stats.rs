//! Counters per client, read by the engine (run counts) and the benchmark.
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of a client's counters since it was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct GraphStats {
    /// HTTP requests sent to Graph (each attempt; `$batch` counts once).
    pub requests: u64,
    /// Write operations sent (each attempt; `$batch` items counted).
    pub writes: u64,
    /// Invitations sent (each attempt).
    pub invitations: u64,
    /// 429 answers seen (whole requests and `$batch` items).
    pub throttled: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// 5xx answers, timeouts and dropped connections.
    pub transient_failures: u64,
    /// Token requests sent to the authority.
    pub token_requests: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub writes: AtomicU64,
    pub invitations: AtomicU64,
    pub throttled: AtomicU64,
    pub retries: AtomicU64,
    pub transient_failures: AtomicU64,
    pub token_requests: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> GraphStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GraphStats {
            requests: g(&self.requests),
            writes: g(&self.writes),
            invitations: g(&self.invitations),
            throttled: g(&self.throttled),
            retries: g(&self.retries),
            transient_failures: g(&self.transient_failures),
            token_requests: g(&self.token_requests),
        }
    }
}
