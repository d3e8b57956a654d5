//! Helpers shared by the integration test areas.
//!
//! - [`world`]: the one test world (simulator, host, source tenants, SQLite
//!   store, secrets file, settings, the real `App`).
//! - [`logs`]: the one tracing capture.
//! - [`perms`]: the permission sets of the simulated apps.
//! - [`azurite`]: a private Azurite for the tests that need one.
pub mod azurite;
pub mod logs;
pub mod perms;
pub mod world;
