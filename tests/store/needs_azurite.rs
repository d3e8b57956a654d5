//! The conformance suite on Azure Table Storage (a private Azurite per
//! test), plus REST-client checks against the real service emulator.
use std::sync::Arc;

use guest_sync::store::table::client::{entity, BatchOp, Query};
use guest_sync::store::table::{TableClient, TableStore, TABLE_NAMES};
use guest_sync::store::{Store, StoreError};
use serde_json::Value;

use crate::support::azurite::{self, Azurite};

async fn table_store() -> (Arc<dyn Store>, Azurite) {
    let az = azurite::start();
    let spec = guest_sync::settings::StoreSpec::parse(&az.connection_string).unwrap();
    let s = guest_sync::store::open(&spec).await.unwrap();
    (s, az)
}

conformance_suite!(table_store);

/// Opening the store creates every table of TABLE_NAMES, and opening it a
/// second time is fine.
#[tokio::test]
async fn open_creates_the_tables_idempotently() {
    let az = azurite::start();
    let c = TableClient::from_connection_string(&az.connection_string).unwrap();
    TableStore::open(c.clone()).await.unwrap();
    TableStore::open(c.clone()).await.unwrap();
    let tables = c
        .query_all("Tables", &Query::default())
        .await
        .unwrap_or_default();
    // Azurite lists tables under "Tables"; the names must all be there.
    let names: Vec<_> = tables
        .iter()
        .filter_map(|t| t.get("TableName").and_then(Value::as_str))
        .collect();
    for t in TABLE_NAMES {
        assert!(names.contains(t), "{t} missing from {names:?}");
    }
}

/// ETag concurrency, merge and a failing batch through the raw client:
/// a stale If-Match conflicts, merge keeps other properties, and a batch
/// with one bad operation writes nothing.
#[tokio::test]
async fn raw_client_honours_etags_merges_and_atomic_batches() {
    let az = azurite::start();
    let c = TableClient::from_connection_string(&az.connection_string).unwrap();
    c.create_table_if_missing("RawCheck").await.unwrap();
    let mut e = entity("p", "r1");
    e.insert("A".into(), Value::String("one".into()));
    let tag1 = c.insert("RawCheck", &e).await.unwrap();
    assert!(matches!(
        c.insert("RawCheck", &e).await,
        Err(StoreError::Conflict(_))
    ));
    e.insert("A".into(), Value::String("two".into()));
    let tag2 = c.put("RawCheck", &e, Some(&tag1)).await.unwrap();
    assert!(matches!(
        c.put("RawCheck", &e, Some(&tag1)).await,
        Err(StoreError::Conflict(_))
    ));
    let mut m = entity("p", "r1");
    m.insert("B".into(), Value::Bool(true));
    c.merge("RawCheck", &m, Some(&tag2)).await.unwrap();
    let (got, _) = c.get("RawCheck", "p", "r1").await.unwrap().unwrap();
    assert_eq!(got.get("A"), Some(&Value::String("two".into())));
    assert_eq!(got.get("B"), Some(&Value::Bool(true)));

    // Deleting a missing entity inside a batch fails the whole batch.
    let mut n = entity("p", "r2");
    n.insert("A".into(), Value::String("new".into()));
    let r = c
        .batch(
            "RawCheck",
            &[
                BatchOp::Upsert(n),
                BatchOp::Delete {
                    pk: "p".into(),
                    rk: "missing".into(),
                },
            ],
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound(_))), "{r:?}");
    assert!(c.get("RawCheck", "p", "r2").await.unwrap().is_none());

    // Queries honour $filter, $select and $top with continuations.
    let ops: Vec<_> = (0..30)
        .map(|i| {
            let mut e = entity("q", &format!("{i:03}"));
            e.insert("N".into(), Value::from(i));
            e.insert("Odd".into(), Value::Bool(i % 2 == 1));
            BatchOp::Upsert(e)
        })
        .collect();
    c.batch("RawCheck", &ops).await.unwrap();
    let q = Query {
        filter: Some("PartitionKey eq 'q' and Odd eq true".into()),
        select: Some("N".into()),
        top: Some(4),
    };
    let (page, next) = c.query_page("RawCheck", &q, None).await.unwrap();
    assert_eq!(page.len(), 4);
    assert!(next.is_some());
    assert!(
        page[0].get("Odd").is_none(),
        "$select drops other properties"
    );
    assert_eq!(c.query_all("RawCheck", &q).await.unwrap().len(), 15);
}

/// A wrong account key is refused by the service and reported as an
/// authorization failure, not as missing data.
#[tokio::test]
async fn a_wrong_key_is_reported_as_not_authorized() {
    let az = azurite::start();
    let cs = az.connection_string.replace(
        guest_sync::store::table::client::DEV_KEY,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
    );
    let c = TableClient::from_connection_string(&cs).unwrap();
    let e = c.create_table_if_missing("Nope").await.unwrap_err();
    assert!(e.to_string().contains("not authorized"), "{e}");
}
