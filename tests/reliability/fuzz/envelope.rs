//! Host envelopes (timer, queue trigger, HTTP request), the work item in a
//! queue message, and the job cursors a work item carries.
use guest_sync::domain::{Job, WorkItem};
use guest_sync::engine::JobCursor;
use guest_sync::protocol::envelope::decode_request;
use guest_sync::protocol::{FunctionName, QueueMessage, Trigger};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::gen::{self, guid, input, named, obj, plain, re, time, Input, Verdict};

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339()
}

fn timer_envelope() -> impl Strategy<Value = Value> {
    (any::<bool>(), any::<bool>(), time(), time(), time(), any::<bool>()).prop_map(
        |(dst, past, last, next, upd, null_status)| {
            let status = if null_status {
                Value::Null
            } else {
                json!({"Last": rfc3339(last), "Next": rfc3339(next), "LastUpdated": rfc3339(upd)})
            };
            json!({"Data": {"timer": {"Schedule": {"AdjustForDST": dst}, "ScheduleStatus": status, "IsPastDue": past}},
                   "Metadata": {"sys": {"MethodName": "sync-timer", "UtcNow": rfc3339(next)}}})
        },
    )
}

fn work_item() -> impl Strategy<Value = Value> {
    (
        0usize..3,
        guid(),
        guid(),
        time(),
        0u64..1000,
        prop::option::of(guid()),
        0usize..3,
    )
        .prop_map(|(job, tenant, run, at, pass, after, cursor_kind)| {
            let job = Job::ALL[job];
            let cursor = match (cursor_kind, job) {
                (0, _) => Value::Null,
                (_, Job::Reconcile) => json!({"pass": pass}),
                (_, Job::Photos) => after.map_or(json!({}), |a| json!({"after": a})),
                _ => Value::Null,
            };
            obj(vec![
                ("job", json!(job.as_str())),
                ("sourceTenantId", json!(tenant)),
                ("runId", json!(run)),
                ("cursor", cursor),
                ("enqueuedAt", json!(rfc3339(at))),
            ])
        })
}

fn queue_envelope() -> impl Strategy<Value = Value> {
    (
        work_item(),
        0u32..10,
        any::<bool>(),
        plain(),
        time(),
        0usize..3,
    )
        .prop_map(|(item, count, count_as_string, id, t, encoding)| {
            let text = item.to_string();
            let data = match encoding {
                0 => json!(text),
                1 => json!(serde_json::to_string(&text).unwrap()),
                _ => item,
            };
            let count = if count_as_string {
                json!(count.to_string())
            } else {
                json!(count)
            };
            json!({"Data": {"workItem": data},
                   "Metadata": {"DequeueCount": count, "Id": format!("\"{id}\""), "PopReceipt": id,
                                "InsertionTime": rfc3339(t), "ExpirationTime": rfc3339(t),
                                "NextVisibleTime": rfc3339(t)}})
        })
}

fn http_envelope() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["GET", "post", "Put"]),
        prop::collection::btree_map(re("[a-z]{1,6}"), re("[a-z0-9]{0,6}"), 0..3),
        prop::collection::btree_map(re("[A-Za-z-]{1,8}"), prop::collection::vec(re("[ -~]{0,10}"), 1..3), 0..3),
        prop::option::of(re("[ -~]{0,40}")),
        prop::sample::select(vec!["application/json", "application/octet-stream", "text/plain"]),
    )
        .prop_map(|(method, query, mut headers, body, ct)| {
            headers.insert("Content-Type".into(), vec![ct.to_string()]);
            json!({"Data": {"req": {"Url": "https://app.example.test/api/report?x=1", "Method": method,
                                    "Query": query, "Headers": headers, "Body": body}},
                   "Metadata": {}})
        })
}

