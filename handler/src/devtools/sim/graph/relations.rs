//! A user's `manager` and `sponsors`, and a group's `owners`: the
//! relations Microsoft Graph documents (`GET /users/{id}/manager`,
//! `PUT`/`DELETE /users/{id}/manager/$ref`, `GET /users/{id}/sponsors`,
//! `POST /users/{id}/sponsors/$ref`, `DELETE
//! /users/{id}/sponsors/{id}/$ref`, `GET /groups/{id}/owners`) and
//! `$expand=manager` / `$expand=sponsors` on users. Writes are counted (and
//! throttled, being non-GET requests) like every other write.
use serde_json::{json, Map, Value};

use super::groups::ref_target;
use super::odata::{page, select};
use super::{json_body, live_user, tenant, READ_MEMBERS, READ_USERS, WRITE_USERS};
use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::model::{Tenant, World};
use crate::devtools::sim::query;
use crate::domain::Guid;

/// A relation `$expand` asks for, with its own `$select`.
pub(super) struct Expand {
    pub manager: bool,
    pub sponsors: bool,
    pub select: Option<Vec<String>>,
}

/// Parses `$expand` on users: `manager`, `sponsors`, each optionally with
/// `($select=...)`. Anything else is refused as Graph refuses an unknown
/// navigation property.
pub(super) fn parse_expand(req: &GReq) -> Result<Option<Expand>, GResp> {
    let Some(raw) = req.q("expand") else {
        return Ok(None);
    };
    let raw = raw.trim();
    let (name, inner) = match raw.find('(') {
        Some(i) if raw.ends_with(')') => (&raw[..i], Some(&raw[i + 1..raw.len() - 1])),
        Some(_) => return Err(GResp::bad_request(format!("Invalid $expand: '{raw}'."))),
        None => (raw, None),
    };
    let select = match inner {
        None => None,
        Some(opts) => {
            let mut sel = None;
            for o in opts.split(';') {
                match o.trim().split_once('=') {
                    Some((k, v)) if k.trim().eq_ignore_ascii_case("$select") => {
                        sel = query::parse_select(Some(v)).map_err(|p| {
                            GResp::bad_request(format!(
                                "Could not find a property named '{p}' on type 'microsoft.graph.user'."
                            ))
                        })?;
                    }
                    // `$levels` (the management chain) is not modelled.
                    _ => {
                        return Err(GResp::bad_request(format!(
                            "The simulator does not support '{o}' inside $expand."
                        )))
                    }
                }
            }
            sel
        }
    };
    match name.trim() {
        "manager" => Ok(Some(Expand {
            manager: true,
            sponsors: false,
            select,
        })),
        "sponsors" => Ok(Some(Expand {
            manager: false,
            sponsors: true,
            select,
        })),
        other => Err(GResp::bad_request(format!(
            "Could not find a property named '{other}' on type 'microsoft.graph.user'."
        ))),
    }
}

/// A related object (user or group) as Graph shows it inside a relation.
fn render_object(t: &Tenant, id: Guid, sel: Option<&[String]>) -> Option<Value> {
    if let Some(u) = t.users.get(&id) {
        let mut v = query::render_user(u, sel);
        if let Value::Object(m) = &mut v {
            m.insert("@odata.type".into(), json!("#microsoft.graph.user"));
        }
        return Some(v);
    }
    t.groups.get(&id).map(|g| {
        json!({"@odata.type": "#microsoft.graph.group", "id": id.to_string(), "displayName": g.display_name})
    })
}

/// Adds the expanded relation to a rendered user (`manager` is left out
/// when the user has none, `sponsors` is an array).
pub(super) fn add_expanded(t: &Tenant, user: Guid, v: &mut Value, e: &Expand) {
    let Value::Object(m) = v else { return };
    let sel = e.select.as_deref();
    if e.manager {
        if let Some(o) = t
            .managers
            .get(&user)
            .and_then(|mid| render_object(t, *mid, sel))
        {
            m.insert("manager".into(), o);
        }
    }
    if e.sponsors {
        let list: Vec<Value> = sponsor_ids(t, user)
            .into_iter()
            .filter_map(|s| render_object(t, s, sel))
            .collect();
        m.insert("sponsors".into(), Value::Array(list));
    }
}

