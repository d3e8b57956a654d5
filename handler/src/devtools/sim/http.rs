//! The simulator's router and the request/answer types shared by plain Graph
//! calls and `$batch` sub-requests: authentication by bearer token, fault
//! injection and latency, throttling, Graph's error shape and the headers
//! every answer carries (`request-id`, `client-request-id`,
//! `x-ms-resource-unit`, ...).
use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::model::{graph_time, World};
use super::throttle::{Cost, Throttled};
use super::{Dynamic, Inner};
use crate::domain::Guid;

/// Largest request body accepted at the HTTP level.
const MAX_BODY: usize = 128 * 1024 * 1024;

/// The whole server: token endpoint, control interface, Graph as fallback.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(super::token::token))
        .route("/msi/token", get(super::identity::msi_token))
        .route(
            "/{tenant}/adminconsent",
            get(super::identity::admin_consent_v1),
        )
        .route(
            "/{tenant}/v2.0/adminconsent",
            get(super::identity::admin_consent_v2),
        )
        .nest("/_sim", super::control::router())
        .fallback(graph_entry)
        // Graph takes photos up to 4 MB, and a $batch of 20 base64 photos is
        // ~107 MB: the size checks are Graph's (400), not axum's 2 MB default.
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(inner)
}

/// One Graph request (a plain call or a `$batch` sub-request).
#[derive(Debug, Clone)]
pub(crate) struct GReq {
    pub method: Method,
    /// Decoded path segments after `v1.0/`.
    pub segs: Vec<String>,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl GReq {
    /// Splits `path?query` (relative to `/v1.0/`).
    pub fn parse(method: Method, path_and_query: &str, headers: HeaderMap, body: Bytes) -> Self {
        let (p, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let segs = p
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let query = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        GReq {
            method,
            segs,
            query,
            headers,
            body,
        }
    }
    /// A query option, by case-insensitive name (`$select` or `select`).
    pub fn q(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('$');
        self.query
            .iter()
            .find(|(k, _)| {
                let kb = k.trim_start_matches('$');
                kb.eq_ignore_ascii_case(bare)
            })
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn path(&self) -> String {
        self.segs.join("/")
    }

    /// What kind of call this is and what it costs (`docs/graph-client.md`,
    /// "Costs").
    pub fn classify(&self) -> (&'static str, Cost) {
        let select = self.q("select").is_some();
        let s: Vec<&str> = self.segs.iter().map(String::as_str).collect();
        if self.method == Method::GET {
            let base = match s.as_slice() {
                // Delta rounds are priced like transitive member reads
                // (an assumption: Graph's cost table does not list them).
                ["users" | "groups", "delta"] => 5,
                ["users"] | ["users", _] => 2,
                ["groups", _, "members"] => 3,
                ["groups", _, "transitiveMembers", ..] => 5,
                _ => 1,
            };
            let ru = if select && base > 1 { base - 1 } else { base };
            return (
                "read",
                Cost {
                    ru,
                    write: false,
                    invite: false,
                },
            );
        }
        // A POST that only reads.
        if matches!(s.as_slice(), ["users", _, "checkMemberGroups"]) {
            return (
                "read",
                Cost {
                    ru: 1,
                    write: false,
                    invite: false,
                },
            );
        }
        let invite = matches!(s.as_slice(), ["invitations"]);
        (
            if invite { "invite" } else { "write" },
            Cost {
                ru: 1,
                write: true,
                invite,
            },
        )
    }
}

/// The body of an answer.
#[derive(Debug, Clone)]
pub(crate) enum GBody {
    Empty,
    Json(Value),
    Bytes { content_type: String, data: Bytes },
}

/// One Graph answer.
#[derive(Debug, Clone)]
pub(crate) struct GResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: GBody,
}

impl GResp {
    pub fn json(status: u16, v: Value) -> Self {
        GResp {
            status,
            headers: Vec::new(),
            body: GBody::Json(v),
        }
    }
    pub fn empty(status: u16) -> Self {
        GResp {
            status,
            headers: Vec::new(),
            body: GBody::Empty,
        }
    }
    /// Graph's error shape; `innerError` is filled in by [`finish`].
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        GResp::json(
            status,
            json!({"error": {"code": code, "message": message.into(), "innerError": {}}}),
        )
    }
    pub fn not_found(id: &str) -> Self {
        GResp::error(
            404,
            "Request_ResourceNotFound",
            format!("Resource '{id}' does not exist or one of its queried reference-property objects are not present."),
        )
    }
    pub fn forbidden() -> Self {
        GResp::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        GResp::error(400, "Request_BadRequest", message)
    }
    pub fn unsupported_query() -> Self {
        GResp::error(400, "Request_UnsupportedQuery", "Unsupported Query.")
    }
    pub fn with_header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Who is calling and when.
pub(crate) struct Call<'a> {
    pub tenant: Guid,
    pub app: Guid,
    pub perms: HashSet<String>,
    pub now: f64,
    pub wall: DateTime<Utc>,
    /// Base for `@odata.nextLink` (`http://127.0.0.1:port[/tenant]`).
    pub base: String,
    pub dynamic: &'a Dynamic,
}

impl Call<'_> {
    pub fn has(&self, any_of: &[&str]) -> bool {
        any_of.iter().any(|p| self.perms.contains(*p))
    }
    /// Is an object created at `created_at` still inside the consistency window?
    pub fn fresh(&self, created_at: f64) -> bool {
        (self.now - created_at) * 1000.0 < self.dynamic.consistency_window_ms as f64
    }
}