/// Decodes `i` as `function`'s envelope and checks the properties.
fn check_envelope(function: FunctionName, i: &Input) -> Result<Verdict, String> {
    match decode_request(function, Some("inv-1".into()), &i.bytes()) {
        Ok(inv) => {
            if let Trigger::Queue(m) = &inv.trigger {
                // The next decoder in line sees whatever the envelope held.
                if let Err(e) = m.work_item() {
                    named(&e.to_string(), &[])?;
                }
            }
            if let Some(v) = i.intact() {
                match &inv.trigger {
                    Trigger::Timer(t) => {
                        if Some(&json!(t.is_past_due)) != v.pointer("/Data/timer/IsPastDue") {
                            return Err("IsPastDue did not survive".into());
                        }
                    }
                    Trigger::Queue(m) => {
                        let want = v.pointer("/Metadata/DequeueCount").unwrap();
                        if want.to_string().trim_matches('"') != m.dequeue_count.to_string() {
                            return Err("DequeueCount did not survive".into());
                        }
                        m.work_item()
                            .map_err(|e| format!("a valid work item was refused: {e}"))?;
                    }
                    Trigger::Http(r) => {
                        let want = v
                            .pointer("/Data/req/Method")
                            .and_then(Value::as_str)
                            .unwrap();
                        if r.method != want.to_ascii_uppercase() {
                            return Err("Method did not survive".into());
                        }
                    }
                }
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            if i.intact().is_some() {
                return Err(format!("a valid envelope was refused: {e}"));
            }
            if e.field.is_empty() {
                return Err("the error names no field".into());
            }
            named(&e.to_string(), &i.names())
        }
    }
}

/// The queue message text as the host hands it over -> work item, and the
/// cursor in it.
fn check_work_item(i: &Input) -> Result<Verdict, String> {
    let raw = String::from_utf8_lossy(&i.bytes()).into_owned();
    let body = serde_json::from_str::<Value>(&raw).unwrap_or_else(|_| Value::String(raw.clone()));
    let msg = QueueMessage {
        body,
        raw,
        dequeue_count: 1,
        id: None,
        pop_receipt: None,
        insertion_time: None,
        expiration_time: None,
        next_visible_time: None,
    };
    match msg.work_item() {
        Ok(item) => {
            // Round trip through its serializer.
            let again: WorkItem =
                serde_json::from_value(serde_json::to_value(&item).unwrap()).unwrap();
            if again != item {
                return Err("the work item does not round-trip".into());
            }
            check_cursor(item.job, item.cursor.as_ref())?;
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            if let Some(v) = i.intact() {
                return Err(format!("a valid work item was refused: {e} ({v})"));
            }
            named(&e.to_string(), &i.names())
        }
    }
}

/// A cursor is never an error (garbage means "start over"), and a cursor
/// read round-trips.
fn check_cursor(job: Job, raw: Option<&Value>) -> Result<Verdict, String> {
    match JobCursor::parse(job, raw) {
        Some(c) => {
            if c.job() != job {
                return Err("a cursor of another job was read".into());
            }
            if JobCursor::parse(job, Some(&c.to_value())) != Some(c) {
                return Err("the cursor does not round-trip".into());
            }
            Ok(Verdict::Accepted)
        }
        None => Ok(Verdict::Rejected),
    }
}

fn cursor_input() -> impl Strategy<Value = (usize, Option<Value>)> {
    let valid =
        (0u64..u64::MAX, prop::option::of(guid()), any::<bool>()).prop_map(|(p, a, rec)| {
            if rec {
                json!({"pass": p})
            } else {
                a.map_or(json!({}), |a| json!({"after": a}))
            }
        });
    (
        0usize..3,
        prop::option::of(prop_oneof![
            gen::mutated(valid).prop_map(|m| m.value.unwrap_or(Value::Null)),
            gen::junk_value()
        ]),
    )
}

#[test]
fn envelopes_work_items_and_cursors_survive_hostile_input() {
    let rows = vec![
        gen::run("timer envelope", input(timer_envelope()), |i| {
            check_envelope(FunctionName::SyncTimer, i)
        }),
        gen::run(
            "queue-trigger envelope (+ work item)",
            input(queue_envelope()),
            |i| check_envelope(FunctionName::TenantWorker, i),
        ),
        gen::run("HTTP request envelope", input(http_envelope()), |i| {
            check_envelope(FunctionName::Report, i)
        }),
        gen::run(
            "work item (queue message text)",
            input(work_item()),
            check_work_item,
        ),
        gen::run("job cursor", cursor_input(), |(job, raw)| {
            check_cursor(Job::ALL[*job], raw.as_ref())
        }),
    ];
    for r in &rows {
        assert_eq!(r.panics, 0);
    }
    gen::record(
        "fuzz-envelope",
        "Host envelopes, work items, cursors",
        &rows,
    );
}
