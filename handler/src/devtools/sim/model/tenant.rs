//! One tenant's directory: app registrations, live and deleted users,
//! groups, the lookup indexes (UPN, mail, otherMails) kept right on every
//! change, and cached transitive group closures.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::changes::{Change, ChangeLog};
use super::objects::{App, Group, User};
use crate::domain::Guid;

pub(crate) struct Tenant {
    pub id: Guid,
    pub display_name: String,
    pub initial_domain: String,
    pub apps: HashMap<Guid, App>,
    pub restrict_invitations: bool,
    /// The policies `guest-sync doctor` reads (`model/policies.rs`).
    pub policies: super::SimPolicies,
    /// Photo-less users answer the photo metadata with Graph's placeholder
    /// (200, id `1x1`, an empty media ETag, `image/gif`) instead of 404,
    /// as users with an Exchange mailbox do.
    pub photo_placeholders: bool,
    /// Directory extension properties registered on an app of this tenant
    /// (`extension_<appId>_<name>`, lower case): only these can be written.
    pub extension_properties: std::collections::BTreeSet<String>,
    /// Registered extensions that PATCH refuses as read-only (as Graph does
    /// for attributes synced from on-premises), lower case.
    pub read_only_extensions: std::collections::BTreeSet<String>,
    pub users: BTreeMap<Guid, User>,
    pub deleted: BTreeMap<Guid, User>,
    pub groups: HashMap<Guid, Group>,
    /// `manager` of each user that has one (user -> manager).
    pub managers: HashMap<Guid, Guid>,
    /// `sponsors` of each user that has some (users or groups).
    pub sponsors: HashMap<Guid, BTreeSet<Guid>>,
    /// `owners` of each group that has some (users).
    pub owners: HashMap<Guid, BTreeSet<Guid>>,
    upn_idx: HashMap<String, Guid>,
    mail_idx: HashMap<String, Vec<Guid>>,
    other_idx: HashMap<String, Vec<Guid>>,
    proxy_idx: HashMap<String, Vec<Guid>>,
    /// Transitive live user members per group, sorted by id; cleared on any
    /// membership change, delete or restore in the tenant.
    closures: HashMap<Guid, Arc<Vec<Guid>>>,
    /// Every user, manager and membership change, for delta queries.
    pub changes: ChangeLog,
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
    pub(super) fn new(id: Guid, display_name: &str, initial_domain: &str) -> Self {
        Tenant {
            id,
            display_name: display_name.into(),
            initial_domain: initial_domain.to_lowercase(),
            apps: HashMap::new(),
            restrict_invitations: false,
            policies: Default::default(),
            photo_placeholders: false,
            extension_properties: Default::default(),
            read_only_extensions: Default::default(),
            users: BTreeMap::new(),
            deleted: BTreeMap::new(),
            groups: HashMap::new(),
            managers: HashMap::new(),
            sponsors: HashMap::new(),
            owners: HashMap::new(),
            upn_idx: HashMap::new(),
            mail_idx: HashMap::new(),
            other_idx: HashMap::new(),
            proxy_idx: HashMap::new(),
            closures: HashMap::new(),
            changes: ChangeLog::default(),
        }
    }

    fn index(&mut self, u: &User) {
        let k = u.index_keys();
        if let Some(upn) = k.upn {
            self.upn_idx.insert(upn, u.id);
        }
        for m in k.mail {
            idx_add(&mut self.mail_idx, m, u.id);
        }
        for m in k.other {
            idx_add(&mut self.other_idx, m, u.id);
        }
        for p in k.proxy {
            idx_add(&mut self.proxy_idx, p, u.id);
        }
    }
    pub(super) fn unindex(&mut self, u: &User) {
        let k = u.index_keys();
        if let Some(upn) = k.upn {
            if self.upn_idx.get(&upn) == Some(&u.id) {
                self.upn_idx.remove(&upn);
            }
        }
        for m in k.mail {
            idx_del(&mut self.mail_idx, &m, u.id);
        }
        for m in k.other {
            idx_del(&mut self.other_idx, &m, u.id);
        }
        for p in k.proxy {
            idx_del(&mut self.proxy_idx, &p, u.id);
        }
    }

    /// Inserts a live user and indexes it.
    pub fn insert_user(&mut self, u: User) {
        self.index(&u);
        self.changes.push(Change::User(u.id));
        self.users.insert(u.id, u);
    }

    /// Applies `f` to a live user, keeping the indexes right.
    pub fn modify_user<R>(&mut self, id: Guid, f: impl FnOnce(&mut User) -> R) -> Option<R> {
        let mut u = self.users.remove(&id)?;
        self.unindex(&u);
        let r = f(&mut u);
        self.index(&u);
        self.users.insert(id, u);
        self.changes.push(Change::User(id));
        Some(r)
    }

    /// Sets (Some) or clears (None) a user's manager, logging the change
    /// when there is one.
    pub fn set_manager(&mut self, user: Guid, manager: Option<Guid>) -> Option<Guid> {
        let old = match manager {
            Some(m) => self.managers.insert(user, m),
            None => self.managers.remove(&user),
        };
        if old != manager {
            self.changes.push(Change::Manager { user, old });
        }
        old
    }

    /// Groups having `member` as a direct member.
    pub fn groups_with_member(&self, member: Guid) -> Vec<Guid> {
        let mut v: Vec<Guid> = self
            .groups
            .iter()
            .filter(|(_, g)| g.members.contains(&member))
            .map(|(id, _)| *id)
            .collect();
        v.sort();
        v
    }

    /// Groups nested in `group` (its group members, transitively), sorted
    /// by id; `None` when the group does not exist.
    pub fn nested_groups(&self, group: Guid) -> Option<Vec<Guid>> {
        self.groups.get(&group)?;
        let mut seen = BTreeSet::new();
        let mut stack = vec![group];
        while let Some(g) = stack.pop() {
            if let Some(gr) = self.groups.get(&g) {
                for m in &gr.members {
                    if *m != group && self.groups.contains_key(m) && seen.insert(*m) {
                        stack.push(*m);
                    }
                }
            }
        }
        Some(seen.into_iter().collect())
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
    /// Users with this `proxyAddresses` entry (`SMTP:a@b`, any case).
    pub fn by_proxy_address(&self, proxy: &str) -> &[Guid] {
        self.proxy_idx
            .get(&proxy.to_lowercase())
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
