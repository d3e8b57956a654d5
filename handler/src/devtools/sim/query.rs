//! OData query options as Graph accepts them for users: `$select` (known
//! properties only), `$top` (1..=999), and a defensive `$filter` parser for
//! the forms guest-sync sends (`eq`/`ne`, `in`, `startswith`, `any` lambdas on
//! `otherMails`/`proxyAddresses`, `and`/`or`/`not`, parentheses). Anything
//! else is refused as Graph does ("Unsupported Query.").
use serde_json::Value;

use super::model::{Tenant, User};
use crate::domain::Guid;

/// Properties a user answer can carry (`$select` validation).
pub(crate) const USER_PROPS: &[&str] = &[
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "otherMails",
    "userPrincipalName",
    "userType",
    "accountEnabled",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "createdDateTime",
    "creationType",
    "jobTitle",
    "department",
    "companyName",
    "officeLocation",
    "mobilePhone",
    "businessPhones",
    "preferredLanguage",
    "employeeId",
    "employeeType",
    "city",
    "country",
    "state",
    "streetAddress",
    "postalCode",
    "usageLocation",
    "mailNickname",
    "proxyAddresses",
    "onPremisesExtensionAttributes",
    "onPremisesImmutableId",
    "deletedDateTime",
    "identities",
    "faxNumber",
];

/// Graph v1.0's default user properties (no `$select`).
pub(crate) const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Parses `$select`; `Err(property)` names an unknown property.
pub(crate) fn parse_select(s: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let Some(s) = s else { return Ok(None) };
    let mut out = Vec::new();
    for p in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let known = USER_PROPS.iter().find(|k| k.eq_ignore_ascii_case(p));
        match known {
            Some(k) => out.push((*k).to_string()),
            None if p.starts_with("extension_") => out.push(p.to_string()),
            None => return Err(p.to_string()),
        }
    }
    Ok(Some(out))
}

/// Renders a user with `select` (or the default properties). `id` is always present.
pub(crate) fn render_user(u: &User, select: Option<&[String]>) -> Value {
    let mut m = serde_json::Map::new();
    let id = Value::String(u.id.to_string());
    match select {
        Some(sel) => {
            if !sel.iter().any(|s| s == "id") {
                m.insert("id".into(), id.clone());
            }
            for p in sel {
                let v = if p == "id" {
                    id.clone()
                } else {
                    u.attrs.get(p).cloned().unwrap_or(Value::Null)
                };
                m.insert(p.clone(), v);
            }
        }
        None => {
            for p in USER_DEFAULT {
                let v = if *p == "id" {
                    id.clone()
                } else {
                    u.attrs.get(*p).cloned().unwrap_or(Value::Null)
                };
                m.insert((*p).to_string(), v);
            }
        }
    }
    Value::Object(m)
}

/// A filter literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Bool(bool),
    Null,
}

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    Cmp { prop: String, ne: bool, lit: Lit },
    In { prop: String, lits: Vec<Lit> },
    StartsWith { prop: String, prefix: String },
    Any { prop: String, lit: Lit },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

