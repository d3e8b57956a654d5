//! Delta queries: `GET /users/delta` and `GET /groups/delta`, read from
//! the tenant's change log (`model/changes.rs`). See "Delta queries" in
//! `docs/simulator.md`.
//!
//! A state token (`$skiptoken` in a nextLink, `$deltatoken` in a
//! deltaLink) is opaque to clients: base64 of the round's state (tenant,
//! epoch, issue time, log positions, cursor, and the query options of the
//! round's first request, which Graph too encodes in its tokens).
//! - An initial round lists every live object; its deltaLink starts at the
//!   log position the round started at, so a change made between two pages
//!   comes (again) in the next round.
//! - A round from a deltaLink lists the objects changed in the log window
//!   `[from, until)`, `until` being fixed by the round's first request.
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::odata::{context, known_extensions, select};
use super::{tenant, READ_MEMBERS, READ_USERS};
use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::model::{Change, Tenant, World};
use crate::devtools::sim::query;
use crate::domain::Guid;

/// Default and largest page size (`Prefer: odata.maxpagesize=N`).
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 999;
/// Graph filters groups/delta by at most 50 ids.
const MAX_FILTER_IDS: usize = 50;
const TOKEN_PREFIX: &str = "simdelta1.";

/// Properties groups/delta can `$select`.
const GROUP_PROPS: &[&str] = &[
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
    "members",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    #[serde(rename = "u")]
    Users,
    #[serde(rename = "g")]
    Groups,
}

/// What a state token holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    k: Kind,
    /// Tenant.
    t: Guid,
    /// Change-log epoch the token was issued in.
    e: u64,
    /// Simulated instant the round (or deltaLink) was issued.
    at: f64,
    /// Changes from this log position on belong to the round.
    from: u64,
    /// Mid-round: the end of the round's window; None in a deltaLink.
    until: Option<u64>,
    /// An initial round (every live object).
    init: bool,
    /// Paging cursor: the last object id of the previous page.
    after: Option<Guid>,
    /// `$select` of the first request.
    sel: Option<Vec<String>>,
    /// groups/delta: `$filter` ids (empty = all groups).
    #[serde(default)]
    ids: Vec<Guid>,
    /// users/delta: `$expand=manager`.
    #[serde(default)]
    mgr: bool,
}

fn encode(s: &State) -> String {
    let raw = serde_json::to_vec(s).unwrap_or_default();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    )
}

fn bad_token() -> GResp {
    GResp::bad_request("The delta or skip token is malformed.")
}

fn decode(tok: &str) -> Result<State, GResp> {
    let b64 = tok
        .trim()
        .strip_prefix(TOKEN_PREFIX)
        .ok_or_else(bad_token)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| bad_token())?;
    serde_json::from_slice(&raw).map_err(|_| bad_token())
}

/// The answer to a token the tenant no longer honours (too old, or all
/// tokens expired): Graph's `syncStateNotFound`, with 410 Gone.
fn resync() -> GResp {
    GResp::error(
        410,
        "syncStateNotFound",
        "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
    )
}

/// `Prefer: odata.maxpagesize=N` (1..=999; larger is capped).
fn page_size(req: &GReq) -> usize {
    req.header("prefer")
        .into_iter()
        .flat_map(|h| h.split(','))
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("odata.maxpagesize")
                .then(|| v.trim().trim_matches('"').parse::<usize>().ok())
                .flatten()
        })
        .next()
        .map(|n| n.clamp(1, MAX_PAGE))
        .unwrap_or(DEFAULT_PAGE)
}

