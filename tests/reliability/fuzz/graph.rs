//! Graph collection pages and their `@odata.nextLink`, Graph's error
//! bodies, and the token endpoint's answers (success and refusal).
use guest_sync::domain::Guid;
use guest_sync::graph::http::decode_page;
use guest_sync::graph::retry::{retry_after_from, MAX_RETRY_AFTER};
use guest_sync::graph::{
    decode_token_answer, decode_token_refusal, http::map_error, AppCredentials, Operation,
};
use guest_sync::secrets::SecretString;
use proptest::prelude::*;
use serde_json::{json, Value};
use url::Url;

use super::gen::{self, guid, input, named, no_secret, obj, plain, re, Input, Verdict};

const GRAPH: &str = "https://graph.microsoft.com";

fn user() -> impl Strategy<Value = Value> {
    (
        guid(),
        plain(),
        prop::option::of(re("[a-z]{1,8}@[a-z]{1,8}\\.example")),
        any::<bool>(),
    )
        .prop_map(|(id, name, mail, enabled)| {
            obj(vec![
                ("@odata.type", json!("#microsoft.graph.user")),
                ("id", json!(id)),
                ("displayName", json!(name)),
                ("mail", json!(mail)),
                ("accountEnabled", json!(enabled)),
                ("otherMails", json!([])),
            ])
        })
}

fn next_link() -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => Just(Value::Null),
        3 => re("[A-Za-z0-9]{1,20}").prop_map(|t| json!(format!("{GRAPH}/v1.0/groups/x/transitiveMembers?$skiptoken={t}"))),
        // Hostile links: other hosts, schemes, ports, look-alikes.
        1 => prop::sample::select(vec![
            "https://graph.microsoft.com.evil.example/v1.0/users",
            "http://graph.microsoft.com/v1.0/users",
            "https://graph.microsoft.com:444/v1.0/users",
            "https://evil.example/?https://graph.microsoft.com/",
            "https://user@evil.example/",
            "//graph.microsoft.com/v1.0/users",
            "/v1.0/users",
            "data:text/plain,graph.microsoft.com",
            "https://GRAPH.MICROSOFT.COM/v1.0/users",
            "https://graph.microsoft.com%2eevil.example/",
            "https://[::1]/",
        ]).prop_map(|s| json!(s)),
    ]
}

fn page() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(user(), 0..4),
        next_link(),
        prop::option::of(0u64..100_000),
    )
        .prop_map(|(users, next, count)| {
            let mut p = obj(vec![
                (
                    "@odata.context",
                    json!(format!("{GRAPH}/v1.0/$metadata#users")),
                ),
                ("value", Value::Array(users)),
            ]);
            if !next.is_null() {
                p["@odata.nextLink"] = next;
            }
            if let Some(c) = count {
                p["@odata.count"] = json!(c);
            }
            p
        })
}

fn check_page(i: &Input) -> Result<Verdict, String> {
    let graph = Url::parse(GRAPH).unwrap();
    match decode_page(&i.bytes(), &graph) {
        Ok(p) => {
            // The property that guards the bearer token.
            if let Some(n) = &p.next {
                if n.origin() != graph.origin() {
                    return Err(format!("a next link to another origin was accepted: {n}"));
                }
            }
            if let Some(v) = i.intact() {
                if p.users.len() != v["value"].as_array().unwrap().len() {
                    return Err("users were lost".into());
                }
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            let hostile_link = i
                .value()
                .and_then(|v| v.get("@odata.nextLink"))
                .and_then(Value::as_str)
                .is_some_and(|l| !l.starts_with(&format!("{GRAPH}/")));
            if i.intact().is_some() && !hostile_link {
                return Err(format!("a valid page was refused: {e}"));
            }
            let mut names = i.names();
            if hostile_link {
                names.push("@odata.nextLink".into());
            }
            // An item is named by its position ("item 3 of the page").
            named(&e, &names)
        }
    }
}

fn creds(secret: &str) -> AppCredentials {
    AppCredentials {
        tenant_id: Guid::from_uuid(uuid::Uuid::from_u128(1)),
        client_id: Guid::from_uuid(uuid::Uuid::from_u128(2)),
        secret: SecretString::new(secret),
    }
}

fn graph_error() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "Authorization_RequestDenied",
            "Request_ResourceNotFound",
            "BadRequest",
            "",
        ]),
        re("[A-Za-z .']{0,40}"),
        prop::option::of(re("[a-z]{1,8}@[a-z]{1,8}\\.example")),
    )
        .prop_map(|(code, msg, addr)| {
            let message = match addr {
                Some(a) => format!("{msg} user {a} is not allowed"),
                None => msg,
            };
            json!({"error": {"code": code, "message": message,
                             "innerError": {"date": "2026-11-27T00:00:00", "request-id": "x"}}})
        })
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(vec![
            301u16, 400, 401, 403, 404, 409, 410, 412, 429, 500, 503
        ]),
        100u16..1000
    ]
}

fn op() -> impl Strategy<Value = Operation> {
    prop::sample::select(vec![
        Operation::Invite,
        Operation::ReadGroupMembers,
        Operation::GetUser,
    ])
}

/// The addresses a body carries: a mapped error must not repeat them.
fn addresses(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|w| w.contains('@') && w.len() > 3)
        .map(str::to_string)
        .collect()
}

