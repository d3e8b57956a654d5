//! A full read's snapshot: what a reconcile run read of both sides (the
//! source picture, the host picture, the records the plan was made from,
//! and the policy's inputs), kept in the store in compressed chunks while
//! the run continues over several slices, so that a continuation resumes
//! where the last slice stopped instead of reading both tenants again
//! (`docs/engine.md`, "Continuations resume from a snapshot").
//!
//! Format (chunks of [`SnapshotStore`], in order):
//! - chunk 0, written last: the [`Header`] as JSON (raw). A snapshot whose
//!   writing was cut short has no header and is never used;
//! - chunks 1..=n: deflate of one kind's entries, one JSON document per
//!   line, after a first line naming the kind (`source`, `guest`,
//!   `deleted`, `member`, `record`).
//!
//! A snapshot is used only by the run that wrote it, by the same build,
//! for the same tenant options, settings and deletion-guard hold, and
//! while it is younger than [`MAX_AGE_MINUTES`]; otherwise the
//! continuation reads both sides again (never less than before).
use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};

use crate::domain::plan::{DeletedHostUser, HostGuest, HostPicture, SourcePicture, SourceUser};
use crate::domain::policy::MaxDeprovisions;
use crate::domain::{AnchorAttribute, GuestRecord, Guid, SourceTenant};
use crate::store::{SnapshotStore, StoreError};

use super::SyncContext;

/// The format this build writes and reads.
const FORMAT: u32 = 1;

/// Uncompressed bytes per data chunk (a chunk ends after the entry that
/// crosses it): JSON compresses several times, and even bytes deflate
/// cannot shrink grow by well under 1%, so a chunk stays under the store's
/// limit with room for one more entry (a user's attributes are a few KiB).
const RAW_CHUNK: usize = 640 * 1024;
const _: () = assert!(RAW_CHUNK + RAW_CHUNK / 100 + 48 * 1024 <= crate::store::SNAPSHOT_CHUNK_MAX);

/// A snapshot older than this is not resumed from: the continuation reads
/// both sides again, so that no slice acts on a picture of the directory
/// more than an hour old.
pub const MAX_AGE_MINUTES: i64 = 60;

/// What a snapshot was taken under, and what its chunks hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub format: u32,
    /// The build that wrote it (part boundaries and the format are the
    /// build's).
    pub build: String,
    pub run_id: uuid::Uuid,
    /// The tenant options, settings and guard hold it was planned under.
    pub fingerprint: String,
    /// When it was read (the plan's "now").
    pub taken_at: DateTime<Utc>,
    /// The deletion guard's limit in force for the run.
    pub limit: Limit,
    /// The anchor attribute in force for the run.
    pub anchor: Option<AnchorAttribute>,
    pub anchor_unreadable: Option<String>,
    pub source_complete: bool,
    /// Whether the host picture has a group's members (a host group).
    pub has_group: bool,
    /// How many parts the plan is cut into.
    pub parts: u32,
    /// Data chunks (1..=chunks).
    pub chunks: u32,
    /// Bytes the data chunks take in the store.
    #[serde(default)]
    pub bytes: u64,
    /// Entries of each kind, to check the read.
    pub counts: Counts,
}

/// [`MaxDeprovisions`] as kept in a header.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Limit {
    Count(u64),
    Percent(f64),
}

impl From<MaxDeprovisions> for Limit {
    fn from(m: MaxDeprovisions) -> Limit {
        match m {
            MaxDeprovisions::Count(n) => Limit::Count(n),
            MaxDeprovisions::Percent(p) => Limit::Percent(p),
        }
    }
}

