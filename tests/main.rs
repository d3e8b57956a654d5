//! Integration tests: one binary, a module per area.
//! Tests may unwrap, expect and panic: a failure is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//!
//! Shared plumbing is in [`support`]: the test world, the log capture, the
//! permission sets, Azurite.
//!
//! Tiers: tests that need Azurite live in modules named `needs_azurite`,
//! tests that need Chromium in modules named `needs_chromium`; everything
//! else is hermetic. `scripts/test --fast` runs the hermetic tier only (it
//! skips those modules by name); `scripts/test` runs everything.
mod bench;
mod demo;
mod doctor;
mod engine;
mod graph;
mod orchestration;
mod protocol;
mod reliability;
mod report;
mod secrets;
mod sim;
mod store;
mod support;
mod tenants;
