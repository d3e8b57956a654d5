//! Integration tests: one binary, a module per area.
mod engine;
mod demo;
mod graph;
mod orchestration;
mod protocol;
mod report;
mod secrets;
mod sim;
mod store;
mod support;
