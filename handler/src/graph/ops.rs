//! Typed operations on one tenant: the reads and writes the sync rules of
//! `docs/design.md` need (group members, users, guests, invitations, profile patches,
//! deletion and restore, photos, host group membership).
use bytes::Bytes;
use reqwest::Method;
use serde_json::{json, Map, Value};

use super::error::GraphError;
use super::http::{Body, Call, Operation, TenantGraph};
use super::models::{
    FirstPage, GraphGroup, GraphUser, Invitation, InviteRequest, PagedRead, Photo, PhotoMeta,
    GUEST_SELECT,
};
use super::pacing::Cost;
use crate::domain::Guid;

/// Quotes `s` as an OData string literal (`'` doubled).
pub fn odata_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The `$filter` of Microsoft's invitation pre-check: the address as UPN,
/// mail, SMTP proxy address or other mail.
pub fn address_filter(address: &str) -> String {
    let q = odata_quote(address);
    let smtp = odata_quote(&format!("SMTP:{address}"));
    format!(
        "userPrincipalName eq {q} or mail eq {q} or proxyAddresses/any(x:x eq {smtp}) or otherMails/any(x:x eq {q})"
    )
}

/// Read costs (`docs/graph-client.md`, "Costs"): `$select` takes one resource unit off.
fn read_cost(base: u32, selected: bool) -> Cost {
    Cost::read(if selected {
        base.saturating_sub(1).max(1)
    } else {
        base
    })
}

fn select_value(select: &[&str]) -> String {
    if select.contains(&"id") {
        select.join(",")
    } else {
        let mut v = vec!["id"];
        v.extend_from_slice(select);
        v.join(",")
    }
}

impl TenantGraph {
    fn call(&self, op: Operation, method: Method, url: url::Url, cost: Cost) -> Call {
        Call {
            op,
            method,
            url,
            body: Body::None,
            cost,
            eventual: false,
            object: None,
            max_body: None,
        }
    }

    fn members_call(&self, group: Guid, select: &[&str], top: u32) -> Call {
        let mut url = self.url(&[
            "groups",
            &group.to_string(),
            "transitiveMembers",
            "microsoft.graph.user",
        ]);
        url.query_pairs_mut()
            .append_pair("$select", &select_value(select))
            .append_pair("$top", &top.to_string())
            .append_pair("$count", "true");
        let mut c = self.call(
            Operation::ReadGroupMembers,
            Method::GET,
            url,
            read_cost(5, true),
        );
        c.eventual = true;
        c
    }

    /// Reads the transitive *user* members of `group` page by page (999 per
    /// page), handing each page to `on_page` (progress). The result says
    /// whether every page was read.
    pub async fn for_each_group_member_page<F>(
        &self,
        group: Guid,
        select: &[&str],
        on_page: F,
    ) -> PagedRead
    where
        F: FnMut(Vec<GraphUser>) + Send,
    {
        self.pages(self.members_call(group, select, 999), on_page)
            .await
    }

    /// All transitive user members of `group`, or the error (never a
    /// partial list).
    pub async fn group_user_members(
        &self,
        group: Guid,
        select: &[&str],
    ) -> Result<Vec<GraphUser>, GraphError> {
        self.all_pages(self.members_call(group, select, 999)).await
    }

    /// The first page (at most `top`) of the transitive user members of
    /// `group`, with Graph's count of all of them: a look at a group
    /// without reading it whole (the onboarding connection test).
    pub async fn group_members_first_page(
        &self,
        group: Guid,
        select: &[&str],
        top: u32,
    ) -> Result<FirstPage, GraphError> {
        self.first_page(self.members_call(group, select, top)).await
    }

    /// Up to `top` users of the tenant, one page, no filter: whether user
    /// attributes are readable at all (`User.Read.All`).
    pub async fn first_users(
        &self,
        select: &[&str],
        top: u32,
    ) -> Result<Vec<GraphUser>, GraphError> {
        let mut url = self.url(&["users"]);
        url.query_pairs_mut()
            .append_pair("$top", &top.to_string())
            .append_pair("$select", &select_value(select));
        let call = self.call(Operation::ListUsers, Method::GET, url, read_cost(2, true));
        Ok(self.first_page(call).await?.users)
    }

    /// The number of transitive user members of `group` (`@odata.count`).
    pub async fn count_group_user_members(&self, group: Guid) -> Result<u64, GraphError> {
        let call = self.members_call(group, &["id"], 1);
        let a = self.send(&call).await?;
        let v = a.json(call.op)?;
        v.get("@odata.count")
            .and_then(Value::as_u64)
            .ok_or_else(|| GraphError::InvalidResponse {
                what: "the member page has no @odata.count".into(),
                ctx: a.ctx(call.op),
            })
    }

