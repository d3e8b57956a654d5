//! The conformance suite on SQLite (a fresh file in a temp dir per test),
//! and two store instances sharing one file as two processes would.
use std::sync::Arc;

use chrono::Duration;
use guest_sync::domain::{Guid, Job};
use guest_sync::store::sqlite::SqliteStore;
use guest_sync::store::{GuestStore, LeaseStore, Store};

use super::conformance::guest;

async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .unwrap();
    (Arc::new(s), dir)
}

conformance_suite!(sqlite_store);

/// Two store instances on one file (two connections, as two processes
/// would have) see each other's writes, and one lease still has one holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_file_share_records_and_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let one = Arc::new(SqliteStore::open(&path).await.unwrap());
    let two = Arc::new(SqliteStore::open(&path).await.unwrap());
    let t = Guid::new_v4();

    let gs: Vec<_> = (0..500).map(|n| guest(t, n)).collect();
    let (a, b) = tokio::join!(one.put_guests(&gs[..250]), two.put_guests(&gs[250..]));
    a.unwrap();
    b.unwrap();
    assert_eq!(one.list_guests(t).await.unwrap().len(), 500);
    assert_eq!(two.list_guests(t).await.unwrap().len(), 500);

    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s: Arc<SqliteStore> = if i % 2 == 0 { one.clone() } else { two.clone() };
            tokio::spawn(async move {
                s.try_acquire(t, Job::Reconcile, &format!("w{i}"), Duration::seconds(30))
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += task.await.unwrap().unwrap().is_some() as usize;
    }
    assert_eq!(winners, 1);
}
