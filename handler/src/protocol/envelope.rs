//! The wire format: decoding the host's request envelope
//! `{"Data":{…},"Metadata":{…}}` and encoding the answer
//! `{"Outputs":{…},"Logs":[…],"ReturnValue":…}`.
//!
//! Decoding is tolerant of every variant the host is known to send (see
//! `docs/protocol.md`): values JSON-encoded once more as strings,
//! numbers sent as strings, ids wrapped in extra quotes, dates without an
//! offset, a null `ScheduleStatus`, base64 bodies. What it cannot make sense
//! of is refused with an [`EnvelopeError`] naming the field and the shape it
//! expected; values are never echoed back (they may hold personal data).
use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde_json::{json, Map, Value};

use super::model::{FunctionOutput, HttpRequest, Invocation, QueueMessage, TimerInfo, Trigger};
use super::names::{
    FunctionName, TriggerKind, HTTP_OUTPUT_BINDING, QUARANTINE_OUTPUT_BINDING, QUEUE_OUTPUT_BINDING,
};

/// A request envelope the handler cannot decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: expected {expected}, found {found}")]
pub struct EnvelopeError {
    /// Path of the offending field (`Data.workItem`, `Metadata.DequeueCount`),
    /// or `body` for the whole envelope.
    pub field: String,
    /// The shape the handler accepts there.
    pub expected: &'static str,
    /// What arrived, described by type (never the value itself).
    pub found: String,
}

fn envelope_error(field: &str, expected: &'static str, found: impl Into<String>) -> EnvelopeError {
    EnvelopeError {
        field: field.to_string(),
        expected,
        found: found.into(),
    }
}

/// A function's outputs that its bindings cannot carry (a bug in the
/// function, not bad data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error(
        "function {function} has no workItems output binding but returned {count} queue message(s)"
    )]
    NoQueueOutput {
        function: FunctionName,
        count: usize,
    },
    #[error("function {function}: queue message {index} is {found}, but queue messages must be JSON objects (the host base64-decodes bare strings)")]
    QueueMessageNotObject {
        function: FunctionName,
        index: usize,
        found: &'static str,
    },
    #[error(
        "function {function} has no quarantine output binding but quarantined {count} message(s)"
    )]
    NoQuarantineOutput {
        function: FunctionName,
        count: usize,
    },
    #[error("HTTP function {function} returned no HTTP response (Outputs.res)")]
    MissingHttpResponse { function: FunctionName },
    #[error("function {function} is not HTTP-triggered but returned an HTTP response")]
    UnexpectedHttpResponse { function: FunctionName },
}

/// The JSON type of a value, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// If `s` is itself a JSON string literal (the host's extra encoding),
/// returns its content; otherwise `s` unchanged.
fn unwrap_json_string(s: &str) -> String {
    let t = s.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(t) {
            return inner;
        }
    }
    s.to_string()
}

/// An object, or a string holding one (extra encoding).
fn object_tolerant<'a>(
    v: &'a Value,
    field: &str,
    expected: &'static str,
) -> Result<std::borrow::Cow<'a, Map<String, Value>>, EnvelopeError> {
    match v {
        Value::Object(m) => Ok(std::borrow::Cow::Borrowed(m)),
        Value::String(s) => match serde_json::from_str::<Value>(&unwrap_json_string(s)) {
            Ok(Value::Object(m)) => Ok(std::borrow::Cow::Owned(m)),
            _ => Err(envelope_error(
                field,
                expected,
                "a string that does not hold a JSON object",
            )),
        },
        other => Err(envelope_error(field, expected, kind(other))),
    }
}

/// A plain string property (extra quotes removed); `None` when absent or null.
fn opt_string(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<String>, EnvelopeError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(unwrap_json_string(s))),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(envelope_error(field, "a string", kind(other))),
    }
}

/// Parses the host's timestamps: RFC 3339, or an ISO date-time without an
/// offset (taken as UTC). The .NET minimum `0001-01-01T00:00:00` means
/// "never" and becomes `None`.
fn parse_host_time(s: &str) -> Option<Option<DateTime<Utc>>> {
    let s = unwrap_json_string(s);
    let s = s.trim();
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    Some(if t.year() <= 1 { None } else { Some(t) })
}

fn opt_time(
    m: &Map<String, Value>,
    key: &str,
    field: &str,
) -> Result<Option<DateTime<Utc>>, EnvelopeError> {
    const EXPECTED: &str = "an ISO 8601 date-time string (e.g. 2024-11-30T14:45:51+00:00)";
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => parse_host_time(s)
            .ok_or_else(|| envelope_error(field, EXPECTED, "a string that is not a date-time")),
        Some(other) => Err(envelope_error(field, EXPECTED, kind(other))),
    }
}

