//! The Graph simulator. Filled by the simulator work.
