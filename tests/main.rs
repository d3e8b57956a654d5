//! Integration tests: one binary, a module per area.
mod engine;
mod secrets;
mod sim;
mod store;
