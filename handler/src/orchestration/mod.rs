//! Orchestration: the behaviour behind every function of the app, over
//! the [`App`] the composition root built.
//!
//! - [`fanout`]: the four timers. Each lists the enabled source tenants and
//!   emits one work item per tenant (skipping a tenant whose job is already
//!   running, i.e. whose lease is held). The redemption timer also runs the
//!   daily checks ([`daily`]: secret expiry, retention).
//! - [`worker`]: `tenant-worker`. Hands the work item to the job driver
//!   ([`crate::engine::JobDriver::run_slice`]: lease, budget, run record)
//!   and enqueues the continuation item it returns.
//! - [`poison`]: `poison-watch`. Records a parked work item as a failed run
//!   so it shows in the report and alerts.
//! - [`http`]: `report` (statistics as JSON or the HTML dashboard) and
//!   `provision` (provision or preview one source user now).
//!
//! Error policy, in one place ([`invoke_error`]): a transient engine error
//! answers non-2xx (the host redelivers), a permanent one is recorded on
//! the run and completes the message.
use std::sync::Arc;

use crate::app::App;
use crate::domain::Job;
use crate::engine::SyncError;
use crate::protocol::{FunctionName, FunctionSet, InvokeError};

pub mod daily;
pub mod fanout;
pub mod http;
pub mod lazy;
pub mod poison;
pub mod quarantine;
pub mod worker;

/// The engine's error in the host's terms: its class decides redelivery;
/// the message keeps the whole cause chain.
pub fn invoke_error(e: &SyncError) -> InvokeError {
    if e.is_transient() {
        InvokeError::Transient(e.describe())
    } else {
        InvokeError::Permanent(e.describe())
    }
}

/// The real behaviour of every function, ready to serve.
pub fn function_set(app: Arc<App>) -> FunctionSet {
    FunctionSet::unconfigured()
        .with(
            FunctionName::SyncTimer,
            Arc::new(fanout::Fanout::new(app.clone(), Job::Reconcile)),
        )
        .with(
            FunctionName::PhotoTimer,
            Arc::new(fanout::Fanout::new(app.clone(), Job::Photos)),
        )
        .with(
            FunctionName::RedemptionTimer,
            Arc::new(fanout::Fanout::new(app.clone(), Job::Redemption)),
        )
        .with(
            FunctionName::DeltaTimer,
            Arc::new(fanout::Fanout::new(app.clone(), Job::Reconcile)),
        )
        .with(
            FunctionName::TenantWorker,
            Arc::new(worker::Worker::new(app.clone())),
        )
        .with(
            FunctionName::PoisonWatch,
            Arc::new(poison::PoisonWatch::new(app.clone())),
        )
        .with(
            FunctionName::Report,
            Arc::new(http::Report::new(app.clone())),
        )
        .with(FunctionName::Provision, Arc::new(http::Provision::new(app)))
}

/// The handler's functions over an app opened lazily ([`lazy`]): nothing
/// here touches Azure, so the handler can listen at once. Call
/// [`lazy::LazyApp::warm_up`] once serving to open it in the background.
pub fn lazy_function_set(settings: crate::settings::Settings) -> (FunctionSet, Arc<lazy::LazyApp>) {
    let app = lazy::LazyApp::new(settings);
    (app.function_set(), app)
}

/// Builds the app from settings and the functions over it (the handler).
pub async fn build(
    settings: crate::settings::Settings,
) -> Result<FunctionSet, crate::app::BuildError> {
    Ok(function_set(Arc::new(App::open(settings).await?)))
}
