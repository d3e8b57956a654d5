//! [`Attrs`]: the attributes the planner keeps of a user, as a small
//! sorted list. A user keeps a handful (the mapped attributes and
//! `displayName`); a `serde_json::Map` (a B-tree) allocates a node of
//! eleven slots (about 630 bytes) for any of them, and a full read holds
//! one per user of both tenants. The names are shared ([`intern`]): every
//! user has the same handful, and a name allocated per user and attribute
//! cost about 32 bytes each.
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// Attribute name -> value, sorted by name, one entry per name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attrs(Vec<(Arc<str>, Value)>);

/// At most this many distinct names are shared; any further name is
/// allocated per use (attribute names are the selected Graph properties:
/// a few dozen).
const MAX_SHARED_NAMES: usize = 1024;

/// The process's one copy of an attribute name.
fn intern(name: &str) -> Arc<str> {
    static NAMES: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(n) = names.get(name) {
        return n.clone();
    }
    let n: Arc<str> = Arc::from(name);
    if names.len() < MAX_SHARED_NAMES {
        names.insert(n.clone());
    }
    n
}

/// Read access to a user's attributes, whether kept as [`Attrs`] or as
/// Graph returned them.
pub trait AttrSource {
    /// The value of attribute `name`, if present.
    fn attr(&self, name: &str) -> Option<&Value>;
}

impl AttrSource for Attrs {
    fn attr(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl AttrSource for Map<String, Value> {
    fn attr(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Attrs {
    /// No attributes.
    pub fn new() -> Self {
        Attrs(Vec::new())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Whether `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `value`; returns the value it replaced.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) -> Option<Value> {
        let name = name.into();
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (intern(&name), value));
                None
            }
        }
    }

    /// Removes `name`; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        self.find(name).ok().map(|i| self.0.remove(i).1)
    }

    /// Keeps the attributes `keep` says yes to, and gives back the room of
    /// the others.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &Value) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
        self.0.shrink_to_fit();
    }

    /// The attributes, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// How many attributes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No attribute at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Map<String, Value>> for Attrs {
    fn from(m: Map<String, Value>) -> Self {
        // A map's keys are unique and come out sorted.
        let mut v: Vec<(Arc<str>, Value)> = m.into_iter().map(|(k, v)| (intern(&k), v)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v.shrink_to_fit();
        Attrs(v)
    }
}

impl FromIterator<(String, Value)> for Attrs {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        let mut a = Attrs::new();
        for (k, v) in iter {
            a.insert(k, v);
        }
        a
    }
}

impl Serialize for Attrs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(&**k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::<String, Value>::deserialize(d).map(Attrs::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn behaves_as_a_sorted_map_and_serialises_as_one() {
        let m = json!({"jobTitle": "Eng", "displayName": "Ann", "department": null})
            .as_object()
            .cloned()
            .unwrap();
        let mut a = Attrs::from(m.clone());
        assert_eq!(a.len(), 3);
        assert_eq!(a.get("displayName"), Some(&json!("Ann")));
        assert_eq!(a.attr("jobTitle"), m.attr("jobTitle"));
        assert!(a.contains_key("department") && !a.contains_key("companyName"));
        assert_eq!(a.insert("companyName", json!("Contoso")), None);
        assert_eq!(a.insert("jobTitle", json!("Lead")), Some(json!("Eng")));
        let names: Vec<&str> = a.iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            ["companyName", "department", "displayName", "jobTitle"]
        );
        a.retain(|k, v| k != "department" && !v.is_null());
        assert_eq!(a.remove("companyName"), Some(json!("Contoso")));
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(text, r#"{"displayName":"Ann","jobTitle":"Lead"}"#);
        let back: Attrs = serde_json::from_str(&text).unwrap();
        assert_eq!(back, a);
        let collected: Attrs = [("b".to_string(), json!(1)), ("a".to_string(), json!(2))]
            .into_iter()
            .collect();
        assert_eq!(collected.iter().next().map(|(k, _)| k), Some("a"));
        // Names are shared between users.
        let one = |v: Value| Attrs::from(v.as_object().cloned().unwrap());
        let (a1, a2) = (
            one(json!({"displayName": "A"})),
            one(json!({"displayName": "B"})),
        );
        assert!(Arc::ptr_eq(&a1.0[0].0, &a2.0[0].0));
    }
}
