//! The Azure Functions custom handler: the one process behind every function
//! of the app. Start-up: telemetry, the port from
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, signal handlers, then serve on
//! 127.0.0.1 until SIGTERM/SIGINT (graceful: in-flight invocations finish).
//! The app itself (store tables, Key Vault, the identity's token) opens
//! after binding, in the background and on demand (`orchestration::lazy`):
//! start-up never waits on Azure; a bad setting still exits 1 at once.
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use guest_sync::protocol;
use guest_sync::settings::Settings;
use guest_sync::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let format = match telemetry::Format::from_env() {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    if let Err(e) = telemetry::init(format) {
        return fail(&e);
    }
    let port = match protocol::port_from_lookup(|k| std::env::var(k).ok()) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    // Settings are read and validated once; a bad value stops start-up
    // with a message naming the setting.
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    // The Functions host starts the handler in the app's root, beside
    // host.json: the job budget must fit its functionTimeout.
    if let Ok(host_json) = std::fs::read_to_string("host.json") {
        if let Err(e) = guest_sync::settings::check_job_budget(settings.job_budget_secs, &host_json)
        {
            return fail(&e);
        }
    }
    // Nothing that needs Azure happens before the port is bound: the app
    // (store, vault, token) opens in the background and on demand.
    let (set, app) = guest_sync::orchestration::lazy_function_set(settings);
    // Signal handlers first, so a SIGTERM right after readiness is honoured.
    let shutdown = match protocol::shutdown_signal() {
        Ok(s) => s,
        Err(e) => return fail(&format!("cannot install signal handlers: {e}")),
    };
    let listener =
        match tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
            Ok(l) => l,
            Err(e) => return fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")),
        };
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, version = env!("CARGO_PKG_VERSION"), "handler listening"),
        Err(e) => return fail(&format!("cannot read the bound address: {e}")),
    }
    app.warm_up();
    match protocol::serve(listener, set, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("server error: {e}")),
    }
}

/// Reports a fatal start-up error on stderr (the host logs stderr lines as
/// errors) and exits 1.
fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("handler: error: {e}");
    ExitCode::FAILURE
}
