//! The one log capture of the integration tests: a shared buffer tracing
//! writes into, and the ways to install it.
//!
//! - [`Capture::scoped`]: this thread's default subscriber (JSON lines,
//!   TRACE, dependencies included) for as long as the guard lives; what the
//!   secret leak scans use.
//! - [`Capture::global`]: the process-wide subscriber (JSON lines, INFO),
//!   installed once. For events emitted on other threads, and for tests that
//!   must not race with others installing and dropping scoped subscribers
//!   (tracing's max-level cache is process-wide); lines are told apart by
//!   their ids.
//! - Any other subscriber (the handler's own `telemetry::subscriber`): a
//!   [`Capture`] is a `MakeWriter`, pass a clone as its writer.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// Everything written to it so far; clones share the buffer.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Capture {
    /// Installs a capturing JSON subscriber at TRACE level as this thread's
    /// default (tokio's default test runtime runs on one thread) until the
    /// guard is dropped.
    pub fn scoped() -> (Capture, tracing::subscriber::DefaultGuard) {
        let c = Capture::default();
        let sub = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(c.clone())
            .finish();
        let g = tracing::subscriber::set_default(sub);
        (c, g)
    }

    /// The process-wide JSON capture at INFO level, installed as the global
    /// default subscriber on first use. Shared by every test that calls it.
    pub fn global() -> Capture {
        static CAPTURE: OnceLock<Capture> = OnceLock::new();
        CAPTURE
            .get_or_init(|| {
                let c = Capture::default();
                let sub = tracing_subscriber::fmt()
                    .json()
                    .with_max_level(tracing::Level::INFO)
                    .with_writer(c.clone())
                    .finish();
                let _ = tracing::subscriber::set_global_default(sub);
                c
            })
            .clone()
    }

    /// The captured text (tracing writes UTF-8; anything else fails).
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("captured logs are UTF-8")
    }

    /// Every captured line that is JSON, parsed.
    pub fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }

    /// The `fields` objects of the captured events (tracing-subscriber's
    /// JSON format).
    pub fn events(&self) -> Vec<Value> {
        self.json_lines()
            .into_iter()
            .filter_map(|v| v.get("fields").cloned())
            .collect()
    }
}
