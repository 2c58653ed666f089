//! The states of a breaker and the values a registry reports about them:
//! transition reasons and events, per-breaker snapshots, registry counters.

use std::fmt;

/// The state of one breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls allowed.
    Closed,
    /// Calls refused until the open period ends.
    Open,
    /// A limited number of trial calls are admitted.
    HalfOpen,
    /// Refused until an operator resets it.
    ForcedOpen,
}

impl BreakerState {
    /// The stable name: `closed`, `open`, `half_open` or `forced_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
        }
    }

    pub(super) const fn to_u8(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
            Self::ForcedOpen => 3,
        }
    }

    pub(super) const fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            _ => Self::Closed,
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a breaker changed state (a stable code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// The consecutive-failure count reached `failure_threshold`.
    FailureThreshold,
    /// The window failure rate reached `failure_rate_threshold`.
    FailureRate,
    /// The open period passed; the breaker admits probes.
    OpenElapsed,
    /// A probe succeeded; the breaker closed.
    ProbeSucceeded,
    /// A probe failed; the breaker re-opened with the next backoff step.
    ProbeFailed,
    /// An operator forced the breaker open.
    ForcedOpen,
    /// An operator reset the breaker to closed.
    ForcedReset,
}

impl TransitionReason {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::FailureThreshold => "failure_threshold",
            Self::FailureRate => "failure_rate",
            Self::OpenElapsed => "open_elapsed",
            Self::ProbeSucceeded => "probe_succeeded",
            Self::ProbeFailed => "probe_failed",
            Self::ForcedOpen => "forced_open",
            Self::ForcedReset => "forced_reset",
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}
/// One state change, buffered until
/// [`BreakerRegistry::drain_events`](super::BreakerRegistry::drain_events).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BreakerEvent {
    /// The breaker's key.
    pub key: String,
    /// State before the change.
    pub from_state: BreakerState,
    /// State after the change.
    pub to_state: BreakerState,
    /// When it happened (the `now_ms` of the call that caused it).
    pub at_ms: u64,
    /// Why it happened.
    pub reason: TransitionReason,
}

/// A read-only view of one breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSnapshot {
    /// The breaker's key.
    pub key: String,
    /// Current state (as of the last call that passed time).
    pub state: BreakerState,
    /// Consecutive-failure count (lowered by successes).
    pub consecutive_failures: u32,
    /// Outcomes recorded in the window ending at the latest `now_ms` seen.
    pub calls_in_window: u32,
    /// Failures among them.
    pub failures_in_window: u32,
    /// `failures_in_window / calls_in_window` (0 when there are no calls).
    pub failure_rate: f64,
    /// Consecutive openings (the backoff exponent).
    pub consecutive_openings: u32,
    /// Nominal open period: the current one when open/half-open, else the next.
    pub backoff_ms: u64,
    /// End of the open period, when open.
    pub open_until_ms: Option<u64>,
    /// Probes admitted and not yet answered.
    pub half_open_in_flight: u32,
    /// Time of the last state change (or of creation).
    pub last_change_ms: u64,
}

/// Registry-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BreakerStats {
    /// Calls `allow` admitted.
    pub allowed: u64,
    /// Calls `allow` refused (enabled mode).
    pub refused: u64,
    /// Refusals not enforced because the mode is `metrics_only`.
    pub refusals_suppressed: u64,
    /// Outcomes ignored because no probe was in flight (late replies).
    pub late_outcomes: u64,
    /// Successes recorded as failures because they were slow.
    pub slow_calls: u64,
    /// Transitions into `Open` (all reasons except forced).
    pub openings: u64,
    /// Entries evicted (idle sweep, `evict_idle`, capacity).
    pub evicted: u64,
    /// Outcomes not tracked because the registry was full of non-closed entries.
    pub untracked: u64,
    /// Events dropped because the buffer was full.
    pub events_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_codes_round_trip() {
        for state in [
            BreakerState::Closed,
            BreakerState::Open,
            BreakerState::HalfOpen,
            BreakerState::ForcedOpen,
        ] {
            assert_eq!(BreakerState::from_u8(state.to_u8()), state);
        }
        assert_eq!(BreakerState::HalfOpen.to_string(), "half_open");
        assert_eq!(TransitionReason::ProbeFailed.to_string(), "probe_failed");
    }
}
