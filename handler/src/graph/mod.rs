//! The Graph client (see graph.md). Filled by the Graph client work.
pub mod bench;
