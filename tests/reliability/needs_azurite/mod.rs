//! The parts of the reliability suite that need Azurite (queues for the
//! host harness, Tables for the store).
mod concurrency;
mod crash;
mod outages;
