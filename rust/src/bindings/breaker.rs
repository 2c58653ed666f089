//! Python classes of the circuit breakers: `BreakerConfig`, `BreakerRegistry`,
//! `BreakerEvent`, `BreakerSnapshot`. Thin: convert, lock, call
//! [`crate::breaker`], map errors.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::args::non_negative;
use crate::breaker::{
    BreakerConfig, BreakerEvent, BreakerMode, BreakerRegistry, BreakerSnapshot, BreakerState,
};
use crate::error::CoreError;

fn small(arg: &'static str, value: i64) -> Result<u32, CoreError> {
    let v = non_negative(arg, value)?;
    u32::try_from(v).map_err(|_| CoreError::invalid(arg, format!("must be < 2**32, got {value}")))
}

fn size(arg: &'static str, value: i64) -> Result<usize, CoreError> {
    let v = non_negative(arg, value)?;
    usize::try_from(v).map_err(|_| CoreError::invalid(arg, format!("too large: {value}")))
}

/// The state name as an interned Python string (no allocation per call).
fn state_name(py: Python<'_>, state: BreakerState) -> Bound<'_, PyString> {
    match state {
        BreakerState::Closed => intern!(py, "closed").clone(),
        BreakerState::Open => intern!(py, "open").clone(),
        BreakerState::HalfOpen => intern!(py, "half_open").clone(),
        BreakerState::ForcedOpen => intern!(py, "forced_open").clone(),
    }
}

/// Bits of a float for hashing, with `-0.0` and `0.0` equal.
fn float_bits(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

/// Immutable parameters of every breaker of a registry.
///
/// Validation raises `InvalidArgumentError` naming the field.
#[pyclass(frozen, eq, module = "swarmmesh", name = "BreakerConfig")]
#[derive(Clone, PartialEq)]
pub(crate) struct PyBreakerConfig {
    pub(crate) inner: BreakerConfig,
}

#[pymethods]
impl PyBreakerConfig {
    #[new]
    #[pyo3(signature = (*, failure_threshold=5, success_decrement=1, window_ms=60_000,
        failure_rate_threshold=0.5, min_calls=5, slow_call_ms=None, base_backoff_ms=1_000,
        backoff_multiplier=2.0, max_backoff_ms=300_000, jitter=0.2, half_open_probes=1,
        reset_after_ms=300_000, idle_evict_ms=600_000, max_entries=1_000_000, max_events=10_000))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        failure_threshold: i64,
        success_decrement: i64,
        window_ms: i64,
        failure_rate_threshold: f64,
        min_calls: i64,
        slow_call_ms: Option<i64>,
        base_backoff_ms: i64,
        backoff_multiplier: f64,
        max_backoff_ms: i64,
        jitter: f64,
        half_open_probes: i64,
        reset_after_ms: i64,
        idle_evict_ms: i64,
        max_entries: i64,
        max_events: i64,
    ) -> PyResult<Self> {
        let inner = BreakerConfig {
            failure_threshold: small("failure_threshold", failure_threshold)?,
            success_decrement: small("success_decrement", success_decrement)?,
            window_ms: non_negative("window_ms", window_ms)?,
            failure_rate_threshold,
            min_calls: small("min_calls", min_calls)?,
            slow_call_ms: slow_call_ms
                .map(|v| non_negative("slow_call_ms", v))
                .transpose()?,
            base_backoff_ms: non_negative("base_backoff_ms", base_backoff_ms)?,
            backoff_multiplier,
            max_backoff_ms: non_negative("max_backoff_ms", max_backoff_ms)?,
            jitter,
            half_open_probes: small("half_open_probes", half_open_probes)?,
            reset_after_ms: non_negative("reset_after_ms", reset_after_ms)?,
            idle_evict_ms: non_negative("idle_evict_ms", idle_evict_ms)?,
            max_entries: size("max_entries", max_entries)?,
            max_events: size("max_events", max_events)?,
        };
        inner.validate()?;
        Ok(Self { inner })
    }

    /// Consecutive failures that open a closed breaker.
    #[getter]
    fn failure_threshold(&self) -> u32 {
        self.inner.failure_threshold
    }

    /// How much a success lowers the consecutive-failure count.
    #[getter]
    fn success_decrement(&self) -> u32 {
        self.inner.success_decrement
    }

    /// Length of the sliding failure-rate window, in ms.
    #[getter]
    fn window_ms(&self) -> u64 {
        self.inner.window_ms
    }

    /// Failure rate in (0, 1] that opens a closed breaker.
    #[getter]
    fn failure_rate_threshold(&self) -> f64 {
        self.inner.failure_rate_threshold
    }

    /// Calls needed in the window before the rate is considered.
    #[getter]
    fn min_calls(&self) -> u32 {
        self.inner.min_calls
    }

    /// Successes slower than this (ms) count as failures; None disables it.
    #[getter]
    fn slow_call_ms(&self) -> Option<u64> {
        self.inner.slow_call_ms
    }

    /// Nominal length of the first open period, in ms.
    #[getter]
    fn base_backoff_ms(&self) -> u64 {
        self.inner.base_backoff_ms
    }

    /// Growth factor of the open period per consecutive opening.
    #[getter]
    fn backoff_multiplier(&self) -> f64 {
        self.inner.backoff_multiplier
    }

    /// Cap of the nominal open period, in ms.
    #[getter]
    fn max_backoff_ms(&self) -> u64 {
        self.inner.max_backoff_ms
    }

    /// Relative jitter of the open period, in [0, 1).
    #[getter]
    fn jitter(&self) -> f64 {
        self.inner.jitter
    }

    /// Trial calls admitted in half-open.
    #[getter]
    fn half_open_probes(&self) -> u32 {
        self.inner.half_open_probes
    }

    /// Closed time after which the backoff exponent resets, in ms.
    #[getter]
    fn reset_after_ms(&self) -> u64 {
        self.inner.reset_after_ms
    }

    /// Closed entries idle this long (ms) may be evicted.
    #[getter]
    fn idle_evict_ms(&self) -> u64 {
        self.inner.idle_evict_ms
    }

    /// Upper bound on tracked breakers.
    #[getter]
    fn max_entries(&self) -> usize {
        self.inner.max_entries
    }

    /// Upper bound on buffered events.
    #[getter]
    fn max_events(&self) -> usize {
        self.inner.max_events
    }

    /// Return a copy with the given fields changed (validated like the constructor).
    #[pyo3(signature = (**changes))]
    fn replace<'py>(
        slf: &Bound<'py, Self>,
        changes: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let fields = slf.borrow().fields(py)?;
        if let Some(changes) = changes {
            fields.update(changes.as_mapping())?;
        }
        slf.get_type().call((), Some(&fields))
    }

    fn __hash__(&self) -> u64 {
        let c = &self.inner;
        let mut h = DefaultHasher::new();
        (c.failure_threshold, c.success_decrement, c.window_ms).hash(&mut h);
        float_bits(c.failure_rate_threshold).hash(&mut h);
        (c.min_calls, c.slow_call_ms, c.base_backoff_ms).hash(&mut h);
        float_bits(c.backoff_multiplier).hash(&mut h);
        c.max_backoff_ms.hash(&mut h);
        float_bits(c.jitter).hash(&mut h);
        (
            c.half_open_probes,
            c.reset_after_ms,
            c.idle_evict_ms,
            c.max_entries,
            c.max_events,
        )
            .hash(&mut h);
        h.finish()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let fields = self.fields(py)?;
        let mut parts = Vec::with_capacity(fields.len());
        for (k, v) in fields.iter() {
            parts.push(format!("{k}={}", v.repr()?));
        }
        Ok(format!("BreakerConfig({})", parts.join(", ")))
    }
}

