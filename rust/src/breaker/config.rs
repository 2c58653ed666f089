//! The parameters of a breaker registry ([`BreakerConfig`], checked by
//! [`BreakerConfig::validate`]) and its registry-wide operating mode
//! ([`BreakerMode`]).

use super::entry::WINDOW_BUCKETS;
use super::store::MAX_ENTRIES_LIMIT;
use crate::error::{CoreError, CoreResult};

/// Largest accepted `max_backoff_ms` (open periods are stored as `u32` ms).
pub const MAX_BACKOFF_LIMIT_MS: u64 = 2_000_000_000;

/// The registry-wide operating mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BreakerMode {
    /// Record outcomes and refuse calls of open breakers.
    #[default]
    Enabled,
    /// Record outcomes and run the state machine, but refuse nothing.
    MetricsOnly,
    /// Record nothing, refuse nothing.
    Disabled,
}

impl BreakerMode {
    /// The stable name: `enabled`, `metrics_only` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::MetricsOnly => "metrics_only",
            Self::Disabled => "disabled",
        }
    }

    /// Parses a mode name.
    pub fn parse(name: &str) -> CoreResult<Self> {
        match name {
            "enabled" => Ok(Self::Enabled),
            "metrics_only" => Ok(Self::MetricsOnly),
            "disabled" => Ok(Self::Disabled),
            other => Err(CoreError::invalid(
                "mode",
                format!("must be 'enabled', 'metrics_only' or 'disabled', got {other:?}"),
            )),
        }
    }
}

/// The parameters of every breaker of a registry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open a closed breaker (1..=65535).
    pub failure_threshold: u32,
    /// How much a success lowers the consecutive-failure count (0..=65535).
    pub success_decrement: u32,
    /// Length of the sliding failure-rate window in ms (>= 8).
    pub window_ms: u64,
    /// Failure rate in (0, 1] that opens a closed breaker.
    pub failure_rate_threshold: f64,
    /// Calls needed in the window before the rate is considered (>= 1).
    pub min_calls: u32,
    /// Successes slower than this (ms) count as failures; `None` disables it.
    pub slow_call_ms: Option<u64>,
    /// Nominal length of the first open period in ms (>= 1).
    pub base_backoff_ms: u64,
    /// Growth factor of the open period per consecutive opening (>= 1).
    pub backoff_multiplier: f64,
    /// Cap of the nominal open period in ms (>= base).
    pub max_backoff_ms: u64,
    /// Relative jitter of the open period, in [0, 1).
    pub jitter: f64,
    /// Trial calls admitted in half-open (1..=65535).
    pub half_open_probes: u32,
    /// Closed time after which the backoff exponent resets, in ms.
    pub reset_after_ms: u64,
    /// Closed entries idle this long (ms) may be evicted.
    pub idle_evict_ms: u64,
    /// Upper bound on tracked breakers.
    pub max_entries: usize,
    /// Upper bound on buffered events (oldest dropped first).
    pub max_events: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            success_decrement: 1,
            window_ms: 60_000,
            failure_rate_threshold: 0.5,
            min_calls: 5,
            slow_call_ms: None,
            base_backoff_ms: 1_000,
            backoff_multiplier: 2.0,
            max_backoff_ms: 300_000,
            jitter: 0.2,
            half_open_probes: 1,
            reset_after_ms: 300_000,
            idle_evict_ms: 600_000,
            max_entries: 1_000_000,
            max_events: 10_000,
        }
    }
}