/// The state of this request: a new initial round, `latest`, a deltaLink
/// (a new incremental round) or a nextLink (the same round). `Ok(None)`
/// = `$deltatoken=latest`.
fn state_of(
    t: &Tenant,
    call: &Call<'_>,
    req: &GReq,
    kind: Kind,
    fresh: impl FnOnce() -> Result<State, GResp>,
) -> Result<(State, bool), GResp> {
    let pos = t.changes.position();
    let (mut st, latest) = match (req.q("deltatoken"), req.q("skiptoken")) {
        (Some(tok), _) if tok.trim().eq_ignore_ascii_case("latest") => {
            let mut s = fresh()?;
            s.init = false;
            s.until = None;
            (s, true)
        }
        (Some(tok), _) => {
            let s = decode(tok)?;
            if s.until.is_some() || s.after.is_some() {
                return Err(bad_token());
            }
            (s, false)
        }
        (None, Some(tok)) => {
            let s = decode(tok)?;
            if s.until.is_none() {
                return Err(bad_token());
            }
            (s, false)
        }
        (None, None) => (fresh()?, false),
    };
    if st.k != kind || st.t != call.tenant || st.from > pos || st.until.is_some_and(|u| u > pos) {
        return Err(bad_token());
    }
    if st.e != t.changes.epoch || call.now - st.at > call.dynamic.delta_token_lifetime_secs {
        return Err(resync());
    }
    if st.until.is_none() && !latest {
        // The first request of a round from a deltaLink fixes its window.
        st.until = Some(pos);
    }
    Ok((st, latest))
}

/// A fresh initial round starting now.
fn initial(t: &Tenant, call: &Call<'_>, kind: Kind) -> State {
    let pos = t.changes.position();
    State {
        k: kind,
        t: call.tenant,
        e: t.changes.epoch,
        at: call.now,
        from: pos,
        until: Some(pos),
        init: true,
        after: None,
        sel: None,
        ids: Vec::new(),
        mgr: false,
    }
}

/// A page of a round: a nextLink while more follow, else the deltaLink.
fn delta_page(
    call: &Call<'_>,
    what: &str,
    ctx: &str,
    st: &State,
    items: Vec<Value>,
    next_after: Option<Guid>,
) -> GResp {
    let mut m = Map::new();
    m.insert("@odata.context".into(), context(ctx));
    let base = format!("{}/v1.0/{what}/delta", call.base);
    match next_after {
        Some(after) => {
            let mut s = st.clone();
            s.after = Some(after);
            m.insert(
                "@odata.nextLink".into(),
                Value::String(format!("{base}?$skiptoken={}", encode(&s))),
            );
        }
        None => {
            let mut s = st.clone();
            s.from = st.until.unwrap_or(st.from);
            s.until = None;
            s.init = false;
            s.after = None;
            s.at = call.now;
            m.insert(
                "@odata.deltaLink".into(),
                Value::String(format!("{base}?$deltatoken={}", encode(&s))),
            );
        }
    }
    m.insert("value".into(), Value::Array(items));
    GResp::json(200, Value::Object(m))
}

/// Takes up to `n` ids after the cursor; the second value is the cursor
/// of the next page when more follow.
fn take_page(
    ids: impl Iterator<Item = Guid>,
    after: Option<Guid>,
    n: usize,
) -> (Vec<Guid>, Option<Guid>) {
    let mut out = Vec::new();
    for id in ids.filter(|id| after.is_none_or(|a| *id > a)) {
        if out.len() == n {
            let last = out.last().copied();
            return (out, last);
        }
        out.push(id);
    }
    (out, None)
}

fn removed(id: Guid, reason: &str) -> Value {
    json!({"id": id.to_string(), "@removed": {"reason": reason}})
}

fn typed(odata_type: &str, id: Guid) -> Value {
    json!({"@odata.type": odata_type, "id": id.to_string()})
}

