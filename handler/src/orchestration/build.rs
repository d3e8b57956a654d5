//! Builds the real function set from validated settings: the store, the
//! secret source, one Graph client for the process (its pacer holds the
//! host tenant's write budget across every tenant job), the engine, and the
//! daily checks.
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::engine_jobs::EngineJobs;
use super::{function_set, DailyChecks, Orchestrator};
use crate::functions::FunctionSet;
use crate::graph::{GraphClient, GraphConfig};
use crate::secrets::SecretSource;
use crate::settings::Settings;
use crate::store::Store;
use crate::sync::SyncContext;

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

/// The secret-expiry check and retention, run by the redemption timer.
pub struct SecretExpiryAndRetention {
    pub store: Arc<dyn Store>,
    pub secrets: Arc<dyn SecretSource>,
    pub settings: Arc<Settings>,
}

#[async_trait]
impl DailyChecks for SecretExpiryAndRetention {
    async fn run(&self, now: DateTime<Utc>) -> Vec<String> {
        let mut logs = Vec::new();
        let statuses = crate::secrets::expiry::check_secret_expiry(
            self.store.as_ref(),
            self.secrets.as_ref(),
            &self.settings,
            now,
        )
        .await;
        for s in statuses {
            logs.push(format!(
                "secret of {}: {:?}{}",
                s.owner,
                s.level,
                s.days_left
                    .map(|d| format!(", {d} day(s) left"))
                    .unwrap_or_default()
            ));
        }
        let before = now - chrono::Duration::days(self.settings.retention_days as i64);
        match self.store.prune(before).await {
            Ok(p) => logs.push(format!(
                "retention: {} run(s) and {} audit entries older than {} days pruned",
                p.runs, p.audit, self.settings.retention_days
            )),
            Err(e) => {
                tracing::warn!(error = %e, "retention prune failed");
                logs.push(format!("retention prune failed: {e}"));
            }
        }
        logs
    }
}

/// The orchestrator for `settings`, with everything it needs opened.
pub async fn orchestrator(settings: Settings) -> Result<Arc<Orchestrator>, BuildError> {
    let settings = Arc::new(settings);
    let store = crate::store::open(&settings.store)
        .await
        .map_err(|source| BuildError::Store {
            spec: settings.store.to_string(),
            source,
        })?;
    let secrets = crate::secrets::secret_source(&settings)
        .await
        .map_err(BuildError::Secrets)?;
    let graph =
        GraphClient::new(GraphConfig::from_settings(&settings)).map_err(BuildError::Graph)?;
    Ok(Arc::new(orchestrator_from_parts(
        store, graph, secrets, settings,
    )))
}

/// The orchestrator over parts built elsewhere (tests, the demo).
pub fn orchestrator_from_parts(
    store: Arc<dyn Store>,
    graph: GraphClient,
    secrets: Arc<dyn SecretSource>,
    settings: Arc<Settings>,
) -> Orchestrator {
    let budget = std::time::Duration::from_secs(settings.job_budget_secs);
    let ctx = SyncContext::new(store.clone(), graph, secrets.clone(), settings.clone());
    Orchestrator::new(store.clone(), Arc::new(EngineJobs { ctx }), budget).with_daily_checks(
        Arc::new(SecretExpiryAndRetention {
            store,
            secrets,
            settings,
        }),
    )
}

/// The function set the handler serves.
pub async fn build(settings: Settings) -> Result<FunctionSet, BuildError> {
    Ok(function_set(orchestrator(settings).await?))
}
