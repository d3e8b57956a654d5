//! Delta queries: `users/delta` and `groups/delta` rounds (initial, from
//! "now" with `$deltatoken=latest`, or from a saved deltaLink), plus two
//! membership reads that go with them: `checkMemberGroups` and the groups
//! nested in a group. Built on the same send loop as every call (pacing,
//! retries, error mapping); next links and deltaLinks must stay on the
//! configured Graph origin, since the bearer token goes with them.
//!
//! Graph's guarantee is eventual: a change made while a round is read
//! comes in this round or the next, possibly twice. Callers must tolerate
//! duplicates. A token Graph no longer honours answers 410 Gone /
//! `syncStateNotFound`: [`GraphError::is_resync_required`], then start
//! again with [`DeltaFrom::Initial`].
use reqwest::Method;
use serde_json::{json, Map, Value};
use url::Url;

use super::error::{ErrorContext, GraphError};
use super::http::{Body, Call, Operation, TenantGraph};
use super::models::GraphUser;
use super::pacing::Cost;
use crate::domain::Guid;

/// Where a delta round starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaFrom {
    /// A full round: every object, then a deltaLink.
    Initial,
    /// No objects, only a deltaLink for "now" (`$deltatoken=latest`).
    Latest,
    /// The `@odata.deltaLink` of an earlier round.
    Link(String),
}

/// Why a user row is marked `@removed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Soft-deleted (can be restored): `"reason": "changed"`.
    Changed,
    /// Permanently deleted: `"reason": "deleted"`.
    Deleted,
}

/// A user's manager change (`manager@delta`, with `$expand=manager`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagerDelta {
    Set(Guid),
    Removed,
}

/// One row of users/delta.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaUser {
    pub id: Guid,
    pub removed: Option<Removal>,
    /// The row's properties (only `id` for a removed user).
    pub user: GraphUser,
    pub manager: Option<ManagerDelta>,
}

/// What kind of object a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemberKind {
    User,
    Group,
    Other,
}

/// A member in `members@delta`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberRef {
    pub id: Guid,
    pub kind: MemberKind,
}

/// One row of groups/delta (direct members only).
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaGroup {
    pub id: Guid,
    /// The group itself was deleted.
    pub removed: bool,
    pub members_added: Vec<MemberRef>,
    pub members_removed: Vec<MemberRef>,
}

/// The end of a delta round.
#[derive(Debug, Clone)]
pub struct DeltaRead {
    /// The deltaLink to start the next round from; None when the round did
    /// not complete (`error` says why).
    pub delta_link: Option<String>,
    pub pages: u64,
    pub items: u64,
    pub error: Option<GraphError>,
}

/// At most this many ids per `checkMemberGroups` request (Graph's limit).
const CHECK_MEMBER_GROUPS_MAX: usize = 20;
/// At most this many ids in a groups/delta `$filter` (Graph's limit).
pub const GROUPS_DELTA_MAX_IDS: usize = 50;

fn invalid(what: String, op: Operation) -> GraphError {
    GraphError::InvalidResponse {
        what,
        ctx: ErrorContext {
            operation: op.name(),
            status: None,
            client_request_id: uuid::Uuid::nil(),
            graph_code: None,
        },
    }
}

/// A link from Graph (or the caller) that the token may follow: same
/// origin as the configured Graph URL. The error names the link's kind and
/// host, never its query (which holds the state token).
fn own_link(link: &str, kind: &str, graph_url: &Url) -> Result<Url, String> {
    let u = Url::parse(link).map_err(|_| format!("the {kind} is not a URL"))?;
    if u.origin() != graph_url.origin() {
        return Err(format!(
            "the {kind} points to another host ({}) than the Graph endpoint",
            u.host_str().unwrap_or("none")
        ));
    }
    Ok(u)
}

fn guid(v: Option<&Value>, what: &'static str) -> Result<Guid, String> {
    match v {
        Some(Value::String(s)) => {
            Guid::parse_named(s, what).map_err(|_| format!("{what} {s:?} is not a GUID"))
        }
        Some(_) => Err(format!("{what} is not a string")),
        None => Err(format!("a row has no {what}")),
    }
}

fn removal(m: &Map<String, Value>) -> Option<Removal> {
    let r = m.get("@removed")?;
    Some(match r.get("reason").and_then(Value::as_str) {
        Some(s) if s.eq_ignore_ascii_case("deleted") => Removal::Deleted,
        _ => Removal::Changed,
    })
}