/// `GET /users/delta`.
pub(super) fn users_delta(w: &mut World, call: &Call<'_>, req: &GReq) -> GResp {
    if !call.has(READ_USERS) {
        return GResp::forbidden();
    }
    if req.q("filter").is_some() || req.q("top").is_some() {
        return GResp::unsupported_query();
    }
    let n = page_size(req);
    let t = tri!(tenant(w, call));
    let fresh = || -> Result<State, GResp> {
        let mut s = initial(t, call, Kind::Users);
        s.sel = select(req)?;
        known_extensions(t, &s.sel)?;
        s.mgr = match req.q("expand") {
            None => false,
            Some(e) if e.trim().eq_ignore_ascii_case("manager") => true,
            Some(_) => {
                return Err(GResp::bad_request(
                    "users/delta supports only $expand=manager.",
                ))
            }
        };
        Ok(s)
    };
    let (st, latest) = tri!(state_of(t, call, req, Kind::Users, fresh));
    if latest {
        return delta_page(call, "users", "users", &st, Vec::new(), None);
    }
    let window = t.changes.window(st.from, st.until.unwrap_or(st.from));
    let (ids, next) = if st.init {
        take_page(t.users.keys().copied(), st.after, n)
    } else {
        let mut ids: Vec<Guid> = window
            .iter()
            .filter_map(|c| match c {
                Change::User(u) | Change::Manager { user: u, .. } => Some(*u),
                _ => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        take_page(ids.into_iter(), st.after, n)
    };
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(u) = t.users.get(&id) else {
            // Soft-deleted users can come back ("changed"); purged ones
            // cannot ("deleted").
            let reason = if t.deleted.contains_key(&id) {
                "changed"
            } else {
                "deleted"
            };
            items.push(removed(id, reason));
            continue;
        };
        let mut v = query::render_user(u, st.sel.as_deref());
        if st.mgr {
            let entry = match t.managers.get(&id) {
                Some(m) => Some(typed("#microsoft.graph.user", *m)),
                None if !st.init => window.iter().rev().find_map(|c| match c {
                    Change::Manager {
                        user,
                        old: Some(old),
                    } if *user == id => {
                        let mut e = typed("#microsoft.graph.user", *old);
                        if let Value::Object(m) = &mut e {
                            m.insert("@removed".into(), json!({"reason": "deleted"}));
                        }
                        Some(e)
                    }
                    _ => None,
                }),
                None => None,
            };
            if let (Value::Object(m), Some(e)) = (&mut v, entry) {
                m.insert("manager@delta".into(), Value::Array(vec![e]));
            }
        }
        items.push(v);
    }
    delta_page(call, "users", "users", &st, items, next)
}

/// `$filter=id eq '{id}' or id eq '{id2}' ...` (the only filter groups/delta takes).
fn parse_id_filter(f: &str) -> Result<Vec<Guid>, GResp> {
    let toks: Vec<&str> = f.split_whitespace().collect();
    let mut ids = Vec::new();
    let mut i = 0;
    loop {
        match toks.get(i..i + 3) {
            Some([p, op, lit]) if p.eq_ignore_ascii_case("id") && op.eq_ignore_ascii_case("eq") => {
                let inner = lit
                    .strip_prefix('\'')
                    .and_then(|l| l.strip_suffix('\''))
                    .ok_or_else(GResp::unsupported_query)?;
                let g = Guid::parse_named(inner, "group id").map_err(|_| {
                    GResp::bad_request(format!("Invalid object identifier '{inner}'."))
                })?;
                ids.push(g);
            }
            _ => return Err(GResp::unsupported_query()),
        }
        i += 3;
        match toks.get(i) {
            None => break,
            Some(o) if o.eq_ignore_ascii_case("or") => i += 1,
            Some(_) => return Err(GResp::unsupported_query()),
        }
    }
    if ids.len() > MAX_FILTER_IDS {
        return Err(GResp::bad_request(format!(
            "Too many ids in the filter: at most {MAX_FILTER_IDS} are allowed."
        )));
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn group_select(req: &GReq) -> Result<Option<Vec<String>>, GResp> {
    let Some(s) = req.q("select") else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match GROUP_PROPS.iter().find(|k| k.eq_ignore_ascii_case(p)) {
            Some(k) => out.push((*k).to_string()),
            None => {
                return Err(GResp::bad_request(format!(
                    "Could not find a property named '{p}' on type 'microsoft.graph.group'."
                )))
            }
        }
    }
    Ok(Some(out))
}

/// A group row's properties (without `members@delta`).
fn group_row(t: &Tenant, id: Guid, sel: Option<&[String]>) -> Value {
    let name = t
        .groups
        .get(&id)
        .map(|g| g.display_name.clone())
        .unwrap_or_default();
    let all = json!({
        "displayName": name,
        "description": null,
        "mail": null,
        "mailEnabled": false,
        "mailNickname": name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>(),
        "securityEnabled": true,
        "groupTypes": [],
    });
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.to_string()));
    if let Value::Object(a) = all {
        for (k, v) in a {
            if sel.is_none_or(|s| s.contains(&k)) {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m)
}

fn member_type(t: &Tenant, id: Guid) -> &'static str {
    if t.groups.contains_key(&id) {
        "#microsoft.graph.group"
    } else {
        "#microsoft.graph.user"
    }
}

/// `GET /groups/delta`: groups, with `members@delta` (direct members only).
pub(super) fn groups_delta(w: &mut World, call: &Call<'_>, req: &GReq) -> GResp {
    if !call.has(READ_MEMBERS) {
        return GResp::forbidden();
    }
    if req.q("top").is_some() || req.q("expand").is_some() {
        return GResp::unsupported_query();
    }
    let n = page_size(req);
    let t = tri!(tenant(w, call));
    let fresh = || -> Result<State, GResp> {
        let mut s = initial(t, call, Kind::Groups);
        s.sel = group_select(req)?;
        if let Some(f) = req.q("filter") {
            s.ids = parse_id_filter(f)?;
        }
        Ok(s)
    };
    let (st, latest) = tri!(state_of(t, call, req, Kind::Groups, fresh));
    if latest {
        return delta_page(call, "groups", "groups", &st, Vec::new(), None);
    }
    let wanted = |g: &Guid| st.ids.is_empty() || st.ids.binary_search(g).is_ok();
    let with_members = st
        .sel
        .as_ref()
        .is_none_or(|s| s.iter().any(|p| p == "members"));
    let window = t.changes.window(st.from, st.until.unwrap_or(st.from));
    let (ids, next) = if st.init {
        let mut all: Vec<Guid> = t.groups.keys().copied().filter(|g| wanted(g)).collect();
        all.sort();
        take_page(all.into_iter(), st.after, n)
    } else {
        let mut ids: Vec<Guid> = window
            .iter()
            .filter_map(|c| match c {
                Change::Member { group, .. } | Change::Group(group) => Some(*group),
                _ => None,
            })
            .filter(|g| wanted(g))
            .collect();
        ids.sort();
        ids.dedup();
        take_page(ids.into_iter(), st.after, n)
    };
    let mut items = Vec::with_capacity(ids.len());
    for gid in ids {
        let Some(g) = t.groups.get(&gid) else {
            items.push(removed(gid, "deleted"));
            continue;
        };
        let mut row = group_row(t, gid, st.sel.as_deref());
        if with_members {
            // A member counts while it is a live user or a group.
            let present = |m: &Guid| {
                g.members.contains(m) && (t.users.contains_key(m) || t.groups.contains_key(m))
            };
            let mut list = Vec::new();
            if st.init {
                for m in g.members.iter().filter(|m| present(m)) {
                    list.push(typed(member_type(t, *m), *m));
                }
            } else {
                let mut touched: Vec<Guid> = window
                    .iter()
                    .filter_map(|c| match c {
                        Change::Member { group, member } if *group == gid => Some(*member),
                        _ => None,
                    })
                    .collect();
                touched.sort();
                touched.dedup();
                for m in touched {
                    let mut e = typed(member_type(t, m), m);
                    if !present(&m) {
                        if let Value::Object(o) = &mut e {
                            o.insert("@removed".into(), json!({"reason": "deleted"}));
                        }
                    }
                    list.push(e);
                }
            }
            if let Value::Object(o) = &mut row {
                o.insert("members@delta".into(), Value::Array(list));
            }
        }
        items.push(row);
    }
    delta_page(call, "groups", "groups", &st, items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id filter takes `id eq '..' or id eq '..'` and nothing else.
    #[test]
    fn the_id_filter_parses_only_ids() {
        let a = Guid::new_v4();
        let b = Guid::new_v4();
        let ids = parse_id_filter(&format!("id eq '{a}' or ID eq '{b}'")).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(parse_id_filter("displayName eq 'x'").is_err());
        assert!(parse_id_filter(&format!("id eq '{a}' and id eq '{b}'")).is_err());
        assert!(parse_id_filter("id eq 'nope'").is_err());
    }

    /// Tokens round-trip and garbage is refused.
    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let s = State {
            k: Kind::Users,
            t: Guid::new_v4(),
            e: 0,
            at: 1.5,
            from: 3,
            until: None,
            init: false,
            after: None,
            sel: Some(vec!["id".into()]),
            ids: vec![],
            mgr: true,
        };
        let back = decode(&encode(&s)).unwrap();
        assert_eq!(back.from, 3);
        assert!(back.mgr);
        assert!(decode("garbage").is_err());
        assert!(decode("simdelta1.!!").is_err());
    }
}
