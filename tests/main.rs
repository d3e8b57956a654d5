//! Integration tests: one binary, a module per area.
mod secrets;
mod sim;
mod store;
mod support;
