//! The simulator's in-memory directory: tenants, app registrations, users,
//! groups, deleted items, lookup indexes and cached transitive closures, plus
//! the simulated clock. Everything here is synchronous and runs under the one
//! `World` mutex; nothing awaits while it is held.
//!
//! # Layout
//! - this file: [`SimError`], the simulated clock and Graph's time format.
//! - [`objects`]: users, photos, groups, app registrations, tokens, and the
//!   user types of the Rust API ([`NewUser`], [`SimUser`]).
//! - [`tenant`]: one tenant's directory with its lookup indexes and cached
//!   transitive closures.
//! - [`identity`]: managed identities, federated credentials, admin
//!   consent and the assertions a managed identity is issued.
//! - [`world`]: the whole simulated world and the operations on it.
//! - [`changes`]: the per-tenant change log delta queries read.
use chrono::{DateTime, SecondsFormat, Utc};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::domain::Guid;

mod changes;
mod identity;
mod objects;
mod policies;
mod tenant;
mod world;

pub(crate) use changes::Change;
pub(crate) use identity::{issuer, AssertionInfo, EXCHANGE_AUDIENCE};
pub use identity::{SimIdentity, HOST_APP_ROLES, SOURCE_APP_ROLES};
pub(crate) use objects::{App, TokenInfo, User};
pub use objects::{NewUser, SimUser};
pub use policies::{SimCrossTenant, SimPolicies};
pub(crate) use tenant::Tenant;
pub(crate) use world::World;

/// Why a control call on the simulator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("tenant {0} is not known to the simulator")]
    UnknownTenant(Guid),
    #[error("app {client_id} is not registered in tenant {tenant}")]
    UnknownApp { tenant: Guid, client_id: Guid },
    #[error("user {user} does not exist in tenant {tenant}")]
    UnknownUser { tenant: Guid, user: Guid },
    #[error("group {group} does not exist in tenant {tenant}")]
    UnknownGroup { tenant: Guid, group: Guid },
    #[error("object {member} (neither a user nor a group) does not exist in tenant {tenant}")]
    UnknownMember { tenant: Guid, member: Guid },
    #[error("another user of tenant {tenant} already has userPrincipalName {upn:?}")]
    DuplicateUpn { tenant: Guid, upn: String },
}

impl SimError {
    /// The message without personal data (a UPN is replaced), for logs.
    pub fn log_safe(&self) -> String {
        match self {
            SimError::DuplicateUpn { tenant, .. } => {
                format!("another user of tenant {tenant} already has that userPrincipalName")
            }
            other => other.to_string(),
        }
    }
}

/// The simulated clock: scaled wall time since start plus manual advances.
///
/// Time is read from tokio's clock ([`tokio::time::Instant`]): the same as
/// the system's monotonic clock, except in a runtime whose clock is paused
/// (`bench scale`'s and `bench graph`'s virtual clock), where the simulator
/// then follows the paused clock as the Graph client's pacer does. A
/// simulator started in a paused runtime must only be asked the time from
/// inside that runtime.
pub(crate) struct Clock {
    start: tokio::time::Instant,
    /// The wall-clock time of simulated instant 0, in Unix milliseconds.
    start_wall_ms: AtomicI64,
    scale: f64,
    /// Manual advance in simulated seconds, as f64 bits.
    offset: AtomicU64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        Clock {
            start: tokio::time::Instant::now(),
            start_wall_ms: AtomicI64::new(Utc::now().timestamp_millis()),
            scale,
            offset: AtomicU64::new(0f64.to_bits()),
        }
    }
    /// Simulated seconds since start.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * self.scale
            + f64::from_bits(self.offset.load(Ordering::Relaxed))
    }
    pub fn advance(&self, secs: f64) {
        if !secs.is_finite() || secs <= 0.0 {
            return;
        }
        let _ = self
            .offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + secs).to_bits())
            });
    }
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// The simulated wall-clock time at simulated instant `now`.
    pub fn wall(&self, now: f64) -> DateTime<Utc> {
        let ms = (now * 1000.0).clamp(0.0, 1e15) as i64;
        self.start_wall() + chrono::Duration::milliseconds(ms)
    }
    /// The wall-clock time of simulated instant 0.
    pub fn start_wall(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.start_wall_ms.load(Ordering::Relaxed))
            .unwrap_or_default()
    }
    /// Moves the whole simulated time line so that instant 0 is `t` (the
    /// demo starts its history in the past).
    pub fn set_start_wall(&self, t: DateTime<Utc>) {
        self.start_wall_ms
            .store(t.timestamp_millis(), Ordering::Relaxed);
    }
}

/// RFC 3339 with seconds, `Z`, like Graph.
pub(crate) fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
