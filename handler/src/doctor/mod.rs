//! `guest-sync doctor`: a read-only preflight of a deployment against the
//! real host tenant and every registered source tenant, run before the
//! first production run and whenever something looks wrong
//! (`docs/doctor.md` lists every check, what it reads, the permission it
//! needs and the fix).
//!
//! Every check ends [`Status::Ok`], [`Status::Warn`] or [`Status::Fail`]
//! with a detail and, unless ok, the fix. The checks only read: Graph is
//! called with GET alone (besides token requests), the store is opened and
//! read, secrets are read through the [`SecretSource`] and never printed.
//!
//! # Layout
//! - this file: [`Check`], [`Report`], the exit status and [`run`], which
//!   builds the parts from settings and runs the checks in order.
//! - [`config`]: schedules, settings, store, secret source and secrets.
//! - [`host`]: the host app's token and roles, invitations, photo update
//!   settings, the anchor attribute, cross-tenant access per partner.
//! - [`source`]: each source tenant's token, roles and group (through the
//!   onboarding connection test, [`crate::tenants::SourceProbe`]).
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::domain::Guid;
use crate::graph::{GraphClient, GraphConfig};
use crate::secrets::SecretSource;
use crate::settings::Settings;
use crate::store::Store;

pub mod config;
pub mod host;
pub mod source;

/// Exit status when every check is ok.
pub const EXIT_OK: u8 = 0;
/// Exit status when at least one check failed: the same 1 every
/// `guest-sync` command exits with when it did not succeed (and the doctor
/// exits with when it could not run at all).
pub const EXIT_FAIL: u8 = 1;
/// Exit status when there are warnings but no failure (2 is clap's, for a
/// command line it could not parse).
pub const EXIT_WARN: u8 = 3;

/// How a check ended; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    /// `ok`, `warn` or `FAIL` (upper case so it stands out in a terminal).
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's result. Never holds a secret or personal data: ids,
/// setting names and Graph's settings only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable identifier (`host.roles`, `source.<tenantId>.token`, ...):
    /// what scripts match on.
    pub id: String,
    /// What was checked, in words.
    pub title: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (None when ok).
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(id: impl Into<String>, title: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            id: id.into(),
            title: title.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        id: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Warn,
            fix: Some(fix.into()),
            ..Check::ok(id, title, detail)
        }
    }

    pub fn fail(
        id: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            status: Status::Fail,
            fix: Some(fix.into()),
            ..Check::ok(id, title, detail)
        }
    }
}

/// Every check of one doctor run, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

/// The `--json` shape: the worst status, the exit code and the checks.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    status: Status,
    exit_code: u8,
    checks: &'a [Check],
}

impl Report {
    pub fn push(&mut self, c: Check) {
        self.checks.push(c);
    }

    /// The worst status (ok for an empty report).
    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    /// [`EXIT_OK`], [`EXIT_WARN`] or [`EXIT_FAIL`] by the worst status.
    pub fn exit_code(&self) -> u8 {
        match self.worst() {
            Status::Ok => EXIT_OK,
            Status::Warn => EXIT_WARN,
            Status::Fail => EXIT_FAIL,
        }
    }

    /// The check with this id.
    pub fn get(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// `{"status": "warn", "exitCode": 3, "checks": [{"id", "title",
    /// "status", "detail", "fix"}]}`, pretty-printed.
    pub fn to_json(&self) -> String {
        let j = JsonReport {
            status: self.worst(),
            exit_code: self.exit_code(),
            checks: &self.checks,
        };
        serde_json::to_string_pretty(&j).unwrap_or_else(|_| "{}".into())
    }

    /// One line per check (`ok`/`warn`/`FAIL`, title, detail), the fix
    /// indented under it, and a closing count.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for c in &self.checks {
            let _ = writeln!(s, "{:<4} {}: {}", c.status.label(), c.title, c.detail);
            if let Some(f) = &c.fix {
                let _ = writeln!(s, "     fix: {f}");
            }
        }
        let n = |st: Status| self.checks.iter().filter(|c| c.status == st).count();
        let _ = writeln!(
            s,
            "{} ok, {} warning(s), {} failure(s)",
            n(Status::Ok),
            n(Status::Warn),
            n(Status::Fail)
        );
        s
    }
}

/// What the checks share once the settings are known.
pub struct Parts {
    pub settings: Arc<Settings>,
    /// None when the store could not be opened (its check failed).
    pub store: Option<Arc<dyn Store>>,
    /// None when the secret source could not be built (its check failed).
    pub secrets: Option<Arc<dyn SecretSource>>,
    pub graph: GraphClient,
}

/// Runs every check with the settings `lookup` gives (the process
/// environment for the CLI), for every registered source tenant or only
/// `only`. Never fails: what cannot be checked is a failed check.
pub async fn run(lookup: &(dyn Fn(&str) -> Option<String> + Sync), only: Option<Guid>) -> Report {
    let mut r = Report::default();
    config::schedules(lookup, &mut r);
    let Some(settings) = config::settings(lookup, &mut r) else {
        return r;
    };
    let settings = Arc::new(settings);
    let graph = match GraphClient::new(GraphConfig::from_settings(&settings)) {
        Ok(g) => g,
        Err(e) => {
            r.push(Check::fail(
                "graph",
                "Microsoft Graph client",
                e.to_string(),
                "check GUESTSYNC_GRAPH_URL and GUESTSYNC_AUTHORITY_URL",
            ));
            return r;
        }
    };
    let store = config::store(&settings, &mut r).await;
    let secrets = config::secret_source(&settings, &mut r).await;
    let parts = Parts {
        settings,
        store,
        secrets,
        graph,
    };
    let tenants = config::tenants(&parts, only, &mut r).await;
    config::secretless(lookup, &parts.settings, &tenants, &mut r);
    host::check(&parts, &tenants, &mut r).await;
    for t in &tenants {
        source::check(&parts, t, &mut r).await;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst status decides the exit code; an empty report is ok.
    #[test]
    fn the_worst_status_gives_the_exit_code() {
        let mut r = Report::default();
        assert_eq!(r.exit_code(), EXIT_OK);
        r.push(Check::ok("a", "A", "fine"));
        assert_eq!(r.exit_code(), EXIT_OK);
        r.push(Check::warn("b", "B", "meh", "do b"));
        assert_eq!((r.worst(), r.exit_code()), (Status::Warn, EXIT_WARN));
        r.push(Check::fail("c", "C", "bad", "do c"));
        assert_eq!((r.worst(), r.exit_code()), (Status::Fail, EXIT_FAIL));
        let text = r.to_text();
        assert!(text.contains("FAIL C: bad\n     fix: do c"), "{text}");
        assert!(
            text.ends_with("1 ok, 1 warning(s), 1 failure(s)\n"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["status"], "fail");
        assert_eq!(v["exitCode"], 1);
        assert_eq!(v["checks"][1]["fix"], "do b");
        assert_eq!(v["checks"][0]["fix"], serde_json::Value::Null);
    }
}
