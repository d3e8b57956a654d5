//! Store tests: the conformance suite run against each backend, plus checks
//! specific to one backend (two SQLite instances on one file, the Tables
//! REST client against Azurite).
//!
//! The Azure Table Storage tests need Azurite: they live in
//! [`needs_azurite`] (`scripts/test --fast` skips that module).
#[macro_use]
pub mod conformance;
mod needs_azurite;
mod sqlite;
