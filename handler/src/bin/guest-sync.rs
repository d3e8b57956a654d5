//! The `guest-sync` CLI: thin wrapper over [`guest_sync::cli`].
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match guest_sync::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
