//! Configuration an operator writes: the local secrets file, tenant
//! options (`--options-json`, also inside every tenant record), and the
//! settings (`Settings::from_lookup`, with the storage connection string
//! it may hold).
use std::collections::BTreeMap;

use guest_sync::secrets::local::{decode_file, Entry};
use guest_sync::settings::{Settings, SETTING_NAMES};
use guest_sync::store::table::TableClient;
use guest_sync::tenants::parse_options;
use proptest::prelude::*;
use serde_json::{json, Value};

use super::gen::{self, input, named, no_secret, re, time, Input, Verdict};
use super::store::tenant_options;

/// A secrets file: names -> entries with distinctive secret values.
fn secrets_file() -> impl Strategy<Value = (Value, Vec<String>)> {
    prop::collection::btree_map(
        re("[a-z][a-z0-9-]{0,12}"),
        (
            re("[A-Za-z0-9~._-]{12,32}"),
            prop::option::of(time()),
            prop::option::of(any::<bool>()),
        ),
        0..4,
    )
    .prop_map(|m| {
        let mut secrets = Vec::new();
        let mut file = serde_json::Map::new();
        for (name, (v, exp, enabled)) in m {
            let value = format!("sv{v}");
            secrets.push(value.clone());
            let mut e = json!({"value": value, "expiresOn": exp});
            if let Some(en) = enabled {
                e["enabled"] = json!(en);
            }
            file.insert(name, e);
        }
        (Value::Object(file), secrets)
    })
}

fn secrets_input() -> impl Strategy<Value = (Input, Vec<String>)> {
    gen::input_with(secrets_file())
}

fn check_secrets(i: &Input, secrets: &[String]) -> Result<Verdict, String> {
    match decode_file(&i.bytes()) {
        Ok(map) => {
            // Round trip through the file's serializer.
            let text = serde_json::to_vec(&map).unwrap();
            let again: BTreeMap<String, Entry> = decode_file(&text)
                .map_err(|e| format!("a written file does not read back: {e}"))?;
            let same = again.len() == map.len()
                && again.iter().zip(&map).all(|((k1, a), (k2, b))| {
                    k1 == k2
                        && a.value == b.value
                        && a.expires_on == b.expires_on
                        && a.enabled == b.enabled
                });
            if !same {
                return Err("the secrets file does not round-trip".into());
            }
            if let Some(v) = i.intact() {
                if map.len() != v.as_object().unwrap().len() {
                    return Err("secrets were lost".into());
                }
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            if i.intact().is_some() {
                return Err(format!("a valid secrets file was refused: {e}"));
            }
            no_secret(&e, secrets)?;
            named(&e, &i.names())
        }
    }
}

fn check_options(i: &Input) -> Result<Verdict, String> {
    let text = String::from_utf8_lossy(&i.bytes()).into_owned();
    match parse_options(&text) {
        Ok(o) => {
            let again = parse_options(&serde_json::to_string(&o).unwrap())
                .map_err(|e| format!("written options do not read back: {e}"))?;
            if again != o {
                return Err("the options do not round-trip".into());
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            if i.intact().is_some() {
                return Err(format!("valid options were refused: {e}"));
            }
            if !e.starts_with("--options-json") {
                return Err(format!("the error does not name --options-json: {e}"));
            }
            named(&e, &i.names())
        }
    }
}

/// A valid set of settings, with the secrets in it (the storage account
/// key, passwords in URLs).
#[derive(Debug, Clone)]
struct Env {
    vars: BTreeMap<String, String>,
    secrets: Vec<String>,
    account_key: Option<String>,
}

fn env() -> impl Strategy<Value = Env> {
    (
        (any::<u128>(), any::<u128>(), re("[a-z][a-z0-9-]{0,20}")),
        prop::sample::select(vec![0usize, 1, 2, 3]),
        re("[A-Za-z0-9]{16,32}"),
        prop::sample::select(vec![0usize, 1, 2]),
        re("[A-Za-z0-9]{8,16}"),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["5", "10%", "0", "100%", "2.5%"])),
        prop::option::of(prop::sample::select(vec!["delete", "Disable"])),
        prop::option::of(1u64..86_400),
        prop::option::of(prop::sample::select(vec!["none", "extensionAttribute3"])),
    )
        .prop_map(|((t, c, secret_name), store, key, graph, password, allow_http, max, depro, budget, anchor)| {
            let guid = |n: u128| uuid::Uuid::from_u128(n).hyphenated().to_string();
            let mut vars = BTreeMap::new();
            let mut secrets = Vec::new();
            let mut account = None;
            let mut set = |k: &str, v: String| {
                vars.insert(k.to_string(), v);
            };
            set("GUESTSYNC_HOST_TENANT_ID", guid(t));
            set("GUESTSYNC_HOST_CLIENT_ID", guid(c));
            set("GUESTSYNC_HOST_SECRET_NAME", secret_name);
            // The account key is base64 of the generated text (distinctive).
            use base64::Engine as _;
            let account_key = base64::engine::general_purpose::STANDARD.encode(format!("key-{key}"));
            match store {
                0 => {}
                1 => set("GUESTSYNC_STORE", "sqlite:/tmp/fuzz.db".into()),
                2 => set("GUESTSYNC_STORE", "https://acct.table.core.windows.net".into()),
                _ => {
                    secrets.push(account_key.clone());
                    account = Some(account_key.clone());
                    set(
                        "GUESTSYNC_STORE",
                        format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={account_key};EndpointSuffix=core.windows.net"),
                    )
                }
            }
            let pw = format!("pw{password}");
            match graph {
                0 => {}
                1 => set("GUESTSYNC_GRAPH_URL", "http://127.0.0.1:8787".into()),
                _ => {
                    secrets.push(pw.clone());
                    let scheme = if allow_http { "http" } else { "https" };
                    set("GUESTSYNC_GRAPH_URL", format!("{scheme}://svc:{pw}@graph.example.test"));
                }
            }
            if allow_http {
                set("GUESTSYNC_ALLOW_HTTP", "true".into());
            }
            if let Some(m) = max {
                set("GUESTSYNC_MAX_DEPROVISIONS", m.into());
            }
            if let Some(d) = depro {
                set("GUESTSYNC_DEPROVISION", d.into());
            }
            if let Some(b) = budget {
                set("GUESTSYNC_JOB_BUDGET_SECS", b.to_string());
            }
            if let Some(a) = anchor {
                set("GUESTSYNC_ANCHOR_ATTRIBUTE", a.into());
            }
            Env { vars, secrets, account_key: account }
        })
}

