//! TEMPORARY SHIM written on the `routing` branch (see `crate::breaker`): a
//! minimal `BreakerRegistry` pyclass with the struct name and `inner` field the
//! router binding uses. The breaker branch's real binding replaces this file.

use parking_lot::Mutex;
use pyo3::prelude::*;

use super::args::non_negative;
use crate::breaker::BreakerRegistry;

/// Shim of the circuit-breaker registry: only `force_open`, `force_reset` and `allow`.
#[pyclass(frozen, module = "swarmmesh", name = "BreakerRegistry")]
pub(crate) struct PyBreakerRegistry {
    pub(crate) inner: Mutex<BreakerRegistry>,
}

#[pymethods]
impl PyBreakerRegistry {
    /// A registry (shim: `config`, `seed` and `mode` are accepted and ignored).
    #[new]
    #[pyo3(signature = (config = None, *, seed = 0, mode = "enabled"))]
    fn new(config: Option<Bound<'_, PyAny>>, seed: u64, mode: &str) -> Self {
        let _ = (config, seed, mode);
        Self {
            inner: Mutex::new(BreakerRegistry::new()),
        }
    }

    /// Refuse `key` until `force_reset`.
    #[pyo3(signature = (key, now_ms = None))]
    fn force_open(&self, key: &str, now_ms: Option<i64>) -> PyResult<()> {
        if let Some(t) = now_ms {
            non_negative("now_ms", t)?;
        }
        self.inner.lock().force_open(key);
        Ok(())
    }

    /// Admit `key` again.
    #[pyo3(signature = (key, now_ms = None))]
    fn force_reset(&self, key: &str, now_ms: Option<i64>) -> PyResult<()> {
        if let Some(t) = now_ms {
            non_negative("now_ms", t)?;
        }
        self.inner.lock().force_reset(key);
        Ok(())
    }

    /// Return whether a call on `key` would be admitted at `now_ms`.
    fn allow(&self, key: &str, now_ms: i64) -> PyResult<bool> {
        let now = non_negative("now_ms", now_ms)?;
        Ok(self.inner.lock().would_allow(key, now))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBreakerRegistry>()
}