    /// The group (`id,displayName` and `select`).
    pub async fn get_group(&self, group: Guid, select: &[&str]) -> Result<GraphGroup, GraphError> {
        let mut url = self.url(&["groups", &group.to_string()]);
        let mut sel = vec!["displayName"];
        sel.extend_from_slice(select);
        url.query_pairs_mut()
            .append_pair("$select", &select_value(&sel));
        let mut call = self.call(Operation::GetGroup, Method::GET, url, read_cost(1, true));
        call.object = Some(group);
        let a = self.send(&call).await?;
        let v = a.json(call.op)?;
        let u = GraphUser::from_value(v).map_err(|e| GraphError::InvalidResponse {
            what: e.replace("user", "group"),
            ctx: a.ctx(call.op),
        })?;
        Ok(GraphGroup {
            id: u.id,
            attrs: u.attrs,
        })
    }

    /// `GET /v1.0/policies/{path...}` (e.g. `authorizationPolicy`,
    /// `crossTenantAccessPolicy/partners/{id}`) as raw JSON; `NotFound`
    /// when Graph answers 404 (a partner without its own configuration).
    pub async fn get_policy(&self, path: &[&str]) -> Result<Value, GraphError> {
        let mut segs = vec!["policies"];
        segs.extend_from_slice(path);
        let call = self.call(
            Operation::ReadPolicy,
            Method::GET,
            self.url(&segs),
            Cost::read(1),
        );
        let a = self.send(&call).await?;
        a.json(call.op)
    }

    /// `GET /beta/admin/people/photoUpdateSettings` as raw JSON (the
    /// resource exists in the beta API only).
    pub async fn photo_update_settings(&self) -> Result<Value, GraphError> {
        let mut url = self.url(&["admin", "people", "photoUpdateSettings"]);
        let path = url.path().replacen("/v1.0/", "/beta/", 1);
        url.set_path(&path);
        let call = self.call(
            Operation::ReadPeopleSettings,
            Method::GET,
            url,
            Cost::read(1),
        );
        let a = self.send(&call).await?;
        a.json(call.op)
    }

    async fn get_user_at(
        &self,
        key: &str,
        object: Option<Guid>,
        select: &[&str],
    ) -> Result<GraphUser, GraphError> {
        let mut url = self.url(&["users", key]);
        url.query_pairs_mut()
            .append_pair("$select", &select_value(select));
        let mut call = self.call(Operation::GetUser, Method::GET, url, read_cost(2, true));
        call.object = object;
        let a = self.send(&call).await?;
        GraphUser::from_value(a.json(call.op)?).map_err(|e| GraphError::InvalidResponse {
            what: e,
            ctx: a.ctx(call.op),
        })
    }

    /// The user `id` with the `select`ed properties; `NotFound` when absent
    /// (after the fresh-object retries for users this client created).
    pub async fn get_user(&self, id: Guid, select: &[&str]) -> Result<GraphUser, GraphError> {
        self.get_user_at(&id.to_string(), Some(id), select).await
    }

