//! The reliability suite (`docs/reliability.md`): tests that try hard to
//! break the product and record what they measured.
//!
//! - [`fuzz`]: every decoder fed arbitrary bytes and structure-aware JSON;
//! - [`load`]: many concurrent invocations against one real handler;
//! - [`concurrency`]: the store under concurrent writers (SQLite; the Tables
//!   half is in `needs_azurite`);
//! - [`needs_azurite`]: crash anywhere (SIGKILL of the real handler under
//!   the host harness), outages, and the Tables store under concurrency.
//!
//! Size: CI runs a short version; `GUESTSYNC_RELIABILITY=full` (set by
//! `scripts/reliability`, the one command for the full run) runs the full
//! one. Each test hands its figures to [`record`], which prints them and
//! writes them to `target/reliability/<section>.md`; `scripts/reliability`
//! assembles those into `docs/reliability.md`.
#![allow(dead_code)]

mod concurrency;
mod fuzz;
mod load;
mod needs_azurite;

use std::path::PathBuf;

/// True for the full run (`GUESTSYNC_RELIABILITY=full`).
pub fn full() -> bool {
    std::env::var("GUESTSYNC_RELIABILITY").is_ok_and(|v| v == "full")
}

/// `short` in CI, `long` in the full run.
pub fn size(short: usize, long: usize) -> usize {
    if full() {
        long
    } else {
        short
    }
}

/// Where the figures go: `target/reliability/` (beside the build), which
/// `./scripts/reliability` turns into `docs/reliability.md`, for the full
/// run; `target/reliability/short/` for the short run, so that a plain
/// `cargo test` never replaces full-size figures the doc is written from.
pub fn figures_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("reliability");
    if full() {
        dir
    } else {
        dir.join("short")
    }
}

/// Prints a section's figures (markdown) and keeps them for
/// `docs/reliability.md`, marked with the run's size.
pub fn record(section: &str, markdown: &str) {
    let size = if full() { "full" } else { "short (CI)" };
    let text = format!(
        "_Measured {} at {size} size._\n\n{}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        markdown.trim_end()
    );
    println!("== reliability: {section} ({size})\n{text}");
    let dir = figures_dir();
    if let Err(e) = std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(dir.join(format!("{section}.md")), &text))
    {
        eprintln!(
            "cannot keep the figures of {section} in {}: {e}",
            dir.display()
        );
    }
}
