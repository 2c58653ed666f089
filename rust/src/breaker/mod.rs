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

use std::collections::VecDeque;
use std::fmt;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::error::{CoreError, CoreResult};
use crate::rng::{SplitMix64, mix64};

/// Number of time buckets in the sliding failure-rate window.
pub const WINDOW_BUCKETS: usize = 8;
/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 255;
/// Largest accepted `max_entries` (entry indexes are 24-bit).
pub const MAX_ENTRIES_LIMIT: usize = 0x00FF_FFF0;
/// Largest accepted `max_backoff_ms` (open periods are stored as `u32` ms).
pub const MAX_BACKOFF_LIMIT_MS: u64 = 2_000_000_000;
/// How many entries the capacity eviction examines before giving up.
const EVICTION_SAMPLE: usize = 64;
/// How many entries the amortised idle sweep examines per new key.
const SWEEP_STEP: usize = 2;

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

    const fn to_u8(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
            Self::ForcedOpen => 3,
        }
    }

    const fn from_u8(v: u8) -> Self {
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
    fn bucket_ms(&self) -> u64 {
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

/// One state change, buffered until [`BreakerRegistry::drain_events`].
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

/// One tracked breaker: 64 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Time of the last state change (or creation), ms.
    last_change_ms: u64,
    /// Window counts: `[calls, failures]` per bucket, ring indexed by bucket number.
    buckets: [[u16; 2]; WINDOW_BUCKETS],
    /// Offset of the key in the arena.
    key_off: u32,
    /// Jittered length of the current open period (`open_until` = `last_change_ms` + this).
    open_period_ms: u32,
    /// Bucket number (`now / bucket_ms`, truncated to u32) of the newest bucket.
    head_bucket: u32,
    /// Last activity, in whole seconds.
    last_seen_s: u32,
    consecutive_failures: u16,
    half_open_in_flight: u16,
    key_len: u8,
    state: u8,
    consecutive_openings: u8,
}

impl Entry {
    fn state(&self) -> BreakerState {
        BreakerState::from_u8(self.state)
    }

    fn open_until(&self) -> u64 {
        self.last_change_ms + u64::from(self.open_period_ms)
    }

    fn clear_window(&mut self) {
        self.buckets = [[0; 2]; WINDOW_BUCKETS];
    }

    /// Buckets between the head and `now_bucket` (wrapping `u32` bucket numbers;
    /// a `now_bucket` behind the head counts as the head).
    fn age(&self, now_bucket: u64) -> u32 {
        let age = (now_bucket as u32).wrapping_sub(self.head_bucket);
        if age >= 1 << 31 { 0 } else { age }
    }

    /// Window totals as of bucket number `now_bucket`.
    fn window_counts(&self, now_bucket: u64) -> (u32, u32) {
        let age = self.age(now_bucket) as usize;
        if age >= WINDOW_BUCKETS {
            return (0, 0);
        }
        let mut calls = 0u32;
        let mut failures = 0u32;
        // Buckets head-(7-age)..=head are still inside the window.
        for back in 0..(WINDOW_BUCKETS - age) {
            let b = self.head_bucket.wrapping_sub(back as u32);
            let [c, f] = self.buckets[b as usize % WINDOW_BUCKETS];
            calls += u32::from(c);
            failures += u32::from(f);
        }
        (calls, failures)
    }

    /// Advances the ring to `now_bucket`, zeroing buckets that left the window.
    fn advance_to(&mut self, now_bucket: u64) {
        let gap = self.age(now_bucket);
        if gap == 0 {
            return;
        }
        if gap as usize >= WINDOW_BUCKETS {
            self.clear_window();
        } else {
            for step in 1..=gap {
                let b = self.head_bucket.wrapping_add(step);
                self.buckets[b as usize % WINDOW_BUCKETS] = [0, 0];
            }
        }
        self.head_bucket = now_bucket as u32;
    }

    fn add_outcome(&mut self, now_bucket: u64, failed: bool) {
        self.advance_to(now_bucket);
        let slot = &mut self.buckets[self.head_bucket as usize % WINDOW_BUCKETS];
        if slot[0] == u16::MAX {
            // Saturated bucket: halve both counts, keeping the rate.
            slot[0] /= 2;
            slot[1] /= 2;
        }
        slot[0] += 1;
        if failed {
            slot[1] += 1;
        }
    }
}

/// Rejects keys longer than [`MAX_KEY_LEN`].
fn check_key(key: &str) -> CoreResult<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(CoreError::invalid(
            "key",
            format!("must be at most {MAX_KEY_LEN} bytes, got {}", key.len()),
        ));
    }
    Ok(())
}