/// Decodes one users/delta row.
pub fn decode_user_row(v: Value) -> Result<DeltaUser, String> {
    let Value::Object(mut m) = v else {
        return Err("a users/delta row is not a JSON object".into());
    };
    let id = guid(m.get("id"), "user id")?;
    let removed = removal(&m);
    m.remove("@removed");
    let manager = match m.remove("manager@delta") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => {
            let mut set = None;
            let mut gone = false;
            for e in &list {
                let mid = guid(e.get("id"), "manager id")?;
                if e.get("@removed").is_some() {
                    gone = true;
                } else {
                    set = Some(mid);
                }
            }
            match (set, gone) {
                (Some(mid), _) => Some(ManagerDelta::Set(mid)),
                (None, true) => Some(ManagerDelta::Removed),
                (None, false) => None,
            }
        }
        Some(_) => return Err("manager@delta is not an array".into()),
    };
    let user = GraphUser::from_value(Value::Object(m))?;
    Ok(DeltaUser {
        id,
        removed,
        user,
        manager,
    })
}

/// Decodes one groups/delta row.
pub fn decode_group_row(v: &Value) -> Result<DeltaGroup, String> {
    let Value::Object(m) = v else {
        return Err("a groups/delta row is not a JSON object".into());
    };
    let id = guid(m.get("id"), "group id")?;
    let mut g = DeltaGroup {
        id,
        removed: m.contains_key("@removed"),
        members_added: Vec::new(),
        members_removed: Vec::new(),
    };
    match m.get("members@delta") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for e in list {
                let mid = guid(e.get("id"), "member id")?;
                let kind = match e.get("@odata.type").and_then(Value::as_str) {
                    Some(t) if t.eq_ignore_ascii_case("#microsoft.graph.user") => MemberKind::User,
                    Some(t) if t.eq_ignore_ascii_case("#microsoft.graph.group") => {
                        MemberKind::Group
                    }
                    _ => MemberKind::Other,
                };
                let r = MemberRef { id: mid, kind };
                if e.get("@removed").is_some() {
                    g.members_removed.push(r);
                } else {
                    g.members_added.push(r);
                }
            }
        }
        Some(_) => return Err("members@delta is not an array".into()),
    }
    Ok(g)
}

/// One page of a delta round: its rows and where it leads.
struct DeltaPage {
    rows: Vec<Value>,
    next: Option<Url>,
    delta: Option<String>,
}

fn decode_delta_page(body: &[u8], graph_url: &Url) -> Result<DeltaPage, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
    let Some(rows) = v.get("value").and_then(Value::as_array) else {
        return Err("a delta page has no \"value\" array".into());
    };
    let link = |k: &str| -> Result<Option<Url>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => own_link(s, k, graph_url).map(Some),
            Some(_) => Err(format!("{k} is not a string")),
        }
    };
    let next = link("@odata.nextLink")?;
    let delta = link("@odata.deltaLink")?.map(String::from);
    if next.is_none() && delta.is_none() {
        return Err("a delta page has neither @odata.nextLink nor @odata.deltaLink".into());
    }
    Ok(DeltaPage {
        rows: rows.clone(),
        next,
        delta,
    })
}

fn select_with_id(select: &[&str]) -> String {
    let mut v = vec!["id"];
    v.extend(select.iter().copied().filter(|s| *s != "id"));
    v.join(",")
}

impl TenantGraph {
    fn delta_call(&self, op: Operation, url: Url) -> Call {
        Call {
            op,
            method: Method::GET,
            url,
            body: Body::None,
            // Priced like a transitive member read with `$select`.
            cost: Cost::read(4),
            eventual: false,
            object: None,
            max_body: None,
        }
    }

    /// The first request of a round: a new one (with its query options) or
    /// a saved deltaLink (which carries them).
    fn delta_start(
        &self,
        op: Operation,
        resource: &str,
        from: &DeltaFrom,
        query: &[(&str, String)],
    ) -> Result<Call, GraphError> {
        let url = match from {
            DeltaFrom::Link(l) => own_link(l, "deltaLink", &self.client.inner.cfg.graph_url)
                .map_err(|what| invalid(what, op))?,
            DeltaFrom::Initial | DeltaFrom::Latest => {
                let mut u = self.url(&[resource, "delta"]);
                {
                    let mut q = u.query_pairs_mut();
                    for (k, v) in query {
                        q.append_pair(k, v);
                    }
                    if *from == DeltaFrom::Latest {
                        q.append_pair("$deltatoken", "latest");
                    }
                }
                u
            }
        };
        Ok(self.delta_call(op, url))
    }

