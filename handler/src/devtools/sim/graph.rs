//! The Graph routes: users (get, list/filter, PATCH, DELETE), photos, groups
//! and their (transitive) members, member `$ref` adds and removes,
//! invitations, deleted items and restore, organization. Each route checks
//! the app's permissions, the consistency window and validates its input the
//! way Graph does, and records applied writes in the counters.
use base64::Engine;
use serde_json::{json, Map, Value};

use super::http::{Call, GBody, GReq, GResp};
use super::model::{Tenant, World};
use super::query::{self, Filter};
use crate::domain::Guid;
use axum::http::Method;

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

/// Largest photo Graph accepts.
const MAX_PHOTO: usize = 4 * 1024 * 1024;

/// Routes one request (authenticated and admitted).
pub(crate) fn dispatch(w: &mut World, call: &Call<'_>, req: &GReq) -> GResp {
    let s: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = &req.method;
    match (m, s.as_slice()) {
        (&Method::GET, ["users"]) => list_users(w, call, req, false),
        (&Method::GET, ["users", "delta"]) => {
            GResp::bad_request("The simulator does not implement delta queries.")
        }
        (&Method::GET, ["users", id]) => get_user(w, call, req, id),
        (&Method::PATCH, ["users", id]) => patch_user(w, call, req, id),
        (&Method::DELETE, ["users", id]) => delete_user(w, call, id),
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
        _ => match s.first() {
            Some(seg)
                if ![
                    "users",
                    "groups",
                    "invitations",
                    "directory",
                    "organization",
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

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

/// Resolves a live user that is past the consistency window.
fn live_user(t: &Tenant, call: &Call<'_>, key: &str) -> Result<Guid, GResp> {
    let id = t.resolve_user(key).ok_or_else(|| GResp::not_found(key))?;
    match t.users.get(&id) {
        Some(u) if !call.fresh(u.created_at) => Ok(id),
        _ => Err(GResp::not_found(key)),
    }
}

fn select(req: &GReq) -> Result<Option<Vec<String>>, GResp> {
    query::parse_select(req.q("select")).map_err(|p| {
        GResp::bad_request(format!(
            "Could not find a property named '{p}' on type 'microsoft.graph.user'."
        ))
    })
}

fn top(req: &GReq, default: usize) -> Result<usize, GResp> {
    match req.q("top") {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=999).contains(&n) => Ok(n),
            _ => Err(GResp::bad_request(format!(
                "Invalid page size specified: '{v}'. Must be between 1 and 999 inclusive."
            ))),
        },
    }
}

fn eventual(req: &GReq) -> bool {
    req.header("consistencylevel")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

fn count_requested(req: &GReq) -> bool {
    req.q("count")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

const SKIP_PREFIX: &str = "sim1:";

fn encode_skip(after: Guid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{SKIP_PREFIX}{after}"))
}

fn decode_skip(req: &GReq) -> Result<Option<Guid>, GResp> {
    let Some(tok) = req.q("skiptoken") else {
        return Ok(None);
    };
    let bad = || GResp::bad_request(format!("Invalid skip token '{tok}'."));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(tok.trim())
        .map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    let id = s.strip_prefix(SKIP_PREFIX).ok_or_else(bad)?;
    Guid::parse_named(id, "skiptoken")
        .map(Some)
        .map_err(|_| bad())
}

/// Characters kept as they are in path segments and query values of a nextLink.
const LINK_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'$')
    .remove(b',')
    .remove(b'@');

/// `@odata.nextLink`: the same request with a new `$skiptoken`.
fn next_link(call: &Call<'_>, req: &GReq, after: Guid) -> String {
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, LINK_SET).to_string();
    let mut q: Vec<String> = req
        .query
        .iter()
        .filter(|(k, _)| !k.trim_start_matches('$').eq_ignore_ascii_case("skiptoken"))
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    q.push(format!("$skiptoken={}", encode_skip(after)));
    let path: Vec<String> = req.segs.iter().map(|s| enc(s)).collect();
    format!("{}/v1.0/{}?{}", call.base, path.join("/"), q.join("&"))
}

fn context(what: &str) -> Value {
    Value::String(format!("https://graph.microsoft.com/v1.0/$metadata#{what}"))
}

/// A page: `@odata.context`, optional `@odata.count`, optional `@odata.nextLink`, `value`.
fn page(ctx: &str, items: Vec<Value>, count: Option<usize>, next: Option<String>) -> GResp {
    let mut m = Map::new();
    m.insert("@odata.context".into(), context(ctx));
    if let Some(c) = count {
        m.insert("@odata.count".into(), json!(c));
    }
    if let Some(n) = next {
        m.insert("@odata.nextLink".into(), Value::String(n));
    }
    m.insert("value".into(), Value::Array(items));
    GResp::json(200, Value::Object(m))
}

/// `GET /users` (or deleted items) with `$filter`, `$select`, `$top`, `$count`, paging.
fn list_users(w: &mut World, call: &Call<'_>, req: &GReq, deleted: bool) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let n = tri!(top(req, 100));
    let after = tri!(decode_skip(req));
    let filter: Option<Filter> = match req.q("filter") {
        None => None,
        Some(f) => match query::parse_filter(f) {
            Ok(f) => Some(f),
            // The reason may quote addresses: it is not logged.
            Err(_) => return GResp::unsupported_query(),
        },
    };
    let want_count = count_requested(req);
    if want_count && !eventual(req) {
        return GResp::unsupported_query();
    }
    let t = tri!(tenant(w, call));
    let map = if deleted { &t.deleted } else { &t.users };
    let cands = if deleted {
        None
    } else {
        filter.as_ref().and_then(|f| query::candidates(f, t))
    };
    let matches = |u: &super::model::User| filter.as_ref().is_none_or(|f| query::eval(f, u));
    let mut items = Vec::new();
    let mut last = None;
    let mut more = false;
    let mut total = None;
    match cands {
        Some(mut ids) => {
            ids.sort();
            ids.dedup();
            let all: Vec<Guid> = ids
                .into_iter()
                .filter(|id| map.get(id).is_some_and(&matches))
                .collect();
            if want_count {
                total = Some(all.len());
            }
            for id in all.into_iter().filter(|id| after.is_none_or(|a| *id > a)) {
                if items.len() == n {
                    more = true;
                    break;
                }
                if let Some(u) = map.get(&id) {
                    items.push(query::render_user(u, sel.as_deref()));
                    last = Some(id);
                }
            }
        }
        None => {
            if want_count {
                total = Some(map.values().filter(|u| matches(u)).count());
            }
            let range = match after {
                Some(a) => map.range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
                None => map.range(..),
            };
            for (id, u) in range {
                if !matches(u) {
                    continue;
                }
                if items.len() == n {
                    more = true;
                    break;
                }
                items.push(query::render_user(u, sel.as_deref()));
                last = Some(*id);
            }
        }
    }
    let next = match (more, last) {
        (true, Some(l)) => Some(next_link(call, req, l)),
        _ => None,
    };
    let ctx = if deleted {
        "directory/deletedItems/microsoft.graph.user"
    } else {
        "users"
    };
    page(ctx, items, total, next)
}

fn get_user(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let Some(u) = t.users.get(&id) else {
        return GResp::not_found(key);
    };
    let mut v = query::render_user(u, sel.as_deref());
    if let Value::Object(m) = &mut v {
        m.insert("@odata.context".into(), context("users/$entity"));
    }
    GResp::json(200, v)
}

/// Writable user properties with Graph's length limits (0 = no string).
const PATCHABLE: &[(&str, usize)] = &[
    ("displayName", 256),
    ("givenName", 64),
    ("surname", 64),
    ("jobTitle", 128),
    ("department", 64),
    ("companyName", 64),
    ("officeLocation", 128),
    ("mobilePhone", 64),
    ("preferredLanguage", 64),
    ("employeeId", 16),
    ("employeeType", 64),
    ("city", 128),
    ("country", 128),
    ("state", 128),
    ("streetAddress", 1024),
    ("postalCode", 40),
    ("usageLocation", 2),
    ("mail", 256),
    ("mailNickname", 64),
    ("userPrincipalName", 113),
    ("userType", 16),
    ("faxNumber", 64),
];
const READ_ONLY: &[&str] = &[
    "id",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "createdDateTime",
    "creationType",
    "deletedDateTime",
];

fn invalid_value(p: &str) -> GResp {
    GResp::bad_request(format!(
        "Invalid value specified for property '{p}' of resource 'User'."
    ))
}

/// Validates a PATCH body against Graph's rules.
fn validate_patch(body: &Map<String, Value>) -> Result<(), GResp> {
    for (k, v) in body {
        if READ_ONLY.contains(&k.as_str()) {
            return Err(GResp::bad_request(format!(
                "Property '{k}' is read-only and cannot be set."
            )));
        }
        if let Some((_, max)) = PATCHABLE.iter().find(|(p, _)| p == k) {
            match v {
                Value::String(s) if k == "displayName" && s.trim().is_empty() => {
                    return Err(invalid_value(k))
                }
                Value::String(s) if s.chars().count() > *max => return Err(invalid_value(k)),
                Value::String(_) => {}
                Value::Null if k != "displayName" && k != "userPrincipalName" => {}
                _ => return Err(invalid_value(k)),
            }
            continue;
        }
        match k.as_str() {
            "accountEnabled" => {
                if !v.is_boolean() {
                    return Err(invalid_value(k));
                }
            }
            "otherMails" | "businessPhones" | "proxyAddresses" => {
                if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
                    return Err(invalid_value(k));
                }
            }
            "onPremisesExtensionAttributes" => {
                if !v.is_object() {
                    return Err(invalid_value(k));
                }
            }
            k if k.starts_with("extension_") => {}
            _ => {
                return Err(GResp::bad_request(format!(
                    "Property '{k}' does not exist on type 'microsoft.graph.user'."
                )))
            }
        }
    }
    Ok(())
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

fn patch_user(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    tri!(validate_patch(&body));
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    if let Some(upn) = body.get("userPrincipalName").and_then(Value::as_str) {
        if t.by_upn(upn).is_some_and(|o| o != id) {
            return GResp::bad_request(
                "Another object with the same value for property userPrincipalName already exists.",
            );
        }
    }
    t.modify_user(id, |u| {
        for (k, v) in body {
            if k == "onPremisesExtensionAttributes" {
                let cur = u
                    .attrs
                    .entry(k)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let (Value::Object(c), Value::Object(n)) = (cur, v) {
                    for (a, b) in n {
                        c.insert(a, b);
                    }
                }
            } else {
                u.attrs.insert(k, v);
            }
        }
    });
    w.counts.applied("patch", id);
    GResp::empty(204)
}

fn delete_user(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let Some(id) = t.resolve_user(key) else {
        return GResp::not_found(key);
    };
    let tid = t.id;
    match w.delete_user(tid, id, call.wall) {
        Ok(()) => {
            w.counts.applied("delete", id);
            GResp::empty(204)
        }
        Err(_) => GResp::not_found(key),
    }
}

fn image_not_found() -> GResp {
    GResp::error(
        404,
        "ImageNotFound",
        "Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.",
    )
}

fn photo_meta(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(READ_PHOTO) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    match t.users.get(&id).and_then(|u| u.photo.as_ref()) {
        None => image_not_found(),
        Some(p) => GResp::json(
            200,
            json!({
                "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/photo/$entity"),
                "@odata.mediaContentType": p.content_type,
                "@odata.mediaEtag": p.etag,
                "id": "240X240",
                "height": 240,
                "width": 240,
            }),
        ),
    }
}

fn photo_value(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(READ_PHOTO) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    match t.users.get(&id).and_then(|u| u.photo.as_ref()) {
        None => image_not_found(),
        Some(p) => GResp {
            status: 200,
            headers: vec![("ETag".into(), p.etag.clone())],
            body: GBody::Bytes {
                content_type: p.content_type.clone(),
                data: p.bytes.clone(),
            },
        },
    }
}

fn photo_put(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_PHOTO) {
        return GResp::forbidden();
    }
    let ct = req
        .header("content-type")
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if ct != "image/jpeg" && ct != "image/png" {
        return GResp::error(
            400,
            "ErrorInvalidRequest",
            format!("The photo content type '{ct}' is not supported; use image/jpeg or image/png."),
        );
    }
    if req.body.is_empty() {
        return GResp::error(400, "ErrorInvalidRequest", "The photo is empty.");
    }
    if req.body.len() > MAX_PHOTO {
        return GResp::error(
            400,
            "ErrorInvalidRequest",
            format!(
                "The photo is {} bytes; the largest photo Graph accepts is 4 MB.",
                req.body.len()
            ),
        );
    }
    let cooldown = call.dynamic.photo_cooldown_secs as f64;
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    if let Some(u) = t.users.get(&id) {
        if u.s("userType") == Some("Guest") && call.now - u.created_at < cooldown {
            // Real Graph answers this while the guest's profile store is not
            // provisioned yet; see docs/simulator.md.
            return GResp::error(
                404,
                "ResourceNotFound",
                format!("The profile of user '{id}' is not ready for a photo yet; retry later (new guests cannot take a photo during the first minutes)."),
            );
        }
    }
    let tid = t.id;
    match w.set_photo(tid, id, req.body.clone(), &ct) {
        Ok(()) => {
            w.counts.applied("photo_put", id);
            GResp::empty(200)
        }
        Err(_) => GResp::not_found(key),
    }
}