/// How a setting is broken.
#[derive(Debug, Clone)]
enum Change {
    None,
    Remove(usize),
    /// Any setting (set or not) given a hostile value.
    Set(usize, String),
}

fn hostile_value() -> impl Strategy<Value = String> {
    prop_oneof![
        gen::junk_string(),
        gen::text(),
        prop::sample::select(vec![
            "http://svc:pwLEAK1234@graph.example.test",
            "ftp://x",
            "https://",
            "sqlite:",
            "AccountName=a",
            "AccountName=a;AccountKey=!!notbase64LEAK1234",
            "-1",
            "18446744073709551616",
            "NaN%",
            "inf%",
            "-0%",
            "1e3",
            "0 */5 * * *",
            "* * * * * * *",
            "{11111111-1111-4111-8111-111111111111}",
            "11111111111141118111111111111111",
            "extensionAttribute99",
            "TRUE",
            "yes",
            " ",
            "\u{0}",
        ])
        .prop_map(str::to_string),
    ]
}

fn settings_case() -> impl Strategy<Value = (Env, Change)> {
    (
        env(),
        prop_oneof![
            1 => Just(Change::None),
            1 => any::<prop::sample::Index>().prop_map(|i| Change::Remove(i.index(usize::MAX))),
            4 => (0..SETTING_NAMES.len(), hostile_value()).prop_map(|(k, v)| Change::Set(k, v)),
        ],
    )
}

fn check_settings(env: &Env, change: &Change) -> Result<Verdict, String> {
    let mut vars = env.vars.clone();
    let mut secrets = env.secrets.clone();
    let touched = match change {
        Change::None => None,
        Change::Remove(i) => {
            let k = vars.keys().nth(i % vars.len()).unwrap().clone();
            vars.remove(&k);
            Some(k)
        }
        Change::Set(k, v) => {
            let k = SETTING_NAMES[*k].to_string();
            // A credential in a setting that may carry one (an endpoint
            // URL, the store); a value in the wrong setting is no secret.
            let may_carry = k.ends_with("_URL") || k == "GUESTSYNC_STORE";
            if may_carry && v.contains("LEAK1234") {
                secrets.push("LEAK1234".into());
            }
            vars.insert(k.clone(), v.clone());
            Some(k)
        }
    };
    match Settings::from_lookup(|k| vars.get(k).cloned()) {
        Ok(s) => {
            // The connection string is read when the store opens: its
            // errors must not quote the key either.
            if let guest_sync::settings::StoreSpec::ConnectionString(cs) = &s.store {
                if let Err(e) = TableClient::from_connection_string(cs) {
                    no_secret(&e.to_string(), &secrets)?;
                }
            }
            if let Some(k) = &env.account_key {
                no_secret(&format!("{s:?}"), std::slice::from_ref(k))
                    .map_err(|_| "Settings' Debug shows the account key".to_string())?;
            }
            Ok(Verdict::Accepted)
        }
        Err(e) => {
            let msg = e.to_string();
            if matches!(change, Change::None) {
                return Err(format!("valid settings were refused: {msg}"));
            }
            no_secret(&msg, &secrets)?;
            if !SETTING_NAMES.contains(&e.name) || !msg.contains(e.name) {
                return Err(format!("the error names no setting: {msg}"));
            }
            // The broken setting is the one named, unless it was the
            // switch that let another setting's value pass.
            let t = touched.unwrap();
            if e.name != t && t != "GUESTSYNC_ALLOW_HTTP" {
                return Err(format!(
                    "{t} was broken but the error names {}: {msg}",
                    e.name
                ));
            }
            Ok(Verdict::Rejected)
        }
    }
}

#[test]
fn secrets_file_options_and_settings_survive_hostile_input() {
    let rows = vec![
        gen::run("local secrets file", secrets_input(), |(i, secrets)| {
            check_secrets(i, secrets)
        }),
        gen::run(
            "tenant options (--options-json)",
            input(tenant_options()),
            check_options,
        ),
        gen::run(
            "settings (Settings::from_lookup + connection string)",
            settings_case(),
            |(env, change)| check_settings(env, change),
        ),
    ];
    for r in &rows {
        assert_eq!(r.panics, 0);
    }
    gen::record(
        "fuzz-config",
        "Secrets file, tenant options, settings",
        &rows,
    );
}
