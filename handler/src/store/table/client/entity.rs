//! Entities: building them, escaping keys, OData literals, and checking an
//! entity against the service's limits before it is sent.
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde_json::{Map, Value};

use super::Entity;
use crate::store::{StoreError, StoreResult};

/// Largest entity (the service allows 1 MiB).
pub const MAX_ENTITY_BYTES: usize = 1024 * 1024;
/// Largest string property, in bytes of UTF-16.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Largest binary property (`Edm.Binary`), in bytes before base64.
pub const MAX_BINARY_BYTES: usize = 64 * 1024;
/// Most properties per entity, counting PartitionKey, RowKey and Timestamp.
pub const MAX_PROPERTIES: usize = 255;
/// Largest PartitionKey / RowKey, in bytes of UTF-16.
pub const MAX_KEY_BYTES: usize = 1024;

/// Characters escaped by [`encode_key`]: those the service refuses in keys
/// (`/ \ # ?`, control characters), `%` (the escape itself) and `'` (so a
/// key never needs OData quoting).
const KEY_ESCAPES: &AsciiSet = &CONTROLS
    .add(b'/')
    .add(b'\\')
    .add(b'#')
    .add(b'?')
    .add(b'%')
    .add(b'\'');

/// Makes any string a legal PartitionKey/RowKey by percent-escaping the
/// characters the service refuses. GUIDs and job names pass unchanged.
pub fn encode_key(s: &str) -> String {
    let out = utf8_percent_encode(s, KEY_ESCAPES).to_string();
    // DEL and C1 controls are not in CONTROLS' ASCII range handling for
    // multi-byte chars: escape any remaining control character by hand.
    if out.chars().any(char::is_control) {
        out.chars()
            .map(|c| {
                if c.is_control() {
                    let mut b = [0u8; 4];
                    c.encode_utf8(&mut b)
                        .bytes()
                        .map(|x| format!("%{x:02X}"))
                        .collect()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        out
    }
}

/// An OData string literal (`'` doubled).
pub fn odata_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An OData datetime literal.
pub fn odata_datetime(t: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "datetime'{}'",
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    )
}

/// Sets a property of type `Edm.DateTime`.
pub fn put_datetime(e: &mut Entity, name: &str, t: chrono::DateTime<chrono::Utc>) {
    e.insert(
        name.to_string(),
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
    );
    e.insert(
        format!("{name}@odata.type"),
        Value::String("Edm.DateTime".into()),
    );
}

/// Sets a property of type `Edm.Binary` (base64 on the wire). Read back
/// without metadata it is a plain base64 string: see [`binary_prop`].
pub fn put_binary(e: &mut Entity, name: &str, bytes: &[u8]) {
    e.insert(
        name.to_string(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
    );
    e.insert(
        format!("{name}@odata.type"),
        Value::String("Edm.Binary".into()),
    );
}

/// The bytes of binary property `name` as read back (a base64 string).
/// `None` when the property is absent, not a string or not base64.
pub fn binary_prop(e: &Entity, name: &str) -> Option<Vec<u8>> {
    let s = e.get(name)?.as_str()?;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A new entity with its keys (already legal: see [`encode_key`]).
pub fn entity(pk: &str, rk: &str) -> Entity {
    let mut e = Map::new();
    e.insert("PartitionKey".into(), Value::String(pk.into()));
    e.insert("RowKey".into(), Value::String(rk.into()));
    e
}

fn utf16_bytes(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

fn check_key(which: &str, k: &str) -> StoreResult<()> {
    if utf16_bytes(k) > MAX_KEY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{which} is longer than the Table service's {MAX_KEY_BYTES}-byte limit"
        )));
    }
    if k.chars()
        .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        return Err(StoreError::Invalid(format!(
            "{which} {k:?} contains a character the Table service refuses (/ \\ # ? or a control character)"
        )));
    }
    Ok(())
}

