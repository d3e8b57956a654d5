//! Use cases: tenant jobs, fan-out, provisioning. Filled by the engine and orchestration work.
pub mod bench;
pub mod onboarding;
