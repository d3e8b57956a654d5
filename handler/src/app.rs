//! The composition root: the one place that builds the application from
//! settings. The `handler` binary, every CLI command, the demo and the
//! benchmarks get their store, secret source, Graph client, engine and job
//! driver from an [`App`]; nothing else opens them.
//!
//! - [`App::open`]: from validated settings (the handler, the CLI).
//! - [`App::from_parts`]: over parts made elsewhere (tests, the demo and
//!   the benchmarks, which run on the simulator).
//!
//! Layering (imports only point down): `domain` < `graph`, `store`,
//! `secrets`, `protocol` < `engine`, `tenants`, `report` < `app` <
//! `orchestration` (the functions: `orchestration::function_set(app)`) <
//! `cli` and the binaries.
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Clock, JobDriver, SyncContext, SystemClock};
use crate::graph::{GraphClient, GraphConfig};
use crate::secrets::SecretSource;
use crate::settings::Settings;
use crate::store::Store;

/// Why the app could not be assembled (start-up fails with this message).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("store ({spec}): {source}")]
    Store {
        spec: String,
        #[source]
        source: crate::store::StoreError,
    },
    #[error("secret source: {0}")]
    Secrets(#[source] crate::secrets::SecretError),
    #[error("Graph client: {0}")]
    Graph(#[source] crate::graph::GraphError),
}

/// Everything the functions, the CLI and the engine share, built once.
#[derive(Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretSource>,
    /// One client for the process: its pacer holds the host's write budget
    /// across all tenants' jobs.
    pub graph: GraphClient,
    /// The time as the engine sees it (the demo substitutes the simulator's).
    pub clock: Arc<dyn Clock>,
    /// Identifies this process as a lease holder.
    pub holder: String,
}

impl App {
    /// Opens the store and the secret source and builds the Graph client
    /// that `settings` name.
    pub async fn open(settings: Settings) -> Result<App, BuildError> {
        App::open_with_graph(settings, |g| g).await
    }

    /// The store alone, for the commands that need nothing else
    /// (`guest-sync report`, `guest-sync guest`, `bench store`): the same
    /// opening, with the same error, as [`App::open`].
    pub async fn open_store(
        spec: &crate::settings::StoreSpec,
    ) -> Result<Arc<dyn Store>, BuildError> {
        crate::store::open(spec)
            .await
            .map_err(|source| BuildError::Store {
                spec: spec.to_string(),
                source,
            })
    }

    /// [`App::open`] with the Graph client's configuration adjusted (the
    /// demo and tests run it at the simulator's time scale).
    pub async fn open_with_graph(
        settings: Settings,
        graph: impl FnOnce(GraphConfig) -> GraphConfig,
    ) -> Result<App, BuildError> {
        let settings = Arc::new(settings);
        let store = App::open_store(&settings.store).await?;
        let secrets = crate::secrets::secret_source(&settings)
            .await
            .map_err(BuildError::Secrets)?;
        let graph = GraphClient::new(graph(GraphConfig::from_settings(&settings)))
            .map_err(BuildError::Graph)?;
        Ok(App::from_parts(settings, store, secrets, graph))
    }

    /// The app over parts built elsewhere.
    pub fn from_parts(
        settings: Arc<Settings>,
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretSource>,
        graph: GraphClient,
    ) -> App {
        App {
            settings,
            store,
            secrets,
            graph,
            clock: Arc::new(SystemClock),
            holder: format!("{}-{}", hostname(), uuid::Uuid::new_v4()),
        }
    }

    /// The same app on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> App {
        self.clock = clock;
        self
    }

    /// The engine's context (48 actions in flight, dry run as the settings
    /// say).
    pub fn engine(&self) -> SyncContext {
        let mut ctx = SyncContext::new(
            self.store.clone(),
            self.graph.clone(),
            self.secrets.clone(),
            self.settings.clone(),
        );
        ctx.clock = self.clock.clone();
        ctx
    }

    /// The job driver over [`App::engine`], with the configured budget.
    pub fn driver(&self) -> JobDriver {
        self.driver_for(self.engine())
    }

    /// The job driver over an engine context the caller adjusted.
    pub fn driver_for(&self, engine: SyncContext) -> JobDriver {
        JobDriver::new(engine, self.holder.clone(), self.job_budget())
    }

    /// `GUESTSYNC_JOB_BUDGET_SECS`.
    pub fn job_budget(&self) -> Duration {
        Duration::from_secs(self.settings.job_budget_secs)
    }
}

fn hostname() -> String {
    std::env::var("WEBSITE_INSTANCE_ID")
        .or_else(|_| std::env::var("HOSTNAME"))
        .map(|h| h.chars().take(16).collect())
        .unwrap_or_else(|_| "local".to_string())
}
