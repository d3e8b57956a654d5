//! A full read that stops for time resumes from its snapshot: its
//! continuation slices read nothing again (only the invite pre-check's
//! lookup per new guest), apply the rest of the plan where the last slice
//! stopped, and the run ends as if it had been one slice; a snapshot that
//! cannot be used (damaged, too old, taken under other options) is read
//! around, never trusted.
use std::collections::HashMap;

use guest_sync::devtools::sim::SimConfig;
use guest_sync::domain::{Guid, Job, RunOutcome, TenantOptions};
use guest_sync::engine::{run_job, JobCursor, JobOutcome, NoProgress};

use super::robustness::assert_converged;
use super::H;

/// One slice of `run_id` whose deadline has already passed: it starts the
/// executor's minimum (4 actions at concurrency 1) and stops. Returns the
/// outcome and the Graph reads and invitations it made.
async fn slice(h: &H, run_id: uuid::Uuid, cursor: Option<JobCursor>) -> (JobOutcome, u64, u64) {
    let before = h.sim.counts();
    let t = h.stored_tenant().await;
    let out = run_job(
        &h.ctx,
        &t,
        Job::Reconcile,
        run_id,
        cursor,
        tokio::time::Instant::now(),
        &NoProgress,
    )
    .await
    .unwrap();
    let after = h.sim.counts();
    let kind =
        |c: &guest_sync::devtools::sim::SimCounts, k: &str| c.by_kind.get(k).copied().unwrap_or(0);
    (
        out,
        kind(&after, "read") - kind(&before, "read"),
        kind(&after, "invite") - kind(&before, "invite"),
    )
}

async fn start(users: usize) -> (H, Vec<Guid>) {
    let mut h = H::start(SimConfig::fast(), &[], TenantOptions::default()).await;
    h.ctx.plan_part_users = 4;
    h.ctx.concurrency = 1;
    let members = h.members(users);
    (h, members)
}

/// Every user is a guest with its name, enabled.
async fn assert_every_guest_made(h: &H, users: &[Guid]) {
    let expect: HashMap<Guid, (String, bool)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (*u, (format!("User {i}"), true)))
        .collect();
    assert_converged(h, users, &expect).await;
}

fn resume_of(out: &JobOutcome) -> Option<guest_sync::engine::cursor::Resume> {
    JobCursor::reconcile_resume(out.cursor)
}

/// 20 users in parts of 4, 4 actions per slice: the first slice reads
/// both sides and keeps a snapshot; every later slice reads nothing but
/// the pre-check lookup of each invitation it makes, and the run ends with
/// every guest created once (2 writes each) and the snapshot removed.
#[tokio::test]
async fn a_full_read_stopped_for_time_resumes_without_reading_again() {
    let (h, users) = start(20).await;
    h.sim.reset_counts();
    let run_id = uuid::Uuid::new_v4();
    let (mut out, reads, invites) = slice(&h, run_id, None).await;
    assert_eq!(out.outcome, RunOutcome::Continued);
    assert_eq!(invites, 4, "the minimum a late slice starts");
    assert!(reads > invites, "the first slice reads both sides: {reads}");
    assert!(resume_of(&out).is_some(), "{:?}", out.cursor);
    let mut slices = 1;
    let mut invited = invites;
    while let Some(c) = out.cursor {
        let (o, reads, invites) = slice(&h, run_id, Some(c)).await;
        slices += 1;
        assert!(slices < 20, "the run does not end");
        if o.cursor.is_some() {
            // Resumed: no list read, only one lookup per invitation.
            assert_eq!(reads, invites, "slice {slices} read again");
        } else {
            // The last slice also reads what ends a full read: the source
            // managers page of the relations phase and the host's delta
            // link (a re-read would list both tenants: more than that).
            assert!(reads <= invites + 2, "the last slice read again: {reads}");
        }
        invited += invites;
        out = o;
    }
    assert_eq!(out.outcome, RunOutcome::Succeeded);
    assert_eq!(invited, 20, "every guest invited once");
    assert!(slices >= 5, "{slices} slices");
    assert_eq!(h.sim.counts().writes_total(), 40, "two writes per guest");
    assert_every_guest_made(&h, &users).await;
    let kept = h.store.get_snapshot_chunk(h.src, run_id, 0).await.unwrap();
    assert!(kept.is_none(), "the snapshot outlived its run");
    // The run record counts the whole run once.
    let run = h.store.get_run(h.src, run_id).await.unwrap().unwrap();
    assert_eq!(run.counts.created, 20);
}

