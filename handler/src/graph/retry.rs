//! Retry arithmetic: reading `Retry-After`, and exponential back-off with
//! full jitter when Graph gives no wait. Pure functions; the HTTP core
//! decides *whether* to retry, these decide *how long* to wait.
use std::time::Duration;

use rand::Rng;

/// Longest `Retry-After` the client accepts; a larger value is capped so a
/// malformed header cannot park a worker for hours.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Parses a `Retry-After` value: delta-seconds (Graph's form, integer or
/// decimal) or an HTTP date (relative to `now`). None when absent or
/// malformed.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            // Capped before the conversion: `from_secs_f64` panics on a
            // value past `Duration::MAX` (`Retry-After: 1e300`).
            return Some(Duration::from_secs_f64(
                secs.min(MAX_RETRY_AFTER.as_secs_f64()),
            ));
        }
        return None;
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - now;
    Some(
        delta
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// The wait a 429/503 answer asks for, in wall-clock time: the simulator's
/// precise `x-sim-retry-after-ms` when present, else `Retry-After`. Both
/// are already real time (Graph and the simulator speak wall-clock seconds),
/// so they are not divided by the time scale.
pub fn retry_after_from<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Option<Duration> {
    if let Some(ms) = header("x-sim-retry-after-ms").and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(Duration::from_millis(ms).min(MAX_RETRY_AFTER));
    }
    header("retry-after").and_then(|v| parse_retry_after(v, chrono::Utc::now()))
}

/// Full-jitter exponential back-off: a uniform wait in
/// `[0, min(cap, base * 2^attempt)]` (attempt 0 = first retry).
pub fn backoff(attempt: u32, base: Duration, cap: Duration, rng: &mut impl Rng) -> Duration {
    let ceiling = base
        .checked_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .unwrap_or(cap)
        .min(cap);
    if ceiling.is_zero() {
        return Duration::ZERO;
    }
    ceiling.mul_f64(rng.gen_range(0.0..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Seconds, decimal seconds and HTTP dates are read; garbage is not.
    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("99999", now), Some(MAX_RETRY_AFTER));
        // Past what a Duration holds: capped, not a panic (found by the
        // reliability fuzzing).
        assert_eq!(parse_retry_after("1e300", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("18446744073709551616", now),
            Some(MAX_RETRY_AFTER)
        );
    }

    /// Back-off stays within [0, min(cap, base*2^n)] and grows with n.
    #[test]
    fn backoff_is_bounded_full_jitter() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        for attempt in 0..40 {
            let ceiling = (base * 2u32.saturating_pow(attempt.min(20))).min(cap);
            for _ in 0..50 {
                let d = backoff(attempt, base, cap, &mut rng);
                assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
            }
        }
        let late: Duration = (0..200)
            .map(|_| backoff(10, base, cap, &mut rng))
            .sum::<Duration>();
        let early: Duration = (0..200)
            .map(|_| backoff(0, base, cap, &mut rng))
            .sum::<Duration>();
        assert!(late > early);
    }
}
