//! Circuit breakers keyed by string (a peer id, a `peer|transport` pair, a relay
//! or signalling endpoint), kept in one compact registry.
//!
//! # State machine
//!
//! * `Closed`: calls are allowed. A failure increments the consecutive-failure
//!   count, a success lowers it by `success_decrement` (not below 0). The breaker
//!   opens when that count reaches `failure_threshold` (reason
//!   `failure_threshold`) or when the failure rate over the sliding window reaches
//!   `failure_rate_threshold` with at least `min_calls` calls in the window
//!   (reason `failure_rate`). A success slower than `slow_call_ms` is a failure.
//! * `Open`: calls are refused until `open_until`. The nominal period is
//!   `base_backoff_ms * backoff_multiplier^(k-1)` capped at `max_backoff_ms` for
//!   the k-th consecutive opening, then scaled by `1 + u` with `u` uniform in
//!   `[-jitter, jitter)` drawn from the registry's seeded [`SplitMix64`].
//! * `HalfOpen`: entered lazily by the first call carrying `now_ms >= open_until`
//!   (reason `open_elapsed`). Up to `half_open_probes` trial calls are admitted;
//!   the first outcome recorded while a probe is in flight decides: a success
//!   closes the breaker (`probe_succeeded`), a failure re-opens it with the next
//!   backoff step (`probe_failed`).
//! * `ForcedOpen`: set by the operator; refuses everything until `force_reset`.
//!
//! Outcomes recorded while a breaker is `Open`, `ForcedOpen`, or `HalfOpen` with
//! no probe in flight are late replies of calls admitted earlier: they are
//! counted (`late_outcomes`) and otherwise ignored, so they can never close an
//! open breaker nor extend its period.
//!
//! # Memory
//!
//! An entry is 64 bytes; keys live in one byte arena (no per-key allocation);
//! the index is an open-addressing table of `u32` slots (8-bit hash tag +
//! 24-bit entry index) with triangular probing and tombstones, kept at most
//! 7/8 full. The sliding window is a ring of
//! [`WINDOW_BUCKETS`] buckets of `window_ms / 8` (rounded up) each.
//!
//! The module is sans-I/O: time is always passed in, randomness comes only from
//! the explicitly seeded generator.
//!
//! # Layout
//!
//! `config` (the parameters, their validation, the operating mode), `state`
//! (states, transition reasons, events, snapshots, counters), `entry` (the
//! 64-byte record and its window ring), `store` (entries by key: the key arena
//! and the index). This file holds the registry: eviction and the state machine.

mod config;
mod entry;
mod state;
mod store;

use std::collections::VecDeque;

use crate::error::{CoreError, CoreResult};
use crate::rng::{SplitMix64, mix64};

pub use config::{BreakerConfig, BreakerMode, MAX_BACKOFF_LIMIT_MS};
pub use entry::WINDOW_BUCKETS;
pub use state::{BreakerEvent, BreakerSnapshot, BreakerState, BreakerStats, TransitionReason};
pub use store::{MAX_ENTRIES_LIMIT, MAX_KEY_LEN};

use entry::Entry;
use store::{EntryStore, check_key};

/// How many entries the capacity eviction examines before giving up.
const EVICTION_SAMPLE: usize = 64;
/// How many entries the amortised idle sweep examines per new key.
const SWEEP_STEP: usize = 2;

/// A registry of circuit breakers keyed by string.
#[derive(Debug, Clone)]
pub struct BreakerRegistry {
    config: BreakerConfig,
    mode: BreakerMode,
    rng: SplitMix64,
    /// The entries, their keys and the index by key.
    store: EntryStore,
    events: VecDeque<BreakerEvent>,
    stats: BreakerStats,
    /// Entries not in `Closed` (lets `due_for_recovery` skip the scan).
    non_closed: usize,
    /// Position of the amortised idle sweep.
    hand: usize,
    latest_now: u64,
}