impl From<Limit> for MaxDeprovisions {
    fn from(l: Limit) -> MaxDeprovisions {
        match l {
            Limit::Count(n) => MaxDeprovisions::Count(n),
            Limit::Percent(p) => MaxDeprovisions::Percent(p),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub source: u64,
    pub guests: u64,
    pub deleted: u64,
    pub members: u64,
    pub records: u64,
}

/// A snapshot read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub header: Header,
    pub source: SourcePicture,
    pub host: HostPicture,
    pub records: Vec<GuestRecord>,
}

/// What a snapshot must have been taken under to be used: the tenant's
/// options and scope, the settings that decide what is read and planned,
/// and the removals an administrator confirmed (what the planner reads of
/// the guard hold: a confirmation made while the run continued is applied
/// by reading again).
pub fn fingerprint(ctx: &SyncContext, tenant: &SourceTenant) -> String {
    let confirmed = tenant
        .guard
        .as_ref()
        .filter(|g| g.confirmed)
        .map(|g| g.wanted);
    format!(
        "{};scope={};deprovision={:?};max={:?};confirmed={confirmed:?}",
        super::delta::fingerprint(ctx, tenant),
        tenant.group_id,
        ctx.settings.deprovision,
        ctx.settings.max_deprovisions,
    )
}

/// The build a snapshot must come from.
fn build() -> String {
    format!("guest-sync {} format {FORMAT}", env!("CARGO_PKG_VERSION"))
}

/// Writes entries of one kind into compressed chunks.
struct ChunkWriter<'a> {
    store: &'a dyn SnapshotStore,
    tenant: Guid,
    run: uuid::Uuid,
    /// The last chunk written.
    index: u32,
    enc: Option<DeflateEncoder<Vec<u8>>>,
    raw: usize,
    /// Bytes written so far.
    bytes: u64,
}

impl ChunkWriter<'_> {
    async fn push<T: Serialize>(&mut self, kind: &str, item: &T) -> Result<(), StoreError> {
        let enc = match &mut self.enc {
            Some(e) => e,
            None => {
                let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                write_line(&mut e, kind.as_bytes())?;
                self.raw = kind.len() + 1;
                self.enc.insert(e)
            }
        };
        let line = serde_json::to_vec(item)
            .map_err(|e| StoreError::Invalid(format!("snapshot entry: {e}")))?;
        write_line(enc, &line)?;
        self.raw += line.len() + 1;
        if self.raw >= RAW_CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes every item of one kind, then ends its chunk; how many.
    async fn push_all<'i, T: Serialize + 'i>(
        &mut self,
        kind: &str,
        items: impl IntoIterator<Item = &'i T>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for item in items {
            self.push(kind, item).await?;
            n += 1;
        }
        self.flush().await?;
        Ok(n)
    }

    /// Ends the current chunk (each kind starts a new one).
    async fn flush(&mut self) -> Result<(), StoreError> {
        let Some(enc) = self.enc.take() else {
            return Ok(());
        };
        let data = enc
            .finish()
            .map_err(|e| StoreError::Other(format!("compressing a snapshot chunk: {e}")))?;
        self.index += 1;
        self.bytes += data.len() as u64;
        self.store
            .put_snapshot_chunk(self.tenant, self.run, self.index, &data)
            .await
    }
}

fn write_line(w: &mut impl Write, b: &[u8]) -> Result<(), StoreError> {
    w.write_all(b)
        .and_then(|()| w.write_all(b"\n"))
        .map_err(|e| StoreError::Other(format!("compressing a snapshot chunk: {e}")))
}

/// What [`save`] needs besides the pictures.
pub struct Taken<'a> {
    pub run_id: uuid::Uuid,
    pub fingerprint: String,
    pub taken_at: DateTime<Utc>,
    pub limit: MaxDeprovisions,
    pub anchor: Option<&'a AnchorAttribute>,
    pub anchor_unreadable: Option<&'a str>,
    pub parts: u32,
}

