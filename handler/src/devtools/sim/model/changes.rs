//! The per-tenant change log behind delta queries (`/users/delta`,
//! `/groups/delta`): every user create, update, delete, restore and purge,
//! every manager change and every direct membership add or remove is
//! appended here, in order. A delta token is a position in this log (plus
//! the epoch it was issued in); the log is append-only, so a round can be
//! replayed from any position the tenant still honours.
use crate::domain::Guid;

/// One recorded change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// A user was created, updated, soft-deleted, restored or purged.
    User(Guid),
    /// A user's manager changed; `old` is the manager it had before.
    Manager { user: Guid, old: Option<Guid> },
    /// A direct member of `group` was added or removed (the group's current
    /// members tell which).
    Member { group: Guid, member: Guid },
    /// A group was created.
    Group(Guid),
}

/// A tenant's change log.
#[derive(Debug, Default)]
pub(crate) struct ChangeLog {
    pub entries: Vec<Change>,
    /// Bumped to invalidate every delta token issued so far.
    pub epoch: u64,
}

impl ChangeLog {
    pub fn push(&mut self, c: Change) {
        self.entries.push(c);
    }
    /// The position after the last change.
    pub fn position(&self) -> u64 {
        self.entries.len() as u64
    }
    /// The changes in `[from, until)` (clamped).
    pub fn window(&self, from: u64, until: u64) -> &[Change] {
        let len = self.entries.len();
        let a = (from as usize).min(len);
        let b = (until as usize).min(len).max(a);
        &self.entries[a..b]
    }
}