fn token_answer() -> impl Strategy<Value = (Value, String)> {
    (
        re("[A-Za-z0-9._-]{20,40}"),
        prop::option::of(prop_oneof![
            (-10i64..200_000).prop_map(|n| json!(n)),
            Just(json!(3599.5))
        ]),
    )
        .prop_map(|(token, expires)| {
            let token = format!("eyJ{token}");
            let mut a =
                json!({"token_type": "Bearer", "ext_expires_in": 3599, "access_token": token});
            if let Some(e) = expires {
                a["expires_in"] = e;
            }
            (a, token)
        })
}

fn token_input() -> impl Strategy<Value = (Input, String)> {
    gen::input_with(token_answer())
}

fn check_token(i: &Input, token: &str) -> Result<Verdict, String> {
    match decode_token_answer(&i.bytes()) {
        Ok((t, lifetime)) => {
            if t.expose().trim().is_empty() {
                return Err("an empty token was accepted".into());
            }
            if !(1..=86_400).contains(&lifetime.as_secs()) {
                return Err(format!("a lifetime out of range: {lifetime:?}"));
            }
            if i.intact().is_some() && t.expose() != token {
                return Err("the token changed".into());
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            if i.intact().is_some() {
                return Err(format!("a valid token answer was refused: {e}"));
            }
            no_secret(&e, &[token.to_string()])?;
            named(&e, &i.names())
        }
    }
}

fn refusal() -> impl Strategy<Value = Value> {
    (prop::sample::select(vec!["invalid_client", "unauthorized_client", "invalid_request"]),
     prop::sample::select(vec![7000215u32, 7000222, 700016, 90002, 1]),
     re("[A-Za-z .]{0,30}"),
     prop::option::of(re("[a-z]{1,8}@[a-z]{1,8}\\.example")))
        .prop_map(|(error, code, text, addr)| {
            let desc = format!("AADSTS{code}: {text} {} Trace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 2026-11-27", addr.unwrap_or_default());
            json!({"error": error, "error_description": desc, "error_codes": [code], "timestamp": "2026-11-27 00:00:00Z",
                   "trace_id": "1", "correlation_id": "2"})
        })
}

/// A `Retry-After` (or the simulator's `x-sim-retry-after-ms`) value.
fn retry_after() -> impl Strategy<Value = (String, bool)> {
    (
        prop_oneof![
            2 => any::<f64>().prop_map(|f| f.to_string()),
            2 => any::<u64>().prop_map(|n| n.to_string()),
            1 => prop::sample::select(vec![
                "1e300", "-1", "-0", "NaN", "inf", "1e19", "18446744073709551616", "0.000000001",
                "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                "Mon, 01 Jan 0001 00:00:00 GMT", "Thu, 27 Nov 2026 19:00:00 +1400",
            ]).prop_map(str::to_string),
            2 => gen::text(),
        ],
        any::<bool>(),
    )
}

#[test]
fn graph_pages_errors_and_token_answers_survive_hostile_input() {
    let secret = "cs~Fuzz-Client-Secret-0123456789";
    let rows = vec![
        gen::run("Graph page + @odata.nextLink", input(page()), check_page),
        gen::run(
            "Graph error body (always mapped to an Err)",
            (input(graph_error()), status(), op()),
            |(i, status, op)| {
                let body = i.bytes();
                let e = map_error(
                    *op,
                    *status,
                    &body,
                    "user x",
                    uuid::Uuid::nil(),
                    &creds(secret),
                );
                let msg = e.to_string();
                if msg.trim().is_empty() {
                    return Err("the error message is empty".into());
                }
                no_secret(&msg, &[secret.to_string()])?;
                if let Some(a) = addresses(&body).iter().find(|a| msg.contains(a.as_str())) {
                    return Err(format!(
                        "an address of the body is repeated ({} chars)",
                        a.len()
                    ));
                }
                Ok(Verdict::Rejected)
            },
        ),
        gen::run("Retry-After header", retry_after(), |(v, sim)| {
            let name = if *sim {
                "x-sim-retry-after-ms"
            } else {
                "retry-after"
            };
            match retry_after_from(|h| (h == name).then_some(v.as_str())) {
                Some(d) if d > MAX_RETRY_AFTER => Err(format!("a wait over the cap: {d:?}")),
                Some(_) => Ok(Verdict::Accepted),
                // Malformed: no wait from the header (back-off applies).
                None => Ok(Verdict::Rejected),
            }
        }),
        gen::run("token answer (2xx)", token_input(), |(i, token)| {
            check_token(i, token)
        }),
        gen::run(
            "token refusal (4xx, always mapped to an Err)",
            (input(refusal()), 400u16..500),
            |(i, status)| {
                let body = i.bytes();
                let e = decode_token_refusal(*status, &body, &creds(secret), uuid::Uuid::nil());
                let msg = e.to_string();
                if msg.trim().is_empty() {
                    return Err("the error message is empty".into());
                }
                no_secret(&msg, &[secret.to_string()])?;
                if let Some(a) = addresses(&body).iter().find(|a| msg.contains(a.as_str())) {
                    return Err(format!(
                        "an address of the body is repeated ({} chars)",
                        a.len()
                    ));
                }
                Ok(Verdict::Rejected)
            },
        ),
    ];
    for r in &rows {
        assert_eq!(r.panics, 0);
    }
    gen::record(
        "fuzz-graph",
        "Graph pages, error bodies, token answers",
        &rows,
    );
}
