//! Benchmarks that print their numbers (`guest-sync bench ...`).
//!
//! - [`graph`]: the Graph client's throughput against the simulator's budgets.
//! - [`store`]: saving and loading guest records on each backend.
//! - [`scale`]: a full sync at scale, with a naive baseline.
//! - [`sim`]: the simulator's own throughput.
//! - [`instances`]: several worker processes sharing one host write budget.
//! - [`onboarding`]: setup output to first guest, step by step, on the
//!   secret and the secretless path.
//! - [`vclock`]: the virtual clock (a paused tokio runtime) `scale` and
//!   `graph` can measure Graph time on.
pub mod graph;
pub mod instances;
pub mod latency;
pub mod onboarding;
pub mod scale;
pub mod sim;
pub mod store;
pub mod vclock;
