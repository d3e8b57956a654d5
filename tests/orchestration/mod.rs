//! Orchestration end to end: a host harness plays the Functions host
//! (timers, real queues in Azurite, redelivery, poison queue) against the
//! handler's real server and functions, over the test world (simulator and
//! SQLite store, `support::world`).
//!
//! Every test here needs Azurite, so they live in [`needs_azurite`]
//! (`scripts/test --fast` skips that module).
pub mod harness;
mod needs_azurite;
pub mod queue;
