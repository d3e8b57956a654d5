//! Development tooling, fenced off from production code: the Graph
//! simulator, the benchmarks and the Azurite launcher.
//!
//! Compiled only with the `devtools` cargo feature (on by default, so the
//! `guest-sync` CLI has `demo`, `sim` and `bench`). The deployable `handler`
//! is built with `--no-default-features` (see `scripts/package.sh`), so none
//! of this ships to Azure. No production module may import from here; the
//! unit test in `handler/src/layering.rs` enforces it, and CI checks that
//! the library and binaries compile (clippy-clean) without the feature.
//!
//! - [`sim`]: a stateful Microsoft Graph + Entra token simulator (tests, the
//!   demo and the benchmarks run on it).
//! - [`bench`]: `guest-sync bench graph|store|scale`.
//! - [`azurite`]: finds and starts a private Azurite (tests, `bench store`).
//! - [`tls`]: a throw-away CA and a TLS listener for local https servers
//!   (the simulator's https listener, the tests' fake Key Vault).
pub mod azurite;
pub mod bench;
pub mod sim;
pub mod tls;
