//! guest-sync: keeps the members of one security group in each registered
//! *source* Microsoft Entra tenant present as B2B guests in one *host* tenant.
//!
//! One library powers two binaries: `handler` (the Azure Functions custom
//! handler that backs every function of the app) and `guest-sync` (the CLI
//! for administrators and for running everything locally without Azure).
//!
//! # Layout
//! The shared pieces first, then the layers, lowest first: a module uses
//! its own layer and the ones below, never one above (`docs/design.md` has
//! the contract, the README a reading order).
//! - [`settings`]: typed settings read from the environment once, validated.
//! - [`telemetry`]: `tracing` set up in one place (JSON lines for the host,
//!   readable text locally).
//! - [`events`]: names and fields of the structured log events (the
//!   monitoring workbook reads them).
//! - [`domain`]: pure values and rules: ids, records kept in the store, tenant
//!   policy, the planner. No I/O.
//! - [`graph`]: the Microsoft Graph client: tokens, paging, batching, pacing
//!   against the host tenant's throttle budget, retries, typed errors.
//! - [`store`]: the store interface (tenant registry, guest records, runs,
//!   audit, leases) and its SQLite and Azure Table Storage backends.
//! - [`secrets`]: client secrets from Azure Key Vault, or a local file for
//!   development; the secret-expiry check.
//! - [`protocol`]: the custom-handler wire protocol (envelopes in, outputs
//!   out), the function names and the HTTP server the Functions host talks
//!   to.
//! - [`engine`]: the sync engine: read both sides, plan, apply, record; the
//!   one job driver (lease, time budget, continuations); provision one user.
//! - [`tenants`]: onboarding and managing source tenants (`guest-sync
//!   tenant`).
//! - [`doctor`]: the read-only preflight of a deployment (`guest-sync
//!   doctor`): host and source tenants' settings, permissions, store and
//!   secrets, each check ok / warn / fail with its fix.
//! - [`report`]: statistics, the JSON report and the HTML dashboard; the
//!   CSV exports; why one user is (or is not) a guest.
//! - [`app`]: the composition root: builds the store, secret source, Graph
//!   client, engine and job driver from settings, once.
//! - [`orchestration`]: the behaviour behind each function over an
//!   [`app::App`]: timers fan out, the worker hands work items to the job
//!   driver, poison-watch, report and provision.
//! - [`cli`]: the `guest-sync` command line.
//! - `devtools` (cargo feature `devtools`, on by default; not in the
//!   deployed handler): the Graph simulator, the benchmarks and the Azurite
//!   launcher.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
#[cfg(feature = "devtools")]
pub mod devtools;
pub mod doctor;
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
