//! The whole simulated world: every tenant, the issued tokens, the throttle
//! buckets, the counters and the seeded random sources; and the operations
//! the routes and the Rust API make on it (tenants, apps, users, groups,
//! photos, deletion and restore, invitations and redemption).
use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};

use super::changes::Change;
use super::objects::{App, Group, NewUser, Photo, SimUser, TokenInfo, User};
use super::tenant::Tenant;
use super::{graph_time, SimError};
use crate::devtools::sim::counts::SimCounts;
use crate::devtools::sim::throttle::Buckets;
use crate::domain::Guid;

/// The whole simulated world.
pub(crate) struct World {
    pub tenants: HashMap<Guid, Tenant>,
    pub tokens: HashMap<String, TokenInfo>,
    /// Managed identities and the assertions they were issued
    /// (`model/identity.rs`).
    pub identity: super::identity::Identities,
    pub buckets: Buckets,
    pub counts: SimCounts,
    /// Ids, tokens, ETags, request ids.
    pub id_rng: SmallRng,
    /// Faults and latency jitter.
    pub fault_rng: SmallRng,
    /// Source generation.
    pub gen_rng: SmallRng,
}

impl World {
    pub fn new(seed: u64) -> Self {
        World {
            tenants: HashMap::new(),
            tokens: HashMap::new(),
            identity: Default::default(),
            buckets: Buckets::default(),
            counts: SimCounts::default(),
            id_rng: SmallRng::seed_from_u64(seed ^ 0x1d5_u64.rotate_left(40)),
            fault_rng: SmallRng::seed_from_u64(seed),
            gen_rng: SmallRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15),
        }
    }

    pub fn new_id(&mut self) -> Guid {
        let b: [u8; 16] = self.id_rng.gen();
        Guid::from_uuid(uuid::Builder::from_random_bytes(b).into_uuid())
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| format!("{:x}", self.id_rng.gen_range(0..16u8)))
            .collect()
    }

    pub fn tenant(&self, id: Guid) -> Result<&Tenant, SimError> {
        self.tenants.get(&id).ok_or(SimError::UnknownTenant(id))
    }
    pub fn tenant_mut(&mut self, id: Guid) -> Result<&mut Tenant, SimError> {
        self.tenants.get_mut(&id).ok_or(SimError::UnknownTenant(id))
    }

    /// Finds a tenant by id or by initial domain (token endpoint path).
    pub fn find_tenant(&self, key: &str) -> Option<Guid> {
        if let Ok(g) = Guid::parse_named(key, "tenant") {
            return self.tenants.contains_key(&g).then_some(g);
        }
        let k = key.to_lowercase();
        self.tenants
            .values()
            .find(|t| t.initial_domain == k)
            .map(|t| t.id)
    }

    pub fn add_tenant(&mut self, id: Guid, display_name: &str, initial_domain: &str) {
        match self.tenants.get_mut(&id) {
            Some(t) => {
                t.display_name = display_name.into();
                t.initial_domain = initial_domain.to_lowercase();
            }
            None => {
                self.tenants
                    .insert(id, Tenant::new(id, display_name, initial_domain));
            }
        }
    }

    pub fn register_app(
        &mut self,
        tenant: Guid,
        client_id: Guid,
        secret: &str,
        permissions: &[&str],
    ) -> Result<(), SimError> {
        let t = self.tenant_mut(tenant)?;
        t.apps.insert(
            client_id,
            App {
                secret: secret.into(),
                expired: false,
                permissions: permissions.iter().map(|p| p.to_string()).collect(),
                federated: Vec::new(),
                home: None,
            },
        );
        Ok(())
    }

    pub fn expire_app_secret(&mut self, tenant: Guid, client_id: Guid) -> Result<(), SimError> {
        let t = self.tenant_mut(tenant)?;
        let app = t
            .apps
            .get_mut(&client_id)
            .ok_or(SimError::UnknownApp { tenant, client_id })?;
        app.expired = true;
        Ok(())
    }

    pub fn photo_placeholders(&mut self, tenant: Guid, on: bool) -> Result<(), SimError> {
        self.tenant_mut(tenant)?.photo_placeholders = on;
        Ok(())
    }

    pub fn register_extension(
        &mut self,
        tenant: Guid,
        name: &str,
        read_only: bool,
    ) -> Result<(), SimError> {
        let t = self.tenant_mut(tenant)?;
        t.extension_properties.insert(name.to_ascii_lowercase());
        if read_only {
            t.read_only_extensions.insert(name.to_ascii_lowercase());
        } else {
            t.read_only_extensions.remove(&name.to_ascii_lowercase());
        }
        Ok(())
    }

    pub fn restrict_invitations(&mut self, tenant: Guid, on: bool) -> Result<(), SimError> {
        self.tenant_mut(tenant)?.restrict_invitations = on;
        Ok(())
    }

    pub fn create_user(&mut self, tenant: Guid, u: NewUser, now: f64) -> Result<Guid, SimError> {
        let id = self.new_id();
        let t = self.tenant_mut(tenant)?;
        if t.by_upn(&u.upn).is_some() {
            return Err(SimError::DuplicateUpn {
                tenant,
                upn: u.upn.clone(),
            });
        }
        let mut a = Map::new();
        a.insert("id".into(), Value::String(id.to_string()));
        a.insert("displayName".into(), Value::String(u.display_name.clone()));
        a.insert("userPrincipalName".into(), Value::String(u.upn.clone()));
        a.insert(
            "mail".into(),
            u.mail.clone().map(Value::String).unwrap_or(Value::Null),
        );
        a.insert("otherMails".into(), Value::Array(vec![]));
        a.insert("businessPhones".into(), Value::Array(vec![]));
        let (given, sur) = split_name(&u.display_name);
        a.insert("givenName".into(), Value::String(given));
        a.insert("surname".into(), Value::String(sur));
        for (k, v) in [
            ("jobTitle", &u.job_title),
            ("department", &u.department),
            ("companyName", &u.company_name),
        ] {
            a.insert(
                k.into(),
                v.clone().map(Value::String).unwrap_or(Value::Null),
            );
        }
        a.insert("accountEnabled".into(), Value::Bool(u.account_enabled));
        a.insert("userType".into(), Value::String(u.user_type.clone()));
        a.insert("creationType".into(), Value::Null);
        a.insert("externalUserState".into(), Value::Null);
        a.insert("externalUserStateChangeDateTime".into(), Value::Null);
        a.insert(
            "mailNickname".into(),
            Value::String(u.upn.split('@').next().unwrap_or_default().to_string()),
        );
        a.insert("createdDateTime".into(), Value::Null);
        for (k, v) in u.extra {
            a.insert(k, v);
        }
        t.insert_user(User {
            id,
            attrs: a,
            photo: None,
            created_at: now,
        });
        Ok(id)
    }

    /// Stamps `createdDateTime` (needs the clock, which World does not hold).
    pub fn stamp_created(&mut self, tenant: Guid, user: Guid, wall: DateTime<Utc>) {
        if let Ok(t) = self.tenant_mut(tenant) {
            if let Some(u) = t.users.get_mut(&user) {
                u.attrs
                    .insert("createdDateTime".into(), Value::String(graph_time(wall)));
            }
        }
    }

    pub fn create_group(&mut self, tenant: Guid, name: &str, now: f64) -> Result<Guid, SimError> {
        let id = self.new_id();
        let t = self.tenant_mut(tenant)?;
        t.groups.insert(
            id,
            Group {
                display_name: name.into(),
                members: BTreeSet::new(),
                created_at: now,
            },
        );
        t.changes.push(Change::Group(id));
        Ok(id)
    }

    /// Adds a direct member; `Ok(false)` when it already was one.
    pub fn add_member(
        &mut self,
        tenant: Guid,
        group: Guid,
        member: Guid,
    ) -> Result<bool, SimError> {
        let t = self.tenant_mut(tenant)?;
        if !t.users.contains_key(&member) && !t.groups.contains_key(&member) {
            return Err(SimError::UnknownMember { tenant, member });
        }
        let g = t
            .groups
            .get_mut(&group)
            .ok_or(SimError::UnknownGroup { tenant, group })?;
        let added = g.members.insert(member);
        if added {
            t.changes.push(Change::Member { group, member });
            t.invalidate_closures();
        }
        Ok(added)
    }

    /// Removes a direct member; `Ok(false)` when it was none.
    pub fn remove_member(
        &mut self,
        tenant: Guid,
        group: Guid,
        member: Guid,
    ) -> Result<bool, SimError> {
        let t = self.tenant_mut(tenant)?;
        let g = t
            .groups
            .get_mut(&group)
            .ok_or(SimError::UnknownGroup { tenant, group })?;
        let removed = g.members.remove(&member);
        if removed {
            t.changes.push(Change::Member { group, member });
            t.invalidate_closures();
        }
        Ok(removed)
    }

    pub fn update_user(
        &mut self,
        tenant: Guid,
        user: Guid,
        patch: Map<String, Value>,
    ) -> Result<(), SimError> {
        let t = self.tenant_mut(tenant)?;
        t.modify_user(user, |u| {
            for (k, v) in patch {
                if k == "id" {
                    continue;
                }
                u.attrs.insert(k, v);
            }
        })
        .ok_or(SimError::UnknownUser { tenant, user })
    }

    pub fn set_photo(
        &mut self,
        tenant: Guid,
        user: Guid,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), SimError> {
        let etag = format!("\"{}\"", self.hex(8).to_uppercase());
        let t = self.tenant_mut(tenant)?;
        let u = t
            .users
            .get_mut(&user)
            .ok_or(SimError::UnknownUser { tenant, user })?;
        u.photo = Some(Photo {
            etag,
            bytes,
            content_type: content_type.into(),
        });
        Ok(())
    }

    /// Removes the photo; `Ok(false)` when there was none.
    pub fn remove_photo(&mut self, tenant: Guid, user: Guid) -> Result<bool, SimError> {
        let t = self.tenant_mut(tenant)?;
        let u = t
            .users
            .get_mut(&user)
            .ok_or(SimError::UnknownUser { tenant, user })?;
        Ok(u.photo.take().is_some())
    }

    /// Soft delete: the user moves to deleted items.
    pub fn delete_user(
        &mut self,
        tenant: Guid,
        user: Guid,
        wall: DateTime<Utc>,
    ) -> Result<(), SimError> {
        let t = self.tenant_mut(tenant)?;
        let mut u = t
            .users
            .remove(&user)
            .ok_or(SimError::UnknownUser { tenant, user })?;
        t.unindex(&u);
        u.attrs
            .insert("deletedDateTime".into(), Value::String(graph_time(wall)));
        t.deleted.insert(user, u);
        // A deleted user leaves the member lists of its groups (and comes
        // back on restore): a membership change for each of them.
        t.changes.push(Change::User(user));
        for group in t.groups_with_member(user) {
            t.changes.push(Change::Member {
                group,
                member: user,
            });
        }
        t.invalidate_closures();
        Ok(())
    }

    /// Restores a soft-deleted user; `Err(DuplicateUpn)` when its UPN was taken meanwhile.
    pub fn restore_user(&mut self, tenant: Guid, user: Guid) -> Result<(), SimError> {
        let t = self.tenant_mut(tenant)?;
        let u = t
            .deleted
            .get(&user)
            .ok_or(SimError::UnknownUser { tenant, user })?;
        if let Some(upn) = u.s("userPrincipalName") {
            if t.by_upn(upn).is_some() {
                return Err(SimError::DuplicateUpn {
                    tenant,
                    upn: upn.to_string(),
                });
            }
        }
        if let Some(mut u) = t.deleted.remove(&user) {
            u.attrs.remove("deletedDateTime");
            t.insert_user(u);
            for group in t.groups_with_member(user) {
                t.changes.push(Change::Member {
                    group,
                    member: user,
                });
            }
        }
        t.invalidate_closures();
        Ok(())
    }

    pub fn redeem(&mut self, host: Guid, user: Guid, wall: DateTime<Utc>) -> Result<(), SimError> {
        // The home profile: a user of another tenant with the invited address.
        let address = {
            let t = self.tenant(host)?;
            let u = t
                .users
                .get(&user)
                .ok_or(SimError::UnknownUser { tenant: host, user })?;
            u.s("mail").map(str::to_string)
        };
        let home_name = address.as_deref().and_then(|a| {
            self.tenants
                .values()
                .filter(|t| t.id != host)
                .find_map(|t| {
                    let id = t.by_upn(a).or_else(|| t.by_mail(a).first().copied())?;
                    t.users.get(&id)?.s("displayName").map(str::to_string)
                })
        });
        let name = home_name.or_else(|| {
            address
                .as_deref()
                .and_then(|a| a.split('@').next())
                .map(str::to_string)
        });
        let t = self.tenant_mut(host)?;
        t.modify_user(user, |u| {
            u.attrs
                .insert("externalUserState".into(), Value::String("Accepted".into()));
            u.attrs.insert(
                "externalUserStateChangeDateTime".into(),
                Value::String(graph_time(wall)),
            );
            if let Some(n) = name {
                u.attrs.insert("displayName".into(), Value::String(n));
            }
        });
        Ok(())
    }

    /// Creates a guest as an invitation would (see "Invitations" in
    /// `docs/simulator.md`).
    pub fn create_guest(
        &mut self,
        host: Guid,
        mail: &str,
        display_name: &str,
        now: f64,
    ) -> Result<Guid, SimError> {
        self.create_invited(host, mail, display_name, "Guest", now, None)
    }

    pub fn create_invited(
        &mut self,
        host: Guid,
        address: &str,
        display_name: &str,
        user_type: &str,
        now: f64,
        wall: Option<DateTime<Utc>>,
    ) -> Result<Guid, SimError> {
        let domain = self.tenant(host)?.initial_domain.clone();
        let upn = format!("{}#EXT#@{}", address.replace('@', "_"), domain);
        let mut extra = Map::new();
        extra.insert(
            "otherMails".into(),
            Value::Array(vec![Value::String(address.into())]),
        );
        extra.insert(
            "externalUserState".into(),
            Value::String("PendingAcceptance".into()),
        );
        let stamp = wall
            .map(graph_time)
            .map(Value::String)
            .unwrap_or(Value::Null);
        extra.insert("externalUserStateChangeDateTime".into(), stamp.clone());
        extra.insert("createdDateTime".into(), stamp);
        extra.insert("creationType".into(), Value::String("Invitation".into()));
        extra.insert(
            "mailNickname".into(),
            Value::String(format!("{}#EXT#", address.replace('@', "_"))),
        );
        let nu = NewUser {
            display_name: display_name.into(),
            upn,
            mail: Some(address.into()),
            job_title: None,
            department: None,
            company_name: None,
            account_enabled: true,
            user_type: user_type.into(),
            extra,
        };
        self.create_user(host, nu, now)
    }

    /// A live user of `host` that an invitation of `address` would match.
    pub fn find_by_address(&self, host: Guid, address: &str) -> Option<Guid> {
        let t = self.tenants.get(&host)?;
        let ext = format!("{}#EXT#@{}", address.replace('@', "_"), t.initial_domain);
        t.by_mail(address)
            .first()
            .copied()
            .or_else(|| t.by_other_mail(address).first().copied())
            .or_else(|| t.by_upn(address))
            .or_else(|| t.by_upn(&ext))
    }

    pub fn sim_user(&self, tenant: Guid, user: Guid, deleted: bool) -> Option<SimUser> {
        let t = self.tenants.get(&tenant)?;
        let m = if deleted { &t.deleted } else { &t.users };
        m.get(&user).map(User::snapshot)
    }

    pub fn sim_users(&self, tenant: Guid, deleted: bool) -> Vec<SimUser> {
        let Some(t) = self.tenants.get(&tenant) else {
            return Vec::new();
        };
        let m = if deleted { &t.deleted } else { &t.users };
        m.values().map(User::snapshot).collect()
    }

    /// Permanently deletes a soft-deleted user; `false` when there was none.
    pub fn purge_user(&mut self, tenant: Guid, user: Guid) -> Result<bool, SimError> {
        let t = self.tenant_mut(tenant)?;
        let gone = t.deleted.remove(&user).is_some();
        if gone {
            t.changes.push(Change::User(user));
        }
        Ok(gone)
    }

    pub fn group_members(&self, tenant: Guid, group: Guid) -> Vec<Guid> {
        self.tenants
            .get(&tenant)
            .and_then(|t| t.groups.get(&group))
            .map(|g| g.members.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// "Given Family Name" -> ("Given", "Family Name").
fn split_name(n: &str) -> (String, String) {
    match n.split_once(' ') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (n.to_string(), String::new()),
    }
}
