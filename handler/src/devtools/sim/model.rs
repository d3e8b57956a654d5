//! The simulator's in-memory directory: tenants, app registrations, users,
//! groups, deleted items, lookup indexes and cached transitive closures, plus
//! the simulated clock. Everything here is synchronous and runs under the one
//! `World` mutex; nothing awaits while it is held.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::counts::SimCounts;
use super::throttle::Buckets;
use crate::domain::Guid;

/// Why a control call on the simulator failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("tenant {0} is not known to the simulator")]
    UnknownTenant(Guid),
    #[error("app {client_id} is not registered in tenant {tenant}")]
    UnknownApp { tenant: Guid, client_id: Guid },
    #[error("user {user} does not exist in tenant {tenant}")]
    UnknownUser { tenant: Guid, user: Guid },
    #[error("group {group} does not exist in tenant {tenant}")]
    UnknownGroup { tenant: Guid, group: Guid },
    #[error("object {member} (neither a user nor a group) does not exist in tenant {tenant}")]
    UnknownMember { tenant: Guid, member: Guid },
    #[error("another user of tenant {tenant} already has userPrincipalName {upn:?}")]
    DuplicateUpn { tenant: Guid, upn: String },
}

impl SimError {
    /// The message without personal data (a UPN is replaced), for logs.
    pub fn log_safe(&self) -> String {
        match self {
            SimError::DuplicateUpn { tenant, .. } => {
                format!("another user of tenant {tenant} already has that userPrincipalName")
            }
            other => other.to_string(),
        }
    }
}

/// The simulated clock: scaled wall time since start plus manual advances.
pub(crate) struct Clock {
    start: Instant,
    start_wall: DateTime<Utc>,
    scale: f64,
    /// Manual advance in simulated seconds, as f64 bits.
    offset: AtomicU64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        Clock {
            start: Instant::now(),
            start_wall: Utc::now(),
            scale,
            offset: AtomicU64::new(0f64.to_bits()),
        }
    }
    /// Simulated seconds since start.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * self.scale
            + f64::from_bits(self.offset.load(Ordering::Relaxed))
    }
    pub fn advance(&self, secs: f64) {
        if !secs.is_finite() || secs <= 0.0 {
            return;
        }
        let _ = self
            .offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                Some((f64::from_bits(b) + secs).to_bits())
            });
    }
    pub fn scale(&self) -> f64 {
        self.scale
    }
    /// The simulated wall-clock time at simulated instant `now`.
    pub fn wall(&self, now: f64) -> DateTime<Utc> {
        let ms = (now * 1000.0).clamp(0.0, 1e15) as i64;
        self.start_wall + chrono::Duration::milliseconds(ms)
    }
}

/// RFC 3339 with seconds, `Z`, like Graph.
pub(crate) fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A user to create through the Rust or control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewUser {
    pub display_name: String,
    /// `userPrincipalName`.
    pub upn: String,
    pub mail: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub company_name: Option<String>,
    #[serde(default = "yes")]
    pub account_enabled: bool,
    /// `Member` or `Guest`.
    #[serde(default = "member")]
    pub user_type: String,
    /// Any further Graph attributes (camelCase names), merged last.
    #[serde(default)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}
fn member() -> String {
    "Member".into()
}

impl NewUser {
    /// An enabled member with only a name and UPN (mail = UPN).
    pub fn simple(display_name: &str, upn: &str) -> Self {
        NewUser {
            display_name: display_name.into(),
            upn: upn.into(),
            mail: Some(upn.into()),
            job_title: None,
            department: None,
            company_name: None,
            account_enabled: true,
            user_type: "Member".into(),
            extra: Map::new(),
        }
    }
}

/// A user as the Rust API shows it (a snapshot).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimUser {
    pub id: Guid,
    /// Graph attributes by their Graph names (displayName, mail, otherMails,
    /// userPrincipalName, userType, accountEnabled, externalUserState, ...).
    pub attributes: Map<String, Value>,
    /// `(media ETag, bytes)`.
    #[serde(skip)]
    pub photo: Option<(String, Vec<u8>)>,
}

impl SimUser {
    /// A string attribute, if set.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Photo {
    pub etag: String,
    pub bytes: Bytes,
    pub content_type: String,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: Guid,
    pub attrs: Map<String, Value>,
    pub photo: Option<Photo>,
    /// Simulated instant of creation (consistency window, photo cool-down).
    pub created_at: f64,
}

