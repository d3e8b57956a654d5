//! The daily secret expiry check against a real SQLite store and the local
//! secret source (the test world's).
use chrono::{Duration, TimeZone, Utc};
use guest_sync::domain::{Guid, SecretName, SourceTenant, TenantOptions};
use guest_sync::secrets::expiry::{check_secret_expiry, ExpiryLevel, SecretOwner};
use guest_sync::secrets::SecretString;

use crate::support::logs::Capture;
use crate::support::world::{World, HOST_SECRET_NAME};

fn tenant(id: &str, secret: &str) -> SourceTenant {
    SourceTenant {
        tenant_id: Guid::parse_named(id, "t").unwrap(),
        display_name: format!("T {secret}"),
        client_id: Guid::new_v4(),
        secret_name: Some(SecretName::parse(secret).unwrap()),
        credential: Default::default(),
        group_id: Guid::new_v4(),
        enabled: true,
        options: TenantOptions::default(),
        created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        secret_expires_at: None,
        guard: None,
        cross_tenant: None,
        delta: None,
    }
}

/// Each secret gets its level (ok, warning within 30 days, expired,
/// unreadable), expiry dates are recorded on the tenants, and warning and
/// expired secrets produce `secret_expiry` events naming tenant and secret.
#[tokio::test]
async fn expiry_check_classifies_records_and_logs() {
    let w = World::fast().await;
    let (store, secrets) = (w.store.as_ref(), w.secrets.as_ref());
    let now = Utc::now();
    let set = |n: &str, exp| {
        let n = SecretName::parse(n).unwrap();
        let s = secrets;
        async move {
            s.set(&n, &SecretString::new("v-expiry-test"), exp)
                .await
                .unwrap()
        }
    };
    set(HOST_SECRET_NAME, Some(now + Duration::days(200))).await;
    set(
        "soon-secret",
        Some(now + Duration::days(10) + Duration::hours(1)),
    )
    .await;
    set("past-secret", Some(now + Duration::days(400))).await;
    let a = tenant("aaaaaaaa-0000-4000-8000-000000000001", "soon-secret");
    let b = tenant("aaaaaaaa-0000-4000-8000-000000000002", "past-secret");
    let c = tenant("aaaaaaaa-0000-4000-8000-000000000003", "missing-secret");
    for t in [&a, &b, &c] {
        store.put_tenant(t).await.unwrap();
    }
    let settings = &w.settings;

    let (cap, _g) = Capture::scoped();
    let st = check_secret_expiry(store, secrets, settings, now).await;
    assert_eq!(st.len(), 4);
    assert_eq!(st[0].owner, SecretOwner::Host);
    assert_eq!(st[0].level, ExpiryLevel::Ok);
    let by = |id: Guid| {
        st.iter()
            .find(|s| s.owner == SecretOwner::Tenant(id))
            .unwrap()
    };
    assert_eq!(by(a.tenant_id).level, ExpiryLevel::Warning);
    assert_eq!(by(a.tenant_id).days_left, Some(10));
    assert_eq!(by(b.tenant_id).level, ExpiryLevel::Ok);
    assert_eq!(by(c.tenant_id).level, ExpiryLevel::Unreadable);
    assert!(by(c.tenant_id)
        .error
        .as_deref()
        .unwrap()
        .contains("missing-secret"));

    // Recorded on the tenants (c untouched).
    let a2 = store.get_tenant(a.tenant_id).await.unwrap().unwrap();
    assert_eq!(
        a2.secret_expires_at.map(|t| t.timestamp()),
        by(a.tenant_id).expires_on.map(|t| t.timestamp())
    );
    assert!(store
        .get_tenant(c.tenant_id)
        .await
        .unwrap()
        .unwrap()
        .secret_expires_at
        .is_none());

    // Later, b's secret is past expiry: level expired, event logged.
    let later = now + Duration::days(401);
    let st2 = check_secret_expiry(store, secrets, settings, later).await;
    let b_st = st2
        .iter()
        .find(|s| s.owner == SecretOwner::Tenant(b.tenant_id))
        .unwrap();
    assert_eq!(b_st.level, ExpiryLevel::Expired);
    assert!(b_st.days_left.unwrap() < 0);

    let events: Vec<_> = cap
        .events()
        .into_iter()
        .filter(|f| f["event"] == "secret_expiry")
        .collect();
    assert!(events.iter().any(|f| f["level"] == "warning"
        && f["tenant_id"] == a.tenant_id.to_string()
        && f["secret_name"] == "soon-secret"
        && f["days_left"] == 10));
    assert!(events
        .iter()
        .any(|f| f["level"] == "expired" && f["tenant_id"] == b.tenant_id.to_string()));
    assert!(!cap.text().contains("v-expiry-test"));
}
