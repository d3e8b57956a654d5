//! The Graph routes: users (get, list/filter, PATCH, DELETE), photos, groups
//! and their (transitive) members, member `$ref` adds and removes,
//! invitations, deleted items and restore, organization, users' manager
//! and sponsors and groups' owners ([`relations`]), the tenant
//! policies `guest-sync doctor` reads. Each route checks
//! the app's permissions, the consistency window and validates its input the
//! way Graph does, and records applied writes in the counters.
//!
//! # Layout
//! - this file: the router ([`dispatch`]), the permission sets and the
//!   helpers every route uses.
//! - [`odata`]: `$select`, `$top`, `$count`, skip tokens and pages.
//! - [`users`]: the user routes (list, get, PATCH, DELETE).
//! - [`photos`]: the photo routes (`/users/{id}/photo`).
//! - [`groups`]: groups, (transitive) members, nested groups, member
//!   `$ref`s, `checkMemberGroups`.
//! - [`delta`]: `users/delta` and `groups/delta` from the change log.
//! - [`invitations`]: invitations (`POST /invitations`).
//! - [`directory`]: deleted items, restore, organization.
//! - [`policies`]: the authorization, photo update and cross-tenant access
//!   settings (`guest-sync doctor`).
use axum::http::Method;
use serde_json::{Map, Value};

use super::http::{Call, GReq, GResp};
use super::model::{Tenant, World};
use crate::domain::Guid;

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

mod delta;
mod directory;
mod groups;
mod invitations;
mod odata;
mod photos;
mod policies;
mod relations;
mod users;

use directory::{get_deleted, organization, purge_deleted, restore};
use groups::{
    add_member_ref, check_member_groups, get_group, members, nested_groups, remove_member_ref,
};
use invitations::invite;
use photos::{photo_delete, photo_meta, photo_put, photo_value};
use policies::{
    authorization_policy, cross_tenant_default, cross_tenant_partner, photo_update_settings,
};
use relations::{
    add_sponsor, delete_manager, get_manager, list_owners, list_sponsors, put_manager,
    remove_sponsor,
};
use users::{delete_user, get_user, list_users, patch_user};