impl PyBreakerConfig {
    /// The fields as a dict, in declaration order.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.inner;
        let d = PyDict::new(py);
        d.set_item("failure_threshold", c.failure_threshold)?;
        d.set_item("success_decrement", c.success_decrement)?;
        d.set_item("window_ms", c.window_ms)?;
        d.set_item("failure_rate_threshold", c.failure_rate_threshold)?;
        d.set_item("min_calls", c.min_calls)?;
        d.set_item("slow_call_ms", c.slow_call_ms)?;
        d.set_item("base_backoff_ms", c.base_backoff_ms)?;
        d.set_item("backoff_multiplier", c.backoff_multiplier)?;
        d.set_item("max_backoff_ms", c.max_backoff_ms)?;
        d.set_item("jitter", c.jitter)?;
        d.set_item("half_open_probes", c.half_open_probes)?;
        d.set_item("reset_after_ms", c.reset_after_ms)?;
        d.set_item("idle_evict_ms", c.idle_evict_ms)?;
        d.set_item("max_entries", c.max_entries)?;
        d.set_item("max_events", c.max_events)?;
        Ok(d)
    }
}

/// One state change of one breaker (immutable; equal when all fields are).
#[pyclass(frozen, eq, hash, module = "swarmmesh", name = "BreakerEvent")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PyBreakerEvent {
    inner: BreakerEvent,
}

