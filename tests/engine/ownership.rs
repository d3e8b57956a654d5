//! What the engine must not do to a directory it does not fully see
//! (issue 13, in part): a lost source permission writes nothing and asks
//! for attention; Graph's photo placeholder is no photo.
use chrono::Utc;
use guest_sync::domain::RunOutcome;
use guest_sync::report::{AttentionKind, Statistics};

use super::{b, H};
use crate::support::world::World;

/// The source app loses User.Read.All (members come back with id only):
/// the run ends partial naming the permission, no guest is removed or
/// disabled (not even a real leaver's: the picture cannot tell), and the
/// report lists it under attention until a later run succeeds.
#[tokio::test]
async fn a_lost_user_read_all_writes_nothing_and_asks_for_attention() {
    let h = H::fast().await;
    let users = h.members(6);
    let first = h.reconcile().await;
    assert_eq!(first.outcome, RunOutcome::Succeeded);
    assert!(first.attention.is_none());

    h.sim.register_app(
        h.src,
        h.tenant.client_id,
        &World::source_secret("Contoso"),
        &["GroupMember.Read.All"],
    );
    h.sim.remove_member(h.src, h.group, users[0]);
    let audit_before = h.store.list_audit(Some(h.src), 10_000).await.unwrap().len();

    let out = h.reconcile().await;
    assert_eq!(out.outcome, RunOutcome::Partial);
    let problem = out.attention.clone().unwrap_or_default();
    assert!(problem.contains("User.Read.All"), "{problem}");
    assert_eq!(out.counts.deprovisioned, 0);
    assert_eq!(out.counts.updated, 0);
    for u in &users {
        let g = h.guest(*u).await;
        assert_eq!(
            b(&g, "accountEnabled"),
            Some(true),
            "guest of {u} was touched"
        );
    }
    let audit_after = h.store.list_audit(Some(h.src), 10_000).await.unwrap().len();
    assert_eq!(audit_after, audit_before, "a write was made or attempted");

    let stats = Statistics::load(h.store.as_ref(), Utc::now())
        .await
        .unwrap();
    let item = stats
        .attention
        .iter()
        .find(|a| a.kind == AttentionKind::IncompleteRun)
        .expect("an incompleteRun attention item");
    assert!(
        item.error
            .as_deref()
            .unwrap_or("")
            .contains("User.Read.All"),
        "{item:?}"
    );

    // Consent is granted again: the leaver goes, the attention item too.
    h.sim.register_app(
        h.src,
        h.tenant.client_id,
        &World::source_secret("Contoso"),
        crate::support::perms::SOURCE_PERMS,
    );
    let healed = h.reconcile().await;
    assert_eq!(healed.outcome, RunOutcome::Succeeded);
    assert_eq!(healed.counts.deprovisioned, 1);
    let stats = Statistics::load(h.store.as_ref(), Utc::now())
        .await
        .unwrap();
    assert!(
        !stats
            .attention
            .iter()
            .any(|a| a.kind == AttentionKind::IncompleteRun),
        "{:?}",
        stats.attention
    );
}
