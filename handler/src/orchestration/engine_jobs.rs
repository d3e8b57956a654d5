//! Adapter from the sync engine to [`super::TenantJobs`]. Filled when the engine lands.
