//! Pure values and rules of guest-sync. Nothing in here does I/O.
//!
//! - [`ids`]: validated identifiers (GUIDs, secret names).
//! - [`anchor`]: the ownership anchor written on every guest we create.
//! - [`records`]: what the store keeps (tenants, guests, runs, audit) and the
//!   queue work item.
//! - [`cross_tenant`]: the host's cross-tenant access settings per source
//!   tenant, as last read.
//! - [`policy`]: per-tenant options (attribute mapping, invite address, ...).
//! - [`profile`]: wanted profile values, field-level diffs.
//! - [`plan`]: the planner, `plan(source, tracked, host, policy) -> Plan`.
pub mod anchor;
pub mod attrs;
pub mod cross_tenant;
pub mod delta;
pub mod ids;
pub mod json;
pub mod plan;
pub mod policy;
pub mod profile;
pub mod records;

pub use anchor::{Anchor, AnchorAttribute, AnchorWrite};
pub use attrs::{AttrSource, Attrs};
pub use cross_tenant::{CrossTenantStatus, InboundB2b, Toggle};
pub use delta::{DeltaLinks, DeltaTracking, MAX_DELTA_GROUPS};
pub use ids::{Guid, IdError, SecretName};
pub use policy::{
    AttributeMapping, DeprovisionMode, InviteAddress, MappingSource, SponsorOptions, TenantOptions,
};
pub use records::*;