const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_MEMBERS: &[&str] = &[
    "GroupMember.Read.All",
    "GroupMember.ReadWrite.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_USERS: &[&str] = &["User.ReadWrite.All", "Directory.ReadWrite.All"];
const INVITE: &[&str] = &[
    "User.Invite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const READ_PHOTO: &[&str] = &[
    "ProfilePhoto.Read.All",
    "ProfilePhoto.ReadWrite.All",
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const WRITE_PHOTO: &[&str] = &[
    "ProfilePhoto.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
];
const WRITE_MEMBERS: &[&str] = &[
    "GroupMember.ReadWrite.All",
    "Group.ReadWrite.All",
    "Directory.ReadWrite.All",
];

/// Routes one request (authenticated and admitted).
pub(crate) fn dispatch(w: &mut World, call: &Call<'_>, req: &GReq) -> GResp {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = &req.method;
    match (m, s.as_slice()) {
        (&Method::GET, ["users"]) => list_users(w, call, req, false),
        (&Method::GET, ["users", "delta"]) => delta::users_delta(w, call, req),
        (&Method::GET, ["groups", "delta"]) => delta::groups_delta(w, call, req),
        (&Method::POST, ["users", id, "checkMemberGroups"]) => {
            check_member_groups(w, call, req, id)
        }
        (&Method::GET, ["groups", id, "transitiveMembers", "microsoft.graph.group"]) => {
            nested_groups(w, call, req, id)
        }
        (&Method::GET, ["users", id]) => get_user(w, call, req, id),
        (&Method::PATCH, ["users", id]) => patch_user(w, call, req, id),
        (&Method::DELETE, ["users", id]) => delete_user(w, call, id),
        (&Method::GET, ["users", id, "manager"]) => get_manager(w, call, req, id),
        (&Method::PUT, ["users", id, "manager", "$ref"]) => put_manager(w, call, req, id),
        (&Method::DELETE, ["users", id, "manager", "$ref"]) => delete_manager(w, call, id),
        (&Method::GET, ["users", id, "sponsors"]) => list_sponsors(w, call, req, id),
        (&Method::POST, ["users", id, "sponsors", "$ref"]) => add_sponsor(w, call, req, id),
        (&Method::DELETE, ["users", id, "sponsors", sid, "$ref"]) => {
            remove_sponsor(w, call, id, sid)
        }
        (&Method::GET, ["groups", id, "owners"]) => list_owners(w, call, req, id),
        (&Method::GET, ["users", id, "photo"]) => photo_meta(w, call, id),
        (&Method::GET, ["users", id, "photo", "$value"]) => photo_value(w, call, id),
        (&Method::PUT | &Method::PATCH, ["users", id, "photo", "$value"]) => {
            photo_put(w, call, req, id)
        }
        (&Method::DELETE, ["users", id, "photo"] | ["users", id, "photo", "$value"]) => {
            photo_delete(w, call, id)
        }
        (&Method::GET, ["groups", id]) => get_group(w, call, id),
        (&Method::GET, ["groups", id, "members"]) => members(w, call, req, id, false),
        (&Method::GET, ["groups", id, "transitiveMembers", "microsoft.graph.user"]) => {
            members(w, call, req, id, true)
        }
        (&Method::GET, ["groups", id, "transitiveMembers"]) => members(w, call, req, id, true),
        (&Method::POST, ["groups", id, "members", "$ref"]) => add_member_ref(w, call, req, id),
        (&Method::DELETE, ["groups", gid, "members", mid, "$ref"]) => {
            remove_member_ref(w, call, gid, mid)
        }
        (&Method::POST, ["invitations"]) => invite(w, call, req),
        (&Method::GET, ["directory", "deletedItems", "microsoft.graph.user"]) => {
            list_users(w, call, req, true)
        }
        (&Method::GET, ["directory", "deletedItems", id]) => get_deleted(w, call, req, id),
        (&Method::DELETE, ["directory", "deletedItems", id]) => purge_deleted(w, call, id),
        (&Method::POST, ["directory", "deletedItems", id, "restore"]) => restore(w, call, id),
        (&Method::GET, ["organization"]) => organization(w, call),
        (&Method::GET, ["policies", "authorizationPolicy"]) => authorization_policy(w, call),
        (&Method::GET, ["policies", "crossTenantAccessPolicy", "default"]) => {
            cross_tenant_default(w, call)
        }
        (&Method::GET, ["policies", "crossTenantAccessPolicy", "partners", id]) => {
            cross_tenant_partner(w, call, id)
        }
        (&Method::GET, ["admin", "people", "photoUpdateSettings"]) => {
            photo_update_settings(w, call)
        }
        _ => match s.first() {
            Some(seg)
                if ![
                    "users",
                    "groups",
                    "invitations",
                    "directory",
                    "organization",
                    "policies",
                    "admin",
                ]
                .contains(seg) =>
            {
                GResp::bad_request(format!("Resource not found for the segment '{seg}'."))
            }
            _ => GResp::error(
                405,
                "Request_BadRequest",
                format!(
                    "The simulator does not support {} /v1.0/{}.",
                    req.method,
                    req.path()
                ),
            ),
        },
    }
}

fn tenant<'a>(w: &'a mut World, call: &Call<'_>) -> Result<&'a mut Tenant, GResp> {
    w.tenants.get_mut(&call.tenant).ok_or_else(|| {
        GResp::error(
            401,
            "InvalidAuthenticationToken",
            "Tenant no longer exists.",
        )
    })
}

/// Resolves a live user that is past the consistency window.
fn live_user(t: &Tenant, call: &Call<'_>, key: &str) -> Result<Guid, GResp> {
    let id = t.resolve_user(key).ok_or_else(|| GResp::not_found(key))?;
    match t.users.get(&id) {
        Some(u) if !call.fresh(u.created_at) => Ok(id),
        _ => Err(GResp::not_found(key)),
    }
}

fn json_body(req: &GReq) -> Result<Map<String, Value>, GResp> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GResp::error(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
        )),
    }
}
