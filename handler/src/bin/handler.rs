//! The Azure Functions custom handler entry point.
fn main() {}
