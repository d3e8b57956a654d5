//! Integration tests: one binary, a module per area.
mod graph;
mod orchestration;
mod protocol;
mod report;
mod engine;
mod graph;
mod secrets;
mod sim;
mod store;
mod support;