impl User {
    pub fn s(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).and_then(Value::as_str)
    }
    fn index_keys(&self) -> (Option<String>, Vec<String>, Vec<String>) {
        let upn = self.s("userPrincipalName").map(str::to_lowercase);
        let mail: Vec<String> = self.s("mail").map(str::to_lowercase).into_iter().collect();
        let other = self
            .attrs
            .get("otherMails")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        (upn, mail, other)
    }
    fn snapshot(&self) -> SimUser {
        SimUser {
            id: self.id,
            attributes: self.attrs.clone(),
            photo: self
                .photo
                .as_ref()
                .map(|p| (p.etag.clone(), p.bytes.to_vec())),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub display_name: String,
    /// Direct members: user or group ids.
    pub members: BTreeSet<Guid>,
    pub created_at: f64,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub secret: String,
    pub expired: bool,
    pub permissions: HashSet<String>,
}

/// What a bearer token stands for.
#[derive(Debug, Clone)]
pub(crate) struct TokenInfo {
    pub tenant: Guid,
    pub app: Guid,
    pub expires_at: f64,
}

pub(crate) struct Tenant {
    pub id: Guid,
    pub display_name: String,
    pub initial_domain: String,
    pub apps: HashMap<Guid, App>,
    pub restrict_invitations: bool,
    pub users: BTreeMap<Guid, User>,
    pub deleted: BTreeMap<Guid, User>,
    pub groups: HashMap<Guid, Group>,
    upn_idx: HashMap<String, Guid>,
    mail_idx: HashMap<String, Vec<Guid>>,
    other_idx: HashMap<String, Vec<Guid>>,
    /// Transitive live user members per group, sorted by id; cleared on any
    /// membership change, delete or restore in the tenant.
    closures: HashMap<Guid, Arc<Vec<Guid>>>,
}

fn idx_add(m: &mut HashMap<String, Vec<Guid>>, k: String, id: Guid) {
    let v = m.entry(k).or_default();
    if !v.contains(&id) {
        v.push(id);
    }
}
fn idx_del(m: &mut HashMap<String, Vec<Guid>>, k: &str, id: Guid) {
    if let Some(v) = m.get_mut(k) {
        v.retain(|x| *x != id);
        if v.is_empty() {
            m.remove(k);
        }
    }
}

impl Tenant {
    fn new(id: Guid, display_name: &str, initial_domain: &str) -> Self {
        Tenant {
            id,
            display_name: display_name.into(),
            initial_domain: initial_domain.to_lowercase(),
            apps: HashMap::new(),
            restrict_invitations: false,
            users: BTreeMap::new(),
            deleted: BTreeMap::new(),
            groups: HashMap::new(),
            upn_idx: HashMap::new(),
            mail_idx: HashMap::new(),
            other_idx: HashMap::new(),
            closures: HashMap::new(),
        }
    }

    fn index(&mut self, u: &User) {
        let (upn, mail, other) = u.index_keys();
        if let Some(upn) = upn {
            self.upn_idx.insert(upn, u.id);
        }
        for m in mail {
            idx_add(&mut self.mail_idx, m, u.id);
        }
        for m in other {
            idx_add(&mut self.other_idx, m, u.id);
        }
    }
    fn unindex(&mut self, u: &User) {
        let (upn, mail, other) = u.index_keys();
        if let Some(upn) = upn {
            if self.upn_idx.get(&upn) == Some(&u.id) {
                self.upn_idx.remove(&upn);
            }
        }
        for m in mail {
            idx_del(&mut self.mail_idx, &m, u.id);
        }
        for m in other {
            idx_del(&mut self.other_idx, &m, u.id);
        }
    }

    /// Inserts a live user and indexes it.
    pub fn insert_user(&mut self, u: User) {
        self.index(&u);
        self.users.insert(u.id, u);
    }

    /// Applies `f` to a live user, keeping the indexes right.
    pub fn modify_user<R>(&mut self, id: Guid, f: impl FnOnce(&mut User) -> R) -> Option<R> {
        let mut u = self.users.remove(&id)?;
        self.unindex(&u);
        let r = f(&mut u);
        self.index(&u);
        self.users.insert(id, u);
        Some(r)
    }

    pub fn by_upn(&self, upn: &str) -> Option<Guid> {
        self.upn_idx.get(&upn.to_lowercase()).copied()
    }
    pub fn by_mail(&self, mail: &str) -> &[Guid] {
        self.mail_idx
            .get(&mail.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    pub fn by_other_mail(&self, mail: &str) -> &[Guid] {
        self.other_idx
            .get(&mail.to_lowercase())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Resolves a `/users/{id|upn}` segment to a live user id.
    pub fn resolve_user(&self, key: &str) -> Option<Guid> {
        match Guid::parse_named(key, "user id") {
            Ok(g) => self.users.contains_key(&g).then_some(g),
            Err(_) => self.by_upn(key),
        }
    }

    pub fn invalidate_closures(&mut self) {
        self.closures.clear();
    }

    /// Live user members of `group`, transitively, sorted by id (cached).
    pub fn closure(&mut self, group: Guid) -> Option<Arc<Vec<Guid>>> {
        if let Some(c) = self.closures.get(&group) {
            return Some(c.clone());
        }
        if !self.groups.contains_key(&group) {
            return None;
        }
        let mut seen_groups = HashSet::new();
        let mut users = BTreeSet::new();
        let mut stack = vec![group];
        while let Some(g) = stack.pop() {
            if !seen_groups.insert(g) {
                continue;
            }
            if let Some(gr) = self.groups.get(&g) {
                for m in &gr.members {
                    if self.users.contains_key(m) {
                        users.insert(*m);
                    } else if self.groups.contains_key(m) {
                        stack.push(*m);
                    }
                }
            }
        }
        let c = Arc::new(users.into_iter().collect::<Vec<_>>());
        self.closures.insert(group, c.clone());
        Some(c)
    }

    /// The size tier used by the per app+tenant resource-unit budget.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

/// The whole simulated world.
pub(crate) struct World {
    pub tenants: HashMap<Guid, Tenant>,
    pub tokens: HashMap<String, TokenInfo>,
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