    /// Reads one round page by page; `decode` turns a page's rows into the
    /// caller's items.
    async fn delta_round<T, D, F>(
        &self,
        first: Result<Call, GraphError>,
        decode: D,
        mut on_page: F,
    ) -> DeltaRead
    where
        D: Fn(Value) -> Result<T, String> + Send,
        F: FnMut(Vec<T>) + Send,
        T: Send,
    {
        let mut read = DeltaRead {
            delta_link: None,
            pages: 0,
            items: 0,
            error: None,
        };
        let mut call = match first {
            Ok(c) => c,
            Err(e) => {
                read.error = Some(e);
                return read;
            }
        };
        loop {
            let answer = match self.send(&call).await {
                Ok(a) => a,
                Err(e) => {
                    read.error = Some(e);
                    return read;
                }
            };
            let page = match decode_delta_page(&answer.body, &self.client.inner.cfg.graph_url) {
                Ok(p) => p,
                Err(what) => {
                    read.error = Some(GraphError::InvalidResponse {
                        what,
                        ctx: answer.ctx(call.op),
                    });
                    return read;
                }
            };
            let mut items = Vec::with_capacity(page.rows.len());
            for (i, row) in page.rows.into_iter().enumerate() {
                match decode(row) {
                    Ok(t) => items.push(t),
                    Err(e) => {
                        read.error = Some(GraphError::InvalidResponse {
                            what: format!("row {i} of a delta page (value[{i}]): {e}"),
                            ctx: answer.ctx(call.op),
                        });
                        return read;
                    }
                }
            }
            read.pages += 1;
            read.items += items.len() as u64;
            on_page(items);
            match (page.next, page.delta) {
                (Some(next), _) => call.url = next,
                (None, delta) => {
                    read.delta_link = delta;
                    return read;
                }
            }
        }
    }

    /// One round of `users/delta` with `$select` (and `$expand=manager`),
    /// handing each page's rows to `on_page`. A saved deltaLink carries the
    /// options of the round that issued it (`select` is then ignored).
    pub async fn users_delta<F: FnMut(Vec<DeltaUser>) + Send>(
        &self,
        from: &DeltaFrom,
        select: &[&str],
        expand_manager: bool,
        on_page: F,
    ) -> DeltaRead {
        let mut q = vec![("$select", select_with_id(select))];
        if expand_manager {
            q.push(("$expand", "manager".to_string()));
        }
        let first = self.delta_start(Operation::UsersDelta, "users", from, &q);
        self.delta_round(first, decode_user_row, on_page).await
    }

    /// One round of `groups/delta` with `$select=id,members` over the
    /// groups `group_ids` (all groups when empty; at most
    /// [`GROUPS_DELTA_MAX_IDS`]): direct member changes in `members@delta`.
    pub async fn groups_delta<F: FnMut(Vec<DeltaGroup>) + Send>(
        &self,
        from: &DeltaFrom,
        group_ids: &[Guid],
        on_page: F,
    ) -> DeltaRead {
        let mut q = vec![("$select", "id,members".to_string())];
        if !group_ids.is_empty() {
            if group_ids.len() > GROUPS_DELTA_MAX_IDS {
                return DeltaRead {
                    delta_link: None,
                    pages: 0,
                    items: 0,
                    error: Some(GraphError::Permanent {
                        detail: format!(
                            "groups/delta filters by at most {GROUPS_DELTA_MAX_IDS} group ids ({} given)",
                            group_ids.len()
                        ),
                        ctx: invalid(String::new(), Operation::GroupsDelta).context().clone(),
                    }),
                };
            }
            let f = group_ids
                .iter()
                .map(|g| format!("id eq '{g}'"))
                .collect::<Vec<_>>()
                .join(" or ");
            q.push(("$filter", f));
        }
        let first = self.delta_start(Operation::GroupsDelta, "groups", from, &q);
        self.delta_round(first, |v| decode_group_row(&v), on_page)
            .await
    }

