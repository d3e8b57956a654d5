//! Latency and injected faults, drawn from the seeded fault RNG. Every Graph
//! call draws the same number of values whatever the settings, so the same
//! seed and request sequence give the same fault sequence.
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Per-request latency, in unscaled milliseconds: `base + uniform(0..=jitter)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyModel {
    pub base_ms: u64,
    pub jitter_ms: u64,
}

/// Faults injected into Graph calls (not the token endpoint or `/_sim`).
/// A faulted call changes nothing in the directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Share of calls answered 500/502/503/504 before doing anything.
    #[serde(default)]
    pub error_5xx_rate: f64,
    /// Share of calls delayed by an extra `slow_ms`.
    #[serde(default)]
    pub slow_rate: f64,
    /// Extra delay of a slow call (unscaled ms).
    #[serde(default)]
    pub slow_ms: u64,
    /// Share of connections closed without an answer.
    #[serde(default)]
    pub drop_rate: f64,
}

/// What happens to one call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub drop: bool,
    pub error_5xx: Option<u16>,
    /// Real (scaled) delay before answering.
    pub delay: Duration,
}

/// Draws the fate of one call (always five draws).
pub(crate) fn decide(rng: &mut SmallRng, f: &Faults, l: &LatencyModel, scale: f64) -> Decision {
    let r_drop: f64 = rng.gen();
    let r_err: f64 = rng.gen();
    let r_code: u8 = rng.gen_range(0..4);
    let r_slow: f64 = rng.gen();
    let r_jit: f64 = rng.gen();
    let drop = r_drop < f.drop_rate;
    let error_5xx = (!drop && r_err < f.error_5xx_rate).then_some(match r_code {
        0 => 500,
        1 => 502,
        2 => 504,
        _ => 503,
    });
    let mut ms = l.base_ms as f64 + r_jit * l.jitter_ms as f64;
    if r_slow < f.slow_rate {
        ms += f.slow_ms as f64;
    }
    let delay = Duration::from_secs_f64((ms / scale / 1000.0).max(0.0));
    Decision {
        drop,
        error_5xx,
        delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The same seed gives the same fault sequence.
    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let f = Faults {
            error_5xx_rate: 0.3,
            slow_rate: 0.2,
            slow_ms: 100,
            drop_rate: 0.1,
        };
        let l = LatencyModel {
            base_ms: 5,
            jitter_ms: 5,
        };
        let run = |seed| {
            let mut r = SmallRng::seed_from_u64(seed);
            (0..200)
                .map(|_| decide(&mut r, &f, &l, 1.0))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }
}
