//! The store under concurrency on Azure Table Storage: the scenarios of
//! `reliability/concurrency.rs` on three Table stores (three HTTP clients,
//! as three processes) onto one private Azurite.
use std::sync::Arc;

use guest_sync::store::Store;

use crate::reliability::concurrency::{
    concurrent_prunes_report_each_removal_once, lease_expiry_is_what_the_holder_was_told, run_all,
};
use crate::support::azurite::{self, Azurite};

/// `n` stores, each with its own client, onto one fresh Azurite.
async fn table_handles(n: usize) -> (Vec<Arc<dyn Store>>, Azurite) {
    let az = azurite::start();
    let spec = guest_sync::settings::StoreSpec::parse(&az.connection_string).unwrap();
    let mut hs = Vec::new();
    for _ in 0..n {
        hs.push(guest_sync::store::open(&spec).await.unwrap());
    }
    (hs, az)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_store_under_concurrency() {
    let (hs, _az) = table_handles(3).await;
    run_all("tables", "Azure Table Storage (Azurite)", &hs, 400).await;
}

/// Regression: concurrent prunes each reported every entry in their list,
/// including those another prune had deleted first (the sum over-counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_concurrent_prunes_report_each_removal_once() {
    let (hs, _az) = table_handles(3).await;
    concurrent_prunes_report_each_removal_once(&hs).await;
}

/// Regression: the holder was told an expiry in nanoseconds while the
/// entity keeps microseconds, so the store considered the lease expired
/// (up to a microsecond) before its holder did.
#[tokio::test]
async fn table_lease_expiry_is_what_the_holder_was_told() {
    let (hs, _az) = table_handles(2).await;
    lease_expiry_is_what_the_holder_was_told(&hs).await;
}
