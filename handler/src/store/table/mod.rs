//! The Azure Table Storage backend (`GUESTSYNC_STORE` = a table endpoint URL
//! or a storage connection string), on the REST client in [`client`].
//!
//! Tables and keys (docs/store.md has the full picture):
//!
//! | table | PartitionKey | RowKey | columns besides `Doc` |
//! |---|---|---|---|
//! | `GuestSyncTenants` | `tenant` | tenant id | DisplayName, Enabled |
//! | `GuestSyncGuests` | source tenant id `_` first two hex digits of the user id | source user id | State, HostUserId |
//! | `GuestSyncRuns` | source tenant id | run id `_` job | Job, Outcome, StartedAt, FinishedAt |
//! | `GuestSyncAudit` | source tenant id | inverted time `_` uuid (newest first) | At, Operation, Outcome |
//! | `GuestSyncLeases` | `tenant|job` | `lease` | Holder, ExpiresAt |
//! | `GuestSyncSnapshots` | source tenant id | run id `_` chunk index (8 digits) | no `Doc`: D00, D01, ... (Edm.Binary), Parts, Length |
//!
//! Every record is kept whole as JSON in the `Doc` string property (exact
//! round trip, one place to evolve the shape); the other columns exist for
//! `$filter` and for an operator browsing the tables. Versions for
//! optimistic concurrency and lease tokens are the service's ETags. A
//! snapshot chunk is no record but opaque bytes, split over binary
//! properties of at most 64 KiB (see [`snapshots`]).
//!
//! # Layout
//! - this file: the table names, [`TableStore`] and its batch helpers.
//! - [`client`]: the REST client; [`auth`]: Shared Key and bearer tokens.
//! - [`entities`]: records <-> entities (key schemes, columns, `Doc`) and
//!   guest-page continuation tokens.
//! - [`registry`], [`guests`], [`history`] (runs, audit, retention),
//!   [`leases`], [`snapshots`]: one store capability each.
pub mod auth;
pub mod client;
mod entities;
mod guests;
mod history;
mod leases;
mod registry;
mod snapshots;

use futures::{StreamExt, TryStreamExt};

use client::BatchOp;
pub use client::TableClient;
/// The entity decoders, public for the reliability suite's fuzzing.
pub use entities::{
    decode_audit, decode_guest, decode_run, decode_tenant, decode_token, lease_expiry,
};

use super::{StoreError, StoreResult};

/// The registry table.
pub const TENANTS: &str = "GuestSyncTenants";
/// One entity per (source tenant, source user).
pub const GUESTS: &str = "GuestSyncGuests";
/// Run history.
pub const RUNS: &str = "GuestSyncRuns";
/// The audit trail.
pub const AUDIT: &str = "GuestSyncAudit";
/// Per-tenant, per-job leases.
pub const LEASES: &str = "GuestSyncLeases";
/// Chunks of running reconciles' snapshots.
pub const SNAPSHOTS: &str = "GuestSyncSnapshots";
/// Every table the store uses. The infra template creates these; a mirror
/// test compares the two lists.
pub const TABLE_NAMES: &[&str] = &[TENANTS, GUESTS, RUNS, AUDIT, LEASES, SNAPSHOTS];

/// PartitionKey of the registry (all tenants in one partition).
const TENANT_PK: &str = "tenant";
/// RowKey of a lease entity.
const LEASE_RK: &str = "lease";
/// How many batches of one `put_guests` call are in flight at once.
const BATCH_PARALLELISM: usize = 8;

/// The Table Storage store.
#[derive(Debug, Clone)]
pub struct TableStore {
    client: TableClient,
}

impl TableStore {
    /// Wraps a client, creating the tables that are missing.
    pub async fn open(client: TableClient) -> StoreResult<Self> {
        for t in TABLE_NAMES {
            client.create_table_if_missing(t).await?;
        }
        Ok(TableStore { client })
    }

    /// The underlying REST client.
    pub fn client(&self) -> &TableClient {
        &self.client
    }

    async fn run_batches(&self, table: &'static str, ops: Vec<BatchOp>) -> StoreResult<()> {
        let batches = client::split_batches(ops);
        futures::stream::iter(batches)
            .map(|b| async move { self.client.batch(table, &b).await })
            .buffer_unordered(BATCH_PARALLELISM)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }

    /// Deletes entities (by keys), tolerating ones already gone. Returns how
    /// many this call deleted (not those someone else deleted first, e.g. a
    /// concurrent prune: the prunes' reports add up to what was removed).
    async fn delete_all(
        &self,
        table: &'static str,
        keys: Vec<(String, String)>,
    ) -> StoreResult<u64> {
        let mut n = 0u64;
        let ops: Vec<_> = keys
            .into_iter()
            .map(|(pk, rk)| BatchOp::Delete { pk, rk })
            .collect();
        for b in client::split_batches(ops) {
            match self.client.batch(table, &b).await {
                Ok(()) => n += b.len() as u64,
                // Someone deleted one meanwhile: fall back to one by one.
                Err(StoreError::NotFound(_)) => {
                    for op in b {
                        if let BatchOp::Delete { pk, rk } = op {
                            match self.client.delete(table, &pk, &rk, None).await {
                                Ok(()) => n += 1,
                                Err(StoreError::NotFound(_)) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exported table names are valid Table service names and distinct.
    #[test]
    fn table_names_are_valid() {
        let mut seen = std::collections::HashSet::new();
        for t in TABLE_NAMES {
            assert!((3..=63).contains(&t.len()));
            assert!(t.chars().all(|c| c.is_ascii_alphanumeric()));
            assert!(t.chars().next().unwrap().is_ascii_alphabetic());
            assert!(seen.insert(*t));
        }
    }
}
