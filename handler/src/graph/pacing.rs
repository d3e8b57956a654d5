//! Pacing: the client keeps itself under Graph's throttle budgets instead of
//! hammering into 429s.
//!
//! One [`TenantBudget`] per tenant, shared by every task of the process,
//! holds three token buckets mirroring Graph's budget table
//! (`docs/graph-client.md`, "Throttling budgets"): writes (3,000 per
//! 150 s), invitations (150 per 5 s) and read resource units (8,000 per
//! 10 s). A call acquires its cost from each bucket *before* it is sent.
//!
//! Waiters queue on a fair async mutex per bucket, so the head of the queue
//! sleeps until its tokens exist and everyone behind it keeps their order:
//! there is no thundering herd, and a rate change or a pause decided while
//! the head sleeps is seen when it wakes.
//!
//! Adaptation (AIMD):
//! - a 429 pauses the bucket for `Retry-After`, empties it and multiplies its
//!   rate by `decrease` (at most once per Graph second, so a volley of 429s
//!   from requests already in flight counts once);
//! - `x-ms-throttle-limit-percentage` >= `pressure_percent` means Graph's own
//!   bucket is nearly empty: the client clamps its bucket to what Graph says
//!   is left (stops bursting) without cutting the sustained rate, because at
//!   full speed Graph's bucket is *always* nearly empty;
//! - after `quiet_period` without a 429 the rate grows back by `increase`
//!   per period up to nominal.
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::config::{BucketSpec, PacingConfig};

/// Which of the three budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetKind {
    /// Writes per app + tenant.
    Writes,
    /// Invitations per tenant.
    Invitations,
    /// Read resource units per app + tenant.
    ReadUnits,
}

/// What one request costs against the budgets (`docs/graph-client.md`, "Costs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cost {
    /// Resource units (every request costs at least one).
    pub read_units: u32,
    /// Writes (POST/PATCH/PUT/DELETE).
    pub writes: u32,
    /// Invitations (also writes).
    pub invitations: u32,
}

impl Cost {
    /// A GET costing `ru` resource units.
    pub fn read(ru: u32) -> Self {
        Cost {
            read_units: ru,
            ..Cost::default()
        }
    }
    /// A POST/PATCH/PUT/DELETE: 1 RU and 1 write.
    pub fn write() -> Self {
        Cost {
            read_units: 1,
            writes: 1,
            invitations: 0,
        }
    }
    /// An invitation: a write that also counts against the invitation budget.
    pub fn invite() -> Self {
        Cost {
            read_units: 1,
            writes: 1,
            invitations: 1,
        }
    }
    /// The sum of two costs (a `$batch` costs the sum of its items).
    pub fn plus(self, o: Cost) -> Cost {
        Cost {
            read_units: self.read_units + o.read_units,
            writes: self.writes + o.writes,
            invitations: self.invitations + o.invitations,
        }
    }
    /// The budget a pressure signal about this request refers to.
    pub fn primary(&self) -> BudgetKind {
        if self.invitations > 0 {
            BudgetKind::Invitations
        } else if self.writes > 0 {
            BudgetKind::Writes
        } else {
            BudgetKind::ReadUnits
        }
    }
}

/// Reads `x-ms-throttle-limit-percentage` as a percentage. Graph documents
/// the value as a share of the limit from 0.8 to 1.8 (a fraction despite the
/// name); values above 2 are taken to be percentages already.
pub fn limit_percentage(raw: &str) -> Option<f64> {
    let v: f64 = raw.trim().trim_end_matches('%').parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some(if v <= 2.0 { v * 100.0 } else { v })
}

/// The mutable state of one bucket (times are wall-clock, rates already
/// multiplied by the time scale).
#[derive(Debug)]
struct BucketState {
    /// The whole budget's burst; this process may use `share` of it.
    full_capacity: f64,
    capacity: f64,
    /// This process's share of the budget (1.0 alone; 1/N when N jobs of
    /// several processes run against the same host tenant).
    share: f64,
    /// Nominal refill per wall second (Graph rate x time scale x safety).
    nominal_per_sec: f64,
    tokens: f64,
    last: Instant,
    /// Current fraction of the nominal rate (AIMD).
    factor: f64,
    paused_until: Option<Instant>,
    last_pressure: Option<Instant>,
    last_decrease: Option<Instant>,
    last_step: Instant,
}

/// Adaptation parameters in wall-clock terms.
#[derive(Debug, Clone, Copy)]
struct Adapt {
    decrease: f64,
    min_factor: f64,
    increase: f64,
    quiet: Duration,
    decrease_cooldown: Duration,
    pressure_percent: f64,
}

