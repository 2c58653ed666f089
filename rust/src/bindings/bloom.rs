//! `swarmmesh.BloomFilter`.

use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use super::args::{DETACH_MIN, hash_ids, id_bytes, non_negative, reduce_via_from_bytes};
use crate::bloom::BloomFilter;

/// A seeded Bloom filter of id bytes, serialisable across processes and peers.
///
/// `BloomFilter(capacity, fp_rate, *, seed=0)` is sized optimally for `capacity`
/// items at false-positive rate `fp_rate`. Items are `bytes`, `bytearray`,
/// `memoryview` or `str` (hashed as UTF-8) and are hashed with seeded xxh3, never
/// with Python's `hash()`, so `to_bytes()` / `from_bytes()` move a filter between
/// processes with identical answers.
#[pyclass(frozen, module = "swarmmesh", name = "BloomFilter")]
pub(crate) struct PyBloomFilter {
    pub(crate) inner: Mutex<BloomFilter>,
}

impl PyBloomFilter {
    fn wrap(filter: BloomFilter) -> Self {
        Self {
            inner: Mutex::new(filter),
        }
    }
}

#[pymethods]
impl PyBloomFilter {
    #[new]
    #[pyo3(signature = (capacity, fp_rate, *, seed = None))]
    fn new(capacity: i64, fp_rate: f64, seed: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let capacity = non_negative("capacity", capacity)?;
        let seed = seed.map_or(Ok(0), super::args::seed)?;
        Ok(Self::wrap(BloomFilter::new(capacity, fp_rate, seed)?))
    }

    /// Adds `item`; returns True when it was certainly not in the filter before.
    fn add(&self, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = id_bytes("item", item)?;
        let mut f = self.inner.lock();
        let h = f.hash(&bytes);
        Ok(f.test_and_set(h))
    }

    fn __contains__(&self, item: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = id_bytes("item", item)?;
        let f = self.inner.lock();
        Ok(f.contains_hash(f.hash(&bytes)))
    }

    /// Adds every item of `items`: an iterable of ids or a 2-D `uint8` NumPy
    /// array with one id per row.
    fn update(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<()> {
        let seed = self.inner.lock().seed();
        let hashes = hash_ids(py, "items", items, seed)?;
        let insert = || {
            let mut f = self.inner.lock();
            for h in &hashes {
                f.test_and_set(*h);
            }
        };
        if hashes.len() >= DETACH_MIN {
            py.detach(insert);
        } else {
            insert();
        }
        Ok(())
    }

    /// A new filter holding the items of both (same capacity, `fp_rate` and seed
    /// required, else `InvalidArgumentError` naming `other`).
    fn union(&self, other: &Bound<'_, PyBloomFilter>) -> PyResult<Self> {
        let mut merged = self.inner.lock().clone();
        if std::ptr::eq(self, other.get()) {
            return Ok(Self::wrap(merged));
        }
        merged.union_in_place(&other.get().inner.lock())?;
        Ok(Self::wrap(merged))
    }

    fn __or__(&self, other: &Bound<'_, PyBloomFilter>) -> PyResult<Self> {
        self.union(other)
    }

    /// The estimated number of distinct items added.
    fn __len__(&self) -> usize {
        self.inner.lock().estimated_count().round() as usize
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let Ok(other) = other.cast::<PyBloomFilter>() else {
            return false;
        };
        if std::ptr::eq(self, other.get()) {
            return true;
        }
        let a = self.inner.lock().clone();
        let b = other.get().inner.lock();
        a == *b
    }

    /// A copy of the filter.
    fn copy(&self) -> Self {
        Self::wrap(self.inner.lock().clone())
    }

    /// Removes every item.
    fn clear(&self) {
        self.inner.lock().clear();
    }

    /// The number of items the filter is sized for.
    #[getter]
    fn capacity(&self) -> u64 {
        self.inner.lock().capacity()
    }
    /// The false-positive rate at `capacity` items.
    #[getter]
    fn fp_rate(&self) -> f64 {
        self.inner.lock().fp_rate()
    }
    /// The hashing seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.lock().seed()
    }
    /// The number of bits (`m`).
    #[getter]
    fn num_bits(&self) -> u64 {
        self.inner.lock().num_bits()
    }
    /// The number of bit positions per item (`k`).
    #[getter]
    fn num_hashes(&self) -> u32 {
        self.inner.lock().num_hashes()
    }
    /// The fraction of bits set.
    #[getter]
    fn fill_ratio(&self) -> f64 {
        self.inner.lock().fill_ratio()
    }
    /// The false-positive rate at the current fill.
    #[getter]
    fn estimated_fp_rate(&self) -> f64 {
        self.inner.lock().estimated_fp_rate()
    }
    /// Bytes of bit storage.
    #[getter]
    fn memory_bytes(&self) -> usize {
        self.inner.lock().memory_bytes()
    }

    /// The canonical, versioned serialisation (parameters, seed and bits).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.lock().to_bytes())
    }

    /// Decodes `to_bytes()` output; raises `DecodeError` (with `reason`) on
    /// anything else.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        Ok(Self::wrap(BloomFilter::from_bytes(data)?))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        reduce_via_from_bytes::<Self>(slf.py(), slf.get().to_bytes(slf.py()))
    }

    fn __repr__(&self) -> String {
        let f = self.inner.lock();
        format!(
            "BloomFilter(capacity={}, fp_rate={}, seed={}, num_bits={}, num_hashes={}, fill_ratio={:.4})",
            f.capacity(),
            f.fp_rate(),
            f.seed(),
            f.num_bits(),
            f.num_hashes(),
            f.fill_ratio()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBloomFilter>()?;
    Ok(())
}
