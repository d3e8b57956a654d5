//! The strategies and the runner the decoder families share.
use std::cell::Cell;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

/// What a decoder made of one case.
pub enum Verdict {
    Accepted,
    Rejected,
}

/// One decoder's figures.
pub struct Row {
    pub decoder: &'static str,
    pub cases: usize,
    pub rejected: usize,
    pub accepted: usize,
    pub panics: usize,
    pub secs: f64,
}

/// Cases per decoder: 10,000 in CI, 100,000 in the full run.
pub fn cases() -> usize {
    crate::reliability::size(10_000, 100_000)
}

/// Runs `check` on `cases()` values of `strategy`. `check` decodes, checks
/// the properties and says whether the decoder accepted the input; a
/// broken property (`Err`) or a panic fails the test with the (shrunk)
/// input.
pub fn run<S>(
    decoder: &'static str,
    strategy: S,
    check: impl Fn(&S::Value) -> Result<Verdict, String>,
) -> Row
where
    S: Strategy,
    S::Value: Debug,
{
    let cases = cases();
    let mut runner = TestRunner::new(Config {
        cases: cases as u32,
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    });
    let (accepted, rejected, panics, ran) =
        (Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0));
    let start = Instant::now();
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        match catch_unwind(AssertUnwindSafe(|| check(&v))) {
            Ok(Ok(Verdict::Accepted)) => accepted.set(accepted.get() + 1),
            Ok(Ok(Verdict::Rejected)) => rejected.set(rejected.get() + 1),
            Ok(Err(why)) => return Err(TestCaseError::fail(why)),
            Err(_) => {
                panics.set(panics.get() + 1);
                return Err(TestCaseError::fail("the decoder panicked"));
            }
        }
        Ok(())
    });
    let secs = start.elapsed().as_secs_f64();
    if let Err(e) = result {
        panic!("{decoder}: {e}");
    }
    Row {
        decoder,
        cases: ran.get(),
        rejected: rejected.get(),
        accepted: accepted.get(),
        panics: panics.get(),
        secs,
    }
}

/// Records a family's rows as the markdown section `section`.
pub fn record(section: &str, title: &str, rows: &[Row]) {
    let mut md = format!(
        "### {title}\n\n| decoder | cases | rejected (Err) | accepted | panics | seconds |\n|---|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} |\n",
            r.decoder, r.cases, r.rejected, r.accepted, r.panics, r.secs
        ));
    }
    crate::reliability::record(section, &md);
}

/// A decoder's error message checked: not empty, and (when the case says
/// which part it broke) naming one of those parts.
pub fn named(msg: &str, names: &[String]) -> Result<Verdict, String> {
    if msg.trim().is_empty() {
        return Err("the error message is empty".into());
    }
    // A document nested deeper than serde_json's limit has no field at
    // fault: its depth is, named by line and column.
    let too_deep = msg.contains("recursion limit");
    if too_deep || names.is_empty() || names.iter().any(|n| msg.contains(n.as_str())) {
        Ok(Verdict::Rejected)
    } else {
        Err(format!(
            "the error names none of {names:?} (the parts the case broke): {msg}"
        ))
    }
}

/// Fails when `msg` contains any of `secrets`.
pub fn no_secret(msg: &str, secrets: &[String]) -> Result<(), String> {
    match secrets
        .iter()
        .find(|s| !s.is_empty() && msg.contains(s.as_str()))
    {
        Some(_) => Err(format!(
            "the error message quotes a secret value of the input ({} chars)",
            msg.len()
        )),
        None => Ok(()),
    }
}

// ---- arbitrary bytes ----------------------------------------------------

/// JSON-ish fragments: a soup of them reaches deeper into a parser than
/// uniform random bytes.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "18446744073709551616",
    "1.5",
    "\"a\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\\",
    " ",
    "\n",
    "\u{feff}",
    "é",
    "💥",
    "\"Data\"",
    "\"Metadata\"",
    "\"value\"",
    "\"id\"",
    "\"error\"",
    "\"access_token\"",
    "\"job\"",
    "\"Doc\"",
    "\"cursor\"",
];

/// Arbitrary bytes: uniformly random, or a soup of JSON-ish tokens.
pub fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(prop::sample::select(TOKENS), 0..40)
            .prop_map(|t| t.concat().into_bytes()),
    ]
}