const EMPTY: u32 = u32::MAX;
/// A deleted slot: lookups probe past it, inserts may reuse it.
const TOMBSTONE: u32 = u32::MAX - 1;
const IDX_MASK: u32 = 0x00FF_FFFF;

/// A registry of circuit breakers keyed by string.
#[derive(Debug, Clone)]
pub struct BreakerRegistry {
    config: BreakerConfig,
    mode: BreakerMode,
    rng: SplitMix64,
    hash_seed: u64,
    entries: Vec<Entry>,
    arena: Vec<u8>,
    arena_garbage: usize,
    /// Open-addressing index: `tag << 24 | entry index`, `EMPTY` or `TOMBSTONE`.
    slots: Vec<u32>,
    /// Tombstone slots in `slots`.
    tombstones: usize,
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
            hash_seed: mix64(seed ^ 0x6272_6561_6b65_7200),
            entries: Vec::new(),
            arena: Vec::new(),
            arena_garbage: 0,
            slots: vec![EMPTY; 16],
            tombstones: 0,
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
        self.entries.len()
    }

    /// True when no breaker is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// True when `key` is tracked.
    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_some()
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
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.arena.capacity()
            + self.slots.capacity() * 4
            + self.events.capacity() * std::mem::size_of::<BreakerEvent>()
            + self.events.iter().map(|e| e.key.capacity()).sum::<usize>()
    }

    // ------------------------------------------------------------ index

    fn hash(&self, key: &str) -> u64 {
        xxh3_64_with_seed(key.as_bytes(), self.hash_seed)
    }

    fn key_of(&self, idx: usize) -> &[u8] {
        let e = &self.entries[idx];
        let off = e.key_off as usize;
        &self.arena[off..off + e.key_len as usize]
    }

    /// The slot position and entry index of `key`. Probing is triangular
    /// (`pos + 1, + 2, + 3, ...`), which visits every slot of a power-of-two
    /// table and avoids the primary clustering of linear probing.
    fn find_hashed(&self, key: &str, hash: u64) -> Option<(usize, usize)> {
        let mask = self.slots.len() - 1;
        let tag = (hash >> 56) as u32;
        let mut pos = hash as usize & mask;
        let mut step = 0;
        loop {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if s >> 24 == tag && s != TOMBSTONE {
                let idx = (s & IDX_MASK) as usize;
                if self.key_of(idx) == key.as_bytes() {
                    return Some((pos, idx));
                }
            }
            step += 1;
            pos = (pos + step) & mask;
        }
    }

    fn find(&self, key: &str) -> Option<usize> {
        self.find_hashed(key, self.hash(key)).map(|(_, idx)| idx)
    }

    /// Stores `idx` in the first free (empty or tombstone) slot of `hash`'s probe
    /// sequence; returns true if it reused a tombstone.
    fn insert_slot(slots: &mut [u32], hash: u64, idx: usize) -> bool {
        let mask = slots.len() - 1;
        let mut pos = hash as usize & mask;
        let mut step = 0;
        while slots[pos] != EMPTY && slots[pos] != TOMBSTONE {
            step += 1;
            pos = (pos + step) & mask;
        }
        let reused = slots[pos] == TOMBSTONE;
        slots[pos] = ((hash >> 56) as u32) << 24 | idx as u32;
        reused
    }

    /// Rebuilds the index (dropping tombstones), doubling it when the live
    /// entries alone would fill more than 7/16 of it.
    fn rebuild_index(&mut self) {
        let mut cap = self.slots.len();
        if (self.entries.len() + 1) * 16 > cap * 7 {
            cap *= 2;
        }
        let mut slots = vec![EMPTY; cap];
        for idx in 0..self.entries.len() {
            let h = xxh3_64_with_seed(self.key_of(idx), self.hash_seed);
            Self::insert_slot(&mut slots, h, idx);
        }
        self.slots = slots;
        self.tombstones = 0;
    }

    /// The slot position holding entry index `idx`.
    fn slot_of(&self, idx: usize) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let h = xxh3_64_with_seed(self.key_of(idx), self.hash_seed);
        let mut pos = h as usize & mask;
        let mut step = 0;
        loop {
            let s = self.slots[pos];
            if s == EMPTY {
                return None;
            }
            if s != TOMBSTONE && (s & IDX_MASK) as usize == idx {
                return Some(pos);
            }
            step += 1;
            pos = (pos + step) & mask;
        }
    }

    /// Removes entry `idx` (swap-remove) and its key.
    fn remove_entry(&mut self, idx: usize) {
        if let Some(pos) = self.slot_of(idx) {
            self.slots[pos] = TOMBSTONE;
            self.tombstones += 1;
        }
        let last = self.entries.len() - 1;
        if idx != last
            && let Some(pos) = self.slot_of(last)
        {
            self.slots[pos] = (self.slots[pos] & !IDX_MASK) | idx as u32;
        }
        if self.entries[idx].state() != BreakerState::Closed {
            self.non_closed -= 1;
        }
        self.arena_garbage += self.entries[idx].key_len as usize;
        self.entries.swap_remove(idx);
        if self.arena_garbage > 4096 && self.arena_garbage * 2 > self.arena.len() {
            self.compact_arena();
        }
        self.stats.evicted += 1;
    }

    fn compact_arena(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.arena_garbage);
        for e in &mut self.entries {
            let off = e.key_off as usize;
            let new_off = arena.len() as u32;
            arena.extend_from_slice(&self.arena[off..off + e.key_len as usize]);
            e.key_off = new_off;
        }
        self.arena = arena;
        self.arena_garbage = 0;
    }

    /// The entry of `key`, created (closed) if missing. `None` when the key is
    /// too long, or the registry is full of non-closed entries (and `force` is false).
    fn entry_or_insert(&mut self, key: &str, now_ms: u64, force: bool) -> Option<usize> {
        let hash = self.hash(key);
        if let Some((_, idx)) = self.find_hashed(key, hash) {
            return Some(idx);
        }
        if key.len() > MAX_KEY_LEN {
            return None;
        }
        self.sweep(now_ms);
        if self.entries.len() >= self.config.max_entries && !self.evict_for_capacity(now_ms, force)
        {
            if !force {
                self.stats.untracked += 1;
                return None;
            }
            if self.entries.len() >= MAX_ENTRIES_LIMIT {
                return None;
            }
        }
        if (self.entries.len() + self.tombstones + 1) * 8 > self.slots.len() * 7 {
            self.rebuild_index();
        }
        if self.arena.len() + key.len() > u32::MAX as usize {
            self.compact_arena();
        }
        let idx = self.entries.len();
        let bucket = now_ms / self.config.bucket_ms();
        self.entries.push(Entry {
            last_change_ms: now_ms,
            buckets: [[0; 2]; WINDOW_BUCKETS],
            key_off: self.arena.len() as u32,
            open_period_ms: 0,
            head_bucket: bucket as u32,
            last_seen_s: (now_ms / 1000) as u32,
            consecutive_failures: 0,
            half_open_in_flight: 0,
            key_len: key.len() as u8,
            state: BreakerState::Closed.to_u8(),
            consecutive_openings: 0,
        });
        self.arena.extend_from_slice(key.as_bytes());
        if Self::insert_slot(&mut self.slots, hash, idx) {
            self.tombstones -= 1;
        }
        Some(idx)
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
            if self.entries.is_empty() {
                return;
            }
            if self.hand >= self.entries.len() {
                self.hand = 0;
            }
            if self.is_idle(&self.entries[self.hand], now_ms) {
                self.remove_entry(self.hand);
            } else {
                self.hand += 1;
            }
        }
    }

    /// Frees one entry for a new key: the least recently seen closed entry among
    /// the next `EVICTION_SAMPLE` (or all, when `full`).
    fn evict_for_capacity(&mut self, _now_ms: u64, full: bool) -> bool {
        let n = self.entries.len();
        let budget = if full { n } else { EVICTION_SAMPLE.min(n) };
        let mut best: Option<(u32, usize)> = None;
        for step in 0..budget {
            let idx = (self.hand + step) % n;
            let e = &self.entries[idx];
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
        while idx < self.entries.len() {
            if self.is_idle(&self.entries[idx], now_ms) {
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
        let key = String::from_utf8_lossy(self.key_of(idx)).into_owned();
        self.events.push_back(BreakerEvent {
            key,
            from_state: from,
            to_state: to,
            at_ms,
            reason,
        });
    }

    fn transition(&mut self, idx: usize, to: BreakerState, now_ms: u64, reason: TransitionReason) {
        let from = self.entries[idx].state();
        let e = &mut self.entries[idx];
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
        let k = self.entries[idx].consecutive_openings.saturating_add(1);
        let nominal = self.config.nominal_backoff_ms(u32::from(k)) as f64;
        let factor = if self.config.jitter > 0.0 {
            1.0 + self.rng.uniform(-self.config.jitter, self.config.jitter)
        } else {
            1.0
        };
        let period = (nominal * factor).round().max(1.0) as u32;
        let e = &mut self.entries[idx];
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
        let e = &mut self.entries[idx];
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
        let e = &mut self.entries[idx];
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
        let Some(idx) = self.find(key) else {
            return true;
        };
        let e = &self.entries[idx];
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
        let Some(idx) = self.find(key) else {
            self.stats.allowed += 1;
            return true;
        };
        self.touch(idx, now_ms);
        self.refresh(idx, now_ms);
        let probes = self.config.half_open_probes;
        let e = &mut self.entries[idx];
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
        self.observe(now_ms);
        if self.mode == BreakerMode::Disabled {
            return Ok(());
        }
        let Some(idx) = self.entry_or_insert(key, now_ms, false) else {
            return Ok(());
        };
        self.touch(idx, now_ms);
        self.refresh(idx, now_ms);
        let bucket = now_ms / self.config.bucket_ms();
        let dec = self.config.success_decrement as u16;
        let e = &mut self.entries[idx];
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
        self.observe(now_ms);
        if self.mode == BreakerMode::Disabled {
            return Ok(());
        }
        let Some(idx) = self.entry_or_insert(key, now_ms, false) else {
            return Ok(());
        };
        self.touch(idx, now_ms);
        self.refresh(idx, now_ms);
        let bucket = now_ms / self.config.bucket_ms();
        let cfg = self.config;
        let e = &mut self.entries[idx];
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
        self.find(key)
            .map_or(BreakerState::Closed, |idx| self.entries[idx].state())
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
        if self.entries[idx].state() != BreakerState::ForcedOpen {
            self.entries[idx].half_open_in_flight = 0;
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
        let Some(idx) = self.find(key) else { return };
        self.touch(idx, now_ms);
        let bucket = now_ms / self.config.bucket_ms();
        let e = &mut self.entries[idx];
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
        for idx in 0..self.entries.len() {
            self.refresh(idx, now_ms);
            let e = &self.entries[idx];
            if e.state() == BreakerState::HalfOpen
                && u32::from(e.half_open_in_flight) < self.config.half_open_probes
            {
                out.push(String::from_utf8_lossy(self.key_of(idx)).into_owned());
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
        let idx = self.find(key)?;
        let e = &self.entries[idx];
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
    fn entry_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 64);
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
    fn index_stays_at_most_seven_eighths_full() {
        let mut r = reg(cfg());
        for i in 0..100_000 {
            r.record_success(&format!("peer-{i:08}|gun"), 0, None)
                .unwrap();
        }
        // 100 000 live keys fit a 131 072-slot index (76% full): 4 bytes of index
        // per slot, about 5.2 per breaker.
        assert_eq!(r.slots.len(), 131_072);
        assert_consistent(&r);
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

    /// Checks the index, arena and counters against the entries.
    fn assert_consistent(r: &BreakerRegistry) {
        let live = r
            .slots
            .iter()
            .filter(|&&s| s != EMPTY && s != TOMBSTONE)
            .count();
        let dead = r.slots.iter().filter(|&&s| s == TOMBSTONE).count();
        assert_eq!(live, r.entries.len());
        assert_eq!(dead, r.tombstones);
        assert!((r.entries.len() + r.tombstones) * 8 <= r.slots.len() * 7);
        for idx in 0..r.entries.len() {
            let key = std::str::from_utf8(r.key_of(idx)).unwrap();
            assert_eq!(r.find(key), Some(idx), "{key}");
        }
        let key_bytes: usize = r.entries.iter().map(|e| e.key_len as usize).sum();
        assert_eq!(key_bytes + r.arena_garbage, r.arena.len());
        let non_closed = r
            .entries
            .iter()
            .filter(|e| e.state() != BreakerState::Closed)
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