/// Keeps a snapshot of run `t.run_id`, replacing whatever the tenant had
/// kept before (an older run's, cut short). Written chunk by chunk: the
/// memory it takes is one chunk's.
pub async fn save(
    store: &dyn SnapshotStore,
    tenant: Guid,
    t: Taken<'_>,
    source: &SourcePicture,
    host: &HostPicture,
    records: &[GuestRecord],
) -> Result<Header, StoreError> {
    store.delete_snapshots(tenant).await?;
    let mut w = ChunkWriter {
        store,
        tenant,
        run: t.run_id,
        index: 0,
        enc: None,
        raw: 0,
        bytes: 0,
    };
    let counts = Counts {
        source: w.push_all("source", &source.users).await?,
        guests: w.push_all("guest", &host.guests).await?,
        deleted: w.push_all("deleted", &host.deleted).await?,
        members: w
            .push_all("member", host.group_members.iter().flatten())
            .await?,
        records: w.push_all("record", records).await?,
    };
    let header = Header {
        format: FORMAT,
        build: build(),
        run_id: t.run_id,
        fingerprint: t.fingerprint,
        taken_at: t.taken_at,
        limit: t.limit.into(),
        anchor: t.anchor.cloned(),
        anchor_unreadable: t.anchor_unreadable.map(str::to_string),
        source_complete: source.complete,
        has_group: host.group_members.is_some(),
        parts: t.parts,
        chunks: w.index,
        bytes: w.bytes,
        counts,
    };
    let doc = serde_json::to_vec(&header)
        .map_err(|e| StoreError::Invalid(format!("snapshot header: {e}")))?;
    // The header last: a snapshot is whole once it is there.
    store.put_snapshot_chunk(tenant, t.run_id, 0, &doc).await?;
    Ok(header)
}

/// Why a snapshot was not used.
#[derive(Debug, thiserror::Error)]
pub enum Unusable {
    #[error("no snapshot is kept for this run")]
    Missing,
    #[error("the snapshot was taken {0}")]
    Stale(String),
    #[error("the snapshot is unreadable: {0}")]
    Corrupt(String),
    #[error("reading the snapshot failed: {0}")]
    Store(StoreError),
}

