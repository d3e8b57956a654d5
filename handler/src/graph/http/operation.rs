//! [`Operation`]: what a call does, the name errors and logs give it, and
//! the least-privileged permission it needs.

/// What a call does; names the operation in errors and the permission it
/// needs in [`GraphError::Forbidden`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `GET /groups/{id}/transitiveMembers/microsoft.graph.user`.
    ReadGroupMembers,
    /// `GET /groups/{id}`.
    GetGroup,
    /// `@odata.count` of the transitive user members.
    CountGroupMembers,
    /// `GET /users/{id or UPN}`.
    GetUser,
    /// `GET /users?$filter=` by address.
    FindUsers,
    /// `GET /users?$top=` (no filter): a look at the tenant's users.
    ListUsers,
    /// `GET /users?$filter=userType eq 'Guest'`.
    ListGuests,
    /// `GET /directory/deletedItems/microsoft.graph.user`.
    ListDeletedUsers,
    /// `POST /invitations`.
    Invite,
    /// `PATCH /users/{id}`.
    PatchUser,
    /// `DELETE /users/{id}`.
    DeleteUser,
    /// `POST /directory/deletedItems/{id}/restore`.
    RestoreUser,
    /// `GET /users/{id}/photo`.
    GetPhoto,
    /// `GET /users/{id}/photo/$value`.
    GetPhotoBytes,
    /// `PUT /users/{id}/photo/$value`.
    PutPhoto,
    /// `DELETE /users/{id}/photo/$value`.
    DeletePhoto,
    /// `POST /groups/{id}/members/$ref`.
    AddGroupMember,
    /// `POST /$batch` (the envelope; items carry their own operation).
    Batch,
    /// `GET /policies/...` (authorization and cross-tenant access
    /// policies; `guest-sync doctor`).
    ReadPolicy,
    /// `GET /admin/people/photoUpdateSettings` (beta; `guest-sync doctor`).
    ReadPeopleSettings,
    /// `GET /users?$select=id&$expand=manager($select=id)`: every user's
    /// manager id (source tenant).
    ListManagers,
    /// `GET /users/{id}/manager?$select=id`: one user's manager.
    GetManager,
    /// `GET /groups/{id}/owners`.
    ListGroupOwners,
    /// `PUT /users/{id}/manager/$ref`.
    SetManager,
    /// `DELETE /users/{id}/manager/$ref`.
    RemoveManager,
    /// `POST /users/{id}/sponsors/$ref`.
    AddSponsor,
    /// `DELETE /users/{id}/sponsors/{sponsorId}/$ref`.
    RemoveSponsor,
    /// `GET /users/delta`.
    UsersDelta,
    /// `GET /groups/delta`.
    GroupsDelta,
    /// `POST /users/{id}/checkMemberGroups`.
    CheckMemberGroups,
    /// `GET /groups/{id}/transitiveMembers/microsoft.graph.group`.
    ListNestedGroups,
}

impl Operation {
    /// A short name for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::ReadGroupMembers => "read group members",
            Operation::GetGroup => "get group",
            Operation::CountGroupMembers => "count group members",
            Operation::GetUser => "get user",
            Operation::FindUsers => "find users",
            Operation::ListUsers => "list users",
            Operation::ListGuests => "list guests",
            Operation::ListDeletedUsers => "list deleted users",
            Operation::Invite => "invite",
            Operation::PatchUser => "patch user",
            Operation::DeleteUser => "delete user",
            Operation::RestoreUser => "restore deleted user",
            Operation::GetPhoto => "get photo metadata",
            Operation::GetPhotoBytes => "get photo",
            Operation::PutPhoto => "put photo",
            Operation::DeletePhoto => "delete photo",
            Operation::AddGroupMember => "add group member",
            Operation::Batch => "$batch",
            Operation::ReadPolicy => "read policy",
            Operation::ReadPeopleSettings => "read photo update settings",
            Operation::ListManagers => "list managers",
            Operation::GetManager => "read a manager",
            Operation::ListGroupOwners => "list group owners",
            Operation::SetManager => "set manager",
            Operation::RemoveManager => "remove manager",
            Operation::AddSponsor => "add sponsor",
            Operation::RemoveSponsor => "remove sponsor",
            Operation::UsersDelta => "users delta",
            Operation::GroupsDelta => "groups delta",
            Operation::CheckMemberGroups => "check member groups",
            Operation::ListNestedGroups => "list nested groups",
        }
    }

    /// The least-privileged application permission the operation needs
    /// (`docs/graph-client.md`, "Permissions").
    pub fn permission(&self) -> Option<&'static str> {
        Some(match self {
            Operation::ReadGroupMembers | Operation::GetGroup | Operation::CountGroupMembers => {
                "GroupMember.Read.All"
            }
            Operation::GetUser
            | Operation::FindUsers
            | Operation::ListUsers
            | Operation::ListGuests
            | Operation::GetPhoto
            | Operation::GetPhotoBytes
            | Operation::ListManagers
            | Operation::GetManager
            | Operation::UsersDelta => "User.Read.All",
            Operation::ListGroupOwners
            | Operation::GroupsDelta
            | Operation::CheckMemberGroups
            | Operation::ListNestedGroups => "GroupMember.Read.All",
            Operation::SetManager
            | Operation::RemoveManager
            | Operation::AddSponsor
            | Operation::RemoveSponsor => "User.ReadWrite.All",
            Operation::ListDeletedUsers
            | Operation::PatchUser
            | Operation::DeleteUser
            | Operation::RestoreUser => "User.ReadWrite.All",
            Operation::Invite => "User.Invite.All",
            Operation::PutPhoto | Operation::DeletePhoto => "ProfilePhoto.ReadWrite.All",
            Operation::AddGroupMember => "GroupMember.ReadWrite.All",
            Operation::ReadPolicy => "Policy.Read.All",
            Operation::ReadPeopleSettings => "PeopleSettings.Read.All",
            Operation::Batch => return None,
        })
    }
}
