//! Simulator tests: fidelity of answers to Graph's documented shapes, tokens,
//! paging, `$batch`, throttling, faults, consistency and photo cool-down.
