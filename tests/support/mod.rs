//! Helpers shared by the integration test areas.
pub mod azurite;