impl BucketState {
    fn new(spec: BucketSpec, scale: f64, safety: f64, now: Instant) -> Self {
        let capacity = spec.capacity.max(1.0);
        BucketState {
            full_capacity: capacity,
            share: 1.0,
            capacity,
            nominal_per_sec: (spec.per_sec * scale * safety).max(f64::MIN_POSITIVE),
            tokens: capacity,
            last: now,
            factor: 1.0,
            paused_until: None,
            last_pressure: None,
            last_decrease: None,
            last_step: now,
        }
    }

    fn rate(&self) -> f64 {
        self.nominal_per_sec * self.factor * self.share
    }

    /// Sets this process's share of the budget: the refill rate and the
    /// burst shrink (or grow) with it; tokens above the new burst go.
    fn set_share(&mut self, share: f64, now: Instant, a: &Adapt) {
        self.refill(now, a);
        self.share = share.clamp(0.01, 1.0);
        self.capacity = (self.full_capacity * self.share).max(1.0);
        self.tokens = self.tokens.min(self.capacity);
    }

    fn refill(&mut self, now: Instant, a: &Adapt) {
        // Nothing accrues while paused by a Retry-After.
        let from = match self.paused_until {
            Some(p) if p > self.last => p,
            _ => self.last,
        };
        let dt = now.saturating_duration_since(from).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate()).min(self.capacity);
        self.last = now;
        let quiet = self
            .last_pressure
            .is_none_or(|p| now.saturating_duration_since(p) >= a.quiet);
        if self.factor < 1.0 && quiet && !a.quiet.is_zero() {
            let steps = (now.saturating_duration_since(self.last_step).as_secs_f64()
                / a.quiet.as_secs_f64())
            .floor();
            if steps >= 1.0 {
                self.factor = (self.factor + a.increase * steps).min(1.0);
                self.last_step += a.quiet.mul_f64(steps);
            }
        }
    }

    /// Takes `n` tokens, or says how long to wait before trying again.
    fn try_take(&mut self, n: f64, now: Instant, a: &Adapt) -> Option<Duration> {
        self.refill(now, a);
        if let Some(p) = self.paused_until {
            if now < p {
                return Some(p - now);
            }
            self.paused_until = None;
        }
        let need = n.min(self.capacity);
        if self.tokens >= need {
            self.tokens -= need;
            None
        } else {
            Some(Duration::from_secs_f64(
                ((need - self.tokens) / self.rate()).max(1e-6),
            ))
        }
    }

    fn throttled(&mut self, now: Instant, retry_after: Option<Duration>, a: &Adapt) {
        self.refill(now, a);
        self.tokens = self.tokens.min(0.0);
        if let Some(ra) = retry_after {
            let until = now + ra;
            self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
        }
        let may_decrease = self
            .last_decrease
            .is_none_or(|d| now.saturating_duration_since(d) >= a.decrease_cooldown);
        if may_decrease {
            self.factor = (self.factor * a.decrease).max(a.min_factor);
            self.last_decrease = Some(now);
        }
        self.last_pressure = Some(now);
        self.last_step = now;
    }

    fn pressure(&mut self, now: Instant, percent: f64, a: &Adapt) {
        if percent >= a.pressure_percent {
            self.refill(now, a);
            let left = self.capacity * ((100.0 - percent).max(0.0) / 100.0);
            self.tokens = self.tokens.min(left);
        }
    }
}

/// One bucket: its state and the queue of waiters.
#[derive(Debug)]
struct Bucket {
    state: Mutex<BucketState>,
    /// Fair (FIFO) queue of acquirers; held while the head sleeps.
    gate: tokio::sync::Mutex<()>,
}

