//! The `guest-sync` CLI: thin wrapper over [`guest_sync::cli`].
#![forbid(unsafe_code)]

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match guest_sync::cli::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if let Some(guest_sync::cli::ExitStatus(code)) = e.downcast_ref() {
                return std::process::ExitCode::from(*code);
            }
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