fn is_identifier(n: &str) -> bool {
    let mut cs = n.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks an entity against the service's limits before it is sent: keys
/// present and legal, at most 255 properties, property names that are
/// identifiers of at most 255 characters, strings of at most 64 KiB, binary
/// properties (`Edm.Binary`: base64 strings) of at most 64 KiB once
/// decoded, and an entity of at most 1 MiB (counted as the service counts
/// it: a binary property by its bytes, not its base64 text). The error
/// names the property.
pub fn check_entity(table: &str, e: &Entity) -> StoreResult<()> {
    let key = |n: &str| match e.get(n) {
        Some(Value::String(s)) => Ok(s.as_str()),
        _ => Err(StoreError::Invalid(format!(
            "{table}: entity has no string {n}"
        ))),
    };
    check_key("PartitionKey", key("PartitionKey")?)?;
    check_key("RowKey", key("RowKey")?)?;
    // + Timestamp, which the service adds.
    let props = e.keys().filter(|k| !k.contains('@')).count() + 1;
    if props > MAX_PROPERTIES {
        return Err(StoreError::Invalid(format!(
            "{table}: entity has {props} properties, more than the Table service's {MAX_PROPERTIES}"
        )));
    }
    let mut size = 4usize;
    for (name, v) in e {
        if name.contains('@') {
            continue;
        }
        if name.chars().count() > 255 || !is_identifier(name) {
            return Err(StoreError::Invalid(format!(
                "{table}: property name {name:?} is not an identifier of at most 255 characters"
            )));
        }
        size += 8 + utf16_bytes(name);
        let binary =
            e.get(&format!("{name}@odata.type")).and_then(Value::as_str) == Some("Edm.Binary");
        size += match v {
            Value::String(s) if binary => {
                let b = base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| {
                        StoreError::Invalid(format!(
                            "{table}: property {name} is typed Edm.Binary but is not base64"
                        ))
                    })?
                    .len();
                if b > MAX_BINARY_BYTES {
                    return Err(StoreError::Invalid(format!(
                        "{table}: property {name} is {b} bytes, more than the Table service's {MAX_BINARY_BYTES}-byte binary limit"
                    )));
                }
                b + 4
            }
            Value::Bool(_) | Value::Number(_) if binary => {
                return Err(StoreError::Invalid(format!(
                    "{table}: property {name} is typed Edm.Binary but is not a base64 string"
                )))
            }
            Value::String(s) => {
                let b = utf16_bytes(s);
                if b > MAX_STRING_BYTES {
                    return Err(StoreError::Invalid(format!(
                        "{table}: property {name} is {b} bytes, more than the Table service's {MAX_STRING_BYTES}-byte string limit"
                    )));
                }
                b + 4
            }
            Value::Bool(_) => 1,
            Value::Number(_) => 8,
            Value::Null => 0,
            Value::Array(_) | Value::Object(_) => {
                return Err(StoreError::Invalid(format!(
                    "{table}: property {name} is a JSON object or array; the Table service stores only scalar properties"
                )))
            }
        };
    }
    if size > MAX_ENTITY_BYTES {
        return Err(StoreError::Invalid(format!(
            "{table}: entity is about {size} bytes, more than the Table service's 1 MiB limit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys with characters the service refuses are escaped; GUIDs pass
    /// unchanged, and an escaped key passes the checks.
    #[test]
    fn keys_are_escaped_only_where_needed() {
        assert_eq!(
            encode_key("2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b|reconcile"),
            "2b1f0a6e-7d1c-4a51-9b0e-1c2d3e4f5a6b|reconcile"
        );
        let k = encode_key("a/b\\c#d?e%f'g\u{1}h\u{85}i");
        assert_eq!(k, "a%2Fb%5Cc%23d%3Fe%25f%27g%01h%C2%85i");
        check_key("RowKey", &k).unwrap();
    }

    /// An entity over a limit is refused before sending, naming the property.
    #[test]
    fn entities_over_the_limits_are_refused_naming_the_property() {
        let mut e = entity("p", "r");
        e.insert("Doc".into(), Value::String("x".repeat(40_000)));
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("Doc") && m.contains("65536"), "{m}");

        let mut e = entity("p", "r");
        for i in 0..300 {
            e.insert(format!("P{i}"), Value::Bool(true));
        }
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("properties"), "{m}");

        let mut e = entity("p/q", "r");
        e.insert("A".into(), Value::Bool(true));
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("PartitionKey"), "{m}");

        let mut e = entity("p", "r");
        e.insert("bad name".into(), Value::Bool(true));
        assert!(check_entity("T", &e).is_err());
    }

    /// Binary properties are measured by their bytes, not their base64
    /// text: 64 KiB fits (though its base64 is longer than a string may
    /// be), one byte more is refused naming the property, and 14 full
    /// parts fit one entity while 16 do not.
    #[test]
    fn binary_properties_are_measured_by_their_bytes() {
        let mut e = entity("p", "r");
        put_binary(&mut e, "D00", &[7u8; MAX_BINARY_BYTES]);
        check_entity("T", &e).unwrap();
        assert_eq!(binary_prop(&e, "D00").unwrap(), vec![7u8; MAX_BINARY_BYTES]);

        put_binary(&mut e, "D01", &[7u8; MAX_BINARY_BYTES + 1]);
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("D01") && m.contains("binary"), "{m}");

        let mut e = entity("p", "r");
        for i in 0..14 {
            put_binary(&mut e, &format!("D{i:02}"), &[1u8; MAX_BINARY_BYTES]);
        }
        e.insert("Parts".into(), Value::from(14));
        e.insert("Length".into(), Value::from(14 * MAX_BINARY_BYTES));
        check_entity("T", &e).unwrap();
        for i in 14..16 {
            put_binary(&mut e, &format!("D{i:02}"), &[1u8; MAX_BINARY_BYTES]);
        }
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("1 MiB"), "{m}");

        let mut e = entity("p", "r");
        e.insert("D00".into(), Value::String("not base64!".into()));
        e.insert("D00@odata.type".into(), Value::String("Edm.Binary".into()));
        let m = check_entity("T", &e).unwrap_err().to_string();
        assert!(m.contains("D00") && m.contains("base64"), "{m}");
    }
}
