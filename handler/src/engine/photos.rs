//! The photo job: copy changed photos, remove photos gone from the source.
use std::collections::{BTreeSet, HashMap};

use futures::{FutureExt, StreamExt};

use crate::domain::plan::{self, PhotoActionKind, SourceUser};
use crate::domain::{
    AuditEntry, GuestRecord, GuestState, Guid, RunCounts, RunOutcome, SourceTenant,
};
use crate::graph::{GraphError, TenantGraph};

use super::cursor::JobCursor;
use super::execute::{is_fatal, HostWriter};
use super::read;
use super::run::writer;
use super::{host_credentials, source_credentials, JobOutcome, Progress, SyncContext, SyncError};

/// Users whose photo metadata is read, planned and applied together.
const PHOTO_CHUNK: usize = 256;

/// The photo job: copies changed photos (media ETag differs from the one
/// recorded), removes photos gone from the source, skips guests inside the
/// cool-down. Works through the in-scope users in id order, a chunk at a
/// time; the cursor is the last user id done.
pub(super) async fn photos(
    ctx: &SyncContext,
    tenant: &SourceTenant,
    run_id: uuid::Uuid,
    after: Option<Guid>,
    deadline: tokio::time::Instant,
    progress: &dyn Progress,
) -> Result<JobOutcome, SyncError> {
    let opts = &tenant.options;
    let mut counts = RunCounts::default();
    let done = |counts: RunCounts, outcome| JobOutcome {
        counts,
        cursor: None,
        outcome,
        guard: None,
        dry_run: ctx.dry_run,
        attention: None,
        warning: None,
    };
    if !opts.photos || opts.offboarding {
        return Ok(done(counts, RunOutcome::Succeeded));
    }
    let src = ctx.graph.tenant(source_credentials(ctx, tenant).await?);
    let host = ctx.graph.tenant(host_credentials(ctx).await?);
    let w = writer(ctx, &host);
    let (picture, _) = read::read_source(&src, tenant.group_id, opts, progress).await?;
    let records = ctx
        .store
        .list_guests(tenant.tenant_id)
        .await
        .map_err(SyncError::Store)?;
    let managed: HashMap<Guid, &GuestRecord> = records
        .iter()
        .filter(|r| r.host_user_id.is_some() && r.state != GuestState::Deprovisioned)
        .map(|r| (r.source_user_id, r))
        .collect();
    let ids: Vec<Guid> = picture
        .users
        .iter()
        .filter(|u| plan::in_scope(opts, u) && managed.contains_key(&u.id))
        .map(|u| u.id)
        .filter(|id| after.is_none_or(|a| *id > a))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let by_id: HashMap<Guid, &SourceUser> = picture.users.iter().map(|u| (u.id, u)).collect();
    progress.phase("photos", Some(ids.len() as u64));
    let conc = ctx.concurrency.max(1);
    for chunk in ids.chunks(PHOTO_CHUNK) {
        if tokio::time::Instant::now() >= deadline && w.persists() {
            let last = chunk.first().copied();
            // Resume before this chunk: the last id fully done precedes it.
            let after = ids.iter().take_while(|i| Some(**i) != last).last().copied();
            let cursor = JobCursor::Photos { after };
            return Ok(JobOutcome {
                counts,
                cursor: Some(cursor),
                outcome: RunOutcome::Continued,
                guard: None,
                dry_run: false,
                attention: None,
                warning: None,
            });
        }
        // 1. Source photo metadata for the chunk.
        let metas: Vec<(Guid, Result<Option<String>, GraphError>)> =
            futures::stream::iter(chunk.iter().copied())
                .map(|id| {
                    let src = &src;
                    async move {
                        (
                            id,
                            src.photo_meta(id)
                                .await
                                .map(|m| m.and_then(|m| m.media_etag)),
                        )
                    }
                })
                .buffer_unordered(conc)
                .collect()
                .await;
        let mut users: Vec<SourceUser> = Vec::new();
        for (id, m) in metas {
            match m {
                Ok(etag) => {
                    if let Some(u) = by_id.get(&id) {
                        users.push(SourceUser {
                            photo_etag: etag,
                            ..(*u).clone()
                        });
                    }
                }
                Err(e) => {
                    if is_fatal(&e) {
                        return Err(SyncError::graph("reading source photos", e));
                    }
                    counts.failed += 1;
                }
            }
        }
        // 2. Plan and apply.
        let chunk_records: Vec<GuestRecord> = users
            .iter()
            .filter_map(|u| managed.get(&u.id).map(|r| (*r).clone()))
            .collect();
        let p = plan::plan_photos(
            &users,
            &chunk_records,
            &HashMap::new(),
            opts,
            ctx.clock.now(),
        );
        counts.unchanged += p.unchanged;
        let results: Vec<Result<RunCounts, SyncError>> = futures::stream::iter(0..p.actions.len())
            .map(|i| {
                let a = &p.actions[i];
                let host_upn = managed
                    .get(&a.source_user_id)
                    .and_then(|r| r.host_upn.as_deref());
                photo_action(ctx, tenant.tenant_id, run_id, &src, w.as_ref(), a, host_upn).boxed()
            })
            .buffer_unordered(conc)
            .collect()
            .await;
        for r in results {
            counts.add(&r?);
        }
        progress.inc(chunk.len() as u64);
    }
    let outcome = if counts.failed > 0 {
        RunOutcome::Partial
    } else {
        RunOutcome::Succeeded
    };
    Ok(done(counts, outcome))
}

