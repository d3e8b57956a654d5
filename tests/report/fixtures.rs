//! Record builders for the report tests: tenants, guests, runs and audit
//! entries with fixed times, so statistics are reproducible.
use chrono::{DateTime, Duration, TimeZone, Utc};
use guest_sync::domain::{
    AuditEntry, GuardHold, GuestRecord, GuestState, Guid, Job, RunCounts, RunOutcome, RunRecord,
    SecretName, SourceTenant, TenantOptions,
};

/// The fixed "now" of every report test.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()
}

/// A deterministic GUID from two numbers.
pub fn gid(a: u32, b: u32) -> Guid {
    format!("{a:08x}-0000-4000-8000-{b:012x}").parse().unwrap()
}

/// An enabled tenant whose secret expires in `secret_days` days.
pub fn tenant(n: u32, name: &str, secret_days: Option<i64>) -> SourceTenant {
    SourceTenant {
        tenant_id: gid(n, 0),
        display_name: name.to_string(),
        client_id: gid(n, 1),
        secret_name: Some(SecretName::parse("source-app-secret").unwrap()),
        credential: Default::default(),
        group_id: gid(n, 2),
        enabled: true,
        options: TenantOptions::default(),
        created_at: now() - Duration::days(90),
        secret_expires_at: secret_days.map(|d| now() + Duration::days(d)),
        guard: None,
        cross_tenant: None,
        delta: None,
    }
}

/// A tripped, unconfirmed deprovision guard.
pub fn guard() -> Option<GuardHold> {
    Some(GuardHold {
        tripped_at: now() - Duration::hours(3),
        wanted: 120,
        limit: 50,
        confirmed: false,
    })
}

/// Guest number `n` of tenant `t` in `state`; accepted guests redeemed
/// `n % 5` days ago.
pub fn guest(t: &SourceTenant, n: u32, state: GuestState) -> GuestRecord {
    let tn = t.tenant_id.as_uuid().as_fields().0;
    GuestRecord {
        source_tenant_id: t.tenant_id,
        source_user_id: gid(tn, 1_000_000 + n),
        source_upn: format!("user{n}@source{tn}.example"),
        source_mail: None,
        host_user_id: Some(gid(tn, 2_000_000 + n)),
        host_upn: Some(format!("user{n}_source{tn}.example#EXT#@host.example")),
        state,
        adopted: n % 7 == 3,
        created_at: now() - Duration::days(30),
        redeemed_at: (state == GuestState::Accepted)
            .then(|| now() - Duration::days(i64::from(n % 5)) - Duration::hours(2)),
        deprovisioned_at: (state == GuestState::Deprovisioned).then(|| now() - Duration::days(1)),
        last_synced_at: Some(now() - Duration::hours(1)),
        profile_fingerprint: None,
        photo_etag: None,
        photo_copied_at: None,
        last_error: (state == GuestState::Failed)
            .then(|| format!("invite failed: 400 BadRequest for guest {n}")),
        anchored: false,
        relations: Default::default(),
    }
}

/// A run of `job` for `t`, started `hours_ago`, with counts.
pub fn run(
    t: &SourceTenant,
    job: Job,
    hours_ago: i64,
    outcome: RunOutcome,
    created: u64,
    updated: u64,
    deprovisioned: u64,
) -> RunRecord {
    let started = now() - Duration::hours(hours_ago);
    RunRecord {
        run_id: uuid::Uuid::new_v4(),
        job,
        source_tenant_id: t.tenant_id,
        started_at: started,
        finished_at: Some(started + Duration::minutes(5)),
        outcome,
        counts: RunCounts {
            created,
            updated,
            deprovisioned,
            ..RunCounts::default()
        },
        error: (outcome == RunOutcome::Failed)
            .then(|| "reading the source group failed: 401 invalid_client".to_string()),
        dry_run: false,
        parked: false,
    }
}

/// An audit entry for `t`, `minutes_ago`.
pub fn audit(t: &SourceTenant, minutes_ago: i64, op: &str, upn: &str) -> AuditEntry {
    AuditEntry {
        at: now() - Duration::minutes(minutes_ago),
        run_id: uuid::Uuid::new_v4(),
        source_tenant_id: t.tenant_id,
        source_user_id: None,
        target_id: None,
        target_upn: Some(upn.to_string()),
        operation: op.to_string(),
        outcome: "ok".to_string(),
        detail: Some("displayName, jobTitle".to_string()),
        client_request_id: None,
    }
}
