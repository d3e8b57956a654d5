//! Hostile input: every decoder of the product fed arbitrary bytes and
//! structure-aware JSON (valid documents mutated: a field removed, a value
//! of the wrong type, huge, empty or odd-unicode strings, nested junk,
//! numbers out of range, an unknown field, the text cut short).
//!
//! Properties, per decoder: it never panics; bad input is an `Err` whose
//! message is not empty and names what was wrong (a field on the path to
//! the mutation, or the part); the decoders that see secrets (token
//! answers, the local secrets file, settings) never put the secret into
//! their errors; valid input still decodes, and round-trips where a
//! serializer exists.
//!
//! Each test runs `size(10_000, 100_000)` cases per decoder and records a
//! `fuzz-<family>` section: decoder, cases, rejected, accepted, panics,
//! seconds.
//!
//! - [`gen`]: the strategies (bytes, JSON mutation) and the runner;
//! - [`envelope`]: host envelopes, work items, cursors;
//! - [`store`]: Table entities -> records, continuation headers, page tokens;
//! - [`graph`]: Graph pages and next links, Graph error bodies, `Retry-After`,
//!   token answers;
//! - [`config`]: the local secrets file, tenant options, settings.
mod config;
mod envelope;
mod gen;
mod graph;
mod store;
