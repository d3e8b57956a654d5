//! Shared test plumbing: a captured tracing output, and a `guest-sync
//! tenant` runner over a temporary SQLite store and local secrets file, with
//! stdout, stdin and errors captured.
use std::io::Cursor;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::Parser;
use guest_sync::cli::tenant::{execute, load_settings, TenantContext};
use guest_sync::cli::{Cli, Command};
use guest_sync::graph::GraphConfig;
use guest_sync::secrets::local::LocalFileSource;
use guest_sync::store::sqlite::SqliteStore;
use guest_sync::tenants::SourceProbe;

/// The one log capture of the test suite (`tests/support/logs.rs`).
pub use crate::support::logs::Capture;

/// Host settings used by the CLI tests.
pub const HOST_TENANT: &str = "11111111-1111-4111-8111-111111111111";
pub const HOST_SECRET: &str = "host-app-secret";

/// A `guest-sync tenant` runner with its own store and secrets file.
pub struct TenantCli {
    pub dir: tempfile::TempDir,
    pub ctx: TenantContext,
    /// Every stdout text and error message produced so far.
    pub transcript: Vec<String>,
}

impl TenantCli {
    /// A runner whose Graph and authority are at `graph` (the simulator),
    /// or an unused port when None.
    pub async fn new(graph: Option<url::Url>) -> TenantCli {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("store.db");
        let secrets = dir.path().join("secrets.json");
        let graph = graph.unwrap_or_else(|| url::Url::parse("http://127.0.0.1:9").unwrap());
        let env = |k: &str| match k {
            "GUESTSYNC_HOST_TENANT_ID" => Some(HOST_TENANT.to_string()),
            "GUESTSYNC_HOST_CLIENT_ID" => Some("22222222-2222-4222-8222-222222222222".to_string()),
            "GUESTSYNC_HOST_SECRET_NAME" => Some(HOST_SECRET.to_string()),
            "GUESTSYNC_STORE" => Some(format!("sqlite:{}", db.display())),
            "GUESTSYNC_LOCAL_SECRETS" => Some(secrets.display().to_string()),
            "GUESTSYNC_GRAPH_URL" | "GUESTSYNC_AUTHORITY_URL" => Some(graph.to_string()),
            "GUESTSYNC_ALLOW_HTTP" => Some("true".into()),
            _ => None,
        };
        let (settings, host_set) = load_settings(env).unwrap();
        assert!(host_set);
        let ctx = TenantContext {
            store: Arc::new(SqliteStore::open(&db).await.unwrap()),
            secrets: Arc::new(LocalFileSource::new(secrets)),
            probe: SourceProbe::new(GraphConfig::from_settings(&settings)),
            federated_app_id: settings.federated_app_id,
            settings: Some(settings),
        };
        TenantCli {
            dir,
            ctx,
            transcript: Vec::new(),
        }
    }

    /// Runs `guest-sync tenant <args>` with `stdin`; Ok(stdout) or
    /// Err(stdout + the error chain). Both go to the transcript.
    pub async fn run(
        &mut self,
        args: &[&str],
        stdin: &str,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let argv: Vec<&str> = ["guest-sync", "tenant"]
            .iter()
            .chain(args)
            .copied()
            .collect();
        let cli = match Cli::try_parse_from(&argv) {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                self.transcript.push(msg.clone());
                return Err(msg);
            }
        };
        let Command::Tenant(t) = cli.command else {
            unreachable!("tenant args")
        };
        let mut out = Vec::new();
        let mut input = Cursor::new(stdin.as_bytes().to_vec());
        let r = execute(t, &self.ctx, &mut input, false, &mut out, now).await;
        let stdout = String::from_utf8(out).unwrap();
        self.transcript.push(stdout.clone());
        match r {
            Ok(()) => Ok(stdout),
            Err(e) => {
                let msg = format!("{e:#}");
                self.transcript.push(msg.clone());
                self.transcript.push(format!("{e:?}"));
                Err(format!("{stdout}{msg}"))
            }
        }
    }

    /// The raw bytes of every file in the runner's directory (store,
    /// secrets file excluded), for leak scans.
    pub fn store_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().and_then(|n| n.to_str()) != Some("secrets.json") {
                all.extend(std::fs::read(&p).unwrap_or_default());
            }
        }
        all
    }
}
