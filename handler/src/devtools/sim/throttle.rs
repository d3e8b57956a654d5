//! Graph's identity-and-access throttle budgets (`docs/graph-client.md`,
//! "Throttling budgets") as token
//! buckets in simulated time. A call is admitted only if every bucket it
//! touches holds enough; then all are charged. A refused call learns how
//! long the emptiest bucket needs to refill, and still counts against the
//! buckets that refused it (Graph: throttled requests count towards the
//! limit), down to 1.8 times the budget used, which is the highest
//! `x-ms-throttle-limit-percentage` Graph documents.
use std::collections::HashMap;

use crate::domain::Guid;

/// What one call costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Resource units (`docs/graph-client.md`, "Costs": GET users 2, group members 3,
    /// transitiveMembers 5, other GET 1, writes 1; `$select` takes 1 off).
    pub ru: u32,
    pub write: bool,
    pub invite: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    AppTenantRu(Guid, Guid),
    AppTenantWrites(Guid, Guid),
    AppRu(Guid),
    AppWrites(Guid),
    TenantWrites(Guid),
    TenantInvites(Guid),
    AppRequests(Guid),
}

impl Key {
    /// `(capacity, period in seconds)`.
    fn budget(&self, tenant_users: usize) -> (f64, f64) {
        match self {
            Key::AppTenantRu(..) => {
                let cap = if tenant_users < 50 {
                    3_500.0
                } else if tenant_users <= 500 {
                    5_000.0
                } else {
                    8_000.0
                };
                (cap, 10.0)
            }
            Key::AppTenantWrites(..) => (3_000.0, 150.0),
            Key::AppRu(_) => (150_000.0, 20.0),
            Key::AppWrites(_) => (35_000.0, 300.0),
            Key::TenantWrites(_) => (18_000.0, 300.0),
            Key::TenantInvites(_) => (150.0, 5.0),
            Key::AppRequests(_) => (130_000.0, 10.0),
        }
    }
    fn scope(&self) -> String {
        match self {
            Key::AppTenantRu(a, t) => format!("Tenant_Application/ResourceUnits/{a}/{t}"),
            Key::AppTenantWrites(a, t) => format!("Tenant_Application/ReadWrite/{a}/{t}"),
            Key::AppRu(a) => format!("Application/ResourceUnits/{a}"),
            Key::AppWrites(a) => format!("Application/ReadWrite/{a}"),
            Key::TenantWrites(t) => format!("Tenant/ReadWrite/{t}"),
            Key::TenantInvites(t) => format!("Tenant/Invitations/{t}"),
            Key::AppRequests(a) => format!("Application/Requests/{a}"),
        }
    }
    fn information(&self) -> &'static str {
        match self {
            Key::AppTenantRu(..) | Key::AppRu(_) => "ResourceUnitLimitExceeded",
            Key::AppTenantWrites(..) | Key::AppWrites(_) | Key::TenantWrites(_) => {
                "WriteLimitExceeded"
            }
            Key::TenantInvites(_) => "InvitationLimitExceeded",
            Key::AppRequests(_) => "RequestLimitExceeded",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: f64,
}

/// A refused call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Throttled {
    /// Simulated seconds until the call would be admitted.
    pub wait_secs: f64,
    /// `x-ms-throttle-scope`.
    pub scope: String,
    /// `x-ms-throttle-information`.
    pub information: &'static str,
    /// Share of the refusing budget used, refused calls included
    /// (1.0..=1.8), for `x-ms-throttle-limit-percentage`.
    pub used: f64,
}

/// The most of a budget Graph reports as used (180%).
pub(crate) const MAX_USED: f64 = 1.8;

/// All buckets, created full on first use.
#[derive(Debug, Default)]
pub(crate) struct Buckets {
    map: HashMap<Key, Bucket>,
}

