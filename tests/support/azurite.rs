//! A private Azurite (table, queue and blob services, in memory, on free
//! loopback ports) for a test; killed when dropped. Shared by every test area
//! that needs Azure Storage.
//!
//! A missing Azurite FAILS the test with the install command
//! (`npm install --prefix .tools azurite`); it never skips silently.
#![allow(dead_code)]

pub use guest_sync::devtools::azurite::Azurite;

/// Starts Azurite or panics with how to install it.
pub fn start() -> Azurite {
    match Azurite::start() {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    }
}

/// The connection string, table endpoint and queue endpoint of a running
/// Azurite, for tests that only need the strings.
pub fn endpoints(a: &Azurite) -> (&str, &str, &str) {
    (&a.connection_string, &a.table_endpoint, &a.queue_endpoint)
}
