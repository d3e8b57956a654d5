//! Entity-group transactions (`multipart/mixed` `$batch`): at most 100
//! operations on one partition, all or nothing; and splitting any list of
//! operations into batches the service accepts.
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::entity::check_entity;
use super::transport::{status_error, Req};
use super::{Entity, TableClient};
use crate::store::{StoreError, StoreResult};

/// Most operations in one entity-group transaction.
pub const MAX_BATCH_OPS: usize = 100;
/// Largest `$batch` payload we send (the service allows 4 MiB).
pub const MAX_BATCH_BYTES: usize = 3 * 1024 * 1024 + 512 * 1024;

/// One operation of an entity-group transaction.
#[derive(Debug, Clone)]
pub enum BatchOp {
    /// InsertOrReplace.
    Upsert(Entity),
    /// Delete regardless of ETag.
    Delete { pk: String, rk: String },
}

impl BatchOp {
    fn pk(&self) -> Option<&str> {
        match self {
            BatchOp::Upsert(e) => e.get("PartitionKey").and_then(Value::as_str),
            BatchOp::Delete { pk, .. } => Some(pk),
        }
    }
}

impl TableClient {
    /// Runs one entity-group transaction: all operations succeed or none.
    /// At most [`MAX_BATCH_OPS`] operations, all on one partition
    /// (checked: `Err(Invalid)` otherwise; see [`split_batches`]).
    pub async fn batch(&self, table: &str, ops: &[BatchOp]) -> StoreResult<()> {
        if ops.is_empty() {
            return Ok(());
        }
        if ops.len() > MAX_BATCH_OPS {
            return Err(StoreError::Invalid(format!(
                "a batch holds at most {MAX_BATCH_OPS} operations, got {}",
                ops.len()
            )));
        }
        let pk = ops[0].pk().unwrap_or_default().to_string();
        if ops.iter().any(|o| o.pk() != Some(pk.as_str())) {
            return Err(StoreError::Invalid(
                "a batch must stay within one partition".into(),
            ));
        }
        let batch_id = format!("batch_{}", uuid::Uuid::new_v4());
        let cs_id = format!("changeset_{}", uuid::Uuid::new_v4());
        let mut body = String::new();
        body.push_str(&format!(
            "--{batch_id}\r\nContent-Type: multipart/mixed; boundary={cs_id}\r\n\r\n"
        ));
        for op in ops {
            body.push_str(&format!(
                "--{cs_id}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            ));
            match op {
                BatchOp::Upsert(e) => {
                    check_entity(table, e)?;
                    let (pk, rk) = Self::keys(e);
                    let url = self.url(&Self::entity_path(table, &pk, &rk))?;
                    let json = serde_json::to_string(e).map_err(|e| {
                        StoreError::Invalid(format!("entity cannot be serialized: {e}"))
                    })?;
                    body.push_str(&format!(
                        "PUT {url} HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json;odata=nometadata\r\nDataServiceVersion: 3.0;\r\n\r\n{json}\r\n"
                    ));
                }
                BatchOp::Delete { pk, rk } => {
                    let url = self.url(&Self::entity_path(table, pk, rk))?;
                    body.push_str(&format!(
                        "DELETE {url} HTTP/1.1\r\nAccept: application/json;odata=nometadata\r\nIf-Match: *\r\nDataServiceVersion: 3.0;\r\n\r\n"
                    ));
                }
            }
        }
        body.push_str(&format!("--{cs_id}--\r\n\r\n--{batch_id}--\r\n"));
        if body.len() > 4 * 1024 * 1024 {
            return Err(StoreError::Invalid(format!(
                "a batch payload is {} bytes, more than the Table service's 4 MiB",
                body.len()
            )));
        }
        let mut req = Req::new(Method::POST, "$batch");
        req.content_type = format!("multipart/mixed; boundary={batch_id}");
        req.body = Some(body.into_bytes().into());
        let r = self.send("batch", &req).await?;
        if !r.status.is_success() {
            return Err(status_error(
                &format!("batch on {table}"),
                r.status,
                &r.body,
            ));
        }
        // The changeset's answers: any failed operation fails them all.
        for line in r.body.lines() {
            if let Some(rest) = line.strip_prefix("HTTP/1.1 ") {
                let code: u16 = rest
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                if code >= 400 {
                    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
                    let json = r.body.find("{\"odata.error\"").map(|i| &r.body[i..]);
                    let detail = json.and_then(|j| j.lines().next()).unwrap_or(rest);
                    return Err(status_error(&format!("batch on {table}"), status, detail));
                }
            }
        }
        Ok(())
    }
}

/// Splits operations into batches the service accepts: one partition each,
/// at most [`MAX_BATCH_OPS`] operations and about [`MAX_BATCH_BYTES`].
pub fn split_batches(ops: Vec<BatchOp>) -> Vec<Vec<BatchOp>> {
    let mut by_pk: std::collections::BTreeMap<String, Vec<BatchOp>> = Default::default();
    for op in ops {
        by_pk
            .entry(op.pk().unwrap_or_default().to_string())
            .or_default()
            .push(op);
    }
    let mut out = Vec::new();
    for (_, ops) in by_pk {
        let mut cur = Vec::new();
        let mut bytes = 0usize;
        for op in ops {
            let sz = match &op {
                BatchOp::Upsert(e) => serde_json::to_string(e).map(|s| s.len()).unwrap_or(0) + 400,
                BatchOp::Delete { .. } => 400,
            };
            if !cur.is_empty() && (cur.len() == MAX_BATCH_OPS || bytes + sz > MAX_BATCH_BYTES) {
                out.push(std::mem::take(&mut cur));
                bytes = 0;
            }
            bytes += sz;
            cur.push(op);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::entity;
    use super::*;

    /// Batches never mix partitions nor exceed 100 operations.
    #[test]
    fn batches_split_by_partition_and_size() {
        let ops: Vec<_> = (0..250)
            .map(|i| BatchOp::Upsert(entity(if i % 2 == 0 { "a" } else { "b" }, &i.to_string())))
            .collect();
        let bs = split_batches(ops);
        assert_eq!(bs.iter().map(Vec::len).sum::<usize>(), 250);
        assert!(bs.iter().all(|b| b.len() <= MAX_BATCH_OPS));
        assert!(bs.iter().all(|b| b.iter().all(|o| o.pk() == b[0].pk())));
        assert_eq!(bs.len(), 4);
    }
}