fn photo_delete(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_PHOTO) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let tid = t.id;
    match w.remove_photo(tid, id) {
        Ok(true) => {
            w.counts.applied("photo_delete", id);
            GResp::empty(204)
        }
        Ok(false) => image_not_found(),
        Err(_) => GResp::not_found(key),
    }
}

fn group_id(t: &Tenant, call: &Call<'_>, key: &str) -> Result<Guid, GResp> {
    let id = Guid::parse_named(key, "group id")
        .map_err(|_| GResp::bad_request(format!("Invalid object identifier '{key}'.")))?;
    match t.groups.get(&id) {
        Some(g) if !call.fresh(g.created_at) => Ok(id),
        _ => Err(GResp::not_found(key)),
    }
}

fn get_group(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(READ_MEMBERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(group_id(t, call, key));
    let Some(g) = t.groups.get(&id) else {
        return GResp::not_found(key);
    };
    GResp::json(
        200,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#groups/$entity",
            "id": id.to_string(),
            "displayName": g.display_name,
            "description": null,
            "mail": null,
            "mailEnabled": false,
            "mailNickname": g.display_name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>(),
            "securityEnabled": true,
            "groupTypes": [],
            "createdDateTime": null,
        }),
    )
}

/// `GET /groups/{id}/members` (direct) or `.../transitiveMembers[/microsoft.graph.user]`.
fn members(w: &mut World, call: &Call<'_>, req: &GReq, key: &str, transitive: bool) -> GResp {
    if !call.has(READ_MEMBERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let n = tri!(top(req, 100));
    let after = tri!(decode_skip(req));
    let cast = req.segs.len() == 4;
    let want_count = count_requested(req);
    if (cast || want_count) && !eventual(req) {
        return GResp::unsupported_query();
    }
    if req.q("filter").is_some() {
        return GResp::unsupported_query();
    }
    let full = call.has(READ_USERS);
    let t = tri!(tenant(w, call));
    let gid = tri!(group_id(t, call, key));
    // (id, is_user) in id order.
    let list: Vec<(Guid, bool)> = if transitive {
        match t.closure(gid) {
            Some(c) => c.iter().map(|id| (*id, true)).collect(),
            None => return GResp::not_found(key),
        }
    } else {
        t.groups
            .get(&gid)
            .map(|g| {
                g.members
                    .iter()
                    .filter_map(|m| {
                        if t.users.contains_key(m) {
                            Some((*m, true))
                        } else if t.groups.contains_key(m) {
                            Some((*m, false))
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let start = match after {
        Some(a) => list.partition_point(|(id, _)| *id <= a),
        None => 0,
    };
    let end = (start + n).min(list.len());
    let mut items = Vec::with_capacity(end - start);
    for (id, is_user) in &list[start..end] {
        if *is_user {
            let Some(u) = t.users.get(id) else { continue };
            let mut v = if full {
                query::render_user(u, sel.as_deref())
            } else {
                json!({"id": id.to_string()})
            };
            if let Value::Object(m) = &mut v {
                if !cast {
                    m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                }
            }
            items.push(v);
        } else if let Some(g) = t.groups.get(id) {
            items.push(json!({"@odata.type": "#microsoft.graph.group", "id": id.to_string(), "displayName": g.display_name}));
        }
    }
    let next = (end < list.len() && end > start).then(|| next_link(call, req, list[end - 1].0));
    let ctx = if cast { "users" } else { "directoryObjects" };
    page(ctx, items, want_count.then_some(list.len()), next)
}

/// The object id at the end of `{"@odata.id": ".../directoryObjects/{id}"}`.
fn ref_target(body: &Map<String, Value>) -> Option<Guid> {
    let s = body.get("@odata.id")?.as_str()?;
    let last = s.trim_end_matches('/').rsplit('/').next()?;
    let last = last
        .trim_start_matches("directoryObjects(")
        .trim_start_matches("users(")
        .trim_end_matches(')')
        .trim_matches('\'');
    Guid::parse_named(last, "member id").ok()
}

fn add_member_ref(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_MEMBERS) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    let Some(member) = ref_target(&body) else {
        return GResp::bad_request(
            "Invalid URL format specified in @odata.bind for members; expected .../directoryObjects/{id}.",
        );
    };
    let t = tri!(tenant(w, call));
    let gid = tri!(group_id(t, call, key));
    let fresh_user = t.users.get(&member).map(|u| call.fresh(u.created_at));
    match fresh_user {
        Some(false) => {}
        Some(true) => return GResp::not_found(&member.to_string()),
        None if t.groups.contains_key(&member) => {}
        None => return GResp::not_found(&member.to_string()),
    }
    if t.groups
        .get(&gid)
        .is_some_and(|g| g.members.contains(&member))
    {
        return GResp::bad_request(
            "One or more added object references already exist for the following modified properties: 'members'.",
        );
    }
    let tid = t.id;
    match w.add_member(tid, gid, member) {
        Ok(_) => {
            w.counts.applied("member_add", member);
            GResp::empty(204)
        }
        Err(_) => GResp::not_found(&member.to_string()),
    }
}

fn remove_member_ref(w: &mut World, call: &Call<'_>, gkey: &str, mkey: &str) -> GResp {
    if !call.has(WRITE_MEMBERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let gid = tri!(group_id(t, call, gkey));
    let Ok(member) = Guid::parse_named(mkey, "member id") else {
        return GResp::not_found(mkey);
    };
    let tid = t.id;
    match w.remove_member(tid, gid, member) {
        Ok(true) => {
            w.counts.applied("member_remove", member);
            GResp::empty(204)
        }
        _ => GResp::not_found(mkey),
    }
}

fn invite(w: &mut World, call: &Call<'_>, req: &GReq) -> GResp {
    if !call.has(INVITE) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim);
    let Some(address) = s("invitedUserEmailAddress").filter(|a| {
        a.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !a.contains(' '))
    }) else {
        return GResp::error(
            400,
            "BadRequest",
            "The invitedUserEmailAddress is missing or is not a valid e-mail address.",
        );
    };
    let Some(redirect) = s("inviteRedirectUrl").filter(|r| !r.is_empty()) else {
        return GResp::error(400, "BadRequest", "The inviteRedirectUrl is required.");
    };
    let user_type = s("invitedUserType").unwrap_or("Guest");
    if user_type != "Guest" && user_type != "Member" {
        return GResp::error(
            400,
            "BadRequest",
            format!("invitedUserType '{user_type}' is invalid; use Guest or Member."),
        );
    }
    let send = body
        .get("sendInvitationMessage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let t = tri!(tenant(w, call));
    if t.restrict_invitations {
        return GResp::error(
            403,
            "Authorization_RequestDenied",
            "Guest invitations not allowed for your company. The host tenant's external collaboration settings restrict invitations to administrators and the Guest Inviter role, so app-only invitations are refused; an administrator must allow invitations (Entra ID > External Identities > External collaboration settings).",
        );
    }
    let tenant_id = t.id;
    let local = address.split('@').next().unwrap_or(address);
    let display = s("invitedUserDisplayName")
        .filter(|d| !d.is_empty())
        .unwrap_or(local)
        .to_string();
    let (uid, created) = match w.find_by_address(tenant_id, address) {
        Some(id) => (id, false),
        None => match w.create_invited(
            tenant_id,
            address,
            &display,
            user_type,
            call.now,
            Some(call.wall),
        ) {
            Ok(id) => (id, true),
            Err(e) => return GResp::bad_request(e.to_string()),
        },
    };
    if created {
        w.counts.applied("invite", uid);
    }
    let state = w
        .tenants
        .get(&tenant_id)
        .and_then(|t| t.users.get(&uid))
        .and_then(|u| u.s("externalUserState").map(str::to_string));
    let status = if state.as_deref() == Some("Accepted") {
        "Completed"
    } else {
        "PendingAcceptance"
    };
    let inv_id = w.new_id();
    let ticket = w.hex(32);
    GResp::json(
        201,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#invitations/$entity",
            "id": inv_id.to_string(),
            "inviteRedeemUrl": format!("https://login.microsoftonline.com/redeem?rd=https%3a%2f%2finvitations.microsoft.com%2fredeem%2f%3ftenant%3d{tenant_id}%26user%3d{uid}%26ticket%3d{ticket}"),
            "invitedUserDisplayName": display,
            "invitedUserType": user_type,
            "invitedUserEmailAddress": address,
            "sendInvitationMessage": send,
            "resetRedemption": false,
            "inviteRedirectUrl": redirect,
            "status": status,
            "invitedUserMessageInfo": {
                "messageLanguage": null,
                "ccRecipients": [{"emailAddress": {"name": null, "address": null}}],
                "customizedMessageBody": null
            },
            "invitedUser": {"id": uid.to_string()}
        }),
    )
}

fn deleted_id(t: &Tenant, key: &str) -> Option<Guid> {
    Guid::parse_named(key, "id")
        .ok()
        .filter(|g| t.deleted.contains_key(g))
}

fn get_deleted(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let t = tri!(tenant(w, call));
    match deleted_id(t, key).and_then(|id| t.deleted.get(&id)) {
        Some(u) => {
            let mut v = query::render_user(u, sel.as_deref());
            if let Value::Object(m) = &mut v {
                m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                m.insert(
                    "deletedDateTime".into(),
                    u.attrs
                        .get("deletedDateTime")
                        .cloned()
                        .unwrap_or(Value::Null),
                );
            }
            GResp::json(200, v)
        }
        None => GResp::not_found(key),
    }
}

fn purge_deleted(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    match deleted_id(t, key) {
        Some(id) => {
            t.deleted.remove(&id);
            w.counts.applied("purge", id);
            GResp::empty(204)
        }
        None => GResp::not_found(key),
    }
}

fn restore(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let Some(id) = deleted_id(t, key) else {
        return GResp::not_found(key);
    };
    let tid = t.id;
    match w.restore_user(tid, id) {
        Ok(()) => {
            w.counts.applied("restore", id);
            let v = w
                .tenants
                .get(&tid)
                .and_then(|t| t.users.get(&id))
                .map(|u| {
                    let mut v = query::render_user(u, None);
                    if let Value::Object(m) = &mut v {
                        m.insert("@odata.context".into(), context("directoryObjects/$entity"));
                        m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
                    }
                    v
                })
                .unwrap_or(Value::Null);
            GResp::json(200, v)
        }
        Err(super::model::SimError::DuplicateUpn { .. }) => GResp::bad_request(
            "Another object with the same value for property userPrincipalName already exists.",
        ),
        Err(_) => GResp::not_found(key),
    }
}

fn organization(w: &mut World, call: &Call<'_>) -> GResp {
    let t = tri!(tenant(w, call));
    page(
        "organization",
        vec![json!({
            "id": t.id.to_string(),
            "displayName": t.display_name,
            "verifiedDomains": [{"name": t.initial_domain, "isInitial": true, "isDefault": true, "type": "Managed"}],
        })],
        None,
        None,
    )
}
