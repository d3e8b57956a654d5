//! Integration tests: one binary, a module per area.
mod sim;
mod store;