#[pymethods]
impl PyBreakerEvent {
    /// The breaker's key.
    #[getter]
    fn key(&self) -> &str {
        &self.inner.key
    }

    /// State before the change.
    #[getter]
    #[allow(clippy::wrong_self_convention)]
    fn from_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        state_name(py, self.inner.from_state)
    }

    /// State after the change.
    #[getter]
    fn to_state<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        state_name(py, self.inner.to_state)
    }

    /// The `now_ms` of the call that caused the change.
    #[getter]
    fn at_ms(&self) -> u64 {
        self.inner.at_ms
    }

    /// Stable reason code (e.g. `"failure_threshold"`, `"probe_failed"`).
    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason.code()
    }

    fn __repr__(&self) -> String {
        let e = &self.inner;
        format!(
            "BreakerEvent(key={:?}, from_state='{}', to_state='{}', at_ms={}, reason='{}')",
            e.key, e.from_state, e.to_state, e.at_ms, e.reason
        )
    }
}

/// A read-only view of one breaker (immutable).
#[pyclass(frozen, eq, module = "swarmmesh", name = "BreakerSnapshot")]
#[derive(Clone, PartialEq)]
pub(crate) struct PyBreakerSnapshot {
    inner: BreakerSnapshot,
}

#[pymethods]
impl PyBreakerSnapshot {
    /// The breaker's key.
    #[getter]
    fn key(&self) -> &str {
        &self.inner.key
    }

    /// `"closed"`, `"open"`, `"half_open"` or `"forced_open"`.
    #[getter]
    fn state<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        state_name(py, self.inner.state)
    }

    /// Consecutive-failure count (lowered by successes).
    #[getter]
    fn consecutive_failures(&self) -> u32 {
        self.inner.consecutive_failures
    }

    /// Outcomes recorded in the window ending at the latest time seen.
    #[getter]
    fn calls_in_window(&self) -> u32 {
        self.inner.calls_in_window
    }

    /// Failures among `calls_in_window`.
    #[getter]
    fn failures_in_window(&self) -> u32 {
        self.inner.failures_in_window
    }

    /// `failures_in_window / calls_in_window` (0.0 with no calls).
    #[getter]
    fn failure_rate(&self) -> f64 {
        self.inner.failure_rate
    }

    /// Consecutive openings (the backoff exponent).
    #[getter]
    fn consecutive_openings(&self) -> u32 {
        self.inner.consecutive_openings
    }

    /// Nominal open period: the current one when open/half-open, else the next.
    #[getter]
    fn backoff_ms(&self) -> u64 {
        self.inner.backoff_ms
    }

    /// End of the open period when open, else None.
    #[getter]
    fn open_until_ms(&self) -> Option<u64> {
        self.inner.open_until_ms
    }

    /// Probes admitted and not yet answered.
    #[getter]
    fn half_open_in_flight(&self) -> u32 {
        self.inner.half_open_in_flight
    }

    /// Time of the last state change (or of creation).
    #[getter]
    fn last_change_ms(&self) -> u64 {
        self.inner.last_change_ms
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        format!(
            "BreakerSnapshot(key={:?}, state='{}', consecutive_failures={}, calls_in_window={}, \
             failures_in_window={}, failure_rate={:?}, consecutive_openings={}, backoff_ms={}, \
             open_until_ms={}, half_open_in_flight={}, last_change_ms={})",
            s.key,
            s.state,
            s.consecutive_failures,
            s.calls_in_window,
            s.failures_in_window,
            s.failure_rate,
            s.consecutive_openings,
            s.backoff_ms,
            s.open_until_ms
                .map_or_else(|| "None".to_owned(), |v| v.to_string()),
            s.half_open_in_flight,
            s.last_change_ms
        )
    }
}

