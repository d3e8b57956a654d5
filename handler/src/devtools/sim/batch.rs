//! `POST /v1.0/$batch`: up to 20 sub-requests, `dependsOn` ordering (a
//! failed dependency answers 424), each sub-request authenticated by the
//! envelope's token but throttled, faulted and counted on its own, with its
//! own `Retry-After` when refused. Binary bodies travel base64-encoded.
use std::collections::{HashMap, HashSet};

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::http::{fault_resp, finish, process, Call, GBody, GReq, GResp};
use super::model::World;

/// Most sub-requests in one batch.
const MAX_REQUESTS: usize = 20;

struct Sub {
    id: String,
    method: String,
    url: String,
    headers: Map<String, Value>,
    body: Option<Value>,
    depends_on: Vec<String>,
}

fn parse(req: &GReq) -> Result<Vec<Sub>, GResp> {
    let bad = |m: &str| GResp::error(400, "BadRequest", m.to_string());
    let v: Value = serde_json::from_slice(&req.body)
        .map_err(|_| bad("Invalid batch payload format: the body is not JSON."))?;
    let reqs = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Invalid batch payload format: 'requests' is missing."))?;
    if reqs.is_empty() {
        return Err(bad("Invalid batch payload format: 'requests' is empty."));
    }
    if reqs.len() > MAX_REQUESTS {
        return Err(bad(
            "The number of requests in a batch exceeds the limit of 20.",
        ));
    }
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for r in reqs {
        let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let id = match r.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(bad("Invalid batch payload format: a request has no 'id'.")),
        };
        if !ids.insert(id.clone()) {
            return Err(bad(&format!(
                "Invalid batch payload format: duplicate request id '{id}'."
            )));
        }
        let (Some(method), Some(url)) = (s("method"), s("url")) else {
            return Err(bad(&format!(
                "Invalid batch payload format: request '{id}' needs 'method' and 'url'."
            )));
        };
        let headers = r
            .get("headers")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let depends_on = r
            .get("dependsOn")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| match d {
                        Value::String(s) => Some(s.clone()),
                        Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Sub {
            id,
            method,
            url,
            headers,
            body: r.get("body").cloned(),
            depends_on,
        });
    }
    for s in &out {
        for d in &s.depends_on {
            if !ids.contains(d) {
                return Err(bad(&format!(
                    "Invalid batch payload format: request '{}' depends on unknown request '{d}'.",
                    s.id
                )));
            }
        }
    }
    Ok(out)
}

fn to_greq(s: &Sub, outer: &GReq) -> Result<GReq, GResp> {
    let method = Method::from_bytes(s.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| GResp::bad_request(format!("Invalid method '{}'.", s.method)))?;
    let mut url = s.url.trim();
    for p in ["https://graph.microsoft.com", "http://graph.microsoft.com"] {
        if let Some(r) = url.strip_prefix(p) {
            url = r;
        }
    }
    let url = url.trim_start_matches('/');
    let url = url.strip_prefix("v1.0/").unwrap_or(url);
    let mut headers = HeaderMap::new();
    // The envelope's credentials apply to every sub-request.
    if let Some(a) = outer.headers.get("authorization") {
        headers.insert("authorization", a.clone());
    }
    for (k, v) in &s.headers {
        if let (Ok(k), Some(Ok(v))) = (
            HeaderName::try_from(k.as_str()),
            v.as_str().map(HeaderValue::from_str),
        ) {
            headers.insert(k, v);
        }
    }
    let is_json = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .is_none_or(|c| c.contains("json"));
    let body = match &s.body {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(b64)) if !is_json => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from(b64.clone().into_bytes())),
        Some(v) => Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    };
    Ok(GReq::parse(method, url, headers, body))
}

fn item(id: &str, r: GResp) -> Value {
    let mut h = Map::new();
    for (k, v) in &r.headers {
        h.insert(k.clone(), Value::String(v.clone()));
    }
    let mut m = Map::new();
    m.insert("id".into(), Value::String(id.to_string()));
    m.insert("status".into(), json!(r.status));
    match r.body {
        GBody::Empty => {}
        GBody::Json(v) => {
            h.insert(
                "Content-Type".into(),
                json!("application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"),
            );
            m.insert("body".into(), v);
        }
        GBody::Bytes { content_type, data } => {
            h.insert("Content-Type".into(), Value::String(content_type));
            m.insert(
                "body".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(&data)),
            );
        }
    }
    m.insert("headers".into(), Value::Object(h));
    Value::Object(m)
}

/// Runs a batch under the world lock.
pub(crate) fn run(w: &mut World, call: &Call<'_>, req: &GReq, scale: f64) -> GResp {
    let subs = match parse(req) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let outer_crid = req.header("client-request-id").map(str::to_string);
    let mut done: HashMap<String, bool> = HashMap::new();
    let mut answers: HashMap<String, Value> = HashMap::new();
    let mut pending: Vec<&Sub> = subs.iter().collect();
    while !pending.is_empty() {
        let Some(pos) = pending
            .iter()
            .position(|s| s.depends_on.iter().all(|d| done.contains_key(d)))
        else {
            for s in pending.drain(..) {
                let r = GResp::error(
                    400,
                    "BadRequest",
                    "Invalid batch payload format: dependsOn forms a cycle.",
                );
                answers.insert(s.id.clone(), item(&s.id, r));
            }
            break;
        };
        let s = pending.remove(pos);
        let rid = w.new_id().to_string();
        let crid = s
            .headers
            .get("client-request-id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| outer_crid.clone())
            .unwrap_or_else(|| rid.clone());
        let failed_dep = s.depends_on.iter().any(|d| done.get(d) == Some(&false));
        let mut r = if failed_dep {
            let kind = to_greq(s, req).map(|g| g.classify().0).unwrap_or("read");
            w.counts.record(kind, 424);
            GResp::error(
                424,
                "FailedDependency",
                "The request was not run because a request it depends on failed.",
            )
        } else {
            match to_greq(s, req) {
                Err(r) => {
                    w.counts.record("read", r.status);
                    r
                }
                Ok(g) => {
                    // Each sub-request meets injected 5xx faults on its own.
                    let d = super::faults::decide(
                        &mut w.fault_rng,
                        &call.dynamic.faults,
                        &super::LatencyModel::default(),
                        scale,
                    );
                    match d.error_5xx {
                        Some(code) => {
                            w.counts.record(g.classify().0, code);
                            fault_resp(code)
                        }
                        None => process(w, call, &g, scale),
                    }
                }
            }
        };
        finish(&mut r, &rid, &crid, call.wall);
        done.insert(s.id.clone(), r.is_success());
        answers.insert(s.id.clone(), item(&s.id, r));
    }
    let responses: Vec<Value> = subs.iter().filter_map(|s| answers.remove(&s.id)).collect();
    GResp::json(200, json!({ "responses": responses }))
}