/// Seconds (scaled) for `Retry-After` and ms for `x-sim-retry-after-ms`.
pub(crate) fn throttled_resp(t: &Throttled, scale: f64) -> GResp {
    let real = t.wait_secs / scale;
    let secs = real.ceil().max(1.0) as u64;
    let ms = (real * 1000.0).ceil().max(1.0) as u64;
    GResp::error(
        429,
        "TooManyRequests",
        "Too many requests. The request was throttled; retry after the time in the Retry-After header.",
    )
    .with_header("Retry-After", secs.to_string())
    .with_header("x-sim-retry-after-ms", ms.to_string())
    .with_header("x-ms-throttle-scope", t.scope.clone())
    .with_header("x-ms-throttle-information", t.information)
    .with_header("x-ms-throttle-limit-percentage", format!("{:.2}", t.used))
}

/// The answer of an injected 5xx fault, in Graph's error shape.
pub(crate) fn fault_resp(code: u16) -> GResp {
    let (c, m) = match code {
        503 => (
            "ServiceUnavailable",
            "The service is temporarily unavailable. Please retry later.",
        ),
        502 => ("BadGateway", "Bad gateway."),
        504 => ("GatewayTimeout", "The request timed out."),
        _ => ("InternalServerError", "An internal server error occurred."),
    };
    GResp::error(code, c, m)
}

/// Runs one (sub-)request under the world lock: throttling, then the route.
pub(crate) fn process(w: &mut World, call: &Call<'_>, req: &GReq, scale: f64) -> GResp {
    let (kind, cost) = req.classify();
    let mut pct = 0.0;
    if call.dynamic.throttling {
        let users = w
            .tenants
            .get(&call.tenant)
            .map(|t| t.user_count())
            .unwrap_or(0);
        match w
            .buckets
            .admit(call.app, call.tenant, users, cost, call.now)
        {
            Ok(p) => pct = p,
            Err(t) => {
                let r = throttled_resp(&t, scale).with_header("x-ms-resource-unit", "0");
                w.counts.record(kind, r.status);
                return r;
            }
        }
    }
    let mut r = super::graph::dispatch(w, call, req);
    r.headers
        .push(("x-ms-resource-unit".into(), cost.ru.to_string()));
    if pct > 0.8 {
        r.headers
            .push(("x-ms-throttle-limit-percentage".into(), format!("{pct:.2}")));
    }
    w.counts.record(kind, r.status);
    if req.method == Method::GET
        && matches!(req.segs.as_slice(), [g, _, m, ..] if g == "groups" && (m == "members" || m == "transitiveMembers"))
    {
        w.counts.member_pages += 1;
    }
    r
}

