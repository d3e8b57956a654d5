//! The photo plan: ETags, removals and the cool-down.
use std::collections::HashMap;

use chrono::Duration;

use super::*;
use crate::domain::records::GuestState;

/// Photos: a changed ETag is copied, an unchanged one is not, a removed
/// photo is removed, and a guest inside the cool-down waits.
#[test]
fn photo_plan_follows_etags_and_cool_down() {
    let now = t0();
    let rec = |i: u128, etag: Option<&str>, age_min: i64| GuestRecord {
        source_tenant_id: tenant(),
        source_user_id: uid(i),
        source_upn: format!("u{i}@src.example"),
        source_mail: None,
        host_user_id: Some(uid(100 + i)),
        host_upn: None,
        state: GuestState::Invited,
        adopted: false,
        created_at: now - Duration::minutes(age_min),
        redeemed_at: None,
        deprovisioned_at: None,
        last_synced_at: None,
        profile_fingerprint: None,
        photo_etag: etag.map(str::to_string),
        photo_copied_at: None,
        last_error: None,
        anchored: false,
        relations: Default::default(),
    };
    let with_photo = |i: u128, e: Option<&str>| SourceUser {
        photo_etag: e.map(str::to_string),
        ..user(i, "", true)
    };
    let records = vec![
        rec(1, Some("a"), 60),
        rec(2, Some("a"), 60),
        rec(3, Some("a"), 60),
        rec(4, None, 1),
    ];
    let source = vec![
        with_photo(1, Some("b")),
        with_photo(2, Some("a")),
        with_photo(3, None),
        with_photo(4, Some("c")),
    ];
    let p = plan_photos(
        &source,
        &records,
        &HashMap::new(),
        &TenantOptions::default(),
        now,
    );
    assert_eq!(
        p.actions,
        vec![
            PhotoAction {
                source_user_id: uid(1),
                host_id: uid(101),
                kind: PhotoActionKind::Copy { etag: "b".into() }
            },
            PhotoAction {
                source_user_id: uid(3),
                host_id: uid(103),
                kind: PhotoActionKind::Remove
            },
        ]
    );
    assert_eq!(p.cooling_down, vec![uid(4)]);
    assert_eq!(p.unchanged, 1);
}