/// Decodes a request envelope for `function`.
pub fn decode_request(
    function: FunctionName,
    invocation_id: Option<String>,
    body: &[u8],
) -> Result<Invocation, EnvelopeError> {
    const ENVELOPE: &str = "a JSON object {\"Data\":{…},\"Metadata\":{…}}";
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        envelope_error(
            "body",
            ENVELOPE,
            // serde_json's syntax messages say what and where, never
            // quoting the text (`EOF while parsing an object`, `recursion
            // limit exceeded`, ... `at line 1 column 311`).
            format!("text that is not JSON the handler can read ({e})"),
        )
    })?;
    let Value::Object(root) = root else {
        return Err(envelope_error("body", ENVELOPE, kind(&root)));
    };
    let data = match root.get("Data") {
        Some(Value::Object(d)) => d,
        Some(other) => {
            return Err(envelope_error(
                "Data",
                "an object keyed by binding name",
                kind(other),
            ))
        }
        None => {
            return Err(envelope_error(
                "Data",
                "an object keyed by binding name",
                "nothing (the envelope has no Data)",
            ))
        }
    };
    let metadata = match root.get("Metadata") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::Object(m)) => Value::Object(m.clone()),
        Some(other) => return Err(envelope_error("Metadata", "an object", kind(other))),
    };
    let kind_ = function.trigger();
    let binding = kind_.binding_name();
    let field = format!("Data.{binding}");
    let value = data.get(binding).ok_or_else(|| {
        envelope_error(
            &field,
            match kind_ {
                TriggerKind::Timer => "the timer trigger's object",
                TriggerKind::Queue => "the queue message text",
                TriggerKind::Http => "the HTTP request object",
            },
            format!("nothing (function {function} is triggered through binding {binding:?})"),
        )
    })?;
    let trigger = match kind_ {
        TriggerKind::Timer => Trigger::Timer(decode_timer(value, &field)?),
        TriggerKind::Queue => Trigger::Queue(decode_queue(value, &field, &metadata)?),
        TriggerKind::Http => Trigger::Http(decode_http(value, &field)?),
    };
    Ok(Invocation {
        function,
        invocation_id,
        trigger,
        metadata,
    })
}

fn decode_timer(v: &Value, field: &str) -> Result<TimerInfo, EnvelopeError> {
    let m = object_tolerant(
        v,
        field,
        "an object {\"Schedule\":…,\"ScheduleStatus\":…,\"IsPastDue\":…}",
    )?;
    let is_past_due = match m.get("IsPastDue") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
        Some(other) => {
            return Err(envelope_error(
                &format!("{field}.IsPastDue"),
                "a boolean",
                kind(other),
            ))
        }
    };
    let adjust_for_dst = match m.get("Schedule") {
        Some(Value::Object(s)) => match s.get("AdjustForDST") {
            Some(Value::Bool(b)) => Some(*b),
            _ => None,
        },
        _ => None,
    };
    let mut info = TimerInfo {
        is_past_due,
        adjust_for_dst,
        ..TimerInfo::default()
    };
    match m.get("ScheduleStatus") {
        None | Some(Value::Null) => {}
        Some(Value::Object(s)) => {
            let f = |k: &str| format!("{field}.ScheduleStatus.{k}");
            info.last = opt_time(s, "Last", &f("Last"))?;
            info.next = opt_time(s, "Next", &f("Next"))?;
            info.last_updated = opt_time(s, "LastUpdated", &f("LastUpdated"))?;
        }
        Some(other) => {
            return Err(envelope_error(
                &format!("{field}.ScheduleStatus"),
                "an object {\"Last\",\"Next\",\"LastUpdated\"} or null",
                kind(other),
            ))
        }
    }
    Ok(info)
}