/// Fills `innerError` and the ids every answer carries.
pub(crate) fn finish(
    r: &mut GResp,
    request_id: &str,
    client_request_id: &str,
    wall: DateTime<Utc>,
) {
    if let GBody::Json(Value::Object(m)) = &mut r.body {
        if let Some(Value::Object(e)) = m.get_mut("error") {
            e.insert(
                "innerError".into(),
                json!({"date": graph_time(wall), "request-id": request_id, "client-request-id": client_request_id}),
            );
        }
    }
    // Every answer states its cost; refused and failed calls cost nothing.
    if !r
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("x-ms-resource-unit"))
    {
        r.headers.push(("x-ms-resource-unit".into(), "0".into()));
    }
    r.headers.push(("request-id".into(), request_id.into()));
    r.headers
        .push(("client-request-id".into(), client_request_id.into()));
}

fn to_response(r: GResp) -> Response {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in &r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            b = b.header(k, v);
        }
    }
    let (ct, body) = match r.body {
        GBody::Empty => (None, Body::empty()),
        GBody::Json(v) => (
            Some("application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8".to_string()),
            Body::from(serde_json::to_vec(&v).unwrap_or_default()),
        ),
        GBody::Bytes { content_type, data } => (Some(content_type), Body::from(data)),
    };
    if let Some(ct) = ct {
        b = b.header("content-type", ct);
    }
    b.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

/// An answer whose body fails at once: hyper closes the connection without
/// sending a complete answer (the "dropped connection" fault).
fn dropped() -> Response {
    let s = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("simulated dropped connection"))
    });
    Response::new(Body::from_stream(s))
}

/// Splits `/v1.0/rest` or `/{tenant}/v1.0/rest` (extra leading slashes, as
/// from a base URL with a trailing slash, are tolerated).
fn split_path<'a>(path: &'a str) -> Option<(Option<String>, &'a str)> {
    let p = path.trim_start_matches('/');
    // `/beta/` is served like `/v1.0/` (the doctor reads one beta
    // resource, the photo update settings).
    let version = |p: &'a str| p.strip_prefix("v1.0/").or_else(|| p.strip_prefix("beta/"));
    if let Some(rest) = version(p) {
        return Some((None, rest));
    }
    let (tenant, rest) = p.split_once('/')?;
    let rest = version(rest.trim_start_matches('/'))?;
    (!tenant.is_empty()).then(|| (Some(tenant.to_string()), rest))
}

