//! Azure Table entities -> records (tenants, guests, runs, audit, leases),
//! query answers with their continuation headers, and the store's own
//! guest-page continuation tokens.
use base64::Engine as _;
use guest_sync::domain::{AuditEntry, GuestRecord, RunRecord, SourceTenant};
use guest_sync::store::table::client::{
    decode_continuation, decode_query_page, Entity, NEXT_PK_HEADER, NEXT_RK_HEADER,
};
use guest_sync::store::table::{
    decode_audit, decode_guest, decode_run, decode_tenant, decode_token, lease_expiry,
};
use guest_sync::store::StoreError;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::gen::{self, guid, input, named, obj, plain, re, time, Input, Verdict};

fn opt<T: Serialize>(v: Option<T>) -> Value {
    v.map_or(Value::Null, |v| json!(v))
}

/// Valid tenant options (shared with the tenant options fuzzing).
pub fn tenant_options() -> impl Strategy<Value = Value> {
    (
        prop::sample::subsequence(
            vec![
                "displayName",
                "jobTitle",
                "department",
                "companyName",
                "city",
                "surname",
            ],
            0..4,
        ),
        prop::collection::vec(
            (
                re("[A-Za-z0-9]{1,10}"),
                prop::option::of(re("[ -~]{0,6}")),
                any::<bool>(),
            ),
            4,
        ),
        prop::sample::select(vec!["userPrincipalName", "mail"]),
        prop::sample::select(vec!["Guest", "Member"]),
        (
            any::<bool>(),
            prop::option::of(prop::sample::select(vec!["delete", "disable"])),
            any::<bool>(),
            any::<bool>(),
        ),
        0u64..100_000,
        prop::collection::vec(re("[a-z]{1,8}\\.example"), 0..3),
    )
        .prop_map(
            |(
                targets,
                sources,
                invite,
                user_type,
                (guests, depro, adopted, photos),
                cooldown,
                domains,
            )| {
                let mapping: Vec<Value> = targets
                    .iter()
                    .zip(sources)
                    .map(|(t, (name, suffix, constant))| {
                        let source = if constant {
                            json!({"kind": "constant", "value": name})
                        } else {
                            json!({"kind": "attribute", "name": name, "suffix": suffix})
                        };
                        json!({"target": t, "source": source})
                    })
                    .collect();
                obj(vec![
                    ("attributeMapping", Value::Array(mapping)),
                    ("inviteAddress", json!(invite)),
                    ("userType", json!(user_type)),
                    ("includeSourceGuests", json!(guests)),
                    ("deprovision", opt(depro)),
                    ("deprovisionAdopted", json!(adopted)),
                    ("photos", json!(photos)),
                    ("photoCooldownSecs", json!(cooldown)),
                    ("mailDomains", json!(domains)),
                ])
            },
        )
}

fn tenant_doc() -> impl Strategy<Value = Value> {
    (guid(), plain(), guid(), re("[a-z0-9-]{1,20}"), guid(), any::<bool>(), tenant_options(), time(), prop::option::of(time()),
        prop::option::of((time(), any::<u64>(), any::<u64>(), any::<bool>())))
        .prop_map(|(t, name, client, secret, group, enabled, options, created, expires, guard)| {
            obj(vec![
                ("tenantId", json!(t)),
                ("displayName", json!(name)),
                ("clientId", json!(client)),
                ("secretName", json!(secret)),
                ("groupId", json!(group)),
                ("enabled", json!(enabled)),
                ("options", options),
                ("createdAt", json!(created)),
                ("secretExpiresAt", opt(expires)),
                ("guard", opt(guard.map(|(at, w, l, c)| json!({"trippedAt": at, "wanted": w, "limit": l, "confirmed": c})))),
            ])
        })
}

