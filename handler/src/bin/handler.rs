//! The Azure Functions custom handler: the one process behind every function
//! of the app. Start-up: telemetry, the port from
//! `FUNCTIONS_CUSTOMHANDLER_PORT`, signal handlers, then serve on
//! 127.0.0.1 until SIGTERM/SIGINT (graceful: in-flight invocations finish).
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use guest_sync::functions::{self, FunctionSet};
use guest_sync::telemetry;

/// The behaviour behind each function. For now every function answers
/// "not configured" (a clear error, never a fake success); the orchestration
/// work replaces this with the real set built from
/// `guest_sync::settings::Settings`.
fn function_set() -> FunctionSet {
    FunctionSet::unconfigured()
}

#[tokio::main]
async fn main() -> ExitCode {
    let format = match telemetry::Format::from_env() {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    if let Err(e) = telemetry::init(format) {
        return fail(&e);
    }
    let port = match functions::port_from_lookup(|k| std::env::var(k).ok()) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    // Signal handlers first, so a SIGTERM right after readiness is honoured.
    let shutdown = match functions::shutdown_signal() {
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
    match functions::serve(listener, function_set(), shutdown).await {
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