impl Bucket {
    fn with_state<R>(&self, f: impl FnOnce(&mut BucketState) -> R) -> R {
        // A poisoned lock only means another task panicked mid-update; the
        // numbers are still usable, so recover them rather than propagate.
        let mut g = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    async fn acquire(&self, n: u32, a: &Adapt) {
        if n == 0 {
            return;
        }
        let _turn = self.gate.lock().await;
        loop {
            let wait = self.with_state(|s| s.try_take(f64::from(n), Instant::now(), a));
            match wait {
                None => return,
                Some(w) => tokio::time::sleep(w).await,
            }
        }
    }
}

/// The budgets of one tenant, shared by every task of the process.
#[derive(Debug)]
pub struct TenantBudget {
    writes: Bucket,
    invitations: Bucket,
    read_units: Bucket,
    adapt: Adapt,
}

impl TenantBudget {
    /// Budgets per `cfg`, with Graph's clock running `time_scale` times faster.
    pub fn new(cfg: &PacingConfig, time_scale: f64) -> Self {
        let scale = if time_scale.is_finite() && time_scale > 0.0 {
            time_scale
        } else {
            1.0
        };
        let now = Instant::now();
        let safety = cfg.safety.clamp(0.01, 1.0);
        let mk = |spec: BucketSpec| Bucket {
            state: Mutex::new(BucketState::new(spec, scale, safety, now)),
            gate: tokio::sync::Mutex::new(()),
        };
        TenantBudget {
            writes: mk(cfg.writes),
            invitations: mk(cfg.invitations),
            read_units: mk(cfg.read_units),
            adapt: Adapt {
                decrease: cfg.decrease.clamp(0.01, 1.0),
                min_factor: cfg.min_factor.clamp(0.001, 1.0),
                increase: cfg.increase.max(0.0),
                quiet: cfg.quiet_period.div_f64(scale),
                decrease_cooldown: Duration::from_secs(1).div_f64(scale),
                pressure_percent: cfg.pressure_percent,
            },
        }
    }

    fn bucket(&self, k: BudgetKind) -> &Bucket {
        match k {
            BudgetKind::Writes => &self.writes,
            BudgetKind::Invitations => &self.invitations,
            BudgetKind::ReadUnits => &self.read_units,
        }
    }

    /// Waits until `cost` fits every budget and takes it. Invitations are
    /// taken first (the scarcest), then writes, then read units.
    pub async fn acquire(&self, cost: Cost) {
        self.invitations
            .acquire(cost.invitations, &self.adapt)
            .await;
        self.writes.acquire(cost.writes, &self.adapt).await;
        self.read_units.acquire(cost.read_units, &self.adapt).await;
    }

    /// Graph answered 429 for a request whose main budget is `kind`:
    /// pause that budget for `retry_after` (wall clock) and slow it down.
    pub fn on_throttled(&self, kind: BudgetKind, retry_after: Option<Duration>) {
        let a = self.adapt;
        self.bucket(kind)
            .with_state(|s| s.throttled(Instant::now(), retry_after, &a));
    }

    /// Graph reported `x-ms-throttle-limit-percentage` = `percent` on a
    /// request whose main budget is `kind`.
    pub fn on_pressure(&self, kind: BudgetKind, percent: f64) {
        let a = self.adapt;
        self.bucket(kind)
            .with_state(|s| s.pressure(Instant::now(), percent, &a));
    }

    /// Sets this process's share of every budget (`1.0` = alone): with N
    /// jobs running in several processes against one host tenant, each
    /// process paces to its part, so together they stay within Graph's
    /// budget instead of asking N times for it.
    pub fn set_share(&self, share: f64) {
        let a = self.adapt;
        let now = Instant::now();
        for b in [&self.writes, &self.invitations, &self.read_units] {
            b.with_state(|s| s.set_share(share, now, &a));
        }
    }

    /// This process's share of the budget.
    pub fn share(&self) -> f64 {
        self.writes.with_state(|s| s.share)
    }