    /// The user with this UPN, or None.
    pub async fn get_user_by_upn(
        &self,
        upn: &str,
        select: &[&str],
    ) -> Result<Option<GraphUser>, GraphError> {
        match self.get_user_at(upn, None, select).await {
            Ok(u) => Ok(Some(u)),
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Users whose mail, other mails or UPN equal `address` (adoption of
    /// existing guests). An advanced query: eventual consistency, `$count`.
    pub async fn find_users_by_address(
        &self,
        address: &str,
        select: &[&str],
    ) -> Result<Vec<GraphUser>, GraphError> {
        let mut url = self.url(&["users"]);
        url.query_pairs_mut()
            .append_pair("$filter", &address_filter(address))
            .append_pair("$select", &select_value(select))
            .append_pair("$count", "true");
        let mut call = self.call(Operation::FindUsers, Method::GET, url, read_cost(2, true));
        call.eventual = true;
        self.all_pages(call).await
    }

    fn guests_call(&self, select: &[&str]) -> Call {
        let mut url = self.url(&["users"]);
        let sel = if select.is_empty() {
            GUEST_SELECT
        } else {
            select
        };
        url.query_pairs_mut()
            .append_pair("$filter", "userType eq 'Guest'")
            .append_pair("$select", &select_value(sel))
            .append_pair("$top", "999")
            .append_pair("$count", "true");
        let mut call = self.call(Operation::ListGuests, Method::GET, url, read_cost(2, true));
        call.eventual = true;
        call
    }

    /// Reads every guest of the tenant page by page (`select` empty = the
    /// redemption and adoption properties, [`GUEST_SELECT`]).
    pub async fn for_each_guest_page<F>(&self, select: &[&str], on_page: F) -> PagedRead
    where
        F: FnMut(Vec<GraphUser>) + Send,
    {
        self.pages(self.guests_call(select), on_page).await
    }

    /// Every guest of the tenant, or the error.
    pub async fn list_guests(&self, select: &[&str]) -> Result<Vec<GraphUser>, GraphError> {
        self.all_pages(self.guests_call(select)).await
    }

    /// Users in the tenant's deleted items (restorable for 30 days).
    pub async fn list_deleted_users(&self, select: &[&str]) -> Result<Vec<GraphUser>, GraphError> {
        let mut url = self.url(&["directory", "deletedItems", "microsoft.graph.user"]);
        url.query_pairs_mut()
            .append_pair("$select", &select_value(select))
            .append_pair("$top", "999");
        let call = self.call(
            Operation::ListDeletedUsers,
            Method::GET,
            url,
            read_cost(1, true),
        );
        self.all_pages(call).await
    }

    /// Invites `req.email` as a guest without sending an e-mail. The new
    /// user's id is remembered as fresh (404s on it are retried).
    pub async fn invite(&self, req: &InviteRequest) -> Result<Invitation, GraphError> {
        let mut body = json!({
            "invitedUserEmailAddress": req.email,
            "inviteRedirectUrl": req.redirect_url,
            "sendInvitationMessage": false,
            "invitedUserType": if req.user_type.is_empty() { "Guest" } else { req.user_type.as_str() },
        });
        if let (Some(name), Some(o)) = (&req.display_name, body.as_object_mut()) {
            o.insert("invitedUserDisplayName".into(), Value::String(name.clone()));
        }
        let mut call = self.call(
            Operation::Invite,
            Method::POST,
            self.url(&["invitations"]),
            Cost::invite(),
        );
        call.body = Body::Json(body);
        let a = self.send(&call).await?;
        let v = a.json(call.op)?;
        let invalid = |what: &str| GraphError::InvalidResponse {
            what: what.to_string(),
            ctx: a.ctx(call.op),
        };
        let id = v
            .pointer("/invitedUser/id")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("the invitation answer has no invitedUser.id"))?;
        let user_id = Guid::parse_named(id, "invited user id")
            .map_err(|_| invalid("invitedUser.id is not a GUID"))?;
        self.client.remember_fresh(user_id);
        Ok(Invitation {
            user_id,
            status: v
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            redeem_url: v
                .get("inviteRedeemUrl")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    fn write_call(&self, op: Operation, method: Method, url: url::Url, object: Guid) -> Call {
        let mut c = self.call(op, method, url, Cost::write());
        c.object = Some(object);
        c
    }

    /// PATCHes the user's properties (only those in `patch`).
    pub async fn patch_user(&self, id: Guid, patch: &Map<String, Value>) -> Result<(), GraphError> {
        let mut call = self.write_call(
            Operation::PatchUser,
            Method::PATCH,
            self.url(&["users", &id.to_string()]),
            id,
        );
        call.body = Body::Json(Value::Object(patch.clone()));
        self.send(&call).await.map(|_| ())
    }

    /// Soft-deletes the user (restorable for 30 days).
    pub async fn delete_user(&self, id: Guid) -> Result<(), GraphError> {
        let call = self.write_call(
            Operation::DeleteUser,
            Method::DELETE,
            self.url(&["users", &id.to_string()]),
            id,
        );
        self.send(&call).await.map(|_| ())
    }

    /// Restores a soft-deleted user; it is then treated as fresh.
    pub async fn restore_deleted_user(&self, id: Guid) -> Result<(), GraphError> {
        let call = self.write_call(
            Operation::RestoreUser,
            Method::POST,
            self.url(&["directory", "deletedItems", &id.to_string(), "restore"]),
            id,
        );
        self.send(&call).await?;
        self.client.remember_fresh(id);
        Ok(())
    }

    /// Photo metadata, or None when the user has no photo.
    pub async fn photo_meta(&self, user: Guid) -> Result<Option<PhotoMeta>, GraphError> {
        let mut call = self.call(
            Operation::GetPhoto,
            Method::GET,
            self.url(&["users", &user.to_string(), "photo"]),
            Cost::read(1),
        );
        call.object = Some(user);
        let a = match self.send(&call).await {
            Ok(a) => a,
            Err(GraphError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let v = a.json(call.op)?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        // A user without a photo may answer 200 with Graph's placeholder
        // (id "1x1", an empty media ETag, image/gif): no photo.
        let placeholder = v.get("id").and_then(Value::as_str) == Some("1x1")
            || s("@odata.mediaEtag").is_some_and(|e| e.trim().is_empty());
        if placeholder {
            return Ok(None);
        }
        Ok(Some(PhotoMeta {
            media_etag: s("@odata.mediaEtag"),
            content_type: s("@odata.mediaContentType"),
            width: v.get("width").and_then(Value::as_u64),
            height: v.get("height").and_then(Value::as_u64),
        }))
    }

    /// The photo's bytes, or None when the user has no photo.
    pub async fn photo(&self, user: Guid) -> Result<Option<Photo>, GraphError> {
        let mut call = self.call(
            Operation::GetPhotoBytes,
            Method::GET,
            self.url(&["users", &user.to_string(), "photo", "$value"]),
            Cost::read(1),
        );
        call.object = Some(user);
        call.max_body = Some(super::MAX_PHOTO_BYTES);
        match self.send(&call).await {
            Ok(a) => Ok(Some(Photo {
                oversize: a.oversize,
                content_type: a
                    .headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("image/jpeg")
                    .to_string(),
                bytes: a.body,
            })),
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the user's photo (at most 4 MB).
    pub async fn put_photo(
        &self,
        user: Guid,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), GraphError> {
        let mut call = self.write_call(
            Operation::PutPhoto,
            Method::PUT,
            self.url(&["users", &user.to_string(), "photo", "$value"]),
            user,
        );
        call.body = Body::Bytes(bytes, content_type.to_string());
        self.send(&call).await.map(|_| ())
    }

    /// Removes the user's photo; a user without photo is fine.
    pub async fn delete_photo(&self, user: Guid) -> Result<(), GraphError> {
        let call = self.write_call(
            Operation::DeletePhoto,
            Method::DELETE,
            self.url(&["users", &user.to_string(), "photo", "$value"]),
            user,
        );
        match self.send(&call).await {
            Ok(_) | Err(GraphError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The `@odata.id` of a directory object, for `$ref` bodies.
    pub(crate) fn directory_object_ref(&self, id: Guid) -> String {
        self.url(&["directoryObjects", &id.to_string()]).to_string()
    }

    /// Adds `member` to `group`; already being a member is success.
    pub async fn add_group_member(&self, group: Guid, member: Guid) -> Result<(), GraphError> {
        let mut call = self.write_call(
            Operation::AddGroupMember,
            Method::POST,
            self.url(&["groups", &group.to_string(), "members", "$ref"]),
            member,
        );
        call.body = Body::Json(json!({ "@odata.id": self.directory_object_ref(member) }));
        match self.send(&call).await {
            Ok(_) => Ok(()),
            Err(e) if is_already_member(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The sponsors and manager relations (`docs/engine.md`, "Sponsors and
/// managers").
impl TenantGraph {
    /// Every user's manager (`GET /users?$select=id&$expand=manager($select=id)`,
    /// 999 per page), handed to `on_page` as `(user, manager)` pairs. A plain
    /// query (no `$count`, no `ConsistencyLevel`): Microsoft documents
    /// `$expand=manager` on the user list, not on a group's transitive
    /// members, and not together with advanced queries.
    pub async fn for_each_user_manager_page<F>(&self, mut on_page: F) -> PagedRead
    where
        F: FnMut(Vec<(Guid, Option<Guid>)>) + Send,
    {
        let mut url = self.url(&["users"]);
        url.query_pairs_mut()
            .append_pair("$select", "id")
            .append_pair("$expand", "manager($select=id)")
            .append_pair("$top", "999");
        let call = self.call(
            Operation::ListManagers,
            Method::GET,
            url,
            read_cost(2, true),
        );
        self.pages(call, |page| {
            on_page(
                page.into_iter()
                    .map(|u| {
                        let m = u
                            .attrs
                            .get("manager")
                            .and_then(|m| m.get("id"))
                            .and_then(Value::as_str)
                            .and_then(|s| Guid::parse_named(s, "manager id").ok());
                        (u.id, m)
                    })
                    .collect(),
            )
        })
        .await
    }

    /// `user`'s manager (`GET /users/{id}/manager?$select=id`); None when
    /// it has none (Graph answers 404).
    pub async fn manager_id(&self, user: Guid) -> Result<Option<Guid>, GraphError> {
        let mut url = self.url(&["users", &user.to_string(), "manager"]);
        url.query_pairs_mut().append_pair("$select", "id");
        let call = self.call(Operation::GetManager, Method::GET, url, read_cost(1, false));
        match self.send(&call).await {
            Ok(answer) => Ok(answer
                .json(Operation::GetManager)?
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| Guid::parse_named(s, "manager id").ok())),
            Err(GraphError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The owners of `group` (object ids). Microsoft Graph v1.0 lists users
    /// as group owners (service principals are not listed there).
    pub async fn group_owner_ids(&self, group: Guid) -> Result<Vec<Guid>, GraphError> {
        let mut url = self.url(&["groups", &group.to_string(), "owners"]);
        url.query_pairs_mut()
            .append_pair("$select", "id")
            .append_pair("$top", "999");
        let call = self.call(
            Operation::ListGroupOwners,
            Method::GET,
            url,
            read_cost(1, true),
        );
        Ok(self
            .all_pages(call)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect())
    }

    /// The `@odata.id` of a user, for the manager and sponsor `$ref` bodies
    /// (Microsoft's examples use the user's read URL).
    fn user_ref(&self, id: Guid) -> String {
        self.url(&["users", &id.to_string()]).to_string()
    }

    /// Sets `user`'s manager (`PUT /users/{id}/manager/$ref`).
    pub async fn set_manager(&self, user: Guid, manager: Guid) -> Result<(), GraphError> {
        let mut call = self.write_call(
            Operation::SetManager,
            Method::PUT,
            self.url(&["users", &user.to_string(), "manager", "$ref"]),
            user,
        );
        call.body = Body::Json(json!({ "@odata.id": self.user_ref(manager) }));
        self.send(&call).await.map(|_| ())
    }

    /// Removes `user`'s manager; no manager is success.
    pub async fn remove_manager(&self, user: Guid) -> Result<(), GraphError> {
        let call = self.write_call(
            Operation::RemoveManager,
            Method::DELETE,
            self.url(&["users", &user.to_string(), "manager", "$ref"]),
            user,
        );
        match self.send(&call).await {
            Ok(_) | Err(GraphError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Adds `sponsor` to `user`'s sponsors; already a sponsor is success.
    pub async fn add_sponsor(&self, user: Guid, sponsor: Guid) -> Result<(), GraphError> {
        let mut call = self.write_call(
            Operation::AddSponsor,
            Method::POST,
            self.url(&["users", &user.to_string(), "sponsors", "$ref"]),
            user,
        );
        call.body = Body::Json(json!({ "@odata.id": self.user_ref(sponsor) }));
        match self.send(&call).await {
            Ok(_) => Ok(()),
            Err(e) if is_already_member(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Removes `sponsor` from `user`'s sponsors (the `$ref` only, never the
    /// sponsor object); not a sponsor is success.
    pub async fn remove_sponsor(&self, user: Guid, sponsor: Guid) -> Result<(), GraphError> {
        let call = self.write_call(
            Operation::RemoveSponsor,
            Method::DELETE,
            self.url(&[
                "users",
                &user.to_string(),
                "sponsors",
                &sponsor.to_string(),
                "$ref",
            ]),
            user,
        );
        match self.send(&call).await {
            Ok(_) | Err(GraphError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Graph's 400 "One or more added object references already exist".
pub(crate) fn is_already_member(e: &GraphError) -> bool {
    matches!(e, GraphError::Permanent { detail, ctx } if ctx.status == Some(400) && detail.to_ascii_lowercase().contains("already exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quotes are doubled so an address cannot break out of the literal.
    #[test]
    fn odata_literals_double_quotes() {
        assert_eq!(odata_quote("o'brien@x.com"), "'o''brien@x.com'");
        assert_eq!(
            address_filter("a'b@c.d"),
            "userPrincipalName eq 'a''b@c.d' or mail eq 'a''b@c.d' or proxyAddresses/any(x:x eq 'SMTP:a''b@c.d') or otherMails/any(x:x eq 'a''b@c.d')"
        );
    }

    /// $select always includes id.
    #[test]
    fn select_always_has_id() {
        assert_eq!(select_value(&["mail"]), "id,mail");
        assert_eq!(select_value(&["id", "mail"]), "id,mail");
    }
}