fn guest_doc() -> impl Strategy<Value = Value> {
    (
        (
            guid(),
            guid(),
            plain(),
            prop::option::of(plain()),
            prop::option::of(guid()),
            prop::option::of(plain()),
        ),
        (
            prop::sample::select(vec![
                "invited",
                "accepted",
                "disabled",
                "deprovisioned",
                "failed",
                "conflict",
                "held",
            ]),
            any::<bool>(),
            time(),
        ),
        (
            prop::option::of(time()),
            prop::option::of(time()),
            prop::option::of(re("[0-9a-f]{8}")),
            prop::option::of(re("[ -~]{0,20}")),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (t, u, upn, mail, host, host_upn),
                (state, adopted, created),
                (redeemed, synced, fp, err, anchored),
            )| {
                obj(vec![
                    ("sourceTenantId", json!(t)),
                    ("sourceUserId", json!(u)),
                    ("sourceUpn", json!(upn)),
                    ("sourceMail", opt(mail)),
                    ("hostUserId", opt(host)),
                    ("hostUpn", opt(host_upn)),
                    ("state", json!(state)),
                    ("adopted", json!(adopted)),
                    ("createdAt", json!(created)),
                    ("redeemedAt", opt(redeemed)),
                    ("lastSyncedAt", opt(synced)),
                    ("profileFingerprint", opt(fp)),
                    ("lastError", opt(err)),
                    ("anchored", json!(anchored)),
                ])
            },
        )
}

fn run_doc() -> impl Strategy<Value = Value> {
    (
        guid(),
        0usize..3,
        guid(),
        time(),
        prop::option::of(time()),
        prop::sample::select(vec![
            "running",
            "continued",
            "succeeded",
            "partial",
            "failed",
        ]),
        prop::collection::vec(any::<u32>(), 3),
        prop::option::of(re("[ -~]{0,20}")),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(run, job, t, started, finished, outcome, n, error, dry, parked)| {
                obj(vec![
                    ("runId", json!(run)),
                    ("job", json!(["reconcile", "photos", "redemption"][job])),
                    ("sourceTenantId", json!(t)),
                    ("startedAt", json!(started)),
                    ("finishedAt", opt(finished)),
                    ("outcome", json!(outcome)),
                    (
                        "counts",
                        json!({"created": n[0], "updated": n[1], "throttled": n[2]}),
                    ),
                    ("error", opt(error)),
                    ("dryRun", json!(dry)),
                    ("parked", json!(parked)),
                ])
            },
        )
}

fn audit_doc() -> impl Strategy<Value = Value> {
    (
        time(),
        guid(),
        guid(),
        prop::option::of(guid()),
        prop::option::of(guid()),
        prop::option::of(plain()),
        prop::sample::select(vec!["invite", "patch", "delete", "quarantine"]),
        prop::sample::select(vec!["ok", "failed", "dry-run"]),
        prop::option::of(re("[ -~]{0,30}")),
        prop::option::of(guid()),
    )
        .prop_map(
            |(at, run, t, user, target, upn, op, outcome, detail, rid)| {
                obj(vec![
                    ("at", json!(at)),
                    ("runId", json!(run)),
                    ("sourceTenantId", json!(t)),
                    ("sourceUserId", opt(user)),
                    ("targetId", opt(target)),
                    ("targetUpn", opt(upn)),
                    ("operation", json!(op)),
                    ("outcome", json!(outcome)),
                    ("detail", opt(detail)),
                    ("clientRequestId", opt(rid)),
                ])
            },
        )
}

/// An entity around a record document: while mutated, `Doc` is the
/// document itself (so mutations reach inside it); it is turned into the
/// JSON string the service keeps afterwards.
fn entity_of(doc: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    (doc, guid(), time()).prop_map(|(doc, rk, ts)| {
        obj(vec![
            ("PartitionKey", json!("tenant")),
            ("RowKey", json!(rk)),
            ("Timestamp", json!(ts)),
            ("Timestamp@odata.type", json!("Edm.DateTime")),
            ("State", json!("invited")),
            ("Doc", doc),
        ])
    })
}

