//! Tests of the planner: worked examples of each sync rule, and property
//! tests over random histories (source changes, partial applies that stop
//! anywhere, manual host edits, redemptions, pre-existing guests) run
//! through a tiny pure in-memory model of the host.
//!
//! - this file: fixtures (ids, users, a policy).
//! - [`model`]: the in-memory host, and the history driver the other tests
//!   step through.
//! - [`properties`]: the property tests over random histories.
//! - [`reconcile`]: worked examples of the reconcile plan and its guard.
//! - [`photos`]: the photo plan.
use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::domain::policy::TenantOptions;

mod anchor;
mod model;
mod photos;
mod properties;
mod reconcile;

const TENANT: u128 = 0xA0;

fn tenant() -> Guid {
    Guid::from_uuid(uuid::Uuid::from_u128(TENANT))
}
fn uid(i: u128) -> Guid {
    Guid::from_uuid(uuid::Uuid::from_u128(0x1000 + i))
}
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn user(i: u128, dept: &str, enabled: bool) -> SourceUser {
    let mut attrs = serde_json::Map::new();
    attrs.insert("displayName".into(), json!(format!("User {i}")));
    attrs.insert("jobTitle".into(), json!("Engineer"));
    attrs.insert("department".into(), json!(dept));
    attrs.insert("companyName".into(), json!("Contoso"));
    SourceUser {
        id: uid(i),
        upn: format!("u{i}@src.example"),
        mail: Some(format!("u{i}.m@src.example")),
        account_enabled: enabled,
        user_type: "Member".into(),
        attrs: attrs.into(),
        photo_etag: None,
    }
}

fn policy(now: DateTime<Utc>) -> PlanPolicy {
    PlanPolicy {
        options: TenantOptions::default(),
        deprovision: DeprovisionMode::Delete,
        max_deprovisions: MaxDeprovisions::Count(100),
        confirmed_deprovisions: None,
        now,
        anchor: None,
    }
}
