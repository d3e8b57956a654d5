//! OData query options and collection pages: `$select`, `$top`, `$count`
//! (with `ConsistencyLevel: eventual`), `$skiptoken` and
//! `@odata.nextLink`, and the page shape.
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::devtools::sim::http::{Call, GReq, GResp};
use crate::devtools::sim::query;
use crate::domain::Guid;

pub(super) fn select(req: &GReq) -> Result<Option<Vec<String>>, GResp> {
    query::parse_select(req.q("select")).map_err(|p| {
        GResp::bad_request(format!(
            "Could not find a property named '{p}' on type 'microsoft.graph.user'."
        ))
    })
}

/// Graph refuses to `$select` a directory extension nobody registered in
/// the tenant (400, like any unknown property).
pub(super) fn known_extensions(
    t: &crate::devtools::sim::model::Tenant,
    sel: &Option<Vec<String>>,
) -> Result<(), GResp> {
    let unknown = sel.iter().flatten().find(|p| {
        p.starts_with("extension_") && !t.extension_properties.contains(&p.to_ascii_lowercase())
    });
    match unknown {
        Some(p) => Err(GResp::bad_request(format!(
            "Could not find a property named '{p}' on type 'microsoft.graph.user'."
        ))),
        None => Ok(()),
    }
}

pub(super) fn top(req: &GReq, default: usize) -> Result<usize, GResp> {
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

pub(super) fn eventual(req: &GReq) -> bool {
    req.header("consistencylevel")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

pub(super) fn count_requested(req: &GReq) -> bool {
    req.q("count")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

const SKIP_PREFIX: &str = "sim1:";

fn encode_skip(after: Guid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{SKIP_PREFIX}{after}"))
}

pub(super) fn decode_skip(req: &GReq) -> Result<Option<Guid>, GResp> {
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
pub(super) fn next_link(call: &Call<'_>, req: &GReq, after: Guid) -> String {
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

pub(super) fn context(what: &str) -> Value {
    Value::String(format!("https://graph.microsoft.com/v1.0/$metadata#{what}"))
}

/// A page: `@odata.context`, optional `@odata.count`, optional `@odata.nextLink`, `value`.
pub(super) fn page(
    ctx: &str,
    items: Vec<Value>,
    count: Option<usize>,
    next: Option<String>,
) -> GResp {
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