/// The live sponsors of `user` (users and groups), in id order.
fn sponsor_ids(t: &Tenant, user: Guid) -> Vec<Guid> {
    t.sponsors
        .get(&user)
        .map(|s| {
            s.iter()
                .copied()
                .filter(|id| t.users.contains_key(id) || t.groups.contains_key(id))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /users/{id}/manager`: the manager, or 404 when there is none.
pub(super) fn get_manager(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    match t
        .managers
        .get(&id)
        .and_then(|m| render_object(t, *m, sel.as_deref()))
    {
        Some(v) => GResp::json(200, v),
        None => GResp::not_found("manager"),
    }
}

/// The live user a `$ref` body points at, or Graph's 400/404.
fn ref_user(t: &Tenant, call: &Call<'_>, body: &Map<String, Value>) -> Result<Guid, GResp> {
    let Some(target) = ref_target(body) else {
        return Err(GResp::bad_request(
            "Invalid URL format specified in @odata.id; expected .../users/{id} or .../directoryObjects/{id}.",
        ));
    };
    match t.users.get(&target) {
        Some(u) if !call.fresh(u.created_at) => Ok(target),
        _ if t.groups.contains_key(&target) => Ok(target),
        _ => Err(GResp::not_found(&target.to_string())),
    }
}

/// `PUT /users/{id}/manager/$ref`.
pub(super) fn put_manager(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let m = tri!(ref_user(t, call, &body));
    if !t.users.contains_key(&m) {
        // A manager is a user (or an organizational contact, not modelled).
        return GResp::bad_request("A manager must be a user.");
    }
    t.set_manager(id, Some(m));
    w.counts.applied("manager_set", id);
    GResp::empty(204)
}

/// `DELETE /users/{id}/manager/$ref`: 404 when there is no manager.
pub(super) fn delete_manager(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    if t.set_manager(id, None).is_none() {
        return GResp::not_found("manager");
    }
    w.counts.applied("manager_remove", id);
    GResp::empty(204)
}

/// `GET /users/{id}/sponsors`.
pub(super) fn list_sponsors(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let items: Vec<Value> = sponsor_ids(t, id)
        .into_iter()
        .filter_map(|s| render_object(t, s, sel.as_deref()))
        .collect();
    page("directoryObjects", items, None, None)
}

/// `POST /users/{id}/sponsors/$ref`: a user or a group; one already there
/// is Graph's 400.
pub(super) fn add_sponsor(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let body = tri!(json_body(req));
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let s = tri!(ref_user(t, call, &body));
    if !t.sponsors.entry(id).or_default().insert(s) {
        return GResp::bad_request(
            "One or more added object references already exist for the following modified properties: 'sponsors'.",
        );
    }
    w.counts.applied("sponsor_add", id);
    GResp::empty(204)
}

/// `DELETE /users/{id}/sponsors/{sponsorId}/$ref`: 404 when not a sponsor.
pub(super) fn remove_sponsor(w: &mut World, call: &Call<'_>, key: &str, skey: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    let id = tri!(live_user(t, call, key));
    let Ok(s) = Guid::parse_named(skey, "sponsor id") else {
        return GResp::not_found(skey);
    };
    let removed = t.sponsors.get_mut(&id).is_some_and(|set| set.remove(&s));
    if !removed {
        return GResp::not_found(skey);
    }
    w.counts.applied("sponsor_remove", id);
    GResp::empty(204)
}

/// `GET /groups/{id}/owners` (users; one page: the simulator's groups
/// have few owners).
pub(super) fn list_owners(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_MEMBERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let t = tri!(tenant(w, call));
    let Ok(gid) = Guid::parse_named(key, "group id") else {
        return GResp::bad_request(format!("Invalid object identifier '{key}'."));
    };
    match t.groups.get(&gid) {
        Some(g) if !call.fresh(g.created_at) => {}
        _ => return GResp::not_found(key),
    }
    let items: Vec<Value> = t
        .owners
        .get(&gid)
        .map(|o| {
            o.iter()
                .filter_map(|id| render_object(t, *id, sel.as_deref()))
                .collect()
        })
        .unwrap_or_default();
    page("directoryObjects", items, None, None)
}