fn decode_queue(v: &Value, field: &str, metadata: &Value) -> Result<QueueMessage, EnvelopeError> {
    let raw = match v {
        Value::String(s) => unwrap_json_string(s),
        Value::Object(_) | Value::Array(_) | Value::Number(_) | Value::Bool(_) => v.to_string(),
        Value::Null => {
            return Err(envelope_error(
                field,
                "the queue message text (a string, possibly JSON-encoded once more)",
                "null",
            ))
        }
    };
    let body = match v {
        Value::Object(_) | Value::Array(_) => v.clone(),
        _ => serde_json::from_str::<Value>(&raw).unwrap_or_else(|_| Value::String(raw.clone())),
    };
    let empty = Map::new();
    let m = metadata.as_object().unwrap_or(&empty);
    const COUNT: &str = "a whole number (or a string holding one)";
    let dequeue_count = match m.get("DequeueCount") {
        Some(Value::Number(n)) => {
            n.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    envelope_error(
                        "Metadata.DequeueCount",
                        COUNT,
                        "a number that is not a whole number in range",
                    )
                })?
        }
        Some(Value::String(s)) => unwrap_json_string(s).trim().parse::<u32>().map_err(|_| {
            envelope_error(
                "Metadata.DequeueCount",
                COUNT,
                "a string that is not a whole number",
            )
        })?,
        Some(other) => return Err(envelope_error("Metadata.DequeueCount", COUNT, kind(other))),
        None => {
            return Err(envelope_error(
                "Metadata.DequeueCount",
                COUNT,
                "nothing (the host always sends it with a queue message)",
            ))
        }
    };
    Ok(QueueMessage {
        body,
        raw,
        dequeue_count,
        id: opt_string(m, "Id", "Metadata.Id")?,
        pop_receipt: opt_string(m, "PopReceipt", "Metadata.PopReceipt")?,
        insertion_time: opt_time(m, "InsertionTime", "Metadata.InsertionTime")?,
        expiration_time: opt_time(m, "ExpirationTime", "Metadata.ExpirationTime")?,
        next_visible_time: opt_time(m, "NextVisibleTime", "Metadata.NextVisibleTime")?,
    })
}

/// True for content types whose body the host sends as text rather than base64.
fn is_textual(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return true;
    };
    let ct = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.is_empty()
        || ct.starts_with("text/")
        || ct.ends_with("/json")
        || ct.ends_with("+json")
        || ct.ends_with("/xml")
        || ct.ends_with("+xml")
        || ct == "application/x-www-form-urlencoded"
        || ct == "application/javascript"
}

fn decode_http(v: &Value, field: &str) -> Result<HttpRequest, EnvelopeError> {
    let m = object_tolerant(
        v,
        field,
        "an object {\"Url\",\"Method\",\"Query\",\"Headers\",\"Body\"}",
    )?;
    let req_string = |key: &str| -> Result<String, EnvelopeError> {
        let f = format!("{field}.{key}");
        opt_string(&m, key, &f)?.ok_or_else(|| envelope_error(&f, "a string", "nothing"))
    };
    let url = req_string("Url")?;
    let method = req_string("Method")?.to_ascii_uppercase();

    let mut query = BTreeMap::new();
    match m.get("Query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(q)) => {
            for (k, val) in q {
                let s = match val {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Array(items) if items.iter().all(Value::is_string) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => {
                        return Err(envelope_error(
                            &format!("{field}.Query.{k}"),
                            "a string",
                            kind(other),
                        ))
                    }
                };
                query.insert(k.clone(), s);
            }
        }
        Some(other) => {
            return Err(envelope_error(
                &format!("{field}.Query"),
                "an object of name: value strings",
                kind(other),
            ))
        }
    }

    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    match m.get("Headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, val) in h {
                let values: Vec<String> = match val {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) if items.iter().all(Value::is_string) => items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    other => {
                        return Err(envelope_error(
                            &format!("{field}.Headers.{k}"),
                            "an array of strings (or one string)",
                            kind(other),
                        ))
                    }
                };
                headers
                    .entry(k.to_ascii_lowercase())
                    .or_default()
                    .extend(values);
            }
        }
        Some(other) => {
            return Err(envelope_error(
                &format!("{field}.Headers"),
                "an object of name: [values]",
                kind(other),
            ))
        }
    }

    let content_type = headers
        .get("content-type")
        .and_then(|v| v.first())
        .map(String::as_str);
    let body = match m.get("Body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if is_textual(content_type) {
                Some(s.clone().into_bytes())
            } else {
                // The host base64-encodes binary bodies; text that is not
                // valid base64 is taken as it is.
                Some(
                    base64::engine::general_purpose::STANDARD
                        .decode(s.trim())
                        .unwrap_or_else(|_| s.clone().into_bytes()),
                )
            }
        }
        // A JSON body the host already parsed.
        Some(other) => Some(other.to_string().into_bytes()),
    };
    Ok(HttpRequest {
        url,
        method,
        query,
        headers,
        body,
    })
}