/// A damaged snapshot, one older than an hour, and one taken under other
/// tenant options are not used: the continuation reads both sides again
/// and the run still converges without a duplicate write.
#[tokio::test]
async fn an_unusable_snapshot_is_read_around() {
    let (h, users) = start(16).await;
    let run_id = uuid::Uuid::new_v4();
    let (out, _, _) = slice(&h, run_id, None).await;
    assert!(resume_of(&out).is_some());

    // Damaged: a data chunk that is not what was written.
    h.store
        .put_snapshot_chunk(h.src, run_id, 1, b"not deflate")
        .await
        .unwrap();
    let (cap, _g) = crate::support::logs::Capture::scoped();
    let (out, reads, invites) = slice(&h, run_id, out.cursor).await;
    let log = cap.text();
    assert!(log.contains("cannot resume from its snapshot"), "{log}");
    assert!(log.contains("unreadable"), "{log}");
    assert!(reads > invites, "it read again");
    // It kept a new snapshot, which the next slice uses...
    assert!(resume_of(&out).is_some());

    // ...unless it is older than an hour.
    h.clock.advance_secs(61 * 60);
    let (cap, _g2) = crate::support::logs::Capture::scoped();
    let (out, reads, invites) = slice(&h, run_id, out.cursor).await;
    assert!(cap.text().contains("minutes ago"), "{}", cap.text());
    assert!(reads > invites, "it read again");

    // Other tenant options (here the photo cool-down, which changes no
    // write of the reconcile): read again.
    let mut t = h.stored_tenant().await;
    t.options.photo_cooldown_secs += 60;
    h.store.put_tenant(&t).await.unwrap();
    let (cap, _g3) = crate::support::logs::Capture::scoped();
    let (mut out, reads, invites) = slice(&h, run_id, out.cursor).await;
    assert!(
        cap.text().contains("other tenant options"),
        "{}",
        cap.text()
    );
    assert!(reads > invites, "it read again");
    while let Some(c) = out.cursor {
        out = slice(&h, run_id, Some(c)).await.0;
    }
    assert_eq!(out.outcome, RunOutcome::Succeeded);
    assert_eq!(h.sim.counts().writes_total(), 32, "two writes per guest");
    assert_every_guest_made(&h, &users).await;
}

/// Every action started, but sponsors cut off by time: the continuation
/// resumes from the snapshot with nothing left of the plan (`part` equal
/// to the part count) and sets the remaining sponsors, listing neither
/// tenant again.
#[tokio::test]
async fn sponsors_cut_off_by_time_go_on_from_the_snapshot() {
    let (h, users) = start(6).await;
    let sponsor = h.sim.create_user(
        h.host,
        guest_sync::devtools::sim::NewUser::simple("Alice", "alice@host.example"),
    );
    let mut t = h.stored_tenant().await;
    t.options.sponsors = Some(guest_sync::domain::SponsorOptions {
        users: vec![sponsor],
        group_owners: None,
    });
    h.store.put_tenant(&t).await.unwrap();
    let run_id = uuid::Uuid::new_v4();
    // 4 of the 6 invitations, then 2 and sponsors for 4 of the 6 guests.
    let (out, _, invites) = slice(&h, run_id, None).await;
    assert_eq!(invites, 4);
    let (out, _, invites) = slice(&h, run_id, out.cursor).await;
    assert_eq!(invites, 2);
    let at = resume_of(&out).expect("sponsors left: a continuation");
    // 6 users in parts of 4: 2 parts, both started.
    assert_eq!((at.part, at.from), (2, None), "{at:?}");
    let pages = h.sim.counts().member_pages;
    let (out, _, invites) = slice(&h, run_id, out.cursor).await;
    assert_eq!(invites, 0);
    assert!(out.cursor.is_none(), "{:?}", out.cursor);
    assert_eq!(out.outcome, RunOutcome::Succeeded);
    assert_eq!(
        h.sim.counts().member_pages,
        pages,
        "the last slice listed the scope"
    );
    for u in &users {
        let g = h.record(*u).await.host_user_id.unwrap();
        assert_eq!(h.sim.sponsors(h.host, g), vec![sponsor]);
    }
    let run = h.store.get_run(h.src, run_id).await.unwrap().unwrap();
    assert_eq!(run.counts.sponsor_writes, 6);
    assert_eq!(h.sim.counts().writes_total(), 6 * 2 + 6);
}