/// Arbitrary text (what a header, a setting or a token string can be).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        re("\\PC{0,40}"),
        any::<String>().prop_map(|s| s.chars().take(60).collect()),
        prop::collection::vec(prop::sample::select(TOKENS), 0..12).prop_map(|t| t.concat()),
    ]
}

// ---- junk values ----------------------------------------------------------

/// A string a decoder would not expect: empty, blank, huge, odd unicode,
/// control characters, JSON inside a string.
pub fn junk_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("   ".to_string()),
        (1usize..3000).prop_map(|n| "x".repeat(n)),
        Just("\u{0}\u{1}\u{7f}\u{85}\r\n".to_string()),
        Just("😀\u{200b}\u{202e}ﬃ\u{fffd}".to_string()),
        Just("{\"a\":1}".to_string()),
        Just("\"quoted\"".to_string()),
        Just("0001-01-01T00:00:00".to_string()),
        Just("9999-12-31T23:59:59.999999999+14:00".to_string()),
        re("\\PC{0,24}"),
    ]
}

/// A value of any type, from the edges: numbers out of range, junk
/// strings, nested junk.
pub fn junk_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![
            json!(-1),
            json!(0),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.5),
            json!(-0.0),
            json!(1e308),
            json!(4_294_967_296u64),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        junk_string().prop_map(Value::String),
    ];
    prop_oneof![
        4 => leaf.clone(),
        1 => (1usize..200).prop_map(|depth| {
            let mut v = json!([]);
            for _ in 0..depth {
                v = json!([v]);
            }
            v
        }),
        1 => leaf.prop_recursive(3, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(re("[a-zA-Z@.]{0,8}"), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        }),
    ]
}

// ---- structure-aware mutation -----------------------------------------

/// How a valid document is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// The chosen field (or array element) is removed.
    Remove,
    /// The chosen value is replaced by junk of any type.
    Replace,
    /// An unknown field with a junk value is added to the chosen object
    /// (or, not an object, the value is replaced).
    AddField,
    /// The serialized text is cut short.
    Truncate,
    /// Nothing: the valid document itself.
    None,
}

/// A mutated document.
#[derive(Debug, Clone)]
pub struct Mutated {
    /// The document after the mutation (None: the text was cut).
    pub value: Option<Value>,
    /// Its text.
    pub text: String,
    pub mutation: Mutation,
    /// The object keys and array indexes on the path to the mutation (and
    /// an added field's name): what an error should name.
    pub names: Vec<String>,
}

/// One step of a path.
#[derive(Debug, Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn paths(v: &Value, here: &mut Vec<Seg>, out: &mut Vec<Vec<Seg>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                here.push(Seg::Key(k.clone()));
                paths(c, here, out);
                here.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                here.push(Seg::Index(i));
                paths(c, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(v: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    let mut cur = v;
    for s in path {
        cur = match (s, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn seg_name(s: &Seg) -> String {
    match s {
        Seg::Key(k) => k.clone(),
        Seg::Index(i) => i.to_string(),
    }
}

/// Applies `mutation` to `doc` at the path `pick` selects.
pub fn mutate(
    mut doc: Value,
    mutation: Mutation,
    pick: Index,
    junk: Value,
    field: String,
    cut: Index,
) -> Mutated {
    let mut all = Vec::new();
    paths(&doc, &mut Vec::new(), &mut all);
    let path = all[pick.index(all.len())].clone();
    let mut names: Vec<String> = path.iter().map(seg_name).collect();
    match mutation {
        Mutation::None => {}
        Mutation::Truncate => {
            let text = doc.to_string();
            let mut n = cut.index(text.len().max(1));
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            return Mutated {
                value: None,
                text: text[..n].to_string(),
                mutation,
                names: Vec::new(),
            };
        }
        Mutation::Remove => match path.split_last() {
            Some((last, parent)) => match (last, at(&mut doc, parent)) {
                (Seg::Key(k), Some(Value::Object(m))) => {
                    m.remove(k);
                }
                (Seg::Index(i), Some(Value::Array(a))) => {
                    a.remove(*i);
                }
                _ => {}
            },
            None => doc = Value::Null,
        },
        Mutation::Replace => {
            if let Some(slot) = at(&mut doc, &path) {
                *slot = junk;
            }
        }
        Mutation::AddField => {
            if let Some(slot) = at(&mut doc, &path) {
                match slot {
                    Value::Object(m) => {
                        let k = format!("zz{field}");
                        names.push(k.clone());
                        m.insert(k, junk);
                    }
                    other => *other = junk,
                }
            }
        }
    }
    Mutated {
        text: doc.to_string(),
        value: Some(doc),
        mutation,
        names,
    }
}

/// Valid documents of `valid`, mutated (one in ten left valid).
pub fn mutated(valid: impl Strategy<Value = Value>) -> impl Strategy<Value = Mutated> {
    let mutation = prop_oneof![
        1 => Just(Mutation::None),
        3 => Just(Mutation::Remove),
        4 => Just(Mutation::Replace),
        1 => Just(Mutation::AddField),
        1 => Just(Mutation::Truncate),
    ];
    (
        valid,
        mutation,
        any::<Index>(),
        junk_value(),
        re("[a-z]{1,6}"),
        any::<Index>(),
    )
        .prop_map(|(doc, m, pick, junk, field, cut)| mutate(doc, m, pick, junk, field, cut))
}

/// A JSON document fed to a decoder: arbitrary bytes, or a valid one
/// mutated.
#[derive(Debug, Clone)]
pub enum Input {
    Bytes(Vec<u8>),
    Doc(Mutated),
}

impl Input {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Input::Bytes(b) => b.clone(),
            Input::Doc(m) => m.text.clone().into_bytes(),
        }
    }
    /// What an error should name (nothing to check for random bytes and
    /// for a whole document replaced).
    pub fn names(&self) -> Vec<String> {
        match self {
            Input::Bytes(_) => Vec::new(),
            Input::Doc(m) => m.names.clone(),
        }
    }
    /// The document after the mutation, when it is one.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Input::Doc(m) => m.value.as_ref(),
            Input::Bytes(_) => None,
        }
    }
    /// The valid document, when it was left intact.
    pub fn intact(&self) -> Option<&Value> {
        match self {
            Input::Doc(Mutated {
                mutation: Mutation::None,
                value,
                ..
            }) => value.as_ref(),
            _ => None,
        }
    }
}

