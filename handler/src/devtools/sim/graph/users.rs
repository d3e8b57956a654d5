//! `/users`: list (with `$filter`, `$select`, `$top`, `$count`, paging;
//! also deleted items), get, PATCH (validated as Graph does) and DELETE.
use serde_json::{Map, Value};

use super::odata::{
    context, count_requested, decode_skip, eventual, known_extensions, next_link, page, select, top,
};
use super::{json_body, live_user, tenant, READ_USERS, WRITE_USERS};
use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::model::{User, World};
use crate::devtools::sim::query::{self, Filter};
use crate::domain::Guid;

/// `GET /users` (or deleted items) with `$filter`, `$select`, `$top`, `$count`, paging.
pub(super) fn list_users(w: &mut World, call: &Call<'_>, req: &GReq, deleted: bool) -> GResp {
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
    let expand = if deleted {
        None
    } else {
        tri!(super::relations::parse_expand(req))
    };
    let t = tri!(tenant(w, call));
    tri!(known_extensions(t, &sel));
    let map = if deleted { &t.deleted } else { &t.users };
    let render = |u: &User| {
        let mut v = query::render_user(u, sel.as_deref());
        if let Some(e) = &expand {
            super::relations::add_expanded(t, u.id, &mut v, e);
        }
        v
    };
    let cands = if deleted {
        None
    } else {
        filter.as_ref().and_then(|f| query::candidates(f, t))
    };
    let matches = |u: &User| filter.as_ref().is_none_or(|f| query::eval(f, u));
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
                    items.push(render(u));
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
                items.push(render(u));
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

pub(super) fn get_user(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let expand = tri!(super::relations::parse_expand(req));
    let t = tri!(tenant(w, call));
    tri!(known_extensions(t, &sel));
    let id = tri!(live_user(t, call, key));
    let Some(u) = t.users.get(&id) else {
        return GResp::not_found(key);
    };
    let mut v = query::render_user(u, sel.as_deref());
    if let Some(e) = &expand {
        super::relations::add_expanded(t, id, &mut v, e);
    }
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

pub(super) fn patch_user(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    tri!(validate_patch(&body));
    let t = tri!(tenant(w, call));
    if let Some(k) = body.keys().find(|k| {
        k.starts_with("extension_") && !t.extension_properties.contains(&k.to_ascii_lowercase())
    }) {
        return GResp::bad_request(format!(
            "Property '{k}' does not exist on type 'microsoft.graph.user'."
        ));
    }
    if let Some(k) = body
        .keys()
        .find(|k| t.read_only_extensions.contains(&k.to_ascii_lowercase()))
    {
        return GResp::bad_request(format!("Property '{k}' is read-only and cannot be set."));
    }
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

pub(super) fn delete_user(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
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