fn as_entity(i: &Input) -> Entity {
    match i {
        Input::Bytes(b) => {
            let mut e = Entity::new();
            e.insert("PartitionKey".into(), json!("p"));
            e.insert("RowKey".into(), json!("r"));
            e.insert("Doc".into(), json!(String::from_utf8_lossy(b)));
            e
        }
        Input::Doc(m) => match &m.value {
            Some(Value::Object(e)) => {
                let mut e = e.clone();
                if let Some(doc @ Value::Object(_)) = e.get("Doc") {
                    let text = doc.to_string();
                    e.insert("Doc".into(), Value::String(text));
                }
                e
            }
            Some(_) => Entity::new(),
            // Cut short: the Doc is the cut text.
            None => {
                let mut e = Entity::new();
                e.insert("Doc".into(), Value::String(m.text.clone()));
                e
            }
        },
    }
}

/// Decodes an entity with `decode`; a record read re-encodes to the same
/// record.
fn check_record<T>(
    i: &Input,
    decode: fn(&Entity) -> Result<T, StoreError>,
) -> Result<Verdict, String>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let e = as_entity(i);
    match decode(&e) {
        Ok(r) => {
            let again: T = serde_json::from_str(&serde_json::to_string(&r).unwrap())
                .map_err(|e| format!("a decoded record does not re-encode: {e}"))?;
            if again != r {
                return Err("the record does not round-trip".into());
            }
            Ok(Verdict::Accepted)
        }
        Err(err) => {
            if i.intact().is_some() {
                return Err(format!("a valid entity was refused: {err}"));
            }
            if !matches!(err, StoreError::Corrupt(_)) {
                return Err(format!("a bad stored entity is not Corrupt: {err}"));
            }
            named(&err.to_string(), &i.names())
        }
    }
}

fn lease_entity() -> impl Strategy<Value = Value> {
    (guid(), plain(), time()).prop_map(|(t, holder, exp)| {
        obj(vec![
            ("PartitionKey", json!(format!("{t}|reconcile"))),
            ("RowKey", json!("lease")),
            ("Holder", json!(holder)),
            (
                "ExpiresAt",
                json!(exp.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            ),
            ("ExpiresAt@odata.type", json!("Edm.DateTime")),
        ])
    })
}

/// A continuation header value: a realistic one, empty, text, or raw bytes.
fn header() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(prop_oneof![
        3 => re("1![0-9]{1,2}![A-Za-z0-9+/=_-]{1,30}").prop_map(String::into_bytes),
        1 => Just(Vec::new()),
        1 => gen::text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
    ])
}

