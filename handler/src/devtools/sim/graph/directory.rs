//! `/directory/deletedItems` (get, purge, restore) and `/organization`.
use serde_json::{json, Value};

use super::odata::{context, known_extensions, page, select};
use super::{tenant, READ_USERS, WRITE_USERS};
use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::model::{SimError, Tenant, World};
use crate::devtools::sim::query;
use crate::domain::Guid;

fn deleted_id(t: &Tenant, key: &str) -> Option<Guid> {
    Guid::parse_named(key, "id")
        .ok()
        .filter(|g| t.deleted.contains_key(g))
}

pub(super) fn get_deleted(w: &mut World, call: &Call<'_>, req: &GReq, key: &str) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    let sel = tri!(select(req));
    let t = tri!(tenant(w, call));
    tri!(known_extensions(t, &sel));
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

pub(super) fn purge_deleted(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
    if !call.has(WRITE_USERS) {
        return GResp::forbidden();
    }
    let t = tri!(tenant(w, call));
    match deleted_id(t, key) {
        Some(id) => {
            let tid = t.id;
            let _ = w.purge_user(tid, id);
            w.counts.applied("purge", id);
            GResp::empty(204)
        }
        None => GResp::not_found(key),
    }
}

pub(super) fn restore(w: &mut World, call: &Call<'_>, key: &str) -> GResp {
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
        Err(SimError::DuplicateUpn { .. }) => GResp::bad_request(
            "Another object with the same value for property userPrincipalName already exists.",
        ),
        Err(_) => GResp::not_found(key),
    }
}

pub(super) fn organization(w: &mut World, call: &Call<'_>) -> GResp {
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
