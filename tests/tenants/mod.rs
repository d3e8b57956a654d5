//! Tenants (`handler/src/tenants/`): onboarding a source tenant with
//! `guest-sync tenant …` against the Graph simulator (add, test, list,
//! enable/disable, remove, secret update, confirm-deprovision), the
//! connection probe's messages, and the source admin's setup script.
mod cross_tenant;
pub mod harness;
mod onboarding_sim;
mod secretless;
mod setup_script;
pub mod tenant_cli;
