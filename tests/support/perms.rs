//! The application permissions the simulated apps are granted: defined once
//! here, for every test area.
#![allow(dead_code)]

/// The host app (infra/README.md): invite guests and update them, plus
/// `GroupMember.ReadWrite.All`, which a deployment needs only with a host
/// group (`GUESTSYNC_HOST_GROUP_ID`); granted here so a test can set one.
pub const HOST_PERMS: &[&str] = &[
    "User.Invite.All",
    "User.ReadWrite.All",
    "GroupMember.ReadWrite.All",
];

/// A source tenant's app (infra/source-tenant/setup.sh): read the scope
/// group's members and the users, nothing broader.
pub const SOURCE_PERMS: &[&str] = &["GroupMember.Read.All", "User.Read.All"];

/// Every permission the Graph client's operations need, for tests that
/// exercise them all from one app (the host's, the source's, and photo
/// writes).
pub const ALL_PERMS: &[&str] = &[
    "GroupMember.Read.All",
    "User.Read.All",
    "User.Invite.All",
    "User.ReadWrite.All",
    "ProfilePhoto.ReadWrite.All",
    "GroupMember.ReadWrite.All",
];
