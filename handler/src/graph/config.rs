//! Client configuration: base URLs, timeouts, retry bounds and the pacing
//! budgets, built from the validated [`Settings`](crate::settings::Settings)
//! or by hand (tests, the benchmark).
//!
//! Durations that describe *Graph's* clock (budgets, fresh-object window,
//! back-off, token refresh margin) are given in Graph seconds and divided by
//! [`GraphConfig::time_scale`] before the client sleeps, so the client can
//! run against the simulator at the same speed-up factor. Durations Graph
//! *sends* (`Retry-After`, `expires_in`) are already wall-clock time (the
//! simulator scales them itself) and are used as they are.
use std::time::Duration;

use url::Url;

/// One token bucket: `capacity` units, refilled at `per_sec` units per
/// (Graph) second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSpec {
    /// The burst Graph allows (the bucket's size).
    pub capacity: f64,
    /// Sustained refill per Graph second.
    pub per_sec: f64,
}

/// The per-tenant budgets the client paces itself against
/// (`docs/graph-client.md`, "Throttling budgets") and how it adapts.
#[derive(Debug, Clone, PartialEq)]
pub struct PacingConfig {
    /// Writes per app + tenant: 3,000 per 150 s (20/s sustained).
    pub writes: BucketSpec,
    /// Invitations per tenant: 150 per 5 s.
    pub invitations: BucketSpec,
    /// Resource units per app + tenant: 8,000 per 10 s (tenants > 500 users).
    pub read_units: BucketSpec,
    /// Fraction of each nominal refill rate the client aims at, so latency
    /// jitter never pushes arrivals past Graph's own bucket.
    pub safety: f64,
    /// Multiplier applied to a bucket's rate on a 429 (multiplicative decrease).
    pub decrease: f64,
    /// The rate never falls below this fraction of nominal.
    pub min_factor: f64,
    /// Added to the rate factor per recovery step (additive increase).
    pub increase: f64,
    /// Graph time without pressure before the rate starts recovering, and
    /// between two recovery steps.
    pub quiet_period: Duration,
    /// `x-ms-throttle-limit-percentage` at or above which the client stops
    /// bursting (clamps its bucket to what Graph says is left).
    pub pressure_percent: f64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        PacingConfig {
            writes: BucketSpec {
                capacity: 3000.0,
                per_sec: 20.0,
            },
            invitations: BucketSpec {
                capacity: 150.0,
                per_sec: 30.0,
            },
            read_units: BucketSpec {
                capacity: 8000.0,
                per_sec: 800.0,
            },
            safety: 0.99,
            // Mild: an isolated 429 is usually arrival jitter, and the
            // Retry-After pause already absorbs it; sustained pressure still
            // drives the rate down geometrically.
            decrease: 0.7,
            min_factor: 0.1,
            increase: 0.1,
            quiet_period: Duration::from_secs(5),
            pressure_percent: 90.0,
        }
    }
}

/// Everything the Graph client needs to know; one per process.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Graph base URL (`https://graph.microsoft.com`, a national cloud, the
    /// simulator); `/v1.0/...` is appended.
    pub graph_url: Url,
    /// Token authority (`https://login.microsoftonline.com`, ...);
    /// `/{tenant}/oauth2/v2.0/token` is appended.
    pub authority_url: Url,
    /// Wall-clock limit on every HTTP request (not scaled).
    pub request_timeout: Duration,
    /// Retries of one call after 429, 5xx, timeouts, dropped connections and
    /// fresh-object 404s.
    pub max_retries: u32,
    /// An object created less than this (Graph time) ago may still answer 404.
    pub fresh_object_window: Duration,
    /// A write to an object this client created less than this long ago
    /// (Graph time) first waits until the object is this old. Graph
    /// replicates a new object within a second or two; a write that
    /// arrives before answers 404 and still costs a write from the budget
    /// (the first sync's PATCH right after each invitation burned the
    /// write burst that way). A write still refused later is retried as
    /// any fresh-object 404. Zero: no wait.
    pub fresh_write_settle: Duration,
    /// First back-off step (Graph time) when no `Retry-After` is given.
    pub backoff_base: Duration,
    /// Largest back-off step (Graph time).
    pub backoff_cap: Duration,
    /// Sent as `User-Agent` (Microsoft asks callers to identify themselves).
    pub user_agent: String,
    /// 1.0 = real time; N = Graph's clock runs N times faster (simulator).
    pub time_scale: f64,
    /// Tokens are refreshed this long (Graph time) before they expire, or at
    /// 80% of their lifetime, whichever comes first.
    pub token_refresh_margin: Duration,
    /// Budgets and adaptation.
    pub pacing: PacingConfig,
    /// `GUESTSYNC_TLS_CA_FILE`'s PEM (development only): the only roots
    /// the Graph and authority clients then trust (the simulator's CA).
    pub tls_ca_pem: Option<String>,
}

impl GraphConfig {
    /// A configuration for the given endpoints with production defaults.
    pub fn new(graph_url: Url, authority_url: Url) -> Self {
        GraphConfig {
            graph_url,
            authority_url,
            request_timeout: Duration::from_secs(60),
            max_retries: 8,
            fresh_object_window: Duration::from_secs(60),
            fresh_write_settle: Duration::from_secs(2),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            user_agent: format!("guest-sync/{}", env!("CARGO_PKG_VERSION")),
            time_scale: 1.0,
            token_refresh_margin: Duration::from_secs(300),
            pacing: PacingConfig::default(),
            tls_ca_pem: None,
        }
    }

    /// The configuration the settings describe (`GUESTSYNC_GRAPH_URL`,
    /// `GUESTSYNC_AUTHORITY_URL`); the rest are defaults.
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        let mut c = Self::new(settings.graph_url.clone(), settings.authority_url.clone());
        c.tls_ca_pem = settings.tls_ca_pem.clone();
        c
    }

    /// Same configuration with Graph's clock sped up `scale` times (values
    /// that are not finite or not positive are taken as 1).
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        self
    }

    /// The wall-clock duration of `d` Graph time.
    pub fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.effective_scale())
    }

    /// The scale factor, guarded against nonsense values.
    pub fn effective_scale(&self) -> f64 {
        if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Graph durations shrink by the time scale; a bad scale is treated as 1.
    #[test]
    fn graph_time_is_divided_by_the_time_scale() {
        let u = Url::parse("http://127.0.0.1:1").unwrap();
        let c = GraphConfig::new(u.clone(), u.clone()).with_time_scale(10.0);
        assert_eq!(c.real(Duration::from_secs(5)), Duration::from_millis(500));
        let c = GraphConfig::new(u.clone(), u).with_time_scale(-3.0);
        assert_eq!(c.real(Duration::from_secs(5)), Duration::from_secs(5));
    }
}
