//! The `guest-sync` CLI: thin wrapper over [`guest_sync::cli`].
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match guest_sync::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if e.is::<guest_sync::cli::explain::NoMatch>() => {
            eprintln!("{e}");
            std::process::ExitCode::from(guest_sync::cli::explain::EXIT_NO_MATCH)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