/// Every Graph call enters here.
async fn graph_entry(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let dynamic = inner.dynamic();
    let scale = inner.clock.scale();
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Some((pinned, rest)) = split_path(uri.path()) else {
        let mut r = GResp::error(
            404,
            "UnknownPath",
            format!(
                "The simulator serves /v1.0/..., the token endpoint and /_sim; not {}",
                uri.path()
            ),
        );
        let (rid, wall) = {
            let mut w = inner.world();
            (w.new_id().to_string(), inner.clock.wall(inner.clock.now()))
        };
        let crid = client_request_id.unwrap_or_else(|| rid.clone());
        finish(&mut r, &rid, &crid, wall);
        return to_response(r);
    };
    let pq = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    // A page read over the https listener links its next page there too
    // (clients follow a nextLink only to the host they called).
    let origin = match inner.tls.get() {
        Some(t)
            if headers.get("host").and_then(|v| v.to_str().ok())
                == Some(
                    format!(
                        "{}:{}",
                        t.url.host_str().unwrap_or_default(),
                        t.url.port().unwrap_or(443)
                    )
                    .as_str(),
                ) =>
        {
            t.url.clone()
        }
        _ => inner.url.clone(),
    };
    let req = GReq::parse(method, &pq, headers, body);
    let is_batch = req.method == Method::POST && req.segs.len() == 1 && req.segs[0] == "$batch";
    let kind = if is_batch { "batch" } else { req.classify().0 };

    // Fate of the call: drawn first, in arrival order.
    let decision = {
        let mut w = inner.world();
        w.counts.http_requests += 1;
        super::faults::decide(&mut w.fault_rng, &dynamic.faults, &dynamic.latency, scale)
    };
    if !decision.delay.is_zero() {
        tokio::time::sleep(decision.delay).await;
    }
    if decision.drop {
        inner.world().counts.dropped += 1;
        return dropped();
    }

    let now = inner.clock.now();
    let wall = inner.clock.wall(now);
    let mut w = inner.world();
    let request_id = w.new_id().to_string();
    let crid = client_request_id.unwrap_or_else(|| request_id.clone());

    if let Some(code) = decision.error_5xx {
        let mut r = fault_resp(code);
        w.counts.record(kind, code);
        drop(w);
        finish(&mut r, &request_id, &crid, wall);
        return to_response(r);
    }

    // Authentication.
    let auth = authenticate(&w, &req, pinned.as_deref(), now);
    let (tenant, app, perms) = match auth {
        Ok(a) => a,
        Err(mut r) => {
            w.counts.record(kind, r.status);
            drop(w);
            finish(&mut r, &request_id, &crid, wall);
            return to_response(r);
        }
    };
    let mut base = origin.as_str().trim_end_matches('/').to_string();
    if let Some(p) = &pinned {
        base = format!("{base}/{p}");
    }
    let call = Call {
        tenant,
        app,
        perms,
        now,
        wall,
        base,
        dynamic: &dynamic,
    };
    let mut r = if is_batch {
        super::batch::run(&mut w, &call, &req, scale)
    } else {
        process(&mut w, &call, &req, scale)
    };
    if is_batch {
        w.counts.record("batch", r.status);
    }
    drop(w);
    finish(&mut r, &request_id, &crid, wall);
    to_response(r)
}

fn unauthenticated(msg: &str) -> GResp {
    GResp::error(401, "InvalidAuthenticationToken", msg)
}

/// Bearer token -> (tenant, app, permissions), or a 401.
fn authenticate(
    w: &World,
    req: &GReq,
    pinned: Option<&str>,
    now: f64,
) -> Result<(Guid, Guid, HashSet<String>), GResp> {
    let Some(h) = req.header("authorization") else {
        return Err(unauthenticated("Access token is empty."));
    };
    let Some(tok) = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))
    else {
        return Err(unauthenticated("Access token is empty."));
    };
    let Some(info) = w.tokens.get(tok.trim()) else {
        return Err(unauthenticated("IDX14100: JWT is not well formed."));
    };
    if info.expires_at <= now {
        return Err(unauthenticated(
            "Lifetime validation failed, the token is expired.",
        ));
    }
    if let Some(p) = pinned {
        let same = w.find_tenant(p) == Some(info.tenant);
        if !same {
            return Err(unauthenticated(
                "Access token validation failure. Invalid audience: the token was issued for another tenant.",
            ));
        }
    }
    let perms = w
        .tenants
        .get(&info.tenant)
        .and_then(|t| t.apps.get(&info.app))
        .map(|a| a.permissions.clone())
        .ok_or_else(|| {
            unauthenticated(
                "Access token validation failure: the app no longer exists in the tenant.",
            )
        })?;
    Ok((info.tenant, info.app, perms))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain, pinned and double-slashed Graph paths are recognised, in
    /// v1.0 and beta (served alike); others are not.
    #[test]
    fn graph_paths_are_split_into_tenant_pin_and_rest() {
        assert_eq!(split_path("/v1.0/users"), Some((None, "users")));
        assert_eq!(split_path("//v1.0/users/x"), Some((None, "users/x")));
        assert_eq!(
            split_path("/abc/v1.0/groups"),
            Some((Some("abc".to_string()), "groups"))
        );
        assert_eq!(
            split_path("/beta/admin/people/photoUpdateSettings"),
            Some((None, "admin/people/photoUpdateSettings"))
        );
        assert_eq!(split_path("/v2.0/users"), None);
        assert_eq!(split_path("/_sim/x"), None);
    }
}
