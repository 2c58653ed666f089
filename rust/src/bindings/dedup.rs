//! `swarmmesh.DedupFilter` and `swarmmesh.DedupStats`.

use numpy::PyArray1;
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use super::args::{DETACH_MIN, hash_ids, id_bytes, non_negative, reduce_via_from_bytes};
use crate::dedup::{DedupFilter, DedupStats};
use crate::error::CoreError;

/// The seen-message filter of the mesh: rotating generations of Bloom filters.
///
/// `DedupFilter(capacity, fp_rate, ttl_ms, *, generations=2, seed=0)` remembers
/// every id for at least `ttl_ms` (no false negative inside the TTL) in fixed
/// memory: `generations` Bloom filters, each sized for `capacity` ids per span at
/// `fp_rate`. Time is passed in as `now_ms`; the filter reads no clock.
#[pyclass(frozen, module = "swarmmesh", name = "DedupFilter")]
pub(crate) struct PyDedupFilter {
    pub(crate) inner: Mutex<DedupFilter>,
}

impl PyDedupFilter {
    fn wrap(filter: DedupFilter) -> Self {
        Self {
            inner: Mutex::new(filter),
        }
    }
}

#[pymethods]
impl PyDedupFilter {
    #[new]
    #[pyo3(signature = (capacity, fp_rate, ttl_ms, *, generations = 2, seed = None))]
    fn new(
        capacity: i64,
        fp_rate: f64,
        ttl_ms: i64,
        generations: i64,
        seed: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let capacity = non_negative("capacity", capacity)?;
        let ttl_ms = non_negative("ttl_ms", ttl_ms)?;
        let generations = u32::try_from(generations).map_err(|_| {
            CoreError::invalid(
                "generations",
                format!("must be in [2, 16], got {generations}"),
            )
        })?;
        let seed = seed.map_or(Ok(0), super::args::seed)?;
        Ok(Self::wrap(DedupFilter::new(
            capacity,
            fp_rate,
            ttl_ms,
            generations,
            seed,
        )?))
    }

    /// True the first time `msg_id` is seen within the TTL; records it.
    fn check_and_insert(&self, msg_id: &Bound<'_, PyAny>, now_ms: i64) -> PyResult<bool> {
        let now = non_negative("now_ms", now_ms)?;
        let bytes = id_bytes("msg_id", msg_id)?;
        let mut f = self.inner.lock();
        let h = f.hash(&bytes);
        Ok(f.check_and_insert_hashed(h, now))
    }

    /// Whether `msg_id` was seen and is still remembered at `now_ms` (no state
    /// change).
    fn contains(&self, msg_id: &Bound<'_, PyAny>, now_ms: i64) -> PyResult<bool> {
        let now = non_negative("now_ms", now_ms)?;
        let bytes = id_bytes("msg_id", msg_id)?;
        let f = self.inner.lock();
        Ok(f.contains_hashed(f.hash(&bytes), now))
    }

    fn __contains__(&self, msg_id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = id_bytes("msg_id", msg_id)?;
        let f = self.inner.lock();
        let now = f.stats_now();
        Ok(f.contains_hashed(f.hash(&bytes), now))
    }

