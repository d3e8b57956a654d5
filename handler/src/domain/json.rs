//! Reading JSON into typed values with errors that name the field.
//!
//! serde_json's own messages say what was wrong but not where
//! (`invalid type: integer `5`, expected a string`); these put the path of
//! the offending field in front (`sourceTenantId: invalid type: ...`,
//! `attributeMapping[0].target: ...`). Messages may still quote the
//! offending value, as serde's do: decoders of secrets use [`path_of`] and
//! say the rest themselves.
use serde::de::DeserializeOwned;
use serde_json::Value;

fn named<T>(r: Result<T, serde_path_to_error::Error<serde_json::Error>>) -> Result<T, String> {
    r.map_err(|e| {
        let path = path_of(&e);
        let inner = e.into_inner();
        match path {
            Some(p) => format!("{p}: {inner}"),
            None => inner.to_string(),
        }
    })
}

/// The path of the field an error is about; None for the document itself.
pub fn path_of(e: &serde_path_to_error::Error<serde_json::Error>) -> Option<String> {
    let p = e.path().to_string();
    (p != ".").then_some(p)
}

/// What kind of problem serde_json found, without quoting the input: a
/// missing or duplicate field is named (a field name is no value), the
/// rest is only classified.
pub fn problem(e: &serde_json::Error) -> String {
    let m = e.to_string();
    if m.starts_with("missing field") || m.starts_with("duplicate field") {
        return m.split(" at line ").next().unwrap_or_default().to_string();
    }
    match e.classify() {
        serde_json::error::Category::Io => "an I/O error".into(),
        serde_json::error::Category::Syntax => "not JSON".into(),
        serde_json::error::Category::Data => "a value of the wrong type or range".into(),
        serde_json::error::Category::Eof => "cut short".into(),
    }
}

/// Decodes JSON text; the error names the field.
pub fn from_str<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    named(serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(s),
    ))
}

/// Decodes JSON bytes; the error names the field.
pub fn from_slice<T: DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    named(serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_slice(b),
    ))
}

/// Decodes a JSON value; the error names the field.
pub fn from_value<T: DeserializeOwned>(v: &Value) -> Result<T, String> {
    named(serde_path_to_error::deserialize(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
    }

    /// A wrong type deep inside names its path; a document of the wrong
    /// type has no path to name.
    #[test]
    fn errors_name_the_path() {
        let e = from_str::<Outer>(r#"{"inner":[{"name":5}]}"#).unwrap_err();
        assert!(e.starts_with("inner[0].name: invalid type"), "{e}");
        let e = from_value::<Outer>(&serde_json::json!({"inner": [{"name": 5}]})).unwrap_err();
        assert!(e.starts_with("inner[0].name: invalid type"), "{e}");
        let e = from_slice::<Outer>(b"5").unwrap_err();
        assert!(e.starts_with("invalid type"), "{e}");
    }
}
