//! Integration tests: one binary, a module per area.
//! Tests may unwrap, expect and panic: a failure is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod bench;
mod demo;
mod engine;
mod graph;
mod orchestration;
mod protocol;
mod report;
mod secrets;
mod sim;
mod store;
mod support;
