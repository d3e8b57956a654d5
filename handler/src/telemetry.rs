//! Telemetry set up in one place. Filled by the function-app work.
