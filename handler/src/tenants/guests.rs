//! Guest-level administration: hand a guest that a host administrator took
//! over (disabled or deleted: state `held`) back to the engine.
//!
//! The engine never undoes what a host administrator did to one of its
//! guests (incident response wins over sync). Releasing says "sync it
//! again": a guest the administrator disabled becomes `disabled` (as if the
//! engine had disabled it), so the next reconcile enables it when its
//! source user is enabled; a deleted one becomes `deprovisioned` now, so
//! the next reconcile restores it (within 30 days) or invites again. The
//! next reconcile is a full read (the release changed nothing in Graph).
use chrono::{DateTime, Utc};

use crate::domain::{GuestRecord, GuestState, Guid};
use crate::store::Store;

use super::OnboardingError;

/// Hands the held guest of source user `user` of tenant `tenant` back to
/// the engine; returns the record as stored.
pub async fn release_guest(
    store: &dyn Store,
    tenant: Guid,
    user: Guid,
    now: DateTime<Utc>,
) -> Result<GuestRecord, OnboardingError> {
    let Some(mut t) = store.get_tenant(tenant).await? else {
        return Err(OnboardingError::NotRegistered(tenant));
    };
    let Some(mut r) = store.get_guest(tenant, user).await? else {
        return Err(OnboardingError::NoGuest { tenant, user });
    };
    if r.state != GuestState::Held {
        return Err(OnboardingError::NotHeld {
            user,
            state: r.state.as_str(),
        });
    }
    if r.deprovisioned_at.is_some() {
        r.state = GuestState::Deprovisioned;
        r.deprovisioned_at = Some(now);
    } else {
        r.state = GuestState::Disabled;
    }
    r.last_error = None;
    store.put_guest(&r).await?;
    // Nothing changed in Graph, so an incremental reconcile would not look
    // at this guest: the next reconcile reads whole.
    if let Some(d) = t.delta.as_mut().filter(|d| d.active.is_some()) {
        d.active = None;
        store.put_tenant(&t).await?;
    }
    tracing::info!(tenant_id = %tenant, source_user_id = %user, state = r.state.as_str(), "held guest released to the engine");
    Ok(r)
}
