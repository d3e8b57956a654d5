//! Telemetry set up in one place. In Azure the handler writes one JSON
//! object per line on stdout: the Functions host turns each line into an
//! Application Insights trace, where the `event` field (see
//! [`crate::events`]) makes it queryable. Locally, on a terminal, it writes
//! readable text. The level comes from `RUST_LOG` (default `info`).
use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::EnvFilter;

/// The setting that forces a log format (`json` or `text`).
pub const LOG_FORMAT_SETTING: &str = "GUESTSYNC_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (for the Functions host).
    Json,
    /// Human-readable lines (for a terminal).
    Text,
}

impl Format {
    /// `GUESTSYNC_LOG_FORMAT` when set, else text on a terminal and JSON
    /// otherwise (as under the Functions host, whose stdout is a pipe).
    pub fn from_env() -> Result<Format, TelemetryError> {
        match std::env::var(LOG_FORMAT_SETTING) {
            Ok(v) if !v.trim().is_empty() => Format::parse(&v),
            _ if std::io::stdout().is_terminal() => Ok(Format::Text),
            _ => Ok(Format::Json),
        }
    }

    /// `json` or `text` (any case).
    pub fn parse(s: &str) -> Result<Format, TelemetryError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "text" => Ok(Format::Text),
            _ => Err(TelemetryError::BadFormat(s.chars().take(64).collect())),
        }
    }
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("setting GUESTSYNC_LOG_FORMAT: expected json or text, got {0:?}")]
    BadFormat(String),
    #[error("setting RUST_LOG: {value:?} is not a valid filter ({source})")]
    BadFilter {
        value: String,
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("a global tracing subscriber is already installed")]
    AlreadySet,
}

/// The level filter from `RUST_LOG`, `info` when unset.
pub fn filter_from_env() -> Result<EnvFilter, TelemetryError> {
    match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => {
            EnvFilter::try_new(&v).map_err(|source| TelemetryError::BadFilter { value: v, source })
        }
        _ => Ok(EnvFilter::new("info")),
    }
}

/// A subscriber writing `format` lines to `writer` (stdout in production, a
/// buffer in tests), filtered by `filter`.
pub fn subscriber<W>(
    format: Format,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync + 'static>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        Format::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            ),
        ),
        Format::Text => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stdout().is_terminal())
                    .with_writer(writer),
            ),
        ),
    }
}

/// Installs the global subscriber: `format` lines on stdout, level from
/// `RUST_LOG`. Call once, first thing in `main`.
pub fn init(format: Format) -> Result<(), TelemetryError> {
    let filter = filter_from_env()?;
    tracing::subscriber::set_global_default(subscriber(format, filter, std::io::stdout))
        .map_err(|_| TelemetryError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only `json` and `text` are formats; anything else names the setting.
    #[test]
    fn log_format_parses_json_and_text_only() {
        assert_eq!(Format::parse("JSON").unwrap(), Format::Json);
        assert_eq!(Format::parse("text").unwrap(), Format::Text);
        let e = Format::parse("xml").unwrap_err();
        assert!(e.to_string().contains("GUESTSYNC_LOG_FORMAT"), "{e}");
    }
}