impl BreakerRegistry {
    /// A registry whose jitter draws (and hash seed) come from `seed`.
    pub fn new(config: BreakerConfig, seed: u64, mode: BreakerMode) -> CoreResult<Self> {
        config.validate()?;
        Ok(Self {
            config,
            mode,
            rng: SplitMix64::new(seed),
            store: EntryStore::new(mix64(seed ^ 0x6272_6561_6b65_7200)),
            events: VecDeque::new(),
            stats: BreakerStats::default(),
            non_closed: 0,
            hand: 0,
            latest_now: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The operating mode.
    pub fn mode(&self) -> BreakerMode {
        self.mode
    }

    /// Changes the operating mode (stored states are kept).
    pub fn set_mode(&mut self, mode: BreakerMode) {
        self.mode = mode;
    }

    /// Number of tracked breakers.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// True when no breaker is tracked.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// True when `key` is tracked.
    pub fn contains(&self, key: &str) -> bool {
        self.store.find(key).is_some()
    }

    /// The largest `now_ms` the registry has seen.
    pub fn latest_now_ms(&self) -> u64 {
        self.latest_now
    }

    /// Registry-wide counters.
    pub fn stats(&self) -> BreakerStats {
        self.stats
    }

    /// Estimated heap bytes held (entries, key arena, index, events).
    pub fn memory_bytes(&self) -> usize {
        self.store.memory_bytes()
            + self.events.capacity() * std::mem::size_of::<BreakerEvent>()
            + self.events.iter().map(|e| e.key.capacity()).sum::<usize>()
    }

    // ------------------------------------------------------------ entries

    /// Removes entry `idx` (see [`EntryStore::remove`]), counting it as evicted.
    fn remove_entry(&mut self, idx: usize) {
        if self.store.remove(idx).state() != BreakerState::Closed {
            self.non_closed -= 1;
        }
        self.stats.evicted += 1;
    }

    /// The entry of `key`, created (closed) if missing. `None` when the key is
    /// too long, or the registry is full of non-closed entries (and `force` is false).
    fn entry_or_insert(&mut self, key: &str, now_ms: u64, force: bool) -> Option<usize> {
        let hash = self.store.hash(key);
        if let Some(idx) = self.store.find_hashed(key, hash) {
            return Some(idx);
        }
        if key.len() > MAX_KEY_LEN {
            return None;
        }
        self.sweep(now_ms);
        if self.store.len() >= self.config.max_entries && !self.evict_for_capacity(now_ms, force) {
            if !force {
                self.stats.untracked += 1;
                return None;
            }
            if self.store.len() >= MAX_ENTRIES_LIMIT {
                return None;
            }
        }
        let bucket = now_ms / self.config.bucket_ms();
        Some(
            self.store
                .insert_hashed(key, hash, Entry::new(now_ms, bucket)),
        )
    }

    fn is_idle(&self, e: &Entry, now_ms: u64) -> bool {
        // The last activity is known to the second: count from the end of it.
        let seen_ms = (u64::from(e.last_seen_s) + 1) * 1000;
        e.state() == BreakerState::Closed
            && now_ms.saturating_sub(seen_ms) >= self.config.idle_evict_ms
    }

    /// Amortised idle eviction: examines `SWEEP_STEP` entries per new key.
    fn sweep(&mut self, now_ms: u64) {
        for _ in 0..SWEEP_STEP {
            if self.store.is_empty() {
                return;
            }
            if self.hand >= self.store.len() {
                self.hand = 0;
            }
            if self.is_idle(self.store.get(self.hand), now_ms) {
                self.remove_entry(self.hand);
            } else {
                self.hand += 1;
            }
        }
    }

    /// Frees one entry for a new key: the least recently seen closed entry among
    /// the next `EVICTION_SAMPLE` (or all, when `full`).
    fn evict_for_capacity(&mut self, _now_ms: u64, full: bool) -> bool {
        let n = self.store.len();
        let budget = if full { n } else { EVICTION_SAMPLE.min(n) };
        let mut best: Option<(u32, usize)> = None;
        for step in 0..budget {
            let idx = (self.hand + step) % n;
            let e = self.store.get(idx);
            if e.state() == BreakerState::Closed && best.is_none_or(|(s, _)| e.last_seen_s < s) {
                best = Some((e.last_seen_s, idx));
            }
        }
        self.hand = (self.hand + budget) % n.max(1);
        match best {
            Some((_, idx)) => {
                self.remove_entry(idx);
                true
            }
            None => false,
        }
    }

    /// Evicts every closed entry idle for at least `idle_evict_ms` (a full scan).
    pub fn evict_idle(&mut self, now_ms: u64) -> usize {
        self.observe(now_ms);
        let mut idx = 0;
        let mut evicted = 0;
        while idx < self.store.len() {
            if self.is_idle(self.store.get(idx), now_ms) {
                self.remove_entry(idx);
                evicted += 1;
            } else {
                idx += 1;
            }
        }
        evicted
    }

    // ------------------------------------------------------------ state machine

    fn observe(&mut self, now_ms: u64) {
        if now_ms > self.latest_now {
            self.latest_now = now_ms;
        }
    }

    fn push_event(
        &mut self,
        idx: usize,
        from: BreakerState,
        to: BreakerState,
        at_ms: u64,
        reason: TransitionReason,
    ) {
        if self.events.len() >= self.config.max_events {
            self.events.pop_front();
            self.stats.events_dropped += 1;
        }
        let key = String::from_utf8_lossy(self.store.key_of(idx)).into_owned();
        self.events.push_back(BreakerEvent {
            key,
            from_state: from,
            to_state: to,
            at_ms,
            reason,
        });
    }

    fn transition(&mut self, idx: usize, to: BreakerState, now_ms: u64, reason: TransitionReason) {
        let from = self.store.get(idx).state();
        let e = self.store.get_mut(idx);
        e.state = to.to_u8();
        e.last_change_ms = now_ms;
        if from == BreakerState::Closed && to != BreakerState::Closed {
            self.non_closed += 1;
        } else if from != BreakerState::Closed && to == BreakerState::Closed {
            self.non_closed -= 1;
        }
        self.push_event(idx, from, to, now_ms, reason);
    }

    /// Opens entry `idx` with the next backoff step.
    fn open(&mut self, idx: usize, now_ms: u64, reason: TransitionReason) {
        let k = self.store.get(idx).consecutive_openings.saturating_add(1);
        let nominal = self.config.nominal_backoff_ms(u32::from(k)) as f64;
        let factor = if self.config.jitter > 0.0 {
            1.0 + self.rng.uniform(-self.config.jitter, self.config.jitter)
        } else {
            1.0
        };
        let period = (nominal * factor).round().max(1.0) as u32;
        let e = self.store.get_mut(idx);
        e.consecutive_openings = k;
        e.open_period_ms = period;
        e.half_open_in_flight = 0;
        e.consecutive_failures = 0;
        self.stats.openings += 1;
        self.transition(idx, BreakerState::Open, now_ms, reason);
    }

    /// Lazy time-driven changes: `Open` -> `HalfOpen` once the period passed, and the
    /// backoff exponent reset after `reset_after_ms` closed.
    fn refresh(&mut self, idx: usize, now_ms: u64) {
        let e = self.store.get_mut(idx);
        match e.state() {
            BreakerState::Open if now_ms >= e.open_until() => {
                e.half_open_in_flight = 0;
                self.transition(
                    idx,
                    BreakerState::HalfOpen,
                    now_ms,
                    TransitionReason::OpenElapsed,
                );
            }
            BreakerState::Closed
                if e.consecutive_openings > 0
                    && now_ms.saturating_sub(e.last_change_ms) >= self.config.reset_after_ms =>
            {
                e.consecutive_openings = 0;
            }
            _ => {}
        }
    }

    fn touch(&mut self, idx: usize, now_ms: u64) {
        let s = (now_ms / 1000) as u32;
        let e = self.store.get_mut(idx);
        if s > e.last_seen_s {
            e.last_seen_s = s;
        }
    }

    /// True iff [`allow`](Self::allow) would admit a call for `key` at `now_ms`;
    /// changes nothing. In `metrics_only` and `disabled` modes always true.
    pub fn would_allow(&self, key: &str, now_ms: u64) -> bool {
        if self.mode != BreakerMode::Enabled {
            return true;
        }
        let Some(idx) = self.store.find(key) else {
            return true;
        };
        let e = self.store.get(idx);
        match e.state() {
            BreakerState::Closed => true,
            BreakerState::Open => now_ms >= e.open_until(),
            BreakerState::HalfOpen => {
                u32::from(e.half_open_in_flight) < self.config.half_open_probes
            }
            BreakerState::ForcedOpen => false,
        }
    }

    /// Whether a call for `key` may proceed now. In half-open, admitting a call
    /// takes a probe slot that the next recorded outcome frees.
    pub fn allow(&mut self, key: &str, now_ms: u64) -> bool {
        self.observe(now_ms);
        if self.mode == BreakerMode::Disabled {
            self.stats.allowed += 1;
            return true;
        }
        let Some(idx) = self.store.find(key) else {
            self.stats.allowed += 1;
            return true;
        };
        self.touch(idx, now_ms);
        self.refresh(idx, now_ms);
        let probes = self.config.half_open_probes;
        let e = self.store.get_mut(idx);
        let admit = match e.state() {
            BreakerState::Closed => true,
            BreakerState::HalfOpen if u32::from(e.half_open_in_flight) < probes => {
                e.half_open_in_flight += 1;
                true
            }
            _ => false,
        };
        if admit {
            self.stats.allowed += 1;
            true
        } else if self.mode == BreakerMode::MetricsOnly {
            self.stats.refusals_suppressed += 1;
            self.stats.allowed += 1;
            true
        } else {
            self.stats.refused += 1;
            false
        }
    }

    /// The common start of recording an outcome: note the time, then (unless
    /// the registry is disabled or the key cannot be tracked) find or create the
    /// entry, bring it up to date and return it with the window bucket of `now_ms`.
    fn begin_outcome(&mut self, key: &str, now_ms: u64) -> Option<(usize, u64)> {
        self.observe(now_ms);
        if self.mode == BreakerMode::Disabled {
            return None;
        }
        let idx = self.entry_or_insert(key, now_ms, false)?;
        self.touch(idx, now_ms);
        self.refresh(idx, now_ms);
        Some((idx, now_ms / self.config.bucket_ms()))
    }

    /// Records a successful call. With `slow_call_ms` set, a success whose
    /// `latency_ms` exceeds it is recorded as a failure.
    pub fn record_success(
        &mut self,
        key: &str,
        now_ms: u64,
        latency_ms: Option<u64>,
    ) -> CoreResult<()> {
        check_key(key)?;
        if let (Some(limit), Some(lat)) = (self.config.slow_call_ms, latency_ms)
            && lat > limit
        {
            if self.mode != BreakerMode::Disabled {
                self.stats.slow_calls += 1;
            }
            return self.record_failure(key, now_ms);
        }
        let Some((idx, bucket)) = self.begin_outcome(key, now_ms) else {
            return Ok(());
        };
        let dec = self.config.success_decrement as u16;
        let e = self.store.get_mut(idx);
        match e.state() {
            BreakerState::Closed => {
                e.add_outcome(bucket, false);
                e.consecutive_failures = e.consecutive_failures.saturating_sub(dec);
            }
            BreakerState::HalfOpen if e.half_open_in_flight > 0 => {
                e.half_open_in_flight = 0;
                e.consecutive_failures = 0;
                e.clear_window();
                e.head_bucket = bucket as u32;
                self.transition(
                    idx,
                    BreakerState::Closed,
                    now_ms,
                    TransitionReason::ProbeSucceeded,
                );
            }
            _ => self.stats.late_outcomes += 1,
        }
        Ok(())
    }

    /// Records a failed call.
    pub fn record_failure(&mut self, key: &str, now_ms: u64) -> CoreResult<()> {
        check_key(key)?;
        let Some((idx, bucket)) = self.begin_outcome(key, now_ms) else {
            return Ok(());
        };
        let cfg = self.config;
        let e = self.store.get_mut(idx);
        match e.state() {
            BreakerState::Closed => {
                e.add_outcome(bucket, true);
                e.consecutive_failures = e.consecutive_failures.saturating_add(1);
                if u32::from(e.consecutive_failures) >= cfg.failure_threshold {
                    self.open(idx, now_ms, TransitionReason::FailureThreshold);
                } else {
                    let (calls, failures) = e.window_counts(bucket);
                    if calls >= cfg.min_calls
                        && f64::from(failures) >= cfg.failure_rate_threshold * f64::from(calls)
                    {
                        self.open(idx, now_ms, TransitionReason::FailureRate);
                    }
                }
            }
            BreakerState::HalfOpen if e.half_open_in_flight > 0 => {
                self.open(idx, now_ms, TransitionReason::ProbeFailed);
            }
            _ => self.stats.late_outcomes += 1,
        }
        Ok(())
    }

    /// The state of `key` as of the last call that passed time (unknown: closed).
    pub fn state(&self, key: &str) -> BreakerState {
        self.store
            .find(key)
            .map_or(BreakerState::Closed, |idx| self.store.get(idx).state())
    }

    /// Forces `key` open (creating it if needed) until [`force_reset`](Self::force_reset).
    /// `now_ms` `None` means the latest time the registry has seen.
    pub fn force_open(&mut self, key: &str, now_ms: Option<u64>) -> CoreResult<()> {
        let now_ms = now_ms.unwrap_or(self.latest_now);
        self.observe(now_ms);
        if key.len() > MAX_KEY_LEN {
            return Err(CoreError::invalid(
                "key",
                format!("must be at most {MAX_KEY_LEN} bytes"),
            ));
        }
        let Some(idx) = self.entry_or_insert(key, now_ms, true) else {
            return Err(CoreError::invalid("key", "registry is full"));
        };
        self.touch(idx, now_ms);
        if self.store.get(idx).state() != BreakerState::ForcedOpen {
            self.store.get_mut(idx).half_open_in_flight = 0;
            self.transition(
                idx,
                BreakerState::ForcedOpen,
                now_ms,
                TransitionReason::ForcedOpen,
            );
        }
        Ok(())
    }

    /// Resets `key` to closed, clearing its counters, window and backoff.
    /// Unknown keys are left untracked. Emits an event only if the state changed.
    pub fn force_reset(&mut self, key: &str, now_ms: Option<u64>) {
        let now_ms = now_ms.unwrap_or(self.latest_now);
        self.observe(now_ms);
        let Some(idx) = self.store.find(key) else {
            return;
        };
        self.touch(idx, now_ms);
        let bucket = now_ms / self.config.bucket_ms();
        let e = self.store.get_mut(idx);
        e.consecutive_failures = 0;
        e.consecutive_openings = 0;
        e.half_open_in_flight = 0;
        e.open_period_ms = 0;
        e.clear_window();
        e.head_bucket = bucket as u32;
        if e.state() == BreakerState::Closed {
            e.last_change_ms = now_ms;
        } else {
            self.transition(
                idx,
                BreakerState::Closed,
                now_ms,
                TransitionReason::ForcedReset,
            );
        }
    }

    /// Keys of breakers the recovery loop should probe: open breakers whose
    /// period has passed (moved to half-open now) and half-open ones with a free
    /// probe slot, sorted. Empty in `disabled` mode. A scan of all entries when
    /// any breaker is not closed.
    pub fn due_for_recovery(&mut self, now_ms: u64) -> Vec<String> {
        self.observe(now_ms);
        if self.mode == BreakerMode::Disabled {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.non_closed == 0 {
            return out;
        }
        for idx in 0..self.store.len() {
            self.refresh(idx, now_ms);
            let e = self.store.get(idx);
            if e.state() == BreakerState::HalfOpen
                && u32::from(e.half_open_in_flight) < self.config.half_open_probes
            {
                out.push(String::from_utf8_lossy(self.store.key_of(idx)).into_owned());
            }
        }
        out.sort_unstable();
        out
    }

    /// A read-only view of `key`; an untracked key reads as a fresh closed
    /// breaker. Window counts are evaluated at the latest `now_ms` seen.
    pub fn snapshot(&self, key: &str) -> BreakerSnapshot {
        self.tracked_snapshot(key)
            .unwrap_or_else(|| BreakerSnapshot {
                key: key.to_owned(),
                state: BreakerState::Closed,
                consecutive_failures: 0,
                calls_in_window: 0,
                failures_in_window: 0,
                failure_rate: 0.0,
                consecutive_openings: 0,
                backoff_ms: self.config.nominal_backoff_ms(1),
                open_until_ms: None,
                half_open_in_flight: 0,
                last_change_ms: 0,
            })
    }

    fn tracked_snapshot(&self, key: &str) -> Option<BreakerSnapshot> {
        let idx = self.store.find(key)?;
        let e = self.store.get(idx);
        let state = e.state();
        let (calls, failures) = e.window_counts(self.latest_now / self.config.bucket_ms());
        let mut openings = u32::from(e.consecutive_openings);
        if state == BreakerState::Closed
            && self.latest_now.saturating_sub(e.last_change_ms) >= self.config.reset_after_ms
        {
            openings = 0;
        }
        let backoff_ms = match state {
            BreakerState::Open | BreakerState::HalfOpen => {
                self.config.nominal_backoff_ms(openings.max(1))
            }
            _ => self.config.nominal_backoff_ms(openings + 1),
        };
        Some(BreakerSnapshot {
            key: key.to_owned(),
            state,
            consecutive_failures: u32::from(e.consecutive_failures),
            calls_in_window: calls,
            failures_in_window: failures,
            failure_rate: if calls == 0 {
                0.0
            } else {
                f64::from(failures) / f64::from(calls)
            },
            consecutive_openings: openings,
            backoff_ms,
            open_until_ms: (state == BreakerState::Open).then(|| e.open_until()),
            half_open_in_flight: u32::from(e.half_open_in_flight),
            last_change_ms: e.last_change_ms,
        })
    }

    /// Takes every buffered event, oldest first.
    pub fn drain_events(&mut self) -> Vec<BreakerEvent> {
        self.events.drain(..).collect()
    }

    /// Number of buffered events.
    pub fn pending_events(&self) -> usize {
        self.events.len()
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

    fn reg(c: BreakerConfig) -> BreakerRegistry {
        BreakerRegistry::new(c, 1, BreakerMode::Enabled).unwrap()
    }

    #[test]
    fn opens_on_consecutive_failures_and_recovers() {
        let mut r = reg(cfg());
        for t in 0..4 {
            r.record_failure("p", t).unwrap();
            assert!(r.allow("p", t));
        }
        r.record_failure("p", 4).unwrap();
        assert_eq!(r.state("p"), BreakerState::Open);
        assert!(!r.would_allow("p", 999));
        assert!(!r.allow("p", 999));
        assert!(r.would_allow("p", 1004));
        assert!(r.allow("p", 1004));
        assert_eq!(r.state("p"), BreakerState::HalfOpen);
        assert!(!r.allow("p", 1005), "only one probe");
        r.record_success("p", 1006, None).unwrap();
        assert_eq!(r.state("p"), BreakerState::Closed);
        let ev = r.drain_events();
        let reasons: Vec<_> = ev.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                TransitionReason::FailureThreshold,
                TransitionReason::OpenElapsed,
                TransitionReason::ProbeSucceeded
            ]
        );
    }

    #[test]
    fn probe_failure_doubles_backoff_and_reset_after() {
        let mut r = reg(cfg());
        for t in 0..5 {
            r.record_failure("p", t).unwrap();
        }
        assert_eq!(r.snapshot("p").open_until_ms, Some(1004));
        assert!(r.allow("p", 1004));
        r.record_failure("p", 1010).unwrap();
        assert_eq!(r.snapshot("p").open_until_ms, Some(3010));
        assert_eq!(r.snapshot("p").backoff_ms, 2000);
        assert_eq!(r.due_for_recovery(3009), Vec::<String>::new());
        assert_eq!(r.due_for_recovery(3010), vec!["p".to_owned()]);
        assert!(r.allow("p", 3011));
        r.record_success("p", 3012, None).unwrap();
        // reopen soon: exponent kept (third opening: 4 s)
        for t in 0..5 {
            r.record_failure("p", 4000 + t).unwrap();
        }
        assert_eq!(r.snapshot("p").open_until_ms, Some(4004 + 4000));
        assert!(r.allow("p", 9000));
        r.record_success("p", 9000, None).unwrap();
        // closed for reset_after: exponent reset
        for t in 0..5 {
            r.record_failure("p", 9000 + 300_000 + t).unwrap();
        }
        assert_eq!(r.snapshot("p").consecutive_openings, 1);
    }

    #[test]
    fn rate_opens_and_success_decrements() {
        let c = BreakerConfig {
            failure_threshold: 100,
            ..cfg()
        };
        let mut r = reg(c);
        for t in 0..4 {
            r.record_success("k", t, None).unwrap();
        }
        for t in 4..7 {
            r.record_failure("k", t).unwrap();
        }
        assert_eq!(r.state("k"), BreakerState::Closed);
        r.record_failure("k", 8).unwrap();
        assert_eq!(r.state("k"), BreakerState::Open);
        assert_eq!(r.drain_events()[0].reason, TransitionReason::FailureRate);
        let mut r = reg(cfg());
        r.record_failure("k", 0).unwrap();
        r.record_failure("k", 0).unwrap();
        r.record_success("k", 0, None).unwrap();
        assert_eq!(r.snapshot("k").consecutive_failures, 1);
    }

    #[test]
    fn window_slides() {
        let c = BreakerConfig {
            failure_threshold: 100,
            min_calls: 2,
            ..cfg()
        };
        let mut r = reg(c);
        r.record_failure("k", 0).unwrap();
        r.record_success("k", 59_000, None).unwrap();
        r.record_success("k", 59_000, None).unwrap();
        assert_eq!(r.snapshot("k").calls_in_window, 3);
        r.record_success("k", 120_000, None).unwrap();
        let s = r.snapshot("k");
        assert_eq!((s.calls_in_window, s.failures_in_window), (1, 0));
    }

    #[test]
    fn slow_calls_are_failures_and_late_replies_ignored() {
        let c = BreakerConfig {
            failure_threshold: 2,
            slow_call_ms: Some(100),
            ..cfg()
        };
        let mut r = reg(c);
        r.record_success("k", 0, Some(101)).unwrap();
        r.record_success("k", 0, Some(100)).unwrap();
        assert_eq!(r.snapshot("k").consecutive_failures, 0);
        r.record_success("k", 0, Some(500)).unwrap();
        r.record_success("k", 0, Some(500)).unwrap();
        assert_eq!(r.state("k"), BreakerState::Open);
        r.record_success("k", 1, None).unwrap();
        assert_eq!(r.state("k"), BreakerState::Open);
        assert_eq!(r.stats().late_outcomes, 1);
        assert_eq!(r.stats().slow_calls, 3);
    }

    #[test]
    fn forced_and_modes() {
        let mut r = reg(cfg());
        r.force_open("k", Some(5)).unwrap();
        assert_eq!(r.state("k"), BreakerState::ForcedOpen);
        assert!(!r.allow("k", 1_000_000));
        assert!(r.due_for_recovery(1_000_000).is_empty());
        r.set_mode(BreakerMode::MetricsOnly);
        assert!(r.allow("k", 1_000_000));
        assert_eq!(r.stats().refusals_suppressed, 1);
        r.set_mode(BreakerMode::Disabled);
        r.record_failure("z", 0).unwrap();
        assert!(!r.contains("z"));
        r.set_mode(BreakerMode::Enabled);
        r.force_reset("k", None);
        assert_eq!(r.state("k"), BreakerState::Closed);
        let ev = r.drain_events();
        assert_eq!(ev[1].at_ms, 1_000_000);
        assert_eq!(ev[1].reason, TransitionReason::ForcedReset);
        assert!(BreakerMode::parse("nope").is_err());
    }

    #[test]
    fn idle_eviction_and_capacity() {
        let c = BreakerConfig {
            max_entries: 4,
            idle_evict_ms: 10_000,
            ..cfg()
        };
        let mut r = reg(c);
        for i in 0..4 {
            r.record_success(&format!("k{i}"), 0, None).unwrap();
        }
        r.force_open("k0", Some(0)).unwrap();
        r.record_success("k9", 1000, None).unwrap();
        assert_eq!(r.len(), 4);
        assert!(r.contains("k9"));
        assert!(r.contains("k0"), "non-closed entries are never evicted");
        assert_eq!(r.evict_idle(100_000), 3);
        assert_eq!(r.len(), 1);
        assert!(r.contains("k0"));
    }

    #[test]
    fn full_of_open_entries_leaves_new_keys_untracked() {
        let c = BreakerConfig {
            max_entries: 2,
            ..cfg()
        };
        let mut r = reg(c);
        r.force_open("a", Some(0)).unwrap();
        r.force_open("b", Some(0)).unwrap();
        r.record_failure("c", 0).unwrap();
        assert!(!r.contains("c"));
        assert_eq!(r.stats().untracked, 1);
    }

    #[test]
    fn events_are_bounded() {
        let c = BreakerConfig {
            max_events: 2,
            ..cfg()
        };
        let mut r = reg(c);
        for i in 0..3 {
            r.force_open(&format!("k{i}"), Some(0)).unwrap();
        }
        let ev = r.drain_events();
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].key, "k1");
        assert_eq!(r.stats().events_dropped, 1);
    }

    #[test]
    fn jitter_is_seeded() {
        let c = BreakerConfig::default();
        let run = |seed| {
            let mut r = BreakerRegistry::new(c, seed, BreakerMode::Enabled).unwrap();
            for t in 0..5 {
                r.record_failure("p", t).unwrap();
            }
            r.snapshot("p").open_until_ms.unwrap()
        };
        assert_eq!(run(3), run(3));
        let u = run(3) - 4;
        assert!((800..=1200).contains(&u), "{u}");
    }

    #[test]
    fn many_keys_and_removal_keep_index_consistent() {
        let c = BreakerConfig {
            idle_evict_ms: 1,
            ..cfg()
        };
        let mut r = reg(c);
        for i in 0..5000 {
            r.record_success(&format!("peer-{i:08}|gun"), 0, None)
                .unwrap();
        }
        assert_eq!(r.len(), 5000);
        for i in 0..5000 {
            assert!(r.contains(&format!("peer-{i:08}|gun")));
        }
        // Later inserts sweep idle entries out.
        for i in 0..5000 {
            r.record_success(&format!("new-{i}"), 10_000, None).unwrap();
        }
        assert!(r.len() < 10_000);
        for i in 0..5000 {
            assert!(r.contains(&format!("new-{i}")));
        }
        let n = r.evict_idle(1_000_000);
        assert_eq!(r.len(), 0, "{n}");
        assert!(!r.contains("new-1"));
    }

    /// Checks the store and the counters against the entries.
    fn assert_consistent(r: &BreakerRegistry) {
        r.store.assert_consistent();
        let non_closed = (0..r.store.len())
            .filter(|&idx| r.store.get(idx).state() != BreakerState::Closed)
            .count();
        assert_eq!(non_closed, r.non_closed);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Allow(u8),
            Ok(u8, Option<u16>),
            Fail(u8),
            Advance(u32),
            Force(u8),
            Reset(u8),
            Evict,
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0u8..6).prop_map(Op::Allow),
                3 => (0u8..6, proptest::option::of(0u16..300)).prop_map(|(k, l)| Op::Ok(k, l)),
                3 => (0u8..6).prop_map(Op::Fail),
                2 => (0u32..20_000).prop_map(Op::Advance),
                1 => (0u8..6).prop_map(Op::Force),
                1 => (0u8..6).prop_map(Op::Reset),
                1 => Just(Op::Evict),
            ]
        }

        proptest! {
            #[test]
            fn invariants_hold(ops in proptest::collection::vec(op(), 1..200), seed in any::<u64>()) {
                let c = BreakerConfig {
                    slow_call_ms: Some(150), max_entries: 4, idle_evict_ms: 5_000,
                    half_open_probes: 2, ..BreakerConfig::default()
                };
                let mut r = BreakerRegistry::new(c, seed, BreakerMode::Enabled).unwrap();
                let mut now = 0u64;
                for op in ops {
                    match op {
                        Op::Allow(k) => {
                            let key = format!("k{k}");
                            let peek = r.would_allow(&key, now);
                            prop_assert_eq!(peek, r.allow(&key, now));
                        }
                        Op::Ok(k, l) => r.record_success(&format!("k{k}"), now, l.map(u64::from)).unwrap(),
                        Op::Fail(k) => r.record_failure(&format!("k{k}"), now).unwrap(),
                        Op::Advance(d) => now += u64::from(d),
                        Op::Force(k) => r.force_open(&format!("k{k}"), Some(now)).unwrap(),
                        Op::Reset(k) => r.force_reset(&format!("k{k}"), Some(now)),
                        Op::Evict => { r.evict_idle(now); }
                    }
                    prop_assert!(r.len() <= 6);
                    assert_consistent(&r);
                    let non_closed = (0..6).filter(|k| r.state(&format!("k{k}")) != BreakerState::Closed).count();
                    prop_assert_eq!(non_closed, r.non_closed);
                    for k in 0..6 {
                        let key = format!("k{k}");
                        if r.contains(&key) {
                            let s = r.snapshot(&key);
                            prop_assert!(s.failures_in_window <= s.calls_in_window);
                            prop_assert!(s.half_open_in_flight <= 2);
                            if let Some(u) = s.open_until_ms {
                                let p = u - s.last_change_ms;
                                prop_assert!((800..=360_000).contains(&p), "{}", p);
                            }
                        }
                    }
                }
                for ev in r.drain_events() {
                    prop_assert!(ev.from_state != ev.to_state);
                }
            }
        }

        proptest! {
            #[test]
            fn index_survives_churn(
                ops in proptest::collection::vec((0u16..400, 0u32..3_000, any::<bool>()), 1..600),
                max_entries in 1usize..300,
            ) {
                let c = BreakerConfig { idle_evict_ms: 1_000, max_entries, ..BreakerConfig::default() };
                let mut r = BreakerRegistry::new(c, 9, BreakerMode::Enabled).unwrap();
                let mut now = 0u64;
                let mut last_seen = std::collections::HashMap::new();
                for (k, dt, evict) in ops {
                    now += u64::from(dt);
                    let key = format!("peer-{k:05}|gun");
                    if evict {
                        r.evict_idle(now);
                    } else {
                        r.record_success(&key, now, None).unwrap();
                        last_seen.insert(key.clone(), now);
                        prop_assert!(r.contains(&key));
                    }
                    prop_assert!(r.len() <= max_entries);
                    assert_consistent(&r);
                }
                // Every key seen within idle_evict_ms of the end is still tracked
                // unless capacity pushed it out.
                if last_seen.len() <= max_entries {
                    for (key, seen) in &last_seen {
                        if now < seen + 1_000 {
                            prop_assert!(r.contains(key), "{}", key);
                        }
                    }
                }
            }
        }
    }
}
