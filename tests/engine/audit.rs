//! What the audit trail records about a guest: every write, photo writes
//! included, names the guest by its host UPN, so the dashboard's "Guest
//! (host UPN)" column shows a UPN rather than an object id.
use guest_sync::domain::Job;
use guest_sync::engine::Clock;
use guest_sync::report::{render_html, Statistics};

use super::H;

/// Photo copies and removals are audited under the guest's host UPN (from
/// its record), and the report's audit rows and the dashboard's "Guest
/// (host UPN)" cells show that UPN, not the object id.
#[tokio::test]
async fn photo_audit_entries_carry_the_guests_host_upn() {
    let h = H::fast().await;
    let users = h.members(2);
    for u in &users {
        h.sim.set_photo(h.src, *u, vec![1, 2, 3]);
    }
    h.reconcile().await;
    // An invitation's answer has no UPN; the record learns it with the
    // next change the reconcile job sees (here: the redemption).
    for u in &users {
        let host_id = h.record(*u).await.host_user_id.unwrap();
        h.sim.redeem(h.host, host_id);
    }
    h.reconcile().await;
    h.clock.advance_secs(301);
    assert_eq!(h.run(Job::Photos).await.counts.photos_copied, 2);
    h.sim.remove_photo(h.src, users[1]);
    assert_eq!(h.run(Job::Photos).await.counts.photos_removed, 1);

    let audit = h.store.list_audit(Some(h.src), 100).await.unwrap();
    let photo_ops: Vec<_> = audit
        .iter()
        .filter(|a| a.operation.starts_with("photo-"))
        .collect();
    assert_eq!(photo_ops.len(), 3, "{audit:?}");
    for a in &photo_ops {
        let user = a.source_user_id.unwrap();
        let upn = h
            .record(user)
            .await
            .host_upn
            .expect("a synced guest has a host UPN");
        assert_eq!(a.target_upn.as_deref(), Some(upn.as_str()), "{a:?}");
    }

    let stats = Statistics::load(h.store.as_ref(), h.clock.now())
        .await
        .unwrap();
    let html = render_html(&stats);
    for row in stats
        .recent_audit
        .iter()
        .filter(|r| r.operation.starts_with("photo-"))
    {
        let upn = row.target_upn.as_deref().expect("photo row without UPN");
        // The cells as the page's template writes them (escaped by maud),
        // up to the UPN (the source UPN may follow in the same cell).
        let cells = maud::html! { td { (row.operation) } td class="" { (row.outcome) } td.wrap { (upn) } }
            .into_string();
        let cells = cells.trim_end_matches("</td>");
        assert!(html.contains(&cells), "the dashboard lacks {cells}");
    }
}