/// Reads back run `run`'s snapshot, if it may be used now: same build,
/// same fingerprint, younger than [`MAX_AGE_MINUTES`].
pub async fn load(
    store: &dyn SnapshotStore,
    tenant: Guid,
    run: uuid::Uuid,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Result<Snapshot, Unusable> {
    let head = store
        .get_snapshot_chunk(tenant, run, 0)
        .await
        .map_err(Unusable::Store)?
        .ok_or(Unusable::Missing)?;
    let header: Header =
        serde_json::from_slice(&head).map_err(|e| Unusable::Corrupt(format!("header: {e}")))?;
    if header.format != FORMAT || header.build != build() {
        return Err(Unusable::Stale(format!("by {}", header.build)));
    }
    if header.run_id != run {
        return Err(Unusable::Corrupt("the header names another run".into()));
    }
    if header.fingerprint != fingerprint {
        return Err(Unusable::Stale(
            "under other tenant options, settings or guard hold".into(),
        ));
    }
    let age = now - header.taken_at;
    if age > chrono::Duration::minutes(MAX_AGE_MINUTES) {
        return Err(Unusable::Stale(format!(
            "{} minutes ago (at most {MAX_AGE_MINUTES} are resumed from)",
            age.num_minutes()
        )));
    }
    let mut snap = Snapshot {
        source: SourcePicture {
            users: Vec::with_capacity(header.counts.source as usize),
            complete: header.source_complete,
        },
        host: HostPicture {
            guests: Vec::with_capacity(header.counts.guests as usize),
            deleted: Vec::new(),
            group_members: header.has_group.then(Default::default),
            anchor_unreadable: header.anchor_unreadable.clone(),
        },
        records: Vec::with_capacity(header.counts.records as usize),
        header,
    };
    for i in 1..=snap.header.chunks {
        let data = store
            .get_snapshot_chunk(tenant, run, i)
            .await
            .map_err(Unusable::Store)?
            .ok_or_else(|| Unusable::Corrupt(format!("chunk {i} is missing")))?;
        read_chunk(&data, &mut snap).map_err(|e| Unusable::Corrupt(format!("chunk {i}: {e}")))?;
    }
    let c = &snap.header.counts;
    let got = Counts {
        source: snap.source.users.len() as u64,
        guests: snap.host.guests.len() as u64,
        deleted: snap.host.deleted.len() as u64,
        members: snap.host.group_members.as_ref().map_or(0, |m| m.len()) as u64,
        records: snap.records.len() as u64,
    };
    if got != *c {
        return Err(Unusable::Corrupt(format!(
            "it holds {got:?}, its header says {c:?}"
        )));
    }
    Ok(snap)
}

fn read_chunk(data: &[u8], snap: &mut Snapshot) -> Result<(), String> {
    let mut lines = std::io::BufReader::new(flate2::read::DeflateDecoder::new(data)).lines();
    let kind = lines
        .next()
        .ok_or("empty")?
        .map_err(|e| format!("not deflate: {e}"))?;
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| format!("not deflate: {e}"))?;
        let bad = |e: serde_json::Error| format!("{kind} entry {n}: {e}");
        match kind.as_str() {
            "source" => snap
                .source
                .users
                .push(serde_json::from_str::<SourceUser>(&line).map_err(bad)?),
            "guest" => snap
                .host
                .guests
                .push(serde_json::from_str::<HostGuest>(&line).map_err(bad)?),
            "deleted" => snap
                .host
                .deleted
                .push(serde_json::from_str::<DeletedHostUser>(&line).map_err(bad)?),
            "member" => {
                let id = serde_json::from_str::<Guid>(&line).map_err(bad)?;
                snap.host
                    .group_members
                    .as_mut()
                    .ok_or("group members without a host group")?
                    .insert(id);
            }
            "record" => snap
                .records
                .push(serde_json::from_str::<GuestRecord>(&line).map_err(bad)?),
            other => return Err(format!("unknown kind {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::GuestState;
    use crate::store::sqlite::SqliteStore;
    use serde_json::json;

    fn id(i: u128) -> Guid {
        Guid::from_uuid(uuid::Uuid::from_u128(i))
    }

    /// Pictures large enough for several chunks of each of the big kinds.
    fn pictures(now: DateTime<Utc>) -> (SourcePicture, HostPicture, Vec<GuestRecord>) {
        let users = (0..4_000u128)
            .map(|i| {
                serde_json::from_value::<SourceUser>(json!({
                    "id": id(i), "upn": format!("u{i}@src.example"), "mail": format!("u{i}@src.example"),
                    "accountEnabled": i % 7 != 0, "userType": "Member",
                    "attrs": {"displayName": format!("User {i}"), "jobTitle": "Engineer", "department": format!("Dept {}", i % 13), "extensionAttribute1": format!("{i:0>40}")}
                }))
                .unwrap()
            })
            .collect();
        let guests = (0..300u128)
            .map(|i| {
                serde_json::from_value::<HostGuest>(json!({
                    "id": id(0x10_0000 + i), "upn": format!("u{i}_src.example#EXT#@host.example"),
                    "otherMails": [format!("u{i}@src.example")], "accountEnabled": true, "userType": "Guest",
                    "externalUserState": "Accepted", "createdAt": now, "attrs": {"displayName": format!("User {i}")}
                }))
                .unwrap()
            })
            .collect();
        let deleted = vec![serde_json::from_value::<DeletedHostUser>(
            json!({"id": id(0x20_0000), "mail": "gone@src.example", "deletedAt": now}),
        )
        .unwrap()];
        let records = (0..300u128)
            .map(|i| GuestRecord {
                source_tenant_id: id(7),
                source_user_id: id(i),
                source_upn: format!("u{i}@src.example"),
                source_mail: None,
                host_user_id: Some(id(0x10_0000 + i)),
                host_upn: None,
                state: GuestState::Accepted,
                adopted: false,
                created_at: now,
                redeemed_at: Some(now),
                deprovisioned_at: None,
                last_synced_at: Some(now),
                profile_fingerprint: Some(format!("fp{i}")),
                photo_etag: None,
                photo_copied_at: None,
                last_error: None,
                anchored: true,
                relations: Default::default(),
            })
            .collect();
        (
            SourcePicture {
                users,
                complete: true,
            },
            HostPicture {
                guests,
                deleted,
                group_members: Some((0..50u128).map(|i| id(0x10_0000 + i)).collect()),
                anchor_unreadable: None,
            },
            records,
        )
    }

    fn taken(run: uuid::Uuid, now: DateTime<Utc>) -> Taken<'static> {
        Taken {
            run_id: run,
            fingerprint: "fp".into(),
            taken_at: now,
            limit: MaxDeprovisions::Percent(10.0),
            anchor: None,
            anchor_unreadable: None,
            parts: 3,
        }
    }

    /// What is saved is read back exactly (order included), in several
    /// compressed chunks each under the store's limit; a kept snapshot of
    /// an older run of the tenant is replaced.
    #[tokio::test]
    async fn a_snapshot_round_trips_in_compressed_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
        let tenant = id(7);
        let now = Utc::now();
        let (src, host, recs) = pictures(now);
        let old = uuid::Uuid::new_v4();
        save(&store, tenant, taken(old, now), &src, &host, &recs)
            .await
            .unwrap();
        let run = uuid::Uuid::new_v4();
        let h = save(&store, tenant, taken(run, now), &src, &host, &recs)
            .await
            .unwrap();
        assert!(
            store
                .get_snapshot_chunk(tenant, old, 0)
                .await
                .unwrap()
                .is_none(),
            "the older run's snapshot is replaced"
        );
        assert!(h.chunks >= 6, "{} chunks", h.chunks);
        let mut raw = 0;
        for i in 0..=h.chunks {
            let c = store.get_snapshot_chunk(tenant, run, i).await.unwrap();
            raw += c.unwrap().len();
        }
        let json_size = serde_json::to_vec(&src.users).unwrap().len();
        assert!(
            raw * 3 < json_size,
            "{raw} bytes stored for {json_size} of JSON users"
        );
        let s = load(&store, tenant, run, "fp", now).await.unwrap();
        assert_eq!(s.source, src);
        assert_eq!(s.host, host);
        assert_eq!(s.records, recs);
        assert_eq!(s.header.limit, Limit::Percent(10.0));
        assert_eq!(s.header.parts, 3);
    }

    /// A snapshot is refused, with the reason, when it is missing, cut
    /// short, of another fingerprint, older than an hour, or damaged.
    #[tokio::test]
    async fn an_unusable_snapshot_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
        let tenant = id(7);
        let now = Utc::now();
        let (src, host, recs) = pictures(now);
        let run = uuid::Uuid::new_v4();
        let err = |r: Result<Snapshot, Unusable>| r.unwrap_err().to_string();
        assert!(err(load(&store, tenant, run, "fp", now).await).contains("no snapshot"));
        let h = save(&store, tenant, taken(run, now), &src, &host, &recs)
            .await
            .unwrap();
        let e = err(load(&store, tenant, run, "other", now).await);
        assert!(e.contains("other tenant options"), "{e}");
        let later = now + chrono::Duration::minutes(MAX_AGE_MINUTES + 1);
        let e = err(load(&store, tenant, run, "fp", later).await);
        assert!(e.contains("61 minutes ago"), "{e}");
        // A data chunk lost: the counts do not match.
        let last = store
            .get_snapshot_chunk(tenant, run, h.chunks)
            .await
            .unwrap()
            .unwrap();
        store
            .put_snapshot_chunk(tenant, run, h.chunks, b"")
            .await
            .unwrap();
        let e = err(load(&store, tenant, run, "fp", now).await);
        assert!(e.contains("unreadable"), "{e}");
        store
            .put_snapshot_chunk(tenant, run, h.chunks, &last)
            .await
            .unwrap();
        assert!(load(&store, tenant, run, "fp", now).await.is_ok());
        // An entry that is not what its kind says.
        let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b"record\n{\"not\":\"a record\"}\n").unwrap();
        store
            .put_snapshot_chunk(tenant, run, 1, &e.finish().unwrap())
            .await
            .unwrap();
        let e = err(load(&store, tenant, run, "fp", now).await);
        assert!(e.contains("chunk 1: record entry 0"), "{e}");
        // The header gone (a snapshot cut short): not used.
        store.delete_snapshots(tenant).await.unwrap();
        assert!(err(load(&store, tenant, run, "fp", now).await).contains("no snapshot"));
    }
}