/// Encodes a successful invocation's outputs as the response envelope.
pub fn encode_output(function: FunctionName, out: FunctionOutput) -> Result<Value, OutputError> {
    let mut outputs = Map::new();
    if !out.queue_messages.is_empty() {
        if !function.has_queue_output() {
            return Err(OutputError::NoQueueOutput {
                function,
                count: out.queue_messages.len(),
            });
        }
        if let Some((index, bad)) = out
            .queue_messages
            .iter()
            .enumerate()
            .find(|(_, m)| !m.is_object())
        {
            return Err(OutputError::QueueMessageNotObject {
                function,
                index,
                found: kind(bad),
            });
        }
        outputs.insert(
            QUEUE_OUTPUT_BINDING.to_string(),
            Value::Array(out.queue_messages),
        );
    }
    if !out.quarantine.is_empty() {
        if !function.has_quarantine_output() {
            return Err(OutputError::NoQuarantineOutput {
                function,
                count: out.quarantine.len(),
            });
        }
        outputs.insert(
            QUARANTINE_OUTPUT_BINDING.to_string(),
            Value::Array(out.quarantine),
        );
    }
    match (function.trigger(), out.http) {
        (TriggerKind::Http, Some(res)) => {
            outputs.insert(HTTP_OUTPUT_BINDING.to_string(), http_response_json(&res));
        }
        (TriggerKind::Http, None) => return Err(OutputError::MissingHttpResponse { function }),
        (_, Some(_)) => return Err(OutputError::UnexpectedHttpResponse { function }),
        (_, None) => {}
    }
    Ok(json!({
        "Outputs": outputs,
        "Logs": out.logs,
        "ReturnValue": out.return_value.unwrap_or(Value::Null),
    }))
}

fn http_response_json(res: &super::model::HttpResponse) -> Value {
    json!({
        "statusCode": res.status,
        "headers": res.headers,
        "body": res.body,
    })
}

/// A 200 envelope that carries only log lines (a queue or timer function's
/// recorded failure).
pub fn encode_logs_only(logs: Vec<String>) -> Value {
    json!({ "Outputs": {}, "Logs": logs, "ReturnValue": Value::Null })
}

/// A 200 envelope answering an HTTP function with `res` = `status` and a
/// JSON `{"error": message}` body.
pub fn encode_http_error(status: u16, message: &str, logs: Vec<String>) -> Value {
    let res = super::model::HttpResponse::json(status, &json!({ "error": message }));
    json!({
        "Outputs": { HTTP_OUTPUT_BINDING: http_response_json(&res) },
        "Logs": logs,
        "ReturnValue": Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JSON string literal is unwrapped once; plain text stays as it is.
    #[test]
    fn extra_json_string_encoding_is_unwrapped_once() {
        assert_eq!(unwrap_json_string(r#""{\"a\":1}""#), r#"{"a":1}"#);
        assert_eq!(unwrap_json_string(r#"{"a":1}"#), r#"{"a":1}"#);
        assert_eq!(unwrap_json_string(r#""abc""#), "abc");
        assert_eq!(unwrap_json_string("plain"), "plain");
    }

    /// Host timestamps with and without an offset parse as UTC; the .NET
    /// minimum means "never".
    #[test]
    fn host_times_parse_with_or_without_offset() {
        let with = parse_host_time("2024-11-30T14:45:51+00:00")
            .unwrap()
            .unwrap();
        let without = parse_host_time("2024-11-30T14:45:51").unwrap().unwrap();
        assert_eq!(with, without);
        assert_eq!(parse_host_time("0001-01-01T00:00:00"), Some(None));
        assert_eq!(parse_host_time("yesterday"), None);
    }

    /// Binary content types are base64-decoded; text ones are not.
    #[test]
    fn textual_content_types_are_recognised() {
        assert!(is_textual(Some("application/json; charset=utf-8")));
        assert!(is_textual(Some("text/plain")));
        assert!(is_textual(None));
        assert!(!is_textual(Some("application/octet-stream")));
        assert!(!is_textual(Some("image/png")));
    }

    /// Valid JSON nested deeper than the parser goes is told apart from
    /// text that is not JSON (found by the reliability fuzzing: both said
    /// "not JSON").
    #[test]
    fn too_deep_json_is_named_as_such() {
        let deep = format!(
            "{{\"Data\":{{\"timer\":{{}}}},\"x\":{}{}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let e = decode_request(FunctionName::SyncTimer, None, deep.as_bytes()).unwrap_err();
        assert_eq!(e.field, "body");
        assert!(e.found.contains("recursion limit"), "{e}");
        let e = decode_request(FunctionName::SyncTimer, None, b"{\"Data\":").unwrap_err();
        assert!(e.found.contains("line 1"), "{e}");
    }
}
