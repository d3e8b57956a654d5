//! Integration tests: one binary, a module per area.
mod orchestration;
mod protocol;
mod report;
mod store;
mod graph;
mod secrets;
mod sim;
mod store;
