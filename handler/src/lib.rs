//! guest-sync: keeps the members of one security group in each registered
//! *source* Microsoft Entra tenant present as B2B guests in one *host* tenant.
//!
//! One library powers two binaries: `handler` (the Azure Functions custom
//! handler that backs every function of the app) and `guest-sync` (the CLI
//! for administrators and for running everything locally without Azure).
//!
//! # Layout
//! - [`settings`]: typed settings read from the environment once, validated.
//! - [`telemetry`]: `tracing` set up in one place (JSON lines for the host,
//!   readable text locally).
//! - [`events`]: names and fields of the structured log events (the
//!   monitoring workbook reads them).
//! - [`domain`]: pure values and rules: ids, records kept in the store, tenant
//!   policy, the planner. No I/O.
//! - [`graph`]: the Microsoft Graph client: tokens, paging, batching, pacing
//!   against the host tenant's throttle budget, retries, typed errors.
//! - [`sim`]: a stateful Microsoft Graph + Entra token simulator (tests, the
//!   demo and the benchmarks run on it).
//! - [`store`]: the store interface (tenant registry, guest records, runs,
//!   audit, leases) and its SQLite and Azure Table Storage backends.
//! - [`secrets`]: client secrets from Azure Key Vault, or a local file for
//!   development.
//! - [`functions`]: the custom-handler wire protocol (envelopes in, outputs
//!   out) and the HTTP server the Functions host talks to.
//! - [`orchestration`]: the behaviour behind each function: timers fan
//!   out, the worker runs jobs under a lease and a time budget, poison-watch,
//!   report and provision.
//! - [`sync`]: use cases: run one tenant job within a time budget, fan out
//!   work items, provision one user.
//! - [`report`]: statistics, the JSON report and the HTML dashboard.
//! - [`cli`]: the `guest-sync` command line.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
#[cfg(feature = "devtools")]
pub mod devtools;
pub mod domain;
pub mod engine;
pub mod events;
pub mod graph;
pub mod orchestration;
pub mod protocol;
pub mod report;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod telemetry;
pub mod tenants;

#[cfg(test)]
mod layering;