    /// The batch form of `check_and_insert`, in order (a repeat inside the batch
    /// is a duplicate). `ids` is a 2-D `uint8` NumPy array (one id per row) or an
    /// iterable of ids; returns a 1-D `bool` array. Large batches run with the
    /// GIL released.
    fn check_and_insert_many<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
        now_ms: i64,
    ) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let now = non_negative("now_ms", now_ms)?;
        let seed = self.inner.lock().seed();
        let hashes = hash_ids(py, "ids", ids, seed)?;
        let run = || {
            let mut out = vec![false; hashes.len()];
            self.inner
                .lock()
                .check_and_insert_many_hashed(&hashes, now, &mut out);
            out
        };
        let out = if hashes.len() >= DETACH_MIN {
            py.detach(run)
        } else {
            run()
        };
        Ok(PyArray1::from_vec(py, out))
    }

    /// Counters and gauges as a `DedupStats`.
    fn stats(&self) -> PyDedupStats {
        PyDedupStats(self.inner.lock().stats())
    }

    /// Forgets every id and counter and restarts the rotation schedule.
    fn clear(&self) {
        self.inner.lock().clear();
    }

    /// Ids per generation span the filter is rated for.
    #[getter]
    fn capacity(&self) -> u64 {
        self.inner.lock().capacity()
    }
    /// The false-positive rate of one full generation.
    #[getter]
    fn fp_rate(&self) -> f64 {
        self.inner.lock().fp_rate()
    }
    /// The minimum time an id is remembered.
    #[getter]
    fn ttl_ms(&self) -> u64 {
        self.inner.lock().ttl_ms()
    }
    /// The length of one generation's span: `ceil(ttl_ms / (generations - 1))`.
    #[getter]
    fn span_ms(&self) -> u64 {
        self.inner.lock().span_ms()
    }
    /// The number of generations.
    #[getter]
    fn generations(&self) -> u32 {
        self.inner.lock().generations()
    }
    /// The hashing seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.lock().seed()
    }
    /// Bits of one generation.
    #[getter]
    fn generation_bits(&self) -> u64 {
        self.inner.lock().generation_bits()
    }

    /// The canonical, versioned serialisation (parameters, schedule, counters,
    /// bits).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.lock().to_bytes())
    }

    /// Decodes `to_bytes()` output; raises `DecodeError` (with `reason`) on
    /// anything else.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Self::wrap(DedupFilter::from_bytes(data)?))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        reduce_via_from_bytes::<Self>(slf.py(), slf.get().to_bytes(slf.py()))
    }

    fn __repr__(&self) -> String {
        let f = self.inner.lock();
        format!(
            "DedupFilter(capacity={}, fp_rate={}, ttl_ms={}, generations={}, seed={})",
            f.capacity(),
            f.fp_rate(),
            f.ttl_ms(),
            f.generations(),
            f.seed()
        )
    }
}

/// Counters and gauges of a `DedupFilter` at one moment.
#[pyclass(frozen, module = "swarmmesh", name = "DedupStats")]
pub(crate) struct PyDedupStats(DedupStats);

#[pymethods]
impl PyDedupStats {
    /// Ids seen for the first time.
    #[getter]
    fn inserted(&self) -> u64 {
        self.0.inserted
    }
    /// Ids answered as already seen.
    #[getter]
    fn duplicates(&self) -> u64 {
        self.0.duplicates
    }
    /// Generation rotations, on schedule or early.
    #[getter]
    fn rotations(&self) -> u64 {
        self.0.rotations
    }
    /// Rotations forced by a full generation before its span ended (overload).
    #[getter]
    fn early_rotations(&self) -> u64 {
        self.0.early_rotations
    }
    /// The number of generations.
    #[getter]
    fn generations(&self) -> u32 {
        self.0.generations
    }
    /// Distinct ids in the current generation.
    #[getter]
    fn current_count(&self) -> u64 {
        self.0.current_count
    }
    /// Distinct ids over all live generations.
    #[getter]
    fn live_count(&self) -> u64 {
        self.0.live_count
    }
    /// The fraction of bits set in the current generation.
    #[getter]
    fn fill_ratio(&self) -> f64 {
        self.0.fill_ratio
    }
    /// The false-positive rate of a lookup right now, over all generations.
    #[getter]
    fn estimated_fp_rate(&self) -> f64 {
        self.0.estimated_fp_rate
    }
    /// Bytes of bit storage over all generations.
    #[getter]
    fn memory_bytes(&self) -> u64 {
        self.0.memory_bytes
    }

    /// The stats as a plain dict (for logs and metrics).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = &self.0;
        d.set_item("inserted", s.inserted)?;
        d.set_item("duplicates", s.duplicates)?;
        d.set_item("rotations", s.rotations)?;
        d.set_item("early_rotations", s.early_rotations)?;
        d.set_item("generations", s.generations)?;
        d.set_item("current_count", s.current_count)?;
        d.set_item("live_count", s.live_count)?;
        d.set_item("fill_ratio", s.fill_ratio)?;
        d.set_item("estimated_fp_rate", s.estimated_fp_rate)?;
        d.set_item("memory_bytes", s.memory_bytes)?;
        Ok(d)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDedupStats>()
            .is_ok_and(|o| o.get().0 == self.0)
    }

    fn __repr__(&self) -> String {
        let s = &self.0;
        format!(
            "DedupStats(inserted={}, duplicates={}, rotations={}, early_rotations={}, generations={}, \
             current_count={}, live_count={}, fill_ratio={:.4}, estimated_fp_rate={:.3e}, memory_bytes={})",
            s.inserted,
            s.duplicates,
            s.rotations,
            s.early_rotations,
            s.generations,
            s.current_count,
            s.live_count,
            s.fill_ratio,
            s.estimated_fp_rate,
            s.memory_bytes
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDedupFilter>()?;
    m.add_class::<PyDedupStats>()?;
    Ok(())
}