    /// The current fraction of the nominal rate of `kind` (1.0 = full speed).
    pub fn rate_factor(&self, kind: BudgetKind) -> f64 {
        let a = self.adapt;
        self.bucket(kind).with_state(|s| {
            s.refill(Instant::now(), &a);
            s.factor
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn small() -> PacingConfig {
        PacingConfig {
            writes: BucketSpec {
                capacity: 10.0,
                per_sec: 2.0,
            },
            invitations: BucketSpec {
                capacity: 5.0,
                per_sec: 1.0,
            },
            read_units: BucketSpec {
                capacity: 100.0,
                per_sec: 10.0,
            },
            safety: 1.0,
            decrease: 0.5,
            quiet_period: Duration::from_secs(10),
            ..PacingConfig::default()
        }
    }

    fn secs(from: Instant) -> f64 {
        Instant::now().duration_since(from).as_secs_f64()
    }

    /// The burst goes out at once, then writes flow at the refill rate.
    #[tokio::test(start_paused = true)]
    async fn burst_then_sustained_rate() {
        let b = TenantBudget::new(&small(), 1.0);
        let t0 = Instant::now();
        for _ in 0..10 {
            b.acquire(Cost::write()).await;
        }
        assert!(secs(t0) < 0.01);
        for _ in 0..20 {
            b.acquire(Cost::write()).await;
        }
        let t = secs(t0);
        assert!((9.9..=10.1).contains(&t), "20 writes at 2/s took {t}s");
    }

    /// A process's share (1/N of the jobs running anywhere) cuts its burst
    /// and its rate to that part; taking the whole share back restores both.
    #[tokio::test(start_paused = true)]
    async fn a_share_of_the_budget_cuts_burst_and_rate() {
        let b = TenantBudget::new(&small(), 1.0);
        b.set_share(0.5);
        assert!((b.share() - 0.5).abs() < 1e-9);
        let t0 = Instant::now();
        for _ in 0..5 {
            b.acquire(Cost::write()).await;
        }
        assert!(secs(t0) < 0.01, "half the burst at once");
        for _ in 0..10 {
            b.acquire(Cost::write()).await;
        }
        let t = secs(t0);
        assert!((9.9..=10.1).contains(&t), "10 writes at 1/s took {t}s");
        b.set_share(1.0);
        let t1 = Instant::now();
        for _ in 0..20 {
            b.acquire(Cost::write()).await;
        }
        let t = secs(t1);
        assert!((9.9..=10.1).contains(&t), "20 writes at 2/s took {t}s");
    }

    /// Many concurrent tasks share one budget: together they get the rate,
    /// not the rate each.
    #[tokio::test(start_paused = true)]
    async fn concurrent_tasks_share_one_budget() {
        let b = Arc::new(TenantBudget::new(&small(), 1.0));
        let t0 = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.acquire(Cost::write()).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let t = secs(t0);
        assert!(
            (19.9..=20.1).contains(&t),
            "50 writes (10 burst + 40 at 2/s) took {t}s"
        );
    }

    /// At time scale 10 the same work takes a tenth of the time.
    #[tokio::test(start_paused = true)]
    async fn time_scale_speeds_up_the_budget() {
        let b = TenantBudget::new(&small(), 10.0);
        let t0 = Instant::now();
        for _ in 0..30 {
            b.acquire(Cost::write()).await;
        }
        let t = secs(t0);
        assert!((0.99..=1.01).contains(&t), "took {t}s");
    }

    /// A 429 pauses the budget for Retry-After and halves its rate; a volley
    /// of 429s counts once; after quiet periods the rate recovers to nominal.
    #[tokio::test(start_paused = true)]
    async fn throttling_pauses_slows_and_recovers() {
        let cfg = small();
        let b = TenantBudget::new(&cfg, 1.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            b.on_throttled(BudgetKind::Writes, Some(Duration::from_secs(3)));
        }
        assert!((b.rate_factor(BudgetKind::Writes) - 0.5).abs() < 1e-9);
        b.acquire(Cost::write()).await;
        // paused 3 s, then one token at 1/s (half of 2/s).
        let t = secs(t0);
        assert!((3.9..=4.1).contains(&t), "first write after a 429 at {t}s");
        tokio::time::sleep(cfg.quiet_period * 6).await;
        assert!((b.rate_factor(BudgetKind::Writes) - 1.0).abs() < 1e-9);
        // other budgets are untouched
        assert!((b.rate_factor(BudgetKind::ReadUnits) - 1.0).abs() < 1e-9);
    }

    /// Graph's fraction form and a percentage form both read as percent.
    #[test]
    fn limit_percentage_reads_fractions_and_percentages() {
        assert_eq!(limit_percentage("0.95"), Some(95.0));
        assert_eq!(limit_percentage("1.8"), Some(180.0));
        assert_eq!(limit_percentage("92"), Some(92.0));
        assert_eq!(limit_percentage("high"), None);
    }

    /// A high limit percentage stops the burst but keeps the sustained rate.
    #[tokio::test(start_paused = true)]
    async fn pressure_header_clamps_the_burst_only() {
        let b = TenantBudget::new(&small(), 1.0);
        b.on_pressure(BudgetKind::Writes, 80.0);
        let t0 = Instant::now();
        b.acquire(Cost::write()).await;
        assert!(secs(t0) < 0.01, "80% is below the threshold");
        b.on_pressure(BudgetKind::Writes, 100.0);
        for _ in 0..4 {
            b.acquire(Cost::write()).await;
        }
        let t = secs(t0);
        assert!((1.9..=2.1).contains(&t), "4 writes at 2/s took {t}s");
        assert!((b.rate_factor(BudgetKind::Writes) - 1.0).abs() < 1e-9);
    }

    /// An invitation costs an invitation, a write and a read unit.
    #[tokio::test(start_paused = true)]
    async fn invitations_are_bounded_by_their_own_budget() {
        let b = TenantBudget::new(&small(), 1.0);
        let t0 = Instant::now();
        for _ in 0..8 {
            b.acquire(Cost::invite()).await;
        }
        // 5 burst + 3 at 1/s
        let t = secs(t0);
        assert!((2.9..=3.1).contains(&t), "took {t}s");
    }
}
