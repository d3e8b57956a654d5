//! Store tests: the conformance suite run against each backend, plus checks
//! specific to one backend (two SQLite instances on one file, the Tables
//! REST client against Azurite).
#[macro_use]
pub mod conformance;
mod azurite;
mod sqlite;