impl Buckets {
    /// Admits or refuses one call of `app` in `tenant` at simulated `now`.
    /// `Ok` carries the highest share of a budget used after charging
    /// (for `x-ms-throttle-limit-percentage`).
    pub fn admit(
        &mut self,
        app: Guid,
        tenant: Guid,
        tenant_users: usize,
        cost: Cost,
        now: f64,
    ) -> Result<f64, Throttled> {
        let ru = f64::from(cost.ru);
        let mut wants: Vec<(Key, f64)> = vec![
            (Key::AppRequests(app), 1.0),
            (Key::AppTenantRu(app, tenant), ru),
            (Key::AppRu(app), ru),
        ];
        if cost.write {
            wants.push((Key::AppTenantWrites(app, tenant), 1.0));
            wants.push((Key::AppWrites(app), 1.0));
            wants.push((Key::TenantWrites(tenant), 1.0));
        }
        if cost.invite {
            wants.push((Key::TenantInvites(tenant), 1.0));
        }
        let mut worst: Option<Throttled> = None;
        let mut refusing: Vec<(Key, f64)> = Vec::new();
        for (k, n) in &wants {
            let (cap, period) = k.budget(tenant_users);
            let b = self.map.entry(*k).or_insert(Bucket {
                tokens: cap,
                last: now,
            });
            let dt = (now - b.last).max(0.0);
            b.tokens = (b.tokens + dt * cap / period).min(cap);
            b.last = b.last.max(now);
            if b.tokens + 1e-9 < *n {
                refusing.push((*k, *n));
                let wait = (*n - b.tokens) * period / cap;
                if worst.as_ref().is_none_or(|w| w.wait_secs < wait) {
                    worst = Some(Throttled {
                        wait_secs: wait,
                        scope: k.scope(),
                        information: k.information(),
                        used: 1.0,
                    });
                }
            }
        }
        if let Some(mut t) = worst {
            // The refused call counts too (never past 180% used).
            for (k, n) in refusing {
                let (cap, _) = k.budget(tenant_users);
                if let Some(b) = self.map.get_mut(&k) {
                    b.tokens = (b.tokens - n).max(cap * (1.0 - MAX_USED));
                    t.used = t.used.max(((cap - b.tokens) / cap).min(MAX_USED));
                }
            }
            return Err(t);
        }
        let mut used: f64 = 0.0;
        for (k, n) in &wants {
            let (cap, _) = k.budget(tenant_users);
            if let Some(b) = self.map.get_mut(k) {
                b.tokens -= n;
                used = used.max((cap - b.tokens) / cap);
            }
        }
        Ok(used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write() -> Cost {
        Cost {
            ru: 1,
            write: true,
            invite: false,
        }
    }

    /// 3,000 writes pass, the next waits about 1/20 s, and refill restores it.
    #[test]
    fn the_write_bucket_admits_3000_then_refuses_until_refilled() {
        let mut b = Buckets::default();
        let (a, t) = (Guid::new_v4(), Guid::new_v4());
        for _ in 0..3000 {
            assert!(b.admit(a, t, 10, write(), 0.0).is_ok());
        }
        let e = b.admit(a, t, 10, write(), 0.0).unwrap_err();
        assert!((e.wait_secs - 0.05).abs() < 1e-6, "{e:?}");
        assert_eq!(e.information, "WriteLimitExceeded");
        // The refused call counted: one more token of debt to refill.
        assert!(b.admit(a, t, 10, write(), 0.06).is_err());
        assert!(b.admit(a, t, 10, write(), 0.2).is_ok());
    }

    /// Hammering a throttled budget keeps it throttled: each refusal
    /// counts, the reported share climbs past 100% and stops at 180%.
    #[test]
    fn refused_calls_count_up_to_180_percent() {
        let mut b = Buckets::default();
        let (a, t) = (Guid::new_v4(), Guid::new_v4());
        for _ in 0..3000 {
            assert!(b.admit(a, t, 10, write(), 0.0).is_ok());
        }
        let first = b.admit(a, t, 10, write(), 0.0).unwrap_err();
        assert!(first.used > 1.0 && first.used < 1.01, "{first:?}");
        let mut last = first;
        for _ in 0..5000 {
            last = b.admit(a, t, 10, write(), 0.0).unwrap_err();
        }
        assert!((last.used - MAX_USED).abs() < 1e-9, "{last:?}");
        // 2,400 writes of debt at 20/s: two minutes before the next write.
        assert!(b.admit(a, t, 10, write(), 119.0).is_err());
        assert!(b.admit(a, t, 10, write(), 121.0).is_ok());
    }

    /// Invitations are limited to 150 per 5 s per tenant.
    #[test]
    fn invitations_stop_at_150_per_five_seconds() {
        let mut b = Buckets::default();
        let (a, t) = (Guid::new_v4(), Guid::new_v4());
        let inv = Cost {
            ru: 1,
            write: true,
            invite: true,
        };
        for _ in 0..150 {
            assert!(b.admit(a, t, 10, inv, 0.0).is_ok());
        }
        let e = b.admit(a, t, 10, inv, 0.0).unwrap_err();
        assert_eq!(e.information, "InvitationLimitExceeded");
    }

    /// The app+tenant resource-unit budget grows with the tenant's size tier.
    #[test]
    fn the_resource_unit_budget_follows_the_tenant_size_tier() {
        let read = Cost {
            ru: 5,
            write: false,
            invite: false,
        };
        for (users, cap) in [(10, 3_500), (200, 5_000), (5_000, 8_000)] {
            let mut b = Buckets::default();
            let (a, t) = (Guid::new_v4(), Guid::new_v4());
            let admitted = (0..2_000)
                .take_while(|_| b.admit(a, t, users, read, 0.0).is_ok())
                .count();
            assert_eq!(admitted, cap / 5, "{users} users");
        }
    }
}