/// Copies or removes one photo, records it (photo fields only, with
/// optimistic concurrency against the reconcile job) and audits it under
/// the guest's host UPN (`host_upn`, from its record), as the other writes
/// are audited.
async fn photo_action(
    ctx: &SyncContext,
    tenant: Guid,
    run_id: uuid::Uuid,
    src: &TenantGraph,
    w: &dyn HostWriter,
    a: &plan::PhotoAction,
    host_upn: Option<&str>,
) -> Result<RunCounts, SyncError> {
    let mut counts = RunCounts::default();
    let mut skipped: Option<String> = None;
    let (op, r, etag) = match &a.kind {
        PhotoActionKind::Copy { etag } => match src.photo(a.source_user_id).await {
            Ok(Some(photo)) => match unusable_photo(
                &photo.content_type,
                photo.oversize.unwrap_or(photo.bytes.len() as u64),
            ) {
                // Graph takes JPEG only, at most 4 MB: skip with the reason
                // (recorded under this ETag, so it is not fetched again
                // until the source photo changes).
                Some(why) => {
                    skipped = Some(why);
                    ("photo-put", Ok(()), Some(etag.clone()))
                }
                None => (
                    "photo-put",
                    w.put_photo(a.host_id, photo.bytes, &photo.content_type)
                        .await,
                    Some(etag.clone()),
                ),
            },
            // Removed between the metadata read and now: the next run sees it.
            Ok(None) => return Ok(counts),
            Err(e) if is_fatal(&e) => {
                return Err(SyncError::graph("reading a source photo", e));
            }
            Err(_) => {
                counts.failed += 1;
                return Ok(counts);
            }
        },
        PhotoActionKind::Remove => ("photo-delete", w.delete_photo(a.host_id).await, None),
    };
    let entry = AuditEntry {
        at: ctx.clock.now(),
        run_id,
        source_tenant_id: tenant,
        source_user_id: Some(a.source_user_id),
        target_id: Some(a.host_id),
        target_upn: host_upn.map(str::to_string),
        operation: op.to_string(),
        outcome: match (&r, &skipped) {
            (Ok(()), Some(_)) => "skipped".to_string(),
            (Ok(()), None) => w.outcome_label().to_string(),
            (Err(_), _) => "failed".to_string(),
        },
        detail: r
            .as_ref()
            .err()
            .map(|e| e.to_string())
            .or_else(|| skipped.clone()),
        client_request_id: r.as_ref().err().map(|e| e.client_request_id().to_string()),
    };
    ctx.store
        .append_audit(&[entry])
        .await
        .map_err(SyncError::Store)?;
    match r {
        Err(e) if is_fatal(&e) => return Err(SyncError::graph("writing a photo", e)),
        Err(_) => {
            counts.failed += 1;
            return Ok(counts);
        }
        Ok(()) => {}
    }
    match (&etag, &skipped) {
        (Some(_), Some(_)) => counts.unchanged += 1,
        (Some(_), None) => counts.photos_copied += 1,
        (None, _) => counts.photos_removed += 1,
    }
    if w.persists() {
        let now = ctx.clock.now();
        for _ in 0..5 {
            let Some(v) = ctx
                .store
                .get_guest_versioned(tenant, a.source_user_id)
                .await
                .map_err(SyncError::Store)?
            else {
                break;
            };
            let mut rec = v.record;
            rec.photo_etag = etag.clone();
            if skipped.is_none() {
                rec.photo_copied_at = Some(now);
            }
            match ctx.store.put_guest_if(&rec, Some(&v.version)).await {
                Ok(_) => break,
                Err(crate::store::StoreError::Conflict(_)) => continue,
                Err(e) => return Err(SyncError::Store(e)),
            }
        }
    }
    Ok(counts)
}

/// The largest photo Graph accepts (`PUT /users/{id}/photo/$value`).
pub use crate::graph::MAX_PHOTO_BYTES;

/// Why a source photo cannot be copied as it is, if it cannot: Graph takes
/// `image/jpeg` only, at most [`MAX_PHOTO_BYTES`].
pub fn unusable_photo(content_type: &str, len: u64) -> Option<String> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "image/jpeg" && mime != "image/jpg" {
        return Some(format!(
            "source photo is {mime:?}; Graph takes image/jpeg only: not copied"
        ));
    }
    if len > MAX_PHOTO_BYTES as u64 {
        return Some(format!(
            "source photo is {len} bytes; Graph takes at most {MAX_PHOTO_BYTES}: not copied"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JPEG up to 4 MB goes through; other types and larger files are
    /// refused with the reason.
    #[test]
    fn only_jpeg_up_to_4_mb_is_copied() {
        assert_eq!(unusable_photo("image/jpeg", 1000), None);
        assert_eq!(unusable_photo("IMAGE/JPEG; charset=binary", 1000), None);
        assert_eq!(unusable_photo("image/jpeg", MAX_PHOTO_BYTES as u64), None);
        let big = unusable_photo("image/jpeg", MAX_PHOTO_BYTES as u64 + 1).unwrap();
        assert!(big.contains("at most"), "{big}");
        let png = unusable_photo("image/png", 10).unwrap();
        assert!(png.contains("image/png"), "{png}");
        assert!(unusable_photo("image/gif", 10).is_some());
    }
}
