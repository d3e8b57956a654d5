//! Integration tests: one binary, a module per area.
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