fn check_continuation(pk: &Option<Vec<u8>>, rk: &Option<Vec<u8>>) -> Result<Verdict, String> {
    match decode_continuation(pk.as_deref(), rk.as_deref()) {
        Ok(None) => {
            // An empty header is no header.
            let given = |h: &Option<Vec<u8>>| h.as_ref().is_some_and(|v| !v.is_empty());
            if given(pk) || given(rk) {
                return Err("a continuation header was ignored".into());
            }
            Ok(Verdict::Accepted)
        }
        Ok(Some(c)) => {
            let sendable = |s: &str| {
                !s.is_empty() && s.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            };
            if !sendable(&c.next_pk) || c.next_rk.as_deref().is_some_and(|r| !sendable(r)) {
                return Err("a continuation that cannot be sent back was accepted".into());
            }
            if pk.as_deref() != Some(c.next_pk.as_bytes()) {
                return Err("NextPartitionKey changed".into());
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => named(
            &e,
            &[NEXT_PK_HEADER.to_string(), NEXT_RK_HEADER.to_string()],
        ),
    }
}

fn query_body() -> impl Strategy<Value = Value> {
    prop::collection::vec(entity_of(guest_doc()), 0..3).prop_map(|es| {
        let es: Vec<Value> = es
            .into_iter()
            .map(|mut e| {
                let doc = e["Doc"].to_string();
                e["Doc"] = Value::String(doc);
                e
            })
            .collect();
        json!({"odata.metadata": "x", "value": es})
    })
}

fn check_query(i: &Input) -> Result<Verdict, String> {
    let body = String::from_utf8_lossy(&i.bytes()).into_owned();
    match decode_query_page("GuestSyncGuests", &body, Some(b"1!8!abc"), None) {
        Ok((entities, next)) => {
            if next.is_none() {
                return Err("the continuation was lost".into());
            }
            if let Some(v) = i.intact() {
                if entities.len() != v["value"].as_array().unwrap().len() {
                    return Err("entities were lost".into());
                }
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            if i.intact().is_some() {
                return Err(format!("a valid answer was refused: {e}"));
            }
            named(&e.to_string(), &i.names())
        }
    }
}

/// A guest-page token: one the store issued (for this tenant or another),
/// or one mutated at the text level.
fn issued() -> impl Strategy<Value = (String, bool)> {
    (
        prop::sample::select(vec!["t1", "t2"]),
        re("[ -~]{0,20}"),
        re("[ -~]{0,20}"),
    )
        .prop_map(|(t, pk, rk)| {
            let raw = format!("{t}\n{pk}\n{rk}");
            (
                format!(
                    "gs1.{}",
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
                ),
                t == "t1" && !pk.contains('\n'),
            )
        })
}

fn token() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        2 => issued(),
        1 => (issued(), any::<prop::sample::Index>(), gen::junk_string()).prop_map(|((tok, _), at, junk)| {
            let mut n = at.index(tok.len() + 1);
            while !tok.is_char_boundary(n) { n -= 1; }
            (format!("{}{junk}", &tok[..n]), false)
        }),
        1 => gen::text().prop_map(|t| (t, false)),
    ]
}

#[test]
fn table_entities_continuations_and_tokens_survive_hostile_input() {
    let rows = vec![
        gen::run(
            "tenant entity -> SourceTenant",
            input(entity_of(tenant_doc())),
            |i| check_record::<SourceTenant>(i, decode_tenant),
        ),
        gen::run(
            "guest entity -> GuestRecord",
            input(entity_of(guest_doc())),
            |i| check_record::<GuestRecord>(i, decode_guest),
        ),
        gen::run(
            "run entity -> RunRecord",
            input(entity_of(run_doc())),
            |i| check_record::<RunRecord>(i, decode_run),
        ),
        gen::run(
            "audit entity -> AuditEntry",
            input(entity_of(audit_doc())),
            |i| check_record::<AuditEntry>(i, decode_audit),
        ),
        gen::run("lease entity -> expiry", input(lease_entity()), |i| {
            let e = as_entity(i);
            match lease_expiry(&e) {
                Ok(_) => Ok(Verdict::Accepted),
                Err(err) if i.intact().is_some() => {
                    Err(format!("a valid lease was refused: {err}"))
                }
                Err(err) => named(&err.to_string(), &["ExpiresAt".to_string()]),
            }
        }),
        gen::run("query answer body", input(query_body()), check_query),
        gen::run(
            "continuation headers (NextPartitionKey/NextRowKey)",
            (header(), header()),
            |(pk, rk)| check_continuation(pk, rk),
        ),
        gen::run(
            "guest-page continuation token",
            token(),
            |(tok, valid)| match decode_token(tok, "t1") {
                Ok(_) => Ok(Verdict::Accepted),
                Err(e) if *valid => Err(format!("a token the store issued was refused: {e}")),
                Err(e) => named(&e.to_string(), &["continuation token".to_string()]),
            },
        ),
    ];
    for r in &rows {
        assert_eq!(r.panics, 0);
    }
    gen::record(
        "fuzz-store",
        "Table entities, continuation headers, page tokens",
        &rows,
    );
}