/// One in five inputs arbitrary bytes, the rest mutated valid documents.
pub fn input(valid: impl Strategy<Value = Value> + 'static) -> impl Strategy<Value = Input> {
    input_with(valid.prop_map(|v| (v, ()))).prop_map(|(i, ())| i)
}

/// [`input`] for documents generated with something the check needs (the
/// secrets they hold). One strategy for all cases: building strategies per
/// case (`prop_flat_map`) would dominate the run time.
pub fn input_with<T: Clone + Debug + 'static>(
    valid: impl Strategy<Value = (Value, T)> + 'static,
) -> impl Strategy<Value = (Input, T)> {
    // Boxed: shared by both branches (a regex strategy is not `Clone`).
    let valid = valid.boxed();
    let mutation = prop_oneof![
        1 => Just(Mutation::None),
        3 => Just(Mutation::Remove),
        4 => Just(Mutation::Replace),
        1 => Just(Mutation::AddField),
        1 => Just(Mutation::Truncate),
    ];
    // Each branch generates only what it uses.
    prop_oneof![
        1 => (valid.clone(), bytes()).prop_map(|((_, t), b)| (Input::Bytes(b), t)),
        4 => (
            valid,
            mutation,
            any::<Index>(),
            junk_value(),
            re("[a-z]{1,6}"),
            any::<Index>(),
        )
            .prop_map(|((doc, t), m, pick, junk, field, cut)| {
                (Input::Doc(mutate(doc, m, pick, junk, field, cut)), t)
            }),
    ]
}

// ---- valid building blocks ----------------------------------------------

/// A string strategy from a regex, parsed once (a `&str` strategy is
/// parsed again for every case, which dominates the run time).
pub fn re(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).unwrap()
}

/// A GUID in canonical form.
pub fn guid() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).hyphenated().to_string())
}

/// An RFC 3339 time between 2000 and 2100, with or without fractions.
pub fn time() -> impl Strategy<Value = chrono::DateTime<chrono::Utc>> {
    (946_684_800i64..4_102_444_800, 0u32..1_000_000_000)
        .prop_map(|(s, n)| chrono::DateTime::from_timestamp(s, n).unwrap())
}

/// Printable text without surprises (names, UPNs).
pub fn plain() -> impl Strategy<Value = String> {
    re("[A-Za-z0-9 ._-]{1,16}")
}

/// An object of `pairs` (keys unique by construction).
pub fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<Map<_, _>>(),
    )
}