/// Circuit breakers keyed by string (peer id, `peer|transport`, endpoint).
///
/// Thread-safe; time is always passed in as `now_ms`.
#[pyclass(frozen, module = "swarmmesh", name = "BreakerRegistry")]
pub(crate) struct PyBreakerRegistry {
    pub(crate) inner: Mutex<BreakerRegistry>,
}

#[pymethods]
impl PyBreakerRegistry {
    #[new]
    #[pyo3(signature = (config=None, *, seed=0, mode="enabled"))]
    fn new(config: Option<&Bound<'_, PyBreakerConfig>>, seed: i64, mode: &str) -> PyResult<Self> {
        let config = config.map_or_else(BreakerConfig::default, |c| c.get().inner);
        let seed = non_negative("seed", seed)?;
        let mode = BreakerMode::parse(mode)?;
        Ok(Self {
            inner: Mutex::new(BreakerRegistry::new(config, seed, mode)?),
        })
    }

    /// Return whether a call for `key` may proceed at `now_ms`.
    ///
    /// In half-open this takes a probe slot; the next recorded outcome frees it.
    fn allow(&self, key: &str, now_ms: i64) -> PyResult<bool> {
        let now_ms = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().allow(key, now_ms))
    }

    /// Return True iff `allow` would admit a call now; change nothing.
    fn would_allow(&self, key: &str, now_ms: i64) -> PyResult<bool> {
        let now_ms = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().would_allow(key, now_ms))
    }

    /// Record a successful call.
    ///
    /// With `slow_call_ms` configured, a `latency_ms` above it records a failure instead.
    #[pyo3(signature = (key, now_ms, latency_ms=None))]
    fn record_success(&self, key: &str, now_ms: i64, latency_ms: Option<i64>) -> PyResult<()> {
        let now_ms = non_negative("now_ms", now_ms)?;
        let latency_ms = latency_ms
            .map(|v| non_negative("latency_ms", v))
            .transpose()?;
        Ok(self.inner.lock().record_success(key, now_ms, latency_ms)?)
    }

    /// Record a failed call.
    fn record_failure(&self, key: &str, now_ms: i64) -> PyResult<()> {
        let now_ms = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().record_failure(key, now_ms)?)
    }

    /// Return the state: `"closed"`, `"open"`, `"half_open"` or `"forced_open"` (unknown: `"closed"`).
    fn state<'py>(&self, py: Python<'py>, key: &str) -> Bound<'py, PyString> {
        let state = self.inner.lock().state(key);
        state_name(py, state)
    }

    /// Force `key` open until `force_reset` (`now_ms` None: the latest time seen).
    #[pyo3(signature = (key, now_ms=None))]
    fn force_open(&self, key: &str, now_ms: Option<i64>) -> PyResult<()> {
        let now_ms = now_ms.map(|v| non_negative("now_ms", v)).transpose()?;
        Ok(self.inner.lock().force_open(key, now_ms)?)
    }

    /// Reset `key` to closed, clearing counters and backoff (`now_ms` None: latest seen).
    #[pyo3(signature = (key, now_ms=None))]
    fn force_reset(&self, key: &str, now_ms: Option<i64>) -> PyResult<()> {
        let now_ms = now_ms.map(|v| non_negative("now_ms", v)).transpose()?;
        self.inner.lock().force_reset(key, now_ms);
        Ok(())
    }

    /// Return the sorted keys the recovery loop should probe (open period passed).
    fn due_for_recovery(&self, now_ms: i64) -> PyResult<Vec<String>> {
        let now_ms = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().due_for_recovery(now_ms))
    }

    /// Return a read-only view of `key` (unknown keys read as a fresh closed breaker).
    fn snapshot(&self, key: &str) -> PyBreakerSnapshot {
        PyBreakerSnapshot {
            inner: self.inner.lock().snapshot(key),
        }
    }

    /// Take every buffered state-change event, oldest first.
    fn drain_events(&self) -> Vec<PyBreakerEvent> {
        let events = self.inner.lock().drain_events();
        events
            .into_iter()
            .map(|inner| PyBreakerEvent { inner })
            .collect()
    }

    /// Evict every closed breaker idle for `idle_evict_ms`; return how many.
    fn evict_idle(&self, now_ms: i64) -> PyResult<usize> {
        let now_ms = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().evict_idle(now_ms))
    }

    /// Set the mode: `"enabled"`, `"metrics_only"` or `"disabled"`.
    fn set_mode(&self, mode: &str) -> PyResult<()> {
        let mode = BreakerMode::parse(mode)?;
        self.inner.lock().set_mode(mode);
        Ok(())
    }

    /// The configuration.
    #[getter]
    fn config(&self) -> PyBreakerConfig {
        PyBreakerConfig {
            inner: *self.inner.lock().config(),
        }
    }

    /// The mode: `"enabled"`, `"metrics_only"` or `"disabled"`.
    #[getter]
    fn mode(&self) -> &'static str {
        self.inner.lock().mode().as_str()
    }

    /// The largest `now_ms` the registry has seen.
    #[getter]
    fn latest_now_ms(&self) -> u64 {
        self.inner.lock().latest_now_ms()
    }

    /// Return the registry's counters.
    ///
    /// Keys: `allowed`, `refused`, `refusals_suppressed`, `late_outcomes`, `slow_calls`,
    /// `openings`, `evicted`, `untracked`, `events_dropped`, `pending_events`.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (s, pending) = {
            let r = self.inner.lock();
            (r.stats(), r.pending_events())
        };
        let d = PyDict::new(py);
        d.set_item("allowed", s.allowed)?;
        d.set_item("refused", s.refused)?;
        d.set_item("refusals_suppressed", s.refusals_suppressed)?;
        d.set_item("late_outcomes", s.late_outcomes)?;
        d.set_item("slow_calls", s.slow_calls)?;
        d.set_item("openings", s.openings)?;
        d.set_item("evicted", s.evicted)?;
        d.set_item("untracked", s.untracked)?;
        d.set_item("events_dropped", s.events_dropped)?;
        d.set_item("pending_events", pending)?;
        Ok(d)
    }

    /// Return the estimated heap bytes held by the registry.
    fn memory_bytes(&self) -> usize {
        self.inner.lock().memory_bytes()
    }

    fn __len__(&self) -> usize {
        self.inner.lock().len()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.inner.lock().contains(key)
    }

    fn __repr__(&self) -> String {
        let r = self.inner.lock();
        format!(
            "<BreakerRegistry mode='{}' breakers={}>",
            r.mode().as_str(),
            r.len()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBreakerConfig>()?;
    m.add_class::<PyBreakerRegistry>()?;
    m.add_class::<PyBreakerEvent>()?;
    m.add_class::<PyBreakerSnapshot>()?;
    Ok(())
}