    /// Of `groups`, those `user` is a member of, directly or through nested
    /// groups (`POST /users/{id}/checkMemberGroups`, 20 ids per request).
    pub async fn check_member_groups(
        &self,
        user: Guid,
        groups: &[Guid],
    ) -> Result<Vec<Guid>, GraphError> {
        let op = Operation::CheckMemberGroups;
        let mut out = Vec::new();
        for chunk in groups.chunks(CHECK_MEMBER_GROUPS_MAX) {
            let url = self.url(&["users", &user.to_string(), "checkMemberGroups"]);
            let ids: Vec<String> = chunk.iter().map(Guid::to_string).collect();
            let call = Call {
                op,
                method: Method::POST,
                url,
                body: Body::Json(json!({ "groupIds": ids })),
                cost: Cost::read(1),
                eventual: false,
                object: None,
                max_body: None,
            };
            let a = self.send(&call).await?;
            let v = a.json(op)?;
            let Some(list) = v.get("value").and_then(Value::as_array) else {
                return Err(GraphError::InvalidResponse {
                    what: "the checkMemberGroups answer has no \"value\" array".into(),
                    ctx: a.ctx(op),
                });
            };
            for (i, g) in list.iter().enumerate() {
                let id = guid(Some(g), "group id").map_err(|e| GraphError::InvalidResponse {
                    what: format!("value[{i}] of the checkMemberGroups answer: {e}"),
                    ctx: a.ctx(op),
                })?;
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    /// The groups nested in `group` at any depth
    /// (`GET /groups/{id}/transitiveMembers/microsoft.graph.group?$select=id`).
    pub async fn nested_groups(&self, group: Guid) -> Result<Vec<Guid>, GraphError> {
        let mut url = self.url(&[
            "groups",
            &group.to_string(),
            "transitiveMembers",
            "microsoft.graph.group",
        ]);
        url.query_pairs_mut()
            .append_pair("$select", "id")
            .append_pair("$top", "999");
        let call = Call {
            op: Operation::ListNestedGroups,
            method: Method::GET,
            url,
            body: Body::None,
            cost: Cost::read(4),
            eventual: true,
            object: None,
            max_body: None,
        };
        Ok(self
            .all_pages(call)
            .await?
            .into_iter()
            .map(|g| g.id)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows decode: removals, manager changes, member adds and removes;
    /// a row without a valid id is a clear error.
    #[test]
    fn rows_decode_and_bad_rows_are_named() {
        let m = Guid::new_v4();
        let u = decode_user_row(json!({"id": m.to_string(), "@removed": {"reason": "deleted"}}))
            .unwrap();
        assert_eq!(u.removed, Some(Removal::Deleted));
        let u = decode_user_row(json!({"id": m.to_string(), "displayName": "x",
            "manager@delta": [{"@odata.type": "#microsoft.graph.user", "id": m.to_string(), "@removed": {"reason": "deleted"}}]}))
        .unwrap();
        assert_eq!(u.manager, Some(ManagerDelta::Removed));
        assert_eq!(u.user.display_name(), Some("x"));
        assert!(decode_user_row(json!({"displayName": "x"}))
            .unwrap_err()
            .contains("no user id"));
        assert!(decode_user_row(json!({"id": "nope"}))
            .unwrap_err()
            .contains("not a GUID"));
        let g = decode_group_row(&json!({"id": m.to_string(), "members@delta": [
            {"@odata.type": "#microsoft.graph.group", "id": m.to_string()},
            {"@odata.type": "#microsoft.graph.user", "id": m.to_string(), "@removed": {"reason": "deleted"}}]}))
        .unwrap();
        assert_eq!(g.members_added[0].kind, MemberKind::Group);
        assert_eq!(g.members_removed[0].kind, MemberKind::User);
        assert!(decode_group_row(&json!({"id": m.to_string(), "members@delta": [{}]})).is_err());
    }

    /// Links to another host are refused without echoing their query.
    #[test]
    fn foreign_links_are_refused_without_their_token() {
        let g = Url::parse("https://graph.microsoft.com").unwrap();
        let e = own_link(
            "https://evil.example/v1.0/users/delta?$deltatoken=SECRET",
            "deltaLink",
            &g,
        )
        .unwrap_err();
        assert!(e.contains("evil.example") && !e.contains("SECRET"), "{e}");
        assert!(own_link(
            "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x",
            "deltaLink",
            &g
        )
        .is_ok());
    }
}