/// Single-valued properties `$filter` accepts.
const FILTER_PROPS: &[&str] = &[
    "id",
    "mail",
    "userPrincipalName",
    "displayName",
    "userType",
    "externalUserState",
    "accountEnabled",
    "creationType",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "companyName",
    "employeeId",
    "mailNickname",
];
/// Collections `any()` accepts.
const ANY_PROPS: &[&str] = &["otherMails", "proxyAddresses"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1
            }
            ')' => {
                out.push(Tok::Close);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1
            }
            '\'' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if cs.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            c if c.is_alphanumeric() || c == '_' || c == '/' || c == '.' || c == '-' => {
                let st = i;
                while i < cs.len()
                    && (cs[i].is_alphanumeric() || matches!(cs[i], '_' | '/' | '.' | '-'))
                {
                    i += 1;
                }
                out.push(Tok::Ident(cs[st..i].iter().collect()));
            }
            other => return Err(format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: Tok) -> Result<(), String> {
        match self.next() {
            Some(x) if x == t => Ok(()),
            other => Err(format!("expected {t:?}, got {other:?}")),
        }
    }
    fn kw(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(k))
    }
    fn or(&mut self) -> Result<Filter, String> {
        let mut l = self.and()?;
        while self.kw("or") {
            self.pos += 1;
            let r = self.and()?;
            l = Filter::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Filter, String> {
        let mut l = self.unary()?;
        while self.kw("and") {
            self.pos += 1;
            let r = self.unary()?;
            l = Filter::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Filter, String> {
        if self.kw("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn lit(&mut self) -> Result<Lit, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Lit::Str(s)),
            Some(Tok::Ident(s)) if s == "true" => Ok(Lit::Bool(true)),
            Some(Tok::Ident(s)) if s == "false" => Ok(Lit::Bool(false)),
            Some(Tok::Ident(s)) if s == "null" => Ok(Lit::Null),
            other => Err(format!("expected a literal, got {other:?}")),
        }
    }
    fn prop(name: &str) -> Result<String, String> {
        FILTER_PROPS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
            .map(|p| p.to_string())
            .ok_or_else(|| format!("property {name:?} is not filterable"))
    }
    fn primary(&mut self) -> Result<Filter, String> {
        match self.next() {
            Some(Tok::Open) => {
                let f = self.or()?;
                self.expect(Tok::Close)?;
                Ok(f)
            }
            Some(Tok::Ident(id)) if id.eq_ignore_ascii_case("startswith") => {
                self.expect(Tok::Open)?;
                let prop = match self.next() {
                    Some(Tok::Ident(p)) => Self::prop(&p)?,
                    other => return Err(format!("expected a property, got {other:?}")),
                };
                self.expect(Tok::Comma)?;
                let prefix = match self.lit()? {
                    Lit::Str(s) => s,
                    _ => return Err("startswith needs a string".into()),
                };
                self.expect(Tok::Close)?;
                Ok(Filter::StartsWith { prop, prefix })
            }
            Some(Tok::Ident(id)) => {
                if let Some(coll) = id.strip_suffix("/any").or_else(|| id.strip_suffix("/ANY")) {
                    let prop = ANY_PROPS
                        .iter()
                        .find(|p| p.eq_ignore_ascii_case(coll))
                        .ok_or_else(|| format!("collection {coll:?} is not filterable"))?
                        .to_string();
                    self.expect(Tok::Open)?;
                    let var = match self.next() {
                        Some(Tok::Ident(v)) => v,
                        other => return Err(format!("expected a lambda variable, got {other:?}")),
                    };
                    self.expect(Tok::Colon)?;
                    match self.next() {
                        Some(Tok::Ident(v)) if v == var => {}
                        other => return Err(format!("expected {var}, got {other:?}")),
                    }
                    if !self.kw("eq") {
                        return Err("only eq is supported inside any()".into());
                    }
                    self.pos += 1;
                    let lit = self.lit()?;
                    self.expect(Tok::Close)?;
                    return Ok(Filter::Any { prop, lit });
                }
                let prop = Self::prop(&id)?;
                match self.next() {
                    Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("eq") => Ok(Filter::Cmp {
                        prop,
                        ne: false,
                        lit: self.lit()?,
                    }),
                    Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("ne") => Ok(Filter::Cmp {
                        prop,
                        ne: true,
                        lit: self.lit()?,
                    }),
                    Some(Tok::Ident(op)) if op.eq_ignore_ascii_case("in") => {
                        self.expect(Tok::Open)?;
                        let mut lits = vec![self.lit()?];
                        while self.peek() == Some(&Tok::Comma) {
                            self.pos += 1;
                            lits.push(self.lit()?);
                        }
                        self.expect(Tok::Close)?;
                        if lits.len() > 15 {
                            return Err("'in' takes at most 15 values".into());
                        }
                        Ok(Filter::In { prop, lits })
                    }
                    other => Err(format!("unsupported operator {other:?}")),
                }
            }
            other => Err(format!("unexpected token {other:?}")),
        }
    }
}

/// Parses a `$filter`; the error says why it is unsupported.
pub(crate) fn parse_filter(s: &str) -> Result<Filter, String> {
    let toks = lex(s)?;
    let mut p = Parser { toks, pos: 0 };
    let f = p.or()?;
    if p.pos != p.toks.len() {
        return Err("trailing tokens".into());
    }
    Ok(f)
}

fn lit_matches(v: Option<&Value>, lit: &Lit) -> bool {
    match (v, lit) {
        (None | Some(Value::Null), Lit::Null) => true,
        (Some(Value::String(a)), Lit::Str(b)) => {
            a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
        }
        (Some(Value::Bool(a)), Lit::Bool(b)) => a == b,
        _ => false,
    }
}

/// Does the user match the filter?
pub(crate) fn eval(f: &Filter, u: &User) -> bool {
    match f {
        Filter::Cmp { prop, ne, lit } => {
            let v = if prop == "id" {
                Some(Value::String(u.id.to_string()))
            } else {
                u.attrs.get(prop).cloned()
            };
            lit_matches(v.as_ref(), lit) != *ne
        }
        Filter::In { prop, lits } => {
            let v = if prop == "id" {
                Some(Value::String(u.id.to_string()))
            } else {
                u.attrs.get(prop).cloned()
            };
            lits.iter().any(|l| lit_matches(v.as_ref(), l))
        }
        Filter::StartsWith { prop, prefix } => u
            .attrs
            .get(prop)
            .and_then(Value::as_str)
            .is_some_and(|s| s.to_lowercase().starts_with(&prefix.to_lowercase())),
        Filter::Any { prop, lit } => u
            .attrs
            .get(prop)
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| lit_matches(Some(v), lit))),
        Filter::And(a, b) => eval(a, u) && eval(b, u),
        Filter::Or(a, b) => eval(a, u) || eval(b, u),
        Filter::Not(a) => !eval(a, u),
    }
}

/// Candidate ids from the indexes, when the filter pins them; `None` = scan all.
pub(crate) fn candidates(f: &Filter, t: &Tenant) -> Option<Vec<Guid>> {
    let one = |prop: &str, lit: &Lit| -> Option<Vec<Guid>> {
        let Lit::Str(s) = lit else { return None };
        match prop {
            "mail" => Some(t.by_mail(s).to_vec()),
            "userPrincipalName" => Some(t.by_upn(s).into_iter().collect()),
            "id" => Some(
                Guid::parse_named(s, "id")
                    .ok()
                    .filter(|g| t.users.contains_key(g))
                    .into_iter()
                    .collect(),
            ),
            _ => None,
        }
    };
    match f {
        Filter::Cmp {
            prop,
            ne: false,
            lit,
        } => one(prop, lit),
        Filter::In { prop, lits } => {
            let mut out = Vec::new();
            for l in lits {
                out.extend(one(prop, l)?);
            }
            Some(out)
        }
        Filter::Any {
            prop,
            lit: Lit::Str(s),
        } if prop == "otherMails" => Some(t.by_other_mail(s).to_vec()),
        Filter::Any {
            prop,
            lit: Lit::Str(s),
        } if prop == "proxyAddresses" => Some(t.by_proxy_address(s).to_vec()),
        Filter::And(a, b) => match (candidates(a, t), candidates(b, t)) {
            (Some(x), Some(y)) => Some(if x.len() <= y.len() { x } else { y }),
            (x, y) => x.or(y),
        },
        Filter::Or(a, b) => {
            let mut x = candidates(a, t)?;
            x.extend(candidates(b, t)?);
            Some(x)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter forms the client sends parse.
    #[test]
    fn the_client_filter_forms_parse() {
        for f in [
            "mail eq 'a@b.com'",
            "otherMails/any(m:m eq 'a@b.com')",
            "userPrincipalName eq 'a_b.com#EXT#@host.onmicrosoft.com'",
            "userType eq 'Guest' and externalUserState eq 'PendingAcceptance'",
            "mail eq 'a@b.com' or otherMails/any(x: x eq 'a@b.com') or userPrincipalName eq 'o''neil@b.com'",
            "(userType eq 'Guest') and not (accountEnabled eq false)",
            "mail in ('a@b.com','c@d.com')",
            "startswith(displayName,'Ann')",
        ] {
            assert!(parse_filter(f).is_ok(), "{f}");
        }
    }

    /// Unknown properties and operators are refused.
    #[test]
    fn unsupported_filters_are_refused() {
        for f in [
            "foo eq 'x'",
            "mail gt 'a'",
            "mail eq",
            "endswith(mail,'x')",
            "mail eq 'x' xor",
        ] {
            assert!(parse_filter(f).is_err(), "{f}");
        }
    }
}