impl BreakerConfig {
    /// Checks every field; the error names the first offending one.
    pub fn validate(&self) -> CoreResult<()> {
        let u16_range = |arg: &'static str, v: u32, lo: u32| {
            if v < lo || v > u32::from(u16::MAX) {
                Err(CoreError::invalid(
                    arg,
                    format!("must be in [{lo}, 65535], got {v}"),
                ))
            } else {
                Ok(())
            }
        };
        u16_range("failure_threshold", self.failure_threshold, 1)?;
        u16_range("success_decrement", self.success_decrement, 0)?;
        if self.window_ms < WINDOW_BUCKETS as u64 {
            return Err(CoreError::invalid(
                "window_ms",
                format!("must be >= {WINDOW_BUCKETS}, got {}", self.window_ms),
            ));
        }
        let rate = self.failure_rate_threshold;
        if !(rate > 0.0 && rate <= 1.0) {
            return Err(CoreError::invalid(
                "failure_rate_threshold",
                format!("must be in (0, 1], got {rate}"),
            ));
        }
        if self.min_calls < 1 {
            return Err(CoreError::invalid("min_calls", "must be >= 1, got 0"));
        }
        if self.base_backoff_ms < 1 {
            return Err(CoreError::invalid("base_backoff_ms", "must be >= 1, got 0"));
        }
        let m = self.backoff_multiplier;
        if !(m.is_finite() && m >= 1.0) {
            return Err(CoreError::invalid(
                "backoff_multiplier",
                format!("must be a finite number >= 1, got {m}"),
            ));
        }
        if self.max_backoff_ms < self.base_backoff_ms {
            return Err(CoreError::invalid(
                "max_backoff_ms",
                format!(
                    "must be >= base_backoff_ms ({}), got {}",
                    self.base_backoff_ms, self.max_backoff_ms
                ),
            ));
        }
        if self.max_backoff_ms > MAX_BACKOFF_LIMIT_MS {
            return Err(CoreError::invalid(
                "max_backoff_ms",
                format!(
                    "must be <= {MAX_BACKOFF_LIMIT_MS}, got {}",
                    self.max_backoff_ms
                ),
            ));
        }
        let j = self.jitter;
        if !(0.0..1.0).contains(&j) {
            return Err(CoreError::invalid(
                "jitter",
                format!("must be in [0, 1), got {j}"),
            ));
        }
        u16_range("half_open_probes", self.half_open_probes, 1)?;
        if self.max_entries < 1 || self.max_entries > MAX_ENTRIES_LIMIT {
            return Err(CoreError::invalid(
                "max_entries",
                format!(
                    "must be in [1, {MAX_ENTRIES_LIMIT}], got {}",
                    self.max_entries
                ),
            ));
        }
        if self.max_events < 1 {
            return Err(CoreError::invalid("max_events", "must be >= 1, got 0"));
        }
        Ok(())
    }

    /// Width of one window bucket in ms.
    pub(super) fn bucket_ms(&self) -> u64 {
        self.window_ms.div_ceil(WINDOW_BUCKETS as u64)
    }

    /// Nominal (unjittered) open period of the `k`-th consecutive opening (k >= 1).
    pub fn nominal_backoff_ms(&self, k: u32) -> u64 {
        let cap = self.max_backoff_ms as f64;
        let mut period = self.base_backoff_ms as f64;
        for _ in 1..k {
            if period >= cap {
                break;
            }
            period = (period * self.backoff_multiplier).min(cap);
        }
        period.min(cap) as u64
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            jitter: 0.0,
            ..BreakerConfig::default()
        }
    }

    #[test]
    fn validation_names_fields() {
        let bad = [
            (
                BreakerConfig {
                    jitter: 1.0,
                    ..cfg()
                },
                "jitter",
            ),
            (
                BreakerConfig {
                    backoff_multiplier: 0.5,
                    ..cfg()
                },
                "backoff_multiplier",
            ),
            (
                BreakerConfig {
                    failure_threshold: 0,
                    ..cfg()
                },
                "failure_threshold",
            ),
            (
                BreakerConfig {
                    failure_rate_threshold: 0.0,
                    ..cfg()
                },
                "failure_rate_threshold",
            ),
            (
                BreakerConfig {
                    max_backoff_ms: 10,
                    ..cfg()
                },
                "max_backoff_ms",
            ),
            (
                BreakerConfig {
                    max_entries: 0,
                    ..cfg()
                },
                "max_entries",
            ),
        ];
        for (c, name) in bad {
            match c.validate() {
                Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn default_is_valid_and_buckets_round_up() {
        let c = BreakerConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.bucket_ms(), 7_500);
        let odd = BreakerConfig {
            window_ms: 9,
            ..cfg()
        };
        assert!(odd.validate().is_ok());
        assert_eq!(odd.bucket_ms(), 2);
        let short = BreakerConfig {
            window_ms: 7,
            ..cfg()
        };
        assert!(short.validate().is_err());
    }

    #[test]
    fn nominal_backoff_grows_then_caps() {
        let c = cfg();
        let periods: Vec<u64> = [0, 1, 2, 3, 9, 10, 200]
            .into_iter()
            .map(|k| c.nominal_backoff_ms(k))
            .collect();
        assert_eq!(
            periods,
            [1_000, 1_000, 2_000, 4_000, 256_000, 300_000, 300_000]
        );
        let flat = BreakerConfig {
            backoff_multiplier: 1.0,
            ..cfg()
        };
        assert_eq!(flat.nominal_backoff_ms(50), 1_000);
    }

    #[test]
    fn mode_names_round_trip() {
        for mode in [
            BreakerMode::Enabled,
            BreakerMode::MetricsOnly,
            BreakerMode::Disabled,
        ] {
            assert_eq!(BreakerMode::parse(mode.as_str()).unwrap(), mode);
        }
        assert_eq!(BreakerMode::default(), BreakerMode::Enabled);
        match BreakerMode::parse("nope") {
            Err(CoreError::InvalidArgument { arg, .. }) => assert_eq!(arg, "mode"),
            other => panic!("{other:?}"),
        }
    }
}
