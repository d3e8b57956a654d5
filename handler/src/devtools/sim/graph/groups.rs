//! `/groups`: a group, its direct or transitive members (paged), and
//! member `$ref` adds and removes.
use serde_json::{json, Map, Value};

use super::odata::{count_requested, decode_skip, eventual, next_link, page, select, top};
use super::{json_body, tenant, READ_MEMBERS, READ_USERS, WRITE_MEMBERS};
use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::model::{Tenant, World};
use crate::devtools::sim::query;
use crate::domain::Guid;

fn group_id(t: &Tenant, call: &Call<'_>, key: &str) -> Result<Guid, GResp> {
    let id = Guid::parse_named(key, "group id")
        .map_err(|_| GResp::bad_request(format!("Invalid object identifier '{key}'.")))?;
    match t.groups.get(&id) {
        Some(g) if !call.fresh(g.created_at) => Ok(id),
        _ => Err(GResp::not_found(key)),
    }
}

pub(super) fn get_group(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
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
pub(super) fn members(
    w: &mut World,
    call: &Call<'_>,
    req: &GReq,
    key: &str,
    transitive: bool,
) -> GResp {
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
pub(super) fn ref_target(body: &Map<String, Value>) -> Option<Guid> {
    let s = body.get("@odata.id")?.as_str()?;
    let last = s.trim_end_matches('/').rsplit('/').next()?;
    let last = last
        .trim_start_matches("directoryObjects(")
        .trim_start_matches("users(")
        .trim_end_matches(')')
        .trim_matches('\'');
    Guid::parse_named(last, "member id").ok()
}

pub(super) fn add_member_ref(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
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

pub(super) fn remove_member_ref(w: &mut World, call: &Call<'_>, gkey: &str, mkey: &str) -> GResp {
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

/// `POST /users/{id}/checkMemberGroups` `{"groupIds":[...]}` (at most 20):
/// the listed groups the user is a transitive member of.
pub(super) fn check_member_groups(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_MEMBERS) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    let Some(list) = body.get("groupIds").and_then(Value::as_array) else {
        return GResp::bad_request("The request body must hold a 'groupIds' array.");
    };
    if list.len() > 20 {
        return GResp::bad_request("At most 20 groupIds can be checked in one request.");
    }
    let mut groups = Vec::with_capacity(list.len());
    for g in list {
        match g.as_str().map(|s| Guid::parse_named(s, "group id")) {
            Some(Ok(id)) => groups.push(id),
            _ => return GResp::bad_request("Invalid object identifier in groupIds."),
        }
    }
    let t = tri!(tenant(w, call));
    let user = tri!(super::live_user(t, call, key));
    let mut out = Vec::new();
    for g in groups {
        if t.closure(g).is_some_and(|c| c.binary_search(&user).is_ok())
            && !out.contains(&Value::String(g.to_string()))
        {
            out.push(Value::String(g.to_string()));
        }
    }
    GResp::json(
        200,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
            "value": out,
        }),
    )
}

/// `GET /groups/{id}/transitiveMembers/microsoft.graph.group`: the groups
/// nested in a group, at any depth (paged; the cast needs
/// `ConsistencyLevel: eventual`).
pub(super) fn nested_groups(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_MEMBERS) {
        return GResp::forbidden();
    }
    if !eventual(req) || req.q("filter").is_some() {
        return GResp::unsupported_query();
    }
    let sel = tri!(select(req));
    let n = tri!(top(req, 100));
    let after = tri!(decode_skip(req));
    let want_count = count_requested(req);
    let t = tri!(tenant(w, call));
    let gid = tri!(group_id(t, call, key));
    let Some(list) = t.nested_groups(gid) else {
        return GResp::not_found(key);
    };
    let start = match after {
        Some(a) => list.partition_point(|id| *id <= a),
        None => 0,
    };
    let end = (start + n).min(list.len());
    let with_name = sel
        .as_ref()
        .is_none_or(|s| s.iter().any(|p| p == "displayName"));
    let items = list[start..end]
        .iter()
        .map(|id| {
            let mut m = Map::new();
            m.insert("id".into(), Value::String(id.to_string()));
            if with_name {
                let name = t.groups.get(id).map(|g| g.display_name.clone());
                m.insert("displayName".into(), json!(name));
            }
            Value::Object(m)
        })
        .collect();
    let next = (end < list.len() && end > start).then(|| next_link(call, req, list[end - 1]));
    page("groups", items, want_count.then_some(list.len()), next)
}
